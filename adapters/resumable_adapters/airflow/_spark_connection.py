"""How ResumableSparkSubmitOperator reads an Airflow Spark connection: as SparkSubmitHook reads it.

The master comes out as the stock hook builds it (``spark://...``, ``yarn``,
``k8s://https://...``, ``local[*]``); the deploy mode, queue, namespace, principal,
keytab and spark binary from the arguments first, then the connection's extra
(``deploy-mode``, ``queue``, ``namespace``, ``principal``, ``keytab`` (base64),
``spark-binary``), as the hook does. What the stock hook has no key for and a
resumable run needs has its own extra: ``rest_url`` / ``web_ui_url`` (standalone),
``yarn_resourcemanager_webapp_address`` (the stock key; several comma-separated for
HA), ``kubeconfig`` / ``kube_context`` / ``in_cluster`` (Kubernetes credentials).
"""

from __future__ import annotations

import base64
import binascii
import enum
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from resumable_core import InvalidArgument
from resumable_core.redaction import MASK, redact

from ..kubernetes import KubernetesClient
from ..spark import read_properties_file

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
DEFAULT_MASTER_PORT = 7077  # Spark's spark.master.port (SparkSubmitHook's default too)
DEFAULT_REST_PORT = 6066    # Spark's spark.master.rest.port
DEFAULT_WEB_UI_PORT = 8080  # Spark's spark.master.ui.port
# SparkSubmitHook's list: a connection's extra may name only these (a UI user must not
# pick the executable a worker runs); a DAG's spark_binary= argument may name any.
ALLOWED_SPARK_BINARIES = ("spark-submit", "spark2-submit", "spark3-submit")
YARN_RM_EXTRA = "yarn_resourcemanager_webapp_address"  # SparkSubmitHook's key


class ClusterManager(enum.Enum):
    STANDALONE = "standalone"
    YARN = "yarn"
    KUBERNETES = "kubernetes"
    OTHER = "other"  # local[*], mesos://...: nothing this operator can resume


@dataclass(frozen=True)
class SparkTarget:
    """Where and how a submission goes, resolved from the arguments and the connection."""

    master: str
    manager: ClusterManager
    deploy_mode: str            # "cluster" or "client"; unset resolves to "cluster" (see resolve_target)
    deploy_mode_set: bool       # False when neither the argument nor the extra named one
    queue: str | None
    namespace: str | None
    principal: str | None
    keytab: str | None          # a path (the argument's, or the extra's base64 written to a private file)
    spark_binary: str | None
    login: str | None           # the connection's login: YARN's user.name (simple authentication)
    extra: dict[str, Any] = field(repr=False)
    connection: Any = field(repr=False)  # the Airflow connection read: a standalone master's endpoints and auth


def resolve_master(conn: Any) -> str:
    """The master URL exactly as SparkSubmitHook._resolve_connection builds it."""
    host = conn.host or ""
    if conn.conn_type == "spark" and host and ("://" in host or not conn.port):
        master = host  # a UI-made connection whose host holds the whole master URL
    else:
        master = f"{conn.conn_type}://{host}"
    return f"{master}:{conn.port}" if conn.port else master


def cluster_manager(master: str) -> ClusterManager:
    """Which cluster manager a master URL names (SparkSubmitHook tests ``"yarn" in`` / ``"k8s" in``)."""
    text = master.strip().lower()
    if text.startswith("k8s://"):
        return ClusterManager.KUBERNETES
    if text.startswith("yarn"):
        return ClusterManager.YARN
    if text.startswith("spark://") or not (_SCHEME.match(text) or text.startswith("local")):
        # A bare host (``master``) is a standalone master here, as this operator always read it.
        return ClusterManager.STANDALONE
    return ClusterManager.OTHER


