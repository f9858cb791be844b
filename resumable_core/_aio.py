"""run_resumable_async: the same decision as run_resumable, driven from an event loop.

One branch per action, as in ``_run``; what differs is only how each step waits:
the job's calls are awaited, a blocking store runs in a worker thread (a store that
never blocks, or an async one, is called directly), and sleeps are ``asyncio.sleep``.
A job is a few hundred bytes of state while it waits: thousands fit in one process.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any, Generic, Protocol, TypeVar, cast, runtime_checkable

from ._batch import DEFERRED, StatusBatcher
from ._decision import (
    CancelJob,
    CancelRequest,
    CancelSent,
    CheckStatus,
    FetchResult,
    FindByReference,
    NotFoundSeen,
    Observation,
    Poll,
    PollEnded,
    ReferenceLookup,
    ResultFetched,
    ResultGone,
    Return,
    ReturnRecord,
    ReturnRecorded,
    StatusSeen,
    Stop,
    SubmitAnswered,
    SubmitJob,
    SubmitRefused,
    SubmitUnusable,
    WaitForOwner,
    Write,
    decide,
    decide_cancel,
)
from ._errors import (
    InvalidArgument,
    JobNotFound,
    StoreError,
    SubmissionRejected,
    TransientError,
)
from ._events import EventListener
from ._policy import Policy
from ._polling import PollPolicy
from ._progress import AsyncSupportsProgress, Progress, ProgressWatch
from ._protocols import CompareAndSetStore
from ._record import JobRecord
from ._resume import AsyncSupportsResumeState
from ._session import WARNING, RunSession
from ._telemetry import Telemetry
from ._types import JsonValue, assert_never

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
T = TypeVar("T")


@runtime_checkable
class AsyncResumableJob(Protocol[R_co]):
    """``ResumableJob`` with its I/O awaited: the same meaning, operation for operation."""

    async def submit_job(self, reference: str) -> str: ...

    async def get_job_status(self, job_id: str) -> str: ...

    def is_job_active(self, status: str) -> bool: ...

    def is_job_succeeded(self, status: str) -> bool: ...

    async def get_job_result(self, job_id: str, status: str) -> R_co: ...


@runtime_checkable
class AsyncSupportsFindByReference(Protocol):
    async def find_job_by_reference(self, reference: str) -> str | None: ...


@runtime_checkable
class AsyncSupportsCancel(Protocol):
    async def cancel_job(self, job_id: str) -> None: ...


@runtime_checkable
class AsyncStateStore(Protocol):
    """A store whose calls are awaited (the compare-and-set is required: an async
    store is written for this library, and there is no reason to go without it)."""

    async def get(self, key: str, default: JsonValue = None) -> JsonValue: ...

    async def set(self, key: str, value: JsonValue) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool: ...


_ASYNC_REQUIRED = ("submit_job", "get_job_status", "get_job_result")


def check_async_job(job: object) -> None:
    """InvalidArgument naming what *job* lacks to be an AsyncResumableJob, before anything is submitted."""
    for name in (*_ASYNC_REQUIRED, "is_job_active", "is_job_succeeded"):
        if not callable(getattr(job, name, None)):
            raise InvalidArgument(f"{type(job).__name__} is not an AsyncResumableJob: it has no {name}()")
    for name in _ASYNC_REQUIRED:
        if not inspect.iscoroutinefunction(getattr(job, name)):
            raise InvalidArgument(f"{type(job).__name__}.{name} must be a coroutine function (async def); "
                                  "a blocking job runs with run_resumable")


class StoreAccess:
    """How a driver on an event loop reaches a store without blocking the loop (one per store)."""

    __slots__ = ("gate", "has_cas", "in_place", "is_async", "store")

    # Blocking calls in flight at once: a store serialises its writers anyway (SQLite's lock,
    # a PostgreSQL row lock), and ten thousand runs starting together would otherwise queue
    # ten thousand work items, each holding its record, in the thread pool.
    THREADS = 8

    def __init__(self, store: Any) -> None:
        self.store = store
        self.is_async = inspect.iscoroutinefunction(getattr(store, "get", None))
        # A store that never blocks (MemoryStateStore) is called in place: a thread hop
        # per call would cost more than the call.
        self.in_place = bool(getattr(store, "non_blocking", False))
        self.has_cas = self.is_async or isinstance(store, CompareAndSetStore)
        self.gate = asyncio.Semaphore(self.THREADS)

    async def call(self, name: str, *args: Any) -> Any:
        method = getattr(self.store, name)
        if self.is_async:
            return await method(*args)
        if self.in_place:
            return method(*args)
        async with self.gate:
            return await asyncio.to_thread(method, *args)


class AsyncPoller:
    """``Poller`` for an event loop: the same PollPolicy (backoff, jitter, deadline, transient budget)."""

    __slots__ = ("batch", "clock", "last_status", "limit", "on_poll", "on_status", "policy", "rand")

    def __init__(self, policy: PollPolicy, *, clock: Callable[[], float], rand: Callable[[], float],
                 limit: asyncio.Semaphore | None = None) -> None:
        self.policy = policy
        self.clock = clock
        self.rand = rand
        self.limit = limit  # the supervisor's bound on calls in flight to the external system
        # Set when the job's status checks go out in a listing with other jobs' (_batch).
        self.batch: StatusBatcher | None = None
        self.on_status: Callable[[str], Awaitable[None]] | None = None
        # Called with each status polled (changed or not): where a run asks for progress.
        self.on_poll: Callable[[str], Awaitable[None]] | None = None
        self.last_status: str | None = None

    async def call(self, call: Callable[[], Awaitable[T]]) -> T:
        if self.limit is None:
            return await call()
        async with self.limit:
            return await call()

    async def retry_transient(self, call: Callable[[], Awaitable[T]], *, what: str, job_id: str | None = None,
                              bounded: bool = True) -> T:
        started = self.clock()
        attempt = 0
        while True:
            try:
                return await (self.call(call) if bounded else call())
            except TransientError as exc:
                attempt += 1
                spent = self.policy.budget_spent(attempt, self.clock() - started, exc, what=what, job_id=job_id)
                if spent is not None:
                    raise spent from exc
                await asyncio.sleep(self.policy.transient_pause(attempt, self.rand(), exc))

    async def status(self, job: AsyncResumableJob[Any], job_id: str) -> str:
        batch = self.batch
        if batch is None:
            status = await self.retry_transient(lambda: job.get_job_status(job_id), what=f"status of job {job_id!r}",
                                                job_id=job_id)
        else:
            # The batcher holds the bound on calls itself (once per listing, not per waiting job),
            # and the budget is spent here exactly as for a single call.
            status = await self.retry_transient(lambda: batch.status(job, job_id, self.limit),
                                                what=f"status of job {job_id!r}", job_id=job_id, bounded=False)
        if status != self.last_status:
            self.last_status = status
            if self.on_status is not None:
                await self.on_status(status)
        if self.on_poll is not None:
            await self.on_poll(status)
        return status

    async def wait(self, job: AsyncResumableJob[Any], job_id: str) -> str:
        started = self.clock()
        attempt = 0
        while True:
            previous = self.last_status
            status = await self.status(job, job_id)
            if not job.is_job_active(status):
                return status
            if status != previous:
                attempt = 0
            pause = self.policy.pause(attempt, self.rand(), self.clock() - started, job_id=job_id, status=status)
            attempt += 1
            await asyncio.sleep(pause)


class _AsyncRunner(RunSession, Generic[R]):
    __slots__ = ("access", "apoller", "progress_batch", "progress_watch", "typed_job")

    def __init__(self, job: AsyncResumableJob[R], store: Any, key: str, *, fresh: bool, generation: str | None,
                 policy: Policy, poll: PollPolicy, listener: EventListener | None, telemetry: Telemetry | None,
                 limit: asyncio.Semaphore | None, rand: Callable[[], float] | None, attach_only: bool = False,
                 batcher: StatusBatcher | None = None) -> None:
        super().__init__(job, store, key, poll=poll, listener=listener, clock=time.time, sleep=None, rand=rand,
                         blocking=False)
        self.typed_job = job
        # A supervisor hands one StoreAccess to all its runs.
        self.access = store if isinstance(store, StoreAccess) else StoreAccess(store)
        self.telemetry = telemetry
        self.start_run(fresh=fresh, generation=generation, policy=policy, attach_only=attach_only,
                       can_find=callable(getattr(job, "find_job_by_reference", None)),
                       can_cancel=callable(getattr(job, "cancel_job", None)),
                       can_resume=callable(getattr(job, "resume_state", None))
                       and callable(getattr(job, "submit_job_from", None)))
        self.apoller = AsyncPoller(poll, clock=self.clock, rand=self.rand, limit=limit)
        self.apoller.on_status = self._on_status
        self.progress_watch: ProgressWatch | None = None
        if callable(getattr(job, "job_progress", None)) and poll.progress_interval is not None:
            self.progress_watch = ProgressWatch(poll.progress_interval)
            self.apoller.on_poll = self._on_poll
        if self.resume_watch is not None and self.resume_watch.interval is not None:
            self.apoller.on_poll = self._on_poll
        if batcher is not None and batcher.accepts(job):
            self.apoller.batch = batcher
        # Progress goes through the batcher whether or not status does: its budget bounds the calls.
        self.progress_batch = batcher

    async def run(self) -> R:
        """Decide and act to the end; a run that ends, by error or not, gives back its intent lease.

        One coroutine, not one that awaits another: ten thousand waiting runs hold one frame each
        the fewer (0.24 KiB a run, measured)."""
        try:
            await self.aload()
            observation: Observation | None = None
            while True:
                action = decide(self.record, observation, self.request())
                self.count(observation, action)
                if isinstance(action, Write):
                    observation = await self.awrite(action)
                elif isinstance(action, SubmitJob):
                    observation = await self.submit_job(action)
                elif isinstance(action, CheckStatus):
                    observation = await self.check_status(action)
                elif isinstance(action, FindByReference):
                    observation = await self.find(action)
                elif isinstance(action, Poll):
                    observation = await self.poll(action)
                elif isinstance(action, FetchResult):
                    observation = await self.fetch_result(action)
                elif isinstance(action, CancelJob):
                    observation = await self.cancel(action)
                elif isinstance(action, WaitForOwner):
                    await self.wait_for_owner(action)
                    observation = None
                elif isinstance(action, ReturnRecorded):
                    self.emit(action.event)
                    assert self.record is not None
                    result = cast(R, self.record.result)
                    break
                elif isinstance(action, Return):
                    if action.note is not None:
                        self.log(WARNING, action.note)
                    result = cast(R, action.value)
                    break
                elif isinstance(action, Stop):
                    raise self.stop_error(action)
                else:
                    assert_never(action)
        except BaseException as exc:
            await self.give_back_lease(exc)
            raise
        await self.give_back_lease(None)
        return result

    async def give_back_lease(self, ended: BaseException | None) -> None:
        update = self.release_after(ended, self.in_submit)
        if update is not None:
            try:
                landed: bool | BaseException = await self.awrite_once(update)
            except Exception as exc:  # the run's own end is what the caller must see
                landed = exc
            self.lease_released(landed)

    async def cancel_key(self, rerun: bool) -> JobRecord | None:
        """``cancel_resumable_async``: the cancel path's decision, one branch per action."""
        await self.aload()
        observation: Observation | None = None
        while True:
            request = CancelRequest(owner=self.owner, now=self.clock(), can_find=self.can_find,
                                    can_cancel=self.can_cancel, rerun=rerun, key=self.key)
            action = decide_cancel(self.record, observation, request)
            if isinstance(action, Write):
                observation = await self.awrite(action)
            elif isinstance(action, FindByReference):
                observation = await self.find(action)
            elif isinstance(action, CancelJob):
                observation = await self.cancel(action)
                if rerun and isinstance(observation, CancelSent) and self.can_resume:
                    # Where the stopped job got to (a stop-with-savepoint's savepoint): the next run starts there.
                    observation = replace(observation, resume_state=await self._ask_resume_state(action.job_id))
            elif isinstance(action, WaitForOwner):
                await self.wait_for_owner(action)
                observation = None
            elif isinstance(action, ReturnRecord):
                self.emit(action.event)
                return self.record
            elif isinstance(action, Stop):
                raise self.stop_error(action)  # decide_cancel stops only when the job cannot cancel
            else:
                assert_never(action)

    # -- the store ---------------------------------------------------------------------------

    async def aload(self) -> JobRecord | None:
        raw = await self.access.call("get", self.key)
        self.raw, self.record = raw, None if raw is None else JobRecord.from_json(self.key, raw)
        return self.record

    async def awrite_once(self, new: JobRecord) -> bool:
        value = new.to_json()
        if self.access.has_cas:
            ok = bool(await self.access.call("compare_and_set", self.key, self.raw, value))
        else:  # read-compare-write, as the sync runner does on a store without compare-and-set
            ok = await self.access.call("get", self.key) == self.raw
            if ok:
                await self.access.call("set", self.key, value)
        if ok:
            self.raw, self.record = value, new
        return ok

    async def awrite(self, action: Write) -> Observation | None:
        attempt = 0
        while True:
            try:
                landed = await self.awrite_once(action.record)
                break
            except StoreError as exc:
                if not action.must_land:
                    raise
                attempt += 1
                await asyncio.sleep(self.landing_failed(exc, action.record.job_id, attempt))
        observation = self.write_answered(action, landed)
        if not landed:
            await self.aload()
        return observation

    # -- the external system -------------------------------------------------------------------

    async def submit_job(self, action: SubmitJob) -> SubmitAnswered | SubmitRefused | SubmitUnusable:
        self.submitting(action)
        self.in_submit = True  # still set if the call raises (a cancelled task: the call may go on)
        try:
            resuming = cast(AsyncSupportsResumeState, self.job)
            if action.resume_from is not None and self.can_resume:
                job_id = await self.apoller.call(lambda: resuming.submit_job_from(action.reference, action.resume_from))
            else:
                job_id = await self.apoller.call(lambda: self.typed_job.submit_job(action.reference))
        except SubmissionRejected as exc:
            self.in_submit = False
            return SubmitRefused(action.reference, exc)
        self.in_submit = False
        return self.answered(action, job_id)

    async def check_status(self, action: CheckStatus) -> StatusSeen | NotFoundSeen:
        wait = self.confirmation_wait(action)
        if wait:
            await asyncio.sleep(wait)
        try:
            status = await self.apoller.status(self.typed_job, action.job_id)
        except JobNotFound:
            return NotFoundSeen(action.job_id, action.not_found_since)
        return self.seen(action.job_id, status, await self._final_state(action.job_id, status))

    async def find(self, action: FindByReference) -> ReferenceLookup:
        job = cast(AsyncSupportsFindByReference, self.job)
        found = await self.apoller.retry_transient(lambda: job.find_job_by_reference(action.reference),
                                                   what=f"lookup of reference {action.reference!r}")
        return ReferenceLookup(action.reference, found, action.context)

    async def poll(self, action: Poll) -> PollEnded | NotFoundSeen:
        self.emit(action.event)
        job_id = action.job_id
        self.polling_job = job_id
        self.apoller.last_status = self.record.status if self.record is not None else None
        try:
            status = await self.apoller.wait(self.typed_job, job_id)
        except JobNotFound:
            self.log(WARNING, "job vanished while polling", job_id=job_id)
            await self.aload()
            return NotFoundSeen(job_id)
        return self.ended(job_id, status, await self._final_state(job_id, status))

    async def fetch_result(self, action: FetchResult) -> ResultFetched | ResultGone:
        try:
            value = await self.apoller.retry_transient(
                lambda: self.typed_job.get_job_result(action.job_id, action.status),
                what=f"result of job {action.job_id!r}", job_id=action.job_id)
        except JobNotFound:
            return ResultGone(action.job_id, action.status)
        self.emit(action.event)
        return ResultFetched(action.job_id, action.status, value, action.reused)

    async def cancel(self, action: CancelJob) -> Observation | None:
        job = self.job
        if not isinstance(job, AsyncSupportsCancel):
            raise self.cannot_cancel(action.job_id)
        await self.apoller.retry_transient(lambda: job.cancel_job(action.job_id),
                                           what=f"cancel of job {action.job_id!r}", job_id=action.job_id)
        return self.cancelled(action)

    async def wait_for_owner(self, action: WaitForOwner) -> None:
        await asyncio.sleep(self.owner_wait(action))
        await self.aload()

    async def _ask_resume_state(self, job_id: str) -> str | None:
        job = cast(AsyncSupportsResumeState, self.job)
        try:
            answer: object = await self.apoller.call(lambda: job.resume_state(job_id))
        except Exception as exc:  # the last recorded state stands
            answer = exc
        return self.resume_state_answered(job_id, answer)

    async def _final_state(self, job_id: str, status: str) -> str | None:
        """Where a job seen failed got to: the state its resubmission starts from."""
        return await self._ask_resume_state(job_id) if self.wants_final_state(status) else None

    async def _on_poll(self, status: str) -> None:
        """After each status polled: progress, and where the job got to, each at its bounded rate."""
        await self._progress_poll(status)
        job_id = self.polling_job
        if job_id is None or not self.resume_state_due():
            return
        update = self.resume_state_record(job_id, await self._ask_resume_state(job_id))
        if update is None:
            return
        self.resume_state_written(job_id, await self._awrite_informative(update))

    async def _progress_poll(self, status: str) -> None:
        """The job's progress, at the bounded rate, recorded on change."""
        watch, job_id, now = self.progress_watch, self.polling_job, self.clock()
        if watch is None or job_id is None or not watch.due(now, self.job.is_job_active(status)):
            return
        job = cast(AsyncSupportsProgress, self.job)
        batch = self.progress_batch
        seen: Progress | None | object
        try:
            if batch is None:
                seen = await self.apoller.call(lambda: job.job_progress(job_id))
            else:
                # In a batch call with other jobs', or within its system's progress budget (_batch).
                seen = await batch.progress(job, job_id, self.apoller.limit)
        except Exception as exc:  # progress never decides anything, nor costs a poll
            watch.asked(now)
            self.progress_failed(watch, job_id, exc)
            return
        if seen is DEFERRED:
            return  # the budget had no room: asked again at the next poll
        watch.asked(now)
        update = self.progress_seen(watch, job_id, seen)
        if update is None:
            return
        self.progress_written(job_id, await self._awrite_informative(update))

    async def _awrite_informative(self, update: JobRecord) -> bool | BaseException:
        """``_Runner._write_informative``, awaited."""
        try:
            landed = await self.awrite_once(update)
        except Exception as exc:
            return exc
        if not landed:
            await self.aload()
        return landed

    async def _on_status(self, status: str) -> None:
        update = self.status_changed(status)
        if update is None:
            return
        try:
            if not await self.awrite_once(update):
                await self.aload()
        except Exception:  # a status write is informative only; the terminal write is not
            self.log(WARNING, "could not record status %s", status, job_id=update.job_id)


