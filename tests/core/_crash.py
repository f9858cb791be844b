"""Crash-injection machinery for tests/core/test_crash_injection.py.

- ``Caller``: one process calling run_resumable. Every I/O step it makes (each
  store call, each call to the external system) goes through ``Caller.step``,
  which can apply a ``Fault`` scheduled for that step number: the process dies
  before or after the call (``Crash``), the system answers transiently, forgets
  the recorded job, or loses the response to a submit that it accepted.
- ``ClusterView``: the external system as the harness sees it: every job it holds
  (the proof of what ran), how it forgets one, and where transient failures and lost
  submit responses are injected. ``FakeSystemView`` over the in-memory fake (it fails
  by itself); ``InjectedFaults`` for real adapters, whose job proxy fails instead
  (tests/contracts/crash_properties.py: YARN and Kubernetes).
- ``World``: what all callers of one example share (the cluster view, the key,
  a checking view of the store) and the invariants checked after every step.
- ``Scheduler``: a deterministic interleaving of several callers, each in its
  own thread, over virtual time (see its docstring).
- ``drive``: restart a caller after each crash until run_resumable returns.
- ``operator_cancels``: another process running cancel_resumable, interleaved.
"""

from __future__ import annotations

import enum
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import (
    CompareAndSetStore,
    JobFailed,
    JobLost,
    JobRecord,
    JsonValue,
    MemoryStateStore,
    Outcome,
    Phase,
    Policy,
    Poller,
    PollPolicy,
    ResultUnavailable,
    ResumableError,
    StateStore,
    StoreError,
    StoreUnavailable,
    TransientError,
    cancel_resumable,
    load_record,
    run_resumable,
)
from resumable_core.testing import (
    ACTIVE,
    CANCELLED,
    FAILED,
    SUCCEEDED,
    BatchFakeJob,
    FakeClock,
    FakeExternalSystem,
    FakeJob,
    PlainFakeJob,
)

T = TypeVar("T")


class Crash(BaseException):
    """The caller's process dies here.

    A BaseException: a dying process runs none of the library's ``except
    Exception`` handlers, so none of them may absorb it.
    """


class Violation(BaseException):
    """An invariant broke. A BaseException so that no handler in the core hides it;
    ``drive`` turns it into an AssertionError, which hypothesis shrinks and reports."""


class FaultKind(enum.Enum):
    CRASH_BEFORE = "crash before the call"
    CRASH_AFTER = "crash after the call took effect"
    TRANSIENT = "the system answers transiently"
    FORGET = "the system forgets the recorded job"
    LOSE_SUBMIT_RESPONSE = "the next submit is accepted but its response lost"
    ERROR_BEFORE = "the call fails without effect (StoreUnavailable, or TransientError from the system)"
    ERROR_AFTER = "the call takes effect and its answer is lost (StoreUnavailable / TransientError)"
    REPLACE = "another job takes the recorded job's name (a pod recreated under the same name)"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    count: int = 1  # TRANSIENT: how many next calls to the system fail

    def __repr__(self) -> str:
        return f"{self.kind.name}" + (f"x{self.count}" if self.kind is FaultKind.TRANSIENT else "")


CRASHES = (FaultKind.CRASH_BEFORE, FaultKind.CRASH_AFTER)
STORE_CALLS = frozenset({"get", "set", "cas", "delete"})


def lost_answer(name: str, when: str) -> Exception:
    """What a caller sees when the store or the system did not answer."""
    if name in STORE_CALLS:
        return StoreUnavailable(f"fault injected {when} store {name}")
    return TransientError(f"fault injected {when} {name}")


# -- the external system as the harness sees it ---------------------------------------------------

ACTIVE_STATE, SUCCEEDED_STATE, FAILED_STATE, CANCELLED_STATE = "active", "succeeded", "failed", "cancelled"
GONE_STATE = "gone"  # forgotten while it ran: it runs nowhere any more, and ended in no state


