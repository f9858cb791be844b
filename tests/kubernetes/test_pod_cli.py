"""``resumable pod run``: real CLI processes against the loopback API server, SIGKILLed where it matters.

The proof that no second pod ran is the server's own count of pod creations. Credentials
come from a kubeconfig with a bearer token, which must reach no output and no state file.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from resumable_adapters.cli import EXIT_JOB_FAILED, EXIT_USAGE
from tests.cli.conftest import Cli
from tests.cli.test_cli_spark_cluster_managers import event, read_until, state_bytes
from tests.kubernetes.conftest import IMAGE, TOKEN
from tests.paths import PYTHONPATH
from tests.services.kubernetes_api import KubernetesApiServer
from tests.spark_kubernetes.conftest import write_kubeconfig


@pytest.fixture
def pod_cli(tmp_path: Path, kube_api: KubernetesApiServer) -> Cli:
    """The CLI with a private state file, no Kubernetes settings of this machine, and the loopback's kubeconfig."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RESUMABLE_", "XDG_", "KUBE")) and k != "KUBERNETES_SERVICE_HOST"}
    env.update({"RESUMABLE_STATE": str(tmp_path / "state.db"), "HOME": str(tmp_path / "home"),
                "PYTHONPATH": PYTHONPATH, "PYTHONUNBUFFERED": "1",
                "KUBECONFIG": str(write_kubeconfig(tmp_path / "kubeconfig", kube_api.url, TOKEN))})
    return Cli(tmp_path, env)


def pod_args(key: str, seconds: float | str, code: int = 0, *extra: str) -> list[str]:
    # The loopback kubelet runs a pod for its container's last two args: seconds, then exit code.
    return ["pod", "run", "--json", "--key", key, "--image", IMAGE, "--name", "etl", *extra, "--",
            str(seconds), str(code)]


def test_a_pod_runs_to_success_then_the_rerun_reuses_it(pod_cli: Cli, kube_api: KubernetesApiServer) -> None:
    first = pod_cli.run(*pod_args("nightly", 0.2, 0, "--env", "DAY=2026-01-01", "-l", "team=data"))
    assert first.code == 0, first.stderr
    assert first.event_names()[0] == "submitted"
    result = first.events[-1]["result"]
    assert result["phase"] == "Succeeded" and result["exit_code"] == 0 and result["pod"].startswith("etl-")
    pod = kube_api.pod(result["pod"])
    assert pod is not None and pod["metadata"]["labels"]["team"] == "data"
    assert pod["spec"]["containers"][0]["env"] == [{"name": "DAY", "value": "2026-01-01"}]
    again = pod_cli.run(*pod_args("nightly", 0.2, 0, "--env", "DAY=2026-01-01", "-l", "team=data"))
    assert again.code == 0 and again.events[-1]["result"] == result
    assert kube_api.pods_created() == 1
    assert TOKEN not in first.stdout + first.stderr and TOKEN.encode() not in state_bytes(pod_cli)


def test_a_failed_pod_exits_with_its_code_and_names_its_logs(pod_cli: Cli, kube_api: KubernetesApiServer) -> None:
    failed = pod_cli.run(*pod_args("broken", 0.1, 3))
    assert failed.code == 3, failed.stderr  # the container's own exit code, as a shell would see it
    assert "kubectl logs -n default etl-" in failed.stdout + failed.stderr


def test_sigkill_while_polling_then_the_rerun_reattaches_to_the_same_pod(pod_cli: Cli,
                                                                          kube_api: KubernetesApiServer) -> None:
    crashed = pod_cli.start(*pod_args("held", "hold"))  # "hold": the pod stays Pending until moved
    submitted = read_until(crashed, event("submitted"))
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()
    name = submitted["job_id"].split("/")[1]
    kube_api.set_phase(name, "Running")
    rerun = pod_cli.start(*pod_args("held", "hold"))
    reattached = read_until(rerun, event("reattached"))
    assert reattached["job_id"] == submitted["job_id"]
    kube_api.write_log(name, "rows: 12\n")
    kube_api.set_phase(name, "Succeeded", 0)
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines[-1]["result"]["log_tail"] == "rows: 12\n"
    assert "submitted" not in [line.get("event") for line in lines] and kube_api.pods_created() == 1


def test_cancel_deletes_the_recorded_pod_with_its_uid(pod_cli: Cli, kube_api: KubernetesApiServer) -> None:
    running = pod_cli.start(*pod_args("to-cancel", "hold"))
    target = read_until(running, event("submitted"))
    status = pod_cli.run("status", "--json", "to-cancel")
    assert status.events[0]["job_id"] == target["job_id"] and status.events[0]["live_status"] == "Pending"
    cancel = pod_cli.run("cancel", "--json", "to-cancel")
    assert cancel.code == 0, cancel.stderr
    assert cancel.events[0]["phase"] == "cancelled"
    running.communicate(timeout=60)
    assert running.returncode == EXIT_JOB_FAILED
    pod = kube_api.pod(target["job_id"].split("/")[1])
    assert pod is None or "deletionTimestamp" in pod["metadata"]


def test_usage_errors_write_nothing(pod_cli: Cli, kube_api: KubernetesApiServer) -> None:
    bad = pod_cli.run("pod", "run", "--key", "k", "--image", IMAGE, "--command")
    assert bad.code == EXIT_USAGE and "--command needs the command" in bad.stderr
    bad_env = pod_cli.run("pod", "run", "--key", "k", "--image", IMAGE, "--env", "NOEQUALS", "--", "x")
    assert bad_env.code == EXIT_USAGE and "KEY=VALUE" in bad_env.stderr
    assert kube_api.pods_created() == 0 and not pod_cli.state.exists()


def test_server_with_a_kubeconfig_keeps_its_inline_certificate(tmp_path: Path) -> None:
    """``--server`` beside a kubeconfig whose certificate is inline: the client made for that
    address still has the certificate file once the kubeconfig's own client is gone."""
    import gc

    from resumable_adapters.kubernetes._cli import Credentials, PodKind
    from tests.spark_kubernetes.test_kubernetes import PEM, write_embedded_kubeconfig

    config = write_embedded_kubeconfig(tmp_path / "config")
    kind = PodKind(credentials=Credentials("kubeconfig", str(config), None, "https://10.0.0.1:6443"),
                   namespace=None, name="p", container="base")
    client = kind.client()
    gc.collect()
    assert client.server == "https://10.0.0.1:6443" and client.client_key is not None
    assert Path(client.client_key).read_bytes() == PEM
