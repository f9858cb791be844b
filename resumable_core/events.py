"""The typed events ``run_resumable`` and ``cancel_resumable`` give a listener.

Each is a frozen dataclass naming the key, the submission reference and the job;
``describe()`` says it in the one line every front end uses.
"""

from __future__ import annotations

from ._events import (
    Cancelled,
    Event,
    EventListener,
    Finished,
    ProgressReported,
    Reattached,
    ResultReused,
    StatusChanged,
    SubmitReason,
    Submitted,
    Superseded,
    WaitingForOwner,
)

__all__ = [
    "Cancelled",
    "Event",
    "EventListener",
    "Finished",
    "ProgressReported",
    "Reattached",
    "ResultReused",
    "StatusChanged",
    "SubmitReason",
    "Submitted",
    "Superseded",
    "WaitingForOwner",
]
