"""Async: the same decision on an event loop, and many jobs in one process.

``run_resumable_async`` is ``run_resumable`` for an ``AsyncResumableJob`` (and
``cancel_resumable_async`` is ``cancel_resumable``); the
``Supervisor`` runs many keys at once with a bound on calls to the external system;
``in_threads`` makes a blocking job one of them; a job that can list many
statuses in one call (``SupportsBatchStatus``) is asked in one listing per system
and tick (``StatusBatcher``), and progress in one call too (``SupportsBatchProgress``)
or within a budget of calls per system.
docs/async.md says how, and what it costs (docs/performance.md).
"""

from __future__ import annotations

from ._aio import (
    AsyncPoller,
    AsyncResumableJob,
    AsyncStateStore,
    AsyncSupportsCancel,
    AsyncSupportsFindByReference,
    cancel_resumable_async,
    run_resumable_async,
)
from ._batch import (
    DEFERRED,
    AsyncSupportsBatchProgress,
    AsyncSupportsBatchStatus,
    StatusBatcher,
    SupportsBatchProgress,
    SupportsBatchStatus,
)
from ._progress import AsyncSupportsProgress
from ._supervisor import Supervised, Supervisor
from ._threaded import in_threads

__all__ = [
    "DEFERRED",
    "AsyncPoller",
    "AsyncResumableJob",
    "AsyncStateStore",
    "AsyncSupportsBatchProgress",
    "AsyncSupportsBatchStatus",
    "AsyncSupportsCancel",
    "AsyncSupportsFindByReference",
    "AsyncSupportsProgress",
    "StatusBatcher",
    "Supervised",
    "Supervisor",
    "SupportsBatchProgress",
    "SupportsBatchStatus",
    "cancel_resumable_async",
    "in_threads",
    "run_resumable_async",
]
