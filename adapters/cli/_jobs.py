"""What the ``resumable`` command needs to know about each kind of job it can run.

A kind builds the job, chooses the polling and lease policy that suit it, and
turns its records into human lines. Its ``meta`` is stored beside the record so
that ``status`` and ``cancel`` can rebuild a job that can watch and cancel.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Protocol

from resumable_core import InvalidArgument, JsonValue, Policy, PollPolicy, ResumableError, ResumableJob

from ..local import LocalJobInfo, LocalProcessJob
from ._common import command_exit_status


class JobKind(Protocol):
    def meta(self) -> dict[str, JsonValue]: ...

    def policy(self) -> Policy: ...

    def poll_policy(self) -> PollPolicy: ...

    def watcher(self) -> ResumableJob[Any]:
        """A job object that can report status and cancel (it need not be able to submit)."""
        ...

    def started_at(self, job_id: str) -> float | None: ...

    def live_status(self, job_id: str) -> str: ...

    def failure_details(self, job_id: str) -> str | None: ...

    def exit_status(self, job_id: str) -> int | None:
        """The job's own exit status as a shell reports it (0-255), None when it has none."""
        ...

    def replay_output(self, job_id: str | None) -> None: ...

    def success_summary(self, result: object) -> str: ...


class LocalKind:
    def __init__(self, *, jobs_dir: Path, grace: float = 10.0) -> None:
        self.jobs_dir = jobs_dir
        self.grace = grace

    def job(self, argv: list[str]) -> LocalProcessJob:
        return LocalProcessJob(argv, jobs_dir=self.jobs_dir, cwd=os.getcwd(), grace_period=self.grace)

    def meta(self) -> dict[str, JsonValue]:
        return {"kind": "local", "jobs_dir": str(self.jobs_dir), "grace": self.grace}

    def policy(self) -> Policy:
        # A local submission is idempotent per reference (a lock and the job
        # directory guard it), so a crashed client's intent need not be honoured
        # for long: a rerun that submits the same reference gets the same job.
        return Policy(intent_lease=5.0)

    def poll_policy(self) -> PollPolicy:
        # Asking is a few file reads: poll often, so that a short job ends promptly.
        return PollPolicy(min_interval=0.2, max_interval=2.0, transient_attempts=20, transient_seconds=60.0)

    def watcher(self) -> LocalProcessJob:
        return LocalProcessJob(None, jobs_dir=self.jobs_dir, grace_period=self.grace)

    def _info(self, job_id: str | None) -> LocalJobInfo | None:
        if job_id is None:
            return None
        try:
            return self.watcher().inspect(job_id)
        except ResumableError:
            return None

    def started_at(self, job_id: str) -> float | None:
        info = self._info(job_id)
        return info.started_at if info is not None else None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        info = self._info(job_id)
        if info is None:
            return None
        if info.error:
            how = info.error
        elif info.exit_code is not None:
            how = f"exit code {info.exit_code}"
        elif info.signal is not None:
            how = f"killed by signal {info.signal}"
        elif info.cancel_requested:
            how = "cancelled"
        else:
            how = "its runner vanished without recording an exit code"
        return f"{how} (stderr: {info.stderr_path})"

    def exit_status(self, job_id: str) -> int | None:
        info = self._info(job_id)
        if info is None or info.cancel_requested:
            return None  # a cancel is a decision about the key, not the command's own failure
        return command_exit_status(info.exit_code, info.signal)

    def replay_output(self, job_id: str | None) -> None:
        """Copy the job's stdout and stderr to ours, as if it had run in the foreground."""
        info = self._info(job_id)
        if info is None:
            return
        for path, stream in ((info.stdout_path, sys.stdout), (info.stderr_path, sys.stderr)):
            try:
                with open(path, "rb") as handle:
                    stream.flush()
                    shutil.copyfileobj(handle, stream.buffer)
                    stream.buffer.flush()
            except OSError:
                pass  # output removed since: the summary still names where it was

    def success_summary(self, result: object) -> str:
        if not isinstance(result, dict):
            return "job succeeded"
        duration = result.get("duration")
        took = f" in {duration:.1f}s" if isinstance(duration, (int, float)) else ""
        return f"job {result.get('job_id')} succeeded{took}; output in {result.get('stdout')}"


