"""Fixtures for the deferrable path: the real-Airflow sandbox of tests/airflow (imported, not repeated)."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("airflow") is None:  # without Airflow these tests are skipped, not failed
    collect_ignore_glob = ["test_*.py"]
else:
    from tests.airflow.conftest import airflow_db_template, new_sandbox  # noqa: F401  (fixtures, by name)
