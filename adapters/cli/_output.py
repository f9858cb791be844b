"""How the ``resumable`` command shows a run: a live line on a terminal, plain lines, or JSON lines.

- ``tty``: one status line on stderr, redrawn in place (state, job id, elapsed,
  what happened: submitted / reattached / reused); permanent lines above it.
- ``plain``: stderr not a terminal (a log file, an orchestrator): one line per event.
- ``json``: one JSON object per line on stdout, for machines; nothing else on stdout.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Literal, TextIO

from resumable_core import Event, JsonValue
from resumable_core.events import (
    Cancelled,
    Finished,
    Reattached,
    ResultReused,
    StatusChanged,
    Submitted,
    Superseded,
    WaitingForOwner,
)

Mode = Literal["tty", "plain", "json"]
_REDRAW_EVERY = 0.25  # seconds between redraws of the live line while the core sleeps


def event_name(event: Event) -> str:
    """Submitted -> "submitted", ResultReused -> "result_reused"."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", type(event).__name__).lower()


def event_json(event: Event, now: float) -> dict[str, JsonValue]:
    data: dict[str, JsonValue] = {"event": event_name(event), "time": now}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        data[field.name] = value.value if isinstance(value, enum.Enum) else value
    return data


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Output:
    """Receives the core's events (``event``) and its sleeps (``sleep``) and shows them."""

    def __init__(
        self,
        mode: Mode,
        *,
        started_at: Callable[[str], float | None] = lambda job_id: None,
        is_active: Callable[[str], bool] = lambda status: True,
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
        self.job_id: str | None = None
        self.status: str | None = None
        self.how: str | None = None  # submitted / reattached / reused
        self.since: float | None = None
        self._line_shown = False
        self._last_line = ""
        self._said: set[str] = set()

    # -- from the core ----------------------------------------------------------------------

    def event(self, event: Event) -> None:
        if self.mode == "json":
            self.json_line(event_json(event, self.clock()))
        if isinstance(event, Submitted):
            self._track(event.job_id, "submitted")
            reason = "" if not event.resubmitted else f" ({event.reason.value.replace('_', ' ')})"
            self._say(f"submitted job {event.job_id}{reason}")
        elif isinstance(event, Reattached):
            self._track(event.job_id, "reattached")
            self.status = event.status or self.status
            self._say(f"reattached to job {event.job_id} (found by {event.via})")
        elif isinstance(event, ResultReused):
            self.how = "reused"
            self.job_id = event.job_id
            self._say(f"result reused from job {event.job_id}: nothing submitted")
        elif isinstance(event, StatusChanged):
            self.status = event.status
            if self.mode == "plain" and self._is_active(event.status):  # the end has its own line
                self._say(f"job {event.job_id} is {event.status}")
        elif isinstance(event, Finished):
            self.status = event.status
            self._say(f"job {event.job_id} ended {event.status}")
        elif isinstance(event, Superseded):
            what = "cancelled" if event.cancelled else "left running"
            self._say(f"older job {event.job_id} {what} ({event.reason.value.replace('_', ' ')})")
        elif isinstance(event, WaitingForOwner):
            self.status = "WAITING"
            self._say("another process is submitting this key; waiting for its job id", once=True)
        elif isinstance(event, Cancelled):
            self._say(f"cancelled job {event.job_id}")
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

    # -- from the command -------------------------------------------------------------------

    def say(self, text: str) -> None:
        """A permanent human line on stderr (not in JSON mode: there, use ``json_line``)."""
        if self.mode != "json":
            self._say(text)

    def json_line(self, data: dict[str, JsonValue]) -> None:
        self.out.write(json.dumps(data, sort_keys=True) + "\n")
        self.out.flush()

    def close(self) -> None:
        """Leave the terminal clean: the live line is replaced by nothing."""
        if self._line_shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._line_shown = False

    # -- internals ----------------------------------------------------------------------------

    def _track(self, job_id: str, how: str) -> None:
        self.job_id, self.how = job_id, how
        self.since = self._started_at(job_id) or self.clock()

    def _say(self, text: str, *, once: bool = False) -> None:
        if self.mode == "json":
            return
        if once and text in self._said:
            return
        self._said.add(text)
        self.close()
        self.err.write(f"resumable: {text}\n")
        self.err.flush()

    def _redraw(self) -> None:
        if self.mode != "tty" or self.job_id is None or self.how == "reused":
            return
        elapsed = format_duration(self.clock() - self.since) if self.since is not None else "-"
        line = f"[{self.status or 'SUBMITTED'}] job {self.job_id}  elapsed {elapsed}  ({self.how})"
        if self._line_shown and line == self._last_line:
            return
        self.err.write("\r\x1b[K" + line)
        self.err.flush()
        self._line_shown, self._last_line = True, line
