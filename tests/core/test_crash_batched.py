"""The crash-injection properties with batched status on (issue 23): batching changes nothing decided.

Every status check asks the job's listing first (``BatchFakeJob``), as the supervisor's
StatusBatcher does for each job, and only an id the listing leaves out is asked directly;
each listing is a step of its own, so crashes, transient failures and forgotten jobs land
on listings as on any call (tests/core/_crash.py, ``BATCHED``). The properties are the
unbatched ones, run on fewer examples (the unbatched module runs the full counts).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resumable_core import MemoryStateStore, Policy
from tests.core import test_crash_injection as unbatched
from tests.core._crash import ANY_FAULT, CHOICES, LEASES, Fault, batched_status, profile, quiet_logs, schedules

OUTCOMES = unbatched.OUTCOMES


@contextmanager
def batched() -> Iterator[None]:
    with batched_status(), quiet_logs():
        yield


def test_the_fake_jobs_ask_their_listing_first() -> None:
    with batched():
        _, caller, ending = unbatched.one_caller(
            MemoryStateStore(), MemoryStateStore(), can_find=True, faults={},
            policy=Policy(), outcomes=[])
    assert ending.stopped is None and isinstance(ending.result, dict) and "list" in caller.trace
    assert "status" not in caller.trace  # every job was listed: nobody was asked on its own


@profile(200)
@given(faults=schedules(ANY_FAULT), outcomes=OUTCOMES, running_polls=st.integers(0, 2), lease=LEASES,
       reruns=st.integers(0, 2))
def test_crashes_with_lookup_never_duplicate_and_return_the_recorded_result(
    faults: dict[int, Fault], outcomes: list[str], running_polls: int, lease: float, reruns: int
) -> None:
    with batched():
        unbatched.test_crashes_with_lookup_never_duplicate_and_return_the_recorded_result.hypothesis.inner_test(
            faults, outcomes, running_polls, lease, reruns)


@profile(40)
@given(faults=schedules(ANY_FAULT), outcomes=OUTCOMES, lease=LEASES)
def test_crash_between_submit_and_persist_without_lookup_is_ambiguous_never_duplicate(
    faults: dict[int, Fault], outcomes: list[str], lease: float
) -> None:
    with batched():
        unbatched.test_crash_between_submit_and_persist_without_lookup_is_ambiguous_never_duplicate.hypothesis.inner_test(
            faults, outcomes, lease)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_every_single_crash_point_with_lookup(kind: str) -> None:
    with batched():
        unbatched.test_every_single_crash_point_with_lookup(kind)


@profile(40)
@given(kind=st.sampled_from(["memory", "sqlite"]), can_find=st.booleans(), choices=CHOICES)
def test_two_callers_on_one_key_submit_exactly_once(kind: str, can_find: bool, choices: list[int]) -> None:
    with batched():
        unbatched.test_two_callers_on_one_key_submit_exactly_once.hypothesis.inner_test(kind, can_find, choices)