@dataclass(frozen=True)
class SystemJob:
    """One job the external system holds, or held before it forgot it."""

    job_id: str
    reference: str
    state: str  # one of the *_STATE names above
    forgotten: bool = False

    @property
    def active(self) -> bool:
        return self.state == ACTIVE_STATE

    @property
    def succeeded(self) -> bool:
        return self.state == SUCCEEDED_STATE


class ClusterView(Protocol):
    """What the harness needs of an external system, whichever one runs the jobs."""

    def jobs(self) -> list[SystemJob]:
        """Every job submitted in this example, as of now; forgotten ones included (and marked).
        Read from the system's own state: the proof that no second job ran."""
        ...

    def forget(self, job_id: str) -> None:
        """The system loses the job (a master restarted without recovery); nothing if it holds none."""
        ...

    def replace(self, job_id: str) -> None:
        """Someone else puts another job under the job's name (Kubernetes only)."""
        ...

    def fail_next_calls(self, count: int) -> None:
        """The next *count* calls to the system (any caller's) answer TransientError."""
        ...

    def lose_next_submit_response(self) -> None:
        """The next submit is accepted, and its caller sees a TransientError."""
        ...

    def call(self, name: str, call: Callable[[], T]) -> T:
        """Every call a job proxy makes to the system goes through here (*name*: submit, status...)."""
        ...

    def result_job_id(self, result: JsonValue) -> str:
        """The job whose (succeeded) result *result* is; asserts what the result says of itself."""
        ...


def job_in(cluster: ClusterView, job_id: str) -> SystemJob | None:
    return next((j for j in cluster.jobs() if j.job_id == job_id), None)


_FAKE_STATES = {SUCCEEDED: SUCCEEDED_STATE, FAILED: FAILED_STATE, CANCELLED: CANCELLED_STATE}


class FakeSystemView:
    """The in-memory FakeExternalSystem: it injects its own faults (a forgotten job still
    runs there, frozen, so a cancel still stops it)."""

    def __init__(self, system: FakeExternalSystem) -> None:
        self.system = system

    def jobs(self) -> list[SystemJob]:
        return [SystemJob(r.job_id, r.reference, ACTIVE_STATE if r.status in ACTIVE else _FAKE_STATES[r.status],
                          r.forgotten) for r in self.system.runs.values()]

    def forget(self, job_id: str) -> None:
        if job_id in self.system.runs:
            self.system.forget(job_id)

    def replace(self, job_id: str) -> None:
        raise AssertionError("the fake system has no names to take: REPLACE is for Kubernetes")

    def fail_next_calls(self, count: int) -> None:
        self.system.transient_failures = count

    def lose_next_submit_response(self) -> None:
        self.system.lose_next_submit_response = True

    def call(self, name: str, call: Callable[[], T]) -> T:
        return call()

    def result_job_id(self, result: JsonValue) -> str:
        assert isinstance(result, dict), result
        job_id = str(result["job_id"])
        assert result["reference"] == self.system.runs[job_id].reference, result
        assert result["status"] == "SUCCEEDED", result
        return job_id


class InjectedFaults:
    """Transient failures and lost submit responses for a real system, which cannot be told to
    fail: the job proxy fails in its place. TRANSIENT: the next N calls raise TransientError
    without being made; LOSE_SUBMIT_RESPONSE: the submit really happens (spark-submit
    launched, the application registered), then its caller sees a TransientError, as after
    a spark-submit timeout."""

    def __init__(self) -> None:
        self.transient = 0
        self.lose_submit = False
        self.injected = 0  # how many calls a fault changed: a property can check its faults landed

    def fail_next_calls(self, count: int) -> None:
        self.transient = count

    def lose_next_submit_response(self) -> None:
        self.lose_submit = True

    def call(self, name: str, call: Callable[[], T]) -> T:
        if self.transient > 0:
            self.transient -= 1
            self.injected += 1
            raise TransientError(f"fault injected: {name} not sent")
        result = call()
        if name == "submit" and self.lose_submit:
            self.lose_submit = False
            self.injected += 1
            raise TransientError(f"fault injected: the response to submit was lost (job {result} exists)")
        return result


@dataclass(frozen=True)
class CancelSeen:
    """An operator's cancel took effect, on the submission with this reference."""

    reference: str


