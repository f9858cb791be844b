"""The state record: one versioned JSON document per logical job (per key)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

from ._errors import RecordCorrupt, RecordFromNewerVersion
from ._progress import Progress
from ._types import JsonValue

SCHEMA = "resumable-core/record"
SCHEMA_VERSION = 2
# A record is written with the lowest version that holds what it says: version 2 adds only
# ``accepted``, so a record without it stays version 1 and an older library still reads it,
# while one with it is refused there (RecordFromNewerVersion) instead of being misread as an
# intent that may be resubmitted blind.
_ACCEPTED_SINCE = 2
HISTORY_LIMIT = 50  # bounded: a flapping job must not grow the record without end


class Phase(str, enum.Enum):
    INTENT = "intent"          # reference persisted, submit may or may not have happened
    SUBMITTED = "submitted"    # external job id persisted
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)


class Outcome(str, enum.Enum):
    """What became of one submission, as the history shows it."""

    PENDING = "pending"        # intent written, job id not (yet) known
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"              # the external system forgot it before we saw an end
    SUPERSEDED = "superseded"  # a new spec or a fresh run replaced it while it ran


@dataclass(frozen=True, slots=True)
class Submission:
    reference: str
    job_id: str | None
    outcome: Outcome
    intent_at: float
    submitted_at: float | None = None
    ended_at: float | None = None
    status: str | None = None
    # SupportsResumeState: the state this submission started from, and the newest it reported.
    started_from: str | None = None
    resume_state: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "reference": self.reference,
            "job_id": self.job_id,
            "outcome": self.outcome.value,
            "intent_at": self.intent_at,
            "submitted_at": self.submitted_at,
            "ended_at": self.ended_at,
            "status": self.status,
            # Only when set: an entry without them stays what it always was.
            **({} if self.started_from is None else {"started_from": self.started_from}),
            **({} if self.resume_state is None else {"resume_state": self.resume_state}),
        }


@dataclass(frozen=True, slots=True)
class JobRecord:
    """What is persisted under one key. Immutable: every change is a new record."""

    key: str
    phase: Phase
    reference: str
    revision: int
    updated_at: float
    job_id: str | None = None
    fingerprint: str | None = None
    generation: str | None = None
    owner: str | None = None
    lease_until: float | None = None
    status: str | None = None
    has_result: bool = False
    result: JsonValue = None
    history: tuple[Submission, ...] = field(default_factory=tuple)
    # INTENT only: submit_job returned for this reference, but no usable job id. Something was
    # accepted, so the intent is never resubmitted blind: found by reference, or stopped.
    accepted: bool = False
    # The current submission's last reported progress (kept after it ends); for people only.
    progress: Progress | None = None
    progress_at: float | None = None
    # SupportsResumeState: where the key's current submission got to (or started from); the
    # next submission after a failure or a lost job starts there (docs: resumable_core/_resume.py).
    resume_state: str | None = None

    @property
    def submissions(self) -> int:
        return sum(1 for s in self.history if s.job_id is not None)

    def evolve(self, now: float, **changes: Any) -> JobRecord:
        """A successor record: revision bumped, time stamped."""
        return replace(self, revision=self.revision + 1, updated_at=now, **changes)

    def with_job_id(self, now: float, job_id: str) -> JobRecord:
        """The current reference's job is known: SUBMITTED, its id persisted, lease released."""
        return self.evolve(
            now,
            phase=Phase.SUBMITTED,
            job_id=job_id,
            lease_until=None,
            accepted=False,
            history=mark_history(self, self.reference, job_id=job_id, outcome=Outcome.ACTIVE, submitted_at=now),
        )

    def ended(
        self,
        now: float,
        phase: Phase,
        outcome: Outcome,
        *,
        status: str | None,
        job_id: str | None = None,
        **changes: Any,
    ) -> JobRecord:
        """The current submission ended: terminal *phase*, lease released, its history entry closed."""
        named = {} if job_id is None else {"job_id": job_id}
        return self.evolve(
            now,
            phase=phase,
            status=status,
            owner=None,
            lease_until=None,
            history=mark_history(self, self.reference, outcome=outcome, ended_at=now, status=status, **named),
            **named,
            **changes,
        )

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "schema": SCHEMA,
            "version": _ACCEPTED_SINCE if self.accepted else 1,
            "key": self.key,
            "phase": self.phase.value,
            "reference": self.reference,
            "revision": self.revision,
            "updated_at": self.updated_at,
            "job_id": self.job_id,
            "fingerprint": self.fingerprint,
            "generation": self.generation,
            "owner": self.owner,
            "lease_until": self.lease_until,
            "status": self.status,
            "has_result": self.has_result,
            "result": self.result,
            "history": [s.to_json() for s in self.history[-HISTORY_LIMIT:]],
            **({"accepted": True} if self.accepted else {}),
            # Only when there is some: a record without progress stays what it always was.
            **({} if self.progress is None else {"progress": self.progress.to_json(), "progress_at": self.progress_at}),
            **({} if self.resume_state is None else {"resume_state": self.resume_state}),
        }

    @classmethod
    def from_json(cls, key: str, value: JsonValue) -> JobRecord:
        """Parse a stored value; anything that is not our record is an error naming the key."""
        if not isinstance(value, dict) or value.get("schema") != SCHEMA:
            raise RecordCorrupt(
                f"the value stored under key {key!r} is not a resumable-core record; "
                "refusing to overwrite it (delete the key to start over)",
                key=key,
            )
        version = value.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise RecordCorrupt(f"record under key {key!r} has no valid version", key=key)
        if version > SCHEMA_VERSION:
            raise RecordFromNewerVersion(
                f"record under key {key!r} has schema version {version}, newer than "
                f"{SCHEMA_VERSION} which this library reads; upgrade resumable-core",
                key=key,
            )
        try:
            history = tuple(
                Submission(
                    reference=_str(h, "reference"),
                    job_id=_opt_str(h, "job_id"),
                    outcome=Outcome(_str(h, "outcome")),
                    intent_at=_num(h, "intent_at"),
                    submitted_at=_opt_num(h, "submitted_at"),
                    ended_at=_opt_num(h, "ended_at"),
                    status=_opt_str(h, "status"),
                    started_from=_opt_str(h, "started_from"),
                    resume_state=_opt_str(h, "resume_state"),
                )
                for h in _list(value, "history")
            )
            accepted = value.get("accepted", False)
            if not isinstance(accepted, bool):
                raise TypeError("accepted")
            has_result = value.get("has_result")
            if not isinstance(has_result, bool):
                raise TypeError("has_result")
            revision = value.get("revision")
            if not isinstance(revision, int) or isinstance(revision, bool):
                raise TypeError("revision")
            stored_key = _str(value, "key")
            if stored_key != key:
                raise ValueError(f"record names key {stored_key!r}")
            return cls(
                key=key,
                phase=Phase(_str(value, "phase")),
                reference=_str(value, "reference"),
                revision=revision,
                updated_at=_num(value, "updated_at"),
                job_id=_opt_str(value, "job_id"),
                fingerprint=_opt_str(value, "fingerprint"),
                generation=_opt_str(value, "generation"),
                owner=_opt_str(value, "owner"),
                lease_until=_opt_num(value, "lease_until"),
                status=_opt_str(value, "status"),
                has_result=has_result,
                result=value.get("result"),
                history=history,
                accepted=accepted,
                # Unreadable progress (a newer form) is dropped, never a corrupt record.
                progress=(progress := Progress.from_json(value.get("progress"))),
                progress_at=_opt_num(value, "progress_at") if progress is not None else None,
                resume_state=_opt_str(value, "resume_state"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordCorrupt(
                f"record under key {key!r} is malformed ({exc}); refusing to overwrite it",
                key=key,
            ) from exc


def new_intent(
    key: str,
    reference: str,
    now: float,
    *,
    previous: JobRecord | None,
    fingerprint: str | None,
    generation: str | None,
    owner: str,
    lease_until: float,
    started_from: str | None = None,
) -> JobRecord:
    """The record written before submitting, keeping the previous submissions' history.

    *started_from*: the state the submission starts from (SupportsResumeState), which is
    also the key's resume state until the new job reports a newer one.
    """
    history = previous.history if previous is not None else ()
    entry = Submission(reference=reference, job_id=None, outcome=Outcome.PENDING, intent_at=now,
                       started_from=started_from)
    return JobRecord(
        key=key,
        phase=Phase.INTENT,
        reference=reference,
        revision=(previous.revision + 1) if previous is not None else 1,
        updated_at=now,
        fingerprint=fingerprint,
        generation=generation,
        owner=owner,
        lease_until=lease_until,
        history=(history + (entry,))[-HISTORY_LIMIT:],
        resume_state=started_from,
    )


def mark_history(record: JobRecord, reference: str, **changes: Any) -> tuple[Submission, ...]:
    """History with the entry for *reference* changed (the latest one if several)."""
    history = list(record.history)
    for index in range(len(history) - 1, -1, -1):
        if history[index].reference == reference:
            history[index] = replace(history[index], **changes)
            break
    return tuple(history)


def _str(obj: Any, name: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _opt_str(obj: Any, name: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _num(obj: Any, name: str) -> float:
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} is not a number")
    return float(value)


def _opt_num(obj: Any, name: str) -> float | None:
    if obj.get(name) is None:
        return None
    return _num(obj, name)


def _list(obj: Any, name: str) -> list[Any]:
    value = obj[name]
    if not isinstance(value, list):
        raise TypeError(f"{name} is not a list")
    return value
