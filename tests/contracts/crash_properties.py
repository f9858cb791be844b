"""The crash-injection properties over a real adapter: SparkYarnJob, SparkKubernetesJob, KubernetesPodJob.

The machinery is tests/core/_crash.py's (Caller, World, drive, Scheduler, the end-state
checks); what changes is the system under the jobs. Here it is a loopback server
(tests/services/yarn_rm.py, tests/services/kubernetes_api.py) on the harness's virtual
clock, reached by the adapter's own code: spark-submit's output parsed for the
application id or the fabric8 409, the tag or label lookup, the uid check, the REST
status, the kill or the delete with its uid precondition. Only the spark-submit process
is replaced, by the same recorded script called in-process
(tests/spark_yarn/recorded_launcher.py). The store is SQLite on a file, one connection
per caller.

Faults the fake system injects by itself are injected by the job proxy here
(``InjectedFaults``): TRANSIENT, the next N calls raise TransientError unsent;
LOSE_SUBMIT_RESPONSE, the launch happens and its caller sees a TransientError (a
spark-submit timeout). FORGET is the server's own: the ResourceManager forgets the
application (restarted without recovery), the API server collects the pod. REPLACE
(Kubernetes): the recorded pod is recreated under its name with a new uid.

The invariants are checked against the server's own list of applications or pods: the
proof that no second job ran. The adapter's test modules (tests/<adapter>/test_*crash_properties.py
and test_*crash_batched.py) get their hypothesis properties from ``crash_properties`` below: the
same three bodies, drawn from each adapter's faults with its own example counts.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from resumable_adapters.flink import FlinkJob
from resumable_adapters.kubernetes import KubernetesPodJob
from resumable_adapters.spark._kubernetes import REFERENCE_ANNOTATION, SparkKubernetesJob, parse_job_id
from resumable_adapters.spark._yarn import TAG_PREFIX, YARN_STATES_ACTIVE, SparkYarnJob
from resumable_core import CompareAndSetStore, JobCancelled, JobRecord, JsonValue, Policy, StateStore
from resumable_core.testing import FakeClock
from tests.core._crash import (
    ACTIVE_STATE,
    ANY_FAULT,
    CANCELLED_STATE,
    CHOICES,
    FAILED_STATE,
    GONE_STATE,
    LEASES,
    POLL,
    RESTART_ON,
    SUCCEEDED_STATE,
    Caller,
    Ending,
    Fault,
    FaultKind,
    FullJobProxy,
    InjectedFaults,
    Scheduler,
    SystemJob,
    World,
    check_cancel_kept,
    check_every_submission_in_history,
    check_full_run,
    check_result_matches_record,
    drive,
    operator_cancels,
    profile,
    proxy_store,
    run_interleaved,
    schedules,
    stores,
)
from tests.services.kubernetes_api import KubernetesApiServer
from tests.services.yarn_rm import YarnResourceManager

KEY = "dag/run/spark-crash"
RUN_SECONDS = 1.5  # an application's run on the virtual clock: one or two polls (POLL starts at 1 s)
EXIT_FAILED = 3
SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"  # what OUTCOMES draws, one per submission
OUTCOMES = st.lists(st.sampled_from([SUCCEEDED, FAILED]), max_size=2)
K8S_FAULT = st.one_of(ANY_FAULT, st.just(Fault(FaultKind.REPLACE)))  # the shared faults and REPLACE


class AdapterCluster(InjectedFaults):
    """A loopback server as a ClusterView: each submission's outcome drawn, forgotten jobs remembered."""

    def __init__(self, outcomes: Sequence[str]) -> None:
        super().__init__()
        self.outcomes = list(outcomes)
        self.forgotten: dict[str, SystemJob] = {}

    def next_succeeds(self) -> bool:
        return (self.outcomes.pop(0) if self.outcomes else SUCCEEDED) == SUCCEEDED

    def jobs(self) -> list[SystemJob]:
        raise NotImplementedError

    def forget(self, job_id: str) -> None:
        raise NotImplementedError

    def replace(self, job_id: str) -> None:
        raise NotImplementedError

    def result_job_id(self, result: JsonValue) -> str:
        raise NotImplementedError

    def remember_forgotten(self, job: SystemJob) -> None:
        # Gone from the server: it runs nowhere any more, but it was submitted (the history must name it).
        state = GONE_STATE if job.active else job.state
        self.forgotten[job.job_id] = SystemJob(job.job_id, job.reference, state, forgotten=True)


