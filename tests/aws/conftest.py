"""The EMR tests' fixtures: the server (moto plus our layer, one per pytest worker, started by the first
test that asks) and the command line's runner for ``resumable emr-*``."""

from tests.cli.conftest import cli
from tests.services.moto_emr import emr_moto

__all__ = ["cli", "emr_moto"]
