"""Spark cluster mode for resumable_core: standalone over the master's REST submission server
(SparkRestJob, AsyncSparkRestJob), YARN and Kubernetes through spark-submit (SparkYarnJob,
SparkKubernetesJob; docs/spark-cluster-managers.md).

::

    from adapters.spark import SparkRestClient, SparkRestJob, SparkSubmission
    from adapters.sqlite import SqliteStateStore
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

from typing import TYPE_CHECKING, Any

from ._auth import BearerToken, JwsAuth, SparkAuth

# _client first: it raises the ImportError naming the extra when urllib3 is missing.
from ._client import DRIVER_ID_RE, SparkRestClient, check_driver_id
from ._cluster_submission import SparkClusterSubmission
from ._job import DEFAULT_EXIT_CODE_PATTERNS, SparkDriverResult, SparkRestJob, driver_state
from ._kube_client import KubernetesClient
from ._kubernetes import SparkKubernetesJob, pod_phase
from ._launcher import LaunchResult, SparkSubmitLauncher
from ._model import DriverStatus, MasterDriver, MasterState
from ._properties import read_properties_file
from ._spnego import SpnegoAuth, SpnegoError  # python-gssapi is imported on first use only
from ._submission import (
    DRIVER_STATES_ACTIVE,
    DRIVER_STATES_FAILED,
    DRIVER_STATES_SUCCEEDED,
    SparkSubmission,
    SparkSuperviseWarning,
)
from ._yarn import SparkYarnJob, yarn_state
from ._yarn_client import YarnApplication, YarnAuth, YarnRestClient

if TYPE_CHECKING:
    from ._async_job import AsyncSparkRestClient, AsyncSparkRestJob


def __getattr__(name: str) -> Any:
    # The async job needs aiohttp (the 'spark-async' extra): loaded on first use, so the
    # blocking adapter works without it.
    if name in ("AsyncSparkRestClient", "AsyncSparkRestJob"):
        from . import _async_job

        return getattr(_async_job, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_EXIT_CODE_PATTERNS",
    "DRIVER_ID_RE",
    "DRIVER_STATES_ACTIVE",
    "DRIVER_STATES_FAILED",
    "DRIVER_STATES_SUCCEEDED",
    "AsyncSparkRestClient",
    "AsyncSparkRestJob",
    "BearerToken",
    "DriverStatus",
    "JwsAuth",
    "KubernetesClient",
    "LaunchResult",
    "MasterDriver",
    "MasterState",
    "SparkAuth",
    "SparkClusterSubmission",
    "SparkDriverResult",
    "SparkKubernetesJob",
    "SparkRestClient",
    "SparkRestJob",
    "SparkSubmitLauncher",
    "SparkSubmission",
    "SparkSuperviseWarning",
    "SparkYarnJob",
    "SpnegoAuth",
    "SpnegoError",
    "YarnApplication",
    "YarnAuth",
    "YarnRestClient",
    "check_driver_id",
    "driver_state",
    "pod_phase",
    "read_properties_file",
    "yarn_state",
]
