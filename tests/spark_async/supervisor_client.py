"""A Supervisor process for the crash test: AsyncSparkRestJob on the real cluster, one SQLite file.

``python -m tests.spark_async.supervisor_client '<json config>'`` supervises ``keys`` keys and
prints one JSON line per thing the test waits for. With ``"hold": true`` (the run to be
SIGKILLed) each key's submit goes one of three ways, by its number, so that the kill finds
every kind of submission in flight at once:

- ``n % 3 == 0``: submitted and recorded as usual (``{"recorded": key}`` once the id is);
- ``n % 3 == 1``: the master accepts the driver, then the submit never returns
  (``{"accepted": driver_id}``): killed between accept and persist;
- ``n % 3 == 2``: the intent is written, then the submit never starts (``{"holding": key}``).

Without ``hold`` every key runs to its end and ``{"outcomes": {key: driver id or error}}`` ends.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from resumable_adapters.spark import AsyncSparkRestClient, AsyncSparkRestJob, SparkSubmission
from resumable_adapters.sqlite import SqliteStateStore
from resumable_core import Event, Policy, PollPolicy
from resumable_core.aio import Supervisor
from resumable_core.events import Submitted


def emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, default=str), flush=True)


class HeldJob(AsyncSparkRestJob):
    """Holds its submit before or after the master took it, as the test's *way* says."""

    def __init__(self, *args: Any, key: str, way: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key, self.way = key, way

    async def submit_job(self, reference: str) -> str:
        if self.way == 2:
            emit({"holding": self.key})
            await asyncio.Event().wait()  # until SIGKILL
        driver_id = await super().submit_job(reference)
        if self.way == 1:
            emit({"accepted": driver_id, "key": self.key})
            await asyncio.Event().wait()  # until SIGKILL: the id is never persisted
        return driver_id


def on_event(event: Event) -> None:
    if isinstance(event, Submitted):
        emit({"recorded": event.key, "driver_id": event.job_id})


async def main(config: dict[str, Any]) -> None:
    submission = SparkSubmission(app_resource=config["app_resource"], main_class=config["main_class"],
                                 app_args=("0.5", "0"), driver_memory="256m", name="supervisor-crash")
    poll = PollPolicy(min_interval=0.2, max_interval=1.0, jitter=0.0, transient_attempts=60, transient_seconds=300)
    with SqliteStateStore(config["db"]) as store:
        async with AsyncSparkRestClient(config["rest_url"], web_ui_url=config["web_ui_url"], timeout=10.0) as client:
            supervisor = Supervisor(store, policy=Policy(intent_lease=config["lease"]), listener=on_event)
            for n in range(config["keys"]):
                key = f"etl/{n}"
                options: dict[str, Any] = dict(find_wait=300.0, find_interval=0.5)
                job = (HeldJob(client, submission, key=key, way=n % 3, **options) if config.get("hold")
                       else AsyncSparkRestJob(client, submission, **options))
                supervisor.add(job, key=key, poll=poll)
            outcomes = await supervisor.run()
    emit({"outcomes": {key: (o.result["driver_id"] if o.ok else f"{type(o.error).__name__}: {o.error}")  # type: ignore[index]
                       for key, o in outcomes.items()}})


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
    sys.exit(0)
