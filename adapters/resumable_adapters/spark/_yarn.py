"""``SparkYarnJob``: Spark cluster mode on YARN as a ResumableJob with every capability.

Submission runs the real spark-submit (``--master yarn --deploy-mode cluster``,
``spark.yarn.submit.waitAppCompletion=false``): it speaks Hadoop RPC to the
ResourceManager (``HADOOP_CONF_DIR`` / ``YARN_CONF_DIR`` in the launcher's environment
say where), and prints the application id. The reference travels as an application tag
(``spark.yarn.tags``: ``resumable-ref-<slug>``), so after a crash between submit and
persist the application is found again with ``/ws/v1/cluster/apps?applicationTags=``.

The output decides what a launch proves. An application id that spark-submit says it
submitted (``Submitted application ...``, ``Application report for ...``) is the job,
whatever the exit code (an application rejected by its queue exits 1 but exists, and its
status says FAILED). Arguments refused before any cluster contact are
SubmissionRejected. Anything else (an exit after "Submitting application", a timeout) is
a TransientError: the core keeps the intent and looks the tag up.

Status: ``STATE/FINALSTATUS`` as the ResourceManager reports them. NEW, NEW_SAVING,
SUBMITTED, ACCEPTED, RUNNING are active (final status UNDEFINED meanwhile); FINISHED
with SUCCEEDED succeeded; FINISHED with FAILED, KILLED or UNDEFINED, FAILED and KILLED
failed. An application the RM does not know (404) is JobNotFound.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

from resumable_core import JobNotFound, JsonValue, ProtocolError, TransientError
from resumable_core.progress import Progress
from resumable_core.redaction import redact

from .._batching import batch_key
from ..yarn import YarnApplication, YarnRestClient, check_app_id
from ._cluster_submission import SparkClusterSubmission, reference_slug
from ._launcher import SparkSubmitLauncher, ambiguous_failure, usage_rejection
from ._progress import yarn_progress

log = logging.getLogger("resumable_adapters.spark")

TAG_PREFIX = "resumable-ref-"
YARN_STATES_ACTIVE = frozenset({"NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING"})
YARN_STATES_ENDED = frozenset({"FINISHED", "FAILED", "KILLED"})
# Lines that name an application YARN has taken (Hadoop's YarnClientImpl, Spark's yarn Client).
_SUBMITTED = re.compile(r"(?:Submitted application|Application report for) (application_[0-9]+_[0-9]+)")
YarnAppResult = dict[str, JsonValue]


def yarn_state(status: str) -> tuple[str, str]:
    """``FINISHED/FAILED`` -> (``FINISHED``, ``FAILED``)."""
    state, _, final = status.partition("/")
    return state, final or "UNDEFINED"


class SparkYarnJob:
    """One ``SparkClusterSubmission`` on one YARN cluster.

    *launcher*: how spark-submit runs; give it ``env={"HADOOP_CONF_DIR": ...}`` for the
    cluster's client configuration. The result is JSON: ``application_id``, ``state``,
    ``final_status``, ``queue``, ``tracking_url``, ``started_ms``, ``finished_ms``,
    ``diagnostics`` (cut to 500 characters).
    """

    def __init__(self, client: YarnRestClient, submission: SparkClusterSubmission, *,
                 launcher: SparkSubmitLauncher | None = None) -> None:
        self.client = client
        self.submission = submission
        self.launcher = launcher or SparkSubmitLauncher()
        self._last: dict[str, YarnApplication] = {}

    def __repr__(self) -> str:
        return redact(f"SparkYarnJob({self.submission!r}, {self.client!r})")

    @staticmethod
    def tag(reference: str) -> str:
        return TAG_PREFIX + reference_slug(reference)

    # -- ResumableJob -------------------------------------------------------------------------

    def submit_job(self, reference: str) -> str:
        tag = self.tag(reference)
        conf = dict(self.submission.conf)
        conf["spark.yarn.tags"] = ",".join(t for t in (conf.get("spark.yarn.tags", ""), tag) if t)
        conf["spark.yarn.submit.waitAppCompletion"] = "false"
        args = ["--master", "yarn", "--deploy-mode", "cluster", *self.submission.options(),
                *self.submission.app_tail()]
        what = f"YARN submission tagged {tag!r}"
        result = self.launcher.launch(args, conf, secrets=self.submission.secret_values(), what=what)
        named = _SUBMITTED.findall(result.output)
        if named:
            if len(set(named)) > 1:
                raise ProtocolError(f"{what}: spark-submit named several applications ({', '.join(sorted(set(named)))})")
            if result.returncode != 0:
                log.warning("%s", redact(f"{what}: spark-submit exited {result.returncode} but YARN took "
                                         f"{named[0]}; its status will tell: {result.summary()}"))
            return check_app_id(named[0])
        if result.returncode == 0:
            raise ProtocolError(f"{what}: spark-submit exited 0 without naming an application; it may have "
                                "been accepted (is the log level above INFO?)")
        rejection = usage_rejection(what, result)
        if rejection is not None:
            raise rejection
        raise ambiguous_failure(what, result)

    def get_job_status(self, job_id: str) -> str:
        app = self.client.application(check_app_id(job_id))
        if app is None:
            raise JobNotFound(f"the YARN ResourceManager does not know application {job_id!r} (RM restarted "
                              "without recovery, or the application aged out)", job_id=job_id)
        if app.state not in YARN_STATES_ACTIVE | YARN_STATES_ENDED:
            raise ProtocolError(f"YARN application {job_id!r} is in an unknown state", job_id=job_id,
                                status=app.state)
        self._last[job_id] = app
        if app.state in YARN_STATES_ACTIVE:
            return f"{app.state}/UNDEFINED"  # the final status means nothing until the end
        return f"{app.state}/{app.final_status}"

    # -- batched status (resumable_core.aio.SupportsBatchStatus) ---------------------------------

    @property
    def batch_key(self) -> str:
        """The ResourceManagers, the user and the kind of authentication the listing is made with."""
        auth = self.client.auth
        return batch_key("yarn", *self.client.rm_urls, f"user={self.client.user or ''}",
                         f"auth={type(auth).__name__ if auth is not None else ''}")

    def get_job_statuses(self, job_ids: Sequence[str]) -> Mapping[str, str]:
        """The active applications among *job_ids*, from one ``apps?states=`` listing of the active states.

        An application that ended is not in it and is asked directly (its final status and
        diagnostics come from there), as is one the listing does not show for any reason.
        """
        wanted = set(job_ids)
        statuses: dict[str, str] = {}
        for app in self.client.applications_in_states(YARN_STATES_ACTIVE):
            if app.app_id in wanted:
                self._last[app.app_id] = app
                statuses[app.app_id] = f"{app.state}/UNDEFINED"  # as get_job_status says it
        return statuses

    def is_job_active(self, status: str) -> bool:
        return yarn_state(status)[0] in YARN_STATES_ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return yarn_state(status) == ("FINISHED", "SUCCEEDED")

    def get_job_result(self, job_id: str, status: str) -> YarnAppResult:
        app = self._last.get(job_id)
        if app is None:
            try:
                app = self.client.application(check_app_id(job_id))
            except (TransientError, ProtocolError):
                app = None  # the details are a bonus: their absence must not hide the outcome
        state, final = yarn_state(status)
        diagnostics = redact(app.diagnostics)[:500] if app is not None and app.diagnostics else None
        return {
            "application_id": job_id,
            "state": state,
            "final_status": final,
            "queue": app.queue if app else None,
            "tracking_url": app.tracking_url if app else None,
            "started_ms": app.started_ms if app else None,
            "finished_ms": app.finished_ms if app else None,
            "diagnostics": diagnostics,
        }

    # -- capabilities -------------------------------------------------------------------------

    def find_job_by_reference(self, reference: str) -> str | None:
        """The application tagged with *reference*: the live one, else the newest; None if none."""
        apps = self.client.applications_by_tag(self.tag(reference))
        if not apps:
            return None
        apps.sort(key=lambda a: (a.state in YARN_STATES_ACTIVE, a.started_ms or 0, a.app_id), reverse=True)
        if len(apps) > 1:
            log.warning("%s", redact(f"YARN tag {self.tag(reference)!r} is on {len(apps)} applications; "
                                     f"taking {apps[0].app_id}"))
        return apps[0].app_id

    def cancel_job(self, job_id: str) -> None:
        # 202 (kill in progress) is fine: the poller sees KILLED next; an ended or unknown app is not an error.
        self.client.kill(check_app_id(job_id))

    def job_fingerprint(self) -> str:
        return self.submission.fingerprint("yarn")  # the RMs' addresses are where, not what

    def job_progress(self, job_id: str) -> Progress | None:
        """Tasks and stages done, from the driver's UI through the RM's web proxy (docs/progress.md).

        Only once YARN says RUNNING: before, the proxy has no UI to show (its own page instead)."""
        app = self._last.get(job_id)
        if app is None or app.state != "RUNNING":
            return None
        return yarn_progress(self.client, check_app_id(job_id))


__all__ = [
    "TAG_PREFIX",
    "YARN_STATES_ACTIVE",
    "YARN_STATES_ENDED",
    "SparkYarnJob",
    "YarnAppResult",
    "yarn_state",
]
