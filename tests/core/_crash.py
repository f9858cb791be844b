"""Crash-injection machinery for tests/core/test_crash_injection.py.

- ``Caller``: one process calling run_resumable. Every I/O step it makes (each
  store call, each call to the external system) goes through ``Caller.step``,
  which can apply a ``Fault`` scheduled for that step number: the process dies
  before or after the call (``Crash``), the system answers transiently, forgets
  the recorded job, or loses the response to a submit that it accepted.
- ``World``: what all callers of one example share (the fake system, the key,
  a checking view of the store) and the invariants checked after every step.
- ``Scheduler``: a deterministic interleaving of several callers, each in its
  own thread, over virtual time (see its docstring).
- ``drive``: restart a caller after each crash until run_resumable returns.
- ``operator_cancels``: another process running cancel_resumable, interleaved.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from resumable_core import (
    CompareAndSetStore,
    JobRecord,
    JsonValue,
    Outcome,
    Phase,
    Policy,
    Poller,
    PollPolicy,
    ResumableError,
    StateStore,
    StoreUnavailable,
    TransientError,
    cancel_resumable,
    load_record,
    run_resumable,
)
from resumable_core.testing import ACTIVE, SUCCEEDED, FakeClock, FakeExternalSystem, FakeJob, PlainFakeJob

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


@dataclass(frozen=True)
class CancelSeen:
    """An operator's cancel took effect, on the submission with this reference."""

    reference: str


@dataclass
class World:
    """State shared by every caller of one example, and the invariants on it."""

    system: FakeExternalSystem
    checker: StateStore  # the store as a bystander sees it, never faulted
    key: str
    at_most_one_live: bool  # asserted after every step when the setting promises it
    clock: FakeClock = field(default_factory=FakeClock)
    success_recorded: bool = False
    submits: int = 0
    cancel: CancelSeen | None = None
    cancel_stops_the_run: bool = True  # check that no new reference is submitted after a cancel
    excuse_unnamed_superseded: bool = False
    violations: list[str] = field(default_factory=list)

    def live_jobs(self) -> list[str]:
        """Jobs the system still runs. A forgotten job counts as gone: in the fake
        it never advances again, as a driver lost in a master restart."""
        excused = self.unnamed_superseded()
        return [
            r.job_id
            for r in self.system.runs.values()
            if r.status in ACTIVE and not r.forgotten and r.reference not in excused
        ]

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

    def before_submit(self, reference: str) -> None:
        self.submits += 1
        if self.success_recorded:
            self.fail(f"a submission after a success was recorded for key {self.key!r}")
        if self.cancel_stops_the_run and self.cancel is not None and reference != self.cancel.reference:
            self.fail(f"a new submission (reference {reference}) after key {self.key!r} was cancelled")

    def wrote(self, value: JsonValue) -> None:
        if not isinstance(value, dict):
            return
        if value.get("phase") == "succeeded":
            self.success_recorded = True
        if value.get("phase") == "cancelled":  # only cancel_resumable writes it
            self.note_cancel(str(value.get("reference")))

    def note_cancel(self, reference: str) -> None:
        """The operator's cancel takes effect (it writes the record, or stops a running job)."""
        if self.cancel is None:
            self.cancel = CancelSeen(reference)

    def forget_recorded_job(self) -> None:
        record = self.record()
        if record is not None and record.job_id is not None and record.job_id in self.system.runs:
            self.system.forget(record.job_id)


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
        system = self.world.system
        if fault is not None:
            if fault.kind is FaultKind.CRASH_BEFORE:
                raise Crash(f"before step {self.steps - 1} ({name})")
            if fault.kind is FaultKind.ERROR_BEFORE:
                raise lost_answer(name, "before")
            if fault.kind is FaultKind.TRANSIENT:
                system.transient_failures = fault.count
            elif fault.kind is FaultKind.FORGET:
                self.world.forget_recorded_job()
            elif fault.kind is FaultKind.LOSE_SUBMIT_RESPONSE:
                system.lose_next_submit_response = True
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


