"""The Spark job a ResumableSparkSubmitOperator runs, per cluster manager, from its rendered arguments.

Standalone cluster mode goes through the master's REST server (``SparkRestJob``); YARN
and Kubernetes cluster modes through the real spark-submit, told not to wait, then the
ResourceManager's or the API server's REST interface (``SparkYarnJob``,
``SparkKubernetesJob``). Every SparkSubmitOperator argument becomes the spark-submit
option or Spark property it stands for in SparkSubmitHook.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

from resumable_core import InvalidArgument

# The Spark adapter's public names: one integration uses another through its front door.
from ..kubernetes import KubernetesClient
from ..spark import (
    SparkClusterSubmission,
    SparkKubernetesJob,
    SparkRestClient,
    SparkRestJob,
    SparkSubmission,
    SparkSubmitLauncher,
    SparkYarnJob,
)
from ..yarn import SpnegoAuth, YarnAuth, YarnRestClient
from ._spark_connection import ClusterManager, SparkTarget

# Properties OpenLineage injection adds: they name this try (its run id changes with the
# try number), so they must not count as a changed specification, or every retry would
# resubmit instead of reattaching.
LINEAGE_PREFIX = "spark.openlineage."
YARN_WAIT = "spark.yarn.submit.waitAppCompletion"
K8S_WAIT = "spark.kubernetes.submission.waitAppCompletion"


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def cluster_conf(args: Mapping[str, Any], target: SparkTarget, conf: Mapping[str, str]) -> dict[str, str]:
    """Every Spark property the arguments stand for on YARN or Kubernetes (what SparkSubmitHook passes).

    *conf*: the properties file's entries overlaid with ``conf=`` (a ``--conf`` wins over
    the file, and over the dedicated options, as the existing operator documents).
    """
    properties = dict(conf)
    optional: dict[str, Any] = {
        "spark.driver.extraClassPath": args["driver_class_path"],
        "spark.jars.packages": args["packages"],
        "spark.jars.excludes": args["exclude_packages"],
        "spark.jars.repositories": args["repositories"],
        "spark.cores.max": args["total_executor_cores"],
        "spark.executor.cores": args["executor_cores"],
        "spark.executor.memory": args["executor_memory"],
        "spark.executor.instances": args["num_executors"],
        "spark.driver.memory": args["driver_memory"],
        "spark.driver.cores": args["driver_cores"],
        "spark.kerberos.principal": target.principal,
        "spark.kerberos.keytab": target.keytab,
    }
    if target.manager is ClusterManager.YARN:
        optional["spark.yarn.queue"] = target.queue
    for prop, value in optional.items():
        if value is not None and prop not in properties:
            properties[prop] = str(value)
    if args["use_krb5ccache"]:
        if not os.environ.get("KRB5CCNAME"):
            raise InvalidArgument("use_krb5ccache=True needs the KRB5CCNAME environment variable (the ticket cache)")
        properties["spark.kerberos.renewal.credentials"] = "ccache"
    # As SparkSubmitHook: env_vars reach the driver (the application master on YARN).
    env_prefix = ("spark.yarn.appMasterEnv." if target.manager is ClusterManager.YARN
                  else "spark.kubernetes.driverEnv.")
    for name, value in (args["env_vars"] or {}).items():
        properties.setdefault(f"{env_prefix}{name}", str(value))
    return properties


def cluster_submission(args: Mapping[str, Any], properties: Mapping[str, str]) -> SparkClusterSubmission:
    return SparkClusterSubmission(
        application=args["application"],
        main_class=args["java_class"],
        app_args=tuple(str(a) for a in (args["application_args"] or ())),
        conf=dict(properties),
        name=args["name"],
        jars=_split(args["jars"]),
        py_files=_split(args["py_files"]),
        files=_split(args["files"]),
        archives=_split(args["archives"]),
        proxy_user=args["proxy_user"],
    )


def without_lineage(submission: SparkClusterSubmission) -> SparkClusterSubmission:
    return dataclasses.replace(submission, conf={k: v for k, v in submission.conf.items()
                                                 if not k.startswith(LINEAGE_PREFIX)})


class LineageStableYarnJob(SparkYarnJob):
    """SparkYarnJob whose fingerprint leaves out this try's OpenLineage properties."""

    def __init__(self, client: YarnRestClient, submission: SparkClusterSubmission, *,
                 launcher: SparkSubmitLauncher) -> None:
        super().__init__(client, submission, launcher=launcher)
        self._fingerprinted = SparkYarnJob(client, without_lineage(submission), launcher=launcher)

    def job_fingerprint(self) -> str:
        return self._fingerprinted.job_fingerprint()


