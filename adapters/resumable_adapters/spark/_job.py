"""SparkRestJob: one SparkSubmission on one cluster, as a ResumableJob with every capability.

The master is not the only witness. Its word is checked against the workers' (their web
UI pages list the drivers they run and the final state of those that ended) where the
master is known to lose track of drivers (docs/spark.md):

- "unknown" (``success:false``) is JobNotFound only when confirmed: the master has ALIVE
  workers (the driver's own worker among them when we know it), no worker lists the
  driver, and the same holds on a second answer *lost_settle* seconds later. Until then
  TransientError. A worker that lists the driver as ended gives its final state.
- ERROR is checked against the workers: a master that recovered after the driver ended
  reports ERROR whatever the exit code; the worker's final state counts.
- FINISHED means exit code 0; for FAILED the code is read from the tail of the driver's
  log on its worker (*exit_code_patterns*) and shown in the status: ``FAILED (exit code 3)``.
"""


from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence

from resumable_core import AmbiguousSubmission, InvalidArgument, JobNotFound, JsonValue, ProtocolError, TransientError
from resumable_core.errors import ExternalSystemError
from resumable_core.progress import Progress
from resumable_core.redaction import redact

from .._batching import batch_key

# _spark_client first: it raises the ImportError naming the extra when urllib3 is missing.
from ._client import SparkRestClient, check_driver_id
from ._lookup import find_blocking, reference_scan
from ._model import DriverStatus, MasterState
from ._progress import StandaloneProgress
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
# Spark's own words for a Python or R driver's exit status (SparkUserAppException), the
# only exit code Spark itself writes down; a JVM driver's System.exit leaves no trace, so
# callers add a pattern matching what their driver prints (one group: the code).
DEFAULT_EXIT_CODE_PATTERNS: tuple[str, ...] = (r"User application exited with (-?[0-9]{1,9})",)
_STATE_WORDS = re.compile(r"[A-Z]+")

log = logging.getLogger("resumable_adapters.spark")


def driver_state(status: str) -> str:
    """The Spark driver state a status names: ``FAILED (exit code 3)`` -> ``FAILED``."""
    match = _STATE_WORDS.match(status)
    return match.group(0) if match else status


def _status_text(state: str, exit_code: int | None) -> str:
    return f"{state} (exit code {exit_code})" if state == "FAILED" and exit_code is not None else state