def resolve_target(conn: Any, *, deploy_mode: str | None, yarn_queue: str | None, principal: str | None,
                   keytab: str | None, spark_binary: str | None, conf: dict[str, Any]) -> SparkTarget:
    """The argument wins over the extra, as in SparkSubmitHook; InvalidArgument for what the hook refuses."""
    extra: dict[str, Any] = dict(conn.extra_dejson or {})
    where = f"Airflow connection {conn.conn_id!r}"
    if extra.get("spark-home"):
        raise InvalidArgument(f"{where}: the `spark-home` extra is not allowed any more (as in SparkSubmitHook); "
                              f"set `spark-binary` to one of {', '.join(ALLOWED_SPARK_BINARIES)}")
    binary = spark_binary
    if not binary and extra.get("spark-binary"):
        binary = str(extra["spark-binary"])
        if binary not in ALLOWED_SPARK_BINARIES:
            raise InvalidArgument(f"{where}: the spark-binary extra can be one of "
                                  f"{', '.join(ALLOWED_SPARK_BINARIES)}, not {binary!r}")
    master = resolve_master(conn)
    mode = deploy_mode or extra.get("deploy-mode")
    if mode not in (None, "cluster", "client"):
        raise InvalidArgument(f"{where}: deploy-mode must be 'cluster' or 'client', not {mode!r}")
    namespace = conf.get("spark.kubernetes.namespace") or extra.get("namespace")
    principal = principal or extra.get("principal")
    if keytab is None and extra.get("keytab"):
        keytab = _keytab_file(str(extra["keytab"]), where)
    return SparkTarget(
        master=master, manager=cluster_manager(master), deploy_mode=mode or "cluster", deploy_mode_set=bool(mode),
        queue=yarn_queue or extra.get("queue"), namespace=str(namespace) if namespace else None,
        principal=str(principal) if principal else None, keytab=keytab, spark_binary=binary,
        login=conn.login or None, extra=extra, connection=conn,
    )


def spark_submit_executable(binary: str | None) -> str | None:
    """The spark-submit SparkSubmitHook would run: *binary* (argument, else extra), else ``spark-submit``
    on PATH (a site's Spark distribution, which a DAG written for the stock operator relies on).

    None where PATH has none either (the stock hook would fail there): the launcher's own default,
    the spark-submit pyspark ships.
    """
    return binary or shutil.which("spark-submit")


def _keytab_file(encoded: str, where: str) -> str:
    """The extra's base64 keytab written to a private file (0600 in a 0700 directory), as the hook writes one."""
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{where}: the keytab extra is not base64") from None  # never echo it
    folder = tempfile.mkdtemp(prefix="resumable-keytab-")
    path = Path(folder) / "spark.keytab"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return str(path)


def yarn_rm_urls(target: SparkTarget, conn_id: str) -> list[str]:
    """The ResourceManager web addresses: the stock extra, bare ``host:port`` taken as http (several: HA)."""
    raw = str(target.extra.get(YARN_RM_EXTRA) or "").strip()
    if not raw:
        raise InvalidArgument(
            f"Airflow connection {conn_id!r}: YARN cluster mode needs the extra {YARN_RM_EXTRA!r} "
            "(e.g. http://rm:8088, or several comma-separated for ResourceManager HA): the ResourceManager's "
            "REST API is how a retry finds, follows and kills the application"
        )
    return [u if "://" in u else f"http://{u}" for u in (part.strip().rstrip("/") for part in raw.split(",")) if u]


def kubernetes_server(master: str) -> str:
    """``k8s://https://h:6443`` -> ``https://h:6443``; no scheme means https, as Spark reads it."""
    server = master.strip()[len("k8s://"):]
    return server if "://" in server else f"https://{server}"


