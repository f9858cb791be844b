"""moto's EMR backends in the test process, with the layer of tests/services/moto_emr.py patched in.

The crash-injection properties make hundreds of calls per second of wall time; moto's
server over HTTP costs a process and a socket per call on top of moto's own work. Here
the same backends answer in-process (``moto.mock_aws``: botocore's request goes to moto
without leaving the process) and the same layer moves steps and runs, dedupes client
tokens and cancels steps: the server process's ``_patch_*`` functions are applied to
moto's classes for as long as ``emr_in_process`` is open, and undone after, so no other
test in the same pytest worker sees a patched moto. The layer's faults and counters
(its WSGI middleware) are not here: the properties inject their faults in the job proxy.

``EmrView`` is one example's container (a cluster, an application, a virtual cluster)
as the crash harness sees it (tests/core/_crash.py's ClusterView): every step or run it
ever held, read from moto's backend directly (a read through the API would move it), and
FORGET (EMR no longer answers for the step or run: DescribeStep says it is not valid,
GetJobRun / DescribeJobRun answer ResourceNotFoundException).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from resumable_adapters.aws import (
    EKS_STATES_ACTIVE,
    SERVERLESS_STATES_ACTIVE,
    STEP_STATES_ACTIVE,
    EmrEksJob,
    EmrServerlessJob,
    EmrStepJob,
    reference_of,
)
from resumable_core import JsonValue
from tests.aws.emrkit import SERVICE
from tests.contracts.crash_properties import AdapterCluster
from tests.core._crash import ACTIVE_STATE, CANCELLED_STATE, FAILED_STATE, SUCCEEDED_STATE, SystemJob
from tests.services import moto_emr
from tests.services.moto import FAKE_KEY, REGION
from tests.services.moto_emr import ACCOUNT, RELEASE_LABEL, ROLE_ARN

EmrJob = EmrStepJob | EmrServerlessJob | EmrEksJob
SUCCESS_STATE = {"step": "COMPLETED", "serverless": "SUCCESS", "eks": "COMPLETED"}
ACTIVE_STATES = {"step": STEP_STATES_ACTIVE, "serverless": SERVERLESS_STATES_ACTIVE, "eks": EKS_STATES_ACTIVE}
_MISSING = object()


@dataclass
class Creations:
    """Called with the id of each step or run moto makes (a replayed token makes none)."""

    hook: Callable[[str], None] | None = None
    seen: set[str] = field(default_factory=set)

    def created(self, object_id: str) -> None:
        if object_id not in self.seen:
            self.seen.add(object_id)
            if self.hook is not None:
                self.hook(object_id)


def _patched_members() -> list[tuple[Any, str]]:
    """Every class or module member the layer's patches (and ours) replace."""
    from moto.core import responses
    from moto.emr import models
    from moto.emr import responses as emr_responses
    from moto.emrcontainers.models import EMRContainersBackend
    from moto.emrserverless.models import EMRServerlessBackend

    return [
        (models.Cluster, "add_steps"), (models.Cluster, "terminate"),
        (models.ElasticMapReduceBackend, "describe_step"), (models.ElasticMapReduceBackend, "list_steps"),
        (models.ElasticMapReduceBackend, "cancel_steps"),
        (emr_responses.ElasticMapReduceResponse, "cancel_steps"),
        (responses, "get_pagination_model"),
        *[(EMRServerlessBackend, name) for name in ("start_job_run", "cancel_job_run", "list_job_runs",
                                                     "get_job_run")],
        *[(EMRContainersBackend, name) for name in ("start_job_run", "cancel_job_run", "list_job_runs",
                                                     "describe_job_run")],
    ]


def _note_creations(creations: Creations) -> None:
    """Tell *creations* of each new step or run, after the layer set up its script."""
    from moto.emr import models
    from moto.emrcontainers.models import EMRContainersBackend
    from moto.emrserverless.models import EMRServerlessBackend

    layer_add_steps = models.Cluster.add_steps

    def add_steps(self: Any, steps: list[dict[str, Any]]) -> list[Any]:
        added: list[Any] = layer_add_steps(self, steps)
        for step in added:
            creations.created(step.id)
        return added

    setattr(models.Cluster, "add_steps", add_steps)  # noqa: B010  # mypy: no assignment to a method
    for backend_cls in (EMRServerlessBackend, EMRContainersBackend):
        layer_start = backend_cls.start_job_run

        def start_job_run(self: Any, *, _start: Any = layer_start, **kwargs: Any) -> Any:
            run = _start(self, **kwargs)
            creations.created(run.id)
            return run

        setattr(backend_cls, "start_job_run", start_job_run)  # noqa: B010  # same


@contextmanager
def emr_in_process() -> Iterator[Creations]:
    """moto's backends for emr, emr-serverless and emr-containers in this process, the layer patched in.

    Every member patched is put back on exit (removed where moto had none)."""
    from moto import mock_aws

    saved = [(owner, name, vars(owner).get(name, _MISSING)) for owner, name in _patched_members()]
    creations = Creations()
    try:
        moto_emr._patch_emr()
        moto_emr._patch_paging()
        moto_emr._patch_runs()
        _note_creations(creations)
        with mock_aws():
            yield creations
    finally:
        for owner, name, value in saved:
            if value is _MISSING:
                if name in vars(owner):
                    delattr(owner, name)
            else:
                setattr(owner, name, value)


