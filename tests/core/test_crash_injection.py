"""Crash injection: run_resumable killed at every step boundary, restarted, in schedules drawn by hypothesis.

The model (machinery in tests/core/_crash.py):

- The external system is ``resumable_core.testing.FakeExternalSystem``: each job
  goes QUEUED -> RUNNING -> its planned end (success, or failure as drawn).
- A caller is one process. Every I/O step it takes (each store call, each call
  to the system: submit, status, find, result, cancel) is numbered; a schedule
  maps step numbers to faults: the process dies just before the call or just
  after it took effect (``Crash``, a BaseException), the system answers the next
  N calls transiently, forgets the recorded job (as a Spark master restarted
  without recovery), accepts a submission and loses the response, or a store or
  system call fails (StoreUnavailable / TransientError) before or after it took
  effect.
- After a crash the caller is restarted: a new run_resumable call, new owner id,
  same store, same system. JobFailed, TransientError, StoreError and
  ResultUnavailable also restart it, as an orchestrator's retry would; anything
  else fails the test.
- Time is a FakeClock: leases, backoff and lease waits cost nothing.

Two callers at once: each runs in its own thread, but only one thread runs at a
time; the turn passes at every step (before each store or system call) and at
every sleep, to the thread picked by a list of choices hypothesis draws (see
``_crash.Scheduler``). The interleaving is deterministic, replays and shrinks.
Virtual time moves only when every caller sleeps, which models the core's
documented assumption that a submit call is shorter than the intent lease;
a crashed caller's lease does run out while the other waits.

An operator's cancel: a second thread runs cancel_resumable (its store and
system calls are steps too) once the caller has taken a drawn number of steps;
after the cancel took effect the caller is not restarted.

Invariants, checked after every step and at the end:

- with find-by-reference (FakeJob), or compare-and-set between concurrent
  callers, never more than one live (active, not forgotten) job for the key;
- once a success is recorded, nothing is submitted again for the key;
- the value returned is the recorded job's result (job id and reference match
  the record, the system ran that job to success);
- every submission the system received is in the record's history, once;
- with PlainFakeJob (no lookup) and ``on_ambiguous=FAIL``, a crash between
  submit and persisting the id ends in AmbiguousSubmission, never a duplicate;
- a cancel is kept: the run under way submits nothing new after it, its jobs
  end cancelled, the record stays cancelled.

The properties found four core bugs, now fixed; each has a deterministic
regression test below (the comments above them say what the bug was).

Each property was checked against deliberately broken cores (lookup answering
None, writes without compare-and-set, no intent lease, a transient error taken
for "not found", the ambiguous stop turned into a resubmission, no success
recorded): every one is caught.

Budget: about 2,000 schedules for the main property and several thousand in all;
the example counts scale with RESUMABLE_CRASH_SCALE (e.g. 0.1 for a quick run,
10 for a soak). The whole module takes well under 90 s on two cores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from resumable_core import (
    AmbiguousSubmission,
    CompareAndSetStore,
    JobCancelled,
    JsonValue,
    MemoryStateStore,
    OnAmbiguous,
    OnSuperseded,
    Outcome,
    Phase,
    Policy,
    StateStore,
    StoreUnavailable,
    run_resumable,
)
from resumable_core.testing import FAILED, SUCCEEDED, FakeClock, FakeExternalSystem, FakeJob, PlainFakeJob

from ._crash import (
    ANY_FAULT,
    CHOICES,
    CRASHES,
    LEASES,
    POLL,
    RESTART_ON,
    Caller,
    Ending,
    FakeSystemView,
    Fault,
    FaultKind,
    FullJobProxy,
    Scheduler,
    World,
    check_cancel_kept,
    check_every_submission_in_history,
    check_full_run,
    check_result_matches_record,
    drive,
    operator_cancels,
    profile,
    proxy_job,
    proxy_store,
    quiet_logs,
    run_interleaved,
    schedules,
    stores,
)

KEY = "dag/run/crash"
def fake(world: World) -> FakeExternalSystem:
    """The fake system behind *world* (these properties run on nothing else)."""
    assert isinstance(world.cluster, FakeSystemView)
    return world.cluster.system


# What a caller without lookup may meet without a duplicate being legitimate.
NO_DUPLICATE_FAULT = st.one_of(
    st.just(Fault(FaultKind.FORGET)),
    st.builds(Fault, st.just(FaultKind.TRANSIENT), st.integers(1, 12)),
)


OUTCOMES = st.lists(st.sampled_from([SUCCEEDED, FAILED]), max_size=3)


# -- stores ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def quiet_core_logs() -> Iterator[None]:
    with quiet_logs():
        yield


# -- one caller, crashing and restarting ------------------------------------------------------


def one_caller(
    store: StateStore,
    checker: StateStore,
    *,
    can_find: bool,
    faults: dict[int, Fault],
    policy: Policy,
    outcomes: list[str],
    running_polls: int = 1,
    stop_on: tuple[type[BaseException], ...] = (),
) -> tuple[World, Caller, Ending]:
    system = FakeExternalSystem(running_polls=running_polls, outcomes=list(outcomes))
    world = World(FakeSystemView(system), checker, KEY, at_most_one_live=can_find or policy.on_ambiguous is OnAmbiguous.FAIL)
    caller = Caller(world, faults)
    ending = drive(
        caller,
        proxy_job(system, caller, can_find=can_find),
        proxy_store(store, caller),
        policy=policy,
        poll=POLL,
        restart_on=RESTART_ON,
        stop_on=stop_on,
    )
    return world, caller, ending


def rerun_returns_the_same(world: World, caller: Caller, store: StateStore, result: Any, can_find: bool) -> None:
    """Later runs (still crashing on schedule) return the recorded result and submit nothing."""
    submits = world.submits
    again = drive(
        caller,
        proxy_job(fake(world), caller, can_find=can_find),
        proxy_store(store, caller),
        policy=Policy(),
        poll=POLL,
        restart_on=RESTART_ON,
    )
    assert again.result == result
    assert world.submits == submits


@profile(2000)
@given(
    faults=schedules(ANY_FAULT),
    outcomes=OUTCOMES,
    running_polls=st.integers(0, 2),
    lease=LEASES,
    reruns=st.integers(0, 2),
)
def test_crashes_with_lookup_never_duplicate_and_return_the_recorded_result(
    faults: dict[int, Fault], outcomes: list[str], running_polls: int, lease: float, reruns: int
) -> None:
    store = MemoryStateStore()
    world, caller, ending = one_caller(
        store, store, can_find=True, faults=faults, policy=Policy(intent_lease=lease),
        outcomes=outcomes, running_polls=running_polls,
    )
    check_full_run(world, caller, ending, faults)
    for _ in range(reruns):
        rerun_returns_the_same(world, caller, store, ending.result, can_find=True)


@profile(150)
@given(faults=schedules(ANY_FAULT), outcomes=OUTCOMES, lease=LEASES)
def test_crashes_with_lookup_on_sqlite(faults: dict[int, Fault], outcomes: list[str], lease: float) -> None:
    with stores("sqlite") as made:
        world, caller, ending = one_caller(
            made.open(), made.open(), can_find=True, faults=faults, policy=Policy(intent_lease=lease),
            outcomes=outcomes,
        )
        check_full_run(world, caller, ending, faults)


@profile(400)
@given(faults=schedules(ANY_FAULT), outcomes=OUTCOMES, lease=LEASES)
def test_crashes_without_lookup_resubmit_policy_keeps_the_record_true(
    faults: dict[int, Fault], outcomes: list[str], lease: float
) -> None:
    """No lookup, on_ambiguous=resubmit: a crash after submit may leave a duplicate
    (documented); the result still matches the record, no success is redone, and
    each duplicate carries a reference the history names."""
    store = MemoryStateStore()
    world, _, ending = one_caller(
        store, store, can_find=False, faults=faults, policy=Policy(intent_lease=lease), outcomes=outcomes
    )
    assert not world.violations
    record = check_result_matches_record(world, ending.result)
    references = {h.reference for h in record.history}
    assert all(run.reference in references for run in fake(world).runs.values())


# -- a new spec or a new generation, run after run ------------------------------------------------

# Regression: with on_superseded=cancel, _Runner.submit wrote the new intent (dropping the old
# job id from the record) before cancelling the old job; a crash in between left the old job
# running, never cancelled, next to the new one.


@pytest.mark.parametrize("on_superseded", [OnSuperseded.CANCEL, OnSuperseded.LEAVE], ids=["cancel", "leave"])
@profile(600)
@given(
    runs=st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(["spec-a", "spec-b"]), st.booleans()), min_size=1, max_size=5
    ),
    faults=schedules(ANY_FAULT, 120),
    outcomes=OUTCOMES,
)
def test_new_specs_and_generations_across_crashes(
    on_superseded: OnSuperseded, runs: list[tuple[int, str, bool]], faults: dict[int, Fault], outcomes: list[str]
) -> None:
    """Logical runs one after another, each (generation, spec) retried through crashes,
    or abandoned at its first crash (its job may still run when the next one starts).

    Each finished run returns the result of a job of its own spec and generation; a
    run like the last successful one reuses it (no submission); with
    history names every job (but an intent replaced before its job id was known:
    documented as left alone).
    """
    store = MemoryStateStore()
    system = FakeExternalSystem(running_polls=1, outcomes=list(outcomes))
    # One live job with on_superseded=cancel is checked step by step below, where
    # the crash lands exactly (a drawn schedule rarely does).
    world = World(FakeSystemView(system), store, KEY, at_most_one_live=False, excuse_unnamed_superseded=True)
    caller = Caller(world, faults)
    last: tuple[int, str] | None = None
    runs[-1] = (*runs[-1][:2], False)  # the last one recovers whatever the others left behind
    for generation, spec, abandon in runs:
        if (generation, spec) != last:
            world.success_recorded = False  # a new spec or generation may submit again
        submits = world.submits
        job = FullJobProxy(FakeJob(system, spec), caller)
        ending = drive(
            caller, job, proxy_store(store, caller), policy=Policy(on_superseded=on_superseded), poll=POLL,
            restart_on=RESTART_ON, generation=f"g{generation}", abandon_on_crash=abandon,
        )
        if ending.stopped is not None:
            last = None  # the abandoned run changed the record
            continue
        record = check_result_matches_record(world, ending.result)
        assert isinstance(ending.result, dict) and ending.result["spec"] == spec
        assert record.generation == f"g{generation}" and record.fingerprint == job.job_fingerprint()
        if (generation, spec) == last:
            assert world.submits == submits, "a recorded success of the same spec and generation was redone"
        last = (generation, spec)
    assert not world.violations
    check_every_submission_in_history(world)


def superseding_trace() -> list[str]:
    """The steps of a run of spec-b replacing a running job of spec-a, without crash."""
    _, caller = supersede_with_crash({}, OnSuperseded.CANCEL)
    return caller.trace


def supersede_with_crash(faults: dict[int, Fault], on_superseded: OnSuperseded) -> tuple[World, Caller]:
    """spec-a is submitted and its caller dies polling; spec-b's run meets *faults* (by its
    own step numbers) and is restarted until it returns."""
    store = MemoryStateStore()
    system = FakeExternalSystem(running_polls=3)
    world = World(FakeSystemView(system), store, KEY, at_most_one_live=on_superseded is OnSuperseded.CANCEL)
    first = Caller(world, {4: Fault(FaultKind.CRASH_BEFORE)})  # 0 get, 1 intent, 2 submit, 3 persist, 4 poll
    policy = Policy(on_superseded=on_superseded)
    drive(first, FullJobProxy(FakeJob(system, "spec-a"), first), proxy_store(store, first), policy=policy,
          poll=POLL, restart_on=RESTART_ON, abandon_on_crash=True)
    assert world.live_jobs() == ["job-0001"]
    second = Caller(world, faults)
    ending = drive(second, FullJobProxy(FakeJob(system, "spec-b"), second), proxy_store(store, second),
                   policy=policy, poll=POLL, restart_on=RESTART_ON)
    assert isinstance(ending.result, dict) and ending.result["spec"] == "spec-b"
    check_result_matches_record(world, ending.result)
    check_every_submission_in_history(world)
    return world, second


@pytest.mark.parametrize(
    "on_superseded",
    [
        pytest.param(OnSuperseded.CANCEL, id="cancel"),
        pytest.param(OnSuperseded.LEAVE, id="leave"),
    ],
)
def test_every_crash_point_while_a_new_spec_supersedes_a_running_job(on_superseded: OnSuperseded) -> None:
    """With on_superseded=cancel the old job never runs next to the new one, wherever the
    superseding run crashes (before or after each of its steps); with leave, the old
    job runs on (documented) and the rest holds."""
    for step in range(len(superseding_trace()) + 1):
        for crash in CRASHES:
            world, _ = supersede_with_crash({step: Fault(crash)}, on_superseded)
            if on_superseded is OnSuperseded.CANCEL:
                assert fake(world).runs["job-0001"].status == "CANCELLED", (step, crash)


# -- an operator's cancel at any step -------------------------------------------------------------

# Regressions: (1) _Runner.record_terminal's retry loop reloaded the record and wrote FAILED over
# a CANCELLED that cancel_resumable wrote for the same job meanwhile, so the next automatic retry
# resubmitted; (2) cancel_resumable marked an intent CANCELLED while its owner's lease was live and
# its submit in flight; when that submit's response was lost the job ran on, named nowhere.

# Interleavings the property found, replayed on every run.
FAILURE_BEFORE_CANCEL: dict[str, Any] = dict(
    kind="memory", faults={}, cancel_after=9, choices=[0, 1, 1, 1, 0, 1, 0, 1, 1, 0], outcomes=[FAILED], lease=10.0
)
CANCEL_DURING_SUBMIT: dict[str, Any] = dict(
    kind="memory", faults={2: Fault(FaultKind.LOSE_SUBMIT_RESPONSE)}, cancel_after=2, choices=[1] * 10,
    outcomes=[], lease=120.0,
)


def run_with_operator(
    kind: str,
    *,
    faults: dict[int, Fault],
    cancel_after: int,
    choices: list[int],
    outcomes: list[str],
    lease: float,
    cancel_kept: bool,
) -> tuple[World, Ending]:
    """A crashing caller (restarted until the key is cancelled) and an operator who cancels it."""
    with stores(kind) as made:
        system = FakeExternalSystem(running_polls=1, outcomes=list(outcomes))
        world = World(FakeSystemView(system), made.open(), KEY, at_most_one_live=True, cancel_stops_the_run=cancel_kept)
        scheduler = Scheduler(2, choices, world.clock)
        runner = Caller(world, faults, scheduler=scheduler, index=0)
        job, store = proxy_job(system, runner, can_find=True), proxy_store(made.open(), runner)

        def run() -> Ending:
            return drive(
                runner, job, store, policy=Policy(intent_lease=lease), poll=POLL,
                restart_on=RESTART_ON, stop_on=(JobCancelled,),
            )

        operator = operator_cancels(world, made.open(), scheduler, runner, index=1, after_steps=cancel_after,
                                    job=FakeJob(system))
        ending, _ = run_interleaved(scheduler, [run, operator])
        assert not world.violations
        if world.cancel is None:  # nothing was under way to cancel
            check_full_run(world, runner, ending, faults)
        elif cancel_kept:
            check_cancel_kept(world, ending)
            check_every_submission_in_history(world)
        else:
            # The bookkeeping invariants alone (the mode that held before the
            # cancel fixes): history complete but for the cancelled reference.
            check_every_submission_in_history(world, except_reference=world.cancel.reference)
            if ending.stopped is None:
                check_result_matches_record(world, ending.result)
        return world, ending


@pytest.mark.parametrize(
    "cancel_kept",
    [
        pytest.param(True),
        False,
    ],
    ids=["cancel-kept", "bookkeeping"],
)
@profile(600)
@given(
    case=st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["memory", "memory", "memory", "sqlite"]),
            "faults": schedules(ANY_FAULT, 60),
            "cancel_after": st.integers(0, 40),
            "choices": CHOICES,
            "outcomes": OUTCOMES,
            "lease": LEASES,
        }
    )
)
@example(case=FAILURE_BEFORE_CANCEL)
@example(case=CANCEL_DURING_SUBMIT)
def test_an_operator_cancels_while_a_caller_runs(cancel_kept: bool, case: dict[str, Any]) -> None:
    """cancel_resumable from another process, interleaved with a crashing caller's steps.

    cancel-kept: once the cancel took effect the run under way submits nothing
    new, every job of the cancelled reference ends cancelled, and the record stays
    cancelled (or says how its job had already ended). bookkeeping, what holds
    today: one live job at most, the history complete but for a submit in flight
    the cancel overlooked, a returned value is the record's.
    """
    run_with_operator(cancel_kept=cancel_kept, **case)


def test_a_cancel_racing_the_first_poll_is_kept() -> None:
    """No crash. The operator's cancel lands while the runner persists its job id and
    polls for the first time (before the fix, the runner saw the job CANCELLED before
    the record did, recorded FAILED and raised JobFailed)."""
    _, ending = run_with_operator(
        "memory", faults={}, cancel_after=1, choices=[1, 0, 1, 0, 1, 1, 1], outcomes=[], lease=120.0, cancel_kept=True
    )
    assert isinstance(ending.stopped, JobCancelled)


def test_a_failure_seen_before_the_cancel_is_recorded_does_not_replace_it() -> None:
    """No crash. The job fails; the runner reads the record to write FAILED, the
    operator writes CANCELLED, the runner's write loses, reloads, and writes FAILED
    over the CANCELLED. Was: JobFailed, record FAILED (an automatic retry resubmitted)."""
    run_with_operator(cancel_kept=True, **FAILURE_BEFORE_CANCEL)


def test_a_cancel_while_the_submit_is_in_flight_leaves_no_job_running() -> None:
    """The runner wrote its intent and is about to submit; the operator finds nothing by
    reference and marks the intent cancelled; the submit then creates the job and its
    response is lost. Was: that job ran on and the record never named it."""
    run_with_operator(cancel_kept=True, **CANCEL_DURING_SUBMIT)


# -- no lookup, on_ambiguous=FAIL ------------------------------------------------------------------

def check_fail_policy(world: World, ending: Ending) -> None:
    """A submission whose id was never persisted stops the key for a human; never a second job."""
    assert not world.violations
    record = world.record()
    assert record is not None
    recorded = {h.job_id for h in record.history}
    orphans = [run for run in fake(world).runs.values() if run.job_id not in recorded]
    if isinstance(ending.stopped, AmbiguousSubmission) and record.phase is Phase.INTENT:
        assert ending.stopped.key == KEY
        # Left as it was for the human: an intent, no job id.
        assert record.job_id is None
        assert all(run.reference == record.reference for run in orphans)
        assert len(orphans) <= 1
    elif isinstance(ending.stopped, AmbiguousSubmission):
        # The stop was right when made (an intent whose lease ran out while its owner still
        # retried the id write); the owner recorded its job afterwards: nothing unrecorded.
        assert ending.stopped.key == KEY
        assert not orphans, f"a submission never recorded: {orphans}"
    else:
        assert ending.stopped is None
        # Excused, as documented: an intent that a recorded success superseded while
        # its submit's answer was lost, which nothing can name without lookup.
        unnamed = {h.reference for h in record.history if h.job_id is None and h.outcome is Outcome.SUPERSEDED}
        orphans = [run for run in orphans if run.reference not in unnamed]
        assert not orphans, f"a submission never recorded, yet the run went on: {orphans}"
        check_result_matches_record(world, ending.result)


@profile(1000)
@given(faults=schedules(ANY_FAULT), outcomes=OUTCOMES, lease=LEASES)
def test_crash_between_submit_and_persist_without_lookup_is_ambiguous_never_duplicate(
    faults: dict[int, Fault], outcomes: list[str], lease: float
) -> None:
    store = MemoryStateStore()
    world, _, ending = one_caller(
        store, store, can_find=False, faults=faults,
        policy=Policy(intent_lease=lease, on_ambiguous=OnAmbiguous.FAIL), outcomes=outcomes,
        stop_on=(AmbiguousSubmission,),
    )
    check_fail_policy(world, ending)


# -- a store failure right after submit -------------------------------------------------------------

# Regression: when the store failed (StoreUnavailable) on the write that persists the job id,
# _Runner.submit let the error propagate without the id: the job ran on, named in no record,
# log line or error. Now the write is retried, and a store that stays down names the job.


class FailsOnceOnPersist(MemoryStateStore):
    """A store that goes away once, on the write naming the submitted job's id."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        if isinstance(value, dict) and value.get("phase") == Phase.SUBMITTED.value and not self.failed:
            self.failed = True
            raise StoreUnavailable("fault injected: store unreachable", key=key)
        return super().compare_and_set(key, expected, value)


