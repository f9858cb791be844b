"""TransientError.retry_after: both pollers wait at least as long as the system asked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from resumable_core import Poller, PollPolicy, TransientError
from resumable_core.aio import AsyncPoller
from resumable_core.errors import TransientBudgetExhausted

POLICY = PollPolicy(min_interval=0.5, max_interval=1.0, jitter=0.0, transient_attempts=3)


def failing(*waits: float | None) -> Callable[[], str]:
    """A call that raises one TransientError per wait in *waits* (its retry_after), then answers."""
    left = list(waits)

    def call() -> str:
        if left:
            raise TransientError("throttled", retry_after=left.pop(0))
        return "ok"

    return call


def test_the_blocking_poller_waits_the_longer_of_backoff_and_retry_after() -> None:
    pauses: list[float] = []
    poller = Poller(POLICY, sleep=pauses.append, rand=lambda: 0.5)
    assert poller.retry_transient(failing(7.0, None), what="status") == "ok"
    assert pauses == [7.0, 1.0]  # the server's 7 s, then the backoff (0.5 * 2) when it says nothing


def test_a_short_retry_after_never_shortens_the_backoff() -> None:
    pauses: list[float] = []
    assert Poller(POLICY, sleep=pauses.append, rand=lambda: 0.5).retry_transient(failing(0.1), what="s") == "ok"
    assert pauses == [0.5]


def test_retry_after_is_still_within_the_transient_budget() -> None:
    pauses: list[float] = []
    with pytest.raises(TransientBudgetExhausted):
        Poller(POLICY, sleep=pauses.append, rand=lambda: 0.5).retry_transient(failing(5, 5, 5), what="s")
    assert pauses == [5.0, 5.0]


def test_the_async_poller_waits_as_long_too(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    call = failing(9.0)

    async def answer() -> str:
        return call()

    poller = AsyncPoller(POLICY, clock=lambda: 0.0, rand=lambda: 0.5)
    assert asyncio.run(poller.retry_transient(answer, what="status")) == "ok"
    assert pauses == [9.0]


def test_retry_after_defaults_to_none() -> None:
    assert TransientError("x").retry_after is None
    assert TransientError("x", retry_after=2.5, job_id="j").retry_after == 2.5
