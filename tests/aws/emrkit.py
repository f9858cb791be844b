"""The three EMR jobs against the moto server and its layer (tests/services/moto_emr.py), built one way.

A job's script (how its step or run moves in the layer) travels in its own arguments:
``resumable-test:end=FAILED``, ``resumable-test:polls=N``, ``resumable-test:hold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from resumable_adapters.aws import EmrEksJob, EmrServerlessJob, EmrStepJob
from resumable_core import PollPolicy
from tests.services.moto import FAKE_KEY, REGION
from tests.services.moto_emr import RELEASE_LABEL, ROLE_ARN, EmrMotoServer

KINDS = ("step", "serverless", "eks")
FAST = PollPolicy(min_interval=0.02, max_interval=0.1, jitter=0.0, transient_seconds=30.0, deadline=60.0)
SERVICE = {"step": "emr", "serverless": "emr-serverless", "eks": "emr-containers"}
FAIL = "resumable-test:end=FAILED"
HOLD = "resumable-test:hold"


def client(endpoint_url: str, kind: str) -> Any:
    """A boto3 client sending each call once, so every injected fault reaches the adapter's edge."""
    import boto3  # type: ignore[import-untyped]  # no stubs installed
    from botocore.config import Config  # type: ignore[import-untyped]  # same

    return boto3.client(SERVICE[kind], endpoint_url=endpoint_url, region_name=REGION, aws_access_key_id=FAKE_KEY,
                        aws_secret_access_key=FAKE_KEY, config=Config(retries={"total_max_attempts": 1}))


def make_job(endpoint_url: str, kind: str, container: str, directives: Sequence[str] = (), spec: str = "a",
             name: str = "etl") -> EmrStepJob | EmrServerlessJob | EmrEksJob:
    args = [f"s3://bucket/{spec}.py", *directives]
    if kind == "step":
        return EmrStepJob(client(endpoint_url, kind), container, {
            "Name": name, "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", *args]},
        })
    if kind == "serverless":
        return EmrServerlessJob(client(endpoint_url, kind), container, ROLE_ARN,
                                {"sparkSubmit": {"entryPoint": args[0], "entryPointArguments": args[1:]}}, name=name)
    return EmrEksJob(client(endpoint_url, kind), container, ROLE_ARN, RELEASE_LABEL,
                     {"sparkSubmitJobDriver": {"entryPoint": args[0], "entryPointArguments": args[1:]}}, name=name)


def new_container(server: EmrMotoServer, kind: str) -> str:
    """A fresh cluster, application or virtual cluster: each test counts only its own jobs."""
    if kind == "step":
        return server.make_cluster()
    return server.make_application() if kind == "serverless" else server.make_virtual_cluster()


def job_ids(endpoint_url: str, kind: str, container: str) -> list[str]:
    """Every step or run the system holds in *container*, from its own listing."""
    api = client(endpoint_url, kind)
    if kind == "step":
        pages = api.get_paginator("list_steps").paginate(ClusterId=container)
        return [step["Id"] for page in pages for step in page["Steps"]]
    if kind == "serverless":
        try:
            pages = api.get_paginator("list_job_runs").paginate(applicationId=container)
            return [run["id"] for page in pages for run in page["jobRuns"]]
        except api.exceptions.ResourceNotFoundException:  # moto: no run yet in this application
            return []
    pages = api.get_paginator("list_job_runs").paginate(virtualClusterId=container)
    return [run["id"] for page in pages for run in page["jobRuns"]]


def unknown_id(kind: str) -> str:
    return {"step": "s-UNKNOWN0000000", "serverless": "0000000000000000", "eks": "0000000000000000000"}[kind]
