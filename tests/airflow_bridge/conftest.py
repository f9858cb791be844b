"""Fixtures for the bridge's tests: the real-Airflow sandbox of tests/airflow, and moto.

The sandbox machinery (a copied metadata DB per test module, dag.test() in a
child process) is imported from tests/airflow/conftest.py, not repeated.
"""

from __future__ import annotations

import importlib.util

# Without Airflow (or the amazon provider, or moto) these tests are skipped, not failed.
if importlib.util.find_spec("airflow") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    from tests.airflow.conftest import airflow_db_template, new_sandbox  # noqa: F401  (fixtures, by name)

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("airflow.providers.amazon") is None:
        collect_ignore_glob = ["test_*_moto*.py"]
    else:
        from tests.services.moto import moto_server  # noqa: F401  (fixture, by name)
