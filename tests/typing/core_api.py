"""Only type-checked (mypy --strict): the public API as users write against it."""

from __future__ import annotations

from typing import Any

from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import (
    CompareAndSetStore,
    JsonValue,
    MemoryStateStore,
    ResumableJob,
    StateStore,
    SupportsCancel,
    SupportsFindByReference,
    SupportsFingerprint,
    run_resumable,
)
from resumable_core.testing import FakeExternalSystem, FakeJob, PlainFakeJob

memory: CompareAndSetStore = MemoryStateStore()
sqlite: CompareAndSetStore = SqliteStateStore("/dev/null")
plain_store: StateStore = memory

fake: ResumableJob[JsonValue] = FakeJob(FakeExternalSystem())
plain: ResumableJob[JsonValue] = PlainFakeJob(FakeExternalSystem())
finder: SupportsFindByReference = FakeJob(FakeExternalSystem())
canceller: SupportsCancel = FakeJob(FakeExternalSystem())
printer: SupportsFingerprint = FakeJob(FakeExternalSystem())

# The result type flows through run_resumable.
result: JsonValue = run_resumable(fake, memory, key="k")


def takes_any_job(job: ResumableJob[Any]) -> None: ...


takes_any_job(plain)
