"""Real Airflow 3.3 for the adapter's tests: a SQLite metadata DB per test, DAG files on disk.

Every DAG run happens in a child process (tests.airflow.harness), because the
scenarios crash it hard. The metadata DB is created once per session and
copied for each test (initdb costs seconds, a copy nothing).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.filejob import FileJobSystem
from tests.paths import PYTHONPATH

REPO = Path(__file__).resolve().parents[2]

# Without Airflow (an install without the 'airflow' extra) these tests are skipped, not failed.
if importlib.util.find_spec("airflow") is None:
    collect_ignore_glob = ["test_*.py"]
LOGICAL_DATE = "2026-01-01T00:00:00+00:00"
RUN_TIMEOUT = 180  # seconds for one child process; a hang fails the test instead of the suite

# Importing resumable_adapters.airflow in this process (the in-process tests) loads Airflow's
# configuration, which creates $AIRFLOW_HOME (default ~/airflow): point it at a temp dir.
_IN_PROCESS_HOME = tempfile.mkdtemp(prefix="resumable-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _IN_PROCESS_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_IN_PROCESS_HOME, ignore_errors=True)


def airflow_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child environment naming only this Airflow home (the caller's AIRFLOW_* dropped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "PYTHONPATH": PYTHONPATH,
        }
    )
    env.update(extra or {})
    return env


@pytest.fixture(scope="session")
def airflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow-template")
    (home / "dags").mkdir()
    subprocess.run(
        [sys.executable, "-c", "from airflow.utils import db; db.initdb()"],
        env=airflow_env(home),
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    return home / "airflow.db"


@dataclass
class DagRunResult:
    returncode: int
    output: str
    report: dict[str, Any] | None

    def task(self, task_id: str = "run") -> dict[str, Any]:
        assert self.report is not None, f"the run crashed (exit {self.returncode}):\n{self.output[-4000:]}"
        task: dict[str, Any] = self.report["tasks"][task_id]
        return task

    def record(self, task_id: str = "run", key: str = "resumable_core.job") -> dict[str, Any]:
        value: dict[str, Any] = self.task(task_id)["state_store"][key]["value"]
        return value


@dataclass
class AirflowSandbox:
    """One Airflow home with its own DB copy, DAG folder and fake external system."""

    home: Path
    jobs_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def jobs(self, task_id: str) -> FileJobSystem:
        """The fake system of one task (each task has its own, so their logs stay apart)."""
        return FileJobSystem(self.jobs_dir / task_id)

    @property
    def dags(self) -> Path:
        return self.home / "dags"

    def write_dag(self, dag_id: str, tasks: str, imports: str = "") -> Path:
        """A DAG file named after *dag_id* whose body is *tasks* (code using the names imported)."""
        source = textwrap.dedent(
            """\
            from datetime import timedelta

            from airflow.sdk import DAG

            from resumable_adapters.airflow import KillPolicy
            from tests.airflow.dagkit import *  # noqa: F403

            JOBS = {jobs!r}  # + "/<task_id>": one fake system per task
            {imports}
            with DAG({dag_id!r}, schedule=None, catchup=False) as dag:
            {tasks}
            """
        ).format(jobs=str(self.jobs_dir), dag_id=dag_id, imports=imports, tasks=textwrap.indent(textwrap.dedent(tasks), "    "))
        path = self.dags / f"{dag_id}.py"
        path.write_text(source)
        return path

    def run(self, dag_id: str, mode: str = "start", *, tasks: Sequence[str] = ()) -> DagRunResult:
        """One child process: start the run, resume it after a crash, or clear *tasks* (all) and rerun."""
        report = self.home / f"report-{dag_id}-{mode}.json"
        report.unlink(missing_ok=True)
        proc = subprocess.run(
            [sys.executable, "-m", "tests.airflow.harness", str(self.dags / f"{dag_id}.py"), dag_id,
             LOGICAL_DATE, str(report), mode, *tasks],
            env=airflow_env(self.home, self.extra_env),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        data = json.loads(report.read_text()) if report.exists() else None
        return DagRunResult(proc.returncode, proc.stdout + proc.stderr, data)


@pytest.fixture(scope="session")
def new_sandbox(airflow_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], AirflowSandbox]:
    """Makes an Airflow home with a copy of the initialised DB (module fixtures share one)."""

    def make(name: str) -> AirflowSandbox:
        base = tmp_path_factory.mktemp(name)
        home = base / "airflow"
        (home / "dags").mkdir(parents=True)
        shutil.copy(airflow_db_template, home / "airflow.db")
        return AirflowSandbox(home=home, jobs_dir=base / "jobs")

    return make
