"""SparkSubmission and the auth objects: the request they build, what they hide, what they refuse."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from resumable_adapters.spark import (
    BearerToken,
    JwsAuth,
    SparkRestClient,
    SparkRestJob,
    SparkSubmission,
    SparkSuperviseWarning,
)
from resumable_core import InvalidArgument

SECRET = "s3cr3t-value-1234"


def make(**changes: object) -> SparkSubmission:
    fields: dict[str, object] = dict(
        app_resource="file:/jobs/app.jar",
        main_class="app.Main",
        app_args=["--day", "2026-11-24"],
        properties={"spark.executor.memory": "1g", "spark.hadoop.fs.s3a.secret.key": SECRET},
        environment={"DB_PASSWORD": SECRET, "MODE": "batch"},
    )
    fields.update(changes)
    return SparkSubmission(**fields)  # type: ignore[arg-type]


def test_create_request_shape() -> None:
    request = make(name="etl", driver_memory="256m", master="spark://m1:7077,m2:7077").create_request(
        "spark.resumable.ref", "0123abcd"
    )
    assert request["action"] == "CreateSubmissionRequest"
    assert request["appArgs"] == ["--day", "2026-11-24"]
    props = request["sparkProperties"]
    assert isinstance(props, dict)
    assert props["spark.app.name"] == "etl"
    assert props["spark.submit.deployMode"] == "cluster"
    assert props["spark.driver.supervise"] == "false"
    assert props["spark.driver.memory"] == "256m"
    assert props["spark.jars"] == "file:/jobs/app.jar"
    assert props["spark.master"] == "spark://m1:7077,m2:7077"
    assert props["spark.resumable.ref"] == "0123abcd"
    assert props["spark.hadoop.fs.s3a.secret.key"] == SECRET  # sent, since the driver needs it


def test_supervise_is_off_by_default_and_warns_when_on() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make()
    with pytest.warns(SparkSuperviseWarning, match="new driver id"):
        supervised = make(supervise=True)
    assert supervised.spark_properties()["spark.driver.supervise"] == "true"


def test_fingerprint_follows_the_spec_and_excludes_secret_values() -> None:
    base = make()
    assert base.fingerprint() == make().fingerprint()
    assert base.fingerprint().startswith("sha256:")
    assert base.fingerprint() != make(app_args=["--day", "2026-11-25"]).fingerprint()
    assert base.fingerprint() != make(properties={"spark.executor.memory": "2g"}).fingerprint()
    # Rotating a secret keeps the fingerprint; its value is never part of what is hashed.
    rotated = make(
        properties={"spark.executor.memory": "1g", "spark.hadoop.fs.s3a.secret.key": "other-secret-99"},
        environment={"DB_PASSWORD": "other-secret-99", "MODE": "batch"},
    )
    assert base.fingerprint() == rotated.fingerprint()
    assert SECRET not in str(base.canonical())
    # The reference is per submission, never part of the spec.
    assert "spark.resumable.ref" not in str(base.canonical())


def test_repr_hides_secrets() -> None:
    sub = make()
    assert SECRET not in repr(sub)
    job = SparkRestJob(SparkRestClient("http://127.0.0.1:1"), sub)
    assert SECRET not in repr(job)
    assert "tok-123456" not in repr(BearerToken("tok-123456"))
    assert "A" * 43 not in repr(JwsAuth("A" * 43))
    assert sub.scrub(f"x {SECRET} y") == "x <secret> y"


@pytest.mark.parametrize(
    "reference",
    ["", "has space", "my-token-1", "PASSWORD1", "a" * 201, 'quote"', "new\nline", "access_key1"],
)
def test_references_spark_would_redact_or_we_could_not_match_are_refused(reference: str) -> None:
    with pytest.raises(InvalidArgument):
        make().create_request("spark.resumable.ref", reference)


def test_reference_property_key_must_not_be_redacted() -> None:
    with pytest.raises(InvalidArgument):
        SparkRestJob(SparkRestClient("http://127.0.0.1:1"), make(), reference_property="spark.my.token")


@pytest.mark.parametrize(
    "changes",
    [
        {"app_resource": ""},
        {"main_class": ""},
        {"app_args": "not-a-list"},
        {"driver_memory": "lots"},
        {"driver_cores": 0},
        {"properties": {"spark.x": 1}},
    ],
)
def test_bad_descriptions_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        make(**changes)


def test_jws_key_must_be_base64url_of_256_bits() -> None:
    with pytest.raises(InvalidArgument, match="256"):
        JwsAuth("c2hvcnQ")
    with pytest.raises(InvalidArgument):
        JwsAuth("!!!not base64!!!" * 4)
    with pytest.raises(InvalidArgument):
        BearerToken("two\nlines")


def test_import_error_names_the_extra() -> None:
    # The package loads its names on first use (the CLI imports it on every start): the first name
    # that needs urllib3 raises the ImportError that names the extra.
    code = ("import sys; sys.modules['urllib3'] = None\nimport resumable_adapters.spark as spark\n"
            "try:\n spark.SparkRestClient\nexcept ImportError as e:\n print(e)")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2]
    ).stdout
    assert "pip install 'resumable-core[spark]'" in out
