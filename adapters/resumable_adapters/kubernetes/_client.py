"""``KubernetesClient``: the pod calls the Kubernetes integrations need (Spark on Kubernetes, pods), over urllib3.

Not the official ``kubernetes`` client: the adapters make five calls (create, get, list by
label, a log's tail, delete with a uid precondition), the Spark extra already brings
urllib3, and the official client would add a large generated package (and its own
retry and config rules) to every install for them. Credentials come from a kubeconfig
(server, CA, token or client certificate; ``exec`` and ``auth-provider`` plugins are not
run) or from the in-cluster service account (its token is re-read on each call, as
projected tokens rotate). No credential appears in a repr, a message or a log line.

Errors at this edge: refused / timeouts / 429 / 5xx -> TransientError; a body that is not
JSON at all (a proxy's page, cut JSON) -> MalformedAnswer, transient too; 401 / 403,
redirects, other 4xx and JSON of the wrong shape -> ProtocolError. A 404 is an answer
(None), and so is the 409 of a failed uid precondition.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import os
import re
import shutil
import tempfile
import urllib.parse
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import urllib3

from resumable_core import InvalidArgument, ProtocolError, SubmissionRejected, TransientError

from .._batching import batch_key
from .._http import HttpAnswer, NotSent, base_url, http_call, json_object, shown_url, timeouts

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_LABEL_RE = re.compile(r"(?:[a-z0-9.-]{1,253}/)?[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")


def check_name(value: str, what: str) -> str:
    """A namespace or object name that can go into a URL path as is."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidArgument(f"Kubernetes {what} {value!r} is not a DNS-1123 name")
    return value


