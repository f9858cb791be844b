"""The recorded spark-submit scripts run in-process: ``SparkSubmitLauncher`` without the subprocess.

A launch through tests/spark_yarn/fake_spark_submit.py or
tests/spark_kubernetes/fake_spark_submit.py as a process costs a Python start (about
50 ms); the crash properties launch thousands of times. ``RecordedLauncher`` runs the same
script's ``main`` as a function instead. Everything else of ``SparkSubmitLauncher.launch``
still runs: the private properties file and credential files, the argument vector, and the
scrubbing of secrets from the output that the adapter then parses (application ids, the
fabric8 409 text). Only ``_run``, the one place a process is started, is replaced.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import TextIO

from resumable_adapters.spark._launcher import LaunchResult, SparkSubmitLauncher
from tests.spark_kubernetes import fake_spark_submit as kubernetes_script
from tests.spark_yarn import fake_spark_submit as yarn_script

Script = Callable[[list[str], Mapping[str, str], TextIO, TextIO], int]
# A path that cannot run: were _run ever bypassed, the launch would fail with
# SubmissionRejected ("cannot start") instead of quietly spawning a process.
NOT_AN_EXECUTABLE = "/nonexistent/in-process-spark-submit"


class RecordedLauncher(SparkSubmitLauncher):
    """A launcher whose spark-submit is *script*, called as ``script(argv, env, out, err)``."""

    def __init__(self, script: Script, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(NOT_AN_EXECUTABLE, env=env)
        self.script = script
        self.launches = 0

    def _run(self, argv: list[str], env: dict[str, str], secrets: list[str], what: str) -> LaunchResult:
        assert argv[0] == NOT_AN_EXECUTABLE, argv[:1]
        self.launches += 1
        out, err = io.StringIO(), io.StringIO()
        code = self.script(argv[1:], env, out, err)
        return self._result(code, out.getvalue().encode(), err.getvalue().encode(), secrets)


def yarn_launcher(hadoop_conf_dir: str) -> RecordedLauncher:
    """What ``spark-submit --master yarn`` does against the loopback RM that *hadoop_conf_dir* names."""
    return RecordedLauncher(yarn_script.main, env={"HADOOP_CONF_DIR": hadoop_conf_dir})


def kubernetes_launcher() -> RecordedLauncher:
    """What ``spark-submit --master k8s://...`` does: the driver pod's POST, fabric8's output."""
    return RecordedLauncher(kubernetes_script.main)


__all__ = ["RecordedLauncher", "kubernetes_launcher", "yarn_launcher"]