def run_resumable_async(
    job: AsyncResumableJob[R],
    store: Any,
    *,
    key: str,
    fresh: bool = False,
    generation: str | None = None,
    policy: Policy | None = None,
    poll: PollPolicy | None = None,
    listener: EventListener | None = None,
    telemetry: Telemetry | None = None,
    limit: asyncio.Semaphore | None = None,
    rand: Callable[[], float] | None = None,
    attach_only: bool = False,
    batcher: StatusBatcher | None = None,
) -> Coroutine[Any, Any, R]:
    """``run_resumable`` on an event loop: the same decisions, records, events and errors.

    *store* is a ``StateStore`` (a blocking one runs in a worker thread; one with
    ``non_blocking = True``, like ``MemoryStateStore``, is called in place) or an
    ``AsyncStateStore``. *limit* bounds the calls in flight to the external system
    across every run that shares it (the ``Supervisor`` passes one). *attach_only*: as
    for ``run_resumable``, never submit. *batcher*: when the job can list many
    statuses in one call (``AsyncSupportsBatchStatus``), its status checks go out in
    the batcher's listings, shared with the other runs that use it (the ``Supervisor``
    passes one); nothing decided changes.

    The job and key are checked when it is called, before anything is awaited; it
    returns the run's coroutine itself (no wrapper frame: ten thousand waiting runs
    hold one frame less each).
    """
    check_async_job(job)
    return _AsyncRunner(
        job, store, key, fresh=fresh, generation=generation, policy=policy if policy is not None else Policy(),
        poll=poll if poll is not None else PollPolicy(), listener=listener, telemetry=telemetry, limit=limit,
        rand=rand, attach_only=attach_only, batcher=batcher,
    ).run()


