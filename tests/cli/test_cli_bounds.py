"""``resumable status`` and ``cancel`` end within their bound against a server that drips (issue 17, item 5).

The loopback master answers every request one byte at a time: each call alone could run
for minutes within its own deadlines, and the core's retry budget for a kill is 300 s.
The command must end by its ``--timeout`` with the documented exit status and message.
The outer subprocess timeout is generous on purpose: the assertions are on the outcome.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from resumable_adapters.cli._common import meta_key
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core.record import JobRecord, Phase
from tests.cli.conftest import Cli
from tests.spark.misbehaving_server import MisbehavingServer, Reply, misbehaving_server

DRIVER = "driver-20261124065334-0000"
KEY = "etl"


@pytest.fixture
def dripping_master() -> Iterator[MisbehavingServer]:
    with misbehaving_server() as server:
        answer = Reply.json(action="SubmissionStatusResponse", success=True, submissionId=DRIVER, driverState="RUNNING")
        server.script(dataclasses.replace(answer, trickle=0.5))  # about a minute per answer
        yield server


def record_running_driver(cli: Cli, master: MisbehavingServer) -> None:
    """The record a `resumable spark-submit` leaves while its driver runs, and the kind it stored."""
    with SqliteStateStore(cli.state) as store:
        record = JobRecord(key=KEY, phase=Phase.SUBMITTED, reference="ref-1", revision=1, updated_at=time.time(),
                           job_id=DRIVER, status="RUNNING")
        store.set(KEY, record.to_json())
        store.set(meta_key(KEY), {"kind": "spark", "master": master.url, "web_ui": [], "app": "file:/jobs/app.jar",
                                  "main_class": "app.Main"})


def test_status_against_a_dripping_master_ends_within_its_timeout(cli: Cli, dripping_master: MisbehavingServer) -> None:
    record_running_driver(cli, dripping_master)
    result = cli.run("status", KEY, "--timeout", "2", timeout=120)
    # status is informative: the record is shown, and the live status says why it is unknown.
    assert result.code == 0, result.stderr
    assert "now: unknown (" in result.stdout and "2s bound" in result.stdout
    assert any(seen.path.endswith(f"/status/{DRIVER}") for seen in dripping_master.requests)


def test_cancel_against_a_dripping_master_ends_within_its_timeout(cli: Cli, dripping_master: MisbehavingServer) -> None:
    record_running_driver(cli, dripping_master)
    result = cli.run("cancel", KEY, "--timeout", "3", timeout=120)
    assert result.code == 119, result.stderr  # could not reach the external system
    assert "could not reach the external system" in result.stderr and "3s bound" in result.stderr
    assert any(seen.path.endswith(f"/kill/{DRIVER}") for seen in dripping_master.requests)
    with SqliteStateStore(cli.state) as store:
        # Written before the kill, so that no retry resubmits; `resumable cancel` again re-sends it.
        assert JobRecord.from_json(KEY, store.get(KEY)).phase is Phase.CANCELLED


def test_a_timeout_that_is_no_duration_is_a_usage_error(cli: Cli, dripping_master: MisbehavingServer) -> None:
    record_running_driver(cli, dripping_master)
    result = cli.run("status", KEY, "--timeout", "0", timeout=120)
    assert result.code == 122 and "--timeout" in result.stderr
