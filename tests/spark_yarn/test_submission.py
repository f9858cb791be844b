"""SparkClusterSubmission and reference_slug: no I/O, the rules both cluster managers share."""

from __future__ import annotations

import re

import pytest

from resumable_adapters.kubernetes._client import KubernetesClient
from resumable_adapters.spark._cluster_submission import SparkClusterSubmission, reference_slug
from resumable_adapters.spark._kubernetes import SparkKubernetesJob
from resumable_core import InvalidArgument

SECRET = "s3cr3t-value-9876"


def test_secret_looking_conf_stays_out_of_repr_and_fingerprint_but_its_key_counts() -> None:
    a = SparkClusterSubmission("hdfs:///a.jar", "A", conf={"spark.hadoop.fs.s3a.secret.key": SECRET})
    rotated = SparkClusterSubmission("hdfs:///a.jar", "A", conf={"spark.hadoop.fs.s3a.secret.key": "other-9999"})
    without = SparkClusterSubmission("hdfs:///a.jar", "A")
    assert SECRET not in repr(a) and SECRET not in str(a.canonical())
    assert a.fingerprint() == rotated.fingerprint() != without.fingerprint()
    assert a.scrub(f"failed: {SECRET}") == "failed: <secret>"


def test_options_and_tail_are_what_spark_submit_expects() -> None:
    sub = SparkClusterSubmission("s3a://b/job.py", py_files=("s3a://b/lib.zip", "s3a://b/x.py"), app_args=("--day", "1"),
                                 proxy_user="etl")
    assert sub.options() == ["--name", "job.py", "--py-files", "s3a://b/lib.zip,s3a://b/x.py", "--proxy-user", "etl"]
    assert sub.app_tail() == ["s3a://b/job.py", "--day", "1"]
    with pytest.raises(InvalidArgument):
        SparkClusterSubmission("a.jar", jars=("x.jar,y.jar",))
    with pytest.raises(InvalidArgument):
        SparkClusterSubmission("a.jar", app_args="--day 1")  # type: ignore[arg-type]  # the mistake under test


@pytest.mark.parametrize("reference", ["0123456789abcdef0123456789abcdef", "Ref:Upper_Case", "a" * 200, "x"])
def test_reference_slug_is_a_valid_tag_label_and_pod_name_suffix(reference: str) -> None:
    slug = reference_slug(reference)
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", slug) and len(slug) <= 40
    assert (slug == reference) is bool(re.fullmatch(r"[a-z0-9-]{1,40}", reference))
    client = KubernetesClient("http://127.0.0.1:9")
    job = SparkKubernetesJob(client, SparkClusterSubmission("local:///a.jar", "A", name="A Very Long Spark App Name " * 3),
                             image="spark:4")
    assert len(job.pod_name(reference)) <= 63 and re.fullmatch(r"[a-z0-9-]+", job.pod_name(reference))
