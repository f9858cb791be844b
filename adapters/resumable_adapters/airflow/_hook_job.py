"""The mixin's hooks as a ResumableJob, its external ids as job ids, and the stock mixin's record adopted.

External ids are JSON in the mixin (a string, a list of query ids, a dict for a
pod); the core's job ids are strings: an id is kept as canonical JSON text
(``encode_external_id``) and decoded back to the same value for every hook.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

from resumable_core import (
    InvalidArgument,
    JsonValue,
    Outcome,
    ProtocolError,
    ResumableError,
    StateStore,
    TransientError,
    load_record,
)
from resumable_core.decision import new_reference
from resumable_core.errors import ExternalSystemError, JobNotFound
from resumable_core.record import JobRecord, Phase, Submission

from ._compat import Context
from ._references import ReferenceHooks, reference_hooks_for

MIXIN_HOOKS = ("submit_job", "get_job_status", "is_job_active", "is_job_succeeded", "get_job_result")


# -- external ids ---------------------------------------------------------------------------


def encode_external_id(value: JsonValue) -> str:
    """The core's job id for a mixin external id: canonical JSON text (sorted keys, no spaces).

    Every JSON value round-trips: ``decode_external_id(encode_external_id(v)) == v``
    (a string ``"jr_1"`` is ``'"jr_1"'``), and equal ids give equal text, so the
    core can compare them.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"external id {value!r} is not JSON ({exc}); the mixin's ids must be") from exc


def decode_external_id(job_id: str) -> JsonValue:
    """The mixin external id a job id stands for."""
    try:
        return cast(JsonValue, json.loads(job_id))
    except ValueError as exc:
        raise ProtocolError(f"job id {job_id!r} is not an encoded external id", job_id=job_id) from exc


# -- the mixin's hooks as a ResumableJob ------------------------------------------------------


class _HookJob:
    """ResumableJob over one operator's mixin hooks, in one task's context."""

    def __init__(self, operator: Any, context: Context, hooks: ReferenceHooks, key: str,
                 stock_on_kill: Callable[[], None]) -> None:
        self.operator = operator
        self.context = context
        self.hooks = hooks
        self.key = key
        self._stock_on_kill = stock_on_kill
        self._name = type(operator).__name__

    def submit_job(self, reference: str) -> str:
        with self.hooks.attach(self.operator, self.context, reference):
            external_id = self.operator.submit_job(self.context)
        if external_id is None or external_id == "":
            raise ProtocolError(f"{self._name}.submit_job returned {external_id!r}, not an external id", key=self.key)
        return encode_external_id(external_id)

    def get_job_status(self, job_id: str) -> str:
        external_id = decode_external_id(job_id)
        try:
            status = self.operator.get_job_status(external_id, self.context)
        except ResumableError:
            raise
        except Exception as exc:
            # A throttle, a timeout, a 5xx, an expired credential: the job may well be
            # running, so this is never "not found" (which could lead to a resubmission).
            raise TransientError(f"{self._name}.get_job_status raised {type(exc).__name__}: {exc}",
                                 key=self.key, job_id=job_id) from exc
        if not isinstance(status, str):
            raise ProtocolError(f"{self._name}.get_job_status returned {status!r}, not a status string",
                                key=self.key, job_id=job_id)
        if status in self.hooks.not_found_statuses:
            raise JobNotFound(f"{self.hooks.name}: the system does not know job {job_id}",
                              key=self.key, job_id=job_id, status=status)
        if status in self.hooks.transient_statuses:
            raise TransientError(f"{self.hooks.name}: status {status} says nothing yet",
                                 key=self.key, job_id=job_id, status=status)
        return status

    def is_job_active(self, status: str) -> bool:
        return bool(self.operator.is_job_active(status))

    def is_job_succeeded(self, status: str) -> bool:
        return bool(self.operator.is_job_succeeded(status))

    def get_job_result(self, job_id: str, status: str) -> Any:
        return self.operator.get_job_result(decode_external_id(job_id), self.context)


class _Cancellable(_HookJob):
    """A hook job whose operator's own ``on_kill`` cancels (SupportsCancel).

    Only built when the operator's switch is on (``ReferenceHooks.cancels``):
    otherwise the core must not record a cancel (or a superseded job as
    cancelled) that never happened.
    """

    def cancel_job(self, job_id: str) -> None:
        if self.hooks.bind is not None:
            self.hooks.bind(self.operator, decode_external_id(job_id))
        try:
            self._stock_on_kill()
        except Exception as exc:
            raise ExternalSystemError(f"{self._name}.on_kill raised {type(exc).__name__}: {exc}",
                                      key=self.key, job_id=job_id) from exc


class _Findable(_HookJob):
    """A hook job whose system can be searched for the reference (SupportsFindByReference)."""

    def find_job_by_reference(self, reference: str) -> str | None:
        assert self.hooks.find is not None  # only built when the entry has a lookup
        found = self.hooks.find(self.operator, self.context, reference)
        return None if found is None else encode_external_id(found)


class _FindableCancellable(_Findable, _Cancellable):
    pass


def hook_job(operator: Any, context: Context, *, key: str, hooks: ReferenceHooks | None = None,
             stock_on_kill: Callable[[], None] | None = None) -> _HookJob:
    """The ResumableJob that runs *operator*'s mixin hooks (for callers driving the core themselves)."""
    missing = [name for name in MIXIN_HOOKS if not callable(getattr(operator, name, None))]
    if missing:
        raise InvalidArgument(f"{type(operator).__name__} lacks the mixin hooks {', '.join(missing)}", key=key)
    hooks = hooks or reference_hooks_for(type(operator))
    cancels = hooks.cancels is None or hooks.cancels(operator)
    cls: type[_HookJob]
    if hooks.find is not None:
        cls = _FindableCancellable if cancels else _Findable
    else:
        cls = _Cancellable if cancels else _HookJob
    return cls(operator, context, hooks, key, stock_on_kill or operator.on_kill)


# -- reading what the stock mixin wrote ---------------------------------------------------------


def adopt_stock_record(store: StateStore, key: str, stock_id: JsonValue, *, generation: str | None) -> JobRecord | None:
    """Write a SUBMITTED record for the id the stock mixin stored, when *key* has no record yet.

    The core then asks its status as for any recorded job: active, it reattaches;
    succeeded, it returns the result; failed or unknown, it resubmits. The
    record gets a fresh reference (the stock job carries none) and the current
    *generation*, so it is this generation's job and not an old one to supersede.
    Returns the record written, or None (a record exists, or no id was stored).
    """
    if stock_id is None or stock_id == "" or load_record(store, key) is not None:
        return None
    now = time.time()
    job_id = encode_external_id(stock_id)
    reference = new_reference()
    record = JobRecord(
        key=key, phase=Phase.SUBMITTED, reference=reference, revision=1, updated_at=now, job_id=job_id,
        generation=generation,
        history=(Submission(reference=reference, job_id=job_id, outcome=Outcome.ACTIVE, intent_at=now,
                            submitted_at=now),),
    )
    compare_and_set = getattr(store, "compare_and_set", None)
    if callable(compare_and_set):
        if not compare_and_set(key, None, record.to_json()):
            return None  # another try wrote a record first: that one stands
    else:
        store.set(key, record.to_json())
    return record


__all__ = [
    "MIXIN_HOOKS",
    "adopt_stock_record",
    "decode_external_id",
    "encode_external_id",
    "hook_job",
]