@dataclass
class World:
    """State shared by every caller of one example, and the invariants on it."""

    cluster: ClusterView
    checker: StateStore  # the store as a bystander sees it, never faulted
    key: str
    at_most_one_live: bool  # asserted after every step when the setting promises it
    clock: FakeClock = field(default_factory=FakeClock)
    success_recorded: bool = False
    submits: int = 0
    cancel: CancelSeen | None = None
    cancel_stops_the_run: bool = True  # check that no new reference is submitted after a cancel
    excuse_unnamed_superseded: bool = False
    # More invariants of a particular system, checked after every step: a message when broken.
    step_checks: Sequence[Callable[[World], str | None]] = ()
    violations: list[str] = field(default_factory=list)

    def live_jobs(self) -> list[str]:
        """Jobs the system still runs. A forgotten job counts as gone: in the fake
        it never advances again, as a driver lost in a master restart."""
        excused = self.unnamed_superseded()
        return [j.job_id for j in self.cluster.jobs() if j.active and not j.forgotten and j.reference not in excused]

    def unnamed_superseded(self) -> frozenset[str]:
        """References of intents a new spec or generation replaced before their job id
        was known: documented as left alone (decide(): "left alone (documented)")."""
        if not self.excuse_unnamed_superseded:
            return frozenset()
        record = self.record()
        if record is None:
            return frozenset()
        return frozenset(
            h.reference for h in record.history if h.job_id is None and h.outcome is Outcome.SUPERSEDED
        )

    def record(self) -> JobRecord | None:
        return load_record(self.checker, self.key)

    def fail(self, message: str) -> None:
        self.violations.append(message)
        raise Violation(message)

    def check_live(self) -> None:
        if self.at_most_one_live:
            live = self.live_jobs()
            if len(live) > 1:
                self.fail(f"more than one live job for key {self.key!r}: {live}")
        for check in self.step_checks:
            message = check(self)
            if message is not None:
                self.fail(message)

    def before_submit(self, reference: str) -> None:
        # A submission whose intent was written before another process recorded a success
        # goes ahead (no store can stop a call already decided); its submitter then finds the
        # key taken and cancels the duplicate, or lists it when it cannot (decide's
        # _after_submit): what the end-state checks see. Deciding to submit after a recorded
        # success is the bug, and it shows as an intent written then (``wrote``).
        self.submits += 1
        if self.cancel_stops_the_run and self.cancel is not None and reference != self.cancel.reference:
            self.fail(f"a new submission (reference {reference}) after key {self.key!r} was cancelled")

    def wrote(self, value: JsonValue) -> None:
        if not isinstance(value, dict):
            return
        if value.get("phase") == "succeeded":
            self.success_recorded = True
        if value.get("phase") == "intent" and self.success_recorded:
            self.fail(f"an intent (reference {value.get('reference')}) written after a success was recorded "
                      f"for key {self.key!r}")
        if value.get("phase") == "cancelled":  # only cancel_resumable writes it
            self.note_cancel(str(value.get("reference")))

    def note_cancel(self, reference: str) -> None:
        """The operator's cancel takes effect (it writes the record, or stops a running job)."""
        if self.cancel is None:
            self.cancel = CancelSeen(reference)

    def forget_recorded_job(self) -> None:
        record = self.record()
        if record is not None and record.job_id is not None:
            self.cluster.forget(record.job_id)

    def replace_recorded_job(self) -> None:
        record = self.record()
        if record is not None and record.job_id is not None:
            self.cluster.replace(record.job_id)


