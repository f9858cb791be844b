"""ResumableSparkSubmitOperator: every SparkSubmitOperator argument, the driver resumable in cluster mode.

The connection is read as SparkSubmitHook reads it, and the cluster manager it names
picks the job: a standalone master's REST server (``SparkRestJob``), YARN
(``SparkYarnJob``) or Kubernetes (``SparkKubernetesJob``), all in cluster deploy mode,
where the driver outlives the task and a retry reattaches to it. Client mode cannot be
resumed (the driver is the task's own process): it runs as SparkSubmitOperator runs it,
through SparkSubmitHook, with a warning saying so.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from collections.abc import Sequence
from typing import Any

from resumable_core import InvalidArgument, MemoryStateStore, PollPolicy, ResumableJob

from ..spark import (
    BearerToken,
    SparkRestClient,
    SparkSubmission,
    SparkSubmitLauncher,
    read_properties_file,
)
from ..yarn import YarnRestClient
from ._compat import BaseHook, Context
from ._operator import ResumableOperator, warn_deprecated
from ._spark_connection import (
    ClusterManager,
    SparkTarget,
    connection_secrets,
    kubernetes_client,
    resolve_target,
    spark_endpoints,
    spark_submit_executable,
    uses_rest_gateway,
    yarn_rm_urls,
)
from ._spark_jobs import (
    K8S_WAIT,
    YARN_WAIT,
    LineageStableKubernetesJob,
    LineageStableRestJob,
    LineageStableYarnJob,
    cluster_conf,
    cluster_submission,
    default_yarn_auth,
    is_basic_auth_pair,
    requests_auth_headers,
)

try:
    from airflow.sdk.configuration import conf as _airflow_conf
except ImportError:  # pragma: no cover - an Airflow 3 without the SDK's configuration module
    from airflow.configuration import conf as _airflow_conf

# What Spark itself says: "Cluster deploy mode is currently not supported for python
# applications on standalone clusters" (and the same for R).
NO_PYTHON_APPS = (
    "Spark standalone cluster mode runs JVM applications only (a jar and its main class, java_class=); "
    "Python and R applications cannot run in cluster mode on a standalone master"
)
# SparkSubmitOperator arguments a standalone master's REST server cannot honour: refused with the reason.
_NOT_ON_STANDALONE = {
    "py_files": NO_PYTHON_APPS,
    "keytab": "Kerberos is not supported by the standalone REST submission server",
    "principal": "Kerberos is not supported by the standalone REST submission server",
    "use_krb5ccache": "Kerberos is not supported by the standalone REST submission server",
    "proxy_user": "the standalone REST submission server cannot impersonate users",
}
# SparkSubmitHook's floors on its RM / API polling, applied when poll= is not given.
POLL_FLOOR = {ClusterManager.YARN: 10.0, ClusterManager.KUBERNETES: 20.0}
CLIENT_MODE_WARNING = (
    "{why}: the driver runs inside this task's process, so this run cannot be resumed: a retry "
    "submits a new application. Running it as SparkSubmitOperator does (spark-submit through "
    "SparkSubmitHook). Set deploy_mode='cluster' to make it resumable."
)


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


def _as_url(application: str) -> str:
    # spark-submit takes a path; the REST server wants a URL the worker can fetch.
    return application if "://" in application or application.startswith("file:") else f"file:{os.path.abspath(application)}"


def _wait_conf_true(conf: dict[Any, Any] | None) -> str | None:
    for key in (YARN_WAIT, K8S_WAIT):
        if str((conf or {}).get(key, "")).strip().lower() == "true":
            return key
    return None


class ResumableSparkSubmitOperator(ResumableOperator):
    """SparkSubmitOperator's arguments; in cluster mode the driver survives the task, a retry reattaches.

    Moving a DAG over changes two lines: the import and the class name. The connection
    names the cluster manager (``spark://``, ``yarn``, ``k8s://``) as for
    SparkSubmitOperator; an unset deploy mode means cluster here. ``durable=False``
    keeps nothing between tries (each try submits anew, as SparkSubmitOperator's).
    ``execute()`` returns the job's final state as the XCom value (client mode: None, as
    SparkSubmitOperator). See :class:`ResumableOperator` for the state store, clear
    versus retry and what stopping the task does to the driver, and docs/airflow.md.
    """

    template_fields: Sequence[str] = (
        "application",
        "conf",
        "files",
        "py_files",
        "archives",
        "jars",
        "driver_class_path",
        "packages",
        "exclude_packages",
        "repositories",
        "keytab",
        "principal",
        "proxy_user",
        "name",
        "application_args",
        "env_vars",
        "post_submit_commands",
        "properties_file",
        "state_key",
    )

    def __init__(
        self,
        *,
        application: str = "",
        conf: dict[Any, Any] | None = None,
        conn_id: str = "spark_default",
        files: str | None = None,
        py_files: str | None = None,
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
        keytab: str | None = None,
        principal: str | None = None,
        proxy_user: str | None = None,
        name: str = "arrow-spark",
        num_executors: int | None = None,
        status_poll_interval: int = 1,
        application_args: list[Any] | None = None,
        env_vars: dict[str, Any] | None = None,
        verbose: bool = False,
        spark_binary: str | None = None,
        properties_file: str | None = None,
        yarn_queue: str | None = None,
        deploy_mode: str | None = None,
        use_krb5ccache: bool = False,
        post_submit_commands: list[str] | None = None,
        track_driver_via_k8s_api: bool = False,
        yarn_track_via_rm_api: bool = False,
        yarn_rm_auth: Any = None,  # requests.auth.AuthBase, as SparkSubmitOperator's
        # The same defaults as SparkSubmitOperator's: read from [openlineage] when the DAG is parsed.
        openlineage_inject_parent_job_info: bool = _airflow_conf.getboolean(
            "openlineage", "spark_inject_parent_job_info", fallback=False
        ),
        openlineage_inject_transport_info: bool = _airflow_conf.getboolean(
            "openlineage", "spark_inject_transport_info", fallback=False
        ),
        reconnect_on_retry: bool | None = None,
        durable: bool | None = None,
        driver_cores: int | None = None,
        auth_from_connection: bool = False,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        if reconnect_on_retry is not None:
            warn_deprecated(f"{owner}: reconnect_on_retry= is deprecated (as in SparkSubmitOperator); pass durable=")
            if durable is None:
                durable = reconnect_on_retry  # durable wins when both are given, as in SparkSubmitOperator
        self.durable = True if durable is None else bool(durable)
        if not self.durable:
            if kwargs.get("state_store") is not None:
                raise InvalidArgument(f"{owner}: durable=False keeps no record, so state_store= has no use; "
                                      "pass one or the other")
            # Nothing kept between tries, as SparkSubmitOperator(durable=False): a record that lives
            # for this try only, so kill-by-cause and the returned result still work within it.
            kwargs["state_store"] = lambda context: MemoryStateStore()
        if deploy_mode not in (None, "cluster", "client"):
            raise InvalidArgument(f"{owner}: deploy_mode must be 'cluster' or 'client', not {deploy_mode!r}")
        if deploy_mode == "client":
            for flag, value in (("track_driver_via_k8s_api", track_driver_via_k8s_api),
                                ("yarn_track_via_rm_api", yarn_track_via_rm_api)):
                if value:
                    raise InvalidArgument(f"{owner}: {flag}=True requires deploy_mode='cluster' "
                                          "(as in SparkSubmitOperator)")
        elif (key := _wait_conf_true(conf)) is not None:
            raise InvalidArgument(
                f"{owner}: conf {key}=true keeps spark-submit waiting for the application, but cluster mode "
                "returns once it is submitted so that a retry can reattach; remove it (or use deploy_mode='client')"
            )
        if yarn_rm_auth is not None and not (callable(yarn_rm_auth) or is_basic_auth_pair(yarn_rm_auth)):
            shape = f"a tuple of {len(yarn_rm_auth)}" if isinstance(yarn_rm_auth, tuple) else type(yarn_rm_auth).__name__
            raise InvalidArgument(f"{owner}: yarn_rm_auth must be a requests.auth.AuthBase or a (user, password) "
                                  f"tuple, as requests takes it, not {shape}")  # never its value: a password
        self._poll_given = kwargs.get("poll") is not None or kwargs.get("poll_policy") is not None
        if not self._poll_given:
            kwargs["poll"] = PollPolicy(min_interval=float(status_poll_interval))
        super().__init__(**kwargs)
        self.application = application
        self.conf = conf
        self.conn_id = conn_id
        self.files = files
        self.py_files = py_files
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
        self.keytab = keytab
        self.principal = principal
        self.proxy_user = proxy_user
        self.name = name
        self.num_executors = num_executors
        self.status_poll_interval = status_poll_interval
        self.application_args = application_args
        self.env_vars = env_vars
        self.verbose = verbose
        self.spark_binary = spark_binary
        self.properties_file = properties_file
        self.yarn_queue = yarn_queue
        self.deploy_mode = deploy_mode
        self.use_krb5ccache = use_krb5ccache
        self.post_submit_commands = post_submit_commands
        self.track_driver_via_k8s_api = track_driver_via_k8s_api
        self.yarn_track_via_rm_api = yarn_track_via_rm_api
        self.yarn_rm_auth = yarn_rm_auth
        self.openlineage_inject_parent_job_info = openlineage_inject_parent_job_info
        self.openlineage_inject_transport_info = openlineage_inject_transport_info
        self.driver_cores = driver_cores
        self.auth_from_connection = auth_from_connection
        self._secrets: tuple[str, ...] = ()
        self._target: SparkTarget | None = None
        self._client_hook: Any = None  # SparkSubmitHook while a client-mode run is delegated

    def known_secrets(self) -> tuple[str, ...]:
        return self._secrets

    # -- execution ----------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        target = self._target = self._read_target()
        why = self._not_resumable(target)
        if why is not None:
            return self._run_client_mode(context, why)
        if not target.deploy_mode_set:
            self.log.info("deploy mode not set: running in cluster mode, resumable (spark-submit's own default "
                          "is client mode, whose driver dies with the task)")
        if not self._poll_given and target.manager in POLL_FLOOR:
            self.poll = PollPolicy(min_interval=max(float(self.status_poll_interval), POLL_FLOOR[target.manager]))
        try:
            return super().execute(context)
        finally:
            self._run_post_submit_commands()

    @staticmethod
    def _not_resumable(target: SparkTarget) -> str | None:
        if target.deploy_mode == "client":
            return "deploy mode 'client'"
        if target.manager is ClusterManager.OTHER:
            return f"master {target.master.split('://')[0]!r} is none of spark://, yarn, k8s://"
        return None

    def make_job(self, context: Context) -> ResumableJob[Any]:
        target = self._target or self._read_target()  # read by execute(); again for a direct call
        if not self.application:
            raise InvalidArgument(f"{type(self).__name__}: application is required")
        conf = self._lineage_conf(context)
        if target.manager is ClusterManager.STANDALONE:
            return self._standalone_job(target, conf)
        submission = cluster_submission(vars(self), cluster_conf(vars(self), target, self._properties(conf)))
        launcher = SparkSubmitLauncher(
            spark_submit_executable(target.spark_binary),
            # SparkSubmitHook gives spark-submit the env_vars on YARN too (HADOOP_CONF_DIR, say).
            env={str(k): str(v) for k, v in (self.env_vars or {}).items()} if target.manager is ClusterManager.YARN
            else None,
        )
        if target.manager is ClusterManager.YARN:
            auth = requests_auth_headers(self.yarn_rm_auth) if self.yarn_rm_auth else default_yarn_auth(target)
            # Without SPNEGO, Hadoop's simple authentication: the connection's login, else the
            # user this task runs as (whom spark-submit's Hadoop client presents to the RM too).
            user = None if auth is not None else (target.login or getpass.getuser())
            yarn = YarnRestClient(yarn_rm_urls(target, self.conn_id), auth=auth, user=user)
            return LineageStableYarnJob(yarn, submission, launcher=launcher)
        kube = kubernetes_client(target, self.conn_id)
        self._secrets += kube.secrets()
        return LineageStableKubernetesJob(kube, submission, launcher=launcher)

    def _read_target(self) -> SparkTarget:
        """The connection read as SparkSubmitHook reads it; its secrets noted for masking."""
        conn = BaseHook.get_connection(self.conn_id)
        self._secrets = connection_secrets(conn)
        keytab_extra = (conn.extra_dejson or {}).get("keytab")
        if keytab_extra:
            self._secrets += (str(keytab_extra),)
        if is_basic_auth_pair(self.yarn_rm_auth) and self.yarn_rm_auth[1]:
            self._secrets += (str(self.yarn_rm_auth[1]),)  # the (user, password) pair's password
        return resolve_target(conn, deploy_mode=self.deploy_mode, yarn_queue=self.yarn_queue,
                              principal=self.principal, keytab=self.keytab, spark_binary=self.spark_binary,
                              conf=dict(self.conf or {}))

    def _properties(self, conf: dict[Any, Any]) -> dict[str, str]:
        """The properties file's entries overlaid with *conf* (a ``--conf`` wins over the file, as in spark-submit)."""
        properties = dict(read_properties_file(self.properties_file)) if self.properties_file else {}
        properties.update({str(k): str(v) for k, v in conf.items()})
        return properties

    def _lineage_conf(self, context: Context) -> dict[Any, Any]:
        """conf= with OpenLineage's properties added when asked, as SparkSubmitOperator.execute adds them."""
        conf = dict(self.conf or {})
        if self.openlineage_inject_parent_job_info or self.openlineage_inject_transport_info:
            from airflow.providers.common.compat.openlineage.utils.spark import (
                inject_parent_job_information_into_spark_properties,
                inject_transport_information_into_spark_properties,
            )

            if self.openlineage_inject_parent_job_info:
                conf = inject_parent_job_information_into_spark_properties(conf, context)
            if self.openlineage_inject_transport_info:
                conf = inject_transport_information_into_spark_properties(conf, context)
        return conf

    def submission(self, master: str | None = None, conf: dict[Any, Any] | None = None) -> SparkSubmission:
        """The standalone SparkSubmission these (rendered) arguments describe."""
        owner = type(self).__name__
        check_application(owner, self.application, self.java_class)
        if not self.application:
            raise InvalidArgument(f"{owner}: application is required")
        for argument, reason in _NOT_ON_STANDALONE.items():
            if getattr(self, argument):
                raise InvalidArgument(f"{owner}: {argument} is not supported on a standalone master: {reason}")
        assert self.java_class is not None  # check_application
        app_resource = _as_url(self.application)
        properties = self._properties((self.conf or {}) if conf is None else conf)
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

    def _standalone_job(self, target: SparkTarget, conf: dict[Any, Any]) -> ResumableJob[Any]:
        conn = target.connection  # read once, by _read_target
        # The ports the host lists are REST ports where spark-submit would use its REST gateway.
        master, rest_urls, web_uis = spark_endpoints(conn, rest_gateway=uses_rest_gateway(conf))
        submission = self.submission(master, conf)
        # A password on the connection is sent as a bearer token only when asked:
        # SparkSubmitHook never sent one, and a proxy in front of the master may want it.
        auth = BearerToken(conn.password) if self.auth_from_connection and conn.password else None
        client = SparkRestClient(rest_urls, web_ui_urls=web_uis, auth=auth)
        # Its waits (finding a driver by reference) go through the operator's sleep,
        # which acts on a pending SIGTERM.
        return LineageStableRestJob(client, submission, sleep=self._sleep)

    # -- client mode: SparkSubmitOperator's own path ----------------------------------------

    def _run_client_mode(self, context: Context, why: str) -> None:
        self.log.warning(CLIENT_MODE_WARNING.format(why=why))
        try:
            from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
        except ImportError:
            raise InvalidArgument(
                f"{type(self).__name__}: {why} runs through SparkSubmitHook, which needs "
                "apache-airflow-providers-apache-spark"
            ) from None
        self._client_hook = SparkSubmitHook(
            conf=self._lineage_conf(context), conn_id=self.conn_id, files=self.files, py_files=self.py_files,
            archives=self.archives, driver_class_path=self.driver_class_path, jars=self.jars,
            java_class=self.java_class, packages=self.packages, exclude_packages=self.exclude_packages,
            repositories=self.repositories, total_executor_cores=self.total_executor_cores,
            executor_cores=self.executor_cores, executor_memory=self.executor_memory,
            driver_memory=self.driver_memory, keytab=self.keytab, principal=self.principal,
            proxy_user=self.proxy_user, name=self.name, num_executors=self.num_executors,
            status_poll_interval=self.status_poll_interval, application_args=self.application_args,
            env_vars=self.env_vars, verbose=self.verbose, spark_binary=self.spark_binary,
            properties_file=self.properties_file, yarn_queue=self.yarn_queue, deploy_mode=self.deploy_mode,
            use_krb5ccache=self.use_krb5ccache, post_submit_commands=self.post_submit_commands,
            track_driver_via_k8s_api=self.track_driver_via_k8s_api,
            yarn_track_via_rm_api=self.yarn_track_via_rm_api, yarn_rm_auth=self.yarn_rm_auth,
        )
        self._client_hook.submit(self.application)

    def on_kill(self) -> None:
        if self._client_hook is not None:
            self._client_hook.on_kill()  # the driver is spark-submit's child: SparkSubmitOperator's kill
            return
        super().on_kill()

    def _run_post_submit_commands(self) -> None:
        """SparkSubmitHook's post_submit_commands: once the try ends, each by the shell; a failure only warns."""
        for command in self.post_submit_commands or ():
            try:
                done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.SubprocessError) as exc:
                self.log.warning("post-submit command failed: %s", self._safe(f"{type(exc).__name__}: {exc}"))
                continue
            if done.returncode != 0:
                self.log.warning("post-submit command exited %s: %s", done.returncode,
                                 self._safe((done.stderr or done.stdout).strip()[-500:]))
