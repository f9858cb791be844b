"""A run's status as one text, read from ``Run.status`` (lifecycle v2), never the deprecated ``state``.

While the run may still change: the state itself (``RUNNING``, ``BLOCKED``, ...). Once it
ended: ``TERMINATED <type>/<code>`` from ``status.termination_details`` (``TERMINATED
SUCCESS/SUCCESS``, ``TERMINATED CLIENT_ERROR/RUN_EXECUTION_ERROR``); a code the installed
SDK does not know reads ``?``, and is never a success.
"""

from __future__ import annotations

from typing import Any

from resumable_core.errors import ProtocolError

from ._client import jobs

# WAITING_FOR_RETRY is a life_cycle_state of the old field; kept here so that a status text
# recorded from it (or a server answering it in ``status.state``) still reads as active.
ACTIVE_STATES = frozenset({"QUEUED", "PENDING", "BLOCKED", "WAITING", "WAITING_FOR_RETRY", "RUNNING", "TERMINATING"})
TERMINATED = "TERMINATED"
SUCCESS_CODES = frozenset({"SUCCESS"})  # SUCCESS_WITH_FAILURES is a failure unless a job's policy says otherwise


def status_text(status: jobs.RunStatus | None, *, job_id: str) -> str:
    """The status text of a run (or one repair of it); ProtocolError when the answer has none."""
    state = status.state.value if status is not None and status.state is not None else None
    if state is None:
        raise ProtocolError(f"Databricks run {job_id} has no status.state the SDK reads", job_id=job_id)
    if state != TERMINATED:
        return state
    details = status.termination_details if status is not None else None
    kind = details.type.value if details is not None and details.type is not None else "?"
    code = details.code.value if details is not None and details.code is not None else "?"
    return f"{TERMINATED} {kind}/{code}"


def run_state(status: str) -> str:
    """The lifecycle state a status text names: ``TERMINATED CLIENT_ERROR/...`` -> ``TERMINATED``."""
    return status.split(" ", 1)[0]


def termination_code(status: str) -> str | None:
    """The termination code of an ended run's status text, None while it runs."""
    if run_state(status) != TERMINATED or "/" not in status:
        return None
    return status.rsplit("/", 1)[1]


def task_states(tasks: list[jobs.RunTask] | None) -> list[dict[str, Any]]:
    """Each task run as JSON: key, run id, attempt, state, termination type/code/message."""
    out: list[dict[str, Any]] = []
    for task in tasks or ():
        status = task.status
        details = status.termination_details if status is not None else None
        out.append({
            "task_key": task.task_key,
            "run_id": task.run_id,
            "attempt_number": task.attempt_number,
            "state": status.state.value if status is not None and status.state is not None else None,
            "termination_type": details.type.value if details is not None and details.type is not None else None,
            "termination_code": details.code.value if details is not None and details.code is not None else None,
            "message": details.message if details is not None else None,
            "run_page_url": task.run_page_url,
        })
    return out


def failed_tasks(tasks: list[dict[str, Any]]) -> list[str]:
    """The keys of the tasks that ended other than in success (what a repair reruns)."""
    return [t["task_key"] for t in tasks if t["state"] == TERMINATED and t["termination_code"] not in SUCCESS_CODES]


__all__ = ["ACTIVE_STATES", "SUCCESS_CODES", "TERMINATED", "failed_tasks", "run_state", "status_text",
           "task_states", "termination_code"]