class Caller:
    """One process: its fault schedule, its step counter, its place in the interleaving."""

    def __init__(
        self,
        world: World,
        faults: dict[int, Fault],
        *,
        scheduler: Scheduler | None = None,
        index: int = 0,
    ) -> None:
        self.world = world
        self.faults = dict(faults)
        self.scheduler = scheduler
        self.index = index
        self.steps = 0
        self.trace: list[str] = []  # "name" per step, for locating step boundaries
        self.errors: list[str] = []  # errors that ended an attempt, by type name

    def step(self, name: str, call: Callable[[], T], *, reference: str | None = None) -> T:
        if self.scheduler is not None:
            self.scheduler.yield_point(self.index)
        fault = self.faults.pop(self.steps, None)
        self.steps += 1
        self.trace.append(name)
        cluster = self.world.cluster
        if fault is not None:
            if fault.kind is FaultKind.CRASH_BEFORE:
                raise Crash(f"before step {self.steps - 1} ({name})")
            if fault.kind is FaultKind.ERROR_BEFORE:
                raise lost_answer(name, "before")
            if fault.kind is FaultKind.TRANSIENT:
                cluster.fail_next_calls(fault.count)
            elif fault.kind is FaultKind.FORGET:
                self.world.forget_recorded_job()
            elif fault.kind is FaultKind.REPLACE:
                self.world.replace_recorded_job()
            elif fault.kind is FaultKind.LOSE_SUBMIT_RESPONSE:
                cluster.lose_next_submit_response()
        if reference is not None:
            self.world.before_submit(reference)
        try:
            result = call()
        finally:
            self.world.check_live()
        if fault is not None and fault.kind is FaultKind.CRASH_AFTER:
            raise Crash(f"after step {self.steps - 1} ({name})")
        if fault is not None and fault.kind is FaultKind.ERROR_AFTER:
            raise lost_answer(name, "after")
        return result

    def system_step(self, name: str, call: Callable[[], T], *, reference: str | None = None) -> T:
        """A step that calls the external system (where a real system's faults are injected)."""
        return self.step(name, lambda: self.world.cluster.call(name, call), reference=reference)

    def sleep(self, seconds: float) -> None:
        if self.scheduler is not None:
            self.scheduler.sleep(self.index, seconds)
        else:
            self.world.clock.sleep(seconds)


# -- proxies: every call is a step -----------------------------------------------------------


class StoreProxy:
    def __init__(self, store: StateStore, caller: Caller) -> None:
        self.store = store
        self.caller = caller

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        return self.caller.step("get", lambda: self.store.get(key, default))

    def set(self, key: str, value: JsonValue) -> None:
        def call() -> None:
            self.store.set(key, value)
            self.caller.world.wrote(value)  # before a crash-after can hit: the write is durable

        self.caller.step("set", call)

    def delete(self, key: str) -> None:
        self.caller.step("delete", lambda: self.store.delete(key))


class CasStoreProxy(StoreProxy):
    def __init__(self, store: CompareAndSetStore, caller: Caller) -> None:
        super().__init__(store, caller)
        self.cas_store = store

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        def call() -> bool:
            ok = self.cas_store.compare_and_set(key, expected, value)
            if ok:  # noted before a crash-after can hit: the write is durable
                self.caller.world.wrote(value)
            return ok

        return self.caller.step("cas", call)


def proxy_store(store: StateStore, caller: Caller) -> StateStore:
    """A proxy with compare-and-set exactly when the store has it (the core checks with isinstance)."""
    if isinstance(store, CompareAndSetStore):
        return CasStoreProxy(store, caller)
    return StoreProxy(store, caller)


class FullJob(Protocol):
    """A job with every capability (find by reference, cancel, fingerprint): FakeJob, the Spark adapters."""

    def submit_job(self, reference: str) -> str: ...

    def get_job_status(self, job_id: str) -> str: ...

    def is_job_active(self, status: str) -> bool: ...

    def is_job_succeeded(self, status: str) -> bool: ...

    def get_job_result(self, job_id: str, status: str) -> Any: ...

    def find_job_by_reference(self, reference: str) -> str | None: ...

    def cancel_job(self, job_id: str) -> None: ...

    def job_fingerprint(self) -> str: ...


# Batched status on (tests/core/test_crash_batched.py): a job that can list asks its listing first, as the
# supervisor's StatusBatcher does for each job, and only an id the listing leaves out is asked directly.
# Each listing is a step of its own, where faults land like on any call to the system.
BATCHED = False


@contextmanager
def batched_status() -> Iterator[None]:
    """Batched status on for what runs inside (one test at a time per process: a module switch)."""
    global BATCHED
    BATCHED = True
    try:
        yield
    finally:
        BATCHED = False


