"""What run_resumable and cancel_resumable share: keys, references, store I/O, events, logs."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Callable

from ._decision import Policy
from ._errors import InvalidArgument
from ._events import Event, EventListener
from ._polling import Poller, PollPolicy
from ._protocols import CompareAndSetStore, StateStore, SupportsCancel
from ._record import JobRecord
from ._types import JsonValue

logger = logging.getLogger("resumable_core")

_MAX_STEPS = 100  # submissions/adoptions tried per run: only a store that keeps changing under us gets near


def new_reference() -> str:
    """A fresh submission reference: 32 hex digits, safe in URLs, file names and Spark properties."""
    return uuid.uuid4().hex


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgument(f"key must be a non-empty string, got {key!r}")
    if len(key) > 512 or any(ord(c) < 32 for c in key):
        raise InvalidArgument(f"key must be at most 512 printable characters, got {key!r}")
    return key


def load_record(store: StateStore, key: str) -> JobRecord | None:
    """The record stored under *key*, or None; RecordCorrupt when it is not ours."""
    raw = store.get(check_key(key))
    return None if raw is None else JobRecord.from_json(key, raw)


def forget(store: StateStore, key: str) -> None:
    """Delete the record: the next run submits afresh. The job itself is not touched."""
    store.delete(check_key(key))


class Session:
    """State shared by run_resumable and cancel_resumable for one call: store I/O, events, logs."""

    def __init__(
        self,
        job: Any,
        store: StateStore,
        key: str,
        *,
        policy: Policy,
        poll: PollPolicy,
        listener: EventListener | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        rand: Callable[[], float],
    ) -> None:
        self.job = job
        self.store = store
        self.key = check_key(key)
        self.policy = policy
        self.poll_policy = poll
        self.listener = listener
        self.clock = clock
        self.sleep = sleep
        self.rand = rand
        self.owner = uuid.uuid4().hex
        self.raw: JsonValue = None
        self.record: JobRecord | None = None
        self.poller = Poller(poll, clock=clock, sleep=sleep, rand=rand)

    # -- store ---------------------------------------------------------------------------

    def load(self) -> JobRecord | None:
        raw = self.store.get(self.key)
        record = None if raw is None else JobRecord.from_json(self.key, raw)
        self.raw, self.record = raw, record
        return record

    def write(self, new: JobRecord) -> bool:
        """Replace the record we last read; False when somebody else changed it first."""
        value = new.to_json()
        if isinstance(self.store, CompareAndSetStore):
            ok = self.store.compare_and_set(self.key, self.raw, value)
        else:
            # Not atomic: two writers can still interleave between get and set. It
            # narrows the window; the README says what remains (no CAS, no guarantee).
            ok = self.store.get(self.key) == self.raw
            if ok:
                self.store.set(self.key, value)
        if ok:
            self.raw, self.record = value, new
        return ok

    # -- the external system ------------------------------------------------------------------

    def cancel_job(self, job_id: str, *, what: str = "cancel") -> None:
        """Cancel *job_id*, transient errors retried; InvalidArgument when the job cannot cancel."""
        job = self.job
        if not isinstance(job, SupportsCancel):
            raise InvalidArgument(f"{type(job).__name__} cannot cancel jobs", key=self.key, job_id=job_id)
        self.poller.retry_transient(lambda: job.cancel_job(job_id), what=f"{what} of job {job_id!r}", job_id=job_id)

    # -- events and logs ------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self.listener is None:
            return
        try:
            self.listener(event)
        except Exception:  # a listener's bug must not break the job's bookkeeping
            logger.exception("event listener failed on %s [key=%s]", type(event).__name__, self.key)

    def log(self, level: int, message: str, *args: object, job_id: str | None = None) -> None:
        reference = self.record.reference if self.record is not None else None
        if job_id is None and self.record is not None:
            job_id = self.record.job_id
        logger.log(
            level,
            message + " [key=%s reference=%s job_id=%s]",
            *args,
            self.key,
            reference,
            job_id,
        )


__all__ = ["Session", "check_key", "forget", "load_record", "logger", "new_reference"]
