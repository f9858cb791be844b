"""Where a job got to, so its next submission starts there: the ``SupportsResumeState`` capability.

The contract is in ``resumable_core._resume``'s docstring and docs/flink.md (the first system
that implements it: a Flink job resumes from its last checkpoint or savepoint).
"""

from __future__ import annotations

from ._decision import resume_from, with_resume_state
from ._resume import AsyncSupportsResumeState, SupportsResumeState, resume_state_due, resume_state_update

__all__ = [
    "AsyncSupportsResumeState",
    "SupportsResumeState",
    "resume_from",
    "resume_state_due",
    "resume_state_update",
    "with_resume_state",
]
