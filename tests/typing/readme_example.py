"""Only type-checked: the README's embedding example, so that it cannot rot."""

from __future__ import annotations

from resumable_adapters.spark import SparkRestClient, SparkRestJob, SparkSubmission
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import OnAmbiguous, Policy, PollPolicy, run_resumable


def readme_example() -> object:
    store = SqliteStateStore("/var/lib/myapp/resumable.db")
    client = SparkRestClient("http://spark-master:6066", web_ui_urls="http://spark-master:8080")
    job = SparkRestJob(client, SparkSubmission(app_resource="file:/jobs/etl.jar", main_class="com.example.Etl"))
    return run_resumable(
        job,
        store,
        key="etl/2026-11-24",
        poll=PollPolicy(min_interval=2, max_interval=30, deadline=6 * 3600),
        policy=Policy(on_ambiguous=OnAmbiguous.FAIL),
        listener=print,
    )
