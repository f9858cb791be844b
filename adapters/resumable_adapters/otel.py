"""OpenTelemetry: each decision of a run as a counter and a span, through the OpenTelemetry API.

    from resumable_adapters.otel import OpenTelemetry
    run_resumable(job, store, key="etl", telemetry=OpenTelemetry())

Counters are named as Airflow's ResumableJobMixin names its own (``resumable_job.fresh_submit``,
``reconnect_attempt``, ``reconnect_success``, ``already_succeeded``, ``terminal_resubmit``) plus
this project's (``adopted_by_reference``, ``waited_for_owner``, ``lost``, ``superseded``,
``cancelled``, ``intent_resubmit``); each decision is also one span,
``resumable_job.resume_decision``, carrying the key, submission reference, job id and prior
status. Counters carry no per-job attribute, so a metrics backend does not get one series per key.

Needs only ``opentelemetry-api`` (``pip install 'resumable-core[otel]'``); with no SDK
configured the API's no-op providers make it cost next to nothing, and without this
adapter the core computes nothing at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resumable_core.telemetry import DECISIONS

try:
    from opentelemetry import metrics, trace
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("resumable_adapters.otel needs the OpenTelemetry API: pip install 'resumable-core[otel]'") from exc

SPAN_NAME = "resumable_job.resume_decision"


class OpenTelemetry:
    """A ``resumable_core.telemetry.Telemetry`` over the OpenTelemetry API."""

    def __init__(self, *, meter_provider: Any = None, tracer_provider: Any = None, prefix: str = "resumable_job") -> None:
        meter = metrics.get_meter("resumable_core", meter_provider=meter_provider)
        self._counters = {
            name: meter.create_counter(f"{prefix}.{name}", description=f"runs that decided: {name.replace('_', ' ')}")
            for name in DECISIONS
        }
        self._tracer = trace.get_tracer("resumable_core", tracer_provider=tracer_provider)

    def record_decision(self, decision: str, attributes: Mapping[str, str]) -> None:
        counter = self._counters.get(decision)
        if counter is not None:
            counter.add(1)
        with self._tracer.start_as_current_span(SPAN_NAME, attributes={"decision": decision, **attributes}):
            pass


__all__ = ["SPAN_NAME", "OpenTelemetry"]
