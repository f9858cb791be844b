"""``resumable spark-submit``: spark-submit's own options, mapped for the three cluster managers.

``--master`` picks the job: ``spark://`` or ``http(s)://`` a standalone master's REST server
(``SparkRestJob``), ``yarn`` the real spark-submit plus the ResourceManager's REST API
(``SparkYarnJob``), ``k8s://https://host:port`` the real spark-submit plus the Kubernetes
API (``SparkKubernetesJob``). Options spark-submit turns into Spark properties become the
same properties here (``--executor-memory`` -> ``spark.executor.memory``...), and, as in
spark-submit, a dedicated option wins over a ``--conf`` of the same property, which wins
over ``--properties-file``. Client deploy mode is refused: its driver would live in this
process, and nothing could reattach to it after a crash.
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from ..cli.plugin import EXIT_USAGE, CliError, Commands, JobKind, ask_status, run_job

if TYPE_CHECKING:
    from resumable_core import JsonValue, Policy, PollPolicy, ResumableJob

    from ._cli_cluster import SparkKubernetesKind, SparkYarnKind

# Every ``resumable`` start that lists or parses commands imports this module: what builds and
# asks jobs (_cli_cluster, the clients) is imported by the functions that do, when they run.

STANDALONE, YARN, KUBERNETES = "standalone", "yarn", "kubernetes"
STANDALONE_KIND = "spark"  # the meta's "kind" of a standalone driver (YARN and Kubernetes: _cli_cluster.py)
CLIENT_MODE_REFUSED = (
    "--deploy-mode client cannot be resumed: the driver would run inside this process and die with it, "
    "so a rerun could not reattach to it; use --deploy-mode cluster (the default here)"
)
# spark-submit's options that stand for one Spark property each (SparkSubmitArguments / SparkSubmit's
# OptionAssigner), by argparse dest.
PROPERTY_OPTIONS: dict[str, str] = {
    "queue": "spark.yarn.queue",
    "num_executors": "spark.executor.instances",
    "executor_memory": "spark.executor.memory",
    "executor_cores": "spark.executor.cores",
    "total_executor_cores": "spark.cores.max",
    "driver_memory": "spark.driver.memory",
    "driver_cores": "spark.driver.cores",
    "driver_java_options": "spark.driver.extraJavaOptions",
    "driver_library_path": "spark.driver.extraLibraryPath",
    "driver_class_path": "spark.driver.extraClassPath",
    "principal": "spark.kerberos.principal",
    "keytab": "spark.kerberos.keytab",  # the path only: spark-submit reads the file, this process never does
    "packages": "spark.jars.packages",
    "exclude_packages": "spark.jars.excludes",
    "repositories": "spark.jars.repositories",
}
# The comma-separated lists; on YARN and Kubernetes they are SparkClusterSubmission's fields, on a
# standalone master the properties spark-submit sets for them.
LIST_OPTIONS: dict[str, str] = {
    "jars": "spark.jars", "py_files": "spark.submit.pyFiles", "files": "spark.files", "archives": "spark.archives",
}


def add_spark_submit_options(spark: argparse.ArgumentParser) -> None:
    spark.add_argument("--master", required=True, metavar="URL",
                       help="spark://host:6066[,host2:6066] or http://host:6066 (a standalone master's REST "
                            "server), yarn, or k8s://https://host:port")
    spark.add_argument("--deploy-mode", default="cluster", choices=("cluster", "client"),
                       help="cluster (default); client is refused: it cannot be resumed")
    spark.add_argument("--class", dest="main_class", metavar="CLASS",
                       help="the application's main class (a jar; required by a standalone master)")
    spark.add_argument("--name", metavar="NAME")
    spark.add_argument("--conf", action="append", default=[], metavar="PROP=VALUE")
    spark.add_argument("--properties-file", metavar="FILE", help="Spark properties read before --conf")
    for option in ("--jars", "--py-files", "--files", "--archives"):
        spark.add_argument(option, metavar="LIST", help="comma-separated")
    spark.add_argument("--proxy-user", metavar="NAME")
    for option, metavar in (("--queue", "NAME"), ("--num-executors", "NUM"), ("--executor-memory", "MEM"),
                            ("--executor-cores", "NUM"), ("--total-executor-cores", "NUM"),
                            ("--driver-memory", "MEM"), ("--driver-cores", "NUM"),
                            ("--driver-java-options", "OPTS"), ("--driver-library-path", "PATH"),
                            ("--driver-class-path", "PATH"), ("--principal", "NAME"), ("--keytab", "PATH"),
                            ("--packages", "LIST"), ("--exclude-packages", "LIST"), ("--repositories", "LIST")):
        spark.add_argument(option, metavar=metavar)
    spark.add_argument("--supervise", action="store_true", help="standalone: relaunch a failed driver")
    spark.add_argument("--master-web-ui", action="append", default=[], metavar="URL",
                       help="standalone: the master's web UI (http://host:8080), to find a driver after a crash")
    spark.add_argument("--yarn-rm", action="append", default=[], metavar="URL",
                       help="YARN: a ResourceManager's REST address (http://rm:8088; repeat for HA). Default: "
                            "yarn.resourcemanager.webapp.address in $YARN_CONF_DIR or $HADOOP_CONF_DIR/yarn-site.xml")
    spark.add_argument("--kubeconfig", metavar="PATH",
                       help="Kubernetes: credentials (default: $KUBECONFIG, the pod's service account, ~/.kube/config)")
    spark.add_argument("--kube-context", metavar="NAME", help="Kubernetes: the kubeconfig context to use")
    spark.add_argument("--spark-submit", metavar="PATH",
                       help="YARN, Kubernetes: the spark-submit to run (default: $SPARK_HOME/bin/spark-submit, "
                            "else pyspark's, else the one on PATH)")
    spark.add_argument("app", metavar="APP", help="the application: a jar or a .py file")
    spark.add_argument("app_args", nargs=argparse.REMAINDER, metavar="ARGS")


def cluster_manager(master: str) -> str:
    text = master.strip().lower()
    if text.startswith(("spark://", "http://", "https://")):
        return STANDALONE
    if text == "yarn":
        return YARN
    if text.startswith("k8s://"):
        return KUBERNETES
    raise CliError(f"--master {master!r} is not spark://host:port, http(s)://host:port, yarn or "
                   "k8s://https://host:port (a local master has nothing to resume)", EXIT_USAGE)


def spark_submit_job(args: argparse.Namespace) -> tuple[JobKind, ResumableJob[Any]]:
    """The kind and the job ``--master`` names, or a usage error for what cannot be run resumably."""
    manager = cluster_manager(args.master)
    if args.deploy_mode == "client":
        raise CliError(CLIENT_MODE_REFUSED, EXIT_USAGE)
    _refuse_foreign_options(args, manager)
    conf = _conf(args)
    lists = {dest: _split(getattr(args, dest)) for dest in LIST_OPTIONS}
    if manager == STANDALONE:
        return _standalone(args, conf, lists)
    submission = _cluster_submission(args, conf, lists)
    from ._cli_cluster import SparkKubernetesKind, SparkYarnKind, kubernetes_credentials, yarn_rm_urls

    if manager == YARN:
        kind: SparkYarnKind | SparkKubernetesKind = SparkYarnKind(
            rm_urls=yarn_rm_urls(args.yarn_rm), application=args.app, main_class=args.main_class, name=args.name)
    else:
        namespace = conf.get("spark.kubernetes.namespace")
        credentials = kubernetes_credentials(args.kubeconfig, args.kube_context)
        kind = SparkKubernetesKind(master=args.master, namespace=namespace, credentials=credentials,
                                   application=args.app, main_class=args.main_class, name=args.name,
                                   image=conf.get("spark.kubernetes.container.image"))
    return kind, kind.submission_job(submission, spark_submit=args.spark_submit)


def _refuse_foreign_options(args: argparse.Namespace, manager: str) -> None:
    # Said rather than ignored: an option for another cluster manager is a mistake in the command.
    only: dict[str, tuple[str, object]] = {
        "--supervise": (STANDALONE, args.supervise), "--master-web-ui": (STANDALONE, args.master_web_ui),
        "--yarn-rm": (YARN, args.yarn_rm), "--kubeconfig": (KUBERNETES, args.kubeconfig),
        "--kube-context": (KUBERNETES, args.kube_context),
    }
    for option, (wanted, value) in only.items():
        if value and manager != wanted:
            raise CliError(f"{option} is for a {wanted} master, not {args.master!r}", EXIT_USAGE)
    if manager == STANDALONE:
        for option, value in (("--proxy-user", args.proxy_user), ("--spark-submit", args.spark_submit)):
            if value:
                raise CliError(f"{option} is not supported with a standalone master: its REST server "
                               "takes the submission, not spark-submit", EXIT_USAGE)


def _conf(args: argparse.Namespace) -> dict[str, str]:
    conf = _spark("read_properties_file")(args.properties_file) if args.properties_file else {}
    for item in args.conf:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"--conf expects PROP=VALUE, got {name!r}" + ("=..." if sep else ""), EXIT_USAGE)
        conf[name] = value
    for dest, prop in PROPERTY_OPTIONS.items():
        value = getattr(args, dest)
        if value is not None:
            conf[prop] = str(value)
    return conf


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _standalone(args: argparse.Namespace, conf: dict[str, str],
                lists: dict[str, tuple[str, ...]]) -> tuple[JobKind, ResumableJob[Any]]:
    if not args.main_class:
        raise CliError("a standalone master needs --class (its REST server runs a jar's main class)", EXIT_USAGE)
    memory = conf.pop("spark.driver.memory", "1g")
    cores_text = conf.pop("spark.driver.cores", "1")
    try:
        cores = int(cores_text)
    except ValueError:
        raise CliError(f"--driver-cores expects a number, got {cores_text!r}", EXIT_USAGE) from None
    # As spark-submit does for a standalone cluster: the application jar is the first of spark.jars.
    lists = {**lists, "jars": (args.app, *lists["jars"])} if lists["jars"] else lists
    for dest, prop in LIST_OPTIONS.items():
        if lists[dest]:
            conf[prop] = ",".join(lists[dest])
    kind = SparkKind(master=args.master, web_ui=args.master_web_ui, app=args.app, main_class=args.main_class)
    job = kind.submission_job(app_args=tuple(args.app_args), properties=conf, name=args.name,
                              driver_memory=memory, driver_cores=cores, supervise=args.supervise)
    return kind, job


def _cluster_submission(args: argparse.Namespace, conf: dict[str, str], lists: dict[str, tuple[str, ...]]) -> Any:
    return _spark("SparkClusterSubmission")(application=args.app, main_class=args.main_class, app_args=tuple(args.app_args),
                                  conf=conf, name=args.name, jars=lists["jars"], py_files=lists["py_files"],
                                  files=lists["files"], archives=lists["archives"], proxy_user=args.proxy_user)


class SparkKind:
    """``spark-submit``: a driver in cluster mode through the master's REST server."""

    def __init__(self, *, master: str, web_ui: list[str], app: str, main_class: str) -> None:
        self.master = master
        self.web_ui = web_ui
        self.app = app
        self.main_class = main_class

    def _client(self) -> Any:
        return _spark("SparkRestClient")(rest_urls(self.master), web_ui_urls=self.web_ui)

    def submission_job(self, **options: Any) -> ResumableJob[Any]:
        submission = _spark("SparkSubmission")(app_resource=self.app, main_class=self.main_class, **options)
        job: ResumableJob[Any] = _spark("SparkRestJob")(self._client(), submission)
        return job

    def meta(self) -> dict[str, JsonValue]:
        # No properties or arguments: they may hold secrets. What cancel needs is here.
        return {"kind": STANDALONE_KIND, "master": self.master, "web_ui": list(self.web_ui), "app": self.app,
                "main_class": self.main_class}

    def policy(self) -> Policy:
        from resumable_core import Policy

        return Policy()

    def poll_policy(self) -> PollPolicy:
        from resumable_core import PollPolicy

        return PollPolicy(min_interval=1.0, max_interval=15.0)

    def watcher(self) -> ResumableJob[Any]:
        # Status and cancel go by driver id; finding by reference also matches the main class.
        return self.submission_job()

    def started_at(self, job_id: str) -> float | None:
        return None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        return None

    def exit_status(self, job_id: str) -> int | None:
        return None  # the REST server reports a state, not the driver's exit code

    def replay_output(self, job_id: str | None) -> None:
        return None  # the driver's output is on its worker

    def success_summary(self, result: object) -> str:
        worker = result.get("worker_host_port") if isinstance(result, dict) else None
        return f"driver finished (worker {worker})" if worker else "driver finished"


