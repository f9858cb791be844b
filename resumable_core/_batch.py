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

Progress (``SupportsProgress``) is asked through the same batcher, so that turning it on
does not undo the above: the progress asks that fall due within a tick go out as one call
per key when the job can answer for many (``SupportsBatchProgress``: Databricks' active-run
listing with its tasks, Flink's job overview), and the asks that still need a call of their
own (a job that cannot batch them, an id the batch left out) share a budget per system:
at most *progress_rate* a second per ``progress_key`` (the ``batch_key`` unless the job
names another; an empty key for a job whose progress calls each go to a place of their
own, such as a Spark driver's own UI). An ask the budget cannot take now is not made: the
job asks again at its next poll. Progress decides nothing, so nothing here ever asks
directly what a batch did not answer beyond that budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar, runtime_checkable

from ._errors import InvalidArgument, ResumableError, TransientError
from ._progress import Progress

T = TypeVar("T")

DEFAULT_TICK = 1.0  # seconds: at most one listing per second per system
# Progress calls of their own per second per system: with the listing, a few requests a second to
# a cluster however many jobs follow it (a Spark progress ask is two or three requests to its UI).
DEFAULT_PROGRESS_RATE = 2.0
# The budget saves up to this many seconds of calls: the asks come in bursts, each right after the
# listing that answered their jobs' status (a few seconds apart), and must still average the rate.
PROGRESS_BURST_SECONDS = 5.0


class _Deferred:
    """The type of ``DEFERRED``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFERRED"


# What ``StatusBatcher.progress`` answers when the system's progress budget has no room now:
# nothing was asked, and the job asks again at its next poll.
DEFERRED: Final = _Deferred()


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


@runtime_checkable
class SupportsBatchProgress(Protocol):
    """A job that can say the progress of many jobs of its system in one call.

    The same *batch_key* as ``SupportsBatchStatus`` (what one call covers). An id left
    out means "nothing from this call" (a run with more tasks than the listing shows, one
    not listed): the core may then ask that job's own ``job_progress``, within the
    system's progress budget. Raise ``TransientError`` when the call could not be made.
    """

    @property
    def batch_key(self) -> str: ...

    def get_job_progresses(self, job_ids: Sequence[str]) -> Mapping[str, Progress]: ...


@runtime_checkable
class AsyncSupportsBatchProgress(Protocol):
    """``SupportsBatchProgress`` with the call awaited (the same meaning)."""

    @property
    def batch_key(self) -> str: ...

    async def get_job_progresses(self, job_ids: Sequence[str]) -> Mapping[str, Progress]: ...


Answer = str | Progress | BaseException | None  # what one waiter is handed: its own, the call's error, or nothing
Fetch = Callable[[Any, list[str]], Awaitable[Mapping[str, Any]]]


class _Waiting:
    __slots__ = ("futures", "job")

    def __init__(self, job: Any) -> None:
        self.job = job
        self.futures: list[asyncio.Future[Answer]] = []


class _Group:
    """The jobs of one batch key and one kind of call: the ids due, the time of the last call,
    the task that sends it, and how the call is made (*fetch*) and read (*pick*)."""

    __slots__ = ("fetch", "last", "pending", "pick", "task")

    def __init__(self, fetch: Fetch, pick: Callable[[Mapping[str, Any], str], Answer]) -> None:
        self.fetch = fetch
        self.pick = pick
        self.pending: dict[str, _Waiting] = {}
        self.last = float("-inf")
        self.task: asyncio.Task[None] | None = None


class _Budget:
    """A token bucket: *rate* calls a second, at most ``PROGRESS_BURST_SECONDS`` of them at once."""

    __slots__ = ("at", "capacity", "rate", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = self.tokens = max(1.0, rate * PROGRESS_BURST_SECONDS)
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class StatusBatcher:
    """Coalesces the status checks of jobs that share a ``batch_key``: one listing per *tick*.

    A check is sent with the next listing of its key, at most *tick* seconds after the
    previous listing started (at once when the last one is older): the cluster sees at
    most one listing per tick per key, and a job's detection lag grows by at most a tick.
    *limit* is the bound on calls in flight that the listing counts against (once).
    """

    __slots__ = ("_budgets", "_groups", "_progress_groups", "limit", "progress_rate", "tick")

    def __init__(self, tick: float = DEFAULT_TICK, *, limit: asyncio.Semaphore | None = None,
                 progress_rate: float | None = DEFAULT_PROGRESS_RATE) -> None:
        if not tick >= 0:
            raise InvalidArgument(f"a batch tick must be >= 0 seconds, got {tick!r}")
        if progress_rate is not None and not progress_rate > 0:
            raise InvalidArgument(f"a progress rate must be > 0 calls a second or None, got {progress_rate!r}")
        self.tick = tick
        self.limit = limit
        self.progress_rate = progress_rate  # None: progress calls are not budgeted
        self._groups: dict[str, _Group] = {}
        self._progress_groups: dict[str, _Group] = {}
        self._budgets: dict[str, _Budget] = {}

    @staticmethod
    def accepts(job: object) -> bool:
        """True when *job* has an awaitable ``get_job_statuses`` and a ``batch_key``."""
        return isinstance(job, AsyncSupportsBatchStatus) and _awaitable(job, "get_job_statuses")

    async def status(self, job: Any, job_id: str, direct_limit: asyncio.Semaphore | None = None) -> str:
        """*job_id*'s status through the next listing of *job*'s key, or asked directly when it is not listed.

        Raises what ``job.get_job_status`` raises: ``JobNotFound`` (only from the direct
        ask), ``TransientError`` (the listing's, or the direct ask's).
        """
        key = job.batch_key
        if not key:
            return await self._bounded(lambda: job.get_job_status(job_id), direct_limit)
        answer = await self._wait(self._groups, key, job, job_id, _fetch_statuses, _listed)
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
        return await self._bounded(lambda: job.get_job_status(job_id), direct_limit)

    async def progress(self, job: Any, job_id: str,
                       direct_limit: asyncio.Semaphore | None = None) -> Progress | None | _Deferred:
        """*job_id*'s progress through the next batch call of its key, else its own ``job_progress``
        within its system's budget; ``DEFERRED`` when that budget has no room now (nothing asked).

        Raises what ``job.job_progress`` raises (the caller logs it: progress decides nothing).
        """
        key = getattr(job, "batch_key", "")
        if key and _awaitable(job, "get_job_progresses"):
            answer = await self._wait(self._progress_groups, key, job, job_id, _fetch_progresses, _progress_of)
            if isinstance(answer, Progress):
                return answer
            if isinstance(answer, BaseException):
                raise answer.with_traceback(None)
        budget_key = getattr(job, "progress_key", key)
        if self.progress_rate is not None and budget_key:
            now = asyncio.get_running_loop().time()
            budget = self._budgets.get(budget_key)
            if budget is None:
                budget = self._budgets[budget_key] = _Budget(self.progress_rate, now)
            if not budget.take(now):
                return DEFERRED
        seen: Progress | None = await self._bounded(lambda: job.job_progress(job_id), direct_limit)
        return seen

    async def _wait(self, groups: dict[str, _Group], key: str, job: Any, job_id: str, fetch: Fetch,
                    pick: Callable[[Mapping[str, Any], str], Answer]) -> Answer:
        """Join the next call of *key*'s group (started now when none is under way) and await this id's answer."""
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(fetch, pick)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        waiting = group.pending.get(job_id)
        if waiting is None:
            waiting = group.pending[job_id] = _Waiting(job)
        waiting.futures.append(future)
        if group.task is None:
            group.task = asyncio.ensure_future(self._send(group))
        return await future

    @staticmethod
    async def _bounded(call: Callable[[], Awaitable[T]], limit: asyncio.Semaphore | None) -> T:
        """*call* counted against *limit*, the bound on calls in flight (none without one)."""
        if limit is None:
            return await call()
        async with limit:
            return await call()

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
                outcome = await self._list(group.fetch, lister, list(live))
                for job_id, waiting in live.items():
                    answer = outcome if not isinstance(outcome, Mapping) else group.pick(outcome, job_id)
                    for future in waiting.futures:
                        if not future.done():
                            future.set_result(answer)
        finally:
            # The group stays (one per system: few), and with it the time of its last listing,
            # which is what keeps the next one a tick away.
            group.task = None

    async def _list(self, fetch: Fetch, lister: Any, job_ids: list[str]) -> Mapping[str, Any] | BaseException | None:
        try:
            return await self._bounded(lambda: fetch(lister, job_ids), self.limit)
        except TransientError as exc:
            return exc
        except ResumableError:
            return None  # every waiter asks directly: the direct answer decides
        except Exception as exc:  # handed to each waiter, raised there as a single call's would be
            return exc


def _fetch_statuses(lister: Any, job_ids: list[str]) -> Awaitable[Mapping[str, Any]]:
    return lister.get_job_statuses(job_ids)  # type: ignore[no-any-return]


def _fetch_progresses(lister: Any, job_ids: list[str]) -> Awaitable[Mapping[str, Any]]:
    return lister.get_job_progresses(job_ids)  # type: ignore[no-any-return]


def _listed(statuses: Mapping[str, Any], job_id: str) -> str | None:
    status = statuses.get(job_id)
    return status if isinstance(status, str) and status else None


def _progress_of(progresses: Mapping[str, Any], job_id: str) -> Progress | None:
    seen = progresses.get(job_id)
    return seen if isinstance(seen, Progress) else None


def _awaitable(job: object, name: str) -> bool:
    import inspect  # deferred: a process that never batches does not pay for it

    return inspect.iscoroutinefunction(getattr(job, name, None))


__all__ = [
    "DEFAULT_PROGRESS_RATE",
    "DEFAULT_TICK",
    "DEFERRED",
    "PROGRESS_BURST_SECONDS",
    "AsyncSupportsBatchProgress",
    "AsyncSupportsBatchStatus",
    "StatusBatcher",
    "SupportsBatchProgress",
    "SupportsBatchStatus",
]