class YarnCluster(AdapterCluster):
    """The loopback ResourceManager, reset for one example and driven by its virtual clock."""

    def __init__(self, rm: YarnResourceManager, clock: FakeClock, outcomes: Sequence[str]) -> None:
        super().__init__(outcomes)
        self.rm = rm
        rm.reset(clock)
        rm.plan_for = self.plan

    def plan(self, args: list[str]) -> list[tuple[float, str, str]]:
        final = SUCCEEDED if self.next_succeeds() else FAILED
        return [(0.1, "RUNNING", "UNDEFINED"), (0.1 + RUN_SECONDS, "FINISHED", final)]

    def jobs(self) -> list[SystemJob]:
        held = [self._job(app) for app in self.rm.applications()]
        return held + list(self.forgotten.values())

    def forget(self, job_id: str) -> None:
        held = next((j for j in self.jobs() if j.job_id == job_id and not j.forgotten), None)
        if held is not None:
            self.remember_forgotten(held)
            self.rm.forget(job_id)

    def replace(self, job_id: str) -> None:
        raise AssertionError("YARN names no application but by its id: REPLACE is for Kubernetes")

    def result_job_id(self, result: JsonValue) -> str:
        assert isinstance(result, dict), result
        assert (result["state"], result["final_status"]) == ("FINISHED", "SUCCEEDED"), result
        return str(result["application_id"])

    @staticmethod
    def _job(app: dict[str, Any]) -> SystemJob:
        tags = [t for t in str(app["applicationTags"]).split(",") if t.startswith(TAG_PREFIX)]
        assert len(tags) == 1, app  # every application here is a submission of the adapter
        state, final = app["state"], app["finalStatus"]
        if app["killRequested"] and state in YARN_STATES_ACTIVE:
            kind = CANCELLED_STATE  # a 202 kill under way: it ends KILLED, its plan stopped
        elif state in YARN_STATES_ACTIVE:
            kind = ACTIVE_STATE
        elif (state, final) == ("FINISHED", SUCCEEDED):
            kind = SUCCEEDED_STATE
        else:
            kind = CANCELLED_STATE if state == "KILLED" else FAILED_STATE
        # The tag is the reference itself: the core's references are 32 hex digits (reference_slug).
        return SystemJob(str(app["id"]), tags[0][len(TAG_PREFIX):], kind)