def test_a_store_failure_while_persisting_the_job_id_still_names_the_job() -> None:
    """Either the write is retried (the run goes on), or the error carries the job id."""
    system, clock = FakeExternalSystem(), FakeClock()
    try:
        result = run_resumable(PlainFakeJob(system), FailsOnceOnPersist(), key=KEY, clock=clock, sleep=clock.sleep)
    except StoreUnavailable as exc:
        assert exc.job_id == system.submissions()[0]
    else:
        assert isinstance(result, dict) and [result["job_id"]] == system.submissions()


# -- every step boundary, exhaustively ----------------------------------------------------------


def clean_trace(can_find: bool) -> list[str]:
    store = MemoryStateStore()
    _, caller, _ = one_caller(store, store, can_find=can_find, faults={}, policy=Policy(), outcomes=[])
    return caller.trace


def test_clean_run_takes_the_expected_steps() -> None:
    """The step numbering the exhaustive tests rely on: get, intent, submit, persist, then polling."""
    trace = clean_trace(can_find=True)
    assert trace[:4] == ["get", "cas", "submit", "cas"]
    assert trace[-2:] == ["result", "cas"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_every_single_crash_point_with_lookup(kind: str) -> None:
    trace = clean_trace(can_find=True)
    for step in range(len(trace) + 1):
        for crash in CRASHES:
            faults = {step: Fault(crash)}
            with stores(kind) as made:
                world, caller, ending = one_caller(
                    made.open(), made.open(), can_find=True, faults=faults, policy=Policy(), outcomes=[]
                )
                check_full_run(world, caller, ending, faults)
                assert len(fake(world).runs) == 1, (faults, caller.trace)


def test_every_pair_of_crash_points_with_lookup() -> None:
    """The second crash lands anywhere in the recovery of the first, one submission throughout."""
    last = len(clean_trace(can_find=True)) + 8
    for first in range(last):
        for second in range(first + 1, last + 8):
            for crash_a in CRASHES:
                for crash_b in CRASHES:
                    faults = {first: Fault(crash_a), second: Fault(crash_b)}
                    store = MemoryStateStore()
                    world, caller, ending = one_caller(
                        store, store, can_find=True, faults=faults, policy=Policy(), outcomes=[]
                    )
                    check_full_run(world, caller, ending, faults)
                    assert len(fake(world).runs) == 1, (faults, caller.trace)


def test_every_single_crash_point_without_lookup_fail_policy() -> None:
    """Exactly the crashes that leave an intent without id are ambiguous; the rest submit once."""
    trace = clean_trace(can_find=False)
    intent, submit, persist = 1, 2, 3
    assert trace[intent : persist + 1] == ["cas", "submit", "cas"]
    for step in range(len(trace) + 1):
        for crash in CRASHES:
            store = MemoryStateStore()
            world, caller, ending = one_caller(
                store, store, can_find=False, faults={step: Fault(crash)},
                policy=Policy(on_ambiguous=OnAmbiguous.FAIL), outcomes=[],
                stop_on=(AmbiguousSubmission,),
            )
            check_fail_policy(world, ending)
            after = crash is FaultKind.CRASH_AFTER
            ambiguous = (step == intent and after) or step == submit or (step == persist and not after)
            assert isinstance(ending.stopped, AmbiguousSubmission) == ambiguous, (step, crash, caller.trace)
            submitted = (step == submit and after) or step == persist or not ambiguous
            assert len(fake(world).runs) == (1 if submitted else 0), (step, crash)


# -- two callers at once on a compare-and-set store ------------------------------------------------


def two_callers(
    kind: str,
    *,
    can_find: bool,
    faults: tuple[dict[int, Fault], dict[int, Fault]],
    choices: list[int],
    outcomes: list[str],
    lease: float,
    on_ambiguous: OnAmbiguous = OnAmbiguous.RESUBMIT,
) -> tuple[World, list[Ending]]:
    """Run two interleaved callers to the end; check the invariants while the store is open."""
    with stores(kind) as made:
        checker = made.open()
        assert isinstance(checker, CompareAndSetStore)
        system = FakeExternalSystem(running_polls=1, outcomes=list(outcomes))
        world = World(FakeSystemView(system), checker, KEY, at_most_one_live=True)
        scheduler = Scheduler(2, choices, world.clock)
        policy = Policy(intent_lease=lease, on_ambiguous=on_ambiguous)
        stop_on = (AmbiguousSubmission,) if on_ambiguous is OnAmbiguous.FAIL else ()

        def body(index: int) -> Callable[[], Ending]:
            caller = Caller(world, faults[index], scheduler=scheduler, index=index)
            job = proxy_job(system, caller, can_find=can_find)
            store = proxy_store(made.open(), caller)
            return lambda: drive(caller, job, store, policy=policy, poll=POLL, restart_on=RESTART_ON, stop_on=stop_on)

        endings = run_interleaved(scheduler, [body(0), body(1)])
        assert not world.violations
        assert len(endings) == 2
        for ending in endings:
            if on_ambiguous is OnAmbiguous.FAIL:
                check_fail_policy(world, ending)
            else:
                check_result_matches_record(world, ending.result)
                check_every_submission_in_history(world)
        return world, endings


MODES = {  # mode: (can find by reference, on_ambiguous, faults a caller may meet)
    "lookup": (True, OnAmbiguous.RESUBMIT, ANY_FAULT),
    # Only faults that cannot make a duplicate legitimate (without lookup a crash
    # after submit resubmits by policy: documented).
    "no-lookup": (False, OnAmbiguous.RESUBMIT, NO_DUPLICATE_FAULT),
    "no-lookup-fail": (False, OnAmbiguous.FAIL, ANY_FAULT),
}


def mode_and_faults(mode: str) -> st.SearchStrategy[tuple[str, tuple[dict[int, Fault], dict[int, Fault]]]]:
    fault = MODES[mode][2]
    return st.tuples(st.just(mode), st.tuples(schedules(fault, 60), schedules(fault, 60)))


@profile(900)
@given(
    kind=st.sampled_from(["memory", "memory", "sqlite"]),
    case=st.sampled_from(sorted(MODES)).flatmap(mode_and_faults),
    choices=CHOICES,
    outcomes=OUTCOMES,
    lease=LEASES,
)
def test_two_callers_on_a_compare_and_set_store_never_run_two_jobs(
    kind: str,
    case: tuple[str, tuple[dict[int, Fault], dict[int, Fault]]],
    choices: list[int],
    outcomes: list[str],
    lease: float,
) -> None:
    """With lookup: crashing callers. Without: compare-and-set and the intent lease alone;
    or crashing callers with on_ambiguous=fail (an orphan stops both for a human)."""
    mode, faults = case
    can_find, on_ambiguous, _ = MODES[mode]
    two_callers(
        kind, can_find=can_find, faults=faults, choices=choices, outcomes=outcomes, lease=lease,
        on_ambiguous=on_ambiguous,
    )


@profile(300)
@given(kind=st.sampled_from(["memory", "sqlite"]), can_find=st.booleans(), choices=CHOICES)
def test_two_callers_on_one_key_submit_exactly_once(kind: str, can_find: bool, choices: list[int]) -> None:
    """Issue 2 case 10 over every interleaving: one submits, the other attaches to that job."""
    world, endings = two_callers(kind, can_find=can_find, faults=({}, {}), choices=choices, outcomes=[], lease=120.0)
    assert len(fake(world).runs) == 1
    assert endings[0].result == endings[1].result
