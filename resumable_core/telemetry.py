"""Metrics and traces of each decision: the ``Telemetry`` protocol and the decision names.

Pass a ``Telemetry`` to ``run_resumable`` / ``run_resumable_async`` (``telemetry=``);
``resumable_adapters.otel.OpenTelemetry`` sends the decisions through the OpenTelemetry API.
"""

from __future__ import annotations

from ._telemetry import DECISIONS, Telemetry, decision_attributes, decision_name

__all__ = ["DECISIONS", "Telemetry", "decision_attributes", "decision_name"]
