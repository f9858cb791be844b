"""How ``resumable watch`` shows many keys at once: a live table, plain lines, or JSON lines.

- ``tty``: a table on stderr, one row per key (key, job id, status, elapsed, what
  happened), redrawn in place with two ANSI sequences (cursor up, clear to the end
  of the screen), like the live line of ``run``; permanent lines go above it.
  Rows are cut to the terminal's width and the table to its height: a wrapped or
  scrolled-off line would break the count of lines to redraw.
- ``plain``: stderr not a terminal: one line per event, each naming its key.
- ``json``: one JSON object per line on stdout: the core's events (each carries its
  ``key``), ``retrying`` objects, one ``result`` or ``error`` per followed key, and
  one closing ``summary`` (or ``interrupted``) with the exit status.

Every text and JSON string passes through the core's ``redact``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from resumable_core import Event, JsonValue
from resumable_core.events import (
    Finished,
    ProgressReported,
    Reattached,
    ResultReused,
    StatusChanged,
    Submitted,
    WaitingForOwner,
)
from resumable_core.progress import Progress
from resumable_core.redaction import redact

from ._output import Mode, Output, clock_text, event_json, format_duration
from ._progress_view import progress_cell


@dataclass
class Row:
    key: str
    job_id: str | None
    status: str
    since: float | None  # when the job started (its own record), else when the watch first saw it
    note: str = ""
    ended_at: float | None = None
    is_active: Callable[[str], bool] = lambda status: True  # the key's job's own rule
    progress: Progress | None = None  # the last the job reported (the record's, then each ProgressReported)


class WatchOutput:
    """Receives every key's events, transient failures and outcome, and shows them."""

    def __init__(
        self,
        mode: Mode,
        rows: list[Row],
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mode = mode
        self.rows = {row.key: row for row in rows}
        self.clock = clock
        # Output's JSON and line writers, so that both commands print the same way.
        self._lines = Output(mode, out=out, err=err, clock=clock)
        self.err = self._lines.err
        self._shown = 0  # lines of the table now on the terminal
        self._retrying: dict[str, tuple[str, int]] = {}  # key -> (what, attempts)
        self._said: set[str] = set()

    # -- from the core and the followed jobs ----------------------------------------------------

    def event(self, event: Event) -> None:
        if self.mode == "json":
            self.json_line(event_json(event, self.clock()))
        row = self.rows.get(event.key)
        if row is None:
            return
        if isinstance(event, (Submitted, Reattached)):
            row.job_id = event.job_id
            row.note = "reattached" if isinstance(event, Reattached) else "submitted"
            if isinstance(event, Reattached) and event.status:
                row.status = event.status
            if row.since is None:
                row.since = self.clock()
        elif isinstance(event, StatusChanged):
            row.status = event.status
        elif isinstance(event, ProgressReported):
            row.progress = event.progress
        elif isinstance(event, Finished):
            row.status, row.ended_at = event.status, self.clock()
        elif isinstance(event, ResultReused):
            row.note = "result reused"
        elif isinstance(event, WaitingForOwner):
            row.status = "WAITING"
            row.note = f"for another process's submission until {clock_text(event.lease_until)}"
        # On a terminal a status change is the table's to show; elsewhere a line, except
        # for the end, which has its own (Finished).
        quiet = (isinstance(event, StatusChanged) and (self.mode == "tty" or not row.is_active(event.status))) or (
            isinstance(event, ProgressReported) and self.mode == "tty")
        if not quiet:
            self._say(f"{event.key}: {event.describe()}", once=isinstance(event, WaitingForOwner))
        self.redraw()

    def transient(self, key: str, what: str, error: str) -> None:
        """A call for *key* failed transiently; the core retries it within its budget."""
        previous = self._retrying.get(key)
        attempt = previous[1] + 1 if previous is not None and previous[0] == what else 1
        self._retrying[key] = (what, attempt)
        text = f"could not reach the external system ({what}): {error}; retrying (attempt {attempt})"
        if self.mode == "json":
            self.json_line({"event": "retrying", "key": key, "what": what, "attempt": attempt, "error": error,
                            "message": text, "time": self.clock()})
        elif self.mode == "plain" or attempt == 1:  # on a terminal the row counts on
            self._say(f"{key}: {text}")
        self.redraw()

    def reached(self, key: str, what: str) -> None:
        retrying = self._retrying.pop(key, None)
        if retrying is not None:
            self._say(f"{key}: reached the external system again ({what}) after {retrying[1]} failed "
                      f"attempt{'s' if retrying[1] != 1 else ''}")
            self.redraw()

    # -- from the command -------------------------------------------------------------------------

    def ended(self, key: str, note: str) -> None:
        row = self.rows.get(key)
        if row is not None:
            row.note = note
            row.ended_at = row.ended_at or self.clock()

    def say(self, text: str) -> None:
        """A permanent human line (not in JSON mode)."""
        self._say(text)

    def json_line(self, data: dict[str, JsonValue]) -> None:
        self._lines.json_line(data)

    def close(self) -> None:
        """The last table stays on the terminal, followed by the outcome lines."""
        self.redraw()
        self._shown = 0

    # -- the table ----------------------------------------------------------------------------------

    def redraw(self) -> None:
        if self.mode != "tty":
            return
        lines = self._table()
        self._clear()
        self.err.write("".join(line + "\n" for line in lines))
        self.err.flush()
        self._shown = len(lines)

    def _clear(self) -> None:
        if self._shown:
            self.err.write(f"\r\x1b[{self._shown}A\x1b[J")

    def _say(self, text: str, *, once: bool = False) -> None:
        if self.mode == "json" or (once and text in self._said):
            return
        self._said.add(text)
        self._clear()
        self._shown = 0
        self.err.write(f"resumable: {redact(text)}\n")
        self.err.flush()

    def _table(self) -> list[str]:
        columns, lines = shutil.get_terminal_size((100, 24))
        # Rows still running first: when the screen is short, those are the ones to see.
        rows = sorted(self.rows.values(), key=lambda r: (r.ended_at is not None, r.key))
        room = max(1, lines - 3)
        shown, hidden = rows[:room], rows[room:]
        now = self.clock()
        key_width = min(40, max([3, *(len(r.key) for r in shown)]))
        id_width = max([6, *(len(r.job_id or "-") for r in shown)])
        text = [f"{'KEY':<{key_width}}  {'JOB ID':<{id_width}}  {'STATUS':<10}  {'ELAPSED':>8}"]
        for row in shown:
            elapsed = format_duration((row.ended_at or now) - row.since) if row.since is not None else "-"
            retrying = self._retrying.get(row.key)
            note = f"retrying {retrying[0]} (attempt {retrying[1]})" if retrying is not None else row.note
            key = row.key if len(row.key) <= key_width else row.key[: key_width - 1] + "~"
            cell = progress_cell(row.progress)
            text.append(f"{key:<{key_width}}  {row.job_id or '-':<{id_width}}  {row.status:<10}  "
                        f"{elapsed:>8}  {cell or note}".rstrip())
            if row.progress is not None and row.progress.ui_url and row.ended_at is None:
                text.append(f"{'':<{key_width}}  ui: {row.progress.ui_url}")
        if hidden:
            ended = sum(1 for r in hidden if r.ended_at is not None)
            text.append(f"... and {len(hidden)} more ({ended} ended)")
        return [redact(line)[: max(1, columns - 1)] for line in text]


__all__ = ["Row", "WatchOutput"]
