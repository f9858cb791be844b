"""The pure decision, table-driven: no store, no job, no clock.

Every rule of ``decide`` and ``decide_cancel`` is a row: a record, what was just
observed, the request, and what must be done next. A row either names the exact
action, or (for the writes, whose records carry clocks and histories) checks the
parts of the written record that the rule is about.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from resumable_core import JobRecord, OnAmbiguous, OnLost, OnSuperseded, Outcome, Phase, Policy
from resumable_core.decision import (
    Action,
    CancelJob,
    CancelRecorded,
    CancelRequest,
    CancelSent,
    CheckStatus,
    Ending,
    FetchResult,
    FindByReference,
    IntentWritten,
    JobRecorded,
    NotFoundSeen,
    Observation,
    OldJobCancelled,
    Orphan,
    Poll,
    PollEnded,
    ReferenceLookup,
    Request,
    ResultFetched,
    ResultGone,
    Return,
    ReturnRecord,
    ReturnRecorded,
    StatusSeen,
    Stop,
    StopKind,
    SubmitAnswered,
    SubmitJob,
    SubmitRefused,
    SubmitUnusable,
    WaitForOwner,
    Write,
    decide,
    decide_cancel,
    released,
    status_update,
)
from resumable_core.errors import SubmissionRejected
from resumable_core.events import Cancelled, Reattached, ResultReused, SubmitReason, Submitted, Superseded
from resumable_core.record import Submission

NOW = 1000.0
KEY = "k"


def entry(reference: str = "ref", job_id: str | None = "j1", outcome: Outcome = Outcome.ACTIVE) -> Submission:
    return Submission(reference=reference, job_id=job_id, outcome=outcome, intent_at=NOW - 100)


def rec(phase: Phase, **kw: Any) -> JobRecord:
    base: dict[str, Any] = dict(key=KEY, phase=phase, reference="ref", revision=1, updated_at=NOW - 50)
    if phase is not Phase.INTENT:
        base["job_id"] = "j1"
    base["history"] = (entry(job_id=base.get("job_id")),)
    base.update(kw)
    return JobRecord(**base)


def req(**kw: Any) -> Request:
    base: dict[str, Any] = dict(
        fingerprint=None, generation=None, fresh=False, owner="me", now=NOW, can_find=True, can_cancel=True,
        key=KEY, new_reference="new",
    )
    base.update(kw)
    return Request(**base)


@dataclass(frozen=True)
class Writes:
    """Expect a Write whose record has these fields, followed by *after* (when given)."""

    phase: Phase
    fields: tuple[tuple[str, Any], ...] = ()
    after: object = "any"
    on_conflict: object = "any"
    event: object = "any"
    must_land: bool = False

    def check(self, action: Action) -> None:
        assert isinstance(action, Write), action
        assert action.record.phase is self.phase, action.record
        for name, value in self.fields:
            assert getattr(action.record, name) == value, (name, action.record)
        for name in ("after", "on_conflict", "event"):
            expected = getattr(self, name)
            if expected != "any":
                assert getattr(action, name) == expected, (name, getattr(action, name))
        assert action.must_land is self.must_land


def intent(reason: SubmitReason, *, reference: str = "new", previous: str | None = "j1", **more: Any) -> Writes:
    """Expect the intent write that comes before every submit."""
    return Writes(
        Phase.INTENT,
        (("reference", reference), ("owner", "me"), ("lease_until", NOW + 120.0), ("job_id", None), *more.items()),
        after=IntentWritten(reference, reason, previous),
    )


def history(*outcomes: tuple[str, Outcome]) -> Callable[[Action], None]:
    """Expect a write whose history holds these (reference, outcome) pairs, in this order."""

    def check(action: Action) -> None:
        assert isinstance(action, Write), action
        assert [(h.reference, h.outcome) for h in action.record.history] == list(outcomes)

    return check


REJECTION = SubmissionRejected("no such queue")
UNUSABLE = SubmitUnusable("ref", "Job.submit_job returned None")
ANSWER = SubmitAnswered("ref", "j9", SubmitReason.NEW, NOW - 100)
RESULT = ResultFetched("j1", "OK", {"rows": 3}, reused=False)
LOST_J1 = (entry(job_id="j1", outcome=Outcome.LOST), entry(reference="ref2", job_id=None, outcome=Outcome.PENDING))

RUN_ROWS = [
    # -- rule 1: nothing recorded --------------------------------------------------------------
    pytest.param(None, None, req(), intent(SubmitReason.NEW, previous=None), id="no record: write the intent"),
    pytest.param(rec(Phase.INTENT), IntentWritten("ref", SubmitReason.NEW), req(),
                 SubmitJob("ref", SubmitReason.NEW, NOW - 100), id="intent written: submit under it"),
    pytest.param(rec(Phase.INTENT, owner="me"), ANSWER, req(),
                 Writes(Phase.SUBMITTED, (("job_id", "j9"), ("lease_until", None)), after=JobRecorded("j9", "submitted"),
                        on_conflict=ANSWER, event=Submitted(KEY, "ref", "j9", SubmitReason.NEW), must_land=True),
                 id="submit answered: record the id, which must land"),
    pytest.param(rec(Phase.SUBMITTED), JobRecorded("j1", "submitted"), req(), Poll("j1"),
                 id="id recorded: poll"),
    pytest.param(rec(Phase.SUBMITTED), JobRecorded("j1", "reference"), req(),
                 Poll("j1", Reattached(KEY, "ref", "j1", None, "reference")), id="adopted: poll, reattached"),
    # -- a lost compare-and-set while submitting, given the record that won ---------------------
    pytest.param(rec(Phase.SUBMITTED, job_id="j9"), ANSWER, req(), Poll("j9"),
                 id="lost race: another process adopted our job: poll it"),
    pytest.param(rec(Phase.INTENT, owner="other", lease_until=NOW + 9), ANSWER, req(),
                 Writes(Phase.SUBMITTED, (("job_id", "j9"),), must_land=True),
                 id="lost race: our intent taken over, no id yet: name our job"),
    pytest.param(rec(Phase.CANCELLED, job_id=None), ANSWER, req(),
                 CancelJob("j9", after=Orphan(Submission("ref", "j9", Outcome.CANCELLED, NOW - 100, ended_at=NOW),
                                              Stop(StopKind.CANCELLED, "j9", detail="this key was cancelled while "
                                                   "the job was being submitted"))),
                 id="lost race: cancelled while submitting: cancel what we made, list it, stop"),
    pytest.param(rec(Phase.SUBMITTED, reference="other", job_id="j5", history=(entry("other", "j5"),)), ANSWER, req(),
                 CancelJob("j9", after=Orphan(Submission("ref", "j9", Outcome.CANCELLED, NOW - 100, ended_at=NOW)),
                           note="lost the key to another process; duplicate job j9 cancelled"),
                 id="lost race: the key moved on: cancel the duplicate"),
    pytest.param(rec(Phase.SUBMITTED, reference="other", job_id="j5", history=(entry("other", "j5"),)), ANSWER,
                 req(can_cancel=False), history(("other", Outcome.ACTIVE), ("ref", Outcome.SUPERSEDED)),
                 id="lost race: the key moved on, no cancel: list the duplicate as superseded"),
    pytest.param(rec(Phase.SUBMITTED, reference="other", job_id="j5",
                     history=(entry("other", "j5"), Submission("ref", "j9", Outcome.CANCELLED, 1.0))),
                 Orphan(Submission("ref", "j9", Outcome.CANCELLED, 1.0)), req(), CheckStatus("j5"),
                 id="orphan already listed: go on with the record"),
    pytest.param(rec(Phase.FAILED), Orphan(entry("x", "j9", Outcome.CANCELLED), Stop(StopKind.CANCELLED, "j9")),
                 req(), history(("ref", Outcome.ACTIVE), ("x", Outcome.CANCELLED)),
                 id="orphan not listed: append it"),
    pytest.param(rec(Phase.FAILED), Ending(Stop(StopKind.FAILED, "j1")), req(), Stop(StopKind.FAILED, "j1"),
                 id="ending: stop as the record says"),
    # -- a refusal --------------------------------------------------------------------------------
    pytest.param(rec(Phase.INTENT), SubmitRefused("ref", REJECTION), req(),
                 Writes(Phase.FAILED, (("status", "REJECTED"),), after=Ending(Stop(StopKind.REJECTED, cause=REJECTION))),
                 id="refused: record FAILED so a retry starts clean, then raise the refusal"),
    pytest.param(rec(Phase.INTENT, reference="other"), SubmitRefused("ref", REJECTION), req(),
                 Stop(StopKind.REJECTED, cause=REJECTION), id="refused after the key moved on: raise it"),
    # -- submit returned, without a usable id: something was accepted (issue 17, item 1) ----------------
    pytest.param(rec(Phase.INTENT, owner="me", lease_until=NOW + 100), UNUSABLE, req(),
                 Writes(Phase.INTENT, (("accepted", True), ("lease_until", None), ("reference", "ref")),
                        after="protocol", on_conflict=UNUSABLE),
                 id="submit returned no usable id: mark the intent accepted, give back our lease, then ProtocolError"),
    pytest.param(rec(Phase.INTENT, owner="other", lease_until=NOW + 100), UNUSABLE, req(),
                 Writes(Phase.INTENT, (("accepted", True), ("lease_until", NOW + 100))),
                 id="no usable id, intent taken over meanwhile: marked, the other owner's lease kept"),
    pytest.param(rec(Phase.INTENT, reference="other"), UNUSABLE, req(), "protocol",
                 id="no usable id after the key moved on: ProtocolError, nothing to mark"),
    pytest.param(rec(Phase.INTENT, accepted=True), UNUSABLE, req(), "protocol",
                 id="no usable id, already marked: ProtocolError"),
    # -- rule 2: a fresh run, a new generation, a changed spec ------------------------------------
    pytest.param(rec(Phase.CANCELLED), None, req(fresh=True), intent(SubmitReason.FRESH_RUN),
                 id="fresh run over a cancel"),
    pytest.param(rec(Phase.SUCCEEDED, has_result=True), None, req(fresh=True), intent(SubmitReason.FRESH_RUN),
                 id="fresh run over a success"),
    pytest.param(rec(Phase.SUCCEEDED, has_result=True, generation="1"), None, req(generation="2"),
                 intent(SubmitReason.FRESH_RUN, generation="2"), id="new generation"),
    pytest.param(rec(Phase.SUCCEEDED, has_result=True, generation="1"), None, req(generation="1"),
                 ReturnRecorded(ResultReused(KEY, "ref", "j1", False)), id="same generation: reuse"),
    pytest.param(rec(Phase.SUBMITTED, fingerprint="a"), None, req(fingerprint="b"),
                 Writes(Phase.INTENT, (("fingerprint", "b"),),
                        event=Superseded(KEY, "ref", "j1", SubmitReason.FINGERPRINT_CHANGED, False)),
                 id="new spec: old job left running (default)"),
    pytest.param(rec(Phase.SUBMITTED, fingerprint="a"), None, req(fingerprint="b"),
                 history(("ref", Outcome.SUPERSEDED), ("new", Outcome.PENDING)),
                 id="new spec: the old submission's outcome is superseded"),
    pytest.param(rec(Phase.SUBMITTED, fingerprint="a"), None,
                 req(fingerprint="b", policy=Policy(on_superseded=OnSuperseded.CANCEL)),
                 CancelJob("j1", after=OldJobCancelled("j1"),
                           event=Superseded(KEY, "ref", "j1", SubmitReason.FINGERPRINT_CHANGED, True)),
                 id="new spec, policy cancel: cancel the old job before the intent drops its id"),
    pytest.param(rec(Phase.SUBMITTED, fingerprint="a"), OldJobCancelled("j1"),
                 req(fingerprint="b", policy=Policy(on_superseded=OnSuperseded.CANCEL)),
                 Writes(Phase.INTENT, (("reference", "new"),), event=None),
                 id="new spec, old job cancelled: write the intent"),
    pytest.param(rec(Phase.SUBMITTED, fingerprint="a"), None,
                 req(fingerprint="b", can_cancel=False, policy=Policy(on_superseded=OnSuperseded.CANCEL)),
                 Writes(Phase.INTENT, event=Superseded(KEY, "ref", "j1", SubmitReason.FINGERPRINT_CHANGED, False)),
                 id="new spec, policy cancel, job cannot cancel: left running"),
    pytest.param(rec(Phase.INTENT, fingerprint="a"), None, req(fingerprint="b"),
                 intent(SubmitReason.FINGERPRINT_CHANGED, previous=None), id="new spec over an unnamed intent"),
    pytest.param(rec(Phase.SUCCEEDED, has_result=True), None, req(fingerprint="b"),
                 ReturnRecorded(ResultReused(KEY, "ref", "j1", False)),
                 id="a record without a fingerprint cannot be said to differ"),
    # -- rule 3: a recorded success ---------------------------------------------------------------
    pytest.param(rec(Phase.SUCCEEDED, has_result=True, status="OK"), None, req(),
                 ReturnRecorded(ResultReused(KEY, "ref", "j1", False)), id="success with result: return it"),
    pytest.param(rec(Phase.SUCCEEDED, status="OK"), None, req(),
                 FetchResult("j1", "OK", True, ResultReused(KEY, "ref", "j1", True)),
                 id="success without result: fetch it"),
    pytest.param(rec(Phase.SUCCEEDED), None, req(),
                 Stop(StopKind.RESULT_UNAVAILABLE, "j1", None,
                      detail="the job succeeded but its result was not recorded and cannot be fetched"),
                 id="success, nothing to fetch with"),
    pytest.param(rec(Phase.SUCCEEDED, status="OK"), ResultGone("j1", "OK"), req(),
                 Stop(StopKind.RESULT_UNAVAILABLE, "j1", "OK",
                      detail="the job succeeded but the external system no longer has its result"),
                 id="result gone from the system"),
    # -- rule 4: failed, cancelled ------------------------------------------------------------------
    pytest.param(rec(Phase.FAILED), None, req(), intent(SubmitReason.PREVIOUS_FAILED), id="failed: submit anew"),
    pytest.param(rec(Phase.CANCELLED, status="KILLED"), None, req(), Stop(StopKind.CANCELLED, "j1", "KILLED"),
                 id="cancelled: stays cancelled"),
    # -- rule 5: submitted ----------------------------------------------------------------------------
    pytest.param(rec(Phase.SUBMITTED), None, req(), CheckStatus("j1"), id="submitted: ask"),
    pytest.param(rec(Phase.SUBMITTED), StatusSeen("j1", "RUN", True, False), req(),
                 Poll("j1", Reattached(KEY, "ref", "j1", "RUN", "record")), id="active: reattach"),
    pytest.param(rec(Phase.SUBMITTED), StatusSeen("j1", "OK", False, True), req(),
                 FetchResult("j1", "OK", True, ResultReused(KEY, "ref", "j1", True)), id="succeeded meanwhile: fetch"),
    pytest.param(rec(Phase.SUBMITTED), StatusSeen("j1", "BAD", False, False), req(),
                 Writes(Phase.INTENT, after=IntentWritten("new", SubmitReason.PREVIOUS_FAILED, "j1")),
                 id="failed meanwhile: resubmit"),
    pytest.param(rec(Phase.SUBMITTED), StatusSeen("j1", "BAD", False, False), req(),
                 history(("ref", Outcome.FAILED), ("new", Outcome.PENDING)), id="failed meanwhile: history says so"),
    pytest.param(rec(Phase.SUBMITTED), StatusSeen("j0", "OK", False, True), req(), CheckStatus("j1"),
                 id="an observation about another job is stale: ask again"),
    pytest.param(rec(Phase.SUBMITTED), NotFoundSeen("j1"), req(),
                 intent(SubmitReason.JOB_LOST), id="unknown to the system: resubmit (policy)"),
    pytest.param(rec(Phase.SUBMITTED), NotFoundSeen("j1"), req(),
                 history(("ref", Outcome.LOST), ("new", Outcome.PENDING)), id="unknown: history says lost"),
    pytest.param(rec(Phase.SUBMITTED), NotFoundSeen("j1"), req(policy=Policy(on_lost=OnLost.FAIL)),
                 Stop(StopKind.LOST, "j1", detail="the external system does not know the recorded job "
                      "(policy on_lost='fail')"), id="unknown, policy fail: JobLost"),
    pytest.param(rec(Phase.SUBMITTED), NotFoundSeen("j1"), req(policy=Policy(lost_settle=30)),
                 CheckStatus("j1", not_found_since=NOW, not_before=NOW + 30), id="unknown once: ask again later"),
    pytest.param(rec(Phase.SUBMITTED), NotFoundSeen("j1", since=NOW - 10), req(policy=Policy(lost_settle=30)),
                 CheckStatus("j1", not_found_since=NOW - 10, not_before=NOW + 20), id="unknown, still settling"),
    pytest.param(rec(Phase.SUBMITTED), NotFoundSeen("j1", since=NOW - 30), req(policy=Policy(lost_settle=30)),
                 intent(SubmitReason.JOB_LOST), id="unknown over the settle period: lost"),
    pytest.param(rec(Phase.SUBMITTED, job_id="j3", history=(entry("a", "j2", Outcome.LOST), entry("b", "j3"))),
                 NotFoundSeen("j3"), req(lost_resubmits=2),
                 Stop(StopKind.LOST, "j3", detail="the external system forgot every job this run submitted or found "
                      "(j2, j3); stopped after 2 resubmission(s) (Policy.max_lost_resubmits)"),
                 id="lost again after the bound: JobLost naming the ids"),
    # -- rule 6: an intent without an id ----------------------------------------------------------------
    pytest.param(rec(Phase.INTENT), None, req(), FindByReference("ref"), id="intent: look the reference up"),
    pytest.param(rec(Phase.INTENT), ReferenceLookup("ref", "j7"), req(),
                 Writes(Phase.SUBMITTED, (("job_id", "j7"),), after=JobRecorded("j7", "reference")),
                 id="found by reference: adopt"),
    pytest.param(rec(Phase.INTENT), ReferenceLookup("ref", None), req(),
                 intent(SubmitReason.NOT_SUBMITTED, reference="ref", previous=None),
                 id="nothing found: submit with the same reference"),
    pytest.param(rec(Phase.INTENT, owner="other", lease_until=NOW + 5), ReferenceLookup("ref", None), req(),
                 "wait", id="nothing found, another live owner: wait for it"),
    pytest.param(rec(Phase.INTENT), None, req(can_find=False),
                 intent(SubmitReason.AMBIGUOUS, reference="ref", previous=None), id="no lookup: resubmit (policy)"),
    pytest.param(rec(Phase.INTENT), None, req(can_find=False, policy=Policy(on_ambiguous=OnAmbiguous.FAIL)),
                 "ambiguous", id="no lookup, policy fail: AmbiguousSubmission"),
    pytest.param(rec(Phase.INTENT, owner="other", lease_until=NOW + 5), None, req(can_find=False), "wait",
                 id="no lookup, another live owner: wait"),
    pytest.param(rec(Phase.INTENT, owner="other", lease_until=NOW - 1), None, req(can_find=False),
                 intent(SubmitReason.AMBIGUOUS, reference="ref", previous=None),
                 id="an expired lease is a crashed owner"),
    pytest.param(rec(Phase.INTENT, owner="other", lease_until=None), None, req(can_find=False),
                 intent(SubmitReason.AMBIGUOUS, reference="ref", previous=None),
                 id="a released lease: its owner ended, nobody to wait for"),
    pytest.param(rec(Phase.INTENT, accepted=True), None, req(can_find=False), "accepted:cannot be looked up",
                 id="accepted intent, no lookup: stopped, never resubmitted blind (on_ambiguous resubmit)"),
    pytest.param(rec(Phase.INTENT, accepted=True), None, req(), FindByReference("ref"),
                 id="accepted intent: look the reference up"),
    pytest.param(rec(Phase.INTENT, accepted=True), ReferenceLookup("ref", "j7"), req(),
                 Writes(Phase.SUBMITTED, (("job_id", "j7"), ("accepted", False)), after=JobRecorded("j7", "reference")),
                 id="accepted intent found by reference: adopt"),
    pytest.param(rec(Phase.INTENT, accepted=True), ReferenceLookup("ref", None), req(), "accepted:no job carries it",
                 id="accepted intent, nothing found: stopped, not resubmitted under the same reference"),
    pytest.param(rec(Phase.INTENT, accepted=True, owner="other", lease_until=NOW + 5), None, req(can_find=False),
                 "wait", id="accepted intent, another live owner: wait for it"),
    pytest.param(rec(Phase.INTENT, accepted=True), None, req(can_find=False, attach_only=True),
                 "accepted:cannot be looked up", id="accepted intent, attach only: the same stop"),
    # -- the status seen at the end of polling ------------------------------------------------------------
    pytest.param(rec(Phase.SUBMITTED), PollEnded("j1", "OK", True), req(), FetchResult("j1", "OK", reused=False),
                 id="poll ended well: fetch"),
    pytest.param(rec(Phase.SUBMITTED), PollEnded("j1", "BAD", False), req(),
                 Writes(Phase.FAILED, (("status", "BAD"),), after=Ending(Stop(StopKind.FAILED, "j1", "BAD"))),
                 id="poll ended failed: record it, then JobFailed (no resubmission in this run)"),
    pytest.param(rec(Phase.FAILED, status="BAD"), PollEnded("j1", "BAD", False), req(),
                 Stop(StopKind.FAILED, "j1", "BAD"), id="poll ended failed, already recorded"),
    pytest.param(rec(Phase.CANCELLED), PollEnded("j1", "KILLED", False), req(),
                 Stop(StopKind.CANCELLED, "j1", "KILLED", detail="job j1 was cancelled"),
                 id="poll ended failed over a concurrent cancel: the cancel stands"),
    pytest.param(rec(Phase.SUBMITTED, job_id="j2"), PollEnded("j1", "BAD", False), req(),
                 Stop(StopKind.FAILED, "j1", "BAD", note="record moved on to another job; outcome BAD not recorded"),
                 id="poll ended failed, record moved on"),
    # -- whether and how a result is recorded, which success stands -----------------------------------------
    pytest.param(rec(Phase.SUBMITTED), RESULT, req(),
                 Writes(Phase.SUCCEEDED, (("has_result", True), ("result", {"rows": 3})), after=RESULT),
                 id="result JSON: recorded with the success"),
    pytest.param(rec(Phase.SUBMITTED), ResultFetched("j1", "OK", ("a", "tuple"), reused=False), req(),
                 Writes(Phase.SUCCEEDED, (("has_result", False), ("result", None))),
                 id="result not JSON: success recorded without it"),
    pytest.param(rec(Phase.SUCCEEDED, has_result=True, result={"rows": 3}), RESULT, req(), Return({"rows": 3}),
                 id="success recorded: return the result"),
    pytest.param(rec(Phase.SUCCEEDED), ResultFetched("j1", "OK", ("a",), reused=False), req(),
                 Return(("a",), note="result of job j1 is not JSON; not recorded"), id="non-JSON result returned"),
    pytest.param(rec(Phase.CANCELLED), RESULT, req(), Writes(Phase.SUCCEEDED),
                 id="a success over a concurrent cancel: the job finished first"),
    pytest.param(rec(Phase.SUCCEEDED, reference="o", job_id="j5", has_result=True, result=7), RESULT, req(),
                 Return(7, note="job j1 succeeded too; returning the recorded result of j5"),
                 id="another success recorded first: one key, one result"),
    pytest.param(rec(Phase.FAILED, reference="o", job_id="j5"), RESULT, req(),
                 Return({"rows": 3}, note="record moved on to another job; outcome OK not recorded"),
                 id="record moved on: return ours, record nothing"),
    # -- a success seen while another process declared the job lost -----------------------------------------
    pytest.param(rec(Phase.INTENT, reference="ref2", job_id=None, history=LOST_J1), RESULT, req(),
                 FindByReference("ref2", context=RESULT), id="declared lost: find the newer submission"),
    pytest.param(rec(Phase.INTENT, reference="ref2", job_id=None, history=LOST_J1),
                 ReferenceLookup("ref2", "j2", context=RESULT), req(),
                 CancelJob("j2", after=ResultFetched("j1", "OK", {"rows": 3}, False, ReferenceLookup("ref2", "j2",
                                                     context=RESULT), newer_cancelled=True)),
                 id="declared lost, newer found: cancel it"),
    pytest.param(rec(Phase.INTENT, reference="ref2", job_id=None, history=LOST_J1),
                 ResultFetched("j1", "OK", {"rows": 3}, False, ReferenceLookup("ref2", "j2"), newer_cancelled=True),
                 req(), history(("ref", Outcome.SUCCEEDED), ("ref2", Outcome.CANCELLED)),
                 id="declared lost, newer cancelled: our success stands"),
    pytest.param(rec(Phase.INTENT, reference="ref2", job_id=None, history=LOST_J1), RESULT, req(can_find=False,
                 can_cancel=False), history(("ref", Outcome.SUCCEEDED), ("ref2", Outcome.SUPERSEDED)),
                 id="declared lost, newer unnamed: left alone, our success stands"),
    # -- attach only: every way to a submission is a stop that says what was found ---------------------------
    pytest.param(None, None, req(attach_only=True), "nothing:nothing is recorded",
                 id="attach only, no record: nothing to attach"),
    pytest.param(rec(Phase.FAILED, status="FAILED"), None, req(attach_only=True),
                 Stop(StopKind.FAILED, "j1", "FAILED", detail="job j1 had ended FAILED before this run attached; "
                      "an attach-only run does not submit again"), id="attach only, recorded failure: JobFailed"),
    pytest.param(rec(Phase.SUBMITTED, status="RUNNING"), StatusSeen("j1", "DEAD", False, False),
                 req(attach_only=True), "failed:DEAD", id="attach only, found failed: JobFailed with its status"),
    pytest.param(rec(Phase.SUBMITTED), NotFoundSeen("j1"), req(attach_only=True), "lost:j1",
                 id="attach only, forgotten: JobLost"),
    pytest.param(rec(Phase.SUBMITTED), NotFoundSeen("j1", since=NOW - 1), req(attach_only=True,
                 policy=Policy(lost_settle=5)), CheckStatus("j1", not_found_since=NOW - 1, not_before=NOW + 4),
                 id="attach only, forgotten once: asked again before the verdict, as a run would"),
    pytest.param(rec(Phase.INTENT), ReferenceLookup("ref", None), req(attach_only=True),
                 "nothing:no job carries the recorded submission reference ref",
                 id="attach only, intent never submitted: nothing to attach"),
    pytest.param(rec(Phase.INTENT), None, req(attach_only=True, can_find=False), "ambiguous",
                 id="attach only, intent that cannot be looked up: ambiguous whatever the policy"),
    pytest.param(rec(Phase.INTENT), ReferenceLookup("ref", "j7"), req(attach_only=True),
                 Writes(Phase.SUBMITTED, (("job_id", "j7"),), after=JobRecorded("j7", "reference")),
                 id="attach only, intent found by reference: adopt it"),
    pytest.param(rec(Phase.SUBMITTED, generation="g1"), None, req(attach_only=True, generation="g2"),
                 "nothing:another request (fresh_run)",
                 id="attach only, another generation: stop before cancelling the old job"),
    pytest.param(rec(Phase.SUBMITTED, fingerprint="a"), None, req(attach_only=True, fingerprint="b"),
                 "nothing:another request (fingerprint_changed)", id="attach only, another spec: nothing to attach"),
    pytest.param(rec(Phase.SUBMITTED), StatusSeen("j1", "RUNNING", True, False), req(attach_only=True),
                 Poll("j1", Reattached(KEY, "ref", "j1", "RUNNING", "record")), id="attach only, running: reattach"),
]


@pytest.mark.parametrize(("record", "observation", "request_", "expected"), RUN_ROWS)
def test_decide(record: JobRecord | None, observation: Observation | None, request_: Request, expected: object) -> None:
    action = decide(record, observation, request_)
    if isinstance(expected, Writes) and expected.after != "protocol":
        expected.check(action)
    elif callable(expected):
        expected(action)
    elif expected == "wait":
        assert action == WaitForOwner(NOW + 5, action.event) and action.event is not None  # type: ignore[union-attr]
        assert action.event.lease_until == NOW + 5  # type: ignore[union-attr]
    elif expected == "protocol" or (isinstance(expected, Writes) and expected.after == "protocol"):
        stop = action.after.stop if isinstance(action, Write) else action  # type: ignore[union-attr]
        assert isinstance(stop, Stop) and stop.kind is StopKind.PROTOCOL and stop.detail, action
        assert "Job.submit_job returned None" in stop.detail and "'ref'" in stop.detail and "accepted" in stop.detail
        if isinstance(expected, Writes):
            replace(expected, after="any").check(action)
    elif isinstance(expected, str) and expected.startswith("accepted:"):
        assert isinstance(action, Stop) and action.kind is StopKind.AMBIGUOUS and action.detail, action
        assert expected.split(":", 1)[1] in action.detail and "never resubmitted blind" in action.detail
        assert "'ref'" in action.detail
    elif expected == "ambiguous" and request_.attach_only:
        assert isinstance(action, Stop) and action.kind is StopKind.AMBIGUOUS and action.detail
        assert "'ref'" in action.detail and "does not submit" in action.detail
    elif expected == "ambiguous":
        assert isinstance(action, Stop) and action.kind is StopKind.AMBIGUOUS and action.detail
        assert "'ref'" in action.detail and "on_ambiguous" in action.detail
    elif isinstance(expected, str) and ":" in expected:  # "<stop kind>:<what its detail or id names>"
        kind, named = expected.split(":", 1)
        assert isinstance(action, Stop), action
        assert action.kind is {"nothing": StopKind.NOTHING_TO_ATTACH, "failed": StopKind.FAILED,
                               "lost": StopKind.LOST}[kind], action
        assert named in f"{action.detail} {action.job_id} {action.status}", action
        assert action.detail is not None and "does not submit" in action.detail, action
    else:
        assert action == expected


def creq(**kw: Any) -> CancelRequest:
    base: dict[str, Any] = dict(owner="op", now=NOW, can_find=True, can_cancel=True, key=KEY)
    base.update(kw)
    return CancelRequest(**base)


CANCEL_ROWS = [
    pytest.param(None, None, creq(), ReturnRecord(), id="nothing recorded"),
    pytest.param(rec(Phase.SUBMITTED), None, creq(),
                 Writes(Phase.CANCELLED, (("job_id", "j1"),), after=CancelRecorded("j1")),
                 id="submitted: record the cancel first"),
    pytest.param(rec(Phase.CANCELLED), CancelRecorded("j1"), creq(),
                 CancelJob("j1", after=CancelSent("j1", recorded=True)), id="recorded: then kill the job"),
    pytest.param(rec(Phase.CANCELLED), CancelSent("j1", recorded=True), creq(),
                 ReturnRecord(Cancelled(KEY, "ref", "j1")), id="killed: done, say so"),
    pytest.param(rec(Phase.CANCELLED), None, creq(), CancelJob("j1", after=CancelSent("j1")),
                 id="already cancelled: re-send the cancel"),
    pytest.param(rec(Phase.CANCELLED), CancelSent("j1"), creq(), ReturnRecord(), id="re-sent: return the record"),
    pytest.param(rec(Phase.CANCELLED), None, creq(can_cancel=False), Stop(StopKind.CANNOT_CANCEL, "j1"),
                 id="cancelled, job cannot cancel"),
    pytest.param(rec(Phase.SUCCEEDED), None, creq(), ReturnRecord(), id="ended otherwise: unchanged"),
    pytest.param(rec(Phase.INTENT), None, creq(), FindByReference("ref"), id="intent: look it up"),
    pytest.param(rec(Phase.INTENT), ReferenceLookup("ref", "j4"), creq(),
                 Writes(Phase.CANCELLED, (("job_id", "j4"),), after=CancelRecorded("j4")), id="intent found: cancel it"),
    pytest.param(rec(Phase.INTENT, owner="w", lease_until=NOW + 9), ReferenceLookup("ref", None), creq(),
                 WaitForOwner(NOW + 9, note="a submission is in flight; waiting for its job id before cancelling"),
                 id="intent in flight: wait for its id"),
    pytest.param(rec(Phase.INTENT), ReferenceLookup("ref", None), creq(),
                 Writes(Phase.CANCELLED, (("job_id", None),), after=CancelRecorded(None)),
                 id="intent, nothing found, lease over: mark it"),
    pytest.param(rec(Phase.CANCELLED, job_id=None), CancelRecorded(None), creq(),
                 ReturnRecord(Cancelled(KEY, "ref", None)), id="marked with no job: done"),
    pytest.param(rec(Phase.SUBMITTED), None, creq(can_cancel=False), Stop(StopKind.CANNOT_CANCEL, "j1"),
                 id="job cannot cancel"),
    pytest.param(rec(Phase.SUBMITTED), None, creq(rerun=True), CancelJob("j1", after=CancelSent("j1")),
                 id="rerun: kill first"),
    pytest.param(rec(Phase.SUBMITTED), CancelSent("j1"), creq(rerun=True),
                 Writes(Phase.FAILED, (("job_id", "j1"),), after=CancelRecorded("j1")),
                 id="rerun: then mark FAILED so the next run submits"),
    pytest.param(rec(Phase.FAILED), CancelRecorded("j1"), creq(rerun=True),
                 ReturnRecord(Cancelled(KEY, "ref", "j1")), id="rerun marked: done"),
]


@pytest.mark.parametrize(("record", "observation", "request_", "expected"), CANCEL_ROWS)
def test_decide_cancel(
    record: JobRecord | None, observation: Observation | None, request_: CancelRequest, expected: object
) -> None:
    action = decide_cancel(record, observation, request_)
    if isinstance(expected, Writes):
        expected.check(action)
    else:
        assert action == expected


def test_a_cancel_history_entry_says_cancelled() -> None:
    action = decide_cancel(rec(Phase.SUBMITTED), None, creq())
    assert isinstance(action, Write)
    assert action.record.history[-1].outcome is Outcome.CANCELLED


@pytest.mark.parametrize(
    ("record", "status", "active", "changed"),
    [
        pytest.param(rec(Phase.SUBMITTED, status="QUEUED"), "RUNNING", True, True, id="an active change is written"),
        pytest.param(rec(Phase.SUBMITTED, status="RUNNING"), "RUNNING", True, False, id="no change, no write"),
        pytest.param(rec(Phase.SUBMITTED, status="RUNNING"), "FINISHED", False, False,
                     id="a terminal status waits for the outcome"),
        pytest.param(rec(Phase.SUBMITTED, job_id="j2"), "RUNNING", True, False, id="another job's status"),
        pytest.param(rec(Phase.CANCELLED), "RUNNING", True, False, id="not over a cancel"),
    ],
)
def test_status_update_writes_changes_of_an_active_job_only(
    record: JobRecord, status: str, active: bool, changed: bool
) -> None:
    update = status_update(record, "j1", status, active, NOW)
    assert (update is not None) is changed
    if update is not None:
        assert update.status == status and update.revision == record.revision + 1


def test_a_decision_needs_a_reference_to_start_a_submission() -> None:
    with pytest.raises(ValueError, match="new_reference"):
        decide(None, None, req(new_reference=""))


def test_decide_is_pure() -> None:
    """The same inputs give the same action, however often they are asked."""
    for row in RUN_ROWS:
        record, observation, request_ = row.values[:3]
        first = decide(record, observation, request_)  # type: ignore[arg-type]
        assert decide(record, observation, request_) == first  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "interrupted", "released_"),
    [
        pytest.param(rec(Phase.INTENT, owner="me", lease_until=NOW + 100), False, True,
                     id="a run that ends holding its intent's lease gives it back"),
        pytest.param(rec(Phase.INTENT, owner="me", lease_until=NOW + 100), True, False,
                     id="interrupted inside submit_job: kept (the call may still be at work)"),
        pytest.param(rec(Phase.INTENT, owner="other", lease_until=NOW + 100), False, False,
                     id="another owner's lease is not ours to give back"),
        pytest.param(rec(Phase.INTENT, owner="me", lease_until=NOW - 1), False, False, id="run out already"),
        pytest.param(rec(Phase.INTENT, owner="me", lease_until=None), False, False, id="nothing held"),
        pytest.param(rec(Phase.SUBMITTED, owner="me", lease_until=NOW + 100), False, False,
                     id="a named job holds no intent"),
        pytest.param(None, False, False, id="no record"),
    ],
)
def test_released_gives_back_the_lease_of_a_run_that_ended(
    record: JobRecord | None, interrupted: bool, released_: bool
) -> None:
    update = released(record, "me", NOW, submit_interrupted=interrupted)
    assert (update is not None) is released_
    if update is not None:
        assert record is not None
        assert update.lease_until is None and update.reference == record.reference and update.phase is Phase.INTENT
        assert update.owner == record.owner and update.revision == record.revision + 1
        # The next run of another owner does not wait for this one.
        after = decide(update, None, req(owner="next", can_find=False))
        assert not isinstance(after, WaitForOwner)
    elif record is not None and record.phase is Phase.INTENT and record.owner == "me" and interrupted:
        assert isinstance(decide(record, None, req(owner="next", can_find=False)), WaitForOwner)
