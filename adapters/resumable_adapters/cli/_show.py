"""What ``resumable status``, ``history`` and ``list`` print: for people, or JSON lines.

A cancel is recorded *before* the job is signalled, so the status recorded with it is
the one seen before the cancel (often RUNNING). Shown as it is, ``cancelled RUNNING``
reads as a job still running; so a cancelled entry shows the job's status now when it
could be asked, and otherwise says that the recorded one is from before the cancel.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence

from resumable_core import JobRecord, JsonValue, Outcome, Phase
from resumable_core.redaction import redact

from ._progress_view import progress_rows


def seen_status(recorded: str | None, live: str | None, *, cancelled: bool) -> str:
    """The status column: what was last seen, and when it was seen if that is not now."""
    if cancelled:
        if live:
            return live if live == recorded or recorded is None else f"{live} (was {recorded} when cancelled)"
        return f"{recorded} before the cancel" if recorded else "-"
    if live and live != recorded:
        return f"{recorded or '-'} (now: {live})"
    return recorded or "-"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _print_json(data: dict[str, JsonValue]) -> None:
    sys.stdout.write(redact(json.dumps(data, sort_keys=True)) + "\n")


def show_status(record: JobRecord, live: str | None, *, json_mode: bool) -> None:
    if json_mode:
        data = record.to_json()
        data["live_status"] = live
        data["submissions"] = record.submissions
        _print_json(data)
        return
    rows = [
        ("key", record.key),
        ("phase", record.phase.value),
        ("job id", record.job_id or "-"),
        ("status", seen_status(record.status, live, cancelled=record.phase is Phase.CANCELLED)),
        ("submissions", str(record.submissions)),
        ("updated", _when(record.updated_at)),
    ]
    # The last progress the job reported (kept after its end), with the time it was seen.
    rows.extend(progress_rows(record.progress))
    if record.progress is not None:
        rows.append(("seen", _when(record.progress_at)))
    if record.has_result:
        rows.append(("result", json.dumps(record.result, sort_keys=True)))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        sys.stdout.write(f"{name:<{width}}  {value}\n")


def show_history(record: JobRecord, live: dict[str, str], *, json_mode: bool) -> None:
    """Every submission; *live* holds the status now of the cancelled ones that could be asked."""
    if json_mode:
        for index, entry in enumerate(record.history, 1):
            data = entry.to_json()
            data["n"] = index
            data["live_status"] = live.get(entry.job_id) if entry.job_id else None
            _print_json(data)
        return
    sys.stdout.write(f"{'#':>3}  {'job id':<34} {'outcome':<10} {'status':<10} {'submitted':<19}  ended\n")
    for index, entry in enumerate(record.history, 1):
        status = seen_status(entry.status, live.get(entry.job_id) if entry.job_id else None,
                             cancelled=entry.outcome is Outcome.CANCELLED)
        sys.stdout.write(
            f"{index:>3}  {entry.job_id or '-':<34} {entry.outcome.value:<10} {status:<10} "
            f"{_when(entry.submitted_at):<19}  {_when(entry.ended_at)}\n"
        )


def show_list(records: Sequence[tuple[str, JobRecord | None, str | None]], *, json_mode: bool) -> None:
    for key, record, problem in records:
        if json_mode:
            if record is None:
                _print_json({"key": key, "error": problem})
            else:
                _print_json({"key": key, "phase": record.phase.value, "status": record.status,
                             "job_id": record.job_id, "updated_at": record.updated_at})
        elif record is None:
            sys.stdout.write(f"{key}  (unreadable: {problem})\n")
        else:
            status = seen_status(record.status, None, cancelled=record.phase is Phase.CANCELLED)
            sys.stdout.write(
                f"{key}  {record.phase.value}  {status}  {record.job_id or '-'}  {_when(record.updated_at)}\n"
            )
