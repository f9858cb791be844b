"""The stored record: one versioned JSON document per key, and its history of submissions."""

from __future__ import annotations

from ._record import HISTORY_LIMIT, SCHEMA_VERSION, JobRecord, Outcome, Phase, Submission

__all__ = ["HISTORY_LIMIT", "SCHEMA_VERSION", "JobRecord", "Outcome", "Phase", "Submission"]
