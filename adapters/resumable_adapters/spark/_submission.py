"""What to submit to a Spark standalone cluster: a frozen description and its request body.

No I/O here: ``SparkSubmission`` builds the CreateSubmissionRequest, knows which of its
values look secret (to keep them out of fingerprints, reprs and error messages) and
computes the fingerprint the core stores to notice a changed specification.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import urllib.parse
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from resumable_core import InvalidArgument, JsonValue

# Spark's default spark.redaction.regex, widened: a property whose key or value matches is
# treated as a secret by this adapter (never fingerprinted, logged or echoed).
SECRET_PATTERN = re.compile(
    r"secret|password|passwd|token|access[._-]?key|credential|private[._-]?key|api[._-]?key",
    re.IGNORECASE,
)
# What Spark itself redacts in the worker's launch line: the reference property must not match.
SPARK_REDACTION_PATTERN = re.compile(r"secret|password|token|access.key", re.IGNORECASE)
DEFAULT_REFERENCE_PROPERTY = "spark.resumable.ref"
# References and property keys land in a JVM command line and a log we grep: keep them plain.
_REFERENCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
_PROPERTY_KEY_RE = re.compile(r"spark\.[A-Za-z0-9._-]+")
REDACTED = "<secret>"  # what stands for a secret value in a fingerprint, a message or a launch's output
_OPTION_RE = re.compile(r"-{1,2}([A-Za-z0-9_.-]+)(?:[=:](.*))?", re.DOTALL)

DRIVER_STATES_ACTIVE = frozenset({"SUBMITTED", "RUNNING", "RELAUNCHING"})
DRIVER_STATES_SUCCEEDED = frozenset({"FINISHED"})
DRIVER_STATES_FAILED = frozenset({"FAILED", "KILLED", "ERROR"})
DRIVER_STATE_UNKNOWN = "UNKNOWN"
DRIVER_STATES = DRIVER_STATES_ACTIVE | DRIVER_STATES_SUCCEEDED | DRIVER_STATES_FAILED | {DRIVER_STATE_UNKNOWN}


class SparkSuperviseWarning(UserWarning):
    """``supervise=True``: the worker may re-run a failed driver, possibly under a new id."""


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """*text* with each of *secrets* replaced by ``<secret>``, the longest first (so one that
    contains another is masked whole)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def looks_secret(key: str, value: str) -> bool:
    return bool(SECRET_PATTERN.search(key) or SECRET_PATTERN.search(value))


