"""moto's server for EMR, with a layer of ours for what moto 5.x lacks and the guarantees rest on.

The server is this module run as a child process (``python -m tests.services.moto_emr --port N``,
started by ``tests.services.moto.start_moto_server``): moto's own server and backends for
``emr``, ``emr-serverless`` and ``emr-containers``, with these behaviours patched into moto's
backends in that process (docs/emr.md has the table of which behaviour comes from where):

- State changes over time. moto's steps never move (the first RUNNING, the rest PENDING),
  its Serverless runs are SUCCESS at once and its EKS runs RUNNING forever. Here each step
  or run follows a script read from its own spec (the step's args, the job driver): it
  starts in the API's first state and moves one state per status read (DescribeStep,
  GetJobRun, DescribeJobRun; listings do not move it) until its end: the success state by
  default, or ``resumable-test:end=FAILED``; after 3 reads, or ``resumable-test:polls=N``.
  ``resumable-test:hold`` keeps it RUNNING until the test calls ``release(id)``.
- clientToken dedupe (Serverless and EKS StartJobRun): a replayed token returns the run
  the first call made, as the API documents; moto makes a new run for each call.
- CancelSteps (moto has none): a PENDING step is CANCELLED at once, a RUNNING one
  CANCEL_PENDING, then CANCELLED on its next read; an ended one answers FAILED. Run
  cancels go through CANCELLING / CANCEL_PENDING the same way.
- A terminated cluster: AddJobFlowSteps answers ValidationException, its unfinished steps
  end CANCELLED; DescribeStep and ListSteps of an unknown cluster or step answer
  InvalidRequestException (moto fails with a KeyError).
- ListSteps pages by 50, as EMR does (moto by 100).
- A status listing (``ListSteps`` with ``StepStates``, ``ListJobRuns`` with ``states``: what
  the batched status asks) is a status read of each step or run it shows, and moves it as a
  direct read does; a listing without a state filter (a lookup by name) moves nothing.
  ``hide(id)`` keeps an id out of every listing while it still answers directly (EMR's
  listings are eventually consistent: a new step may be missing for a while).
- Every request is counted by its ``METHOD path target`` (``count(pattern)``).
- Faults on demand (``fault(...)``): the next N requests whose ``METHOD path target``
  matches a pattern get an AWS error (any code and HTTP status) instead of moto's answer,
  or after it (``after=True``: moto acted, the answer is lost: a create whose response
  never arrived).

Control requests go to ``/_emr_layer/...`` on the same port. The credentials are moto's
fixed fakes: nothing secret.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services.moto import FAKE_KEY, REGION, MotoServer, start_moto_server

ACCOUNT = "123456789012"  # moto's default account: roles must live in it (moto refuses cross-account roles)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/emr-job"
RELEASE_LABEL = "emr-6.15.0-latest"
DEFAULT_READS = 3
STEP_PAGE = 50
_CONTROL = "/_emr_layer/"
_DIRECTIVE = re.compile(r"resumable-test:(end=[A-Z_]+|polls=\d+|hold)")


@dataclass
class EmrMotoServer:
    """The running server: moto's endpoint plus the layer's controls."""

    moto: MotoServer

    @property
    def endpoint_url(self) -> str:
        return self.moto.endpoint_url

    @property
    def airflow_connection(self) -> str:
        return self.moto.airflow_connection

    def client(self, service: str, retries: int = 1) -> Any:
        """A boto3 client that sends each call once (*retries* total attempts): each fault reaches the adapter."""
        import boto3  # type: ignore[import-untyped]  # no stubs installed; the tests use few calls
        from botocore.config import Config  # type: ignore[import-untyped]  # same

        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY,
                            config=Config(retries={"total_max_attempts": retries, "mode": "standard"}))

    def _post(self, action: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(f"{self.endpoint_url}{_CONTROL}{action}", data=json.dumps(body).encode(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:  # loopback only
            return json.loads(answer.read() or b"null")

    def release(self, object_id: str, end: str | None = None) -> None:
        """Let a held step or run end on its next read (with *end*, else its script's end)."""
        self._post("release", {"id": object_id, "end": end})

    def fault(self, match: str, *, code: str, status: int = 400, count: int = 1, message: str = "injected",
              after: bool = False) -> None:
        """The next *count* requests matching *match* (a regex over ``METHOD path target``) fail with *code*."""
        self._post("fault", {"match": match, "code": code, "status": status, "count": count, "message": message,
                             "after": after})

    def clear_faults(self) -> None:
        self._post("clear", {})

    def faults_left(self) -> int:
        return int(self._post("faults-left", {}))

    def hide(self, object_id: str) -> None:
        """Keep a step or run out of every listing (it still answers DescribeStep / GetJobRun)."""
        self._post("hide", {"id": object_id})

    def count(self, match: str) -> int:
        """How many requests so far matched *match* (a regex over ``METHOD path target``)."""
        return int(self._post("count", {"match": match}))

    def make_cluster(self) -> str:
        emr = self.client("emr")
        answer = emr.run_job_flow(
            Name="resumable-test", ReleaseLabel="emr-6.15.0", ServiceRole="EMR_DefaultRole",
            JobFlowRole="EMR_EC2_DefaultRole",
            Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge", "KeepJobFlowAliveWhenNoSteps": True},
        )
        return str(answer["JobFlowId"])

    def make_application(self) -> str:
        answer = self.client("emr-serverless").create_application(name="resumable-test", releaseLabel="emr-6.15.0",
                                                                  type="SPARK")
        return str(answer["applicationId"])

    def make_virtual_cluster(self) -> str:
        namespace = f"spark-{uuid.uuid4().hex[:12]}"  # one virtual cluster per namespace, as EKS allows
        answer = self.client("emr-containers").create_virtual_cluster(
            name="resumable-test",
            containerProvider={"id": "eks-test", "type": "EKS", "info": {"eksInfo": {"namespace": namespace}}},
        )
        return str(answer["id"])


@contextlib.contextmanager
def start_emr_moto_server(log_dir: Path) -> Iterator[EmrMotoServer]:
    with start_moto_server(log_dir, module="tests.services.moto_emr") as server:
        yield EmrMotoServer(server)


@pytest.fixture(scope="session")
def emr_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmrMotoServer]:
    """One server per pytest worker, started by the first test that asks; tests make their own clusters."""
    with start_emr_moto_server(tmp_path_factory.mktemp("moto-emr")) as server:
        yield server


