"""Issue 17, item 1, in real Airflow 3.3 (dag.test, SQLite): a submit that returned without an id.

The first try's submit creates the job and answers None. Before, the try failed with
ProtocolError, kept the intent, and the retry (a job without lookup, the default
``on_ambiguous``) submitted a second job: job-0001 and job-0002, the task green on the
second. Now the intent is marked accepted: the retry of a job without lookup stops
(AmbiguousSubmission, the task failed, one job), and a job with one adopts job-0001.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.airflow.conftest import AirflowSandbox, DagRunResult

pytestmark = pytest.mark.airflow

DAG = """
blind = NoIdOnceOperator(task_id="blind", jobs=JOBS, lookup=False, retries=1, retry_delay=timedelta(0))
found = NoIdOnceOperator(task_id="found", jobs=JOBS, lookup=True, retries=1, retry_delay=timedelta(0))
"""


@pytest.fixture(scope="module")
def accepted(new_sandbox: Any) -> tuple[AirflowSandbox, DagRunResult]:
    sandbox: AirflowSandbox = new_sandbox("accepted_submission")
    sandbox.write_dag("accepted_submission", DAG, imports="from tests.airflow.acceptedkit import NoIdOnceOperator")
    for task_id in ("blind", "found"):
        sandbox.jobs(task_id).arm("no-id")
    return sandbox, sandbox.run("accepted_submission", "start")


def submitted(sandbox: AirflowSandbox, task_id: str) -> list[str]:
    return [s["job_id"] for s in sandbox.jobs(task_id).log("submissions")]


def test_the_retry_of_a_job_without_lookup_stops_instead_of_submitting_a_second_job(accepted: Any) -> None:
    sandbox, run = accepted
    task = run.task("blind")
    assert task["state"] == "failed" and task["try_number"] == 2, run.output[-3000:]
    assert submitted(sandbox, "blind") == ["blind-0001"]  # one job, not two
    assert "returned None" in run.output and "never resubmitted blind" in run.output
    record = run.record("blind")
    assert record["phase"] == "intent" and record["accepted"] is True and record["job_id"] is None


def test_the_retry_of_a_job_with_lookup_adopts_the_accepted_job(accepted: Any) -> None:
    sandbox, run = accepted
    task = run.task("found")
    assert task["state"] == "success" and task["try_number"] == 2, run.output[-3000:]
    assert submitted(sandbox, "found") == ["found-0001"]
    assert task["xcom"] == {"job_id": "found-0001", "value": "done"}
    assert run.record("found")["job_id"] == "found-0001"
