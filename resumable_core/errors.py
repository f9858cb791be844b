"""The whole error tree (drawn in the docstring of ``resumable_core._errors``).

The errors a caller usually catches are also importable from ``resumable_core``;
this module holds every one, the finer-grained ones included.
"""

from __future__ import annotations

from ._errors import (
    AmbiguousSubmission,
    ConcurrentUpdate,
    ExternalSystemError,
    InvalidArgument,
    JobCancelled,
    JobFailed,
    JobLost,
    JobNotFound,
    MalformedAnswer,
    NothingToAttach,
    PollTimeout,
    ProtocolError,
    RecordCorrupt,
    RecordFromNewerVersion,
    ResultUnavailable,
    ResumableError,
    StoreError,
    StoreUnavailable,
    SubmissionNotSent,
    SubmissionRejected,
    TransientBudgetExhausted,
    TransientError,
)

__all__ = [
    "AmbiguousSubmission",
    "ConcurrentUpdate",
    "ExternalSystemError",
    "InvalidArgument",
    "JobCancelled",
    "JobFailed",
    "JobLost",
    "JobNotFound",
    "MalformedAnswer",
    "NothingToAttach",
    "PollTimeout",
    "ProtocolError",
    "RecordCorrupt",
    "RecordFromNewerVersion",
    "ResultUnavailable",
    "ResumableError",
    "StoreError",
    "StoreUnavailable",
    "SubmissionNotSent",
    "SubmissionRejected",
    "TransientBudgetExhausted",
    "TransientError",
]
