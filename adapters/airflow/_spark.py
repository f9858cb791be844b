"""ResumableSparkSubmitOperator: SparkSubmitOperator's arguments, run resumably over the REST server.

The Spark adapter submits through a standalone master's REST submission server
(cluster deploy mode), so the driver runs on a worker, not in the Airflow
task: the task can die and its retry reattaches to the same driver.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from resumable_core import InvalidArgument, PollPolicy, ResumableJob

from ..spark import BearerToken, SparkRestClient, SparkRestJob, SparkSubmission
from ._compat import BaseHook, Context
from ._operator import ResumableOperator

DEFAULT_REST_PORT = 6066    # Spark's spark.master.rest.port
DEFAULT_WEB_UI_PORT = 8080  # Spark's spark.master.ui.port

# SparkSubmitOperator arguments that cannot mean anything here: rejected with the
# reason rather than silently dropped.
_UNSUPPORTED = {
    "py_files": "Python applications cannot run in cluster mode on a standalone master",
    "keytab": "Kerberos is not supported by the standalone REST submission server",
    "principal": "Kerberos is not supported by the standalone REST submission server",
    "proxy_user": "the standalone REST submission server cannot impersonate users",
    "properties_file": "pass its properties in conf=",
    "yarn_queue": "this operator submits to a Spark standalone master, not YARN",
    "use_krb5ccache": "Kerberos is not supported by the standalone REST submission server",
}
# Accepted for compatibility and ignored, with why.
_IGNORED = {
    "spark_binary": "no spark-submit binary is used; the REST server is called directly",
    "verbose": "no spark-submit process to make verbose",
    "deploy_mode": "always cluster: the driver must outlive the task",
}


def spark_endpoints(conn: Any) -> tuple[str, str, list[str]]:
    """(master URL, REST URL, web UI URLs) from an Airflow connection.

    Like SparkSubmitHook's: host ``spark://master`` (or ``master``), port the
    master's (7077). Extra ``rest_url`` / ``web_ui_url`` override the REST
    server (default port 6066) and the web UI (default 8080, used to find a
    driver by reference after a crash between submit and persist).
    """
    host = (conn.host or "").strip()
    if not host:
        raise InvalidArgument(f"Airflow connection {conn.conn_id!r} has no host (the Spark master)")
    if "://" not in host:
        host = f"spark://{host}"
    parts = urlsplit(host)
    hostname = parts.hostname or ""
    port = parts.port or conn.port or 7077
    master = f"{parts.scheme}://{hostname}:{port}"
    extra = conn.extra_dejson or {}
    rest_url = str(extra.get("rest_url") or f"http://{hostname}:{DEFAULT_REST_PORT}")
    web_ui = extra.get("web_ui_url", f"http://{hostname}:{DEFAULT_WEB_UI_PORT}")
    web_uis = [str(web_ui)] if web_ui else []
    return master, rest_url, web_uis


def _as_url(application: str) -> str:
    # spark-submit takes a path; the REST server wants a URL the worker can fetch.
    return application if "://" in application or application.startswith("file:") else f"file:{os.path.abspath(application)}"


class ResumableSparkSubmitOperator(ResumableOperator):
    """SparkSubmitOperator's arguments; the driver survives the task, a retry reattaches.

    Moving a DAG over changes two lines: the import and the class name. What
    differs: the driver runs in cluster mode on a standalone master (through
    its REST submission server, ``conn_id`` names the master as for
    SparkSubmitOperator), ``java_class`` is required (JVM applications only),
    and ``execute()`` returns the driver's final state as the XCom value.
    Kerberos, proxy users, YARN queues and Python applications are refused
    with the reason. See :class:`ResumableOperator` for the state store, clear
    versus retry and what stopping the task does to the driver.
    """

    template_fields: Sequence[str] = (
        "application",
        "conf",
        "files",
        "archives",
        "jars",
        "driver_class_path",
        "packages",
        "exclude_packages",
        "repositories",
        "name",
        "application_args",
        "env_vars",
        "state_key",
    )

    def __init__(
        self,
        *,
        application: str = "",
        conf: dict[str, Any] | None = None,
        conn_id: str = "spark_default",
        files: str | None = None,
        archives: str | None = None,
        driver_class_path: str | None = None,
        jars: str | None = None,
        java_class: str | None = None,
        packages: str | None = None,
        exclude_packages: str | None = None,
        repositories: str | None = None,
        total_executor_cores: int | None = None,
        executor_cores: int | None = None,
        executor_memory: str | None = None,
        driver_memory: str | None = None,
        driver_cores: int | None = None,
        name: str = "arrow-spark",
        num_executors: int | None = None,
        status_poll_interval: int = 1,
        application_args: list[Any] | None = None,
        env_vars: dict[str, Any] | None = None,
        auth_from_connection: bool = False,
        **kwargs: Any,
    ) -> None:
        for argument, reason in _UNSUPPORTED.items():
            if kwargs.pop(argument, None):
                raise InvalidArgument(f"{type(self).__name__}: {argument} is not supported: {reason}")
        for argument in _IGNORED:
            value = kwargs.pop(argument, None)
            if argument == "deploy_mode" and value not in (None, "cluster"):
                raise InvalidArgument(f"{type(self).__name__}: deploy_mode must be 'cluster', not {value!r}")
        kwargs.setdefault("poll_policy", PollPolicy(min_interval=float(status_poll_interval)))
        super().__init__(**kwargs)
        self.application = application
        self.conf = conf
        self.conn_id = conn_id
        self.files = files
        self.archives = archives
        self.driver_class_path = driver_class_path
        self.jars = jars
        self.java_class = java_class
        self.packages = packages
        self.exclude_packages = exclude_packages
        self.repositories = repositories
        self.total_executor_cores = total_executor_cores
        self.executor_cores = executor_cores
        self.executor_memory = executor_memory
        self.driver_memory = driver_memory
        self.driver_cores = driver_cores
        self.name = name
        self.num_executors = num_executors
        self.application_args = application_args
        self.env_vars = env_vars
        self.auth_from_connection = auth_from_connection

    def submission(self, master: str | None = None) -> SparkSubmission:
        """The SparkSubmission these (rendered) arguments describe."""
        if not self.application:
            raise InvalidArgument(f"{type(self).__name__}: application is required")
        if not self.java_class:
            raise InvalidArgument(
                f"{type(self).__name__}: java_class is required (cluster mode on a standalone master runs "
                "JVM applications through their main class)"
            )
        app_resource = _as_url(self.application)
        properties = {str(k): str(v) for k, v in (self.conf or {}).items()}
        optional = {
            "spark.files": self.files,
            "spark.archives": self.archives,
            "spark.driver.extraClassPath": self.driver_class_path,
            "spark.jars.packages": self.packages,
            "spark.jars.excludes": self.exclude_packages,
            "spark.jars.repositories": self.repositories,
            "spark.cores.max": self.total_executor_cores,
            "spark.executor.cores": self.executor_cores,
            "spark.executor.memory": self.executor_memory,
            "spark.executor.instances": self.num_executors,
        }
        for prop, value in optional.items():
            if value is not None and prop not in properties:
                properties[prop] = str(value)
        if self.jars:
            # SparkSubmission sets spark.jars to the application; keep both.
            properties.setdefault("spark.jars", f"{app_resource},{self.jars}")
        return SparkSubmission(
            app_resource=app_resource,
            main_class=self.java_class,
            app_args=tuple(str(a) for a in (self.application_args or ())),
            properties=properties,
            environment={str(k): str(v) for k, v in (self.env_vars or {}).items()},
            name=self.name,
            driver_memory=self.driver_memory or "1g",
            driver_cores=self.driver_cores or 1,
            master=master,
        )

    def make_job(self, context: Context) -> ResumableJob[Any]:
        conn = BaseHook.get_connection(self.conn_id)
        master, rest_url, web_uis = spark_endpoints(conn)
        # A password on the connection is sent as a bearer token only when asked:
        # SparkSubmitHook never sent one, and a proxy in front of the master may want it.
        auth = BearerToken(conn.password) if self.auth_from_connection and conn.password else None
        client = SparkRestClient(rest_url, web_ui_urls=web_uis, auth=auth)
        # Its waits (finding a driver by reference) go through the operator's sleep,
        # which acts on a pending SIGTERM.
        return SparkRestJob(client, self.submission(master), sleep=self._sleep)
