"""ResumableKubernetesPodOperator for the scenarios in real Airflow: triggers, a hook, status asks logged.

Imported by the DAG file of test_pod_operator_in_airflow.py inside the Airflow process.
The loopback API server runs in the test's process: every status query is logged with
the try that made it (tests/airflow/clusterkit.py's ``AskedJob``), and the test ends a
pod once the try it waits for has asked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from resumable_adapters.airflow import ResumableKubernetesPodOperator
from resumable_core import ResumableJob
from tests.airflow.clusterkit import AskedJob
from tests.airflow.dagkit import SPARK_POLL
from tests.airflow.filejob import FileJobSystem


class ClusterPodOperator(ResumableKubernetesPodOperator):
    """ResumableKubernetesPodOperator with the test triggers (and *hook*) around its pod job."""

    def __init__(self, *, jobs: str, hook: Callable[[], None] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("poll", SPARK_POLL)
        super().__init__(**kwargs)
        self.system = FileJobSystem(os.path.join(jobs, self.task_id))
        self.trigger_hook = hook  # not "hook": KubernetesPodOperator's KubernetesHook has that name

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return AskedJob(super().make_job(context), self.system, self.trigger_hook, int(context["ti"].try_number))
