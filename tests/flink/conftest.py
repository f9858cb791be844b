"""Fixtures shared by the Flink tests: a client on the session cluster and a job factory.

Each job gets its own control directory (the files that hold it running or make it end,
tests/services/flink.py) and its own checkpoint directory, retained after a failure or a
cancel so a later submission can start from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from resumable_adapters.flink import FlinkJob, FlinkRestClient, FlinkSubmission
from resumable_core import PollPolicy
from tests.services.flink import Control, CountJar, FlinkCluster

FAST_POLL = PollPolicy(min_interval=0.1, max_interval=0.5, jitter=0.0, transient_attempts=30, transient_seconds=60.0)


def count_submission(jar: CountJar, control: Control, checkpoints: Path, *, bound: int = 0,
                     interval_ms: int = 200, extra: tuple[str, ...] = ()) -> FlinkSubmission:
    return FlinkSubmission(
        jar.jar,
        entry_class=jar.main_class,
        args=[str(control.directory), str(bound), str(interval_ms), *extra],
        parallelism=1,
        configuration={
            "execution.checkpointing.dir": checkpoints.as_uri(),
            # Kept after a failure or a cancel: the next submission starts from them.
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "restart-strategy.type": "none",  # a failure fails the job at once
        },
    )


@dataclass
class FlinkKit:
    """Makes CountJobs on the session cluster, each with its own control and checkpoint dirs."""

    cluster: FlinkCluster
    client: FlinkRestClient
    jar: CountJar
    root: Path
    made: int = 0

    def control(self) -> Control:
        self.made += 1
        directory = self.root / f"job-{self.made}"
        directory.mkdir(parents=True)
        return Control(directory)

    def job(self, control: Control, *, bound: int = 0, extra: tuple[str, ...] = (), **options: object) -> FlinkJob:
        submission = count_submission(self.jar, control, self.root / "checkpoints", bound=bound, extra=extra)
        return FlinkJob(self.client, submission, **options)  # type: ignore[arg-type]  # FlinkJob's keywords


@pytest.fixture
def flink_client(flink_cluster: FlinkCluster) -> Iterator[FlinkRestClient]:
    client = FlinkRestClient(flink_cluster.rest_url, timeout=10.0)
    yield client
    client.close()


@pytest.fixture
def kit(flink_cluster: FlinkCluster, flink_client: FlinkRestClient, flink_count_jar: CountJar,
        tmp_path: Path) -> FlinkKit:
    return FlinkKit(flink_cluster, flink_client, flink_count_jar, tmp_path)