class KubernetesCluster(AdapterCluster):
    """The loopback API server, reset for one example and driven by its virtual clock.

    Every pod created since the reset counts, removed ones too (``pods_ever``), but the
    pods REPLACE recreated: nobody submitted those, and they must never be adopted.
    """

    def __init__(self, server: KubernetesApiServer, clock: FakeClock, outcomes: Sequence[str]) -> None:
        super().__init__(outcomes)
        self.server = server
        self.replaced: set[str] = set()  # uids of the recreated pods
        self._recreating = False
        server.reset(clock)
        server.plan_for = self.plan

    def plan(self, pod: dict[str, Any]) -> list[tuple[float, str, int | None]]:
        # A recreated pod runs its copied spec to success, and takes no drawn outcome.
        code = 0 if self._recreating or self.next_succeeds() else EXIT_FAILED
        return [(0.1, "Running", None), (0.1 + RUN_SECONDS, "Succeeded" if code == 0 else "Failed", code)]

    def jobs(self) -> list[SystemJob]:
        found = []
        for pod in self.server.pods_ever():
            meta = pod["metadata"]
            if meta["uid"] in self.replaced:
                continue
            job_id = f"{meta['namespace']}/{meta['name']}/{meta['uid']}"
            if job_id in self.forgotten:
                found.append(self.forgotten[job_id])
                continue
            job = SystemJob(job_id, meta["annotations"][REFERENCE_ANNOTATION], self._state(pod))
            if meta["removed"] and "deletionTimestamp" not in meta:
                # Removed at once by someone else (REPLACE deletes it to recreate it): lost to the adapter.
                job = SystemJob(job.job_id, job.reference, GONE_STATE if job.active else job.state, forgotten=True)
            found.append(job)
        return found

    def forget(self, job_id: str) -> None:
        held = self._held(job_id)
        if held is not None:
            job = next(j for j in self.jobs() if j.job_id == job_id)
            self.remember_forgotten(job)
            self.server.collect(held[1], held[0])

    def replace(self, job_id: str) -> None:
        held = self._held(job_id)
        if held is not None:
            self._recreating = True
            try:
                self.replaced.add(self.server.recreate(held[1], held[0]))
            finally:
                self._recreating = False

    def result_job_id(self, result: JsonValue) -> str:
        assert isinstance(result, dict), result
        assert result["phase"] == "Succeeded" and result["exit_code"] == 0, result
        return f"{result['namespace']}/{result['pod']}/{result['uid']}"

    def never_adopted(self, world: World) -> str | None:
        """A step check: no record names a recreated pod (apache/airflow#71743)."""
        record = world.record()
        named = {h.job_id for h in record.history} | {record.job_id} if record is not None else set()
        adopted = sorted(j for j in named if j is not None and parse_job_id(j)[2] in self.replaced)
        return f"a recreated pod was adopted: {adopted}" if adopted else None

    def _held(self, job_id: str) -> tuple[str, str] | None:
        """(namespace, name) when the server still holds the pod with that uid, not yet deleted."""
        namespace, name, uid = parse_job_id(job_id)
        pod = self.server.pod(name, namespace)
        if pod is None or pod["metadata"]["uid"] != uid or "deletionTimestamp" in pod["metadata"]:
            return None
        return namespace, name

    @staticmethod
    def _state(pod: dict[str, Any]) -> str:
        phase = pod["status"]["phase"]
        deleting = "deletionTimestamp" in pod["metadata"]
        if phase in ("Pending", "Running"):
            # Deleted, in its grace period: being stopped (the adapter says Terminating), not live.
            return CANCELLED_STATE if deleting else ACTIVE_STATE
        if phase == "Succeeded":
            return SUCCEEDED_STATE
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        # The loopback kubelet's SIGTERM of a pod deleted while it ran: the adapter's cancel.
        return CANCELLED_STATE if deleting and terminated["exitCode"] == 143 else FAILED_STATE


AdapterJob = SparkYarnJob | SparkKubernetesJob | KubernetesPodJob | FlinkJob  # the driver pod and any pod alike


@dataclass
class Adapter:
    """One adapter's side of the properties.

    *cluster*: a fresh view for one example (it resets the module's server onto the
    example's clock). *make_job*: a new adapter job, as a new process builds it (the
    adapter's memory, a cached status or the pods it deleted, dies with a crash).
    """

    cluster: Callable[[FakeClock, Sequence[str]], AdapterCluster]
    make_job: Callable[[], AdapterJob]

    def world(self, checker: StateStore, outcomes: Sequence[str], **options: Any) -> World:
        clock = FakeClock()
        cluster = self.cluster(clock, outcomes)
        checks = [cluster.never_adopted] if isinstance(cluster, KubernetesCluster) else []
        return World(cluster, checker, KEY, clock=clock, step_checks=checks, **options)

    def proxy(self, caller: Caller) -> FullJobProxy:
        return FullJobProxy(self.make_job(), caller, remake=self.make_job)