class PlainJobProxy:
    """The six required operations; no lookup, so an intent without id is ambiguous."""

    def __init__(self, job: PlainFakeJob, caller: Caller) -> None:
        self.job = job
        self.caller = caller

    def submit_job(self, reference: str) -> str:
        return self.caller.step("submit", lambda: self.job.submit_job(reference), reference=reference)

    def get_job_status(self, job_id: str) -> str:
        return self.caller.step("status", lambda: self.job.get_job_status(job_id))

    def is_job_active(self, status: str) -> bool:
        return self.job.is_job_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.job.is_job_succeeded(status)

    def poll_until_complete(self, job_id: str, poller: Poller) -> str:
        return poller.wait(self, job_id)  # through the proxy: each poll is a step

    def get_job_result(self, job_id: str, status: str) -> JsonValue:
        return self.caller.step("result", lambda: self.job.get_job_result(job_id, status))


class FullJobProxy(PlainJobProxy):
    """Every capability: find by reference, cancel, fingerprint."""

    def __init__(self, job: FakeJob, caller: Caller) -> None:
        super().__init__(job, caller)
        self.full = job

    def find_job_by_reference(self, reference: str) -> str | None:
        return self.caller.step("find", lambda: self.full.find_job_by_reference(reference))

    def cancel_job(self, job_id: str) -> None:
        self.caller.step("cancel", lambda: self.full.cancel_job(job_id))

    def job_fingerprint(self) -> str:
        return self.full.job_fingerprint()  # computed locally, not I/O


class OperatorJobProxy(FullJobProxy):
    """The operator's job: its cancel is the moment the cancellation takes effect."""

    def cancel_job(self, job_id: str) -> None:
        def call() -> None:
            run = self.full.system.runs[job_id]
            running = run.status in ACTIVE
            self.full.cancel_job(job_id)
            if running:  # cancelling an ended job changes nothing
                self.caller.world.note_cancel(run.reference)

        self.caller.step("cancel", call)


def proxy_job(system: FakeExternalSystem, caller: Caller, *, can_find: bool) -> PlainJobProxy:
    if can_find:
        return FullJobProxy(FakeJob(system), caller)
    return PlainJobProxy(PlainFakeJob(system), caller)


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
    world: World, store: StateStore, scheduler: Scheduler, runner: Caller, *, index: int, after_steps: int
) -> Callable[[], Ending]:
    """An operator (another process) who runs cancel_resumable once the runner took *after_steps* steps.

    Its store and system calls are steps too, so the interleaving can slip the
    runner's steps between any two of them.
    """
    operator = Caller(world, {}, scheduler=scheduler, index=index)
    job = OperatorJobProxy(FakeJob(world.system), operator)
    proxied = proxy_store(store, operator)

    def body() -> Ending:
        scheduler.wait_until(index, lambda: runner.steps >= after_steps or scheduler.done[runner.index])
        error: ResumableError | None = None
        for _ in range(5):  # a cancel that failed half-way is repeated (its docstring says so)
            try:
                cancel_resumable(job, proxied, key=world.key, clock=world.clock, sleep=operator.sleep)
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
    if record is None:
        assert not world.system.runs, f"jobs submitted, no record: {list(world.system.runs)}"
        return
    recorded = {(h.reference, h.job_id) for h in record.history if h.job_id is not None}
    excused = world.unnamed_superseded()
    for run in world.system.runs.values():
        if run.reference == except_reference or run.reference in excused:
            continue
        assert (run.reference, run.job_id) in recorded, (
            f"job {run.job_id} (reference {run.reference}) missing from the history {record.history}"
        )
    job_ids = [h.job_id for h in record.history if h.job_id is not None]
    assert len(job_ids) == len(set(job_ids)), f"a job appears twice in the history {record.history}"


def check_result_matches_record(world: World, result: JsonValue) -> JobRecord:
    """The value returned is the result of the recorded, succeeded job."""
    record = world.record()
    assert record is not None
    assert record.phase.value == "succeeded", record
    assert isinstance(result, dict), result
    assert result["job_id"] == record.job_id, (result, record)
    assert result["reference"] == record.reference, (result, record)
    assert result["status"] == "SUCCEEDED"
    assert record.has_result and record.result == result
    run = world.system.runs[str(record.job_id)]
    assert run.reference == record.reference and run.steps[-1] == "SUCCEEDED"
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
        assert world.system.runs[str(record.job_id)].status == SUCCEEDED, record
    else:
        assert record.phase is Phase.CANCELLED, f"the cancelled record was overwritten: {record}"
    if ending.stopped is None:
        assert record.phase is Phase.SUCCEEDED and ending.result == record.result