def client(kind: str) -> Any:
    """A boto3 client that sends each call once (the harness injects the faults; moto answers in-process)."""
    import boto3  # type: ignore[import-untyped]  # no stubs installed
    from botocore.config import Config  # type: ignore[import-untyped]  # same

    return boto3.client(SERVICE[kind], region_name=REGION, aws_access_key_id=FAKE_KEY,
                        aws_secret_access_key=FAKE_KEY, config=Config(retries={"total_max_attempts": 1}))


def new_container(kind: str, api: Any) -> str:
    if kind == "step":
        answer = api.run_job_flow(
            Name="crash", ReleaseLabel="emr-6.15.0", ServiceRole="EMR_DefaultRole", JobFlowRole="EMR_EC2_DefaultRole",
            Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge", "KeepJobFlowAliveWhenNoSteps": True},
        )
        return str(answer["JobFlowId"])
    if kind == "serverless":
        return str(api.create_application(name="crash", releaseLabel="emr-6.15.0", type="SPARK")["applicationId"])
    namespace = f"spark-{uuid.uuid4().hex[:12]}"  # one virtual cluster per namespace, as EKS allows
    return str(api.create_virtual_cluster(
        name="crash", containerProvider={"id": "eks", "type": "EKS", "info": {"eksInfo": {"namespace": namespace}}},
    )["id"])


def make_job(kind: str, api: Any, container: str) -> EmrJob:
    """The same spec for every submission of a key (its fingerprint must not change); the
    outcome of each is drawn by the view when moto makes it."""
    if kind == "step":
        return EmrStepJob(api, container, {
            "Name": "etl", "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "s3://bucket/etl.py"]},
        })
    if kind == "serverless":
        return EmrServerlessJob(api, container, ROLE_ARN, {"sparkSubmit": {"entryPoint": "s3://bucket/etl.py"}},
                                name="etl")
    return EmrEksJob(api, container, ROLE_ARN, RELEASE_LABEL,
                     {"sparkSubmitJobDriver": {"entryPoint": "s3://bucket/etl.py"}}, name="etl")


def _backend(kind: str) -> Any:
    if kind == "step":
        from moto.emr.models import emr_backends

        return emr_backends[ACCOUNT][REGION]
    if kind == "serverless":
        from moto.emrserverless.models import emrserverless_backends

        return emrserverless_backends[ACCOUNT][REGION]
    from moto.emrcontainers.models import emrcontainers_backends

    return emrcontainers_backends[ACCOUNT][REGION]


def harness_state(kind: str, state: str) -> str:
    """An EMR state as the harness names it: a cancel under way is no live job any more."""
    if state in ("CANCEL_PENDING", "CANCELLING", "CANCELLED"):
        return CANCELLED_STATE
    if state in ACTIVE_STATES[kind]:
        return ACTIVE_STATE
    return SUCCEEDED_STATE if state == SUCCESS_STATE[kind] else FAILED_STATE


class EmrView(AdapterCluster):
    """One example's container, each submission's outcome drawn as moto makes it."""

    def __init__(self, kind: str, container: str, creations: Creations, outcomes: Sequence[str]) -> None:
        super().__init__(outcomes)
        self.kind = kind
        self.container = container
        creations.hook = self.plan

    def plan(self, object_id: str) -> None:
        if not self.next_succeeds():
            moto_emr._scripts[object_id].end = "FAILED"

    def _held(self) -> list[Any]:
        """moto's own objects, in the order made: steps of the cluster, runs of the container."""
        backend = _backend(self.kind)
        if self.kind == "step":
            return list(backend.clusters[self.container].steps)
        if self.kind == "serverless":
            return list(backend.job_runs.get(self.container, []))
        return [run for run in backend.job_runs.values() if run.virtual_cluster_id == self.container]

    def _job(self, held: Any) -> SystemJob:
        # A step carries the reference in its name; a run was made under it as its client token.
        reference = reference_of(held.name) if self.kind == "step" else held.client_token
        assert reference, held  # every step or run here is a submission of the adapter
        return SystemJob(str(held.id), reference, harness_state(self.kind, str(held.state)))

    def jobs(self) -> list[SystemJob]:
        return [self._job(held) for held in self._held() if held.id not in self.forgotten] + list(
            self.forgotten.values())

    def forget(self, job_id: str) -> None:
        held = next((h for h in self._held() if h.id == job_id), None)
        if held is None:
            return
        self.remember_forgotten(self._job(held))
        backend = _backend(self.kind)
        if self.kind == "step":
            backend.clusters[self.container].steps.remove(held)
        elif self.kind == "serverless":
            backend.job_runs[self.container].remove(held)
        else:
            del backend.job_runs[job_id]

    def replace(self, job_id: str) -> None:
        raise AssertionError("EMR names a step or run by its id only: REPLACE is for Kubernetes")

    def result_job_id(self, result: JsonValue) -> str:
        assert isinstance(result, dict), result
        assert result["state"] == SUCCESS_STATE[self.kind], result
        return str(result["step_id" if self.kind == "step" else "job_run_id"])


__all__ = ["Creations", "EmrJob", "EmrView", "client", "emr_in_process", "make_job", "new_container"]
