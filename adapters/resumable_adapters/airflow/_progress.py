"""Progress where Airflow users look: the task state store's ``progress`` entry and a "Job UI" link.

- Each ``ProgressReported`` the core emits (at most one per ``PollPolicy.progress_interval``) is
  written to the task instance's task state store under its own key, ``progress`` (the pattern
  Airflow's docs use; Airflow 3.3's task-state panel shows every entry of a task instance). The
  value is JSON a person can read in that panel, with the raw counts kept for scripts.
- ``JobUiLink`` is an operator extra link to the job's own UI (the Spark driver's UI, the Flink
  dashboard, the Databricks run page...). Airflow 3 reads extra links from an XCom
  (``BaseOperatorLink.xcom_key``) that the task pushes when it ends; the operator also pushes it
  as soon as the job reports its UI, so the link works while the task runs.

Both are for people: a failing write is logged and ignored, and never touches the run.
"""

from __future__ import annotations

import logging
from typing import Any

from resumable_core import JsonValue, load_record
from resumable_core.events import ProgressReported

from ._compat import BaseOperatorLink

PROGRESS_STATE_KEY = "progress"
LINK_NAME = "Job UI"

log = logging.getLogger("resumable_adapters.airflow")


def progress_entry(event: ProgressReported, at: float) -> dict[str, JsonValue]:
    """The task state store value for *event*: one readable line, and the raw parts."""
    progress = event.progress
    main = progress.main
    percent = None if main is None or main.fraction is None else round(100 * main.fraction, 1)
    return {
        "text": progress.describe(),
        "percent": percent,  # of the first count, skipped work counted as done: for a glance only
        "job_id": event.job_id,
        "counts": [count.to_json() for count in progress.counts],
        "label": progress.label,
        "ui_url": progress.ui_url,
        "updated_at": at,
    }


class JobUiLink(BaseOperatorLink):
    """"Job UI": the UI of the job the task runs, as the job reported it (``Progress.ui_url``)."""

    name = LINK_NAME

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Called in the task's process when it ends (Airflow 3 pushes the answer as this link's
        # XCom); the operator remembers the last URL its job reported. "" hides the button.
        return str(getattr(operator, "job_ui_url", None) or "")


class ProgressReporter:
    """What an operator does with each progress event: the state store entry, and the link's XCom."""

    def __init__(self, store: Any, ti: Any, *, state_key: str | None) -> None:
        self.store = store
        self.ti = ti
        self.state_key = state_key  # None: the record is not in the task state store, so no entry
        self.ui_url: str | None = None

    def reattached(self, key: str) -> None:
        """A try that reattached: the link of what an earlier try recorded, until the job reports anew
        (XComs are per try; without this a job whose progress no longer changes would lose its link)."""
        try:
            record = load_record(self.store, key)
        except Exception as exc:  # the run reads the record itself and says what is wrong with it
            log.debug("no recorded progress to take the link from: %s", type(exc).__name__)
            return
        if record is not None and record.progress is not None and record.progress.ui_url:
            self._publish(record.progress.ui_url)

    def reported(self, event: ProgressReported, at: float) -> None:
        if self.state_key is not None:
            try:
                self.store.set(self.state_key, progress_entry(event, at))
            except Exception as exc:  # for people only: the run goes on
                log.warning("could not write the progress to the task state store: %s", type(exc).__name__)
        if event.progress.ui_url:
            self._publish(event.progress.ui_url)

    def _publish(self, url: str) -> None:
        if url == self.ui_url:
            return
        self.ui_url = url
        try:
            self.ti.xcom_push(key=JobUiLink().xcom_key, value=url)
        except Exception as exc:
            log.warning("could not publish the job's UI link: %s", type(exc).__name__)


__all__ = ["LINK_NAME", "PROGRESS_STATE_KEY", "JobUiLink", "ProgressReporter", "progress_entry"]
