"""``resumable databricks-submit`` and ``resumable databricks-run-now``: a Databricks run under a key.

The workspace and its credentials come as the SDK reads them (``DATABRICKS_HOST``,
``DATABRICKS_TOKEN``, ``~/.databrickscfg`` and its ``--profile``), never from an argument a
``ps`` would show; ``--host`` may name the workspace. What is stored to rebuild the job later
(``resumable status`` / ``watch`` / ``cancel``) is the host and the profile, never a secret.
Nothing here imports the SDK until a Databricks job is built.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli.plugin import EXIT_USAGE, CliError, Commands, JobKind, ask_status, run_job

if TYPE_CHECKING:
    from resumable_core import JsonValue, Policy, PollPolicy

    from ._client import DatabricksJobsClient
    from ._job import DatabricksSubmitRunJob

KIND = "databricks"


class DatabricksKind:
    def __init__(self, *, host: str | None, profile: str | None) -> None:
        self.host = host
        self.profile = profile
        self._client: DatabricksJobsClient | None = None

    def client(self) -> DatabricksJobsClient:
        if self._client is None:
            from ._client import DatabricksJobsClient

            options: dict[str, Any] = {"profile": self.profile} if self.profile else {}
            self._client = DatabricksJobsClient(self.host, **options)
        return self._client

    def meta(self) -> dict[str, JsonValue]:
        return {"kind": KIND, "host": self.host, "profile": self.profile}

    def policy(self) -> Policy:
        # A submission is idempotent per reference (its token): a crashed client's intent need
        # not be honoured for long, since the same reference gets the same run.
        from resumable_core import Policy

        return Policy(intent_lease=30.0)

    def poll_policy(self) -> PollPolicy:
        from resumable_core import PollPolicy

        return PollPolicy(min_interval=1.0, max_interval=30.0)

    def watcher(self) -> DatabricksSubmitRunJob:
        from ._job import DatabricksSubmitRunJob

        return DatabricksSubmitRunJob(self.client(), {})  # status and cancel need no payload

    def _run(self, job_id: str) -> Any:
        from resumable_core import ResumableError

        from ._repair import RunRef

        try:
            return self.client().get_run(RunRef.parse(job_id).run_id, job_id=job_id)
        except ResumableError:
            return None

    def started_at(self, job_id: str) -> float | None:
        run = self._run(job_id)
        return run.start_time / 1000.0 if run is not None and run.start_time else None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        run = self._run(job_id)
        if run is None:
            return None
        details = run.status.termination_details if run.status is not None else None
        message = details.message if details is not None and details.message else "no message"
        return f"{message} (run page: {run.run_page_url})"

    def exit_status(self, job_id: str) -> int | None:
        return None  # a run has no exit status of its own: success or failure says it all

    def replay_output(self, job_id: str | None) -> None:
        pass  # a run's output lives in Databricks: its run page is in the summary

    def success_summary(self, result: object) -> str:
        if not isinstance(result, dict):
            return "run succeeded"
        return f"run {result.get('run_id')} succeeded: {result.get('run_page_url')}"

    @classmethod
    def from_meta(cls, meta: dict[str, JsonValue]) -> DatabricksKind | None:
        host, profile = meta.get("host"), meta.get("profile")
        if meta.get("kind") != KIND:
            return None
        return cls(host=host if isinstance(host, str) else None, profile=profile if isinstance(profile, str) else None)


def _payload(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CliError(f"--request {path}: {exc}", EXIT_USAGE) from None
    if not isinstance(payload, dict):
        raise CliError(f"--request {path}: a JSON object (the Jobs API request body) is needed", EXIT_USAGE)
    return payload


def _hint(args: argparse.Namespace, command: str, *rest: str) -> str:
    options = [*(["--host", args.host] if args.host else []), *(["--profile", args.profile] if args.profile else [])]
    state = ["--state", args.state] if args.state else []
    return shlex.join(["resumable", command, "--key", args.key, *state, *options, *rest])


def cmd_submit(args: argparse.Namespace) -> int:
    from ._job import DatabricksSubmitRunJob

    payload = _payload(args.request)
    if not payload.get("tasks"):
        raise CliError("databricks-submit needs --request FILE with the runs/submit body (its tasks)", EXIT_USAGE)
    kind = DatabricksKind(host=args.host, profile=args.profile)
    job = DatabricksSubmitRunJob(kind.client(), payload)
    return run_job(args, kind, job, reattach_hint=_hint(args, "databricks-submit", "--request", args.request))


def cmd_run_now(args: argparse.Namespace) -> int:
    from ._job import DatabricksRunNowJob

    payload = _payload(args.request)
    parameters = dict(payload.get("job_parameters") or {})
    for item in args.job_parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"--job-parameter {item!r}: NAME=VALUE", EXIT_USAGE)
        parameters[name] = value
    if parameters:
        payload["job_parameters"] = parameters
    kind = DatabricksKind(host=args.host, profile=args.profile)
    job = DatabricksRunNowJob(kind.client(), args.job_id, payload, reference_parameter=args.reference_parameter)
    rest = [f"--job-id={args.job_id}", *([f"--request={args.request}"] if args.request else []),
            *(f"--job-parameter={p}" for p in args.job_parameter)]
    return run_job(args, kind, job, reattach_hint=_hint(args, "databricks-run-now", *rest))


class _Commands:
    def add_commands(self, commands: Commands) -> None:
        submit = commands.add_job_command("databricks-submit", handler=cmd_submit,
                                          help="a one-time Databricks run (runs/submit) as a resumable job",
                                          usage="resumable databricks-submit --key KEY --request FILE [options]")
        now = commands.add_job_command("databricks-run-now", handler=cmd_run_now,
                                       help="a run of an existing Databricks job (run-now) as a resumable job",
                                       usage="resumable databricks-run-now --key KEY --job-id ID [options]")
        for sub in (submit, now):
            sub.add_argument("--host", metavar="URL", help="the workspace (default: DATABRICKS_HOST or the profile)")
            sub.add_argument("--profile", metavar="NAME", help="a ~/.databrickscfg profile")
        submit.add_argument("--request", metavar="FILE", help="the runs/submit request body, JSON (no idempotency_token)")
        now.add_argument("--job-id", type=int, required=True, metavar="ID")
        now.add_argument("--request", metavar="FILE", help="the run-now parameters, JSON (job_parameters, queue, ...)")
        now.add_argument("--job-parameter", action="append", default=[], metavar="NAME=VALUE")
        now.add_argument("--reference-parameter", metavar="NAME",
                         help="a job parameter the job defines, to carry the reference (find by reference)")

    def kind_from_meta(self, meta: dict[str, JsonValue]) -> JobKind | None:
        return DatabricksKind.from_meta(meta)


COMMANDS = _Commands()
