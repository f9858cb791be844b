"""SparkRestJob: one SparkSubmission on one cluster, as a ResumableJob with every capability."""


from __future__ import annotations

import time
from collections.abc import Callable

from resumable_core import AmbiguousSubmission, JobNotFound, JsonValue, ProtocolError, TransientError
from resumable_core.errors import ExternalSystemError

# _spark_client first: it raises the ImportError naming the extra when urllib3 is missing.
from ._client import SparkRestClient, check_driver_id
from ._model import DriverStatus, MasterDriver, MasterState
from ._submission import (
    DEFAULT_REFERENCE_PROPERTY,
    DRIVER_STATE_UNKNOWN,
    DRIVER_STATES,
    DRIVER_STATES_ACTIVE,
    DRIVER_STATES_SUCCEEDED,
    SparkSubmission,
    check_reference,
)

SparkDriverResult = dict[str, JsonValue]
_LAUNCH_MARKER = "Launch Command:"


class SparkRestJob:
    """One ``SparkSubmission`` on one cluster, as a ResumableJob with every capability.

    The result is JSON (so the core records it and returns it even after the master forgot
    the driver): ``driver_id``, ``state``, ``worker_id``, ``worker_host_port``,
    ``submitted_at`` (master clock, epoch seconds, when known) and ``ended_seen_at``
    (this process's clock when it first saw the terminal state).
    """

    def __init__(
        self,
        client: SparkRestClient,
        submission: SparkSubmission,
        *,
        reference_property: str = DEFAULT_REFERENCE_PROPERTY,
        find_wait: float = 60.0,
        find_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_reference("probe", reference_property)
        self.client = client
        self.submission = submission
        self.reference_property = reference_property
        self.find_wait = find_wait
        self.find_interval = find_interval
        self.clock = clock
        self.sleep = sleep
        self._last: dict[str, DriverStatus] = {}
        self._ended_seen_at: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"SparkRestJob({self.submission!r}, masters={self.client.rest_urls!r})"

    # -- ResumableJob -------------------------------------------------------------------------

    def submit_job(self, reference: str) -> str:
        request = self.submission.create_request(self.reference_property, reference)
        try:
            return self.client.create(request)
        except ExternalSystemError as exc:
            exc.message = self.submission.scrub(exc.message)  # a 400 may echo part of the body
            exc.args = (exc.message,)
            raise

    def get_job_status(self, job_id: str) -> str:
        check_driver_id(job_id)
        status = self.client.status(job_id)
        if status is None:
            raise JobNotFound(f"the Spark master does not know driver {job_id!r}", job_id=job_id)
        if status.state == DRIVER_STATE_UNKNOWN:
            raise TransientError(
                f"Spark driver {job_id!r} is UNKNOWN (its worker is out of touch); asking again",
                job_id=job_id,
                status=status.state,
            )
        if status.state not in DRIVER_STATES:
            raise ProtocolError(f"Spark driver {job_id!r} is in an unknown state", job_id=job_id, status=status.state)
        self._last[job_id] = status
        if status.state not in DRIVER_STATES_ACTIVE:
            self._ended_seen_at.setdefault(job_id, self.clock())
        return status.state

    def is_job_active(self, status: str) -> bool:
        return status in DRIVER_STATES_ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return status in DRIVER_STATES_SUCCEEDED

    def get_job_result(self, job_id: str, status: str) -> SparkDriverResult:
        check_driver_id(job_id)
        last = self._last.get(job_id)
        submitted_at: float | None = None
        try:
            if last is None:
                last = self.client.status(job_id)
            if self.client.web_ui_urls:
                found = [d for d in self.client.master_state().drivers if d.driver_id == job_id]
                submitted_at = found[0].start_time if found else None
        except ExternalSystemError:
            pass  # the master may have forgotten the driver or be down: the result keeps what we know
        return {
            "driver_id": job_id,
            "state": status,
            "worker_id": last.worker_id if last is not None else None,
            "worker_host_port": last.worker_host_port if last is not None else None,
            "submitted_at": submitted_at,
            "ended_seen_at": self._ended_seen_at.get(job_id, self.clock()),
        }

    # -- capabilities -------------------------------------------------------------------------

    def cancel_job(self, job_id: str) -> None:
        # success:false means "already ended or unknown": not an error for a cancel.
        self.client.kill(check_driver_id(job_id))

    def job_fingerprint(self) -> str:
        return self.submission.fingerprint()

    def find_job_by_reference(self, reference: str) -> str | None:
        """The driver launched with *reference*, None when surely none was, else TransientError."""
        check_reference(reference, self.reference_property)
        if not self.client.web_ui_urls:
            raise AmbiguousSubmission(
                f"cannot look up Spark reference {reference!r}: the client has no web_ui_urls; "
                "check the cluster, then record the driver id or forget the key"
            )
        marker = f'"-D{self.reference_property}={reference}"'
        deadline = self.clock() + self.find_wait
        checked: set[str] = set()  # completed drivers whose launch line we already read
        while True:
            state = self.client.master_state()
            undecided: list[str] = []
            # Newest first: a crash between submit and persist is recent.
            for driver in sorted(state.drivers, key=lambda d: d.start_time or 0.0, reverse=True):
                if driver.driver_id in checked or not self._could_be_ours(driver):
                    continue
                verdict = self._launched_with(state, driver, marker)
                if verdict is True:
                    return driver.driver_id
                if verdict is None:
                    undecided.append(driver.driver_id)
                elif driver.state not in DRIVER_STATES_ACTIVE:
                    checked.add(driver.driver_id)
            if not undecided:
                return None
            if self.clock() >= deadline:
                raise TransientError(
                    f"Spark reference {reference!r}: drivers {', '.join(undecided[:5])} are not launched yet "
                    f"after {self.find_wait:.0f}s; cannot tell whether one carries it"
                )
            self.sleep(self.find_interval)

    def _could_be_ours(self, driver: MasterDriver) -> bool:
        """Cheap filter on what /json/ shows, so we read few worker logs."""
        if driver.main_class is not None and driver.main_class != self.submission.main_class:
            return False
        return driver.cores is None or driver.cores == self.submission.driver_cores

    def _launched_with(self, state: MasterState, driver: MasterDriver, marker: str) -> bool | None:
        """True/False from the driver's launch line; None when it cannot be known yet."""
        active = driver.state in DRIVER_STATES_ACTIVE or driver.state == DRIVER_STATE_UNKNOWN
        worker_ui = state.worker_ui.get(driver.worker_id or "")
        if worker_ui is None:
            # No worker yet (SUBMITTED): wait. A completed one on a lost worker: unknowable, skipped.
            return None if active else False
        try:
            head = self.client.driver_log_head(worker_ui, driver.driver_id)
        except (TransientError, ProtocolError):
            return None if active else False
        if _LAUNCH_MARKER not in head:
            return None if active else False  # launched a moment ago: the line is not written yet
        start = head.index(_LAUNCH_MARKER)
        end = head.find("\n", start)
        line = head[start:] if end < 0 else head[start:end]
        if marker in line:
            return True
        # A launch line longer than what we read may hide the property further on.
        return (None if active else False) if end < 0 else False


__all__ = ["SparkDriverResult", "SparkRestJob"]
