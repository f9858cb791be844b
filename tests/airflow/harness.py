"""Runs one DAG in real Airflow, in its own process, and writes a JSON report.

    python -m tests.airflow.harness DAG_FILE DAG_ID LOGICAL_DATE REPORT {start,resume,clear} [TASK_ID...]

The parent test sets AIRFLOW_HOME and friends in the environment; each call is
a fresh process because a task under test may crash it hard (os._exit).

- start: ``dag.test()``, which creates the dag run for LOGICAL_DATE (deleting
  any earlier one, state store rows included) and runs it in-process.
- resume: continue the run a crashed process left behind, as the scheduler
  would. The task instance left RUNNING is failed through the execution API's
  retry call (the scheduler does this after its heartbeat timeout; Airflow
  3.3.2 never sends it for a crashed task), then the dag.test() loop runs the
  retry on the existing run.
- clear: ``SerializedDAG.clear`` on the run's task instances (the code behind
  ``airflow tasks clear`` and the UI's Clear), then the same loop.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def load_dag(dag_file: Path, dag_id: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"dagfile_{dag_id}", dag_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise SystemExit(f"no DAG {dag_id!r} in {dag_file}")


def fail_running_tries(dag_id: str, logical_date: datetime) -> list[str]:
    """Move task instances a crashed process left RUNNING to UP_FOR_RETRY via the execution API."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
        ).one()
        stuck = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run.run_id,
                TaskInstance.state == TaskInstanceState.RUNNING,
            )
        ).all()
        ids = [ti.id for ti in stuck]
    client = InProcessTestSupervisor._api_client()  # type: ignore[no-untyped-call]  # Airflow leaves it untyped
    for ti_id in ids:
        client.task_instances.retry(
            id=ti_id,
            end_date=datetime.now(timezone.utc),
            rendered_map_index=None,
            retry_delay_seconds=0,
            retry_reason="task process crashed (test harness stands in for the scheduler)",
        )
    return [str(ti_id) for ti_id in ids]


def report(dag_id: str, logical_date: datetime) -> dict[str, Any]:
    from airflow.models.dagrun import DagRun
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
        ).one()
        tasks: dict[str, Any] = {}
        for ti in session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ):
            tasks[ti.task_id] = {
                "state": None if ti.state is None else str(ti.state.value if hasattr(ti.state, "value") else ti.state),
                "try_number": ti.try_number,
                "max_tries": ti.max_tries,
            }
        for xcom in session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run.run_id, XComModel.key == "return_value"
            )
        ):
            tasks.setdefault(xcom.task_id, {})["xcom"] = XComModel.deserialize_value(xcom)
        for xcom in session.scalars(  # operator extra links: Airflow 3's UI reads them from these
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run.run_id, XComModel.key.startswith("_link_")
            )
        ):
            tasks.setdefault(xcom.task_id, {}).setdefault("links", {})[xcom.key] = XComModel.deserialize_value(xcom)
        for row in session.scalars(
            select(TaskStateStoreModel).where(
                TaskStateStoreModel.dag_id == dag_id, TaskStateStoreModel.run_id == run.run_id
            )
        ):
            entry = tasks.setdefault(row.task_id, {})
            entry.setdefault("state_store", {})[row.key] = {
                "value": json.loads(row.value),
                "expires_at": None if row.expires_at is None else row.expires_at.isoformat(),
            }
        return {"run_id": run.run_id, "run_state": str(run.state), "tasks": tasks}


def find_run(session: Any, dag_id: str, logical_date: datetime) -> Any:
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    return session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)).one()


def clear_run(dag_id: str, logical_date: datetime, task_ids: list[str]) -> None:
    """What ``airflow tasks clear`` does: clear task instances of the run (all when none named)."""
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    with create_session() as session:
        run = find_run(session, dag_id, logical_date)
        scheduler_dag = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
        assert scheduler_dag is not None
        scheduler_dag.clear(run_id=run.run_id, task_ids=task_ids or None, session=session)


def drive(dag: Any, logical_date: datetime) -> None:
    """The scheduling loop of dag.test() (airflow/sdk/definitions/dag.py) on an existing run."""
    from airflow.models.dagbag import DBDagBag
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    with create_session() as session:
        run = find_run(session, dag.dag_id, logical_date)
        run.dag = DBDagBag().get_latest_version_of_dag(dag.dag_id, session=session)
        if run.state == DagRunState.QUEUED:  # a cleared run: the scheduler would start it
            run.state = DagRunState.RUNNING
            session.commit()
        for _ in range(100):
            if run.state != DagRunState.RUNNING:
                return
            session.expire_all()
            schedulable, _ = run.update_state(session=session)
            for ti in schedulable:
                if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                    ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            scheduled = [ti for ti in run.get_task_instances(session=session) if ti.state == TaskInstanceState.SCHEDULED]
            for ti in scheduled:
                try:
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
                except Exception as exc:  # dag.test() logs and goes on; the report shows the state
                    print(f"[harness] task {ti.task_id} raised {exc!r}", file=sys.stderr)
        raise SystemExit("the dag run did not finish in 100 scheduling rounds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dag_file", type=Path)
    parser.add_argument("dag_id")
    parser.add_argument("logical_date")
    parser.add_argument("report", type=Path)
    parser.add_argument("mode", choices=["start", "resume", "clear"])
    parser.add_argument("task_ids", nargs="*", help="clear: the tasks to clear (default: all)")
    args = parser.parse_args(argv)
    logical_date = datetime.fromisoformat(args.logical_date)

    dag = load_dag(args.dag_file, args.dag_id)
    notes: dict[str, Any] = {}
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        if args.mode == "start":
            # run_after fixed: a run id that does not depend on the wall clock.
            dag.test(logical_date=logical_date, run_after=logical_date)
        elif args.mode == "resume":
            notes["failed_for_retry"] = fail_running_tries(args.dag_id, logical_date)
            drive(dag, logical_date)
        else:
            clear_run(args.dag_id, logical_date, args.task_ids)
            drive(dag, logical_date)
    finally:
        # Running a task installs the task runner's SIGTERM handler and leaves it.
        signal.signal(signal.SIGTERM, previous_sigterm)
    result = report(args.dag_id, logical_date)
    result.update(notes)
    args.report.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