# -- the server process ----------------------------------------------------------------------


class _Script:
    """How one step or run moves: one state per status read, held or not, to its end."""

    def __init__(self, spec_text: str, path: list[str], success: str) -> None:
        self.path = path        # the states before the end, the first one already set at creation
        self.end = success
        self.reads_to_end = DEFAULT_READS
        self.held = False
        self.reads = 0
        self.cancelling: str | None = None  # the state a cancel ends in, on the next read
        for directive in _DIRECTIVE.findall(spec_text):
            if directive == "hold":
                self.held = True
            elif directive.startswith("end="):
                self.end = directive[4:]
            else:
                self.reads_to_end = max(1, int(directive[6:]))

    def next_state(self, current: str, ended: Iterable[str]) -> str:
        if current in ended:
            return current
        if self.cancelling is not None:
            return self.cancelling
        self.reads += 1
        if self.reads >= self.reads_to_end and not self.held:
            return self.end
        return self.path[min(self.reads, len(self.path) - 1)]


_lock = threading.RLock()
_scripts: dict[str, _Script] = {}
_hidden: set[str] = set()  # ids kept out of every listing


def _read(model: Any, ended: Iterable[str]) -> None:
    with _lock:
        script = _scripts.get(model.id)
        if script is not None:
            model.state = script.next_state(model.state, ended)


STEP_ENDED = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
SERVERLESS_ENDED = ("SUCCESS", "FAILED", "CANCELLED")
EKS_ENDED = ("COMPLETED", "FAILED", "CANCELLED")


def _replace(owner: Any, **members: Any) -> None:
    """Patch moto's classes and modules, in the server process only (never in a test's client)."""
    for name, value in members.items():
        setattr(owner, name, value)


