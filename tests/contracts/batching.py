"""Helpers for the adapters' batched-status tests: a batching Supervisor in a thread, and a bounded wait.

The test thread watches the system (requests counted by its loopback server or layer) and
moves the jobs while the Supervisor polls them, then joins it for the outcomes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from resumable_core import MemoryStateStore, PollPolicy, ResumableJob
from resumable_core.aio import Supervised, Supervisor, in_threads


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Return once *condition* holds; AssertionError naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class SupervisorThread:
    """A Supervisor with batching on (*tick*) over blocking *jobs* (keys ``k0``, ``k1``, ...), run in a thread."""

    def __init__(self, jobs: Sequence[ResumableJob[Any]], *, tick: float, poll: PollPolicy) -> None:
        self.supervisor = Supervisor(MemoryStateStore(), batch_tick=tick)
        for number, job in enumerate(jobs):
            self.supervisor.add(in_threads(job), key=f"k{number}", poll=poll)
        self.outcomes: dict[str, Supervised] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.outcomes = asyncio.run(self.supervisor.run())

    def join(self, timeout: float = 60.0) -> dict[str, Supervised]:
        self.thread.join(timeout=timeout)
        assert not self.thread.is_alive(), "the supervisor did not finish"
        return self.outcomes


def result_of(outcome: Supervised) -> dict[str, Any]:
    """The JSON object a supervised key ended with (AssertionError when it ended with an error)."""
    assert outcome.ok and isinstance(outcome.result, dict), outcome
    return outcome.result


__all__ = ["SupervisorThread", "result_of", "wait_until"]