class SparkRestJob:
    """One ``SparkSubmission`` on one cluster, as a ResumableJob with every capability.

    The result is JSON (so the core records it and returns it even after the master forgot
    the driver): ``driver_id``, ``state``, ``exit_code`` (0 for FINISHED), ``worker_id``,
    ``worker_host_port``, ``submitted_at`` (master clock, epoch seconds, when known) and
    ``ended_seen_at`` (this process's clock when it first saw the terminal state).

    *lost_settle*: seconds between the two confirmed "unknown" answers a lost verdict
    needs. *exit_code_patterns*: regular expressions (one group, the code) searched in
    the tail of a FAILED driver's stderr, then stdout; the last match wins.
    """

    def __init__(
        self,
        client: SparkRestClient,
        submission: SparkSubmission,
        *,
        reference_property: str = DEFAULT_REFERENCE_PROPERTY,
        find_wait: float = 60.0,
        find_interval: float = 1.0,
        lost_settle: float = 30.0,
        exit_code_patterns: Sequence[str | re.Pattern[str]] = DEFAULT_EXIT_CODE_PATTERNS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_reference("probe", reference_property)
        if not lost_settle >= 0:
            raise InvalidArgument(f"SparkRestJob lost_settle must be >= 0 seconds, got {lost_settle!r}")
        try:
            self.exit_code_patterns = tuple(re.compile(p) for p in exit_code_patterns)
        except re.error as exc:
            raise InvalidArgument(f"SparkRestJob exit_code_patterns: {exc}") from None
        if any(p.groups != 1 for p in self.exit_code_patterns):
            raise InvalidArgument("each SparkRestJob exit_code_pattern needs exactly one group (the code)")
        self.lost_settle = lost_settle
        self.client = client
        self.submission = submission
        self.reference_property = reference_property
        self.find_wait = find_wait
        self.find_interval = find_interval
        self.clock = clock
        self.sleep = sleep
        self._last: dict[str, DriverStatus] = {}
        self._ended_seen_at: dict[str, float] = {}
        self._worker_of: dict[str, str] = {}       # driver id -> the worker it ran on, when seen
        self._unknown_since: dict[str, float] = {}  # driver id -> first confirmed "unknown"
        self._exit_codes: dict[str, int] = {}
        self._progress = StandaloneProgress(client)

    def __repr__(self) -> str:
        return redact(f"SparkRestJob({self.submission!r}, masters={self.client.rest_urls!r})")

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
            return self._unknown_to_master(job_id)
        self._unknown_since.pop(job_id, None)  # known again: a later "unknown" starts over
        if status.state == DRIVER_STATE_UNKNOWN:
            raise TransientError(
                f"Spark driver {job_id!r} is UNKNOWN (its worker is out of touch); asking again",
                job_id=job_id,
                status=status.state,
            )
        if status.state not in DRIVER_STATES:
            raise ProtocolError(f"Spark driver {job_id!r} is in an unknown state", job_id=job_id, status=status.state)
        if status.worker_id is not None:
            self._worker_of[job_id] = status.worker_id
        self._last[job_id] = status
        state = status.state
        if state == "ERROR":
            state = self._error_checked_with_workers(job_id, status)
        if state in DRIVER_STATES_ACTIVE:
            return state
        return self._ended(job_id, state)

    # -- batched status (resumable_core.aio.SupportsBatchStatus) ---------------------------------

    @property
    def batch_key(self) -> str:
        """The masters' web UIs and credentials; empty (never batched) without a web UI to list from."""
        if not self.client.web_ui_urls:
            return ""
        auth = self.client.auth
        return batch_key("spark-standalone", *self.client.web_ui_urls, secrets=auth.secrets() if auth else ())

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The active drivers among *job_ids*, from one read of the ALIVE master's ``/json/``.

        Only active states are answered: an ended driver (its exit code, the workers'
        check of ERROR), an UNKNOWN one and an unlisted one are asked directly, so every
        verdict stays with ``get_job_status``.
        """
        wanted = set(job_ids)
        statuses: dict[str, str] = {}
        for driver in self.client.master_state().drivers:
            if driver.driver_id in wanted and driver.state in DRIVER_STATES_ACTIVE:
                statuses[driver.driver_id] = driver.state
                self._unknown_since.pop(driver.driver_id, None)  # listed: known again, as a direct answer says
                if driver.worker_id is not None:
                    self._worker_of[driver.driver_id] = driver.worker_id
        return statuses

    def is_job_active(self, status: str) -> bool:
        return driver_state(status) in DRIVER_STATES_ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return driver_state(status) in DRIVER_STATES_SUCCEEDED

    def exit_code(self, job_id: str) -> int | None:
        """The driver's exit code where Spark shows it: 0 once FINISHED; for FAILED, what
        *exit_code_patterns* find in its log; None while it runs or when nothing says."""
        if job_id not in self._exit_codes:
            self.get_job_status(job_id)
        return self._exit_codes.get(job_id)

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
        state = driver_state(status)
        exit_code = self._exit_codes.get(job_id, 0 if state in DRIVER_STATES_SUCCEEDED else None)
        return {
            "driver_id": job_id,
            "state": state,
            "exit_code": exit_code,
            "worker_id": last.worker_id if last is not None else self._worker_of.get(job_id),
            "worker_host_port": last.worker_host_port if last is not None else None,
            "submitted_at": submitted_at,
            "ended_seen_at": self._ended_seen_at.get(job_id, self.clock()),
        }

    # -- the workers' word ----------------------------------------------------------------------

    def _unknown_to_master(self, job_id: str) -> str:
        """The master answered "unknown": a verdict only once the workers confirm it, twice."""
        if self.client.web_ui_urls:
            master = self.client.master_state()
            if not master.worker_ui:
                raise TransientError(
                    f"the Spark master does not know driver {job_id!r} and has no ALIVE worker yet "
                    "(restarted?): cannot tell whether the driver still runs on one; asking again",
                    job_id=job_id,
                )
            worker = self._worker_of.get(job_id)
            if worker is not None and worker not in master.worker_ui:
                raise TransientError(
                    f"the Spark master does not know driver {job_id!r}, and its worker {worker} has not "
                    "registered with it (again) yet; asking again",
                    job_id=job_id,
                )
            seen, missing = self._seen_on_workers(master, job_id)
            if seen is not None:
                worker_id, state = seen
                if state in DRIVER_STATES_ACTIVE or state == DRIVER_STATE_UNKNOWN:
                    raise TransientError(
                        f"the Spark master does not know driver {job_id!r} but worker {worker_id} still runs "
                        f"it ({state}): a restarted master; asking again",
                        job_id=job_id,
                    )
                self._say(f"the Spark master does not know driver {job_id!r}; its worker {worker_id} saw it end "
                          f"{state}, which counts")
                return self._ended(job_id, state)
        else:
            missing = ()
        # A worker without a page (404) testifies to nothing: the verdict rests on the other workers
        # and on the master's word confirmed twice, as for a client without web UIs. Safe, since a
        # worker that registers with a master unaware of its driver is told to kill it.
        checked = ""
        if self.client.web_ui_urls:
            checked = " and no worker lists it" + (f" (no page on {', '.join(missing)}: HTTP 404)" if missing else "")
        now = self.clock()
        first = self._unknown_since.setdefault(job_id, now)
        if now < first + self.lost_settle:
            raise TransientError(
                f"the Spark master does not know driver {job_id!r}{checked}"
                f"; asking again {first + self.lost_settle - now:.0f}s from now before it counts as lost",
                job_id=job_id,
            )
        raise JobNotFound(
            f"the Spark master does not know driver {job_id!r}{checked}, on two answers {now - first:.0f}s apart",
            job_id=job_id,
        )

    def _error_checked_with_workers(self, job_id: str, status: DriverStatus) -> str:
        """ERROR from the master, or the final state the driver's worker saw."""
        if not self.client.web_ui_urls:
            return "ERROR"  # nobody to ask (docs/spark.md): the master's word stands
        seen, missing = self._seen_on_workers(self.client.master_state(), job_id)
        if seen is None and missing:
            # What is known: the master's ERROR, and no readable worker that saw it otherwise. The
            # master's word stands, as with no web UI to ask; say what could not be checked.
            self._say(f"the Spark master reports driver {job_id!r} ERROR; no worker page lists it and "
                      f"{', '.join(missing)} has no page (HTTP 404), so the master's ERROR stands")
        if seen is None or seen[1] == "ERROR":
            return "ERROR"
        worker_id, state = seen
        if state in DRIVER_STATES_ACTIVE or state == DRIVER_STATE_UNKNOWN:
            raise TransientError(
                f"the Spark master reports driver {job_id!r} ERROR but worker {worker_id} still runs it "
                f"({state}); asking again",
                job_id=job_id,
                status="ERROR",
            )
        self._say(f"the Spark master reports driver {job_id!r} ERROR (a recovered master does so for a driver "
                  f"that ended while it was down) but its worker {worker_id} saw it end {state}, which counts")
        return state

    def _seen_on_workers(self, master: MasterState, job_id: str) -> tuple[tuple[str, str] | None, tuple[str, ...]]:
        """(worker id, state) from the first ALIVE worker whose page lists the driver, or None;
        and the workers that answered they have no page (HTTP 404).

        Its own worker is asked first. A page that cannot be read (refused, 5xx, cut) makes the
        answer unknowable: TransientError, never "not listed". A page the worker says it does
        not have is a definite answer: that worker shows nothing, and the others decide.
        """
        known = self._worker_of.get(job_id)
        order = sorted(master.worker_ui.items(), key=lambda item: item[0] != known)
        missing: list[str] = []
        for worker_id, worker_ui in order:
            try:
                drivers = self.client.worker_drivers(worker_ui)
            except (TransientError, ProtocolError) as exc:
                raise TransientError(
                    f"cannot tell what became of Spark driver {job_id!r}: worker {worker_id}: {exc.message}",
                    job_id=job_id,
                ) from exc
            if drivers is None:
                missing.append(f"worker {worker_id}")
            elif job_id in drivers:
                self._worker_of[job_id] = worker_id
                return (worker_id, drivers[job_id]), tuple(missing)
        return None, tuple(missing)

    def _ended(self, job_id: str, state: str) -> str:
        """The status of an ended driver: its state, with the exit code when known."""
        self._ended_seen_at.setdefault(job_id, self.clock())
        if state in DRIVER_STATES_SUCCEEDED:
            self._exit_codes[job_id] = 0  # Spark says FINISHED only for exit status 0
        elif state == "FAILED" and job_id not in self._exit_codes:
            code = self._exit_code_from_log(job_id)
            if code is not None:
                self._exit_codes[job_id] = code
        return _status_text(state, self._exit_codes.get(job_id))

    def _exit_code_from_log(self, job_id: str) -> int | None:
        if not self.exit_code_patterns or not self.client.web_ui_urls:
            return None
        try:
            worker_id = self._worker_of.get(job_id)
            worker_ui = self.client.master_state().worker_ui.get(worker_id or "")
            if worker_ui is None:
                return None
            for log_type in ("stderr", "stdout"):
                text = self.client.driver_log(worker_ui, job_id, log_type, tail=True)
                codes = [m.group(1) for p in self.exit_code_patterns for m in p.finditer(text)]
                if codes:
                    return int(codes[-1])
        except (ExternalSystemError, ValueError):
            return None  # the code is a detail: its absence must not hide the failure
        return None

    @staticmethod
    def _say(text: str) -> None:
        log.warning("%s", redact(text))

    # -- capabilities -------------------------------------------------------------------------

    def cancel_job(self, job_id: str) -> None:
        # success:false means "already ended or unknown": not an error for a cancel.
        self.client.kill(check_driver_id(job_id))

    def job_fingerprint(self) -> str:
        return self.submission.fingerprint()

    def job_progress(self, job_id: str) -> Progress | None:
        """Tasks and stages done, from the driver's own UI (found from its stderr): docs/progress.md."""
        return self._progress.progress(check_driver_id(job_id))

    def find_job_by_reference(self, reference: str) -> str | None:
        """The driver launched with *reference*, None when surely none was, else TransientError."""
        check_reference(reference, self.reference_property)
        if not self.client.web_ui_urls:
            raise AmbiguousSubmission(
                f"cannot look up Spark reference {reference!r}: the client has no web_ui_urls; "
                "check the cluster, then record the driver id or forget the key"
            )
        scan = reference_scan(self.submission, self.reference_property, reference, find_wait=self.find_wait,
                              find_interval=self.find_interval, clock=self.clock)
        return find_blocking(scan, master_state=self.client.master_state, log_head=self.client.driver_log_head,
                             sleep=self.sleep)


__all__ = ["DEFAULT_EXIT_CODE_PATTERNS", "SparkDriverResult", "SparkRestJob", "driver_state"]
