"""Progress in real Airflow 3.3: the task state store's ``progress`` entry while the task runs, and the
"Job UI" extra link (its XCom, which is what Airflow's UI reads)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.airflow.progresskit import UI_URL

pytestmark = pytest.mark.airflow

DAG = """
progress_operator("run", {seen!r})
"""


def test_progress_goes_to_the_task_state_store_while_running_and_the_link_to_xcom(new_sandbox: Any) -> None:
    sandbox = new_sandbox("progress")
    seen_log = sandbox.home / "seen.jsonl"
    sandbox.write_dag("progress_dag", DAG.format(seen=str(seen_log)),
                      imports="from tests.airflow.progresskit import progress_operator")
    result = sandbox.run("progress_dag")
    task = result.task("run")
    assert task["state"] == "success", result.output[-3000:]
    # Seen by the job itself while it was RUNNING: the entry was there during the run.
    seen = [json.loads(line) for line in seen_log.read_text().splitlines()]
    assert seen, "the job never saw a progress entry while it ran"
    first = seen[0]["entry"]
    assert first["ui_url"] == UI_URL and first["counts"][0]["unit"] == "steps"
    assert first["text"].startswith(f"{first['counts'][0]['done']}/10 steps")
    done = [s["entry"]["counts"][0]["done"] for s in seen]
    assert done == sorted(done)
    # Kept after the end, beside the record, under its own key.
    entry = task["state_store"]["progress"]["value"]
    assert entry["job_id"] == "probe-1" and entry["counts"][0]["done"] >= first["counts"][0]["done"]
    record = result.record("run")
    assert record["progress"]["ui_url"] == UI_URL and record["phase"] == "succeeded"
    # The extra link: Airflow's UI reads it from this XCom.
    assert task["links"]["_link_JobUiLink"] == UI_URL
