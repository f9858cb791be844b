"""A client process for the crash tests of both cluster managers: run_resumable + a Spark job + SQLite.

``python -m tests.spark_yarn.crash_client '<json config>'`` prints one JSON line per event,
then ``{"result": ...}`` or ``{"error": ...}``. ``"manager"``: ``yarn`` (``rm_url``) or
``k8s`` (``kubeconfig``); ``"spark_submit"``: the launcher (absent: pyspark's real one);
``"env"``: added to the launcher's environment. With ``"crash": "after_submit"`` it
SIGKILLs itself right after spark-submit reported the job and before the core could
persist its id (printing ``{"accepted": id, "reference": ...}`` first).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from typing import Any

from resumable_adapters.kubernetes._client import KubernetesClient
from resumable_adapters.spark._cluster_submission import SparkClusterSubmission
from resumable_adapters.spark._kubernetes import SparkKubernetesJob
from resumable_adapters.spark._launcher import SparkSubmitLauncher
from resumable_adapters.spark._yarn import SparkYarnJob
from resumable_adapters.sqlite import SqliteStateStore
from resumable_adapters.yarn._client import YarnRestClient
from resumable_core import Event, Policy, PollPolicy, ResumableError, ResumableJob, run_resumable


def emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, default=str), flush=True)


def crash_after_submit(job: SparkYarnJob | SparkKubernetesJob) -> None:
    original = job.submit_job

    def submit_then_die(reference: str) -> str:
        job_id = original(reference)
        emit({"accepted": job_id, "reference": reference})
        os.kill(os.getpid(), signal.SIGKILL)  # the crash: no chance to persist the id
        raise AssertionError("unreachable")

    job.submit_job = submit_then_die  # type: ignore[method-assign]  # the one seam a real crash needs


def build(config: dict[str, Any]) -> ResumableJob[Any]:
    launcher = SparkSubmitLauncher(config.get("spark_submit"), timeout=120.0, env=config.get("env") or {})
    submission = SparkClusterSubmission(
        application=config["application"], main_class="etl.Main", name="crash-test",
        app_args=(str(config["seconds"]), str(config.get("code", 0))),
    )
    job: SparkYarnJob | SparkKubernetesJob
    if config["manager"] == "yarn":
        job = SparkYarnJob(YarnRestClient(config["rm_url"], user="spark", timeout=5.0), submission, launcher=launcher)
    else:
        client = KubernetesClient.from_kubeconfig(config["kubeconfig"], timeout=5.0)
        job = SparkKubernetesJob(client, submission, image="apache/spark:4.3.0", launcher=launcher)
    if config.get("crash") == "after_submit":
        crash_after_submit(job)
    return job


def on_event(event: Event) -> None:
    emit({"event": type(event).__name__, **dataclasses.asdict(event)})


def main(config: dict[str, Any]) -> int:
    job = build(config)
    poll = PollPolicy(min_interval=0.05, max_interval=0.2, jitter=0.0, transient_attempts=60, transient_seconds=60.0)
    with SqliteStateStore(config["db"]) as store:
        try:
            result = run_resumable(job, store, key=config["key"], poll=poll, policy=Policy(intent_lease=2.0),
                                   listener=on_event)
        except ResumableError as exc:
            emit({"error": type(exc).__name__, "message": str(exc)})
            return 1
    emit({"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
