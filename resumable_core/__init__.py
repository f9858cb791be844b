"""resumable_core: submit a long-running external job once, survive the caller's crashes.

The protocols (``ResumableJob``, ``StateStore`` and the optional capabilities)
are what you implement; ``run_resumable`` drives the pure decision
(``resumable_core.decision``) against them. Only the standard library and
typing-extensions are imported here: no adapter, no third-party client.

Public submodules hold what fewer callers need: ``decision`` (drive the decision
yourself), ``events``, ``errors`` (the whole tree), ``progress`` (the optional
progress capability), ``record``, ``store`` (for store
authors) and ``testing`` (the fakes this project's own tests use).

Names load on first use (PEP 562): a DAG file or a type check that imports the
package pays for what it touches, not for the runner and its decision tables.
"""

# The module namespace holds __all__ and nothing else public (tests/test_public_api.py):
# its own tools go under private names, and no `from __future__ import annotations`.
import importlib as _importlib
import typing as _typing
import warnings as _warnings

if _typing.TYPE_CHECKING:
    from ._cancel import cancel_resumable
    from ._errors import (
        AmbiguousSubmission,
        ConcurrentUpdate,
        InvalidArgument,
        JobCancelled,
        JobFailed,
        JobLost,
        JobNotFound,
        ProtocolError,
        RecordCorrupt,
        ResultUnavailable,
        ResumableError,
        StoreError,
        StoreUnavailable,
        SubmissionRejected,
        TransientError,
    )
    from ._events import Event, EventListener
    from ._memory import MemoryStateStore
    from ._policy import OnAmbiguous, OnLost, OnSuperseded, Policy
    from ._polling import Poller, PollPolicy
    from ._protocols import (
        CompareAndSetStore,
        ResumableJob,
        StateStore,
        SupportsCancel,
        SupportsFindByReference,
        SupportsFingerprint,
        check_job,
    )
    from ._record import JobRecord, Outcome, Phase
    from ._run import run_resumable
    from ._session import forget, load_record
    from ._types import JsonValue

# name -> the private module that defines it
_HOMES: dict[str, str] = {
    "cancel_resumable": "_cancel",
    "check_job": "_protocols",
    "run_resumable": "_run",
    "forget": "_session",
    "load_record": "_session",
    "ResumableJob": "_protocols",
    "StateStore": "_protocols",
    "CompareAndSetStore": "_protocols",
    "SupportsCancel": "_protocols",
    "SupportsFindByReference": "_protocols",
    "SupportsFingerprint": "_protocols",
    "Policy": "_policy",
    "OnAmbiguous": "_policy",
    "OnLost": "_policy",
    "OnSuperseded": "_policy",
    "PollPolicy": "_polling",
    "Poller": "_polling",
    "JobRecord": "_record",
    "Phase": "_record",
    "Outcome": "_record",
    "MemoryStateStore": "_memory",
    "JsonValue": "_types",
    "Event": "_events",
    "EventListener": "_events",
    "ResumableError": "_errors",
    "InvalidArgument": "_errors",
    "TransientError": "_errors",
    "JobNotFound": "_errors",
    "SubmissionRejected": "_errors",
    "ProtocolError": "_errors",
    "JobFailed": "_errors",
    "JobCancelled": "_errors",
    "JobLost": "_errors",
    "AmbiguousSubmission": "_errors",
    "ResultUnavailable": "_errors",
    "StoreError": "_errors",
    "StoreUnavailable": "_errors",
    "ConcurrentUpdate": "_errors",
    "RecordCorrupt": "_errors",
}

# Names that were importable from here before 0.2 and now live in a public submodule:
# still importable, with a DeprecationWarning naming the new home.
_MOVED: dict[str, str] = {
    **dict.fromkeys(
        ["ExternalSystemError", "PollTimeout", "RecordFromNewerVersion", "TransientBudgetExhausted"], "errors"
    ),
    **dict.fromkeys(
        ["Cancelled", "Finished", "Reattached", "ResultReused", "StatusChanged", "SubmitReason", "Submitted",
         "Superseded", "WaitingForOwner"], "events"
    ),
    **dict.fromkeys(["HISTORY_LIMIT", "SCHEMA_VERSION", "Submission"], "record"),
    **dict.fromkeys(["check_key", "is_json"], "store"),
    **dict.fromkeys(
        ["Action", "CheckStatus", "FetchResult", "FindByReference", "NotFoundSeen", "Observation",
         "ReferenceLookup", "Request", "ReturnRecorded", "StatusSeen", "Stop", "decide", "new_reference"],
        "decision",
    ),
}


def __getattr__(name: str) -> _typing.Any:
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(_importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value  # once: later lookups are plain attribute reads
        return value
    if name in _MOVED:
        module = f"{__name__}.{_MOVED[name]}"
        _warnings.warn(f"import {name} from {module}; resumable_core.{name} is deprecated",
                      DeprecationWarning, stacklevel=2)
        return getattr(_importlib.import_module(module), name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("resumable-core")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0.0.0"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AmbiguousSubmission",
    "CompareAndSetStore",
    "ConcurrentUpdate",
    "Event",
    "EventListener",
    "InvalidArgument",
    "JobCancelled",
    "JobFailed",
    "JobLost",
    "JobNotFound",
    "JobRecord",
    "JsonValue",
    "MemoryStateStore",
    "OnAmbiguous",
    "OnLost",
    "OnSuperseded",
    "Outcome",
    "Phase",
    "Policy",
    "PollPolicy",
    "Poller",
    "ProtocolError",
    "RecordCorrupt",
    "ResultUnavailable",
    "ResumableError",
    "ResumableJob",
    "StateStore",
    "StoreError",
    "StoreUnavailable",
    "SubmissionRejected",
    "SupportsCancel",
    "SupportsFindByReference",
    "SupportsFingerprint",
    "TransientError",
    "__version__",
    "cancel_resumable",
    "check_job",
    "forget",
    "load_record",
    "run_resumable",
]