def cancel_resumable_async(
    job: AsyncResumableJob[Any],
    store: Any,
    *,
    key: str,
    poll: PollPolicy | None = None,
    listener: EventListener | None = None,
    rerun: bool = False,
    limit: asyncio.Semaphore | None = None,
) -> Coroutine[Any, Any, JobRecord | None]:
    """``cancel_resumable`` on an event loop: the same decision (``decide_cancel``), records and errors.

    The record becomes CANCELLED before the job is killed (FAILED after it with
    *rerun*); an intent is looked up by reference, or waited for while another
    process submits; calling it again re-sends the cancel. *limit* bounds the calls
    in flight as for ``run_resumable_async``. Checked when called, before anything
    is awaited.
    """
    check_async_job(job)
    runner = _AsyncRunner(job, store, key, fresh=False, generation=None, policy=Policy(),
                          poll=poll if poll is not None else PollPolicy(), listener=listener, telemetry=None,
                          limit=limit, rand=None)
    return runner.cancel_key(rerun)


__all__ = [
    "AsyncPoller",
    "AsyncResumableJob",
    "AsyncStateStore",
    "AsyncSupportsCancel",
    "AsyncSupportsFindByReference",
    "StoreAccess",
    "cancel_resumable_async",
    "check_async_job",
    "run_resumable_async",
]
