"""resumable_adapters.otel: decisions reach a real OpenTelemetry SDK (in-memory readers) as counters and spans."""

from __future__ import annotations

import pytest

from resumable_core import JobFailed, MemoryStateStore, PollPolicy, run_resumable
from resumable_core.testing import FakeExternalSystem, FakeJob

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from resumable_adapters.otel import SPAN_NAME, OpenTelemetry


def test_each_decision_is_a_counter_and_a_span_with_the_run_s_ids() -> None:
    reader, spans = InMemoryMetricReader(), InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = OpenTelemetry(meter_provider=MeterProvider(metric_readers=[reader]), tracer_provider=tracer_provider)
    system, store = FakeExternalSystem(outcomes=["FAILED"]), MemoryStateStore()
    fast = PollPolicy(min_interval=0, max_interval=0)
    with pytest.raises(JobFailed):
        run_resumable(FakeJob(system), store, key="etl", poll=fast, sleep=lambda s: None, telemetry=telemetry)
    run_resumable(FakeJob(system), store, key="etl", poll=fast, sleep=lambda s: None, telemetry=telemetry)
    run_resumable(FakeJob(system), store, key="etl", poll=fast, sleep=lambda s: None, telemetry=telemetry)

    data = reader.get_metrics_data()
    assert data is not None
    counts = {
        metric.name: sum(point.value for point in metric.data.data_points if isinstance(point, NumberDataPoint))
        for resource_metrics in data.resource_metrics
        for scope in resource_metrics.scope_metrics
        for metric in scope.metrics
    }
    assert counts == {"resumable_job.fresh_submit": 1, "resumable_job.terminal_resubmit": 1,
                      "resumable_job.already_succeeded": 1}
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == [SPAN_NAME] * 3
    resubmit = dict(finished[1].attributes or {})
    assert resubmit["decision"] == "terminal_resubmit" and resubmit["key"] == "etl"
    assert resubmit["prior_status"] == "FAILED" and resubmit["job_id"] == system.submissions()[0]
