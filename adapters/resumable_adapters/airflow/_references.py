"""Reference hooks: what the bridge knows about one external system behind a mixin operator.

The core writes a submission reference into the record *before* submitting and
needs the job to carry it, so that a retry after a crash between "the system
accepted the job" and "its id was persisted" finds that job instead of
submitting another. The mixin's hooks have no place for a reference, so each
system gets a small entry here saying where to put it and how to look it up:

- ``attach(operator, context, reference)``: a context manager around the
  operator's own ``submit_job``; the submission made inside carries the
  reference (a Glue job-run argument, a Redshift Data ``ClientToken``).
- ``find(operator, context, reference)``: the external id of the job carrying
  it, or None when the system definitely has none. Raise ``TransientError``
  when the system cannot be asked: None leads to a submission.
- ``idempotent``: a resubmission with the same reference returns the job
  already submitted (an idempotency token); the core resubmits with the same
  reference when nothing is found, so a token system needs no lookup.
- ``bind(operator, external_id)``: point the operator's own ``on_kill`` at the
  job (a reattached try never ran the ``submit_job`` that would have set it).
- ``cancels(operator)``: whether the operator's ``on_kill`` cancels at all (its
  own switch, e.g. Glue's ``stop_job_run_on_kill``): when it does not, the
  bridge leaves the job and says so instead of recording a cancel that never
  happened.
- ``not_found_statuses`` / ``transient_statuses``: status strings the hooks use
  for "the system does not know this id" (Glue and Redshift Data: ``NOT_FOUND``)
  and for "cannot tell right now" (``UNKNOWN``); the first may lead to a
  resubmission, the second never does.

Entries are registered by the operator's import path, so that registering one
imports no provider; a subclass of a registered operator gets its entry.
Operators without an entry run with ``DEFAULT_HOOKS``: no reference, and the
core's ``Policy.on_ambiguous`` decides after a crash in the window.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from resumable_core import JsonValue, TransientError

Attach = Callable[[Any, Any, str], AbstractContextManager[None]]
Find = Callable[[Any, Any, str], JsonValue]


@contextlib.contextmanager
def _attach_nothing(operator: Any, context: Any, reference: str) -> Iterator[None]:
    yield


@dataclass(frozen=True)
class ReferenceHooks:
    """How the bridge puts the reference on one system's jobs, finds them, and reads its statuses."""

    name: str
    attach: Attach = _attach_nothing
    find: Find | None = None
    idempotent: bool = False
    bind: Callable[[Any, JsonValue], None] | None = None
    cancels: Callable[[Any], bool] | None = None
    not_found_statuses: frozenset[str] = field(default=frozenset({"NOT_FOUND", "NOT_FOUND:"}))
    transient_statuses: frozenset[str] = field(default=frozenset({"UNKNOWN"}))

    @property
    def carries_reference(self) -> bool:
        """Whether a crash between submit and persist can be resolved without a human or a duplicate."""
        return self.find is not None or self.idempotent


DEFAULT_HOOKS = ReferenceHooks(name="default")

_REGISTRY: dict[str, ReferenceHooks] = {}


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_reference_hooks(operator: type | str, hooks: ReferenceHooks) -> None:
    """Register *hooks* for an operator class, or its import path ("package.module.Class")."""
    _REGISTRY[operator if isinstance(operator, str) else _path(operator)] = hooks


def reference_hooks_for(operator_class: type) -> ReferenceHooks:
    """The entry of the nearest registered class in *operator_class*'s MRO, else DEFAULT_HOOKS."""
    for cls in operator_class.__mro__:
        hooks = _REGISTRY.get(_path(cls))
        if hooks is not None:
            return hooks
    return DEFAULT_HOOKS


@contextlib.contextmanager
def _entries_for_one_submit(operator: Any, attribute: str, entries: dict[str, Any]) -> Iterator[None]:
    """*entries* added to the operator's dict *attribute* for one submission, then the operator as it was."""
    original = getattr(operator, attribute)
    setattr(operator, attribute, {**(original or {}), **entries})
    try:
        yield
    finally:
        setattr(operator, attribute, original)


def _transient(system: str, what: str, exc: Exception) -> TransientError:
    # The exception's type and text, never its arguments' repr: a boto error names the
    # operation and code, and ResumableError redacts whatever looks like a credential.
    return TransientError(f"{system}: {what} failed ({type(exc).__name__}: {exc})")


# -- AWS Glue: a job-run argument, found again with GetJobRuns ------------------------------

GLUE_REFERENCE_ARG = "--resumable_reference"
GLUE_SCAN_PAGE_SIZE = 200  # GetJobRuns' maximum
GLUE_SCAN_MAX_PAGES = 10   # the stock operator's own bound for its task-UUID scan


def _glue_attach(operator: Any, context: Any, reference: str) -> AbstractContextManager[None]:
    # GlueJobOperator.submit_job builds its run arguments from self.script_args.
    return _entries_for_one_submit(operator, "script_args", {GLUE_REFERENCE_ARG: reference})


