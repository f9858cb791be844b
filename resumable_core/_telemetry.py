"""Metrics and traces: which decision a run took, named once, for any telemetry backend.

``decision_name`` is pure: the counter an action stands for (the names of Airflow's
ResumableJobMixin where they mean the same), or None for the steps in between. A
driver given a ``Telemetry`` calls ``record_decision`` with it and the key,
reference, job id and prior status; without one, nothing is computed at all.
``resumable_adapters.otel`` sends them through the OpenTelemetry API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from ._decision import (
    Action,
    CheckStatus,
    FetchResult,
    IntentWritten,
    JobRecorded,
    Observation,
    Poll,
    ReturnRecorded,
    Stop,
    StopKind,
    WaitForOwner,
    Write,
)
from ._events import Reattached, SubmitReason
from ._record import JobRecord, Phase

# The mixin's names first (fresh_submit ... terminal_resubmit), then this project's own.
DECISIONS = (
    "fresh_submit",
    "reconnect_attempt",
    "reconnect_success",
    "already_succeeded",
    "terminal_resubmit",
    "adopted_by_reference",
    "waited_for_owner",
    "lost",
    "superseded",
    "cancelled",
    "intent_resubmit",
)

_BY_REASON = {
    SubmitReason.NEW: "fresh_submit",
    SubmitReason.PREVIOUS_FAILED: "terminal_resubmit",
    SubmitReason.JOB_LOST: "lost",
    SubmitReason.FINGERPRINT_CHANGED: "superseded",
    SubmitReason.FRESH_RUN: "superseded",
    SubmitReason.NOT_SUBMITTED: "intent_resubmit",
    SubmitReason.AMBIGUOUS: "intent_resubmit",
}


@runtime_checkable
class Telemetry(Protocol):
    """Where decisions are counted and traced (``resumable_adapters.otel.OpenTelemetry``, Airflow's Stats...)."""

    def record_decision(self, decision: str, attributes: Mapping[str, str]) -> None: ...


def decision_name(record: JobRecord | None, observation: Observation | None, action: Action) -> str | None:
    """The decision *action* stands for, when it is one worth counting."""
    if isinstance(action, Write):
        after = action.after
        if isinstance(after, IntentWritten):
            return _BY_REASON[after.reason]
        if isinstance(after, JobRecorded) and after.via == "reference":
            return "adopted_by_reference"
        return None
    if isinstance(action, CheckStatus):
        if observation is None and record is not None and record.phase is Phase.SUBMITTED:
            return "reconnect_attempt"
        return None
    if isinstance(action, Poll):
        return "reconnect_success" if isinstance(action.event, Reattached) and action.event.via == "record" else None
    if isinstance(action, ReturnRecorded) or (isinstance(action, FetchResult) and action.reused):
        return "already_succeeded"
    if isinstance(action, WaitForOwner):
        return "waited_for_owner"
    if isinstance(action, Stop):
        return {StopKind.CANCELLED: "cancelled", StopKind.LOST: "lost"}.get(action.kind)
    return None


def decision_attributes(key: str, record: JobRecord | None) -> dict[str, str]:
    """What a span or a counter says about the run: no value that could hold a secret."""
    attributes = {"key": key}
    if record is not None:
        attributes["reference"] = record.reference
        if record.job_id is not None:
            attributes["job_id"] = record.job_id
        if record.status is not None:
            attributes["prior_status"] = record.status
    return attributes


__all__ = ["DECISIONS", "Telemetry", "decision_attributes", "decision_name"]
