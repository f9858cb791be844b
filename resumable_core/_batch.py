"""Batched status: one listing call per system and tick, instead of one status call per job.

A job whose system can answer for many jobs in one call (Spark standalone's ``/json``,
YARN's apps listing, a Kubernetes pod list by label) says so with ``SupportsBatchStatus``
(blocking) or ``AsyncSupportsBatchStatus``. The ``Supervisor`` then routes the status
checks of all its jobs with one ``batch_key`` through one ``StatusBatcher``: the checks
that fall due within one tick go out as a single listing. Nothing is decided here: each
job's own poller still chooses when to ask (its policy, backoff and deadline) and gets
back one status, ``JobNotFound`` or ``TransientError``, exactly as from
``get_job_status``; the batch only changes how that answer is obtained.

- An id the listing does not show is not "not found": that job asks its own
  ``get_job_status`` at once, and only that direct answer can say ``JobNotFound``
  (a listing can be partial: retention limits, paging, a finished job dropped).
- A listing that raises ``TransientError`` is one transient failure for every job
  that was waiting on it, counted against each job's own budget as its single call
  would have been; each retries on its own schedule, into a later listing.
- A listing that raises any other library error (nonsense it could not parse, a
  listing the system refused) is not trusted either way: every waiting job asks directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ._errors import InvalidArgument, ResumableError, TransientError

DEFAULT_TICK = 1.0  # seconds: at most one listing per second per system


@runtime_checkable
class SupportsBatchStatus(Protocol):
    """A job that can ask the status of many jobs of its system in one call.

    *batch_key* names what one listing covers: the cluster (and the scope, such as a
    namespace or a queue, and the credentials) the call asks. Jobs with equal keys share
    one listing, made through any one of them, so two jobs may share a key only when
    either can list the other's ids. An empty key says the job cannot list (a client
    configured without the listing endpoint): it is asked on its own.
    """

    @property
    def batch_key(self) -> str: ...

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The status of each of *job_ids* that the listing shows, in ``get_job_status``'s words.

        An id left out means "not in this listing", never "not found": the core asks that
        job directly. Ids not asked for may be present and are ignored. Raise
        ``TransientError`` when the listing could not be had; never ``JobNotFound``.
        """
        ...


@runtime_checkable
class AsyncSupportsBatchStatus(Protocol):
    """``SupportsBatchStatus`` with the listing awaited (the same meaning)."""

    @property
    def batch_key(self) -> str: ...

    async def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]: ...


class _Waiting:
    __slots__ = ("futures", "job")

    def __init__(self, job: AsyncSupportsBatchStatus) -> None:
        self.job = job
        self.futures: list[asyncio.Future[str | BaseException | None]] = []


class _Group:
    """The jobs of one batch key: the ids due, the time of the last listing, the task that sends it."""

    __slots__ = ("last", "pending", "task")

    def __init__(self) -> None:
        self.pending: dict[str, _Waiting] = {}
        self.last = float("-inf")
        self.task: asyncio.Task[None] | None = None


class StatusBatcher:
    """Coalesces the status checks of jobs that share a ``batch_key``: one listing per *tick*.

    A check is sent with the next listing of its key, at most *tick* seconds after the
    previous listing started (at once when the last one is older): the cluster sees at
    most one listing per tick per key, and a job's detection lag grows by at most a tick.
    *limit* is the bound on calls in flight that the listing counts against (once).
    """

    __slots__ = ("_groups", "limit", "tick")

    def __init__(self, tick: float = DEFAULT_TICK, *, limit: asyncio.Semaphore | None = None) -> None:
        if not tick >= 0:
            raise InvalidArgument(f"a batch tick must be >= 0 seconds, got {tick!r}")
        self.tick = tick
        self.limit = limit
        self._groups: dict[str, _Group] = {}

    @staticmethod
    def accepts(job: object) -> bool:
        """True when *job* has an awaitable ``get_job_statuses`` and a ``batch_key``."""
        import inspect  # deferred: a process that never batches does not pay for it

        return (isinstance(job, AsyncSupportsBatchStatus)
                and inspect.iscoroutinefunction(getattr(job, "get_job_statuses", None)))

    async def status(self, job: Any, job_id: str, direct_limit: asyncio.Semaphore | None = None) -> str:
        """*job_id*'s status through the next listing of *job*'s key, or asked directly when it is not listed.

        Raises what ``job.get_job_status`` raises: ``JobNotFound`` (only from the direct
        ask), ``TransientError`` (the listing's, or the direct ask's).
        """
        key = job.batch_key
        if not key:
            return await self._direct(job, job_id, direct_limit)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        future: asyncio.Future[str | BaseException | None] = asyncio.get_running_loop().create_future()
        waiting = group.pending.get(job_id)
        if waiting is None:
            waiting = group.pending[job_id] = _Waiting(job)
        waiting.futures.append(future)
        if group.task is None:
            group.task = asyncio.ensure_future(self._send(group))
        answer = await future
        if isinstance(answer, str):
            return answer
        if isinstance(answer, TransientError):
            # One error object per job: each run raises its own, naming its job.
            raise TransientError(f"status listing for job {job_id!r} failed: {answer.message}",
                                 job_id=job_id) from answer
        if isinstance(answer, BaseException):
            # A bug in the adapter's listing, raised as a single call's would be; the one object
            # reaches every waiter, so each raise starts a traceback of its own.
            raise answer.with_traceback(None)
        # Not listed, or the listing is not to be trusted: only a direct answer may say "not found".
        return await self._direct(job, job_id, direct_limit)

    @staticmethod
    async def _direct(job: Any, job_id: str, limit: asyncio.Semaphore | None) -> str:
        if limit is None:
            status: str = await job.get_job_status(job_id)
            return status
        async with limit:
            status = await job.get_job_status(job_id)
            return status

    async def _send(self, group: _Group) -> None:
        loop = asyncio.get_running_loop()
        try:
            while group.pending:
                delay = group.last + self.tick - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                batch, group.pending = group.pending, {}
                live = {job_id: w for job_id, w in batch.items() if any(not f.done() for f in w.futures)}
                if not live:
                    continue  # every waiter was cancelled meanwhile
                group.last = loop.time()
                lister = next(iter(live.values())).job
                outcome = await self._list(lister, list(live))
                for job_id, waiting in live.items():
                    answer = outcome if not isinstance(outcome, Mapping) else _listed(outcome, job_id)
                    for future in waiting.futures:
                        if not future.done():
                            future.set_result(answer)
        finally:
            # The group stays (one per system: few), and with it the time of its last listing,
            # which is what keeps the next one a tick away.
            group.task = None

    async def _list(self, lister: AsyncSupportsBatchStatus,
                    job_ids: list[str]) -> Mapping[str, str] | BaseException | None:
        try:
            if self.limit is None:
                return await lister.get_job_statuses(job_ids)
            async with self.limit:
                return await lister.get_job_statuses(job_ids)
        except TransientError as exc:
            return exc
        except ResumableError:
            return None  # every waiter asks directly: the direct answer decides
        except Exception as exc:  # handed to each waiter, raised there as a single call's would be
            return exc


def _listed(statuses: Mapping[str, str], job_id: str) -> str | None:
    status = statuses.get(job_id)
    return status if isinstance(status, str) and status else None


__all__ = ["DEFAULT_TICK", "AsyncSupportsBatchStatus", "StatusBatcher", "SupportsBatchStatus"]