class PlainJobProxy:
    """The five required operations; no lookup, so an intent without id is ambiguous.

    *remake*, when given, builds the job anew for each attempt (``new_process``): an
    adapter's memory (a cached status, the pods it deleted) dies with its process.
    """

    def __init__(self, job: PlainFakeJob | FullJob, caller: Caller, *,
                 remake: Callable[[], FullJob] | None = None) -> None:
        self.job = job
        self.caller = caller
        self.remake = remake

    def new_process(self) -> None:
        if self.remake is not None:
            self.job = self.remake()

    def submit_job(self, reference: str) -> str:
        return self.caller.system_step("submit", lambda: self.job.submit_job(reference), reference=reference)

    def get_job_status(self, job_id: str) -> str:
        job: Any = self.job
        if BATCHED and callable(getattr(job, "get_job_statuses", None)) and job.batch_key:
            listed: dict[str, str] = self.caller.system_step("list", lambda: dict(job.get_job_statuses([job_id])))
            if job_id in listed:
                status: str = listed[job_id]
                return status
        return self.caller.system_step("status", lambda: self.job.get_job_status(job_id))

    def is_job_active(self, status: str) -> bool:
        return self.job.is_job_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.job.is_job_succeeded(status)

    def poll_until_complete(self, job_id: str, poller: Poller) -> str:
        return poller.wait(self, job_id)  # through the proxy: each poll is a step

    def get_job_result(self, job_id: str, status: str) -> JsonValue:
        result: JsonValue = self.caller.system_step("result", lambda: self.job.get_job_result(job_id, status))
        return result


class FullJobProxy(PlainJobProxy):
    """Every capability: find by reference, cancel, fingerprint."""

    def __init__(self, job: FullJob, caller: Caller, *, remake: Callable[[], FullJob] | None = None) -> None:
        super().__init__(job, caller, remake=remake)
        self.full = job

    def new_process(self) -> None:
        if self.remake is not None:
            self.full = self.remake()
            self.job = self.full

    def find_job_by_reference(self, reference: str) -> str | None:
        return self.caller.system_step("find", lambda: self.full.find_job_by_reference(reference))

    def cancel_job(self, job_id: str) -> None:
        self.caller.system_step("cancel", lambda: self.full.cancel_job(job_id))

    def job_fingerprint(self) -> str:
        return self.full.job_fingerprint()  # computed locally, not I/O


class OperatorJobProxy(FullJobProxy):
    """The operator's job: its cancel is the moment the cancellation takes effect."""

    def cancel_job(self, job_id: str) -> None:
        def call() -> None:
            world = self.caller.world
            target = job_in(world.cluster, job_id)
            running = target is not None and target.active
            world.cluster.call("cancel", lambda: self.full.cancel_job(job_id))
            if running and target is not None:  # cancelling an ended job changes nothing
                world.note_cancel(target.reference)

        self.caller.step("cancel", call)


def proxy_job(system: FakeExternalSystem, caller: Caller, *, can_find: bool) -> PlainJobProxy:
    if can_find:
        return FullJobProxy(BatchFakeJob(system) if BATCHED else FakeJob(system), caller)
    return PlainJobProxy(PlainFakeJob(system), caller)


# -- what every crash property shares: settings, strategies, stores, quiet logs -----------------------

POLL = PollPolicy(min_interval=1.0, max_interval=8.0)
# What an orchestrator's retry follows with a new run. JobLost included: a run stops after
# Policy.max_lost_resubmits resubmissions of forgotten jobs, and the next try goes on.
RESTART_ON = (TransientError, StoreError, JobFailed, JobLost, ResultUnavailable)
SCALE = float(os.environ.get("RESUMABLE_CRASH_SCALE", "1"))


def examples(count: int) -> int:
    return max(1, int(count * SCALE))