def _glue_find(operator: Any, context: Any, reference: str) -> JsonValue:
    next_token: str | None = None
    try:
        for _ in range(GLUE_SCAN_MAX_PAGES):
            request: dict[str, Any] = {"JobName": operator.job_name, "MaxResults": GLUE_SCAN_PAGE_SIZE}
            if next_token:
                request["NextToken"] = next_token
            response = operator.hook.conn.get_job_runs(**request)
            for run in response.get("JobRuns", []):
                if (run.get("Arguments") or {}).get(GLUE_REFERENCE_ARG) == reference and run.get("Id"):
                    return str(run["Id"])
            next_token = response.get("NextToken")
            if not next_token:
                return None
    except Exception as exc:  # botocore ClientError / BotoCoreError: cannot tell, so not "none"
        if type(exc).__name__ == "ClientError" and _aws_error_code(exc) == "EntityNotFoundException":
            return None  # the Glue job itself does not exist: no run of it can
        raise _transient("Glue", f"GetJobRuns for job {operator.job_name!r}", exc) from exc
    # Runs come newest first and the intent was written just before the submit: a run
    # carrying the reference would be among the newest unless 2000 runs of this job
    # started since, so "none" is the answer, as the stock operator's own scan takes it.
    return None


def _aws_error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code is not None else None
    return None


def _glue_bind(operator: Any, external_id: JsonValue) -> None:
    operator._job_run_id = external_id  # what GlueJobOperator.on_kill stops


GLUE_HOOKS = ReferenceHooks(
    name="glue",
    attach=_glue_attach,
    find=_glue_find,
    bind=_glue_bind,
    cancels=lambda operator: bool(operator.stop_job_run_on_kill),
)


# -- Amazon Redshift Data: ClientToken --------------------------------------------------------

_REDSHIFT_SUBMITS = ("ExecuteStatement", "BatchExecuteStatement")


@contextlib.contextmanager
def _redshift_attach(operator: Any, context: Any, reference: str) -> Iterator[None]:
    # RedshiftDataHook.execute_query has no client-token argument: add it to the API
    # call itself, through botocore's event system, for the duration of this submit.
    events = operator.hook.conn.meta.events

    def add_token(params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ClientToken", reference)

    names = [f"provide-client-params.redshift-data.{op}" for op in _REDSHIFT_SUBMITS]
    for name in names:
        events.register(name, add_token, unique_id=f"resumable-client-token-{name}")
    try:
        yield
    finally:
        for name in names:
            events.unregister(name, unique_id=f"resumable-client-token-{name}")


def _redshift_bind(operator: Any, external_id: JsonValue) -> None:
    operator.statement_id = external_id  # what RedshiftDataOperator.on_kill cancels


REDSHIFT_DATA_HOOKS = ReferenceHooks(
    name="redshift-data",
    attach=_redshift_attach,
    idempotent=True,
    bind=_redshift_bind,
    cancels=lambda operator: bool(operator.cancel_on_kill),
)


# -- Databricks Jobs: idempotency_token (the real provider against a loopback workspace: tests/databricks) --

DATABRICKS_TOKEN_MAX = 64  # the Jobs API's limit; a reference is 32 hex digits


@contextlib.contextmanager
def _databricks_attach(operator: Any, context: Any, reference: str) -> Iterator[None]:
    # runs/submit and run-now take the operator's (rendered) json payload: a run with the
    # same token is returned instead of a new one. The core gives a failed job's
    # resubmission a new reference, so a stale failed run is never handed back (the
    # fixed-token trap of apache/airflow#64828). The operators' own idempotency_token
    # argument is merged over json, so a fixed one set there would win over ours: it is
    # replaced too, for this one submission.
    token = reference[:DATABRICKS_TOKEN_MAX]
    with _entries_for_one_submit(operator, "json", {"idempotency_token": token}):
        if not hasattr(operator, "idempotency_token"):
            yield
            return
        original = operator.idempotency_token
        operator.idempotency_token = token
        try:
            yield
        finally:
            operator.idempotency_token = original


def _databricks_bind(operator: Any, external_id: JsonValue) -> None:
    operator.run_id = external_id  # what the Databricks operators' on_kill cancels


DATABRICKS_HOOKS = ReferenceHooks(
    name="databricks",
    attach=_databricks_attach,
    idempotent=True,
    bind=_databricks_bind,
)


register_reference_hooks("airflow.providers.amazon.aws.operators.glue.GlueJobOperator", GLUE_HOOKS)
register_reference_hooks("airflow.providers.databricks.operators.databricks.DatabricksSubmitRunOperator",
                         DATABRICKS_HOOKS)
register_reference_hooks("airflow.providers.databricks.operators.databricks.DatabricksRunNowOperator",
                         DATABRICKS_HOOKS)
register_reference_hooks("airflow.providers.amazon.aws.operators.redshift_data.RedshiftDataOperator",
                         REDSHIFT_DATA_HOOKS)

__all__ = [
    "DATABRICKS_HOOKS",
    "DEFAULT_HOOKS",
    "GLUE_HOOKS",
    "GLUE_REFERENCE_ARG",
    "REDSHIFT_DATA_HOOKS",
    "ReferenceHooks",
    "reference_hooks_for",
    "register_reference_hooks",
]
