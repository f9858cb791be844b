"""The pure decision, table-driven: no store, no job, no clock."""

from __future__ import annotations

import pytest

from resumable_core import JobRecord, OnAmbiguous, OnLost, OnSuperseded, Phase, Policy
from resumable_core.decision import (
    Adopt,
    Attach,
    CheckStatus,
    FetchResult,
    FindByReference,
    NotFoundSeen,
    ReferenceLookup,
    Request,
    ReturnRecorded,
    StatusSeen,
    Stop,
    Submit,
    WaitForOwner,
    decide,
)
from resumable_core.events import SubmitReason

NOW = 1000.0


def rec(phase: Phase, **kw: object) -> JobRecord:
    base: dict[str, object] = dict(key="k", phase=phase, reference="ref", revision=1, updated_at=NOW)
    if phase is not Phase.INTENT:
        base["job_id"] = "j1"
    base.update(kw)
    return JobRecord(**base)  # type: ignore[arg-type]  # test table, fields checked by the dataclass


def req(**kw: object) -> Request:
    base: dict[str, object] = dict(
        fingerprint=None, generation=None, fresh=False, owner="me", now=NOW, can_find=True, can_cancel=True
    )
    base.update(kw)
    return Request(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "observation", "request_", "expected"),
    [
        (None, None, req(), Submit(SubmitReason.NEW)),
        (rec(Phase.SUCCEEDED, has_result=True, status="OK"), None, req(), ReturnRecorded()),
        (rec(Phase.SUCCEEDED, status="OK"), None, req(), FetchResult("j1", "OK")),
        (rec(Phase.FAILED), None, req(), Submit(SubmitReason.PREVIOUS_FAILED)),
        (rec(Phase.CANCELLED), None, req(), Stop("cancelled", "j1")),
        (rec(Phase.CANCELLED), None, req(fresh=True), Submit(SubmitReason.FRESH_RUN)),
        (rec(Phase.SUBMITTED), None, req(), CheckStatus("j1")),
        (rec(Phase.SUBMITTED), StatusSeen("j1", "RUN", True, False), req(), Attach("j1", "RUN")),
        (rec(Phase.SUBMITTED), StatusSeen("j1", "OK", False, True), req(), FetchResult("j1", "OK")),
        (
            rec(Phase.SUBMITTED),
            StatusSeen("j1", "BAD", False, False),
            req(),
            Submit(SubmitReason.PREVIOUS_FAILED, previous_status="BAD"),
        ),
        (rec(Phase.SUBMITTED), NotFoundSeen("j1"), req(), Submit(SubmitReason.JOB_LOST)),
        (rec(Phase.SUBMITTED), NotFoundSeen("j1"), req(policy=Policy(on_lost=OnLost.FAIL)), Stop("lost", "j1")),
        # An observation about another job id is stale: ask again.
        (rec(Phase.SUBMITTED), StatusSeen("j0", "OK", False, True), req(), CheckStatus("j1")),
        (rec(Phase.INTENT), None, req(), FindByReference("ref")),
        (rec(Phase.INTENT), ReferenceLookup("ref", "j7"), req(), Adopt("j7")),
        (rec(Phase.INTENT), ReferenceLookup("ref", None), req(), Submit(SubmitReason.NOT_SUBMITTED, same_reference=True)),
        (
            rec(Phase.INTENT, owner="other", lease_until=NOW + 5),
            ReferenceLookup("ref", None),
            req(),
            WaitForOwner(NOW + 5),
        ),
        (rec(Phase.INTENT), None, req(can_find=False), Submit(SubmitReason.AMBIGUOUS, same_reference=True)),
        (
            rec(Phase.INTENT),
            None,
            req(can_find=False, policy=Policy(on_ambiguous=OnAmbiguous.FAIL)),
            Stop("ambiguous"),
        ),
        (rec(Phase.INTENT, owner="other", lease_until=NOW + 5), None, req(can_find=False), WaitForOwner(NOW + 5)),
        # An expired lease is a crashed owner.
        (
            rec(Phase.INTENT, owner="other", lease_until=NOW - 1),
            None,
            req(can_find=False),
            Submit(SubmitReason.AMBIGUOUS, same_reference=True),
        ),
        (rec(Phase.SUCCEEDED, has_result=True), None, req(fresh=True), Submit(SubmitReason.FRESH_RUN)),
        (rec(Phase.SUCCEEDED, has_result=True, generation="1"), None, req(generation="2"), Submit(SubmitReason.FRESH_RUN)),
        (rec(Phase.SUCCEEDED, has_result=True, generation="1"), None, req(generation="1"), ReturnRecorded()),
        (
            rec(Phase.SUBMITTED, fingerprint="a"),
            None,
            req(fingerprint="b"),
            Submit(SubmitReason.FINGERPRINT_CHANGED, supersede_job_id="j1", cancel_superseded=False),
        ),
        (
            rec(Phase.SUBMITTED, fingerprint="a"),
            None,
            req(fingerprint="b", policy=Policy(on_superseded=OnSuperseded.CANCEL)),
            Submit(SubmitReason.FINGERPRINT_CHANGED, supersede_job_id="j1", cancel_superseded=True),
        ),
        (
            rec(Phase.SUBMITTED, fingerprint="a"),
            None,
            req(fingerprint="b", can_cancel=False, policy=Policy(on_superseded=OnSuperseded.CANCEL)),
            Submit(SubmitReason.FINGERPRINT_CHANGED, supersede_job_id="j1", cancel_superseded=False),
        ),
        # A record without a fingerprint cannot be said to differ.
        (rec(Phase.SUCCEEDED, has_result=True), None, req(fingerprint="b"), ReturnRecorded()),
        (rec(Phase.SUCCEEDED), None, req(), Stop("result_unavailable", "j1")),
    ],
)
def test_decide(record: JobRecord | None, observation: object, request_: Request, expected: object) -> None:
    assert decide(record, observation, request_) == expected  # type: ignore[arg-type]
