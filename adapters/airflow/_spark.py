"""ResumableSparkSubmitOperator: SparkSubmitOperator's arguments, run resumably over the REST server.

The Spark adapter submits through a standalone master's REST submission server
(cluster deploy mode), so the driver runs on a worker, not in the Airflow
task: the task can die and its retry reattaches to the same driver.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from resumable_core import InvalidArgument, PollPolicy, ResumableJob
from resumable_core.redaction import MASK, redact

from ..spark import BearerToken, SparkRestClient, SparkRestJob, SparkSubmission
from ._compat import BaseHook, Context
from ._operator import ResumableOperator

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
DEFAULT_MASTER_PORT = 7077  # Spark's spark.master.port (SparkSubmitHook's default too)
DEFAULT_REST_PORT = 6066    # Spark's spark.master.rest.port
DEFAULT_WEB_UI_PORT = 8080  # Spark's spark.master.ui.port

# SparkSubmitOperator arguments that cannot mean anything here: rejected with the
# reason rather than silently dropped.
# What Spark itself says: "Cluster deploy mode is currently not supported for python
# applications on standalone clusters" (and the same for R).
NO_PYTHON_APPS = (
    "Spark standalone cluster mode runs JVM applications only (a jar and its main class, java_class=); "
    "Python and R applications cannot run in cluster mode on a standalone master"
)
_UNSUPPORTED = {
    "py_files": NO_PYTHON_APPS,
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


class SparkEndpoints(NamedTuple):
    """Where a connection's Spark master(s) are: the master URL and each master's REST server and web UI."""

    master: str               # spark://a:7077 or Spark's HA form spark://a:7077,b:7077 (the driver's spark.master)
    rest_urls: list[str]      # one per master, asked in turn (SparkRestClient)
    web_ui_urls: list[str]    # one per master; empty when finding drivers by reference is disabled


def spark_endpoints(conn: Any) -> SparkEndpoints:
    """The Spark masters an Airflow connection names.

    Like SparkSubmitHook's: host ``spark://master`` (or ``master``), port the
    master's (7077). Several masters are written as Spark writes them for
    standalone HA, ``spark://a:7077,b:7077`` (Spark's
    ``Utils.parseStandaloneMasterUrls``: one scheme, then host:port entries; the
    connection's port, else 7077, for an entry without one). Extra ``rest_url``
    / ``web_ui_url`` override the REST servers (default ``http://<host>:6066``
    for each master) and the web UIs (default ``http://<host>:8080``, used to
    find a driver by reference after a crash between submit and persist; ``""``
    disables that); both may list several, comma-separated.
    """
    raw = (conn.host or "").strip()
    if not raw:
        raise InvalidArgument(f"Airflow connection {conn.conn_id!r} has no host (the Spark master)")
    leading = _SCHEME.match(raw)
    scheme, rest = (leading.group(1), raw[leading.end():]) if leading else ("spark", raw)
    if scheme.lower() != "spark":
        raise InvalidArgument(
            f"Airflow connection {conn.conn_id!r}: host {_shown(raw)!r} is not a Spark standalone master "
            "(spark://host:port, or spark://a:7077,b:7077 for several); this operator submits to a "
            "standalone master's REST server, not to YARN, Kubernetes or a local master"
        )
    default_port = conn.port or DEFAULT_MASTER_PORT
    masters = [_master_entry(conn.conn_id, entry, default_port) for entry in rest.split(",")]
    extra = conn.extra_dejson or {}
    rest_url = extra.get("rest_url")
    rest_urls = [str(rest_url)] if rest_url else [f"http://{host}:{DEFAULT_REST_PORT}" for host, _ in masters]
    web_ui = extra.get("web_ui_url")
    if web_ui is None:
        web_uis = [f"http://{host}:{DEFAULT_WEB_UI_PORT}" for host, _ in masters]
    else:
        web_uis = [str(web_ui)] if web_ui else []
    master = "spark://" + ",".join(f"{host}:{port}" for host, port in masters)
    return SparkEndpoints(master, rest_urls, web_uis)


def _master_entry(conn_id: str, entry: str, default_port: int) -> tuple[str, int]:
    """(host as it goes in a URL, port) of one ``host[:port]`` entry, or InvalidArgument naming the entry."""
    text = entry.strip()
    if text.lower().startswith("spark://"):  # a repeated scheme, as Spark tolerates
        text = text[len("spark://"):]

    def bad(why: str) -> InvalidArgument:
        return InvalidArgument(f"Airflow connection {conn_id!r}: Spark master {_shown(entry.strip())!r} {why}")

    if not text:
        raise bad("is empty (a stray comma in the host?)")
    if any(c.isspace() for c in text) or any(c in text for c in "/?#"):
        raise bad("must be host or host:port (no path, query or whitespace)")
    if "@" in text:
        raise bad("must carry no credentials (the connection's login and password hold them)")
    try:
        parts = urlsplit(f"spark://{text}")
        port = parts.port
    except ValueError as exc:  # a port that is not a number, or one out of range
        raise bad(f"has an invalid port ({exc})") from None
    if not parts.hostname:
        raise bad("names no host")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6 in brackets
    return host, port or default_port


def _shown(text: str) -> str:
    # What an error may show of a host: no userinfo (a password typed into the host field).
    head, sep, tail = text.rpartition("@")
    return f"{MASK}@{tail}" if sep else text


def check_application(owner: str, application: str, java_class: str | None) -> None:
    """InvalidArgument unless *application* can run in standalone cluster mode: JVM, with its main class."""
    if java_class:
        return
    if application.lower().endswith((".py", ".r")):
        raise InvalidArgument(f"{owner}: application {application!r} without java_class: {NO_PYTHON_APPS}")
    if application:
        raise InvalidArgument(
            f"{owner}: java_class is required (cluster mode on a standalone master runs "
            "JVM applications through their main class)"
        )


def connection_secrets(conn: Any) -> tuple[str, ...]:
    """The exact secret values of a connection: its password and every extra the core's redaction calls secret."""
    secrets = [conn.password] if conn.password else []
    for name, value in (conn.extra_dejson or {}).items():
        if not isinstance(value, str) or not value:
            continue
        for url_password in _url_passwords(value):
            secrets.append(url_password)
        # One rule for what is secret: the value counts when redaction masks it under its name.
        if redact(f"{name}={value}") != f"{name}={value}" and MASK not in value:
            secrets.append(value)
    return tuple(secrets)


