"""The decisions of a resumable task, where Airflow's own metrics and traces go.

Counters through Airflow's stats (statsd or OpenTelemetry, as ``[metrics]`` configures
them), named as Airflow's ResumableJobMixin names its own (``resumable_job.fresh_submit``,
``reconnect_attempt``, ``reconnect_success``, ``already_succeeded``, ``terminal_resubmit``)
plus this project's, tagged with the operator's class as the mixin tags them; and one
span ``resumable_job.resume_decision`` per decision through the OpenTelemetry API Airflow
ships, with the key, reference, job id and prior status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

SPAN_NAME = "resumable_job.resume_decision"
_tracer = trace.get_tracer("resumable_adapters.airflow")


class AirflowTelemetry:
    """A ``resumable_core.telemetry.Telemetry`` over Airflow's stats and its OpenTelemetry tracer."""

    def __init__(self, operator: str, *, team_name: str | None = None) -> None:
        self.tags: dict[str, Any] = {"operator": operator}
        if team_name:
            self.tags["team_name"] = team_name

    def record_decision(self, decision: str, attributes: Mapping[str, str]) -> None:
        # Airflow's stats module, imported where it is used: a private path of the task SDK
        # (the one its own mixin uses), kept out of DAG parsing.
        from airflow.sdk._shared.observability.metrics import stats

        stats.incr(f"resumable_job.{decision}", tags=self.tags)
        with _tracer.start_as_current_span(SPAN_NAME) as span:
            span.set_attribute("operator", self.tags["operator"])
            span.set_attribute("resumable.decision", decision)
            for name, value in attributes.items():
                span.set_attribute(f"resumable.{name}", value)


__all__ = ["SPAN_NAME", "AirflowTelemetry"]
