"""How the ``resumable`` command shows a run: a live line on a terminal, plain lines, or JSON lines.

- ``tty``: one status line on stderr, redrawn in place (state, job id, elapsed,
  what happened: submitted / reattached / reused); permanent lines above it.
- ``plain``: stderr not a terminal (a log file, an orchestrator): one line per event.
- ``json``: one JSON object per line on stdout, for machines; nothing else on stdout.

Each core event is said in its one text, ``event.describe()`` (also the ``message``
of its JSON line). Every text and JSON string passes through the core's ``redact``:
no credential from a command's arguments or a server's answer is printed.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TextIO

from resumable_core import Event, JsonValue
from resumable_core.events import (
    Finished,
    Reattached,
    ResultReused,
    StatusChanged,
    Submitted,
    WaitingForOwner,
)
from resumable_core.progress import Progress
from resumable_core.redaction import redact

Mode = Literal["tty", "plain", "json"]
_REDRAW_EVERY = 0.25  # seconds between redraws of the live line while the core sleeps


def output_mode(json_mode: bool) -> Mode:
    """``json`` when asked, else ``tty`` when stderr is a terminal, else ``plain``."""
    if json_mode:
        return "json"
    return "tty" if sys.stderr.isatty() else "plain"


def event_name(event: Event) -> str:
    """Submitted -> "submitted", ResultReused -> "result_reused"."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", type(event).__name__).lower()


def event_json(event: Event, now: float) -> dict[str, JsonValue]:
    """The event's fields, its name, the time, and its one text as ``message``."""
    data: dict[str, JsonValue] = {"event": event_name(event), "time": now, "message": event.describe()}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, Progress):  # ProgressReported: its versioned JSON form, as the record holds it
            value = value.to_json()
        data[field.name] = value
    return data


