"""Running one job from a command: the record read first, the meta stored, events shown, the
interrupt handled (detach, or cancel when asked), the job's own exit status passed on."""

from __future__ import annotations

import argparse
import shlex
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from resumable_core import (
    JobCancelled,
    JobFailed,
    ResumableError,
    ResumableJob,
    cancel_resumable,
    load_record,
    run_resumable,
)

from ..sqlite import SqliteStateStore
from ._common import EXIT_INTERRUPTED, EXIT_JOB_FAILED, EXIT_OK, CliError, describe, exit_code_for, meta_key
from ._kinds import JobKind
from ._observed import observed
from ._output import Output, RetryBudget, output_mode


def drive(
    args: argparse.Namespace, store: SqliteStateStore, key: str, kind: JobKind, job: ResumableJob[Any], *, reattach_hint: str
) -> int:
    # Read the record before writing anything: a corrupt one stops us with the file untouched.
    load_record(store, key)
    meta = kind.meta()
    if store.get(meta_key(key)) != meta:
        store.set(meta_key(key), meta)
    poll = kind.poll_policy()
    output = Output(output_mode(args.json), started_at=kind.started_at, is_active=job.is_job_active,
                    retry_budget=RetryBudget(poll.transient_attempts, poll.transient_seconds))
    output.key = key
    try:
        with _sigterm_as_interrupt():
            try:
                result = run_resumable(
                    observed(job, output), store, key=key, fresh=args.fresh, policy=kind.policy(), poll=poll,
                    listener=output.event, sleep=output.sleep,
                )
            except KeyboardInterrupt:
                return _interrupted(args, store, key, job, output, reattach_hint)
    except JobFailed as exc:
        output.close()
        job_status: int | None = None
        if isinstance(exc, JobCancelled):
            # Cancelled now or earlier: either way the key stays cancelled until asked again.
            message = (f"key {key!r}: job {exc.job_id} was cancelled; to run it again add --fresh "
                       f"(or: resumable forget {shlex.quote(key)})")
        else:
            details = kind.failure_details(exc.job_id) if exc.job_id else None
            message = f"key {key!r}: job {exc.job_id} ended {exc.status}" + (f": {details}" if details else "")
            # The job's own status, as timeout/flock/nice pass it on: also after a reattach,
            # read from the job's exit record.
            job_status = kind.exit_status(exc.job_id) if exc.job_id else None
        code = job_status if job_status is not None else EXIT_JOB_FAILED
        if output.mode == "json":
            output.json_line({"event": "error", "key": key, "job_id": exc.job_id, "status": exc.status,
                              "message": message, "exit_code": code, "job_exit_code": job_status})
        else:
            kind.replay_output(exc.job_id)
        raise CliError(message, code) from exc
    except ResumableError as exc:
        output.close()
        if output.mode == "json":
            output.json_line({"event": "error", "key": key, "message": describe(exc),
                              "exit_code": exit_code_for(exc), "job_exit_code": None})
        raise
    output.close()
    if output.mode == "json":
        output.json_line({"event": "result", "key": key, "job_id": output.job_id, "how": output.how,
                          "result": result if isinstance(result, dict) else None, "exit_code": EXIT_OK,
                          "job_exit_code": EXIT_OK})
    else:
        kind.replay_output(output.job_id)
        output.say(kind.success_summary(result))
    return EXIT_OK


def _interrupted(
    args: argparse.Namespace, store: SqliteStateStore, key: str, job: ResumableJob[Any], output: Output, hint: str
) -> int:
    output.close()
    if args.cancel_on_interrupt:
        output.say("interrupted: cancelling the job")
        record = cancel_resumable(job, store, key=key, listener=output.event)
        job_id = record.job_id if record is not None else None
        if output.mode == "json":
            output.json_line({"event": "interrupted", "key": key, "job_id": job_id, "cancelled": True,
                              "exit_code": EXIT_INTERRUPTED})
        return EXIT_INTERRUPTED
    record = load_record(store, key)
    job_id = record.job_id if record is not None else None
    if output.mode == "json":
        output.json_line({"event": "interrupted", "key": key, "job_id": job_id, "cancelled": False,
                          "reattach": hint, "exit_code": EXIT_INTERRUPTED})
    else:
        running = f"job {job_id} keeps running" if job_id else "the submission keeps its reference"
        output.say(f"detached: {running}. Reattach with: {hint}")
    return EXIT_INTERRUPTED


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (an orchestrator stopping us) is handled like Ctrl-C: detach, or cancel if asked."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["drive"]