def _url_passwords(text: str) -> list[str]:
    found = []
    for part in text.split(","):
        try:
            password = urlsplit(part.strip()).password
        except ValueError:
            continue
        if password:
            found.append(password)
    return found


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
        if kwargs.get("poll") is None and kwargs.get("poll_policy") is None:
            kwargs["poll"] = PollPolicy(min_interval=float(status_poll_interval))
        # java_class is not templated, so a Python application is refused when the DAG is parsed.
        check_application(type(self).__name__, application, java_class)
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
        self._secrets: tuple[str, ...] = ()

    def known_secrets(self) -> tuple[str, ...]:
        return self._secrets

    def submission(self, master: str | None = None) -> SparkSubmission:
        """The SparkSubmission these (rendered) arguments describe."""
        check_application(type(self).__name__, self.application, self.java_class)
        if not self.application:
            raise InvalidArgument(f"{type(self).__name__}: application is required")
        assert self.java_class is not None  # check_application
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
        self._secrets = connection_secrets(conn)
        master, rest_urls, web_uis = spark_endpoints(conn)
        # A password on the connection is sent as a bearer token only when asked:
        # SparkSubmitHook never sent one, and a proxy in front of the master may want it.
        auth = BearerToken(conn.password) if self.auth_from_connection and conn.password else None
        client = SparkRestClient(rest_urls, web_ui_urls=web_uis, auth=auth)
        # Its waits (finding a driver by reference) go through the operator's sleep,
        # which acts on a pending SIGTERM.
        return SparkRestJob(client, self.submission(master), sleep=self._sleep)
