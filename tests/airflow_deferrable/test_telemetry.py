"""The operator's decisions reach Airflow's own stats, named and tagged as its ResumableJobMixin does."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from resumable_adapters.airflow import ResumableOperator
from resumable_core import MemoryStateStore, PollPolicy
from tests.airflow.filejob import FileJob


def test_each_decision_is_an_airflow_stat_tagged_with_the_operator(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.observability.metrics import stats

    seen: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(stats, "incr", lambda stat, count=None, rate=None, *, tags=None: seen.append((stat, tags)))
    store = MemoryStateStore()
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, max_tries=0,
                         stats_tags={"team_name": "etl"})
    for _ in range(2):
        operator = ResumableOperator(task_id="t", job=FileJob(tmp_path, running_polls=1), state_store=store,
                                     state_key="k", poll=PollPolicy(min_interval=0.01, max_interval=0.02))
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]  # a stand-in task instance
    assert seen == [
        ("resumable_job.fresh_submit", {"operator": "ResumableOperator", "team_name": "etl"}),
        ("resumable_job.already_succeeded", {"operator": "ResumableOperator", "team_name": "etl"}),
    ]
