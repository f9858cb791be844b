"""The thread that ends a test's held jobs once the try it waits for has seen them running.

The jobs of the real-Airflow tests never end by themselves (held: a Flink count job on its
control directory, an application or pod the loopback YARN / Kubernetes server never moves),
so no outcome depends on how long a process takes to start. The tasks log every answered
status query (``{"try": N, "job_id": ...}`` lines, tests/airflow/clusterkit.py and
flinkkit.py); once a try numbered at least N has asked about a job, that try has seen it
active and reattached to it (or polls on), and the Finisher ends it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Protocol

from tests.airflow.conftest import AirflowSandbox


class HeldJobs(Protocol):
    """What the Finisher needs of the system holding a task's jobs."""

    def active(self, job_id: str) -> bool:
        """Whether the job still runs: one already ended, or being killed, is left alone."""
        ...

    def finish(self, job_id: str) -> None:
        """End the job successfully."""
        ...


class Finisher:
    """Ends each task's held job once a try numbered at least ``from_try[task]`` has seen its status.

    *views*: by task id, the system holding that task's jobs; *asked_log*: the name of the log
    the tasks write each answered status query to. Each job is looked at once, when first seen.
    """

    def __init__(self, sandbox: AirflowSandbox, views: Mapping[str, HeldJobs], from_try: Mapping[str, int], *,
                 asked_log: str, interval: float = 0.05) -> None:
        self.sandbox, self.views, self.from_try = sandbox, views, from_try
        self.asked_log, self.interval = asked_log, interval
        self.finished: list[str] = []  # the jobs it ended, in order
        self.error: BaseException | None = None  # what stopped the thread, raised on leaving the block
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Finisher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.error is not None:  # the DAG run waited on jobs this thread had stopped ending
            raise AssertionError(f"the Finisher stopped: {self.error!r}") from self.error

    def _watch(self) -> None:
        try:
            self._ending()
        except BaseException as exc:
            self.error = exc

    def _ending(self) -> None:
        while not self._stop.wait(self.interval):
            for task_id, first_try in self.from_try.items():
                try:
                    log = self.sandbox.jobs(task_id).log(self.asked_log)
                except ValueError:  # a line read while the task process writes it: read again
                    continue
                for asked in log:
                    job_id = asked["job_id"]
                    if asked["try"] < first_try or job_id in self._seen:
                        continue
                    self._seen.add(job_id)
                    view = self.views[task_id]
                    if view.active(job_id):
                        view.finish(job_id)
                        self.finished.append(job_id)
