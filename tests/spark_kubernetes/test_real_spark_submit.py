"""The submission path with the REAL spark-submit pyspark ships, against the loopback API server.

pyspark 4.3.0's spark-submit (fabric8 7.6.1 over vertx) talks plain HTTP to the loopback
server. Each run starts a JVM (about 5 s on these machines), so this file holds three
runs for the whole suite: a submission, the same reference again (409), and a crash
between "spark-submit returned" and "id persisted" in a separate process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.kubernetes._client import KubernetesClient
from resumable_adapters.spark._kubernetes import REFERENCE_ANNOTATION, REFERENCE_LABEL, SparkKubernetesJob
from resumable_adapters.spark._launcher import SparkSubmitLauncher
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Event, MemoryStateStore, Phase, load_record, run_resumable
from tests.services.kubernetes_api import KubernetesApiServer
from tests.spark_kubernetes.conftest import FAST_POLL, IMAGE, TOKEN, submission, write_kubeconfig

pytestmark = pytest.mark.spark
ROOT = Path(__file__).parents[2]


def real_launcher(tmp_path: Path) -> SparkSubmitLauncher:
    conf_dir = tmp_path / "spark-conf"  # empty: no spark-defaults.conf of this machine leaks in
    conf_dir.mkdir(exist_ok=True)
    return SparkSubmitLauncher(timeout=120.0, env={"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONF_DIR": str(conf_dir)})


def test_real_spark_submit_creates_the_labelled_driver_pod_and_a_resubmission_is_a_409_attach(
    kube_api: KubernetesApiServer, kube_client: KubernetesClient, tmp_path: Path
) -> None:
    job = SparkKubernetesJob(kube_client, submission(0.5, 0), image=IMAGE, launcher=real_launcher(tmp_path))
    store = MemoryStateStore()
    events: list[Event] = []
    result = run_resumable(job, store, key="k8s-real", poll=FAST_POLL, listener=events.append)

    record = load_record(store, "k8s-real")
    assert record is not None and record.phase is Phase.SUCCEEDED and record.job_id is not None
    name = job.pod_name(record.reference)
    pod = kube_api.pod(name)
    assert pod is not None
    meta = pod["metadata"]
    assert record.job_id == f"default/{name}/{meta['uid']}"
    assert meta["labels"][REFERENCE_LABEL] == record.reference  # the core's 32 hex digits are their own slug
    assert meta["labels"]["spark-role"] == "driver"
    assert meta["annotations"][REFERENCE_ANNOTATION] == record.reference
    assert pod["spec"]["containers"][0]["image"] == IMAGE
    assert result["phase"] == "Succeeded" and result["exit_code"] == 0 and result["uid"] == meta["uid"]
    assert result["spark_app_id"] == meta["labels"]["spark-app-selector"]
    # The four calls the notes measured, authenticated (the server requires the token).
    assert [m for m, _ in kube_api.requests[:4]] == ["POST", "PATCH", "PATCH", "PATCH"]
    assert {p.split("/")[-2] for _, p in kube_api.requests[1:4]} == {"services", "networkpolicies", "configmaps"}

    # The same reference again: the real spark-submit gets 409 AlreadyExists, and the job is the same pod.
    assert job.submit_job(record.reference) == record.job_id
    assert kube_api.pods_created() == 2 and kube_api.pod_names() == {name}


def test_real_spark_submit_then_sigkill_before_the_id_is_persisted_is_found_by_label(
    kube_api: KubernetesApiServer, tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube_api.url)
    db = tmp_path / "state.db"
    conf_dir = tmp_path / "spark-conf"
    conf_dir.mkdir()
    cfg: dict[str, Any] = dict(manager="k8s", kubeconfig=str(kubeconfig), application="local:///opt/jobs/etl.jar",
                               seconds=1.0, db=str(db), key="hourly",
                               env={"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONF_DIR": str(conf_dir)})
    crashed = run_client({**cfg, "crash": "after_submit"})
    assert crashed.returncode == -signal.SIGKILL
    accepted = [json.loads(line) for line in crashed.stdout.splitlines() if '"accepted"' in line][0]
    with SqliteStateStore(db) as store:
        record = load_record(store, "hourly")
    assert record is not None and record.phase is Phase.INTENT and record.job_id is None
    assert TOKEN not in crashed.stdout + crashed.stderr

    rerun = run_client(cfg)
    lines = [json.loads(line) for line in rerun.stdout.splitlines() if line.startswith("{")]
    assert rerun.returncode == 0, (lines, rerun.stderr[-2000:])
    assert "Submitted" not in [line.get("event") for line in lines]
    reattached = [line for line in lines if line.get("event") == "Reattached"]
    assert reattached and reattached[0]["via"] == "reference" and reattached[0]["job_id"] == accepted["accepted"]
    assert lines[-1]["result"]["phase"] == "Succeeded"
    assert kube_api.pods_created() == 1


def run_client(cfg: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.spark_yarn.crash_client", json.dumps(cfg)], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
