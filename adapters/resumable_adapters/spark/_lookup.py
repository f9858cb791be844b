"""Finding a standalone driver by its submission reference, as a scan without I/O.

The blocking ``SparkRestJob`` and its aiohttp twin ``AsyncSparkRestJob`` run the same scan:
it yields what it needs read (the master's ``/json/``, the head of a driver's log on its
worker, a pause) and takes the answer back, so the rules live once and each job only does
its own I/O (``find_blocking``, ``find_awaiting``).

The reference travels in the Spark property ``spark.resumable.ref``, and each worker logs
the driver's launch command as the first line of its stderr: a driver is ours when that
line carries ``"-D<property>=<reference>"``. A driver still SUBMITTED (no worker yet), or
launched a moment ago (no launch line yet), is undecided and waited for, up to *find_wait*
seconds, then TransientError; an ended one whose worker or log is gone is not ours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Union

from resumable_core import ProtocolError, TransientError

from ._model import MasterDriver, MasterState
from ._submission import DRIVER_STATE_UNKNOWN, DRIVER_STATES_ACTIVE, SparkSubmission

LAUNCH_MARKER = "Launch Command:"


@dataclass(frozen=True, slots=True)
class ReadMasterState:
    """Answer: the ALIVE master's ``MasterState``."""


@dataclass(frozen=True, slots=True)
class ReadLogHead:
    """Answer: the head of *driver_id*'s stderr on the worker at *worker_ui*, or None if unreadable."""

    worker_ui: str
    driver_id: str


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


Need = Union[ReadMasterState, ReadLogHead, Pause]
Scan = Generator[Need, Any, Union[str, None]]


def reference_scan(submission: SparkSubmission, reference_property: str, reference: str, *, find_wait: float,
                   find_interval: float, clock: Callable[[], float]) -> Scan:
    """The driver launched with *reference* (its id), None when surely none was, else TransientError."""
    marker = f'"-D{reference_property}={reference}"'
    deadline = clock() + find_wait
    checked: set[str] = set()  # completed drivers whose launch line was read already
    while True:
        state: MasterState = yield ReadMasterState()
        undecided: list[str] = []
        # Newest first: a crash between submit and persist is recent.
        for driver in sorted(state.drivers, key=lambda d: d.start_time or 0.0, reverse=True):
            if driver.driver_id in checked or not _could_be_ours(submission, driver):
                continue
            active = driver.state in DRIVER_STATES_ACTIVE or driver.state == DRIVER_STATE_UNKNOWN
            worker_ui = state.worker_ui.get(driver.worker_id or "")
            if worker_ui is None:
                # No worker yet (SUBMITTED): wait. A completed one on a lost worker: unknowable, skipped.
                verdict = None if active else False
            else:
                head: str | None = yield ReadLogHead(worker_ui, driver.driver_id)
                verdict = _launched_with(head, marker, active)
            if verdict is True:
                return driver.driver_id
            if verdict is None:
                undecided.append(driver.driver_id)
            elif not active:
                checked.add(driver.driver_id)
        if not undecided:
            return None
        if clock() >= deadline:
            raise TransientError(
                f"Spark reference {reference!r}: drivers {', '.join(undecided[:5])} are not launched yet "
                f"after {find_wait:.0f}s; cannot tell whether one carries it"
            )
        yield Pause(find_interval)


def _could_be_ours(submission: SparkSubmission, driver: MasterDriver) -> bool:
    """Cheap filter on what ``/json/`` shows, so few worker logs are read."""
    if driver.main_class is not None and driver.main_class != submission.main_class:
        return False
    return driver.cores is None or driver.cores == submission.driver_cores


def _launched_with(head: str | None, marker: str, active: bool) -> bool | None:
    """True/False from the driver's launch line; None when it cannot be known yet."""
    if head is None or LAUNCH_MARKER not in head:
        return None if active else False  # unreadable, or launched a moment ago: the line is not written yet
    start = head.index(LAUNCH_MARKER)
    end = head.find("\n", start)
    line = head[start:] if end < 0 else head[start:end]
    if marker in line:
        return True
    # A launch line longer than what was read may hide the property further on.
    return (None if active else False) if end < 0 else False


def find_blocking(scan: Scan, *, master_state: Callable[[], MasterState], log_head: Callable[[str, str], str],
                  sleep: Callable[[float], None]) -> str | None:
    """Run *scan* with blocking calls (``SparkRestJob``)."""
    answer: Any = None
    while True:
        try:
            need = scan.send(answer)
        except StopIteration as done:
            found: str | None = done.value
            return found
        if isinstance(need, ReadMasterState):
            answer = master_state()
        elif isinstance(need, ReadLogHead):
            try:
                answer = log_head(need.worker_ui, need.driver_id)
            except (TransientError, ProtocolError):
                answer = None
        else:
            sleep(need.seconds)
            answer = None


async def find_awaiting(scan: Scan, *, master_state: Callable[[], Awaitable[MasterState]],
                        log_head: Callable[[str, str], Awaitable[str]],
                        sleep: Callable[[float], Awaitable[None]]) -> str | None:
    """Run *scan* with awaited calls (``AsyncSparkRestJob``): ``find_blocking``, step for step."""
    answer: Any = None
    while True:
        try:
            need = scan.send(answer)
        except StopIteration as done:
            found: str | None = done.value
            return found
        if isinstance(need, ReadMasterState):
            answer = await master_state()
        elif isinstance(need, ReadLogHead):
            try:
                answer = await log_head(need.worker_ui, need.driver_id)
            except (TransientError, ProtocolError):
                answer = None
        else:
            await sleep(need.seconds)
            answer = None


__all__ = ["LAUNCH_MARKER", "Pause", "ReadLogHead", "ReadMasterState", "find_awaiting", "find_blocking",
           "reference_scan"]
