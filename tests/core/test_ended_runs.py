"""Issue 17, items 1 and 3, through the runners: what a run that ends leaves in the record.

1. ``submit_job`` returned, without a usable id: the system accepted something, so the
   intent is marked accepted and never resubmitted blind, whatever ``on_ambiguous`` says.
3. A run that ends (by error or not) gives back the intent lease it holds; only a run
   interrupted inside ``submit_job`` keeps it (that call may still be at work). The next
   run decides at once: asserted on the record and on the decision, never on time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from resumable_core import (
    AmbiguousSubmission,
    MemoryStateStore,
    OnAmbiguous,
    Phase,
    Policy,
    PollPolicy,
    ProtocolError,
    TransientError,
    load_record,
    run_resumable,
)
from resumable_core.aio import run_resumable_async
from resumable_core.decision import Request, WaitForOwner, decide
from resumable_core.events import Event, WaitingForOwner
from resumable_core.testing import AsyncFakeJob, FakeClock, FakeExternalSystem, FakeJob, PlainFakeJob

KEY = "k"
FAST = PollPolicy(min_interval=0.0, max_interval=0.0)


class NoneIdJob(PlainFakeJob):
    """The system creates the job, and the adapter answers None: no lookup to find it by."""

    def submit_job(self, reference: str) -> str:
        super().submit_job(reference)
        return None  # type: ignore[return-value]  # the adapter's bug, on purpose


class FailingSubmitJob(FakeJob):
    """A submit that fails and ends the process (spark-submit exiting non-zero, say)."""

    def submit_job(self, reference: str) -> str:
        raise TransientError("spark-submit exited 1 before its request left")


def next_decision(store: MemoryStateStore, clock: FakeClock, *, can_find: bool) -> object:
    """What a new run (another owner) decides first on the record as it stands."""
    request = Request(fingerprint=None, generation=None, fresh=False, owner="next-run", now=clock.now,
                      can_find=can_find, can_cancel=False, key=KEY, new_reference="fresh-ref")
    return decide(load_record(store, KEY), None, request)


@pytest.mark.parametrize("policy", [Policy(), Policy(on_ambiguous=OnAmbiguous.RESUBMIT)], ids=["default", "resubmit"])
def test_a_submit_that_returned_no_id_is_never_resubmitted_blind(policy: Policy) -> None:
    system, clock, store = FakeExternalSystem(), FakeClock(), MemoryStateStore()
    with pytest.raises(ProtocolError, match="NoneIdJob.submit_job returned None") as first:
        run_resumable(NoneIdJob(system), store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep, policy=policy)
    assert "accepted" in str(first.value)
    record = load_record(store, KEY)
    assert record is not None and record.phase is Phase.INTENT and record.accepted and record.lease_until is None
    # The retry, by a job without a lookup, under a policy that would resubmit an ambiguous intent.
    with pytest.raises(AmbiguousSubmission, match="never resubmitted blind"):
        run_resumable(PlainFakeJob(system), store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep, policy=policy)
    assert len(system.submissions()) == 1
    assert clock.slept == []  # stopped at once: no lease to wait out either


def test_an_accepted_intent_is_adopted_by_a_job_that_can_look_it_up() -> None:
    system, clock, store = FakeExternalSystem(running_polls=0), FakeClock(), MemoryStateStore()
    with pytest.raises(ProtocolError):
        run_resumable(NoneIdJob(system), store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep)
    result = run_resumable(FakeJob(system), store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep)
    assert isinstance(result, dict) and system.submissions() == [result["job_id"]]
    final = load_record(store, KEY)
    assert final is not None and final.phase is Phase.SUCCEEDED and not final.accepted


@pytest.mark.parametrize("can_find", [True, False], ids=["with lookup", "without lookup"])
def test_a_run_that_ends_in_its_submit_gives_back_the_lease(can_find: bool) -> None:
    system, clock, store = FakeExternalSystem(running_polls=0), FakeClock(), MemoryStateStore()
    job: PlainFakeJob = FailingSubmitJob(system) if can_find else _plain_failing(system)
    with pytest.raises(TransientError):
        run_resumable(job, store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep)
    record = load_record(store, KEY)
    assert record is not None and record.phase is Phase.INTENT and record.job_id is None
    assert record.lease_until is None and record.owner is not None  # released; the reference kept
    assert record.reference == record.history[-1].reference
    assert not isinstance(next_decision(store, clock, can_find=False), WaitForOwner)
    # The next run submits under the same reference without waiting for anybody.
    events: list[Event] = []
    retry = FakeJob(system) if can_find else PlainFakeJob(system)
    run_resumable(retry, store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep, listener=events.append)
    assert not any(isinstance(e, WaitingForOwner) for e in events)
    assert system.runs[system.submissions()[0]].reference == record.reference


def _plain_failing(system: FakeExternalSystem) -> PlainFakeJob:
    class PlainFailing(PlainFakeJob):
        def submit_job(self, reference: str) -> str:
            raise TransientError("spark-submit exited 1")

    return PlainFailing(system)


def test_a_run_interrupted_inside_submit_keeps_the_lease() -> None:
    system, clock, store = FakeExternalSystem(), FakeClock(), MemoryStateStore()

    class Interrupted(PlainFakeJob):
        def submit_job(self, reference: str) -> str:
            raise KeyboardInterrupt  # a signal while the request may be on its way

    with pytest.raises(KeyboardInterrupt):
        run_resumable(Interrupted(system), store, key=KEY, poll=FAST, clock=clock, sleep=clock.sleep)
    record = load_record(store, KEY)
    assert record is not None and record.lease_until is not None and record.lease_until > clock.now
    assert isinstance(next_decision(store, clock, can_find=False), WaitForOwner)


def test_an_async_run_that_ends_in_its_submit_gives_back_the_lease() -> None:
    system, store = FakeExternalSystem(running_polls=0), MemoryStateStore()

    class Failing(AsyncFakeJob):
        async def submit_job(self, reference: str) -> str:
            raise TransientError("the create's connection was refused")

    with pytest.raises(TransientError):
        asyncio.run(run_resumable_async(Failing(system), store, key=KEY, poll=FAST))
    record = load_record(store, KEY)
    assert record is not None and record.phase is Phase.INTENT and record.lease_until is None
    assert not isinstance(next_decision(store, FakeClock(), can_find=False), WaitForOwner)


def test_an_async_run_cancelled_inside_submit_keeps_the_lease_and_one_that_answered_none_is_marked() -> None:
    system, store = FakeExternalSystem(running_polls=0), MemoryStateStore()
    entered = asyncio.Event()

    class Hanging(AsyncFakeJob):
        async def submit_job(self, reference: str) -> str:
            entered.set()
            await asyncio.Event().wait()  # held until the task is cancelled
            raise AssertionError("unreachable")

    class NoneId(AsyncFakeJob):
        async def submit_job(self, reference: str) -> Any:
            await super().submit_job(reference)
            return ""

    async def scenario() -> None:
        task = asyncio.ensure_future(run_resumable_async(Hanging(system), store, key=KEY, poll=FAST))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        held = load_record(store, KEY)
        assert held is not None and held.lease_until is not None  # the call may go on: the lease bounds it
        with pytest.raises(ProtocolError, match="returned ''"):
            await run_resumable_async(NoneId(system), store, key="k2", poll=FAST)

    asyncio.run(scenario())
    marked = load_record(store, "k2")
    assert marked is not None and marked.accepted and marked.lease_until is None