def rest_urls(master: str) -> list[str]:
    """spark-submit's ``spark://host:6066[,host2:6066]`` as the REST client's http URLs."""
    if master.startswith("spark://"):
        return [f"http://{hostport}" for hostport in master[len("spark://"):].split(",") if hostport]
    return [master]




def cmd_spark_submit(args: argparse.Namespace) -> int:
    kind, job = spark_submit_job(args)  # before the state file is opened: a usage error writes nothing
    hint = f"rerun the same spark-submit command with --key {shlex.quote(args.key)}"
    return run_job(args, kind, job, reattach_hint=hint)


def _spark(name: str) -> Any:
    from ._cli_cluster import _spark as spark

    return spark(name)


def _kind_from_meta(meta: dict[str, JsonValue]) -> JobKind | None:
    from ._cli_cluster import cluster_kind_from_meta

    if meta.get("kind") == STANDALONE_KIND:
        master, app, main_class, web_ui = meta.get("master"), meta.get("app"), meta.get("main_class"), meta.get("web_ui")
        if isinstance(master, str) and isinstance(app, str) and isinstance(main_class, str):
            uis = [u for u in web_ui if isinstance(u, str)] if isinstance(web_ui, list) else []
            return SparkKind(master=master, web_ui=uis, app=app, main_class=main_class)
        return None
    return cluster_kind_from_meta(meta)


class _Commands:
    def add_commands(self, commands: Commands) -> None:
        spark = commands.add_job_command("spark-submit", handler=cmd_spark_submit,
                                         help="submit a Spark application in cluster mode (standalone, YARN, Kubernetes)")
        add_spark_submit_options(spark)

    def kind_from_meta(self, meta: dict[str, JsonValue]) -> JobKind | None:
        return _kind_from_meta(meta)


COMMANDS = _Commands()


__all__ = ["CLIENT_MODE_REFUSED", "add_spark_submit_options", "cluster_manager", "spark_submit_job"]
