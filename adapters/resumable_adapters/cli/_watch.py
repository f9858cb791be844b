"""``resumable watch``: follow every unfinished key of a state file to its end, in one process.

Each key's job is rebuilt from what the command recorded beside it (its kind: a local
job, a Spark driver) and handed to the core's ``Supervisor`` (one event loop, one
bound on calls in flight); the blocking jobs run their calls in worker threads
(``resumable_core.aio.in_threads``). The core decides and records exactly as for ``run``, except that a
watch never submits (the core's ``attach_only``; ``_follow``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from resumable_core import JobFailed, JobRecord, JsonValue, StoreError, load_record
from resumable_core.aio import Supervised, Supervisor, in_threads
from resumable_core.errors import JobCancelled

from ..sqlite import SqliteStateStore
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_NO_RECORD,
    EXIT_OK,
    EXIT_STATE,
    META_PREFIX,
    CliError,
    describe,
    existing_store,
    exit_code_for,
    meta_key,
    state_path,
)
from ._follow import followed
from ._kinds import JobKind
from ._output import output_mode
from ._plugins import kind_from_meta
from ._watch_output import Row, WatchOutput

# -- what is followed -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    record: JobRecord
    kind: JobKind


@dataclass(slots=True)
class Selection:
    targets: list[Target]
    terminal: int  # keys already ended: not touched
    foreign: list[str]  # keys not started by this command: it cannot rebuild their jobs
    unreadable: list[tuple[str, StoreError]]


def select(store: SqliteStateStore, prefix: str) -> Selection:
    selection = Selection([], 0, [], [])
    for key in sorted(store.keys()):
        if key.startswith(META_PREFIX) or not key.startswith(prefix):
            continue
        try:
            record = load_record(store, key)
        except StoreError as exc:
            selection.unreadable.append((key, exc))
            continue
        if record is None:
            continue  # forgotten since the listing
        if record.phase.terminal:
            selection.terminal += 1
            continue
        kind = kind_from_meta(store.get(meta_key(key)))
        if kind is None:
            selection.foreign.append(key)
        else:
            selection.targets.append(Target(key, record, kind))
    return selection


# -- the command ----------------------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace) -> int:
    store = existing_store(args)
    if store is None:
        raise CliError(f"nothing recorded: no state file {str(state_path(args))!r}", EXIT_NO_RECORD)
    selection = select(store, args.key_prefix or "")
    mode = output_mode(args.json)
    now = time.time()
    watchers = {t.key: t.kind.watcher() for t in selection.targets}
    rows = [Row(t.key, t.record.job_id, t.record.status or t.record.phase.value.upper(),
                (t.kind.started_at(t.record.job_id) if t.record.job_id and mode == "tty" else None) or now,
                is_active=watchers[t.key].is_job_active, progress=t.record.progress)
            for t in selection.targets]
    output = WatchOutput(mode, rows)
    supervisor = Supervisor(store, max_concurrent_calls=args.max_concurrent_calls,
                            listener=output.event)
    for target in selection.targets:
        supervisor.add(followed(in_threads(watchers[target.key]), target.key, output), key=target.key,
                       poll=target.kind.poll_policy(), policy=target.kind.policy(), attach_only=True)

    codes: list[int] = []
    for key, exc in selection.unreadable:
        codes.append(EXIT_STATE)
        _error(output, key, None, None, describe(exc), EXIT_STATE, None)
    for key in selection.foreign:
        output.say(f"{key}: not followed: not started by this command line (its job cannot be rebuilt)")
    if mode == "json":
        output.json_line({"event": "watching", "keys": [t.key for t in selection.targets],
                          "terminal": selection.terminal, "not_followed": list(selection.foreign),
                          "time": time.time()})
    elif selection.targets:
        output.say(f"following {len(selection.targets)} key(s) ({selection.terminal} already ended, not touched)")
    output.redraw()

    outcomes = asyncio.run(_supervise(supervisor, args.max_concurrent_calls, output))
    if outcomes is None:
        output.close()
        ended: list[JsonValue] = [key for key, row in output.rows.items() if row.ended_at is not None]
        if mode == "json":
            output.json_line({"event": "interrupted", "keys": list(output.rows), "ended": ended,
                              "exit_code": EXIT_INTERRUPTED})
        else:
            output.say(f"interrupted: stopped watching; the jobs keep running ({len(ended)} had ended). "
                       "Their records are as the core left them: rerun the watch to follow them again")
        return EXIT_INTERRUPTED

    kinds = {t.key: t.kind for t in selection.targets}
    succeeded = 0
    for key, outcome in outcomes.items():
        kind = kinds[key]
        record = load_record(store, key)
        job_id = record.job_id if record is not None else None
        if outcome.error is None:
            succeeded += 1
            codes.append(EXIT_OK)
            output.ended(key, "succeeded")
            if mode == "json":
                result = outcome.result
                output.json_line({"event": "result", "key": key, "job_id": job_id, "exit_code": EXIT_OK,
                                  "job_exit_code": EXIT_OK, "result": result if isinstance(result, dict) else None})
            continue
        code, job_status, message = _failure(key, kind, outcome)
        codes.append(code)
        output.ended(key, f"ended: exit {job_status if job_status is not None else code}")
        _error(output, key, outcome.error.job_id or job_id, outcome.error.status, message, code, job_status)
    output.close()
    for key, outcome in outcomes.items():
        if outcome.error is None and mode != "json":
            output.say(f"{key}: {kinds[key].success_summary(outcome.result)}")
    exit_code = max(codes, default=EXIT_OK)
    failed = len(outcomes) - succeeded
    if mode == "json":
        output.json_line({"event": "summary", "followed": len(outcomes), "succeeded": succeeded, "failed": failed,
                          "terminal": selection.terminal, "not_followed": list(selection.foreign),
                          "unreadable": [key for key, _ in selection.unreadable], "exit_code": exit_code})
    elif not outcomes and not selection.unreadable:
        output.say(f"nothing to follow: no unfinished key{' under ' + repr(args.key_prefix) if args.key_prefix else ''}"
                   f" ({selection.terminal} already ended)")
    else:
        output.say(f"followed {len(outcomes)} key(s): {succeeded} succeeded, {failed} did not")
    return exit_code


def _failure(key: str, kind: JobKind, outcome: Supervised) -> tuple[int, int | None, str]:
    """(watch's code for the key, the job's own status or None, the one-line message)."""
    exc = outcome.error
    assert exc is not None
    if isinstance(exc, JobFailed) and not isinstance(exc, JobCancelled) and exc.job_id:
        details = kind.failure_details(exc.job_id)
        # The job's own status is reported (job_exit_code) but the watch's code stays
        # 117: many jobs' statuses cannot be one number.
        # The core's own words: a job that ended while watched, or one that had ended before.
        return (EXIT_JOB_FAILED, kind.exit_status(exc.job_id),
                f"key {key!r}: {exc.message}" + (f": {details}" if details else ""))
    return exit_code_for(exc), None, f"key {key!r}: {describe(exc)}"


def _error(output: WatchOutput, key: str, job_id: str | None, status: str | None, message: str, code: int,
           job_status: int | None) -> None:
    if output.mode == "json":
        output.json_line({"event": "error", "key": key, "job_id": job_id, "status": status, "message": message,
                          "exit_code": code, "job_exit_code": job_status})
    else:
        output.say(f"error: {message}")


async def _supervise(supervisor: Supervisor, max_calls: int, output: WatchOutput) -> dict[str, Supervised] | None:
    """Every key's outcome, or None when interrupted (Ctrl-C, SIGTERM): the jobs keep running."""
    loop = asyncio.get_running_loop()
    # The job calls run in threads (bounded by the supervisor), and so do the store's:
    # a pool a little larger than the bound keeps the store reachable while every
    # allowed call is in flight.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=min(max_calls, 32) + 4,
                                                 thread_name_prefix="resumable-watch"))
    task = asyncio.ensure_future(supervisor.run())
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupt)
    ticker = loop.create_task(_tick(output)) if output.mode == "tty" else None
    try:
        return await task
    except asyncio.CancelledError:
        if not interrupted:
            raise
        return None
    finally:
        if ticker is not None:
            ticker.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _tick(output: WatchOutput) -> None:
    """Keep the elapsed times moving between events."""
    while True:
        await asyncio.sleep(0.5)
        output.redraw()


__all__ = ["Selection", "Target", "cmd_watch", "select"]