class KubernetesClient:
    """One Kubernetes API server and the credentials to use it.

    *server*: ``https://host:port`` (``http://`` for a local proxy). *token* or
    *token_file* (re-read on each call); *client_cert* / *client_key* (paths); *ca_cert*
    (a path) or *ca_cert_data* (PEM text); *verify* False skips TLS verification (the
    kubeconfig's ``insecure-skip-tls-verify``). *pool*: an injected ``urllib3.PoolManager``.
    """

    def __init__(
        self,
        server: str,
        *,
        namespace: str = "default",
        token: str | None = None,
        token_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        ca_cert: str | None = None,
        ca_cert_data: str | None = None,
        verify: bool = True,
        pool: urllib3.PoolManager | None = None,
        timeout: float | urllib3.Timeout = urllib3.Timeout(connect=5.0, read=15.0),
    ) -> None:
        self.server = base_url(server, what="Kubernetes API server URL")
        self.namespace = check_name(namespace, "namespace")
        if token is not None and (not token or any(c in token for c in "\r\n")):
            raise InvalidArgument("KubernetesClient token must be a non-empty single line")
        if (client_cert is None) != (client_key is None):
            raise InvalidArgument("KubernetesClient needs client_cert and client_key together")
        self._token = token
        self.token_file = token_file
        self.client_cert = client_cert
        self.client_key = client_key
        self.ca_cert = ca_cert
        self._ca_cert_data = ca_cert_data
        self.verify = verify
        self.timeout, self.call_deadline = timeouts(timeout, "KubernetesClient")
        self._owns_pool = pool is None
        if pool is None:
            pool = urllib3.PoolManager(
                num_pools=2, maxsize=2, retries=False,
                cert_reqs="CERT_REQUIRED" if verify else "CERT_NONE",
                ca_certs=ca_cert, ca_cert_data=ca_cert_data, cert_file=client_cert, key_file=client_key,
            )
        self.pool = pool
        self._private_dir: str | None = None  # files we wrote from kubeconfig *-data fields

    def __repr__(self) -> str:
        return f"KubernetesClient({self.server!r}, namespace={self.namespace!r})"

    @property
    def master(self) -> str:
        """The ``--master`` spark-submit needs for this server."""
        return "k8s://" + self.server

    # -- where the credentials come from -------------------------------------------------------

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str] | None = None, *, context: str | None = None,
                        **options: Any) -> KubernetesClient:
        """From a kubeconfig file (default: ``$KUBECONFIG``'s first entry, else ``~/.kube/config``)."""
        if path is None:
            path = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0] or Path.home() / ".kube" / "config"
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidArgument(f"cannot read kubeconfig {str(source)!r}: {type(exc).__name__}") from None
        config = _parse_config(text, str(source))
        ctx_name = context or config.get("current-context")
        ctx = _named(config, "contexts", ctx_name, str(source)).get("context") or {}
        cluster = _named(config, "clusters", ctx.get("cluster"), str(source)).get("cluster") or {}
        user: dict[str, Any] = {}
        if ctx.get("user"):  # a context without a user: an unauthenticated (proxy) server
            user = _named(config, "users", ctx.get("user"), str(source)).get("user") or {}
        if "exec" in user or "auth-provider" in user:
            raise InvalidArgument(f"kubeconfig {str(source)!r} user {ctx.get('user')!r} uses an exec or auth-provider "
                                  "plugin, which this client does not run; give it a token or a client certificate")
        private = tempfile.mkdtemp(prefix="resumable-kube-")  # 0700: the *-data fields land here, 0600
        base = source.parent

        def path_or_data(key: str, name: str) -> str | None:
            if user.get(f"{key}-data") or cluster.get(f"{key}-data"):
                data = user.get(f"{key}-data") or cluster.get(f"{key}-data")
                try:
                    raw = base64.b64decode(str(data), validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidArgument(f"kubeconfig {str(source)!r}: {key}-data is not base64") from None
                target = Path(private) / name
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(raw)
                return str(target)
            value = user.get(key) or cluster.get(key)
            return str(base / str(value)) if value else None

        try:
            client = cls(
                str(cluster.get("server") or ""),
                namespace=str(options.pop("namespace", None) or ctx.get("namespace") or "default"),
                token=user.get("token"),
                token_file=str(base / user["tokenFile"]) if user.get("tokenFile") else None,
                client_cert=path_or_data("client-certificate", "client.crt"),
                client_key=path_or_data("client-key", "client.key"),
                ca_cert=path_or_data("certificate-authority", "ca.crt"),
                verify=not cluster.get("insecure-skip-tls-verify", False),
                **options,
            )
        except BaseException:
            shutil.rmtree(private, ignore_errors=True)
            raise
        client._private_dir = private
        weakref.finalize(client, shutil.rmtree, private, True)
        return client

    @classmethod
    def in_cluster(cls, *, directory: str = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] | None = None,
                   **options: Any) -> KubernetesClient:
        """From the pod's service account (``KUBERNETES_SERVICE_HOST`` and its mounted token)."""
        env = os.environ if environ is None else environ
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
        folder = Path(directory)
        if not host or not (folder / "token").is_file():
            raise InvalidArgument("not in a Kubernetes pod: no KUBERNETES_SERVICE_HOST or no service account token")
        namespace_file = folder / "namespace"
        namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
        host = f"[{host}]" if ":" in host else host
        return cls(f"https://{host}:{port}", namespace=options.pop("namespace", namespace),
                   token_file=str(folder / "token"),
                   ca_cert=str(folder / "ca.crt") if (folder / "ca.crt").is_file() else None, **options)

    def at(self, server: str) -> KubernetesClient:
        """These credentials at another address of the same API server: kubectl's ``--server``,
        spark-submit's ``k8s://`` master naming the cluster's IP where the kubeconfig names
        ``kubernetes.default.svc``. Itself when the address is the same.

        The new client keeps this one (and so the private files written from the kubeconfig's
        ``*-data`` fields) alive as long as it lives: a copy holding only their paths would lose
        its client certificate when this client is collected."""
        if base_url(server, what="Kubernetes API server URL") == self.server:
            return self
        other = KubernetesClient(
            server, namespace=self.namespace, token=None if self.token_file else self._token,
            token_file=self.token_file, client_cert=self.client_cert, client_key=self.client_key,
            ca_cert=self.ca_cert, ca_cert_data=self._ca_cert_data, verify=self.verify, timeout=self.timeout)
        weakref.finalize(other, _keep, self)
        return other

    def token(self) -> str | None:
        if self.token_file is not None:
            try:
                return Path(self.token_file).read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                raise TransientError(f"cannot read the Kubernetes token file: {type(exc).__name__}") from None
        return self._token

    def secrets(self) -> tuple[str, ...]:
        token = self._token or (self.token() if self.token_file else None)
        return (token,) if token else ()

    def listing_key(self, listing: str, namespace: str) -> str:
        """A batch key for one *listing* of *namespace*'s pods made with this client's credentials.

        Two clients share a listing only when either could make it: the same server and
        namespace, the same client certificate (its path: with no token, the certificate alone
        says who asks) and the same token (a per-process keyed hash). Compared in memory only.
        """
        return batch_key(listing, self.server, namespace, f"cert={self.client_cert or ''}", secrets=self.secrets())

    def submit_conf(self) -> tuple[dict[str, str], dict[str, str]]:
        """spark-submit's Kubernetes properties for these credentials, and the files they name.

        Credentials reach spark-submit through files (``{dir}`` is the launcher's private
        directory), never on its command line.
        """
        prefix = "spark.kubernetes.authenticate.submission."
        conf: dict[str, str] = {"spark.kubernetes.namespace": self.namespace}
        files: dict[str, str] = {}
        token = self.token()
        if token:
            files["k8s-token"] = token
            conf[prefix + "oauthTokenFile"] = "{dir}/k8s-token"
        if self.ca_cert:
            conf[prefix + "caCertFile"] = self.ca_cert
        elif self._ca_cert_data:
            files["k8s-ca.crt"] = self._ca_cert_data
            conf[prefix + "caCertFile"] = "{dir}/k8s-ca.crt"
        if self.client_cert and self.client_key:
            conf[prefix + "clientCertFile"] = self.client_cert
            conf[prefix + "clientKeyFile"] = self.client_key
        if not self.verify:
            conf["spark.kubernetes.trust.certificates"] = "true"
        return conf, files

    # -- the calls -----------------------------------------------------------------------------

    def get_pod(self, namespace: str, name: str, *, job_id: str | None = None) -> dict[str, Any] | None:
        """The pod, or None when the server answered 404."""
        path = f"/api/v1/namespaces/{check_name(namespace, 'namespace')}/pods/{check_name(name, 'pod name')}"
        answer = self._call("GET", path, None, job_id=job_id)
        return None if answer.status == 404 else self._object(answer, job_id)

    def list_pods(self, namespace: str, labels: Mapping[str, str | None]) -> list[dict[str, Any]]:
        """Pods carrying every one of *labels* (a value of None: the label with any value)."""
        for key, value in labels.items():
            if not _LABEL_RE.fullmatch(key) or (value and not _LABEL_RE.fullmatch(value)):
                raise InvalidArgument(f"Kubernetes label {key!r}={value!r} is malformed")
        selector = ",".join(k if v is None else f"{k}={v}" for k, v in labels.items())
        path = f"/api/v1/namespaces/{check_name(namespace, 'namespace')}/pods?" + urllib.parse.urlencode(
            {"labelSelector": selector})
        answer = self._call("GET", path, None)
        if answer.status == 404:
            raise ProtocolError(f"Kubernetes answered 404 listing pods in namespace {namespace!r}")
        items = self._object(answer, None).get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ProtocolError("Kubernetes pod list has no list of items")
        return items

    def create_pod(self, namespace: str, pod: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create *pod*: the object the server stored (with its uid), or None when the name is taken (409).

        A 400 or 422 (an invalid pod) proves nothing was created: SubmissionRejected. A call
        that may have reached the server and went unanswered is a TransientError: the pod
        may exist, the caller looks it up by name or label.
        """
        path = f"/api/v1/namespaces/{check_name(namespace, 'namespace')}/pods"
        answer = self._call("POST", path, json.dumps(pod).encode(), accept=(409, 400, 422))
        if answer.status == 409:
            return None
        if answer.status in (400, 422):
            raise SubmissionRejected(f"Kubernetes refused the pod (HTTP {answer.status}): "
                                     f"{self._message(answer, self.secrets())}")
        return self._object(answer, None)

    def read_pod_log(self, namespace: str, name: str, *, container: str | None = None, tail_lines: int = 20,
                     limit_bytes: int = 16384, job_id: str | None = None) -> str | None:
        """The last *tail_lines* of a container's log (at most *limit_bytes*), or None when the pod is gone."""
        query: dict[str, str | int] = {"tailLines": tail_lines, "limitBytes": limit_bytes}
        if container:
            query["container"] = check_name(container, "container name")
        path = (f"/api/v1/namespaces/{check_name(namespace, 'namespace')}/pods/{check_name(name, 'pod name')}/log?"
                + urllib.parse.urlencode(query))
        # A 400 is the server's "container ... is waiting to start": no log yet, an answer too.
        answer = self._call("GET", path, None, job_id=job_id, accept=(404, 400))
        if answer.status in (404, 400):
            return None
        return answer.body[:limit_bytes].decode("utf-8", "replace")

    def delete_pod(self, namespace: str, name: str, uid: str, *, job_id: str | None = None) -> str:
        """Delete the pod only if it is still the one with *uid*: "deleted", "gone" or "replaced"."""
        path = f"/api/v1/namespaces/{check_name(namespace, 'namespace')}/pods/{check_name(name, 'pod name')}"
        body = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}).encode()
        answer = self._call("DELETE", path, body, job_id=job_id)
        if answer.status == 404:
            return "gone"
        if answer.status == 409:
            return "replaced"  # the uid precondition failed: another pod holds the name now
        self._object(answer, job_id)
        return "deleted"

    def pod_proxy_get(self, namespace: str, name: str, port: int, path: str, *,
                      job_id: str | None = None) -> tuple[int, bytes]:
        """GET *path* of a pod's own HTTP server through the API server's pod proxy
        (``pods/<name>:<port>/proxy<path>``): (HTTP status, body). Read-only; for what a pod says
        of itself (a Spark driver's UI), so nothing here is decided. 404: no such pod or path."""
        if not path.startswith("/") or not 0 < port < 65536:
            raise InvalidArgument(f"Kubernetes pod proxy path {path[:80]!r} or port {port!r} is malformed")
        target = f"{check_name(name, 'pod name')}:{port}"
        answer = self._call("GET", f"/api/v1/namespaces/{check_name(namespace, 'namespace')}/pods/{target}/proxy{path}",
                            None, job_id=job_id, accept=(404, 503))
        return answer.status, answer.body

    def close(self) -> None:
        if self._owns_pool:
            self.pool.clear()
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: bytes | None, *, job_id: str | None = None,
              accept: tuple[int, ...] = (404, 409)) -> HttpAnswer:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        token = self.token()  # one read of a token file per call: secrets() would read it again
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = self.server + path
        secrets = tuple({t for t in (token, self._token) if t})
        try:
            answer = http_call(self.pool, method, url, body=body, headers=headers, timeout=self.timeout,
                               deadline=self.call_deadline, secrets=secrets, job_id=job_id)
        except NotSent as exc:  # a certificate refused is a configuration to fix, not a wait
            error = ProtocolError if exc.lasting else TransientError
            raise error(f"Kubernetes API unreachable: {exc}", job_id=job_id) from None
        where = f"{method} {shown_url(url)}"
        if answer.status == 429 or answer.status >= 500:
            raise TransientError(f"Kubernetes {where} answered HTTP {answer.status}: {self._message(answer, secrets)}",
                                 job_id=job_id)
        if answer.status in (401, 403):
            raise ProtocolError(f"Kubernetes {where} answered HTTP {answer.status} ({self._message(answer, secrets)}): "
                                "check the credentials and the RBAC rules for pods", job_id=job_id)
        if 300 <= answer.status < 400:
            raise ProtocolError(f"Kubernetes {where} redirected (HTTP {answer.status}); not followed, "
                                "configure the API server's own URL", job_id=job_id)
        if answer.status >= 400 and answer.status not in accept:
            raise ProtocolError(f"Kubernetes {where} answered HTTP {answer.status}: {self._message(answer, secrets)}",
                                job_id=job_id)
        return answer

    @staticmethod
    def _message(answer: HttpAnswer, secrets: tuple[str, ...]) -> str:
        data = answer.json()
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return " ".join(str(data["message"]).split())[:300]
        return answer.text(secrets)

    @staticmethod
    def _object(answer: HttpAnswer, job_id: str | None) -> dict[str, Any]:
        return json_object(answer.body, what=f"Kubernetes {shown_url(answer.url)}", status=answer.status,
                           content_type=answer.content_type, job_id=job_id)


def _keep(_owner: object) -> None:
    """A finalizer that does nothing: registering it holds a reference to *_owner*."""


def _parse_config(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        try:
            # Imported by name: only YAML kubeconfigs need PyYAML, and it ships no type stubs.
            yaml: Any = importlib.import_module("yaml")
        except ImportError:
            raise InvalidArgument(f"kubeconfig {where!r} is YAML: pip install pyyaml to read it") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            raise InvalidArgument(f"kubeconfig {where!r} is neither JSON nor valid YAML") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"kubeconfig {where!r} is not a mapping")
    return data


def _named(config: Mapping[str, Any], section: str, name: object, where: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise InvalidArgument(f"kubeconfig {where!r} has no {section[:-1]} named {name!r}")


__all__ = ["SERVICE_ACCOUNT_DIR", "KubernetesClient", "check_name"]