def _patch_emr() -> None:
    from moto.emr import models, responses
    from moto.emr.exceptions import InvalidRequestException, ValidationException

    backend_cls = models.ElasticMapReduceBackend
    original_add_steps = models.Cluster.add_steps
    original_terminate = models.Cluster.terminate

    def cluster_of(self: Any, cluster_id: str) -> Any:
        if cluster_id not in self.clusters:
            raise InvalidRequestException(f"Cluster id '{cluster_id}' is not valid.")
        return self.clusters[cluster_id]

    def add_steps(self: Any, steps: list[dict[str, Any]]) -> list[Any]:
        if getattr(self, "state", None) in ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"):  # unset in __init__
            raise ValidationException("A job flow that is shutting down, terminated, or completed may not be "
                                      "modified.")
        added: list[Any] = original_add_steps(self, steps)
        with _lock:
            for step in added:
                step.state = "PENDING"
                _scripts[step.id] = _Script(json.dumps(step.args, default=str), ["PENDING", "RUNNING"], "COMPLETED")
        return added

    def terminate(self: Any) -> None:
        original_terminate(self)
        with _lock:
            for step in self.steps:
                if step.state not in STEP_ENDED:
                    step.state = "CANCELLED"
                    step.last_state_change_reason = "Cluster terminated."

    def describe_step(self: Any, cluster_id: str, step_id: str) -> Any:
        for step in cluster_of(self, cluster_id).steps:
            if step.id == step_id:
                _read(step, STEP_ENDED)
                return step
        raise InvalidRequestException(f"Step id '{step_id}' is not valid.")

    original_list_steps = backend_cls.list_steps

    def list_steps(self: Any, cluster_id: str, step_ids: Any = None, step_states: Any = None) -> Any:
        cluster = cluster_of(self, cluster_id)
        with _lock:
            if step_states:  # a status listing: a read of each step it shows
                for step in cluster.steps:
                    if step.id not in _hidden and step.state in step_states:
                        _read(step, STEP_ENDED)
            steps = original_list_steps(self, cluster_id, step_ids=step_ids, step_states=step_states)
            return [step for step in steps if step.id not in _hidden]

    def cancel_steps(self: Any, cluster_id: str, step_ids: list[str]) -> list[dict[str, str]]:
        infos = []
        for step in cluster_of(self, cluster_id).steps:
            if step.id not in step_ids:
                continue
            with _lock:
                if step.state == "PENDING":
                    step.state = "CANCELLED"
                    infos.append({"StepId": step.id, "Status": "SUBMITTED"})
                elif step.state in ("RUNNING", "CANCEL_PENDING"):
                    step.state = "CANCEL_PENDING"
                    _scripts.setdefault(step.id, _Script("", ["RUNNING"], "COMPLETED")).cancelling = "CANCELLED"
                    infos.append({"StepId": step.id, "Status": "SUBMITTED"})
                else:
                    infos.append({"StepId": step.id, "Status": "FAILED",
                                  "Reason": f"Step {step.id} is in {step.state} state and cannot be cancelled."})
        return infos

    def cancel_steps_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        infos = self.backend.cancel_steps(self._get_param("ClusterId"), self._get_param("StepIds", []))
        return ActionResult({"CancelStepsInfoList": infos})

    _replace(models.Cluster, add_steps=add_steps, terminate=terminate)
    _replace(backend_cls, describe_step=describe_step, list_steps=list_steps, cancel_steps=cancel_steps)
    _replace(responses.ElasticMapReduceResponse, cancel_steps=cancel_steps_response)


def _patch_paging() -> None:
    from moto.core import responses

    original: Any = getattr(responses, "get_pagination_model")  # noqa: B009  # not re-exported: mypy

    def get_pagination_model(service_name: str) -> dict[str, Any]:
        model: dict[str, Any] = original(service_name)
        if service_name == "emr" and "ListSteps" in model:
            model = {**model, "ListSteps": {**model["ListSteps"], "limit_default": STEP_PAGE}}
        return model

    _replace(responses, get_pagination_model=get_pagination_model)