def profile(count: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples(count),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- strategies -------------------------------------------------------------------------------

ANY_FAULT = st.one_of(
    st.sampled_from(
        [Fault(FaultKind.CRASH_BEFORE)] * 3
        + [Fault(FaultKind.CRASH_AFTER)] * 3
        + [Fault(FaultKind.FORGET), Fault(FaultKind.LOSE_SUBMIT_RESPONSE)]
        + [Fault(FaultKind.ERROR_BEFORE), Fault(FaultKind.ERROR_AFTER)]
    ),
    st.builds(Fault, st.just(FaultKind.TRANSIENT), st.integers(1, 12)),
)


def schedules(fault: st.SearchStrategy[Fault], last_step: int = 90) -> st.SearchStrategy[dict[int, Fault]]:
    return st.dictionaries(st.integers(0, last_step), fault, max_size=10)


CHOICES = st.lists(st.integers(0, 1), max_size=200)  # who runs next at each hand-over
LEASES = st.sampled_from([1.0, 10.0, 120.0])


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Thousands of schedules log tens of thousands of lines nobody reads; the logs
    themselves are tested in tests/core/test_run_cases.py and the adapters' own tests."""
    loggers = [logging.getLogger(name) for name in ("resumable_core", "resumable_adapters")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def sqlite_dir() -> Iterator[str]:
    """A directory for one example's SQLite file: on tmpfs when there is one, where
    fsync is free (durability is not what these properties are about)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = tempfile.mkdtemp(prefix="resumable-crash-", dir=base)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Stores:
    """One store per caller (a SQLite caller opens its own connection) plus a checker's view."""

    def __init__(self, kind: str, directory: str | None) -> None:
        self.kind = kind
        self.directory = directory
        self.memory = MemoryStateStore()
        self.opened: list[SqliteStateStore] = []

    def open(self) -> StateStore:
        if self.kind == "memory":
            return self.memory
        assert self.directory is not None
        store = SqliteStateStore(os.path.join(self.directory, "state.db"))
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            store.close()


@contextmanager
def stores(kind: str) -> Iterator[Stores]:
    if kind == "memory":
        made = Stores(kind, None)
        yield made
        return
    with sqlite_dir() as directory:
        made = Stores(kind, directory)
        try:
            yield made
        finally:
            made.close()




# -- the driver -----------------------------------------------------------------------------


@dataclass
class Ending:
    """How a caller's sequence of attempts ended: a result, or an error that needs a human."""

    result: JsonValue = None
    stopped: BaseException | None = None
    attempts: int = 0


def drive(
    caller: Caller,
    job: PlainJobProxy,
    store: StateStore,
    *,
    policy: Policy,
    poll: PollPolicy,
    restart_on: tuple[type[BaseException], ...],
    stop_on: tuple[type[BaseException], ...] = (),
    generation: str | None = None,
    abandon_on_crash: bool = False,
    max_attempts: int = 60,
) -> Ending:
    """Call run_resumable again after every crash (and every error in *restart_on*,
    as an orchestrator's retry would) until it returns or raises one of *stop_on*.

    Each attempt is a new run_resumable call: a new process with a new owner id,
    the same store and the same external system. Once an operator cancelled the
    key, nothing restarts it: the attempt under way is the last; nor does
    anything after a crash with *abandon_on_crash* (the next logical run follows).
    """
    world = caller.world
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            job.new_process()
        try:
            result = run_resumable(
                job,
                store,
                key=world.key,
                generation=generation,
                policy=policy,
                poll=poll,
                clock=world.clock,
                sleep=caller.sleep,
                rand=lambda: 0.5,  # no jitter: a schedule replays exactly
            )
        except Violation as exc:
            raise AssertionError(str(exc)) from exc
        except Crash as exc:
            if world.cancel is not None or abandon_on_crash:
                return Ending(stopped=exc, attempts=attempt)
            continue
        except stop_on as exc:
            caller.errors.append(type(exc).__name__)
            return Ending(stopped=exc, attempts=attempt)
        except restart_on as exc:
            caller.errors.append(type(exc).__name__)
            if world.cancel is not None:
                return Ending(stopped=exc, attempts=attempt)
            continue
        return Ending(result=result, attempts=attempt)
    raise AssertionError(f"no result after {max_attempts} attempts; errors {caller.errors}")


# -- a deterministic interleaving --------------------------------------------------------------


class SchedulerStuck(BaseException):
    """A thread waited for its turn for far too long: a bug in the harness, not the core."""


class Scheduler:
    """Runs several callers, one thread each, one step at a time, in an order drawn by the test.

    Exactly one thread runs at any moment; it hands the turn over at each step
    (before each store or system call) and when it sleeps. The next thread is
    ``runnable[choice % len(runnable)]`` with *choices* drawn by hypothesis
    (the first runnable once they run out), so a schedule replays and shrinks.

    Time is virtual (a FakeClock) and moves only when every live thread sleeps:
    it jumps to the earliest wake-up. So store and system calls take no time,
    which is the core's documented assumption that the intent lease outlasts any
    submit call; a crashed caller's lease, on the other hand, does run out while
    the others wait, as it would in real life.
    """

    def __init__(self, count: int, choices: Sequence[int], clock: FakeClock) -> None:
        self.cond = threading.Condition()
        self.clock = clock
        self.turn: int | None = None
        self.wake: list[float | None] = [None] * count
        self.until: list[Callable[[], bool] | None] = [None] * count
        self.done = [False] * count
        self.choices: Iterator[int] = iter(choices)

    def begin(self) -> None:
        with self.cond:
            self._hand_over()

    def start(self, me: int) -> None:
        with self.cond:
            self._wait_turn(me)

    def yield_point(self, me: int) -> None:
        with self.cond:
            self._hand_over()
            self._wait_turn(me)

    def sleep(self, me: int, seconds: float) -> None:
        with self.cond:
            self.wake[me] = self.clock.now + max(0.0, seconds)
            self._hand_over()
            self._wait_turn(me)
            self.wake[me] = None

    def wait_until(self, me: int, condition: Callable[[], bool]) -> None:
        """Not runnable until *condition* holds (checked at each hand-over)."""
        with self.cond:
            self.until[me] = condition
            self._hand_over()
            self._wait_turn(me)
            self.until[me] = None

    def finish(self, me: int) -> None:
        with self.cond:
            self.done[me] = True
            self._hand_over()

    def _runnable(self) -> list[int]:
        return [i for i in range(len(self.done)) if self._ready(i)]

    def _ready(self, i: int) -> bool:
        wake, condition = self.wake[i], self.until[i]
        return (
            not self.done[i]
            and (wake is None or wake <= self.clock.now)
            and (condition is None or condition())
        )

    def _hand_over(self) -> None:
        runnable = self._runnable()
        if not runnable:
            sleeping = [w for i, w in enumerate(self.wake) if not self.done[i] and w is not None]
            if sleeping:
                self.clock.now = max(self.clock.now, min(sleeping))
                runnable = self._runnable()
        if not runnable:
            self.turn = None
        elif len(runnable) == 1:
            self.turn = runnable[0]
        else:
            self.turn = runnable[next(self.choices, 0) % len(runnable)]
        self.cond.notify_all()

    def _wait_turn(self, me: int) -> None:
        while self.turn != me:
            if not self.cond.wait(timeout=60):
                raise SchedulerStuck(f"thread {me} never got its turn back (turn={self.turn})")


def operator_cancels(
    world: World, store: StateStore, scheduler: Scheduler, runner: Caller, *, index: int, after_steps: int,
    job: FullJob,
) -> Callable[[], Ending]:
    """An operator (another process, with its own *job*) who runs cancel_resumable once the
    runner took *after_steps* steps.

    Its store and system calls are steps too, so the interleaving can slip the
    runner's steps between any two of them.
    """
    operator = Caller(world, {}, scheduler=scheduler, index=index)
    proxy = OperatorJobProxy(job, operator)
    proxied = proxy_store(store, operator)

    def body() -> Ending:
        scheduler.wait_until(index, lambda: runner.steps >= after_steps or scheduler.done[runner.index])
        error: ResumableError | None = None
        for _ in range(5):  # a cancel that failed half-way is repeated (its docstring says so)
            try:
                cancel_resumable(proxy, proxied, key=world.key, clock=world.clock, sleep=operator.sleep)
                return Ending()
            except ResumableError as exc:  # the system stayed unreachable
                error = exc
        return Ending(stopped=error)

    return body


def run_interleaved(scheduler: Scheduler, bodies: Sequence[Callable[[], Ending]]) -> list[Ending]:
    """Run *bodies* in threads under *scheduler*; re-raise the first error any of them hit."""
    endings: list[Ending | None] = [None] * len(bodies)
    errors: list[BaseException | None] = [None] * len(bodies)

    def thread_main(me: int) -> None:
        try:
            scheduler.start(me)
            endings[me] = bodies[me]()
        except BaseException as exc:  # carried to the main thread, re-raised there
            errors[me] = exc
        finally:
            scheduler.finish(me)

    threads = [threading.Thread(target=thread_main, args=(i,), daemon=True) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    scheduler.begin()
    for thread in threads:
        thread.join(timeout=120)
        if thread.is_alive():
            raise AssertionError("an interleaved caller did not finish")
    for error in errors:
        if error is not None:
            raise error
    return [ending for ending in endings if ending is not None]


# -- invariants on the end state ----------------------------------------------------------------


def check_every_submission_in_history(world: World, *, except_reference: str | None = None) -> None:
    """Every job the system received is named, with its reference, in the record's history
    (but those submitted under *except_reference*, when given)."""
    record = world.record()
    jobs = world.cluster.jobs()
    if record is None:
        assert not jobs, f"jobs submitted, no record: {jobs}"
        return
    recorded = {(h.reference, h.job_id) for h in record.history if h.job_id is not None}
    excused = world.unnamed_superseded()
    for job in jobs:
        if job.reference == except_reference or job.reference in excused:
            continue
        assert (job.reference, job.job_id) in recorded, (
            f"job {job.job_id} (reference {job.reference}) missing from the history {record.history}"
        )
    job_ids = [h.job_id for h in record.history if h.job_id is not None]
    assert len(job_ids) == len(set(job_ids)), f"a job appears twice in the history {record.history}"


def check_result_matches_record(world: World, result: JsonValue) -> JobRecord:
    """The value returned is the result of the recorded, succeeded job."""
    record = world.record()
    assert record is not None
    assert record.phase.value == "succeeded", record
    assert world.cluster.result_job_id(result) == record.job_id, (result, record)
    assert record.has_result and record.result == result
    job = job_in(world.cluster, str(record.job_id))
    assert job is not None and job.reference == record.reference and job.succeeded, (job, record)
    return record


def check_cancel_kept(world: World, ending: Ending) -> None:
    """An operator's cancel is never undone by the run that was under way.

    No new reference is submitted after it (checked at each submit); no job is
    left running (the one behind an in-flight submit included); the record stays
    cancelled, or says succeeded when its job did finish before the kill landed
    (a FAILED there would make the next automatic retry resubmit).
    """
    assert world.cancel is not None
    assert not world.live_jobs(), f"jobs still running after the cancel: {world.live_jobs()}"
    record = world.record()
    assert record is not None
    if record.phase is Phase.SUCCEEDED:
        job = job_in(world.cluster, str(record.job_id))
        assert job is not None and job.succeeded, (record, job)
    else:
        assert record.phase is Phase.CANCELLED, f"the cancelled record was overwritten: {record}"
    if ending.stopped is None:
        assert record.phase is Phase.SUCCEEDED and ending.result == record.result


def check_full_run(world: World, caller: Caller, ending: Ending, faults: dict[int, Fault]) -> None:
    """The invariants of a caller that can find its jobs by reference."""
    assert not world.violations
    record = check_result_matches_record(world, ending.result)
    check_every_submission_in_history(world)
    assert record.history[-1].job_id == record.job_id
    assert record.history[-1].outcome is Outcome.SUCCEEDED
    # Nothing was submitted again without cause: every job but the last failed or
    # was forgotten by the system (a success is never redone, none left running).
    for job in world.cluster.jobs():
        if job.job_id != record.job_id:
            assert job.state == FAILED_STATE or job.forgotten, (job, record.history)
    if "ResultUnavailable" in caller.errors:
        assert any(f.kind is FaultKind.FORGET for f in faults.values()), caller.errors
