"""What to run on a Flink session cluster, and what its REST API says, as frozen values (no I/O).

``FlinkSubmission`` is the job's specification: the jar (a local file, uploaded once per
content), its entry class, arguments, parallelism and configuration. It builds the body of
``POST /jars/:jarid/run`` and the fingerprint the core keeps to notice a changed spec.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from resumable_core import InvalidArgument, JsonValue, ProtocolError
from resumable_core.redaction import redact

# flink-core JobStatus. SUSPENDED is only locally terminal (the JobManager lost leadership
# and another one recovers the job from HA storage): the job has not ended for the
# cluster, so it is followed like an active one, never resubmitted on its strength.
STATES_ACTIVE = frozenset({
    "INITIALIZING", "CREATED", "RUNNING", "FAILING", "RESTARTING", "CANCELLING", "RECONCILING", "SUSPENDED",
})
STATES_SUCCEEDED = frozenset({"FINISHED"})
# STOPPED is ours, not Flink's: a job FINISHED by a stop-with-savepoint (its last savepoint is a
# SYNC_SAVEPOINT) did not finish its work. It is not a success: the next run resumes from that savepoint.
STOPPED = "STOPPED"
STATES_FAILED = frozenset({"FAILED", "CANCELED", STOPPED})
STATES = STATES_ACTIVE | STATES_SUCCEEDED | (STATES_FAILED - {STOPPED})  # what Flink itself reports

RESTORE_MODES = ("CLAIM", "NO_CLAIM", "LEGACY")
JOB_ID_RE = re.compile(r"[0-9a-f]{32}")
_SECRET_KEY = re.compile(r"secret|password|passwd|token|access[._-]?key|credential|private[._-]?key|api[._-]?key",
                         re.IGNORECASE)
REDACTED = "<secret>"


def job_id_for(reference: str) -> str:
    """The Flink job id a submission reference stands for: the reference itself when it is
    32 hex digits (the core's references are), else 32 hex digits of its SHA-256."""
    lowered = reference.lower()
    if JOB_ID_RE.fullmatch(lowered):
        return lowered
    return hashlib.sha256(reference.encode()).hexdigest()[:32]


def check_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
        raise InvalidArgument(f"not a Flink job id (32 lowercase hex digits): {str(job_id)[:80]!r}")
    return job_id


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (a fat jar is hundreds of MB)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise InvalidArgument(f"cannot read the Flink jar {str(path)!r}: {exc.strerror or exc}") from None
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class FlinkSubmission:
    """One Flink job: a local *jar*, its *entry_class*, *args*, *parallelism* and *configuration*.

    *configuration* goes into the run request's ``flinkConfiguration`` (Flink >= 1.17
    applies it to the job: checkpointing, restart strategy...). Values under a key that looks
    secret never enter the fingerprint, a repr or a message.
    """

    jar: Path
    entry_class: str | None = None
    args: tuple[str, ...] = ()
    parallelism: int | None = None
    configuration: Mapping[str, str] = field(default_factory=dict)
    allow_non_restored_state: bool = False

    def __init__(
        self,
        jar: str | Path,
        entry_class: str | None = None,
        args: Sequence[str] = (),
        parallelism: int | None = None,
        configuration: Mapping[str, str] | None = None,
        allow_non_restored_state: bool = False,
    ) -> None:
        if isinstance(args, str) or not all(isinstance(a, str) for a in args):
            raise InvalidArgument("FlinkSubmission args must be a sequence of strings")
        if parallelism is not None and (isinstance(parallelism, bool) or not isinstance(parallelism, int)
                                        or parallelism < 1):
            raise InvalidArgument(f"FlinkSubmission parallelism must be a positive integer, got {parallelism!r}")
        conf = dict(configuration or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in conf.items()):
            raise InvalidArgument("FlinkSubmission configuration must map strings to strings")
        if entry_class is not None and not re.fullmatch(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*", entry_class):
            raise InvalidArgument(f"FlinkSubmission entry_class is not a Java class name: {entry_class[:80]!r}")
        object.__setattr__(self, "jar", Path(jar))
        object.__setattr__(self, "entry_class", entry_class)
        object.__setattr__(self, "args", tuple(args))
        object.__setattr__(self, "parallelism", parallelism)
        object.__setattr__(self, "configuration", MappingProxyType(conf))
        object.__setattr__(self, "allow_non_restored_state", bool(allow_non_restored_state))

    def __repr__(self) -> str:
        return (f"FlinkSubmission(jar={str(self.jar)!r}, entry_class={self.entry_class!r}, "
                f"args={self.shown_args()!r}, parallelism={self.parallelism!r}, "
                f"configuration={self.shown_configuration()!r})")

    def secrets(self) -> tuple[str, ...]:
        """Values to keep out of every message: configuration values under a secret-looking key."""
        return tuple(v for k, v in self.configuration.items() if v and _SECRET_KEY.search(k))

    def shown_configuration(self) -> dict[str, str]:
        return {k: (REDACTED if _SECRET_KEY.search(k) else v) for k, v in sorted(self.configuration.items())}

    def shown_args(self) -> tuple[str, ...]:
        return tuple(redact(a, self.secrets()) for a in self.args)

    def run_request(self, job_id: str, *, savepoint_path: str | None, restore_mode: str) -> dict[str, JsonValue]:
        """The body of ``POST /jars/:jarid/run``."""
        body: dict[str, JsonValue] = {"jobId": job_id, "programArgsList": list(self.args)}
        if self.entry_class is not None:
            body["entryClass"] = self.entry_class
        if self.parallelism is not None:
            body["parallelism"] = self.parallelism
        if self.configuration:
            body["flinkConfiguration"] = dict(self.configuration)
        if savepoint_path is not None:
            body["savepointPath"] = savepoint_path
            body["claimMode"] = restore_mode
            body["allowNonRestoredState"] = self.allow_non_restored_state
        return body

    def fingerprint(self, jar_digest: str) -> str:
        """SHA-256 of what makes the job: jar content, entry class, args, parallelism, configuration.

        Secret values are left out (a rotated password is not a new job); where to restore
        from is not part of it (that is the run's state, not its spec).
        """
        spec: dict[str, Any] = {
            "jar_sha256": jar_digest,
            "entry_class": self.entry_class,
            "args": list(self.shown_args()),
            "parallelism": self.parallelism,
            "configuration": self.shown_configuration(),
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class JobDetails:
    """``GET /jobs/:jobid``: the fields this adapter reads."""

    job_id: str
    name: str | None
    state: str
    start_time: int | None  # epoch ms, the cluster's clock
    end_time: int | None
    duration: int | None
    now: int | None = None  # the JobManager's clock when it answered (epoch ms)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One checkpoint or savepoint from ``GET /jobs/:jobid/checkpoints``."""

    checkpoint_id: int
    external_path: str | None
    is_savepoint: bool
    checkpoint_type: str | None   # CHECKPOINT, SAVEPOINT, SYNC_SAVEPOINT (a stop)
    discarded: bool


@dataclass(frozen=True, slots=True)
class CheckpointSummary:
    """``latest`` of ``GET /jobs/:jobid/checkpoints``: completed, savepoint, restored."""

    completed: Checkpoint | None
    savepoint: Checkpoint | None
    restored_path: str | None
    completed_count: int | None = None  # ``counts.completed``: checkpoints this job completed

    def resume_path(self) -> str | None:
        """Where a new run of this job could start from: the newest retained checkpoint or savepoint."""
        usable = [c for c in (self.completed, self.savepoint)
                  if c is not None and c.external_path and not c.discarded]
        if not usable:
            return None
        return max(usable, key=lambda c: c.checkpoint_id).external_path

    @property
    def stopped_with_savepoint(self) -> bool:
        return self.savepoint is not None and self.savepoint.checkpoint_type == "SYNC_SAVEPOINT"


@dataclass(frozen=True, slots=True)
class SavepointOperation:
    """``GET /jobs/:jobid/savepoints/:triggerid``: IN_PROGRESS or COMPLETED, with a location or a cause."""

    status: str
    location: str | None
    failure: str | None


def parse_job(job_id: str, data: Any) -> JobDetails:
    if not isinstance(data, dict) or not isinstance(data.get("state"), str):
        raise ProtocolError(f"Flink answered job details without a state for {job_id}", job_id=job_id)
    state = data["state"]
    if state not in STATES:
        raise ProtocolError(f"Flink job {job_id} is in an unknown state", job_id=job_id, status=state[:40])
    return JobDetails(job_id=job_id, name=_opt(data.get("name"), str), state=state,
                      start_time=_ms(data.get("start-time")), end_time=_ms(data.get("end-time")),
                      duration=_ms(data.get("duration")), now=_ms(data.get("now")))


def parse_checkpoints(job_id: str, data: Any) -> CheckpointSummary:
    latest = data.get("latest") if isinstance(data, dict) else None
    if not isinstance(latest, dict):
        raise ProtocolError(f"Flink answered checkpoint statistics without 'latest' for {job_id}", job_id=job_id)
    restored = latest.get("restored")
    counts = data.get("counts")
    return CheckpointSummary(
        completed_count=_ms(counts.get("completed")) if isinstance(counts, dict) else None,
        completed=_checkpoint(latest.get("completed")),
        savepoint=_checkpoint(latest.get("savepoint")),
        restored_path=_opt(restored.get("external_path"), str) if isinstance(restored, dict) else None,
    )


def _checkpoint(data: Any) -> Checkpoint | None:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return None
    return Checkpoint(checkpoint_id=data["id"], external_path=_opt(data.get("external_path"), str),
                      is_savepoint=data.get("is_savepoint") is True,
                      checkpoint_type=_opt(data.get("checkpoint_type"), str),
                      discarded=data.get("discarded") is True)


def _opt(value: Any, kind: type[Any]) -> Any:
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _ms(value: Any) -> int | None:
    """Flink writes -1 for "not yet"."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


__all__ = [
    "JOB_ID_RE",
    "RESTORE_MODES",
    "STATES",
    "STATES_ACTIVE",
    "STATES_FAILED",
    "STATES_SUCCEEDED",
    "STOPPED",
    "Checkpoint",
    "CheckpointSummary",
    "FlinkSubmission",
    "JobDetails",
    "SavepointOperation",
    "check_job_id",
    "file_digest",
    "job_id_for",
    "parse_checkpoints",
    "parse_job",
]
