"""``resumable status``, ``history``, ``cancel``, ``forget`` and ``list``: commands on recorded keys."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from resumable_core import JsonValue, Outcome, Phase, RecordCorrupt, StoreError, TransientError
from resumable_core.record import JobRecord
from resumable_core.store import check_key

from ..sqlite import SqliteStateStore
from ._common import (
    EXIT_NO_RECORD,
    EXIT_OK,
    EXIT_USAGE,
    META_PREFIX,
    CliError,
    configure_logging,
    existing_store,
    meta_key,
    state_path,
)
from ._show import show_history, show_list, show_status

if TYPE_CHECKING:
    from resumable_core import Event

    from ._kinds import JobKind

# status, history and list answer at once (docs/performance.md): what only a cancel, a live
# status or a job's kind needs (the core's drivers, the systems' plugins) is imported there.

# A command that asks a job ends within its bound (docs/cli.md), whatever the system's own
# timeouts and the core's retry budget: its HTTP calls share one deadline, and every wait the
# core makes for it is cut there. The bounds cover the asking; starting Python is on top.
STATUS_BOUND = 30.0  # status, history: the live status queries (--timeout changes it)
CANCEL_BOUND = 60.0  # cancel: finding the job, the kill, its retries and the status after it


def load_record(store: SqliteStateStore, key: str) -> JobRecord | None:
    """``resumable_core.load_record`` without loading the runner it sits beside."""
    raw = store.get(check_key(key))
    return None if raw is None else JobRecord.from_json(key, raw)


def _recorded(args: argparse.Namespace) -> tuple[str, SqliteStateStore, JobRecord]:
    """The key, the store and the record it names; exit 6 when there is none."""
    key = check_key(args.key)
    store = existing_store(args)
    record = load_record(store, key) if store is not None else None
    if store is None or record is None:
        raise CliError(f"nothing recorded under key {key!r} in {str(state_path(args))!r}", EXIT_NO_RECORD)
    return key, store, record


def cmd_status(args: argparse.Namespace) -> int:
    key, store, record = _recorded(args)
    # A cancelled record's status is from before the cancel: ask what the job is now.
    ask = not record.phase.terminal or record.phase is Phase.CANCELLED
    kind = _kind_for(args, store, key) if record.job_id and ask else None
    live = None
    if kind is not None and record.job_id:
        with _bounded(_bound(args, STATUS_BOUND)):
            live = kind.live_status(record.job_id)
    show_status(record, live, json_mode=args.json)
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    key, store, record = _recorded(args)
    asked = any(entry.outcome is Outcome.CANCELLED and entry.job_id for entry in record.history)
    kind = _kind_for(args, store, key) if asked else None
    live: dict[str, str] = {}
    if kind is not None:
        with _bounded(_bound(args, STATUS_BOUND)):
            for entry in record.history:
                if entry.outcome is Outcome.CANCELLED and entry.job_id and entry.job_id not in live:
                    live[entry.job_id] = kind.live_status(entry.job_id)
    show_history(record, live, json_mode=args.json)
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    key, store, record = _recorded(args)
    if record.phase.terminal:
        _say(args, f"nothing to cancel: key {key!r} is already {record.phase.value}",
             {"event": "cancel", "key": key, "job_id": record.job_id, "phase": record.phase.value, "changed": False})
        return EXIT_OK
    kind = _kind_for(args, store, key)
    if kind is None:
        raise CliError(f"key {key!r} was not started by this command line; cancel it where it was started",
                       EXIT_USAGE)
    from resumable_core import PollPolicy, cancel_resumable
    from resumable_core.events import Cancelled

    events: list[Event] = []
    bound = _bound(args, CANCEL_BOUND)
    with _bounded(bound) as sleep:
        # Transient failures are retried until the bound (less the longest pause), not the default 300 s.
        pause = min(2.0, bound / 10)
        poll = PollPolicy(min_interval=pause / 4, max_interval=pause, jitter=0.0, transient_attempts=1_000,
                          transient_seconds=bound - pause)
        final = cancel_resumable(kind.watcher(), store, key=key, poll=poll, listener=events.append, sleep=sleep)
        if final is None:  # forgotten meanwhile
            raise CliError(f"nothing recorded under key {key!r} any more", EXIT_NO_RECORD)
        # What the job is now: the record keeps the status seen before the cancel was sent.
        live = kind.live_status(final.job_id) if final.job_id else None
    if final.phase is Phase.CANCELLED:
        said = next((event.describe() for event in events if isinstance(event, Cancelled)),
                    f"cancelled job {final.job_id}")
        text = f"{said} (key {key!r})" + (f"; it is now {live}" if live else "")
    else:  # a client polling it recorded the end first
        text = f"job {final.job_id} (key {key!r}) ended {final.phase.value} ({final.status}) as it was cancelled"
    _say(args, text, {"event": "cancel", "key": key, "job_id": final.job_id, "phase": final.phase.value,
                      "status": final.status, "live_status": live, "changed": True})
    return EXIT_OK


def cmd_forget(args: argparse.Namespace) -> int:
    from resumable_core import forget

    key = check_key(args.key)
    store = existing_store(args)
    try:
        record = load_record(store, key) if store is not None else None
    except RecordCorrupt:
        # Not ours: forgetting is the way out the error names, so it must work here.
        assert store is not None
        forget(store, key)
        store.delete(meta_key(key))
        _say(args, f"forgot key {key!r} (its value was not a resumable-core record)",
             {"event": "forget", "key": key, "changed": True})
        return EXIT_OK
    if store is None or record is None:
        _say(args, f"nothing recorded under key {key!r}", {"event": "forget", "key": key, "changed": False})
        return EXIT_OK
    forget(store, key)
    store.delete(meta_key(key))
    text = f"forgot key {key!r}"
    if not record.phase.terminal and record.job_id:
        text += f"; its job {record.job_id} was not stopped and is no longer tracked"
    _say(args, text, {"event": "forget", "key": key, "job_id": record.job_id, "changed": True})
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    store = existing_store(args)
    if store is None:
        return EXIT_OK
    records: list[tuple[str, JobRecord | None, str | None]] = []
    for key in store.keys():
        if key.startswith(META_PREFIX):
            continue
        try:
            records.append((key, load_record(store, key), None))
        except StoreError as exc:
            records.append((key, None, str(exc)))
    show_list(records, json_mode=args.json)
    return EXIT_OK


def _bound(args: argparse.Namespace, default: float) -> float:
    timeout = getattr(args, "timeout", None)
    if timeout is None:
        return default
    if not 0 < timeout < float("inf"):
        raise CliError(f"--timeout must be a number of seconds above 0, got {timeout!r}", EXIT_USAGE)
    return float(timeout)


@contextlib.contextmanager
def _bounded(seconds: float) -> Iterator[Callable[[float], None]]:
    """Every HTTP call made inside ends within *seconds*; the sleep it yields never runs past them."""
    from .._http import time_bound  # no urllib3: a local job's command asks no server

    due = time.monotonic() + seconds

    def sleep(wait: float) -> None:
        left = due - time.monotonic()
        if left <= 0:
            raise TransientError(f"no answer within this command's {seconds:g}s bound (docs/cli.md)")
        time.sleep(min(wait, left))

    with time_bound(seconds):
        yield sleep


def _kind_for(args: argparse.Namespace, store: SqliteStateStore, key: str) -> JobKind | None:
    """The kind that ran *key*: its system's plugin loaded now, since its job is asked next."""
    meta: JsonValue = store.get(meta_key(key))
    if not isinstance(meta, dict):
        return None
    configure_logging(args.debug)  # the job's calls may log
    from ._plugins import kind_from_meta

    return kind_from_meta(meta)


def _say(args: argparse.Namespace, text: str, data: dict[str, JsonValue]) -> None:
    from ._output import Output

    if args.json:
        Output("json").json_line(data)
    else:
        Output("plain").say(text)
