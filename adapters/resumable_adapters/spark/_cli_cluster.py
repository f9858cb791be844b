"""The YARN and Kubernetes kinds of ``resumable spark-submit``: where the cluster is, what is recorded.

A kind's ``meta`` is what ``status``, ``cancel``, ``history`` and ``watch`` need to
rebuild a job that can ask and cancel (``kind_from_meta``): the ResourceManagers' REST
addresses and the ``user.name`` (YARN), the API server, namespace and where the
credentials come from, a kubeconfig's *path*, never its contents (Kubernetes). Never a
Spark property, an application argument or a keytab: they may hold secrets, and a
rebuilt job does not submit, so it needs none of them.

The adapter is imported on first use: ``resumable run`` works without the Spark extra.
"""

from __future__ import annotations

import getpass
import importlib
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resumable_core import JsonValue, Policy, PollPolicy, ResumableError
from resumable_core.redaction import redact

from ..cli.plugin import EXIT_USAGE, CliError, ask_status

if TYPE_CHECKING:
    from ..kubernetes import KubernetesClient
    from ..yarn import YarnRestClient
    from ._cluster_submission import SparkClusterSubmission
    from ._kubernetes import SparkKubernetesJob
    from ._launcher import SparkSubmitLauncher
    from ._yarn import SparkYarnJob

YARN_KIND, KUBERNETES_KIND = "spark-yarn", "spark-kubernetes"
_EXIT_CODE = re.compile(r"exit code (\d+)")
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


# Where each name the command uses lives. Loaded on use, not when the command starts: the
# command finds its spark-submit here on every start, and urllib3 (the 'spark' extra) is
# needed only once a Spark job is built.
_HOMES = {"KubernetesClient": "resumable_adapters.kubernetes", "YarnRestClient": "resumable_adapters.yarn"}


def _spark(name: str) -> Any:
    try:
        return getattr(importlib.import_module(_HOMES.get(name, "resumable_adapters.spark")), name)
    except ImportError as exc:
        raise CliError(f"the Spark adapter cannot be loaded: {exc}", EXIT_USAGE) from exc


def launcher(spark_submit: str | None) -> SparkSubmitLauncher:
    """spark-submit: the one given, else ``$SPARK_HOME/bin/spark-submit`` (as Spark's own scripts), else pyspark's."""
    if spark_submit is None and os.environ.get("SPARK_HOME"):
        candidate = Path(os.environ["SPARK_HOME"]) / "bin" / "spark-submit"
        spark_submit = str(candidate) if candidate.is_file() else None
    found: SparkSubmitLauncher = _spark("SparkSubmitLauncher")(spark_submit)
    return found


def _watch_only_launcher() -> SparkSubmitLauncher:
    # A rebuilt job only asks and cancels: it never launches, so no spark-submit need exist here.
    found: SparkSubmitLauncher = _spark("SparkSubmitLauncher")("spark-submit")
    return found


def _bare_submission(application: str, main_class: str | None, name: str | None) -> SparkClusterSubmission:
    found: SparkClusterSubmission = _spark("SparkClusterSubmission")(application=application, main_class=main_class,
                                                                    name=name)
    return found


# -- YARN -----------------------------------------------------------------------------------------