def redacted(value: JsonValue) -> JsonValue:
    """*value* with every string in it redacted: masks whole values, so the JSON stays JSON."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def clock_text(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """The core's budget for transient errors (PollPolicy's), to say until when it retries."""

    attempts: int
    seconds: float


@dataclass
class _Retrying:
    what: str
    since: float
    attempt: int


class Output:
    """Receives the core's events (``event``), its sleeps (``sleep``) and the job's
    transient failures (``transient``, from ``ObservedJob``) and shows them."""

    def __init__(
        self,
        mode: Mode,
        *,
        started_at: Callable[[str], float | None] = lambda job_id: None,
        is_active: Callable[[str], bool] = lambda status: True,
        retry_budget: RetryBudget | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mode = mode
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.clock = clock
        self._started_at = started_at
        self._is_active = is_active
        self._budget = retry_budget
        self.key: str | None = None
        self.job_id: str | None = None
        self.status: str | None = None
        self.how: str | None = None  # submitted / reattached / reused
        self.since: float | None = None
        self._waiting: tuple[str, float] | None = None  # (what, since): a wait with no job id yet
        self._retrying: _Retrying | None = None
        self._line_shown = False
        self._last_line = ""
        self._said: set[str] = set()

    # -- from the core ----------------------------------------------------------------------

    def event(self, event: Event) -> None:
        if self.mode == "json":
            self.json_line(event_json(event, self.clock()))
        self.key = event.key
        text = event.describe()
        if isinstance(event, (Submitted, Reattached)):
            self._track(event.job_id, "submitted" if isinstance(event, Submitted) else "reattached")
            if isinstance(event, Reattached):
                self.status = event.status or self.status
            self._say(text)
        elif isinstance(event, ResultReused):
            self.how, self.job_id, self._waiting = "reused", event.job_id, None
            self._say(text)
        elif isinstance(event, StatusChanged):
            self.status = event.status
            if self.mode == "plain" and self._is_active(event.status):  # the end has its own line
                self._say(text)
        elif isinstance(event, Finished):
            self.status = event.status
            self._say(text)
        elif isinstance(event, WaitingForOwner):
            # No job id to show yet: the live line says what is awaited, and until when.
            what = f"another process's submission (reference {event.reference}) until {clock_text(event.lease_until)}"
            self._waiting = (what, self._waiting[1] if self._waiting else self.clock())
            self._say(text, once=True)
        else:  # Superseded, Cancelled: a line, nothing to track
            self._say(text)
        self._redraw()

    def sleep(self, seconds: float) -> None:
        """The core's sleep: on a terminal, keep the elapsed time moving meanwhile."""
        if self.mode != "tty":
            time.sleep(seconds)
            return
        end = time.monotonic() + seconds
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(_REDRAW_EVERY, remaining))
            self._redraw()

    # -- from the observed job ----------------------------------------------------------------

    def transient(self, what: str, started: float, error: str) -> None:
        """A call to the external system failed transiently; the core retries it within its budget."""
        retrying = self._retrying
        if retrying is None or retrying.what != what:
            retrying = self._retrying = _Retrying(what, started, 0)
        retrying.attempt += 1
        budget = self._budget
        bound = ""
        until: float | None = None
        if budget is not None:
            until = retrying.since + budget.seconds
            bound = (f"; retrying (attempt {retrying.attempt} of at most {budget.attempts}) until "
                     f"{clock_text(until)} at the latest")
        text = f"could not reach the external system ({what}): {error}{bound}"
        if self.mode == "json":
            self.json_line({"event": "retrying", "key": self.key, "what": what, "attempt": retrying.attempt,
                            "max_attempts": budget.attempts if budget else None, "until": until,
                            "error": error, "message": text, "time": self.clock()})
        elif self.mode == "plain" or retrying.attempt == 1:  # on a terminal the live line counts on
            self._say(text)
        self._redraw()

    def reached(self, what: str) -> None:
        """A call to the external system answered: a streak of transient failures is over."""
        retrying, self._retrying = self._retrying, None
        if retrying is not None:
            self._say(f"reached the external system again ({what}) after {retrying.attempt} failed "
                      f"attempt{'s' if retrying.attempt != 1 else ''}")
            self._redraw()

    # -- from the command -------------------------------------------------------------------

    def say(self, text: str) -> None:
        """A permanent human line on stderr (not in JSON mode: there, use ``json_line``)."""
        if self.mode != "json":
            self._say(text)

    def json_line(self, data: dict[str, JsonValue]) -> None:
        self.out.write(json.dumps(redacted(data), sort_keys=True) + "\n")
        self.out.flush()

    def close(self) -> None:
        """Leave the terminal clean: the live line is replaced by nothing."""
        if self._line_shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._line_shown = False

    # -- internals ----------------------------------------------------------------------------

    def _track(self, job_id: str, how: str) -> None:
        self.job_id, self.how, self._waiting = job_id, how, None
        self.since = self._started_at(job_id) or self.clock()

    def _say(self, text: str, *, once: bool = False) -> None:
        if self.mode == "json":
            return
        if once and text in self._said:
            return
        self._said.add(text)
        self.close()
        self.err.write(f"resumable: {redact(text)}\n")
        self.err.flush()

    def _live_line(self) -> str | None:
        retrying = self._retrying
        retry = ""
        if retrying is not None:
            bound = (f" of {self._budget.attempts}, until {clock_text(retrying.since + self._budget.seconds)}"
                     if self._budget is not None else "")
            retry = f"  retrying {retrying.what} (attempt {retrying.attempt}{bound})"
        if self.how == "reused":
            return None
        if self.job_id is not None:
            elapsed = format_duration(self.clock() - self.since) if self.since is not None else "-"
            return f"[{self.status or 'SUBMITTED'}] job {self.job_id}  elapsed {elapsed}  ({self.how}){retry}"
        if self._waiting is not None:
            what, since = self._waiting
            return f"[WAITING] for {what}  waited {format_duration(self.clock() - since)}{retry}"
        if retrying is not None:
            return f"[RETRYING]{retry}"
        return None

    def _redraw(self) -> None:
        if self.mode != "tty":
            return
        line = self._live_line()
        if line is None:
            return
        line = redact(line)
        if self._line_shown and line == self._last_line:
            return
        self.err.write("\r\x1b[K" + line)
        self.err.flush()
        self._line_shown, self._last_line = True, line