def _secret_args(args: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for index, arg in enumerate(args):
        option = _OPTION_RE.fullmatch(arg)
        if option is not None and SECRET_PATTERN.search(option.group(1)):
            if option.group(2) is not None:
                found.add(option.group(2))
            elif index + 1 < len(args):
                found.add(args[index + 1])
        with contextlib.suppress(ValueError):
            password = urllib.parse.urlsplit(arg).password if "://" in arg else None
            if password:
                found.add(password)
    return found


def check_reference(reference: str, property_key: str = DEFAULT_REFERENCE_PROPERTY) -> None:
    """Refuse a reference Spark would redact or that could not be matched exactly in a log."""
    if not _REFERENCE_RE.fullmatch(reference) or SPARK_REDACTION_PATTERN.search(reference):
        raise InvalidArgument(
            f"submission reference {reference!r} must be 1-200 of [A-Za-z0-9._:-] and must not "
            "match Spark's redaction pattern (secret|password|token|access.key)"
        )
    if not _PROPERTY_KEY_RE.fullmatch(property_key) or SPARK_REDACTION_PATTERN.search(property_key):
        raise InvalidArgument(
            f"reference property {property_key!r} must be a plain spark.* key that Spark does not redact"
        )


def _frozen(mapping: Mapping[str, str] | None, what: str) -> Mapping[str, str]:
    items = dict(mapping or {})
    for key, value in items.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidArgument(f"{what} keys and values must be strings (got {key!r})")
    return MappingProxyType(items)


@dataclass(frozen=True, slots=True)
class SparkSubmission:
    """One driver to run in cluster mode.

    *app_resource* is the jar (or .py) URL the worker downloads (``file:``, ``hdfs:``,
    ``http:`` ...); *properties* are extra Spark properties and *environment* the driver's
    environment variables. Keep secrets out of both where you can: Spark replaces
    ``{{VAR}}`` in their values with the master's environment variable ``VAR``.
    *supervise* stays off by default: a supervised driver that fails is relaunched by the
    worker, and after a master failover may come back under a NEW driver id that this
    adapter's record does not know.
    """

    app_resource: str
    main_class: str
    app_args: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    driver_memory: str = "1g"
    driver_cores: int = 1
    supervise: bool = False
    master: str | None = None
    client_spark_version: str = "4.0.0"

    def __post_init__(self) -> None:
        if not self.app_resource or not self.main_class:
            raise InvalidArgument("SparkSubmission needs app_resource and main_class")
        args: object = self.app_args  # callers may pass a list; a bare str would split into characters
        if not isinstance(args, (tuple, list)) or not all(isinstance(a, str) for a in args):
            raise InvalidArgument("SparkSubmission.app_args must be a sequence of strings")
        if not re.fullmatch(r"[0-9]+[kmgtKMGT]?", self.driver_memory):
            raise InvalidArgument(f"driver_memory {self.driver_memory!r} is not a JVM size like 512m")
        if type(self.driver_cores) is not int or self.driver_cores < 1:
            raise InvalidArgument("driver_cores must be a positive int")
        object.__setattr__(self, "app_args", tuple(self.app_args))
        object.__setattr__(self, "properties", _frozen(self.properties, "properties"))
        object.__setattr__(self, "environment", _frozen(self.environment, "environment"))
        if self.supervise:
            warnings.warn(
                f"supervise=True for {self.main_class}: the worker relaunches a failed driver and, "
                "after a master failover, may re-run it under a new driver id; the recorded id "
                "then reports an end while the relaunched copy keeps running",
                SparkSuperviseWarning,
                stacklevel=3,
            )

    @property
    def app_name(self) -> str:
        return self.name or self.main_class

    def spark_properties(self, reference_property: str | None = None, reference: str | None = None) -> dict[str, str]:
        """The sparkProperties of the request: ours, then the caller's (theirs win), then the reference."""
        props = {
            "spark.app.name": self.app_name,
            "spark.submit.deployMode": "cluster",
            "spark.driver.supervise": "true" if self.supervise else "false",
            "spark.driver.memory": self.driver_memory,
            "spark.driver.cores": str(self.driver_cores),
            "spark.jars": self.app_resource,
        }
        if self.master is not None:
            props["spark.master"] = self.master
        props.update(self.properties)
        if reference_property is not None and reference is not None:
            check_reference(reference, reference_property)
            props[reference_property] = reference
        return props

    def create_request(self, reference_property: str | None = None, reference: str | None = None) -> dict[str, JsonValue]:
        """The JSON body of ``POST /v1/submissions/create``."""
        return {
            "action": "CreateSubmissionRequest",
            "appResource": self.app_resource,
            "mainClass": self.main_class,
            "appArgs": list(self.app_args),
            "clientSparkVersion": self.client_spark_version,
            "environmentVariables": dict(self.environment),
            "sparkProperties": dict(self.spark_properties(reference_property, reference)),
        }

    def secret_values(self) -> frozenset[str]:
        """Values that look secret, to scrub from anything shown (non-trivial ones only).

        Application arguments count too: the value of ``--password=x``, the argument after
        ``--password``, and the password of a URL argument. A server that echoes the
        request (a JSON list ``["--password", "x"]``) shows them in forms no pattern sees.
        """
        pairs = list(self.properties.items()) + list(self.environment.items())
        found = {v for k, v in pairs if looks_secret(k, v)}
        found |= _secret_args(self.app_args)
        return frozenset(v for v in found if len(v) >= 4)

    def canonical(self) -> dict[str, JsonValue]:
        """The description as sorted JSON, secret-looking values replaced by a marker.

        The keys stay, so adding or removing a secret changes the fingerprint; rotating
        its value does not (and the value is never hashed, so never guessable from it).
        """

        def redacted(mapping: Mapping[str, str]) -> dict[str, JsonValue]:
            return {k: (REDACTED if looks_secret(k, v) else v) for k, v in sorted(mapping.items())}

        return {
            "app_resource": self.app_resource,
            "main_class": self.main_class,
            "app_args": [(REDACTED if SECRET_PATTERN.search(a) else a) for a in self.app_args],
            "properties": redacted(self.spark_properties()),
            "environment": redacted(self.environment),
        }

    def fingerprint(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def __repr__(self) -> str:
        # The default repr would print secret-looking property and environment values.
        return (
            f"SparkSubmission(app_resource={self.app_resource!r}, main_class={self.main_class!r}, "
            f"name={self.app_name!r}, fingerprint={self.fingerprint()!r})"
        )

    def scrub(self, text: str) -> str:
        """*text* with every secret-looking value of this submission replaced."""
        return mask_values(text, self.secret_values())
