"""How far a Databricks run has got: its tasks finished of total, the running ones, its run page.

What the Jobs API can honestly say of a run in progress is its task runs' states (``runs/get``,
every page of ``tasks``): a task whose ``status.state`` is ``TERMINATED`` has finished, one that
ended ``SKIPPED`` or ``DISABLED`` never ran (an upstream task failed, its ``run_if`` condition did
not hold, it was disabled) and counts as skipped, so an ended run has ``done + skipped ==
total``. There is no percentage in the API, and none is made up: a task's own progress (a
notebook cell, a Spark stage) is not in the Jobs API. The label names the running tasks; the
link is the run's ``run_page_url``.

A repair (job id ``<run_id>/repair/<repair_id>``) counts its own tasks, the task runs its
``repair_history`` entry names (``task_run_ids``), not the tasks it left alone. A task retried
by its retry policy shows once per attempt (``attempt_number``); only the latest one counts.

Nothing here decides anything or changes the run: a failed read is the client's typed error
(TransientError for 429, 5xx and timeouts), which the core logs and ignores.
"""

from __future__ import annotations

from resumable_core import JobNotFound
from resumable_core.progress import Count, Progress

from ._client import jobs
from ._repair import RunRef

UNIT = "tasks"
NEVER_RAN = frozenset({"SKIPPED", "DISABLED"})  # termination codes of a task run that was never executed
RUNNING = frozenset({"RUNNING", "TERMINATING"})
LABEL_TASKS = 3  # running tasks a label names; the others are counted
KEY_CHARS = 40  # a task key is cut to this in the label (keys may have up to 100 characters)


def run_progress(run: jobs.Run | jobs.BaseRun, ref: RunRef) -> Progress | None:
    """The progress of *ref* (the run, or one repair of it) from *run*, a ``runs/get`` answer with
    every page of its tasks and repair history, or a run as ``runs/list`` showed it with all its
    tasks (pure); None when it has nothing to say."""
    latest = _latest_attempts(run.tasks or ())
    unmatched = 0
    if ref.repair_id is not None:
        item = next((h for h in run.repair_history or () if h.id == ref.repair_id), None)
        if item is None:
            raise JobNotFound(f"Databricks run {ref.run_id} has no repair {ref.repair_id}", job_id=ref.job_id)
        ids = set(item.task_run_ids or ())
        keys = {task.task_key for task in run.tasks or () if task.run_id in ids}
        # A task run the repair names that no task entry shows: its state is unknown, so it has not finished.
        unmatched = len(ids - {task.run_id for task in run.tasks or ()})
        latest = {key: task for key, task in latest.items() if key in keys}
    done = skipped = 0
    running: list[str] = []
    for key, task in latest.items():
        state, code = _state(task)
        if state == "TERMINATED":
            if code in NEVER_RAN:
                skipped += 1
            else:
                done += 1  # finished, however it ended: a failed task is done too (the status says the rest)
        elif state in RUNNING:
            running.append(key)
    total = len(latest) + unmatched
    url = run.run_page_url if isinstance(run.run_page_url, str) and run.run_page_url.startswith(
        ("https://", "http://")) else None
    if total == 0 and url is None:
        return None
    counts = (Count(UNIT, done=done, total=total, skipped=skipped),) if total else ()
    return Progress(counts=counts, label=running_label(running), ui_url=url)


def running_label(keys: list[str]) -> str | None:
    """``running: ingest, transform (+2 more)``: the first running tasks' keys, each cut short."""
    if not keys:
        return None
    shown = [key if len(key) <= KEY_CHARS else key[: KEY_CHARS - 1] + "…" for key in keys[:LABEL_TASKS]]
    more = f" (+{len(keys) - LABEL_TASKS} more)" if len(keys) > LABEL_TASKS else ""
    return f"running: {', '.join(shown)}{more}"


def _latest_attempts(tasks: list[jobs.RunTask] | tuple[()]) -> dict[str, jobs.RunTask]:
    """Each task key's latest attempt, in the order the run lists its tasks."""
    latest: dict[str, jobs.RunTask] = {}
    for task in tasks:
        key = task.task_key
        seen = latest.get(key)
        if seen is None or (task.attempt_number or 0) >= (seen.attempt_number or 0):
            latest[key] = task
    return latest


def _state(task: jobs.RunTask) -> tuple[str | None, str | None]:
    """A task run's lifecycle state and termination code from ``status`` (None: the answer has none)."""
    status = task.status
    state = status.state.value if status is not None and status.state is not None else None
    details = status.termination_details if status is not None else None
    code = details.code.value if details is not None and details.code is not None else None
    return state, code


__all__ = ["LABEL_TASKS", "UNIT", "run_progress", "running_label"]
