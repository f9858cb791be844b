"""The client SIGKILLed while polling a driver pod, and a new process reattaching to the same pod.

(The crash between "spark-submit returned" and "id persisted" runs with the real
spark-submit in test_real_spark_submit.py.)
"""

from __future__ import annotations

from pathlib import Path

from tests.services.kubernetes_api import KubernetesApiServer
from tests.spark_kubernetes.conftest import write_kubeconfig
from tests.spark_yarn.conftest import write_wrapper
from tests.spark_yarn.test_crash import finish_after_reattach, kill, start_client, wait_for_record


def test_sigkill_while_polling_then_reattach_to_the_same_pod(kube_api: KubernetesApiServer, tmp_path: Path) -> None:
    cfg = dict(manager="k8s", kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig", kube_api.url)),
               application="local:///opt/jobs/etl.jar", seconds=600.0, db=str(tmp_path / "state.db"), key="nightly",
               spark_submit=write_wrapper(tmp_path, "tests.spark_kubernetes.fake_spark_submit"))
    first = start_client(cfg)
    record = wait_for_record(tmp_path / "state.db", "nightly", first,
                             lambda r: r.job_id is not None and r.status == "Running")
    kill(first)

    # The driver runs until the rerun reattached (600 s is never reached): however slowly a new
    # process starts, it finds the pod running.
    pod_name = record.job_id.split("/")[1]
    lines = finish_after_reattach(start_client(cfg), lambda: kube_api.set_phase(pod_name, "Succeeded", exit_code=0))
    assert "Submitted" not in [line.get("event") for line in lines]
    reattached = [line for line in lines if line.get("event") == "Reattached"]
    assert reattached and reattached[0]["job_id"] == record.job_id and reattached[0]["via"] == "record"
    result = lines[-1]["result"]
    assert f"{result['namespace']}/{result['pod']}/{result['uid']}" == record.job_id
    assert result["phase"] == "Succeeded" and kube_api.pods_created() == 1
