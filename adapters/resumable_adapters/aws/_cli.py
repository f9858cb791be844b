"""``resumable emr-step`` and ``resumable emr-serverless``: EMR's part of the command.

::

    resumable emr-step --key etl --cluster-id j-2AXXXXXXGAPLF -- spark-submit s3://jobs/etl.py 2026-11-24
    resumable emr-serverless --key etl --application-id 00f1abc --role-arn arn:aws:iam::1:role/etl \\
        --entry-point s3://jobs/etl.py -- 2026-11-24

A step runs ``command-runner.jar`` with the arguments after ``--`` (``--jar`` for another).
Credentials and region come from boto3's usual chain (environment, profile, instance role);
``--profile``, ``--region`` and ``--endpoint-url`` are stored beside the record (never a
credential) so that ``status`` and ``cancel`` can ask again.
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from ..cli.plugin import EXIT_USAGE, CliError, Commands, JobKind, ask_status, run_job

if TYPE_CHECKING:
    from resumable_core import JsonValue, Policy, PollPolicy, ResumableJob

STEP, SERVERLESS = "emr-step", "emr-serverless"
_SERVICE = {STEP: "emr", SERVERLESS: "emr-serverless"}
_SESSIONS: dict[tuple[str | None, str | None], Any] = {}


class EmrKind:
    """One EMR flavour in one container (cluster or application), reached as the meta says."""

    def __init__(self, kind: str, container: str, *, region: str | None = None, endpoint_url: str | None = None,
                 profile: str | None = None) -> None:
        self.kind, self.container = kind, container
        self.region, self.endpoint_url, self.profile = region, endpoint_url, profile

    def client(self) -> Any:
        try:
            import boto3  # type: ignore[import-untyped]  # boto3 ships no type stubs
        except ImportError as exc:
            raise CliError("resumable emr-* needs boto3: pip install 'resumable-core[aws]'", EXIT_USAGE) from exc
        key = (self.profile, self.region)
        session = _SESSIONS.get(key)
        if session is None:
            # One session per profile and region in this process: its clients share one credentials
            # object, so ``resumable watch`` asks all the keys of a cluster in one listing even when
            # the credentials are refreshable (an assumed role, SSO), whose identity is that object.
            session = _SESSIONS[key] = boto3.Session(profile_name=self.profile, region_name=self.region)
        return session.client(_SERVICE[self.kind], endpoint_url=self.endpoint_url)

    def step_job(self, name: str, jar: str, argv: list[str], action_on_failure: str) -> ResumableJob[Any]:
        from ._emr_steps import EmrStepJob

        return EmrStepJob(self.client(), self.container, {
            "Name": name, "ActionOnFailure": action_on_failure, "HadoopJarStep": {"Jar": jar, "Args": argv}})

    def serverless_job(self, role_arn: str, entry_point: str, argv: list[str], spark_params: str | None,
                       name: str | None) -> ResumableJob[Any]:
        from ._emr_runs import EmrServerlessJob

        driver: dict[str, Any] = {"entryPoint": entry_point, "entryPointArguments": argv}
        if spark_params:
            driver["sparkSubmitParameters"] = spark_params
        return EmrServerlessJob(self.client(), self.container, role_arn, {"sparkSubmit": driver}, name=name)

    def meta(self) -> dict[str, JsonValue]:
        return {"kind": self.kind, "container": self.container, "region": self.region,
                "endpoint_url": self.endpoint_url, "profile": self.profile}

    def policy(self) -> Policy:
        from resumable_core import Policy

        return Policy()

    def poll_policy(self) -> PollPolicy:
        # Each look is an API call with a quota: start at a few seconds, back off to half a minute.
        from resumable_core import PollPolicy

        return PollPolicy(min_interval=2.0, max_interval=30.0)

    def watcher(self) -> ResumableJob[Any]:
        from ._emr_runs import EmrServerlessJob
        from ._emr_steps import EmrStepJob

        if self.kind == STEP:
            return EmrStepJob(self.client(), self.container, {"Name": "watch", "HadoopJarStep": {}})
        return EmrServerlessJob(self.client(), self.container, "watch", {"watch": {}})

    def started_at(self, job_id: str) -> float | None:
        return None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        try:
            result = self.watcher().get_job_result(job_id, "FAILED")
        except Exception:  # details are informative: their absence must not hide the failure
            return None
        if not isinstance(result, dict):
            return None
        reason = result.get("reason") or result.get("state_details")
        log_file = result.get("log_file")
        return " ".join(str(part) for part in (reason, f"(log: {log_file})" if log_file else None) if part) or None

    def exit_status(self, job_id: str) -> int | None:
        return None  # EMR reports no exit code

    def replay_output(self, job_id: str | None) -> None:
        return None  # the output is in EMR's logs (S3), not here

    def success_summary(self, result: object) -> str:
        if not isinstance(result, dict):
            return "job succeeded"
        job_id = result.get("step_id") or result.get("job_run_id")
        return f"{self.kind} {job_id} in {self.container}: {result.get('state')}"

    @classmethod
    def from_meta(cls, meta: dict[str, JsonValue]) -> EmrKind | None:
        kind, container = meta.get("kind"), meta.get("container")
        if kind not in _SERVICE or not isinstance(kind, str) or not isinstance(container, str):
            return None

        def text(name: str) -> str | None:
            value = meta.get(name)
            return value if isinstance(value, str) else None

        return cls(kind, container, region=text("region"), endpoint_url=text("endpoint_url"), profile=text("profile"))


def _argv(args: argparse.Namespace) -> list[str]:
    argv = list(args.argv)
    return argv[1:] if argv and argv[0] == "--" else argv


def _hint(args: argparse.Namespace, command: str, *options: str) -> str:
    state = ["--state", args.state] if args.state else []
    return shlex.join(["resumable", command, "--key", args.key, *state, *options, "--", *_argv(args)])


def _kind(args: argparse.Namespace, kind: str, container: str) -> EmrKind:
    return EmrKind(kind, container, region=args.region, endpoint_url=args.endpoint_url, profile=args.profile)


def cmd_step(args: argparse.Namespace) -> int:
    argv = _argv(args)
    if not argv:
        raise CliError("emr-step needs the step's arguments after -- (see: resumable emr-step --help)", EXIT_USAGE)
    kind = _kind(args, STEP, args.cluster_id)
    job = kind.step_job(args.name, args.jar, argv, args.action_on_failure)
    return run_job(args, kind, job, reattach_hint=_hint(args, STEP, "--cluster-id", args.cluster_id))


def cmd_serverless(args: argparse.Namespace) -> int:
    kind = _kind(args, SERVERLESS, args.application_id)
    job = kind.serverless_job(args.role_arn, args.entry_point, _argv(args), args.spark_params, args.name)
    return run_job(args, kind, job, reattach_hint=_hint(args, SERVERLESS, "--application-id", args.application_id,
                                                        "--role-arn", args.role_arn, "--entry-point", args.entry_point))


def _aws_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--region", help="the AWS region (default: boto3's configuration)")
    sub.add_argument("--profile", help="the AWS profile (default: boto3's configuration)")
    sub.add_argument("--endpoint-url", help="another endpoint for the API (a VPC endpoint, a test server)")
    sub.add_argument("argv", nargs=argparse.REMAINDER, metavar="ARGS", help="the job's arguments, after --")


class _Commands:
    def add_commands(self, commands: Commands) -> None:
        step = commands.add_job_command(STEP, help="run one step on an EMR on EC2 cluster as a resumable job",
                                        handler=cmd_step,
                                        usage="resumable emr-step --key KEY --cluster-id ID [options] -- ARGS...")
        step.add_argument("--cluster-id", required=True, help="the cluster (j-...)")
        step.add_argument("--name", default="resumable", help="the step's name (the reference is appended)")
        step.add_argument("--jar", default="command-runner.jar", help="the step's jar (default: command-runner.jar)")
        step.add_argument("--action-on-failure", default="CONTINUE",
                          choices=["CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"])
        _aws_options(step)
        serverless = commands.add_job_command(
            SERVERLESS, help="run a Spark job on an EMR Serverless application as a resumable job",
            handler=cmd_serverless,
            usage="resumable emr-serverless --key KEY --application-id ID --role-arn ARN --entry-point URI "
                  "[options] -- ARGS...")
        serverless.add_argument("--application-id", required=True)
        serverless.add_argument("--role-arn", required=True, help="the job's execution role")
        serverless.add_argument("--entry-point", required=True, help="the Spark application (s3://...)")
        serverless.add_argument("--spark-params", help="sparkSubmitParameters, as one string")
        serverless.add_argument("--name", help="the job run's name")
        _aws_options(serverless)

    def kind_from_meta(self, meta: dict[str, JsonValue]) -> JobKind | None:
        return EmrKind.from_meta(meta)


COMMANDS = _Commands()