def job_ids(world: World) -> list[str]:
    return sorted(j.job_id for j in world.cluster.jobs())


# -- the properties' bodies ---------------------------------------------------------------------


def one_caller_crashing(adapter: Adapter, faults: dict[int, Fault], outcomes: list[str], lease: float,
                        forget_after: bool, reruns: int) -> tuple[World, JobRecord]:
    """One caller restarted after every crash until it returns; then (when *forget_after*) the
    system forgets the succeeded job (an RM restarted without recovery, a pod collected),
    and later runs, still crashing on schedule, return the recorded result and submit nothing."""
    with stores("sqlite") as made:
        world = adapter.world(made.open(), outcomes, at_most_one_live=True)
        caller = Caller(world, faults)
        store = made.open()
        ending = drive(caller, adapter.proxy(caller), proxy_store(store, caller), policy=Policy(intent_lease=lease),
                       poll=POLL, restart_on=RESTART_ON)
        check_full_run(world, caller, ending, faults)
        record = world.record()
        assert record is not None and record.job_id is not None
        if forget_after:
            world.cluster.forget(record.job_id)
        submitted, jobs = world.submits, job_ids(world)
        for _ in range(reruns):
            again = drive(caller, adapter.proxy(caller), proxy_store(store, caller), policy=Policy(), poll=POLL,
                          restart_on=RESTART_ON)
            assert again.result == ending.result
            assert world.submits == submitted and job_ids(world) == jobs, "a recorded success was redone"
        assert not world.violations
        return world, record  # the record read while the store is open


def two_callers_on_one_key(adapter: Adapter, faults: tuple[dict[int, Fault], dict[int, Fault]],
                           choices: list[int], outcomes: list[str], lease: float) -> tuple[World, list[Ending]]:
    """Two processes run the key at once, interleaved step by step, crashing on schedule."""
    with stores("sqlite") as made:
        checker = made.open()
        assert isinstance(checker, CompareAndSetStore)
        world = adapter.world(checker, outcomes, at_most_one_live=True)
        scheduler = Scheduler(2, choices, world.clock)
        policy = Policy(intent_lease=lease)

        def body(index: int) -> Callable[[], Ending]:
            caller = Caller(world, faults[index], scheduler=scheduler, index=index)
            job, store = adapter.proxy(caller), proxy_store(made.open(), caller)
            return lambda: drive(caller, job, store, policy=policy, poll=POLL, restart_on=RESTART_ON)

        endings = run_interleaved(scheduler, [body(0), body(1)])
        assert not world.violations
        assert len(endings) == 2
        for ending in endings:
            check_result_matches_record(world, ending.result)
        check_every_submission_in_history(world)
        return world, endings


def operator_cancels_mid_run(adapter: Adapter, faults: dict[int, Fault], cancel_after: int, choices: list[int],
                             outcomes: list[str], lease: float) -> tuple[World, Ending]:
    """cancel_resumable from another process once the runner took *cancel_after* steps: the
    cancel is kept (no new submission, nothing left running, the record stays cancelled)."""
    with stores("sqlite") as made:
        world = adapter.world(made.open(), outcomes, at_most_one_live=True)
        scheduler = Scheduler(2, choices, world.clock)
        runner = Caller(world, faults, scheduler=scheduler, index=0)
        job, store = adapter.proxy(runner), proxy_store(made.open(), runner)

        def run() -> Ending:
            return drive(runner, job, store, policy=Policy(intent_lease=lease), poll=POLL, restart_on=RESTART_ON,
                         stop_on=(JobCancelled,))

        operator = operator_cancels(world, made.open(), scheduler, runner, index=1, after_steps=cancel_after,
                                    job=adapter.make_job())
        ending, _ = run_interleaved(scheduler, [run, operator])
        assert not world.violations
        if world.cancel is None:  # nothing was under way to cancel
            check_full_run(world, runner, ending, faults)
        else:
            check_cancel_kept(world, ending)
            check_every_submission_in_history(world)
        return world, ending


