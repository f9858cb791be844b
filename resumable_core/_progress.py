"""How far a running job has got: the optional ``SupportsProgress`` capability and its value.

Progress is for people, never for decisions: the drivers ask it between polls at a
bounded rate, record it on change only (at most one store write per
``PollPolicy.progress_interval``), and a failing progress call is logged and
ignored. Counts stay raw (done, total, skipped) because a single percentage lies
when a system skips work it counted (Spark's skipped stages).

The JSON form is versioned (``"v"``) so that a later reader can tell what it holds;
a form it cannot read is dropped (progress is never worth failing a run for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._errors import InvalidArgument
from ._redact import redact
from ._types import JsonValue

if TYPE_CHECKING:
    from ._record import JobRecord

PROGRESS_VERSION = 1
LABEL_LIMIT = 200  # a label is a short line, not a log: longer ones are cut


@dataclass(frozen=True, slots=True)
class Count:
    """One raw count: *done* of *total* *unit* (``total`` None: not known yet).

    *skipped* is part of *total* and will never run (Spark skips stages whose output
    it already has): done + skipped == total at the end, not done == total.
    """

    unit: str
    done: int
    total: int | None = None
    skipped: int = 0

    def __post_init__(self) -> None:
        if not self.unit:
            raise InvalidArgument("a progress Count needs a unit (tasks, stages, steps...)")
        if self.done < 0 or self.skipped < 0 or (self.total is not None and self.total < 0):
            raise InvalidArgument(f"progress counts cannot be negative: {self!r}")

    @property
    def fraction(self) -> float | None:
        """(done + skipped) / total in [0, 1], None without a total: for a bar, never for a decision."""
        if not self.total:
            return None
        return min(1.0, (self.done + self.skipped) / self.total)

    def describe(self) -> str:
        total = "?" if self.total is None else str(self.total)
        skipped = f" ({self.skipped} skipped)" if self.skipped else ""
        return f"{self.done}/{total} {self.unit}{skipped}"

    def to_json(self) -> dict[str, JsonValue]:
        return {"unit": self.unit, "done": self.done, "total": self.total, "skipped": self.skipped}


@dataclass(frozen=True, slots=True)
class Progress:
    """What a running job says about itself.

    - *counts*: raw counts, the most telling first (Spark: tasks, then stages).
      Empty when the system has only a label or a link to say.
    - *label*: a short line saying what runs now ("stage 3: count at Multi.java:40").
    - *ui_url*: the job's own UI (the Spark driver's UI, the Flink dashboard, the
      Databricks run page), for a person to open; no credentials in it.
    """

    counts: tuple[Count, ...] = field(default_factory=tuple)
    label: str | None = None
    ui_url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", tuple(self.counts))
        if any(not isinstance(c, Count) for c in self.counts):
            raise InvalidArgument("Progress counts must be Count values")
        # What a job says of itself reaches the record, logs and UIs: no credential in any of it.
        label = redact(self.label) if self.label is not None else None
        if label is not None and len(label) > LABEL_LIMIT:
            label = label[: LABEL_LIMIT - 1] + "…"
        object.__setattr__(self, "label", label)
        if self.ui_url is not None:
            object.__setattr__(self, "ui_url", _without_userinfo(redact(self.ui_url)))

    @property
    def main(self) -> Count | None:
        """The first (most telling) count, None when there is none."""
        return self.counts[0] if self.counts else None

    def describe(self) -> str:
        parts = [", ".join(c.describe() for c in self.counts)] if self.counts else []
        if self.label:
            parts.append(self.label)
        if self.ui_url:
            parts.append(self.ui_url)
        return "; ".join(parts) or "no progress reported"

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "v": PROGRESS_VERSION,
            "counts": [c.to_json() for c in self.counts],
            "label": self.label,
            "ui_url": self.ui_url,
        }

    @classmethod
    def from_json(cls, value: JsonValue) -> Progress | None:
        """The progress in *value*; None when it is absent, from a newer version, or malformed."""
        if not isinstance(value, dict) or value.get("v") != PROGRESS_VERSION:
            return None
        try:
            counts_json = value.get("counts")
            if not isinstance(counts_json, list):
                return None
            counts = []
            for item in counts_json:
                if not isinstance(item, dict):
                    return None
                unit, done, total, skipped = item.get("unit"), item.get("done"), item.get("total"), item.get("skipped", 0)
                if not isinstance(unit, str) or not _is_int(done) or not _is_int(skipped):
                    return None
                if total is not None and not _is_int(total):
                    return None
                counts.append(Count(unit=unit, done=done, total=total, skipped=skipped))  # type: ignore[arg-type]
            label, ui_url = value.get("label"), value.get("ui_url")
            if (label is not None and not isinstance(label, str)) or (ui_url is not None and not isinstance(ui_url, str)):
                return None
            return cls(counts=tuple(counts), label=label, ui_url=ui_url)
        except InvalidArgument:
            return None


def _without_userinfo(url: str) -> str:
    """*url* without a ``user:password@`` part (a link for a person carries no credential)."""
    if "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit  # deferred: only a link with an "@" pays for it

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@runtime_checkable
class SupportsProgress(Protocol):
    """A job that can say how far it has got.

    ``job_progress`` is asked only while the job is active, between polls, at most
    once per ``PollPolicy.progress_interval``. Return None when the system has nothing
    honest to say (yet); raise anything (a ``TransientError`` preferably) when it cannot
    answer: the core logs it and carries on, and never counts it against the poll's
    transient budget. It must be quick (one or two requests with short timeouts) and
    must not change the job.
    """

    def job_progress(self, job_id: str) -> Progress | None: ...


@runtime_checkable
class AsyncSupportsProgress(Protocol):
    """``SupportsProgress`` for an ``AsyncResumableJob``: the same contract, awaited."""

    async def job_progress(self, job_id: str) -> Progress | None: ...


def progress_due(last_asked_at: float | None, now: float, interval: float) -> bool:
    """Whether to ask a job for its progress now (pure): never asked, or *interval* seconds passed."""
    return last_asked_at is None or now - last_asked_at >= interval


def progress_write_due(
    recorded: Progress | None, recorded_at: float | None, seen: Progress | None, now: float, interval: float
) -> bool:
    """Whether *seen* is written to the record now (pure).

    Only a change is written (None, "nothing to say", never erases what was recorded),
    and at most once per *interval*: a change seen sooner waits for the next ask.
    """
    if seen is None or seen == recorded:
        return False
    return recorded_at is None or now - recorded_at >= interval


def progress_update(
    record: JobRecord | None, job_id: str, seen: Progress | None, now: float, interval: float
) -> JobRecord | None:
    """The record to write for progress *seen* of *job_id* (pure): None when nothing is worth a write.

    Only the current submission's running job (phase SUBMITTED under that id) takes progress:
    a record another process moved on (ended, resubmitted) is left alone.
    """
    if record is None or record.job_id != job_id or record.phase.value != "submitted":
        return None
    if not progress_write_due(record.progress, record.progress_at, seen, now, interval):
        return None
    return record.evolve(now, progress=seen, progress_at=now)


class ProgressWatch:
    """One run's asking: when it last asked, and how many calls failed (for the log level)."""

    __slots__ = ("asked_at", "failures", "interval")

    def __init__(self, interval: float | None) -> None:
        self.interval = interval
        self.asked_at: float | None = None
        self.failures = 0

    def due(self, now: float, active: bool) -> bool:
        """Whether to ask now: only an active job, at the bounded rate."""
        return self.interval is not None and active and progress_due(self.asked_at, now, self.interval)

    def asked(self, now: float) -> None:
        """Remember an ask made (answered or failed): the next is an interval away."""
        self.asked_at = now

    def ask_now(self, now: float, active: bool) -> bool:
        """``due``, and if so remembered as asked (a run that asks at once, with no budget to wait on)."""
        if not self.due(now, active):
            return False
        self.asked(now)
        return True

    def update(self, record: JobRecord | None, job_id: str, seen: Progress | None, now: float) -> JobRecord | None:
        assert self.interval is not None
        if seen is not None and not isinstance(seen, Progress):
            # A job's bug must not reach the record (to_json would fail there): said once, then dropped.
            raise TypeError(f"job_progress returned {type(seen).__name__}, not Progress or None")
        return progress_update(record, job_id, seen, now, self.interval)

    def failed(self, exc: BaseException) -> tuple[int, str]:
        """The log level and line for a failed progress call: a warning the first time, then debug."""
        self.failures += 1
        level = 30 if self.failures == 1 else 10  # logging.WARNING, logging.DEBUG
        return level, f"could not get progress (ignored; the job is polled as usual): {type(exc).__name__}: {exc}"


__all__ = [
    "PROGRESS_VERSION",
    "AsyncSupportsProgress",
    "Count",
    "Progress",
    "ProgressWatch",
    "SupportsProgress",
    "progress_due",
    "progress_update",
    "progress_write_due",
]
