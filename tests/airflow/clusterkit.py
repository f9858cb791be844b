"""The Spark operator for the YARN / Kubernetes scenarios in real Airflow: triggers, a hook, status asks logged.

Imported by the DAG files of test_spark_cluster_managers_in_airflow.py inside the
Airflow process. The loopback servers run in the test's own process, so nothing here
can move an application or a pod; instead every status query is appended, with the try
that made it, to ``<jobs>/<task_id>/asked.jsonl``, and the test finishes the
application or pod once the try it waits for has asked (see ``Finisher`` there). That
keeps each job running exactly as long as a scenario needs, whatever a process costs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from resumable_adapters.airflow import ResumableSparkSubmitOperator
from resumable_core import ResumableJob
from tests.airflow.dagkit import SPARK_POLL
from tests.airflow.filejob import FileJobSystem, TriggeredJob

ASKED_LOG = "asked"


class AskedJob(TriggeredJob[Any]):
    """TriggeredJob that logs each status query with the try making it and the status it got.

    Logged once answered: a job ended as soon as the log shows the query would otherwise
    end before the try saw it running (a retry would reuse its result, not reattach).
    """

    def __init__(self, inner: ResumableJob[Any], system: FileJobSystem, hook: Callable[[], None] | None,
                 try_number: int) -> None:
        super().__init__(inner, system, hook)
        self.try_number = try_number

    def get_job_status(self, job_id: str) -> str:
        status = super().get_job_status(job_id)
        self.system.append(ASKED_LOG, {"try": self.try_number, "job_id": job_id, "status": status,
                                       "pid": os.getpid()})
        return status


class ClusterSparkOperator(ResumableSparkSubmitOperator):
    """ResumableSparkSubmitOperator with the test triggers (and *hook*) around its job."""

    def __init__(self, *, jobs: str, hook: Callable[[], None] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("poll", SPARK_POLL)
        super().__init__(**kwargs)
        self.system = FileJobSystem(os.path.join(jobs, self.task_id))
        self.hook = hook

    def make_job(self, context: Any) -> ResumableJob[Any]:
        return AskedJob(super().make_job(context), self.system, self.hook, int(context["ti"].try_number))
