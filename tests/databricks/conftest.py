"""Databricks fixtures: a loopback workspace per test (tests/services/databricks_api.py) and the
real databricks-sdk client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from resumable_adapters.databricks import DatabricksJobsClient
from resumable_core import PollPolicy
from tests.services.databricks_api import DatabricksApiServer

FAST_POLL = PollPolicy(min_interval=0.01, max_interval=0.05, jitter=0.0, transient_attempts=20, transient_seconds=20.0)


def task(key: str, outcome: str = "SUCCESS", repair_outcome: str = "SUCCESS",
         depends_on: tuple[str, ...] = ()) -> dict[str, Any]:
    """A notebook task whose end the loopback server reads from its parameters."""
    return {"task_key": key, "depends_on": [{"task_key": d} for d in depends_on],
            "existing_cluster_id": "0101-000000-loopback",
            "notebook_task": {"notebook_path": f"/Jobs/{key}",
                              "base_parameters": {"outcome": outcome, "repair_outcome": repair_outcome}}}


@pytest.fixture
def databricks_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[DatabricksApiServer]:
    # The SDK also reads DATABRICKS_* variables and ~/.databrickscfg: none of them here.
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_AUTH_TYPE",
                 "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    server = DatabricksApiServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def databricks_client(databricks_api: DatabricksApiServer) -> DatabricksJobsClient:
    return DatabricksJobsClient(databricks_api.url, token=databricks_api.token, timeout=5.0)