class SparkKind:
    """``spark-submit``: a driver in cluster mode through the master's REST server."""

    def __init__(self, *, master: str, web_ui: list[str], app: str, main_class: str) -> None:
        self.master = master
        self.web_ui = web_ui
        self.app = app
        self.main_class = main_class

    def _module(self) -> Any:
        try:
            from .. import spark
        except ImportError as exc:
            raise InvalidArgument(f"the Spark adapter cannot be loaded: {exc}") from exc
        return spark

    def _client(self) -> Any:
        return self._module().SparkRestClient(rest_urls(self.master), web_ui_urls=self.web_ui)

    def submission_job(self, **options: Any) -> ResumableJob[Any]:
        spark = self._module()
        submission = spark.SparkSubmission(app_resource=self.app, main_class=self.main_class, **options)
        job: ResumableJob[Any] = spark.SparkRestJob(self._client(), submission)
        return job

    def meta(self) -> dict[str, JsonValue]:
        # No properties or arguments: they may hold secrets. What cancel needs is here.
        return {"kind": "spark", "master": self.master, "web_ui": list(self.web_ui), "app": self.app,
                "main_class": self.main_class}

    def policy(self) -> Policy:
        return Policy()

    def poll_policy(self) -> PollPolicy:
        return PollPolicy(min_interval=1.0, max_interval=15.0)

    def watcher(self) -> ResumableJob[Any]:
        # Status and cancel go by driver id; finding by reference also matches the main class.
        return self.submission_job()

    def started_at(self, job_id: str) -> float | None:
        return None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        return None

    def exit_status(self, job_id: str) -> int | None:
        return None  # the REST server reports a state, not the driver's exit code

    def replay_output(self, job_id: str | None) -> None:
        return None  # the driver's output is on its worker

    def success_summary(self, result: object) -> str:
        worker = result.get("worker_host_port") if isinstance(result, dict) else None
        return f"driver finished (worker {worker})" if worker else "driver finished"


def rest_urls(master: str) -> list[str]:
    """spark-submit's ``spark://host:6066[,host2:6066]`` as the REST client's http URLs."""
    if master.startswith("spark://"):
        return [f"http://{hostport}" for hostport in master[len("spark://"):].split(",") if hostport]
    return [master]


def ask_status(job: ResumableJob[Any], job_id: str) -> str:
    """The job's status now, or why it cannot be had (status is informative, never fatal)."""
    try:
        return job.get_job_status(job_id)
    except ResumableError as exc:
        return f"unknown ({exc})"


def kind_from_meta(meta: JsonValue) -> JobKind | None:
    if not isinstance(meta, dict):
        return None
    if meta.get("kind") == "local" and isinstance(meta.get("jobs_dir"), str):
        grace = meta.get("grace")
        return LocalKind(jobs_dir=Path(str(meta["jobs_dir"])),
                         grace=float(grace) if isinstance(grace, (int, float)) else 10.0)
    if meta.get("kind") == "spark":
        master, app, main_class, web_ui = meta.get("master"), meta.get("app"), meta.get("main_class"), meta.get("web_ui")
        if isinstance(master, str) and isinstance(app, str) and isinstance(main_class, str):
            uis = [u for u in web_ui if isinstance(u, str)] if isinstance(web_ui, list) else []
            return SparkKind(master=master, web_ui=uis, app=app, main_class=main_class)
    # Imported here: that module uses this one's kinds, and the YARN and Kubernetes kinds live there.
    from ._spark_cluster import cluster_kind_from_meta

    return cluster_kind_from_meta(meta)


__all__ = ["JobKind", "LocalKind", "SparkKind", "kind_from_meta"]
