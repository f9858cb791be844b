"""Spark cluster mode for resumable_core: standalone over the master's REST submission server
(SparkRestJob, AsyncSparkRestJob), YARN and Kubernetes through spark-submit (SparkYarnJob,
SparkKubernetesJob; docs/spark-cluster-managers.md). Their cluster clients are packages of
their own: resumable_adapters.yarn (YarnRestClient, SpnegoAuth) and resumable_adapters.kubernetes
(KubernetesClient).

::

    from resumable_adapters.spark import SparkRestClient, SparkRestJob, SparkSubmission
    from resumable_adapters.sqlite import SqliteStateStore
    from resumable_core import run_resumable

    client = SparkRestClient("spark://m1:6066,m2:6066", web_ui_urls="http://m1:8080,http://m2:8080")
    job = SparkRestJob(client, SparkSubmission(app_resource="file:/jobs/etl.jar", main_class="etl.Main"))
    result = run_resumable(job, SqliteStateStore("state.db"), key="etl-2026-11-24")

Driver states: SUBMITTED, RUNNING, RELAUNCHING are active; FINISHED succeeded; FAILED,
KILLED, ERROR failed (a status may carry the exit code: ``FAILED (exit code 3)``; use
``driver_state`` to get the state). UNKNOWN (the master lost touch with the driver's
worker) is not an answer: it raises TransientError, so it is polled again within the
transient budget and never leads to a resubmission. ``success:false`` on a status is
``JobNotFound`` only once the workers confirm it twice, and an ERROR is checked against
the driver's worker (the rules: docs/spark.md).

Finding a driver by reference (after a crash between submit and persist): the reference
travels in the Spark property ``spark.resumable.ref`` (a key and value Spark does not
redact) and is matched in the launch command each worker logs as the first line of the
driver's stderr. Needs ``web_ui_urls``. Limits: a driver that never launched (missing
jar, ERROR) or whose worker or work dir is gone cannot be found; a driver still
SUBMITTED (no worker yet) is waited for, up to *find_wait* seconds, then TransientError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

# Each public name and the private module that defines it, loaded on first use: the
# ``resumable`` command imports this package to find its spark-submit command, and a command
# that never touches Spark (``resumable status`` of a local job) must not pay for urllib3, nor
# fail without the 'spark' extra. ``_client`` raises the ImportError naming the extra.
_HOMES: dict[str, str] = {
    "AsyncSparkRestClient": "_async_job",  # aiohttp: the 'spark-async' extra
    "AsyncSparkRestJob": "_async_job",
    "BearerToken": "_auth",
    "DEFAULT_EXIT_CODE_PATTERNS": "_job",
    "DRIVER_ID_RE": "_client",
    "DRIVER_STATES_ACTIVE": "_submission",
    "DRIVER_STATES_FAILED": "_submission",
    "DRIVER_STATES_SUCCEEDED": "_submission",
    "DriverStatus": "_model",
    "JwsAuth": "_auth",
    "LaunchResult": "_launcher",
    "MasterDriver": "_model",
    "MasterState": "_model",
    "SparkAuth": "_auth",
    "SparkClusterSubmission": "_cluster_submission",
    "SparkDriverResult": "_job",
    "SparkKubernetesJob": "_kubernetes",
    "SparkRestClient": "_client",
    "SparkRestJob": "_job",
    "SparkSubmitLauncher": "_launcher",
    "SparkSubmission": "_submission",
    "SparkSuperviseWarning": "_submission",
    "SparkYarnJob": "_yarn",
    "check_driver_id": "_client",
    "driver_state": "_job",
    "pod_phase": "_kubernetes",
    "read_properties_file": "_properties",
    "yarn_state": "_yarn",
}

if TYPE_CHECKING:
    from ._async_job import AsyncSparkRestClient, AsyncSparkRestJob
    from ._auth import BearerToken, JwsAuth, SparkAuth
    from ._client import DRIVER_ID_RE, SparkRestClient, check_driver_id
    from ._cluster_submission import SparkClusterSubmission
    from ._job import DEFAULT_EXIT_CODE_PATTERNS, SparkDriverResult, SparkRestJob, driver_state
    from ._kubernetes import SparkKubernetesJob, pod_phase
    from ._launcher import LaunchResult, SparkSubmitLauncher
    from ._model import DriverStatus, MasterDriver, MasterState
    from ._properties import read_properties_file
    from ._submission import (
        DRIVER_STATES_ACTIVE,
        DRIVER_STATES_FAILED,
        DRIVER_STATES_SUCCEEDED,
        SparkSubmission,
        SparkSuperviseWarning,
    )
    from ._yarn import SparkYarnJob, yarn_state


__getattr__, __dir__ = exports(__name__, _HOMES)


__all__ = [
    "AsyncSparkRestClient",
    "AsyncSparkRestJob",
    "BearerToken",
    "DEFAULT_EXIT_CODE_PATTERNS",
    "DRIVER_ID_RE",
    "DRIVER_STATES_ACTIVE",
    "DRIVER_STATES_FAILED",
    "DRIVER_STATES_SUCCEEDED",
    "DriverStatus",
    "JwsAuth",
    "LaunchResult",
    "MasterDriver",
    "MasterState",
    "SparkAuth",
    "SparkClusterSubmission",
    "SparkDriverResult",
    "SparkKubernetesJob",
    "SparkRestClient",
    "SparkRestJob",
    "SparkSubmission",
    "SparkSubmitLauncher",
    "SparkSuperviseWarning",
    "SparkYarnJob",
    "check_driver_id",
    "driver_state",
    "pod_phase",
    "read_properties_file",
    "yarn_state",
]
