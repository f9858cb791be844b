"""JWS authentication against a real master whose REST server runs Spark 4's JWSFilter."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator

import pytest

from resumable_adapters.spark import JwsAuth, SparkRestClient, SparkRestJob
from resumable_core import JobNotFound, ProtocolError, SubmissionRejected
from tests.services.spark import DriverJar, SparkCluster, start_spark_cluster
from tests.spark.conftest import submission

pytestmark = pytest.mark.spark
UNKNOWN = "driver-20000101000000-0002"


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


KEY = new_key()


@pytest.fixture(scope="module")
def jws_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    # No worker: every check here is answered by the REST server itself.
    properties = {
        "spark.master.rest.filters": "org.apache.spark.ui.JWSFilter",
        "spark.org.apache.spark.ui.JWSFilter.param.secretKey": KEY,
    }
    base = tmp_path_factory.mktemp("spark-jws")
    with start_spark_cluster(base, with_worker=False, extra_master_properties=properties, ready_auth=JwsAuth(KEY)) as master:
        yield master


def job_with(master: SparkCluster, jar: DriverJar, auth: JwsAuth | None) -> SparkRestJob:
    # lost_settle=0: an unknown id answered at once is the proof the master let the request in.
    return SparkRestJob(SparkRestClient(master.rest_url, auth=auth, timeout=5.0), submission(jar), lost_settle=0)


def test_a_valid_jws_is_accepted(jws_master: SparkCluster, spark_driver_jar: DriverJar) -> None:
    job = job_with(jws_master, spark_driver_jar, JwsAuth(KEY, ttl=30))
    with pytest.raises(JobNotFound):  # the server answered: it does not know the id
        job.get_job_status(UNKNOWN)
    assert job.client.readyz()


def test_a_missing_header_is_refused(jws_master: SparkCluster, spark_driver_jar: DriverJar) -> None:
    job = job_with(jws_master, spark_driver_jar, None)
    with pytest.raises(ProtocolError, match="403.*Authorization header is missing"):
        job.get_job_status(UNKNOWN)
    with pytest.raises(SubmissionRejected, match="403"):
        job.submit_job("0123456789abcdef")
    assert jws_master.drivers() == []


@pytest.mark.parametrize("auth", [JwsAuth(new_key()), JwsAuth(KEY, clock=lambda: 1_000_000.0)], ids=["wrong-key", "expired"])
def test_a_wrong_key_or_an_expired_token_is_refused(
    jws_master: SparkCluster, spark_driver_jar: DriverJar, auth: JwsAuth
) -> None:
    job = job_with(jws_master, spark_driver_jar, auth)
    with pytest.raises(ProtocolError, match="403.*JWT Validate Fail") as info:
        job.get_job_status(UNKNOWN)
    assert KEY not in str(info.value) and auth.secret_key not in str(info.value)