def yarn_rm_urls(given: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """``--yarn-rm`` (each may be comma-separated), else what yarn-site.xml says; a usage error when neither."""
    if given:
        return [part.strip() for item in given for part in item.split(",") if part.strip()]
    env = dict(os.environ) if environ is None else environ
    for variable in ("YARN_CONF_DIR", "HADOOP_CONF_DIR"):
        folder = env.get(variable)
        if folder and (Path(folder) / "yarn-site.xml").is_file():
            found = yarn_site_rm_urls(Path(folder) / "yarn-site.xml")
            if found:
                return found
    raise CliError("--master yarn needs the ResourceManagers' REST addresses: --yarn-rm http://rm:8088 (repeat "
                   "for HA), or yarn.resourcemanager.webapp.address in $YARN_CONF_DIR or $HADOOP_CONF_DIR/"
                   "yarn-site.xml", EXIT_USAGE)


def yarn_site_rm_urls(path: Path) -> list[str]:
    """The ResourceManagers' web addresses in a yarn-site.xml, as Hadoop's client reads them (HA: one per rm-id)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise CliError(f"cannot read {str(path)!r}: {type(exc).__name__}: {exc}", EXIT_USAGE) from None
    props = {str(p.findtext("name") or "").strip(): str(p.findtext("value") or "").strip()
             for p in root.iter("property")}

    def value(name: str) -> str | None:
        text = props.get(name)
        if not text:
            return None
        # Hadoop's ${other.property} substitution, one level (what yarn-site files use).
        return _VARIABLE.sub(lambda m: props.get(m.group(1), m.group(0)), text)

    https = (value("yarn.http.policy") or "").upper() == "HTTPS_ONLY"
    key = "yarn.resourcemanager.webapp.https.address" if https else "yarn.resourcemanager.webapp.address"
    port = "8090" if https else "8088"  # yarn-default.xml's ports
    scheme = "https" if https else "http"
    ids = [i.strip() for i in (value("yarn.resourcemanager.ha.rm-ids") or "").split(",") if i.strip()]
    if (value("yarn.resourcemanager.ha.enabled") or "").lower() == "true" and ids:
        addresses = [value(f"{key}.{i}") or _with_port(value(f"yarn.resourcemanager.hostname.{i}"), port)
                     for i in ids]
    else:
        addresses = [value(key) or _with_port(value("yarn.resourcemanager.hostname"), port)]
    return [a if "://" in a else f"{scheme}://{a}" for a in addresses if a]


def _with_port(host: str | None, port: str) -> str | None:
    return f"{host}:{port}" if host else None


def yarn_user(environ: dict[str, str] | None = None) -> str:
    """``user.name`` for the RM's simple authentication: ``$HADOOP_USER_NAME`` as Hadoop's client, else the login."""
    env = dict(os.environ) if environ is None else environ
    return env.get("HADOOP_USER_NAME") or getpass.getuser()


class SparkYarnKind:
    """``spark-submit --master yarn``: spark-submit submits, the ResourceManager's REST API follows."""

    def __init__(self, *, rm_urls: list[str], application: str, main_class: str | None, name: str | None,
                 user: str | None = None) -> None:
        self.rm_urls = rm_urls
        self.user = user or yarn_user()
        self.application = application
        self.main_class = main_class
        self.name = name
        self._watcher: SparkYarnJob | None = None

    def client(self) -> YarnRestClient:
        client: YarnRestClient = _spark("YarnRestClient")(self.rm_urls, user=self.user)
        return client

    def submission_job(self, submission: SparkClusterSubmission, *, spark_submit: str | None) -> SparkYarnJob:
        if not (os.environ.get("HADOOP_CONF_DIR") or os.environ.get("YARN_CONF_DIR")):
            # spark-submit's own rule: it reaches the ResourceManager by Hadoop RPC, configured there.
            raise CliError("--master yarn needs HADOOP_CONF_DIR or YARN_CONF_DIR (the cluster's client "
                           "configuration, which spark-submit reads)", EXIT_USAGE)
        job: SparkYarnJob = _spark("SparkYarnJob")(self.client(), submission, launcher=launcher(spark_submit))
        return job

    def meta(self) -> dict[str, JsonValue]:
        return {"kind": YARN_KIND, "rm_urls": list(self.rm_urls), "user": self.user, "application": self.application,
                "main_class": self.main_class, "name": self.name}

    def policy(self) -> Policy:
        return Policy()  # the default lease (120 s) outlasts the launcher's 90 s timeout

    def poll_policy(self) -> PollPolicy:
        return PollPolicy(min_interval=1.0, max_interval=15.0)

    def watcher(self) -> SparkYarnJob:
        if self._watcher is None:
            self._watcher = _spark("SparkYarnJob")(
                self.client(), _bare_submission(self.application, self.main_class, self.name),
                launcher=_watch_only_launcher())
        return self._watcher

    def _application(self, job_id: str) -> Any:
        try:
            return self.watcher().client.application(job_id)
        except ResumableError:
            return None

    def started_at(self, job_id: str) -> float | None:
        app = self._application(job_id)
        return app.started_ms / 1000 if app is not None and app.started_ms else None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        app = self._application(job_id)
        said = f"{redact(' '.join(app.diagnostics.split()))[:300]}; " if app is not None and app.diagnostics else ""
        return f"{said}logs: yarn logs -applicationId {job_id}"

    def exit_status(self, job_id: str) -> int | None:
        return None  # the ResourceManager reports a final status, not the driver's exit code

    def replay_output(self, job_id: str | None) -> None:
        return None  # the driver's output is in YARN's aggregated logs

    def success_summary(self, result: object) -> str:
        if not isinstance(result, dict):
            return "application succeeded"
        queue = f" in queue {result.get('queue')}" if result.get("queue") else ""
        return f"application {result.get('application_id')} {result.get('state')}/{result.get('final_status')}{queue}"


# -- Kubernetes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KubernetesCredentials:
    """Where the API server's credentials come from: a kubeconfig's path, the pod's service account, or none."""

    source: str  # "kubeconfig", "in-cluster" or "none" (an unauthenticated proxy)
    kubeconfig: str | None = None
    context: str | None = None

    def meta(self) -> dict[str, JsonValue]:
        return {"source": self.source, "kubeconfig": self.kubeconfig, "context": self.context}


def kubernetes_credentials(kubeconfig: str | None, context: str | None) -> KubernetesCredentials:
    """As spark-submit's client finds them: ``--kubeconfig``, ``$KUBECONFIG``, the service account, ~/.kube/config."""
    path = kubeconfig or (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or None
    if path is None and not context and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return KubernetesCredentials("in-cluster")
    if path is None and (Path.home() / ".kube" / "config").is_file():
        path = str(Path.home() / ".kube" / "config")
    if path is None:
        if context:
            raise CliError("--kube-context needs a kubeconfig (--kubeconfig or $KUBECONFIG)", EXIT_USAGE)
        return KubernetesCredentials("none")
    # Absolute: status, cancel and watch may run from another directory.
    return KubernetesCredentials("kubeconfig", str(Path(path).absolute()), context)


def kubernetes_server(master: str) -> str:
    """``k8s://https://h:6443`` -> ``https://h:6443``; no scheme means https, as Spark reads it."""
    server = master.strip()[len("k8s://"):]
    return server if "://" in server else f"https://{server}"


class SparkKubernetesKind:
    """``spark-submit --master k8s://...``: spark-submit creates the driver pod, the API server follows it."""

    def __init__(self, *, master: str, namespace: str | None, credentials: KubernetesCredentials, application: str,
                 main_class: str | None, name: str | None, image: str | None) -> None:
        self.master = master
        self.namespace = namespace
        self.credentials = credentials
        self.application = application
        self.main_class = main_class
        self.name = name
        self.image = image
        self._watcher: SparkKubernetesJob | None = None

    def client(self) -> KubernetesClient:
        options: dict[str, Any] = {"namespace": self.namespace} if self.namespace else {}
        server = kubernetes_server(self.master)
        if self.credentials.source == "in-cluster":
            source = _spark("KubernetesClient").in_cluster(**options)
        elif self.credentials.source == "kubeconfig":
            source = _spark("KubernetesClient").from_kubeconfig(self.credentials.kubeconfig,
                                                            context=self.credentials.context, **options)
        else:
            found: KubernetesClient = _spark("KubernetesClient")(server, **options)
            return found
        # The credentials may name another address of the server (kubernetes.default.svc versus
        # its IP): spark-submit talks to --master, so the job must too, with the same credentials.
        client: KubernetesClient = source.at(server)
        return client

    def submission_job(self, submission: SparkClusterSubmission, *, spark_submit: str | None) -> SparkKubernetesJob:
        job: SparkKubernetesJob = _spark("SparkKubernetesJob")(self.client(), submission,
                                                              launcher=launcher(spark_submit))
        return job

    def meta(self) -> dict[str, JsonValue]:
        return {"kind": KUBERNETES_KIND, "master": self.master, "namespace": self.namespace,
                "credentials": self.credentials.meta(), "application": self.application,
                "main_class": self.main_class, "name": self.name, "image": self.image}

    def policy(self) -> Policy:
        return Policy()  # the default lease (120 s) outlasts the launcher's 90 s timeout

    def poll_policy(self) -> PollPolicy:
        return PollPolicy(min_interval=1.0, max_interval=15.0)

    def watcher(self) -> SparkKubernetesJob:
        if self._watcher is None:
            # Status, cancel and the lookup by label go by job id and reference: the image is never used.
            self._watcher = _spark("SparkKubernetesJob")(
                self.client(), _bare_submission(self.application, self.main_class, self.name),
                image=self.image or "unused", launcher=_watch_only_launcher())
        return self._watcher

    def started_at(self, job_id: str) -> float | None:
        return None

    def live_status(self, job_id: str) -> str:
        return ask_status(self.watcher(), job_id)

    def failure_details(self, job_id: str) -> str | None:
        namespace, _, rest = job_id.partition("/")
        return f"logs: kubectl logs -n {namespace} {rest.partition('/')[0]}"

    def exit_status(self, job_id: str) -> int | None:
        """The driver container's exit code, as the pod reports it (``Failed (exit code 3)``)."""
        match = _EXIT_CODE.search(ask_status(self.watcher(), job_id))
        return int(match.group(1)) if match else None

    def replay_output(self, job_id: str | None) -> None:
        return None  # the driver's output is the pod's log

    def success_summary(self, result: object) -> str:
        if not isinstance(result, dict):
            return "driver pod succeeded"
        return (f"driver pod {result.get('namespace')}/{result.get('pod')} {result.get('phase')} "
                f"(Spark application {result.get('spark_app_id')})")


def cluster_kind_from_meta(meta: dict[str, JsonValue]) -> SparkYarnKind | SparkKubernetesKind | None:
    def text(name: str, where: dict[str, JsonValue] = meta) -> str | None:
        value = where.get(name)
        return value if isinstance(value, str) else None

    application = text("application")
    if application is None:
        return None
    if meta.get("kind") == YARN_KIND:
        urls = meta.get("rm_urls")
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            return None
        return SparkYarnKind(rm_urls=[str(u) for u in urls], user=text("user"), application=application,
                             main_class=text("main_class"), name=text("name"))
    if meta.get("kind") == KUBERNETES_KIND:
        master, credentials = text("master"), meta.get("credentials")
        if master is None or not isinstance(credentials, dict) or text("source", credentials) is None:
            return None
        return SparkKubernetesKind(
            master=master, namespace=text("namespace"),
            credentials=KubernetesCredentials(str(text("source", credentials)), text("kubeconfig", credentials),
                                              text("context", credentials)),
            application=application, main_class=text("main_class"), name=text("name"), image=text("image"))
    return None


__all__ = [
    "KUBERNETES_KIND",
    "YARN_KIND",
    "KubernetesCredentials",
    "SparkKubernetesKind",
    "SparkYarnKind",
    "cluster_kind_from_meta",
    "kubernetes_credentials",
    "kubernetes_server",
    "yarn_rm_urls",
    "yarn_site_rm_urls",
    "yarn_user",
]
