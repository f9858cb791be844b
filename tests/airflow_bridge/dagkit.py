"""What the bridge's test DAG files use: the provider operators with crash and signal triggers.

Imported by DAG files inside the Airflow process (PYTHONPATH is the repo root).
A trigger is a file ``<triggers>/<name>``: a test creates it, the task consumes
it at the chosen point, so each process misbehaves exactly once.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.amazon.aws.operators.redshift_data import RedshiftDataOperator

from resumable_adapters.airflow._bridge import ResumableJobBridge
from tests.airflow.dagkit import FAST_POLL as FAST
from tests.airflow.dagkit import set_state_then_sigterm, take
from tests.airflow.filejob import CRASH_EXIT_CODE


class TriggeredGlue(ResumableJobBridge, GlueJobOperator):
    """GlueJobOperator through the bridge (the subclass form), dying where a test says."""

    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST)
        super().__init__(**kwargs)
        self.triggers = triggers

    def submit_job(self, context: Any) -> str:
        run_id = super().submit_job(context)
        if take(self.triggers, "crash-after-submit"):  # Glue has the run; the bridge has no id yet
            os._exit(CRASH_EXIT_CODE)
        return run_id

    def get_job_status(self, external_id: Any, context: Any) -> str:
        if take(self.triggers, "crash-while-polling"):  # the id is recorded, the run goes on
            os._exit(CRASH_EXIT_CODE)
        return super().get_job_status(external_id, context)


class TriggeredStockGlue(GlueJobOperator):
    """The stock GlueJobOperator (Airflow's own mixin), dying while it polls."""

    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.triggers = triggers

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        if take(self.triggers, "crash-while-polling"):  # the mixin stored the id just before
            os._exit(CRASH_EXIT_CODE)
        super().poll_until_complete(external_id, context)


class TriggeredRedshiftData(ResumableJobBridge, RedshiftDataOperator):
    """RedshiftDataOperator through the bridge, stopped by a signal where a test says."""

    def __init__(self, *, triggers: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll", FAST)
        super().__init__(**kwargs)
        self.triggers = triggers

    def get_job_status(self, external_id: Any, context: Any) -> str:
        if take(self.triggers, "worker-shutdown"):  # the supervisor forwards its own SIGTERM
            os.kill(os.getpid(), signal.SIGTERM)
        if take(self.triggers, "mark-failed"):
            set_state_then_sigterm(self.dag_id, "failed")()  # a user's mark-failed
        status: str = super().get_job_status(external_id, context)
        return status
