"""``resumable emr-step`` and ``resumable emr-serverless``: the real command in a child process, against
moto's server and our layer (tests/services/moto_emr.py), credentials from the environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from resumable_adapters.cli import EXIT_JOB_FAILED, EXIT_OK
from tests.aws.emrkit import HOLD, job_ids, new_container
from tests.cli.conftest import Cli
from tests.services.moto import FAKE_KEY, REGION
from tests.services.moto_emr import ROLE_ARN, EmrMotoServer

QUICK = "resumable-test:polls=1"  # ends on its first status read: the command's first poll


@pytest.fixture
def aws_cli(cli: Cli, emr_moto: EmrMotoServer) -> Iterator[Cli]:
    cli.env.update({"AWS_ACCESS_KEY_ID": FAKE_KEY, "AWS_SECRET_ACCESS_KEY": FAKE_KEY, "AWS_DEFAULT_REGION": REGION})
    yield cli


def test_a_step_runs_once_and_its_result_is_reused(aws_cli: Cli, emr_moto: EmrMotoServer) -> None:
    cluster = new_container(emr_moto, "step")
    args = ["emr-step", "--json", "--key", "nightly", "--cluster-id", cluster, "--endpoint-url",
            emr_moto.endpoint_url, "--name", "etl", "--", "spark-submit", "s3://jobs/etl.py", QUICK]
    first = aws_cli.run(*args)
    assert first.code == EXIT_OK, first.stderr
    [step_id] = job_ids(emr_moto.endpoint_url, "step", cluster)
    assert first.events[0]["event"] == "submitted" and first.events[-1]["result"]["step_id"] == step_id
    again = aws_cli.run(*args)
    assert again.code == EXIT_OK and again.event_names()[0] == "result_reused"
    status = aws_cli.run("status", "--json", "nightly")
    assert status.events[0]["job_id"] == step_id and status.events[0]["phase"] == "succeeded"
    assert job_ids(emr_moto.endpoint_url, "step", cluster) == [step_id]


def test_a_serverless_run_that_fails_exits_job_failed(aws_cli: Cli, emr_moto: EmrMotoServer) -> None:
    application = new_container(emr_moto, "serverless")
    result = aws_cli.run("emr-serverless", "--json", "--key", "k", "--application-id", application, "--role-arn",
                         ROLE_ARN, "--entry-point", "s3://jobs/etl.py", "--endpoint-url", emr_moto.endpoint_url,
                         "--", QUICK, "resumable-test:end=FAILED")
    assert result.code == EXIT_JOB_FAILED, result.stderr
    assert len(job_ids(emr_moto.endpoint_url, "serverless", application)) == 1


def test_cancel_from_another_shell_cancels_the_step(aws_cli: Cli, emr_moto: EmrMotoServer, tmp_path: Path) -> None:
    cluster = new_container(emr_moto, "step")
    running = aws_cli.start("emr-step", "--json", "--key", "held", "--cluster-id", cluster, "--endpoint-url",
                            emr_moto.endpoint_url, "--", "spark-submit", "s3://jobs/etl.py", HOLD)
    try:
        assert running.stdout is not None
        for line in running.stdout:  # until the step id is recorded
            if line.startswith("{") and json.loads(line).get("event") == "submitted":
                break
        cancel = aws_cli.run("cancel", "--json", "held")
        assert cancel.code == EXIT_OK, cancel.stderr
        [step_id] = job_ids(emr_moto.endpoint_url, "step", cluster)
        state = emr_moto.client("emr").describe_step(ClusterId=cluster, StepId=step_id)["Step"]["Status"]["State"]
        assert state in ("CANCEL_PENDING", "CANCELLED")
    finally:
        running.kill()
        running.wait(30)
