"""DatabricksJobsClient: the Jobs API through the official databricks-sdk, every error mapped once.

The SDK retries on its own: a 429 or 503 sleeps for the server's ``Retry-After`` and asks
again, "Unexpected error" messages and connection failures are retried for up to
``retry_timeout_seconds`` (300 s by default), and what it finally raises is a bare
``TimeoutError``. That hides a throttled workspace from the caller's budget, and multiplies
requests the core already retries within its own. So the client hands the SDK a clock
whose ``sleep`` ends the loop at its first wait (``_NoRetryClock``): every error reaches
``_mapped`` at once, and the core's poller waits, honouring ``Retry-After`` through
``TransientError.retry_after``.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
import typing
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any, TypeVar

from resumable_core.errors import (
    ExternalSystemError,
    InvalidArgument,
    JobNotFound,
    MalformedAnswer,
    ProtocolError,
    SubmissionRejected,
    TransientError,
)

try:
    import requests
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.clock import Clock
    from databricks.sdk.config import Config
    from databricks.sdk.errors import (
        BadRequest,
        DeadlineExceeded,
        InternalError,
        NotFound,
        PermissionDenied,
        TemporarilyUnavailable,
        TooManyRequests,
        Unauthenticated,
    )
    from databricks.sdk.errors.base import DatabricksError
    from databricks.sdk.service import jobs
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "resumable_adapters.databricks needs the databricks-sdk: pip install 'resumable-core[databricks]'"
    ) from exc

T = TypeVar("T")
TOKEN_MAX = 64  # the Jobs API's limit on idempotency_token
# runs/list with expand_tasks shows a run's first 100 tasks only ("use runs/get to paginate through
# all tasks"): a listed run with this many may have more, so its listed tasks are not the whole run.
LISTED_TASKS_MAX = 100


class RunDeleted(SubmissionRejected):
    """The run submitted under this idempotency token was deleted; Databricks refuses the token.

    The token stays reserved, so submitting it again can never succeed: the submission
    ends (the key's next run submits afresh under a new reference) instead of looping.
    """


class _SdkWouldWait(Exception):
    """Raised by the SDK's clock where its retry loop would sleep: the loop ends there."""


class _NoRetryClock(Clock):
    """The SDK's clock: real time, and no sleeping (see the module's docstring)."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        # Called inside the SDK's ``except`` block: the error it would retry is our __context__.
        raise _SdkWouldWait(seconds)


def _message(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    text = str(exc) or type(exc).__name__
    return f"{code}: {text}" if code else text


def _mapped(exc: BaseException, what: str, *, job_id: str | None, submitting: bool) -> ExternalSystemError:
    """The typed error for one failed call; the server's message kept, no credential in it."""
    if isinstance(exc, _SdkWouldWait) and exc.__context__ is not None:
        exc = exc.__context__
    message = f"Databricks {what}: {_message(exc)}"
    if isinstance(exc, DatabricksError):
        retry_after = exc.retry_after_secs
        if isinstance(exc, (TooManyRequests, InternalError, TemporarilyUnavailable, DeadlineExceeded)) \
                or retry_after is not None:
            return TransientError(message, job_id=job_id, retry_after=float(retry_after) if retry_after else None)
        if isinstance(exc, NotFound):
            # On a run: it does not exist (never, or deleted, or past retention). On a
            # submission: the job to run does not exist, a refusal that created nothing.
            return SubmissionRejected(message, job_id=job_id) if submitting else JobNotFound(message, job_id=job_id)
        if submitting and isinstance(exc, BadRequest) and "idempotency" in str(exc).lower():
            return RunDeleted(f"{message} (the run submitted under this token was deleted; "
                              "the key's next run submits anew)", job_id=job_id)
        if submitting and isinstance(exc, (BadRequest, Unauthenticated, PermissionDenied)):
            return SubmissionRejected(message, job_id=job_id)
        if type(exc) is DatabricksError and exc.error_code is None:
            # A status the SDK maps to no class (a proxy's 502) with a body it could not read (an
            # HTML page): what Databricks meant was lost on the way, so it is asked again.
            return MalformedAnswer(message, job_id=job_id)
        return ExternalSystemError(message, job_id=job_id)  # a refusal: never retried, never resubmitted
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return MalformedAnswer(message, job_id=job_id)  # a 2xx that is not JSON (a proxy's page)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, TimeoutError)):
        return TransientError(message, job_id=job_id)
    return ProtocolError(message, job_id=job_id)


def _from_json(hint: Any, value: Any) -> Any:
    """A Jobs API JSON value as the SDK's typed argument (dataclasses, enums, lists, maps)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _from_json(inner[0], value) if len(inner) == 1 else value
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(hint)
        return [_from_json(item, v) for v in value]
    if isinstance(hint, type) and issubclass(hint, Enum) and isinstance(value, str):
        return hint(value)
    from_dict = getattr(hint, "from_dict", None)
    if callable(from_dict) and isinstance(value, dict):
        return from_dict(value)
    return value


def sdk_arguments(method: Callable[..., Any], payload: dict[str, Any], *, what: str) -> dict[str, Any]:
    """*payload* (the Jobs API request body) as keyword arguments of the SDK *method*.

    An unknown field is InvalidArgument naming it, not a field silently dropped.
    """
    hints = typing.get_type_hints(method)
    unknown = sorted(set(payload) - set(hints) - {"return"})
    if unknown:
        raise InvalidArgument(f"{what}: unknown Jobs API field(s) {', '.join(unknown)}")
    try:
        return {name: _from_json(hints[name], value) for name, value in payload.items()}
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidArgument(f"{what}: a field does not fit the Jobs API ({type(exc).__name__}: {exc})") from None


class DatabricksJobsClient:
    """The Jobs API calls the jobs make, on one workspace, each mapped to the core's errors.

    *host* and *token* (a personal access token) or any other SDK authentication in
    *config* (``client_id``/``client_secret``, ``auth_type``, ...; the SDK's environment
    variables and ``~/.databrickscfg`` also apply, as for ``WorkspaceClient()``).
    *timeout*: seconds for one HTTP request. The SDK never retries (module docstring).
    """

    def __init__(self, host: str | None = None, *, token: str | None = None, timeout: float = 30.0,
                 **config: Any) -> None:
        if timeout <= 0:
            raise InvalidArgument(f"DatabricksJobsClient timeout must be > 0 seconds, got {timeout!r}")
        try:
            # retry_timeout_seconds bounds the one call that does not go through our clock: the
            # SDK's host-metadata probe while Config is made, which retries an unreachable host
            # for 300 s by default before it gives up and goes on without it.
            settings = Config(host=host, token=token, http_timeout_seconds=timeout,
                              retry_timeout_seconds=max(1, math.ceil(timeout)), clock=_NoRetryClock(), **config)
            self.workspace = WorkspaceClient(config=settings)
        except ValueError as exc:  # the SDK's configuration errors (no host, no credentials)
            raise InvalidArgument(f"Databricks client configuration: {exc}") from None
        self.host = self.workspace.config.host

    def __repr__(self) -> str:
        return f"DatabricksJobsClient(host={self.host!r})"

    def call(self, what: str, fn: Callable[[], T], *, job_id: str | None = None, submitting: bool = False) -> T:
        try:
            return fn()
        except ExternalSystemError:
            raise
        except Exception as exc:
            raise _mapped(exc, what, job_id=job_id, submitting=submitting) from exc

    # -- the calls ---------------------------------------------------------------------------

    def submit(self, payload: dict[str, Any], token: str) -> int:
        """``runs/submit`` with *token* as its idempotency token: the run's id (an existing one on a replay)."""
        arguments = sdk_arguments(jobs.JobsAPI.submit, payload, what="runs/submit")
        waiter = self.call("runs/submit", lambda: self.workspace.jobs.submit(**arguments, idempotency_token=token),
                           submitting=True)
        return self._run_id(waiter.run_id, "runs/submit")

    def run_now(self, job_id: int, payload: dict[str, Any], token: str) -> int:
        """``run-now`` of job *job_id* with *token* as its idempotency token."""
        arguments = sdk_arguments(jobs.JobsAPI.run_now, payload, what="run-now")
        waiter = self.call("run-now", lambda: self.workspace.jobs.run_now(job_id, **arguments,
                                                                          idempotency_token=token),
                           submitting=True)
        return self._run_id(waiter.run_id, "run-now")

    def repair(self, run_id: int, *, latest_repair_id: int | None, rerun_dependent_tasks: bool,
               parameters: dict[str, Any] | None = None) -> int:
        """``runs/repair`` of every failed task of *run_id* (with *parameters*, a job run's): the repair's id."""
        arguments = sdk_arguments(jobs.JobsAPI.repair_run, parameters or {}, what="runs/repair")
        waiter = self.call("runs/repair", lambda: self.workspace.jobs.repair_run(
            run_id, latest_repair_id=latest_repair_id, rerun_all_failed_tasks=True,
            rerun_dependent_tasks=rerun_dependent_tasks, **arguments), job_id=str(run_id), submitting=True)
        repair_id = getattr(waiter.response, "repair_id", None)
        if not isinstance(repair_id, int):
            raise ProtocolError(f"Databricks runs/repair of run {run_id} answered no repair_id", job_id=str(run_id))
        return repair_id

    def get_run(self, run_id: int, *, job_id: str) -> jobs.Run:
        """``runs/get`` with the repair history, every page of its tasks and repairs gathered."""
        run = self.call("runs/get", lambda: self.workspace.jobs.get_run(run_id, include_history=True), job_id=job_id)
        tasks, history = list(run.tasks or ()), list(run.repair_history or ())
        token = run.next_page_token
        while token:
            page = self.call("runs/get", functools.partial(
                self.workspace.jobs.get_run, run_id, include_history=True, page_token=token), job_id=job_id)
            tasks.extend(page.tasks or ())
            history.extend(page.repair_history or ())
            token = page.next_page_token
        run.tasks, run.repair_history, run.next_page_token = tasks, history, None
        return run

    def job_id_by_name(self, name: str) -> int:
        """The id of the one job named *name* (``jobs/list?name=``); InvalidArgument for none or several."""
        listing = self.workspace.jobs.list(name=name, limit=2)
        found = [job.job_id for job in self.call("jobs/list", lambda: list(itertools.islice(listing, 2)))]
        if len(found) != 1 or not isinstance(found[0], int):
            raise InvalidArgument(f"Databricks has {'no job' if not found else 'several jobs'} named {name!r}")
        return found[0]

    def cancel(self, run_id: int, *, job_id: str) -> None:
        self.call("runs/cancel", lambda: self.workspace.jobs.cancel_run(run_id), job_id=job_id)

    def runs(self, *, started_after: float | None = None, job_id: int | None = None, submitted_only: bool = False,
             active_only: bool = False, expand_tasks: bool = False, limit: int = 1000) -> Iterator[jobs.BaseRun]:
        """``runs/list`` newest first, started after *started_after* (epoch seconds), at most *limit* runs;
        *expand_tasks*: each with its first ``LISTED_TASKS_MAX`` tasks (the API shows no more there)."""
        listing = self.workspace.jobs.list_runs(
            job_id=job_id, run_type=jobs.RunType.SUBMIT_RUN if submitted_only else None,
            start_time_from=None if started_after is None else int(started_after * 1000),
            active_only=active_only or None, expand_tasks=expand_tasks or None, limit=25)
        for _ in range(limit):
            run = self.call("runs/list", lambda: next(listing, None))
            if run is None:
                return
            yield run

    @staticmethod
    def _run_id(value: object, what: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError(f"Databricks {what} answered no run_id ({value!r})")
        return value


def check_token(reference: str) -> str:
    """*reference* as an idempotency token: at most 64 characters, or InvalidArgument."""
    if not reference or len(reference) > TOKEN_MAX:
        raise InvalidArgument(f"a Databricks idempotency token has 1 to {TOKEN_MAX} characters; "
                              f"the submission reference has {len(reference)}")
    return reference


__all__ = ["LISTED_TASKS_MAX", "TOKEN_MAX", "DatabricksJobsClient", "RunDeleted", "check_token", "jobs", "sdk_arguments"]
