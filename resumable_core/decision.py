"""The pure decision, for callers who drive it themselves (async code, a deferrable trigger).

``run_resumable`` is only a loop around these functions; any driver does the same::

    record = load(key)                          # JobRecord.from_json(key, store.get(key))
    observation = None
    while True:
        request = Request(..., now=clock(), new_reference=new_reference())
        action = decide(record, observation, request)
        # perform it: one branch per action type, closed with assert_never;
        # each branch returns the next observation (see the table in this docstring's
        # module, resumable_core._decision), or ends the run.

docs/decision.md walks through the actions and shows an asyncio driver that a test runs.
"""

from __future__ import annotations

from ._decision import (
    Action,
    CancelAction,
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
    RunAction,
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
    superseded_reason,
)
from ._ids import new_owner, new_reference
from ._policy import OnAmbiguous, OnLost, OnSuperseded, Policy

__all__ = [
    "Action",
    "CancelAction",
    "CancelJob",
    "CancelRecorded",
    "CancelRequest",
    "CancelSent",
    "CheckStatus",
    "Ending",
    "FetchResult",
    "FindByReference",
    "IntentWritten",
    "JobRecorded",
    "NotFoundSeen",
    "Observation",
    "OldJobCancelled",
    "OnAmbiguous",
    "OnLost",
    "OnSuperseded",
    "Orphan",
    "Policy",
    "Poll",
    "PollEnded",
    "ReferenceLookup",
    "Request",
    "ResultFetched",
    "ResultGone",
    "Return",
    "ReturnRecord",
    "ReturnRecorded",
    "RunAction",
    "StatusSeen",
    "Stop",
    "StopKind",
    "SubmitAnswered",
    "SubmitJob",
    "SubmitRefused",
    "SubmitUnusable",
    "WaitForOwner",
    "Write",
    "decide",
    "decide_cancel",
    "new_owner",
    "new_reference",
    "released",
    "status_update",
    "superseded_reason",
]
