"""A local command as a resumable job: it runs detached, under a runner that records it.

Layout of *jobs_dir* (one directory per submission, named after its reference)::

    jobs_dir/
      .locks/<name>          flock held from the start of a submission until its directory exists
      <name>/                the job id is this name
        runner.json          runner pid, its start time (clock ticks since boot), boot id
        command.json         the command's pid and start time
        exit.json            exit code or signal, duration: only once the command ended
        cancel.json          written before a cancel signals the process group
        stdout, stderr       the command's output
        runner.log           the runner's own stderr

Status comes from those records and the process table. A pid is only taken to
be the job's when its start time and the boot id match the record, so a pid the
kernel handed to another process is never mistaken for the job (nor signalled).

Every process of a job carries ``RESUMABLE_JOB_DIR=<its directory>`` in its
environment (set on the runner, inherited by the command and what it starts). A job
is never declared lost or unknown while a live process of ours carries that mark:
it stays ORPHANED (active), so a deleted directory or a killed runner never leads to
a second copy running beside the first. Linux only: it reads ``/proc``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ._job import (
        ACTIVE_STATUSES,
        CANCELLED,
        CANCELLING,
        FAILED,
        LOST,
        ORPHANED,
        RUNNING,
        SUCCEEDED,
        LocalJobInfo,
        LocalProcessJob,
        job_name,
    )


__all__ = [
    "ACTIVE_STATUSES",
    "CANCELLED",
    "CANCELLING",
    "FAILED",
    "LOST",
    "ORPHANED",
    "RUNNING",
    "SUCCEEDED",
    "LocalJobInfo",
    "LocalProcessJob",
    "job_name",
]

# Loaded on first use, as spark's: the ``resumable`` command imports this package on every start
# to find its ``run`` command, and a ``resumable status`` need not load the job's module
# (subprocess, locks, the runner).
__getattr__, __dir__ = exports(__name__, dict.fromkeys(__all__, "_job"))
