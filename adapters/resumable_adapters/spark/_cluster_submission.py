"""What to run with ``spark-submit --deploy-mode cluster`` on YARN or Kubernetes.

No I/O: ``SparkClusterSubmission`` turns into spark-submit's arguments and a set of Spark
properties (the launcher writes them to a private properties file, so that no
secret-looking value ever sits on a command line ``ps`` shows), knows which values look
secret, and computes the fingerprint the core stores to notice a changed specification.
``reference_slug`` (resumable_adapters/_slug.py, shared with the pod job) makes a submission
reference a name a cluster accepts (a YARN tag, a Kubernetes label value and pod-name suffix).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from resumable_core import InvalidArgument, JsonValue

from .._slug import reference_slug
from ._submission import REDACTED, SECRET_PATTERN, looks_secret, mask_values

_CONF_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,250}")


def _frozen(mapping: Mapping[str, str] | None, what: str) -> Mapping[str, str]:
    items = dict(mapping or {})
    for key, value in items.items():
        if not isinstance(key, str) or not isinstance(value, str) or not _CONF_KEY_RE.fullmatch(key):
            raise InvalidArgument(f"{what}: keys must be plain property names and values strings (key {key!r})")
    return MappingProxyType(items)


def _strings(values: object, what: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, (tuple, list)) or not all(isinstance(v, str) for v in values):
        raise InvalidArgument(f"SparkClusterSubmission.{what} must be a sequence of strings")
    return tuple(values)


@dataclass(frozen=True, slots=True)
class SparkClusterSubmission:
    """One Spark application to run in cluster mode through ``spark-submit``.

    *application*: the jar or ``.py`` the cluster fetches (``local:///`` inside a
    Kubernetes image, ``hdfs:``, ``s3a:``, ``https:``...); *main_class* for a jar. *conf*
    holds every other Spark property (``spark.yarn.queue``, ``spark.executor.instances``,
    ``spark.kubernetes.container.image``...). *proxy_user* is spark-submit's
    ``--proxy-user``.
    """

    application: str
    main_class: str | None = None
    app_args: tuple[str, ...] = ()
    conf: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    jars: tuple[str, ...] = ()
    py_files: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    archives: tuple[str, ...] = ()
    proxy_user: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.application, str) or not self.application.strip():
            raise InvalidArgument("SparkClusterSubmission needs an application (a jar or .py URL)")
        for what in ("app_args", "jars", "py_files", "files", "archives"):
            object.__setattr__(self, what, _strings(getattr(self, what), what))
        for what in ("jars", "py_files", "files", "archives"):
            if any("," in v for v in getattr(self, what)):
                raise InvalidArgument(f"SparkClusterSubmission.{what}: one URL per entry (spark-submit joins them)")
        object.__setattr__(self, "conf", _frozen(self.conf, "SparkClusterSubmission.conf"))

    @property
    def app_name(self) -> str:
        return self.name or self.main_class or self.application.rstrip("/").rsplit("/", 1)[-1]

    def options(self) -> list[str]:
        """spark-submit's options for this application (everything but master, deploy mode, conf)."""
        argv = ["--name", self.app_name]
        if self.main_class:
            argv += ["--class", self.main_class]
        for flag, values in (("--jars", self.jars), ("--py-files", self.py_files), ("--files", self.files),
                             ("--archives", self.archives)):
            if values:
                argv += [flag, ",".join(values)]
        if self.proxy_user:
            argv += ["--proxy-user", self.proxy_user]
        return argv

    def app_tail(self) -> list[str]:
        """The application and its arguments: the end of the command line."""
        return [self.application, *self.app_args]

    def secret_values(self) -> frozenset[str]:
        """Values that look secret, to scrub from anything shown (non-trivial ones only)."""
        found = {v for k, v in self.conf.items() if looks_secret(k, v) and len(v) >= 4}
        found.update(a for a in self.app_args if SECRET_PATTERN.search(a) and len(a) >= 4)
        return frozenset(found)

    def scrub(self, text: str) -> str:
        return mask_values(text, self.secret_values())

    def canonical(self) -> dict[str, JsonValue]:
        """The description as sorted JSON, secret-looking values replaced (their keys stay)."""
        return {
            "application": self.application,
            "main_class": self.main_class,
            "app_args": [(REDACTED if SECRET_PATTERN.search(a) else a) for a in self.app_args],
            "conf": {k: (REDACTED if looks_secret(k, v) else v) for k, v in sorted(self.conf.items())},
            "name": self.app_name,
            "jars": list(self.jars),
            "py_files": list(self.py_files),
            "files": list(self.files),
            "archives": list(self.archives),
            "proxy_user": self.proxy_user,
        }

    def fingerprint(self, *context: str) -> str:
        """sha256 of the canonical form and *context* (the cluster manager and where it runs)."""
        text = json.dumps([self.canonical(), list(context)], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def __repr__(self) -> str:
        # The default repr would print secret-looking conf values.
        return (f"SparkClusterSubmission(application={self.application!r}, main_class={self.main_class!r}, "
                f"name={self.app_name!r}, fingerprint={self.fingerprint()!r})")


__all__ = ["SparkClusterSubmission", "reference_slug"]