def _dedupe_tokens(backend_cls: Any, scope: str, path: list[str], success: str, ended: tuple[str, ...],
                   read_method: str, cancelling: str) -> None:
    """StartJobRun: one run per (scope, clientToken); the run follows its script; reads move it."""
    original_start = backend_cls.start_job_run
    original_read = getattr(backend_cls, read_method)
    original_list = backend_cls.list_job_runs
    runs: dict[tuple[str, str], Any] = {}

    def start_job_run(self: Any, **kwargs: Any) -> Any:
        key = (kwargs[scope], kwargs["client_token"])
        with _lock:
            if key in runs:
                return runs[key]
            run = original_start(self, **kwargs)
            run.state = path[0]
            _scripts[run.id] = _Script(json.dumps(kwargs.get("job_driver"), default=str), path, success)
            runs[key] = run
            return run

    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        run = original_read(self, *args, **kwargs)
        _read(run, ended)
        return run

    def list_job_runs(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            states = kwargs.get("states")
            if states:  # a status listing: a read of each run it shows
                for run in original_list(self, *args, **kwargs):
                    if run.id not in _hidden:
                        _read(run, ended)
            return [run for run in original_list(self, *args, **kwargs) if run.id not in _hidden]

    def cancel_job_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        run = original_read(self, *args, **kwargs)
        with _lock:
            if run.state in ended:
                from moto.emrserverless.exceptions import ValidationException

                raise ValidationException(f"Job run {run.id} is not in a cancellable state")
            run.state = cancelling  # moto's own cancel ends the run at once: replaced, not called
            _scripts.setdefault(run.id, _Script("", path, success)).cancelling = "CANCELLED"
        return (run.application_id, run.id) if scope == "application_id" else run

    _replace(backend_cls, start_job_run=start_job_run, cancel_job_run=cancel_job_run, list_job_runs=list_job_runs,
             **{read_method: read})


def _patch_runs() -> None:
    from moto.emrcontainers.models import EMRContainersBackend
    from moto.emrserverless.models import EMRServerlessBackend

    _dedupe_tokens(EMRServerlessBackend, "application_id", ["SUBMITTED", "SCHEDULED", "RUNNING"], "SUCCESS",
                   SERVERLESS_ENDED, "get_job_run", "CANCELLING")
    _dedupe_tokens(EMRContainersBackend, "virtual_cluster_id", ["PENDING", "SUBMITTED", "RUNNING"], "COMPLETED",
                   EKS_ENDED, "describe_job_run", "CANCEL_PENDING")


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    code: str
    status: int
    count: int
    message: str
    after: bool


class _Layer:
    """WSGI middleware in front of moto's application: the controls and the injected faults."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.faults: list[_Fault] = []
        self.counts: dict[str, int] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(_CONTROL):
            return self._control(path[len(_CONTROL):], environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET")
        what = f"{environ.get('REQUEST_METHOD')} {path}" + (f" {target}" if target else "")
        with _lock:
            self.counts[what] = self.counts.get(what, 0) + 1
        fault = self._take(what)
        if fault is None:
            return self.app(environ, start_response)
        if fault.after:  # moto acts; its answer is dropped
            body = b"".join(self.app(environ, lambda *_args, **_kw: None))
            del body
        return self._error(fault, start_response)

    def _take(self, what: str) -> _Fault | None:
        with _lock:
            for fault in self.faults:
                if fault.count > 0 and fault.pattern.search(what):
                    fault.count -= 1
                    return fault
        return None

    @staticmethod
    def _error(fault: _Fault, start_response: Callable[..., Any]) -> list[bytes]:
        body = json.dumps({"__type": fault.code, "message": fault.message, "Message": fault.message}).encode()
        start_response(f"{fault.status} Injected", [
            ("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", fault.code),
            ("x-amzn-RequestId", "injected"), ("Content-Length", str(len(body))),
        ])
        return [body]

    def _control(self, action: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        answer: Any = None
        with _lock:
            if action == "release":
                script = _scripts[body["id"]]
                script.held = False
                script.reads_to_end = 0
                if body.get("end"):
                    script.end = body["end"]
            elif action == "fault":
                self.faults.append(_Fault(re.compile(body["match"]), body["code"], int(body["status"]),
                                          int(body["count"]), body["message"], bool(body["after"])))
            elif action == "clear":
                self.faults.clear()
            elif action == "faults-left":
                answer = sum(f.count for f in self.faults)
            elif action == "hide":
                _hidden.add(body["id"])
            elif action == "count":
                pattern = re.compile(body["match"])
                answer = sum(n for what, n in self.counts.items() if pattern.search(what))
        data = json.dumps(answer).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def main(argv: list[str] | None = None) -> None:
    import signal
    import sys

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _patch_emr()
    _patch_paging()
    _patch_runs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", args.port, _Layer(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