# -- the properties themselves, for each adapter's module ----------------------------------------

PropertyTest = Callable[..., None]


def listings_counted(adapter: Adapter) -> tuple[Adapter, list[list[str]]]:
    """*adapter* whose jobs record the ids each of their status listings asks for: the proof that a
    batched run's checks went through the listing, before the direct ask."""
    listings: list[list[str]] = []

    def make_job() -> AdapterJob:
        job = adapter.make_job()
        listing = job.get_job_statuses  # each AdapterJob batches

        def counted(job_ids: Sequence[str]) -> Mapping[str, str]:
            listings.append(list(job_ids))
            answer: Mapping[str, str] = listing(job_ids)
            return answer

        job.get_job_statuses = counted  # type: ignore[method-assign]  # this instance only
        return job

    return Adapter(adapter.cluster, make_job), listings


def crash_properties(
    fixture: str,
    fault: st.SearchStrategy[Fault],
    *,
    examples: tuple[int, ...],
    last_steps: tuple[int, ...] = (60, 50, 50),
    cancel_after: int = 30,
    around: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
) -> tuple[PropertyTest, ...]:
    """The hypothesis properties of one adapter, for its module to bind to names starting ``test_``.

    In order: one caller crashing, two callers on one key, an operator's cancel mid-run
    (the bodies above), as many as *examples* has counts (each the property's ``profile``).
    *fixture*: the name of the module's fixture giving the Adapter; *fault*: what a schedule
    injects, at steps up to ``last_steps[i]``; *cancel_after*: the last step the operator's
    cancel may come after; *around*: entered around each example (``batched_status``).

    hypothesis runs a test function per module, so each call makes new functions; pytest finds
    the fixture by the parameter name the function's signature gives.
    """
    assert 1 <= len(examples) <= len(last_steps) <= 3, (examples, last_steps)

    def drawn(index: int) -> tuple[Callable[..., object], dict[str, st.SearchStrategy[Any]]]:
        faults = schedules(fault, last_steps[index])
        if index == 0:
            return one_caller_crashing, {"faults": faults, "outcomes": OUTCOMES, "lease": LEASES,
                                         "forget_after": st.booleans(), "reruns": st.integers(0, 1)}
        if index == 1:
            return two_callers_on_one_key, {"faults": st.tuples(faults, faults),
                                            "choices": CHOICES, "outcomes": OUTCOMES, "lease": LEASES}
        return operator_cancels_mid_run, {"faults": faults, "cancel_after": st.integers(0, cancel_after),
                                          "choices": CHOICES, "outcomes": OUTCOMES, "lease": LEASES}

    return tuple(_property(fixture, *drawn(index), count, around) for index, count in enumerate(examples))


def _property(fixture: str, body: Callable[..., object], strategies: dict[str, st.SearchStrategy[Any]], count: int,
              around: Callable[[], contextlib.AbstractContextManager[object]]) -> PropertyTest:
    signature = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in (fixture, *strategies)])

    def test(*args: Any, **kwargs: Any) -> None:
        arguments = signature.bind(*args, **kwargs).arguments  # hypothesis passes them by position
        with around():
            body(arguments.pop(fixture), **arguments)

    test.__signature__ = signature  # type: ignore[attr-defined]  # what pytest and hypothesis read
    test.__name__ = test.__qualname__ = body.__name__  # what hypothesis names in a falsifying example
    made: PropertyTest = profile(count)(given(**strategies)(test))
    return made


__all__ = [
    "EXIT_FAILED",
    "FAILED",
    "K8S_FAULT",
    "KEY",
    "OUTCOMES",
    "SUCCEEDED",
    "Adapter",
    "AdapterCluster",
    "KubernetesCluster",
    "YarnCluster",
    "crash_properties",
    "one_caller_crashing",
    "operator_cancels_mid_run",
    "two_callers_on_one_key",
]