class LineageStableKubernetesJob(SparkKubernetesJob):
    """SparkKubernetesJob whose fingerprint leaves out this try's OpenLineage properties."""

    def __init__(self, client: KubernetesClient, submission: SparkClusterSubmission, *,
                 launcher: SparkSubmitLauncher) -> None:
        super().__init__(client, submission, launcher=launcher)
        self._fingerprinted = SparkKubernetesJob(client, without_lineage(submission), launcher=launcher)

    def job_fingerprint(self) -> str:
        return self._fingerprinted.job_fingerprint()


class LineageStableRestJob(SparkRestJob):
    """SparkRestJob whose fingerprint leaves out this try's OpenLineage properties."""

    def __init__(self, client: SparkRestClient, submission: SparkSubmission, *,
                 sleep: Callable[[float], None]) -> None:
        super().__init__(client, submission, sleep=sleep)
        stable = dataclasses.replace(submission, properties={k: v for k, v in submission.properties.items()
                                                              if not k.startswith(LINEAGE_PREFIX)})
        self._fingerprinted = SparkRestJob(client, stable, sleep=sleep)

    def job_fingerprint(self) -> str:
        return self._fingerprinted.job_fingerprint()


def is_basic_auth_pair(auth: object) -> bool:
    """``("user", "password")``: what requests takes as basic auth (a tuple of two, as requests checks)."""
    return isinstance(auth, tuple) and len(auth) == 2


def requests_auth_headers(auth: Any) -> YarnAuth:
    """A ``requests.auth.AuthBase`` (SparkSubmitOperator's ``yarn_rm_auth``) as the YARN client's header hook.

    The auth object is applied to a request for each URL and the headers it adds are sent.
    Preemptive schemes work as with requests (``HTTPBasicAuth``, a bearer header,
    ``HTTPKerberosAuth(force_preemptive=True)``); a scheme that only answers a 401 challenge
    from a response hook has nothing to add before the request and is not followed. A
    ``(user, password)`` tuple is basic auth, as ``requests.get(auth=...)`` makes it.
    """
    import requests  # only for yarn_rm_auth, which is a requests object already

    if is_basic_auth_pair(auth):
        auth = requests.auth.HTTPBasicAuth(*auth)

    def headers(url: str) -> Mapping[str, str]:
        bare = requests.Request("GET", url).prepare()
        before = dict(bare.headers)
        applied = auth(bare) or bare
        return {str(k): str(v) for k, v in applied.headers.items() if before.get(k) != v}

    return headers


def default_yarn_auth(target: SparkTarget) -> YarnAuth | None:
    """As SparkSubmitHook: Kerberos when the connection has a principal and a keytab: SPNEGO logged in from
    that keytab (resumable_adapters.yarn.SpnegoAuth, no kinit and no ticket cache of the worker's)."""
    if not (target.principal and target.keytab):
        return None
    try:
        return SpnegoAuth(principal=target.principal, keytab=target.keytab)
    except ImportError:
        raise InvalidArgument(
            "Kerberos credentials are configured for Spark submit, but python-gssapi is not installed: "
            "pip install 'resumable-core[kerberos]' to reach the YARN ResourceManager with SPNEGO, or pass "
            "yarn_rm_auth="
        ) from None


__all__ = [
    "K8S_WAIT",
    "LINEAGE_PREFIX",
    "YARN_WAIT",
    "LineageStableKubernetesJob",
    "LineageStableRestJob",
    "LineageStableYarnJob",
    "cluster_conf",
    "cluster_submission",
    "default_yarn_auth",
    "is_basic_auth_pair",
    "requests_auth_headers",
    "without_lineage",
]