def kubernetes_client(target: SparkTarget, conn_id: str) -> KubernetesClient:
    """A client for the master's API server, with credentials as spark-submit's own client finds them.

    Extra ``kubeconfig`` (a path) and ``kube_context``, or ``in_cluster: true``; by default
    the pod's service account inside a pod, else ``$KUBECONFIG`` / ``~/.kube/config`` when
    one exists, else no credentials (a ``kubectl proxy``). The server is always the master's.
    """
    extra = target.extra
    path = extra.get("kubeconfig")
    in_cluster = extra.get("in_cluster")
    if in_cluster is None:
        in_cluster = not path and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    options: dict[str, Any] = {}
    if target.namespace:
        options["namespace"] = target.namespace
    source: KubernetesClient | None
    if in_cluster:
        source = KubernetesClient.in_cluster(**options)
    elif path or _default_kubeconfig().is_file():
        source = KubernetesClient.from_kubeconfig(path, context=extra.get("kube_context"), **options)
    else:
        source = None
    server = kubernetes_server(target.master)
    if source is None:
        return KubernetesClient(server, **options)
    if source.server == server.rstrip("/"):
        return source
    # The credentials' own server differs from the master (kubernetes.default.svc versus the
    # service's IP, say): spark-submit talks to the master, so the adapter must too.
    client = KubernetesClient(
        server, namespace=source.namespace, token=None if source.token_file else source.token(),
        token_file=source.token_file, client_cert=source.client_cert, client_key=source.client_key,
        ca_cert=source.ca_cert, verify=source.verify,
    )
    weakref.finalize(client, lambda keep: None, source)  # the kubeconfig's files live as long as the client
    return client


def _default_kubeconfig() -> Path:
    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return Path(first) if first else Path.home() / ".kube" / "config"


class SparkEndpoints(NamedTuple):
    """Where a connection's Spark master(s) are: the master URL and each master's REST server and web UI."""

    master: str               # spark://a:7077 or Spark's HA form spark://a:7077,b:7077 (the driver's spark.master)
    rest_urls: list[str]      # one per master, asked in turn (SparkRestClient)
    web_ui_urls: list[str]    # one per master; empty when finding drivers by reference is disabled


def spark_endpoints(conn: Any, *, rest_gateway: bool = False) -> SparkEndpoints:
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

    *rest_gateway*: spark-submit would use its REST gateway (``spark.master.rest.enabled=true``,
    see ``uses_rest_gateway``). It then sends REST to the ports the host lists
    (``spark://a:16066,b:16066``), and so does this; otherwise those are the masters' RPC ports
    and REST goes to 6066 (or the ``rest-port`` extra). An entry without a port is the same either way.
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
    listed = [_listed_port(entry) for entry in rest.split(",")]
    extra = conn.extra_dejson or {}
    rest_url = extra.get("rest_url")
    # SparkSubmitHook's rest-scheme / rest-port extras, for a connection written for it.
    scheme, rest_port = extra.get("rest-scheme", "http"), extra.get("rest-port", DEFAULT_REST_PORT)
    if rest_url:
        rest_urls = [str(rest_url)]
    else:  # spark-submit's REST gateway talks to each listed port; its RPC gateway means 6066 for REST
        rest_urls = [f"{scheme}://{host}:{port if rest_gateway and port is not None else rest_port}"
                     for (host, _), port in zip(masters, listed, strict=True)]
    web_ui = extra.get("web_ui_url")
    if web_ui is None:
        web_uis = [f"http://{host}:{DEFAULT_WEB_UI_PORT}" for host, _ in masters]
    else:
        web_uis = [str(web_ui)] if web_ui else []
    master = "spark://" + ",".join(f"{host}:{port}" for host, port in masters)
    return SparkEndpoints(master, rest_urls, web_uis)


def uses_rest_gateway(conf: Mapping[str, Any]) -> bool:
    """Whether spark-submit would submit through the masters' REST servers: ``spark.master.rest.enabled``
    in *conf*, else in ``spark-defaults.conf`` (``$SPARK_CONF_DIR``, else ``$SPARK_HOME/conf``), as it reads it."""
    value = conf.get("spark.master.rest.enabled")
    if value is None:
        folder = os.environ.get("SPARK_CONF_DIR") or (
            os.path.join(os.environ["SPARK_HOME"], "conf") if os.environ.get("SPARK_HOME") else None)
        defaults = Path(folder, "spark-defaults.conf") if folder else None
        if defaults is not None and defaults.is_file():
            value = read_properties_file(str(defaults)).get("spark.master.rest.enabled")
    return str(value).strip().lower() == "true"


def _listed_port(entry: str) -> int | None:
    """The port written in one ``[spark://]host[:port]`` entry (checked by ``_master_entry``), None without one."""
    text = entry.strip()
    text = text[len("spark://"):] if text.lower().startswith("spark://") else text
    try:
        return urlsplit(f"spark://{text}").port
    except ValueError:
        return None


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


