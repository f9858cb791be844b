"""resumable_core: submit a long-running external job once, survive the caller's crashes.

The protocols (``ResumableJob``, ``StateStore`` and the optional capabilities)
are what you implement; ``run_resumable`` sequences the pure ``decide``
function against them. Only the standard library and typing-extensions are
imported here: no adapter, no third-party client.
"""

from __future__ import annotations

from ._cancel import cancel_resumable
from ._decision import (
    Action,
    Adopt,
    Attach,
    CheckStatus,
    FetchResult,
    FindByReference,
    NotFoundSeen,
    Observation,
    OnAmbiguous,
    OnLost,
    OnSuperseded,
    Policy,
    ReferenceLookup,
    Request,
    ReturnRecorded,
    StatusSeen,
    Stop,
    Submit,
    WaitForOwner,
    decide,
)
from ._errors import (
    AmbiguousSubmission,
    ConcurrentUpdate,
    ExternalSystemError,
    InvalidArgument,
    JobCancelled,
    JobFailed,
    JobLost,
    JobNotFound,
    PollTimeout,
    ProtocolError,
    RecordCorrupt,
    RecordFromNewerVersion,
    ResultUnavailable,
    ResumableError,
    StoreError,
    StoreUnavailable,
    SubmissionRejected,
    TransientBudgetExhausted,
    TransientError,
)
from ._events import (
    Cancelled,
    Event,
    EventListener,
    Finished,
    Reattached,
    ResultReused,
    StatusChanged,
    SubmitReason,
    Submitted,
    Superseded,
    WaitingForOwner,
)
from ._memory import MemoryStateStore
from ._polling import Poller, PollPolicy
from ._protocols import (
    CompareAndSetStore,
    ResumableJob,
    StateStore,
    SupportsCancel,
    SupportsFindByReference,
    SupportsFingerprint,
)
from ._record import (
    HISTORY_LIMIT,
    SCHEMA_VERSION,
    JobRecord,
    Outcome,
    Phase,
    Submission,
)
from ._run import run_resumable
from ._session import check_key, forget, load_record, new_reference
from ._types import JsonValue, is_json


def __getattr__(name: str) -> str:
    # Lazy: importlib.metadata alone costs ~25 ms, a third of this package's import.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("resumable-core")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0.0.0"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "HISTORY_LIMIT",
    "SCHEMA_VERSION",
    "Action",
    "Adopt",
    "AmbiguousSubmission",
    "Attach",
    "Cancelled",
    "CheckStatus",
    "CompareAndSetStore",
    "ConcurrentUpdate",
    "Event",
    "EventListener",
    "ExternalSystemError",
    "FetchResult",
    "FindByReference",
    "Finished",
    "InvalidArgument",
    "JobCancelled",
    "JobFailed",
    "JobLost",
    "JobNotFound",
    "JobRecord",
    "JsonValue",
    "MemoryStateStore",
    "NotFoundSeen",
    "Observation",
    "OnAmbiguous",
    "OnLost",
    "OnSuperseded",
    "Outcome",
    "Phase",
    "PollPolicy",
    "PollTimeout",
    "Poller",
    "Policy",
    "ProtocolError",
    "Reattached",
    "RecordCorrupt",
    "RecordFromNewerVersion",
    "ReferenceLookup",
    "Request",
    "ResultReused",
    "ResultUnavailable",
    "ResumableError",
    "ResumableJob",
    "ReturnRecorded",
    "StateStore",
    "StatusChanged",
    "StatusSeen",
    "Stop",
    "StoreError",
    "StoreUnavailable",
    "Submission",
    "SubmissionRejected",
    "Submit",
    "SubmitReason",
    "Submitted",
    "Superseded",
    "SupportsCancel",
    "SupportsFindByReference",
    "SupportsFingerprint",
    "TransientBudgetExhausted",
    "TransientError",
    "WaitForOwner",
    "WaitingForOwner",
    "__version__",
    "cancel_resumable",
    "check_key",
    "decide",
    "forget",
    "is_json",
    "load_record",
    "new_reference",
    "run_resumable",
]
