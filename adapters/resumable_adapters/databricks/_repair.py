"""Repair as a resubmission mode: a failed multi-task run gets its failed tasks rerun inside it.

The core resubmits a failed key under a new reference and says nothing else to
``submit_job``; which run failed is in the key's record, which the core wrote before the
call (the new intent, its history ending with the failed submission). So a job in repair
mode reads that record (*store*, *key*: the ones given to ``run_resumable``) and, when the
submission just before this reference FAILED, is a run of this job's spec, has at least two
tasks, some failed, and fewer than *max_repairs* repairs, calls ``runs/repair`` with
``rerun_all_failed_tasks`` and the run's ``latest_repair_id`` instead of creating a run.
The repair is a submission like any other: its job id ``<run_id>/repair/<repair_id>`` is
recorded, its status is that repair's entry in the run's ``repair_history``, and its outcome
is the key's outcome.

Repairs take no idempotency token. After a crash between ``runs/repair`` and the record,
``find_job_by_reference`` reads the same record and looks for a repair of that run made
after the failed submission; ``latest_repair_id`` makes Databricks refuse a second repair
from the same state, so two processes can never both repair it. A repair someone made by
hand in that window is adopted as ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resumable_core import JobNotFound, StateStore, load_record
from resumable_core.errors import InvalidArgument
from resumable_core.record import Outcome

from ._client import jobs
from ._status import TERMINATED, failed_tasks, run_state, status_text, task_states

if TYPE_CHECKING:
    from ._job import _DatabricksRunJob

_REPAIR = "/repair/"


@dataclass(frozen=True, slots=True)
class RunRef:
    """A job id: a run, or one repair of it."""

    run_id: int
    repair_id: int | None = None

    @property
    def job_id(self) -> str:
        return str(self.run_id) if self.repair_id is None else f"{self.run_id}{_REPAIR}{self.repair_id}"

    @classmethod
    def parse(cls, job_id: str) -> RunRef:
        run, _, repair = job_id.partition(_REPAIR)
        try:
            ref = cls(int(run), int(repair) if repair else None)
        except ValueError:
            ref = None
        if ref is None or ref.job_id != job_id or ref.run_id <= 0:
            raise InvalidArgument(f"{job_id!r} is not a Databricks job id (<run_id> or <run_id>/repair/<id>)",
                                  job_id=job_id)
        return ref


@dataclass(frozen=True)
class RepairFailedTasks:
    """Resubmit a failed multi-task run by repairing its failed tasks (module docstring).

    *store* and *key*: the ones the job runs under. *rerun_dependent_tasks*: rerun the tasks
    that depend on a failed one too (Databricks' own default in its UI). After
    *max_repairs* repairs of one run, the next resubmission is a new run.
    """

    store: StateStore
    key: str
    max_repairs: int = 3
    rerun_dependent_tasks: bool = True

    def __post_init__(self) -> None:
        if self.max_repairs < 1:
            raise InvalidArgument(f"RepairFailedTasks max_repairs must be >= 1, got {self.max_repairs!r}")

    def repair_if_fit(self, job: _DatabricksRunJob, previous: RunRef) -> RunRef | None:
        """The repair made of *previous*'s run, or None when a new run fits better."""
        try:
            run = job.client.get_run(previous.run_id, job_id=previous.job_id)
        except JobNotFound:
            return None  # the failed run is gone (deleted, past retention): a new run
        repairs = [h.id for h in run.repair_history or () if h.type is jobs.RepairHistoryItemType.REPAIR]
        latest = repairs[-1] if repairs else None
        if latest != previous.repair_id or len(repairs) >= self.max_repairs or not job.same_spec(run):
            return None
        status = status_text(run.status, job_id=previous.job_id)
        tasks = task_states(run.tasks)
        if run_state(status) != TERMINATED or job.is_job_succeeded(status):
            return None
        if len({t["task_key"] for t in tasks}) < 2 or not failed_tasks(tasks):
            return None  # one task, or nothing to rerun: a new run is the same work
        repair_id = job.client.repair(previous.run_id, latest_repair_id=latest,
                                      rerun_dependent_tasks=self.rerun_dependent_tasks,
                                      parameters=job.repair_parameters())
        return RunRef(previous.run_id, repair_id)

    def find_repair(self, job: _DatabricksRunJob, previous: RunRef) -> RunRef | None:
        """A repair of *previous*'s run made after it (ours, from before a crash), or None."""
        try:
            run = job.client.get_run(previous.run_id, job_id=previous.job_id)
        except JobNotFound:
            return None
        ids = [h.id for h in run.repair_history or () if h.type is jobs.RepairHistoryItemType.REPAIR]
        after = ids[ids.index(previous.repair_id) + 1:] if previous.repair_id in ids else (
            ids if previous.repair_id is None else [])
        return RunRef(previous.run_id, after[0]) if after and after[0] is not None else None


def previous_failed_run(repair: RepairFailedTasks, reference: str) -> RunRef | None:
    """The run of the submission just before *reference* in the key's record, when it failed."""
    record = load_record(repair.store, repair.key)
    if record is None or record.reference != reference:
        return None  # not this key's current intent: nothing to say about what came before
    earlier = [entry for entry in record.history if entry.reference != reference]
    if not earlier or earlier[-1].outcome is not Outcome.FAILED or earlier[-1].job_id is None:
        return None
    try:
        return RunRef.parse(earlier[-1].job_id)
    except InvalidArgument:
        return None  # another system's id (the key changed jobs): a new run


__all__ = ["RepairFailedTasks", "RunRef", "previous_failed_run"]
