"""Supervisor: many resumable jobs in one process, on one event loop, with a bound on calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ._aio import AsyncResumableJob, StoreAccess, check_async_job, run_resumable_async
from ._batch import DEFAULT_PROGRESS_RATE, DEFAULT_TICK, StatusBatcher
from ._checks import check_key, check_run_options
from ._errors import InvalidArgument, ResumableError
from ._events import EventListener
from ._policy import Policy
from ._polling import PollPolicy
from ._telemetry import Telemetry


@dataclass(frozen=True, slots=True)
class Supervised:
    """How one supervised key ended: its result, or the library's error that ended it."""

    key: str
    result: object = None
    error: ResumableError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class _Entry:
    job: AsyncResumableJob[Any]
    poll: PollPolicy
    fresh: bool
    generation: str | None
    policy: Policy | None = None
    attach_only: bool = False


class Supervisor:
    """Run many keys at once: each its own job and poll policy, one store, one bound.

    *max_concurrent_calls* bounds the calls in flight to the external system across
    every job (submits, status checks, lookups, results, cancels): ten thousand jobs
    polling a Spark master should not open ten thousand connections at once. Each key
    runs ``run_resumable_async``; an error ends that key only (``Supervised.error``).

    Jobs that can list many statuses in one call (``SupportsBatchStatus``, or
    ``AsyncSupportsBatchStatus``) have their status checks coalesced: one listing per
    *batch_tick* seconds per ``batch_key``, instead of a call per job; each job keeps its
    own poll policy, and an id missing from a listing is asked directly before anything
    counts it as not found.

    Progress (``SupportsProgress``) is asked the same way: in one call per tick and key
    where the job can batch it (``SupportsBatchProgress``), otherwise at most
    *progress_rate* calls a second per system (``progress_key``, by default the
    ``batch_key``), the other asks left to the jobs' next polls: ten thousand jobs
    showing progress must not cost their cluster ten thousand calls per interval.
    ``progress_rate=None`` leaves progress calls unbudgeted. ``batch_tick=None`` asks
    every job on its own, status and progress.
    """

    def __init__(
        self,
        store: Any,
        *,
        max_concurrent_calls: int = 64,
        policy: Policy | None = None,
        listener: EventListener | None = None,
        telemetry: Telemetry | None = None,
        batch_tick: float | None = DEFAULT_TICK,
        progress_rate: float | None = DEFAULT_PROGRESS_RATE,
    ) -> None:
        if max_concurrent_calls < 1:
            raise InvalidArgument(f"max_concurrent_calls must be >= 1, got {max_concurrent_calls!r}")
        if batch_tick is not None and not batch_tick >= 0:
            raise InvalidArgument(f"batch_tick must be >= 0 seconds or None, got {batch_tick!r}")
        if progress_rate is not None and not progress_rate > 0:
            raise InvalidArgument(f"progress_rate must be > 0 calls a second or None, got {progress_rate!r}")
        self.batch_tick = batch_tick
        self.progress_rate = progress_rate
        self.store = store
        self.max_concurrent_calls = max_concurrent_calls
        self.policy = policy
        self.listener = listener
        self.telemetry = telemetry
        self._entries: dict[str, _Entry] = {}

    def add(self, job: AsyncResumableJob[Any], *, key: str, poll: PollPolicy | None = None, fresh: bool = False,
            generation: str | None = None, policy: Policy | None = None, attach_only: bool = False) -> None:
        """Supervise *job* under *key* (checked now: a bad key or job fails here, not mid-run).

        *attach_only*: follow what is recorded, never submit (``run_resumable``).
        """
        check_key(key)
        check_async_job(job)
        check_run_options(key, fresh=fresh, attach_only=attach_only)
        if key in self._entries:
            raise InvalidArgument(f"key {key!r} is supervised already", key=key)
        self._entries[key] = _Entry(job, poll if poll is not None else PollPolicy(), fresh, generation, policy,
                                    attach_only)

    @property
    def keys(self) -> list[str]:
        return list(self._entries)

    async def run(self) -> dict[str, Supervised]:
        """Run every key to its end; a key's error is its outcome, not the supervisor's."""
        limit = asyncio.Semaphore(self.max_concurrent_calls)
        access = StoreAccess(self.store)
        batcher = None if self.batch_tick is None else StatusBatcher(self.batch_tick, limit=limit,
                                                                     progress_rate=self.progress_rate)
        keys = list(self._entries)
        # Each run's own coroutine is the task (no wrapper frame per waiting job); a
        # ResumableError is that key's outcome, anything else a bug that stops the supervisor.
        results = await asyncio.gather(
            *(
                run_resumable_async(entry.job, access, key=key, fresh=entry.fresh, generation=entry.generation,
                                    policy=entry.policy or self.policy, poll=entry.poll, listener=self.listener,
                                    telemetry=self.telemetry, limit=limit, attach_only=entry.attach_only,
                                    batcher=batcher)
                for key, entry in self._entries.items()
            ),
            return_exceptions=True,
        )
        outcomes: dict[str, Supervised] = {}
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, ResumableError):
                outcomes[key] = Supervised(key, error=result)
            elif isinstance(result, BaseException):
                raise result
            else:
                outcomes[key] = Supervised(key, result=result)
        return outcomes


__all__ = ["Supervised", "Supervisor"]
