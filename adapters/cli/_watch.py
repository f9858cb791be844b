"""``resumable watch``: follow every unfinished key of a state file to its end, in one process.

Each key's job is rebuilt from what the command recorded beside it (its kind: a local
job, a Spark driver) and handed to the core's ``Supervisor`` (one event loop, one
bound on calls in flight); the blocking jobs run their calls in worker threads
(``_threaded``). The core decides and records exactly as for ``run``.

**A watch follows; it never submits.** It is not the key's owner: the command that
started the key (and that a script or cron entry will rerun) decides what runs. So:

- ``Policy(on_lost=FAIL, on_ambiguous=FAIL)``: a recorded job the system does not know
  ends the key with ``JobLost``, and an intent that cannot be looked up with
  ``AmbiguousSubmission``, where ``run`` would resubmit (by default).
- The remaining paths to a submission have no policy switch: a recorded job found
  already failed (``run`` resubmits it), and an intent whose reference no job carries
  (``run`` submits it under the same reference). Every submission starts with an
  intent written to the store (the core writes the reference before it submits), so
  the watch's store refuses that one write (``FollowOnlyStore``): nothing is written,
  and the key ends with an error saying what was found. The followed job's own
  ``submit_job`` refuses too, should a submission ever get past the store.
- No fingerprint: the watch does not know the job's specification, so it must not
  count as a changed one (which would supersede the recorded job).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from resumable_core import (
    JobFailed,
    JobRecord,
    JsonValue,
    OnAmbiguous,
    OnLost,
    Outcome,
    Phase,
    Policy,
    ResumableError,
    StoreError,
    TransientError,
    load_record,
)
from resumable_core.aio import (
    AsyncResumableJob,
    AsyncSupportsCancel,
    AsyncSupportsFindByReference,
    Supervised,
    Supervisor,
)
from resumable_core.errors import JobCancelled, JobLost

from ..sqlite import SqliteStateStore
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_NO_RECORD,
    EXIT_OK,
    EXIT_STATE,
    META_PREFIX,
    CliError,
    existing_store,
    meta_key,
    state_path,
)
from ._jobs import JobKind, kind_from_meta
from ._output import Mode
from ._threaded import threaded
from ._watch_output import Row, WatchOutput

T = TypeVar("T")


class WatchWouldSubmit(ResumableError):
    """The core decided to submit for a followed key; a watch never submits (module docstring)."""


class NeverSubmitted(JobLost):
    """An intent was recorded, and no job carries its reference: the submission never happened."""


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


# -- follow, never submit -----------------------------------------------------------------------


class FollowOnlyStore:
    """The state store as a watch writes it: every write of the core passes, except an intent.

    The core writes an intent (phase INTENT: a reference, a lease) before each
    submission, so refusing that write is refusing the submission before anything is
    written or submitted. The error raised says what the core had found.
    """

    def __init__(self, store: SqliteStateStore) -> None:
        self.store = store

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        return self.store.get(key, default)

    def set(self, key: str, value: JsonValue) -> None:
        self._check(key, self.store.get(key), value)
        self.store.set(key, value)

    def delete(self, key: str) -> None:
        self.store.delete(key)

    def compare_and_set(self, key: str, expected: JsonValue, value: JsonValue) -> bool:
        self._check(key, expected, value)
        return self.store.compare_and_set(key, expected, value)

    def _check(self, key: str, expected: JsonValue, value: JsonValue) -> None:
        if JobRecord.from_json(key, value).phase is Phase.INTENT:
            raise refusal(key, None if expected is None else JobRecord.from_json(key, expected),
                          JobRecord.from_json(key, value))


def refusal(key: str, old: JobRecord | None, new: JobRecord) -> ResumableError:
    """The error that ends a followed key whose next step would have been a submission."""
    rerun = "a watch does not submit: the key's next run does"
    if old is None:
        return WatchWouldSubmit(f"the record was forgotten while watched; {rerun}", key=key)
    if old.phase is Phase.INTENT:
        return NeverSubmitted(
            f"no job carries the recorded submission reference {old.reference}: the client that recorded it "
            f"stopped before submitting; {rerun}", key=key)
    closed = next((h for h in reversed(new.history) if h.reference == old.reference), None)
    status = closed.status if closed is not None and closed.status else old.status
    # No fingerprint, fresh run or generation is ever asked for, and a lost job stops
    # by policy: a recorded job is replaced only because it was found failed.
    if closed is not None and closed.outcome is Outcome.LOST:
        return JobLost(f"the external system does not know job {old.job_id}; {rerun}",
                       key=key, job_id=old.job_id, status=status)
    if old.phase in (Phase.SUBMITTED, Phase.FAILED) and (closed is None or closed.outcome is Outcome.FAILED):
        return JobFailed(f"job {old.job_id} had ended {status} before the watch reattached; {rerun}",
                         key=key, job_id=old.job_id, status=status)
    return WatchWouldSubmit(f"job {old.job_id} would be replaced by a new submission; {rerun}",
                            key=key, job_id=old.job_id, status=status)


def watch_policy(policy: Policy) -> Policy:
    """*policy* with every choice that would submit turned into a stop (module docstring)."""
    return dataclasses.replace(policy, on_lost=OnLost.FAIL, on_ambiguous=OnAmbiguous.FAIL)


class FollowedJob:
    """One key's recorded job as the supervisor sees it: followed, never submitted.

    Each call the core retries on a transient error is shown as it fails and answers
    again (the core's retries are not events). No ``job_fingerprint``: see the module
    docstring.
    """

    def __init__(self, job: AsyncResumableJob[Any], key: str, output: WatchOutput) -> None:
        self.job = job
        self.key = key
        self.output = output

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await operation()
        except TransientError as exc:
            self.output.transient(self.key, what, exc.message)
            raise
        self.output.reached(self.key, what)
        return value

    async def submit_job(self, reference: str) -> str:
        raise WatchWouldSubmit(f"refused to submit reference {reference}: a watch only follows recorded jobs",
                               key=self.key)

    async def get_job_status(self, job_id: str) -> str:
        return await self.call(f"status of job {job_id}", lambda: self.job.get_job_status(job_id))

    def is_job_active(self, status: str) -> bool:
        return self.job.is_job_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return self.job.is_job_succeeded(status)

    async def get_job_result(self, job_id: str, status: str) -> Any:
        return await self.call(f"result of job {job_id}", lambda: self.job.get_job_result(job_id, status))


async def _find_job_by_reference(self: FollowedJob, reference: str) -> str | None:
    found: str | None = await self.call(f"lookup of reference {reference}",
                                        lambda: cast(AsyncSupportsFindByReference, self.job).find_job_by_reference(reference))
    return found


async def _cancel_job(self: FollowedJob, job_id: str) -> None:
    # The core cancels only a duplicate it finds (a newer submission of a job that succeeded).
    await self.call(f"cancel of job {job_id}", lambda: cast(AsyncSupportsCancel, self.job).cancel_job(job_id))


def followed(job: AsyncResumableJob[Any], key: str, output: WatchOutput) -> AsyncResumableJob[Any]:
    members: dict[str, Any] = {}
    if callable(getattr(job, "find_job_by_reference", None)):
        members["find_job_by_reference"] = _find_job_by_reference
    if callable(getattr(job, "cancel_job", None)):
        members["cancel_job"] = _cancel_job
    cls = type(type(job).__name__, (FollowedJob,), members)
    wrapper: AsyncResumableJob[Any] = cls(job, key, output)
    return wrapper


# -- the command ----------------------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace) -> int:
    from ._main import describe, error_text, exit_code_for  # the one home of those rules

    store = existing_store(args)
    if store is None:
        raise CliError(f"nothing recorded: no state file {str(state_path(args))!r}", EXIT_NO_RECORD)
    selection = select(store, args.key_prefix or "")
    mode: Mode = "json" if args.json else ("tty" if sys.stderr.isatty() else "plain")
    now = time.time()
    rows = [Row(t.key, t.record.job_id, t.record.status or t.record.phase.value.upper(),
                (t.kind.started_at(t.record.job_id) if t.record.job_id and mode == "tty" else None) or now)
            for t in selection.targets]
    output = WatchOutput(mode, rows)
    supervisor = Supervisor(FollowOnlyStore(store), max_concurrent_calls=args.max_concurrent_calls,
                            listener=output.event)
    for target in selection.targets:
        supervisor.add(followed(threaded(target.kind.watcher()), target.key, output), key=target.key,
                       poll=target.kind.poll_policy(), policy=watch_policy(target.kind.policy()))

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
        ended = [key for key, row in output.rows.items() if row.ended_at is not None]
        if mode == "json":
            output.json_line({"event": "interrupted", "keys": list(output.rows), "exit_code": EXIT_INTERRUPTED})
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
        code, job_status, message = _failure(key, kind, outcome, describe, error_text, exit_code_for)
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


def _failure(
    key: str, kind: JobKind, outcome: Supervised, describe: Callable[[ResumableError], str],
    error_text: Callable[[ResumableError], str], exit_code_for: Callable[[ResumableError], int],
) -> tuple[int, int | None, str]:
    """(watch's code for the key, the job's own status or None, the one-line message)."""
    exc = outcome.error
    assert exc is not None
    if isinstance(exc, JobFailed) and not isinstance(exc, JobCancelled) and exc.job_id:
        details = kind.failure_details(exc.job_id)
        # The job's own status is reported (job_exit_code) but the watch's code stays
        # 117: many jobs' statuses cannot be one number.
        return (EXIT_JOB_FAILED, kind.exit_status(exc.job_id),
                f"key {key!r}: {error_text(exc)}" + (f": {details}" if details else ""))
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


__all__ = [
    "FollowOnlyStore",
    "FollowedJob",
    "NeverSubmitted",
    "WatchWouldSubmit",
    "cmd_watch",
    "followed",
    "select",
    "watch_policy",
]
