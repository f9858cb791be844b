"""The EMR tests' server: moto plus our layer, one per pytest worker, started by the first test that asks."""

from tests.services.moto_emr import emr_moto

__all__ = ["emr_moto"]
