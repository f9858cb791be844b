"""The bridge in-process, with a toy operator written only against the mixin's hooks.

Airflow's own mixin tests (task-sdk ``test_resumablejobmixin.py``) cover: first
run; RUNNING/PENDING reconnect; SUCCEEDED returns without polling;
FAILED/KILLED/ERROR/UNKNOWN resubmit; a custom key; no store. Each holds here
through the bridge, with what the bridge does differently where the mixin is
wrong (a reconnect returns the result; UNKNOWN is not a failure; no store is
an error, not a silent loss of crash recovery). The operators run in this
process with a stand-in task instance and task state store; the real-Airflow
runs are in test_bridge_moto_in_airflow.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from resumable_adapters.airflow import AirflowStateStoreUnavailable, KillCause, TaskInterrupted
from resumable_adapters.airflow._bridge import ResumableJobBridge, resumable
from resumable_adapters.airflow._hook_job import adopt_stock_record, decode_external_id, encode_external_id
from resumable_adapters.airflow._references import DEFAULT_HOOKS, GLUE_HOOKS, REDSHIFT_DATA_HOOKS, reference_hooks_for
from resumable_core import (
    AmbiguousSubmission,
    InvalidArgument,
    JobFailed,
    MemoryStateStore,
    OnAmbiguous,
    Phase,
    Policy,
    PollPolicy,
    load_record,
)
from resumable_core.errors import TransientBudgetExhausted
from tests.airflow_bridge.toy import (
    Crash,
    FakeTaskInstance,
    FakeTaskStateStore,
    FindableToyOperator,
    ToyOperator,
    ToySystem,
    context_for,
    execute_at_once,
)

pytestmark = pytest.mark.airflow

NO_WAIT = PollPolicy(min_interval=0, max_interval=0, transient_attempts=3, transient_seconds=60)
KEY = "resumable_core.job"

ResumableToy: Any = resumable(ToyOperator)
ResumableFindableToy: Any = resumable(FindableToyOperator)


class Run:
    """One task instance: its system, its task state store, and a way to run a try of it."""

    def __init__(self, script: list[str] | None = None, *, id_shape: str = "str", findable: bool = False) -> None:
        self.system = ToySystem(id_shape=id_shape)
        if script is not None:
            self.system.script = script
        self.store = FakeTaskStateStore()
        self.ti = FakeTaskInstance()
        self.findable = findable

    def operator(self, **kwargs: Any) -> Any:
        kwargs.setdefault("poll", NO_WAIT)
        cls = ResumableFindableToy if self.findable else ResumableToy
        return cls(task_id="task", system=self.system, **kwargs)

    def run(self, **kwargs: Any) -> Any:
        return self.operator(**kwargs).execute(context_for(self.ti, self.store))

    def record_phase(self) -> Phase:
        record = self.store.values[KEY]
        return Phase(record["phase"])


# -- the shape -----------------------------------------------------------------------------


def test_resumable_is_a_subclass_taking_the_same_arguments() -> None:
    assert resumable(ToyOperator) is ResumableToy  # built once: isinstance and pickling see one class
    assert issubclass(ResumableToy, ToyOperator) and issubclass(ResumableToy, ResumableJobBridge)
    op = ResumableToy(task_id="t", system=ToySystem(), retries=2)
    assert op.retries == 2 and op.external_id_key == "toy_job_id"
    assert "resumable_state_key" in op.template_fields


def test_resumable_refuses_a_class_without_the_hooks() -> None:
    from airflow.sdk import BaseOperator

    with pytest.raises(InvalidArgument, match="submit_job"):
        resumable(BaseOperator)


def test_wait_for_completion_false_is_refused_with_the_reason() -> None:
    class NoWait(ToyOperator):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.wait_for_completion = False

    with pytest.raises(InvalidArgument, match="wait_for_completion=False"):
        resumable(NoWait)(task_id="t", system=ToySystem())


@pytest.mark.parametrize(
    "value",
    ["jr_1", "", "ünïcode \"quoted\"", ["q-1", "q-2"], {"namespace": "etl", "name": "pod-1"}, 7, [{"a": [1, None]}]],
)
def test_external_ids_round_trip_exactly(value: Any) -> None:
    encoded = encode_external_id(value)
    assert decode_external_id(encoded) == value
    assert type(decode_external_id(encoded)) is type(value)


def test_equal_dict_ids_encode_the_same() -> None:
    assert encode_external_id({"name": "p", "namespace": "n"}) == encode_external_id({"namespace": "n", "name": "p"})


def test_the_registry_finds_provider_entries_by_import_path() -> None:
    assert reference_hooks_for(ResumableFindableToy).name == "toy"
    assert reference_hooks_for(object) is DEFAULT_HOOKS
    assert GLUE_HOOKS.find is not None and REDSHIFT_DATA_HOOKS.idempotent
    assert not DEFAULT_HOOKS.carries_reference


# -- Airflow's mixin scenarios, through the bridge -------------------------------------------


def test_first_run_submits_records_and_returns_the_result() -> None:
    run = Run()
    assert run.run() == {"rows": 42, "id": "job-1"}
    assert run.system.calls["submit"] == 1
    assert run.record_phase() is Phase.SUCCEEDED
    # The stock key is kept current too, so switching back to the stock operator still reattaches.
    assert run.store.values["toy_job_id"] == "job-1"
    assert "hook:poll_until_complete" not in run.system.calls  # the core's poller replaces it


@pytest.mark.parametrize("status", ["RUNNING", "PENDING"])
def test_reconnect_to_a_running_job_returns_its_result(status: str) -> None:
    # The stock mixin stored the id and the worker died; the DAG now uses the bridge.
    run = Run()
    run.system.add("job-9", [status, "SUCCEEDED"])
    run.store.values["toy_job_id"] = "job-9"
    assert run.run() == {"rows": 42, "id": "job-9"}  # the mixin returns None here
    assert "submit" not in run.system.calls


def test_reconnect_after_a_crash_of_the_bridge_itself() -> None:
    run = Run(["RUNNING", "RUNNING", "SUCCEEDED"])
    run.system.status_errors = [Crash("worker died while polling")]
    with pytest.raises(Crash):
        run.run()
    assert run.record_phase() is Phase.SUBMITTED
    assert run.run() == {"rows": 42, "id": "job-1"}
    assert run.system.calls["submit"] == 1


def test_succeeded_returns_without_polling_or_resubmitting() -> None:
    run = Run()
    run.system.add("job-9", ["SUCCEEDED"])
    run.store.values["toy_job_id"] = "job-9"
    assert run.run() == {"rows": 42, "id": "job-9"}
    assert run.system.calls == {"hook:get_job_status": 1, "status": 1, "result": 1}
    # A later try reuses the recorded result without asking the system at all.
    run.run()
    assert run.system.calls == {"hook:get_job_status": 1, "status": 1, "result": 1}


@pytest.mark.parametrize("status", ["FAILED", "KILLED", "ERROR"])
def test_a_failed_stored_job_is_resubmitted(status: str) -> None:
    run = Run()
    run.system.add("job-9", [status])
    run.store.values["toy_job_id"] = "job-9"
    assert run.run() == {"rows": 42, "id": "job-1"}
    assert run.system.calls["submit"] == 1
    history = run.store.values[KEY]["history"]
    assert [h["job_id"] for h in history] == ['"job-9"', '"job-1"']


def test_unknown_is_retried_and_never_resubmitted() -> None:
    # The mixin resubmits on UNKNOWN (apache/airflow#19897): a job that may be running is duplicated.
    run = Run()
    run.system.add("job-9", ["UNKNOWN", "UNKNOWN", "RUNNING", "SUCCEEDED"])
    run.store.values["toy_job_id"] = "job-9"
    assert run.run() == {"rows": 42, "id": "job-9"}
    assert "submit" not in run.system.calls


def test_unknown_for_longer_than_the_budget_stops_without_submitting() -> None:
    run = Run()
    run.system.add("job-9", ["UNKNOWN"])
    run.store.values["toy_job_id"] = "job-9"
    with pytest.raises(TransientBudgetExhausted):
        run.run()
    assert "submit" not in run.system.calls
    assert run.record_phase() is Phase.SUBMITTED  # the next try asks again


def test_a_status_error_is_transient_never_not_found() -> None:
    run = Run(["RUNNING", "RUNNING", "SUCCEEDED"])
    run.system.status_errors = [ConnectionError("throttled"), TimeoutError("read timed out")]
    assert run.run() == {"rows": 42, "id": "job-1"}
    assert run.system.calls["submit"] == 1


def test_not_found_resubmits_by_policy() -> None:
    run = Run()
    run.store.values["toy_job_id"] = "job-gone"  # the system answers NOT_FOUND
    assert run.run() == {"rows": 42, "id": "job-1"}
    assert run.system.calls["submit"] == 1


def test_custom_external_id_key_is_read_and_written() -> None:
    class Custom(ToyOperator):
        external_id_key = "my_job_id"

    run = Run()
    run.system.add("job-9", ["RUNNING", "SUCCEEDED"])
    run.store.values["my_job_id"] = "job-9"
    op = resumable(Custom)(task_id="task", system=run.system, poll=NO_WAIT)
    assert op.execute(context_for(run.ti, run.store)) == {"rows": 42, "id": "job-9"}
    assert run.store.values["my_job_id"] == "job-9"
    assert "toy_job_id" not in run.store.values


def test_no_task_state_store_is_an_error_before_anything_is_submitted() -> None:
    # The mixin only logs a warning and runs without crash recovery.
    run = Run()
    with pytest.raises(AirflowStateStoreUnavailable, match="state_store="):
        run.operator().execute(context_for(run.ti, None))
    assert "submit" not in run.system.calls


def test_no_task_state_store_with_any_other_store() -> None:
    run = Run()
    store = MemoryStateStore()
    op = run.operator(state_store=store)
    assert op.execute(context_for(run.ti, None)) == {"rows": 42, "id": "job-1"}
    record = load_record(store, "airflow/dag/run/task/-1")
    assert record is not None and record.phase is Phase.SUCCEEDED


def test_durable_false_runs_the_stock_operator() -> None:
    run = Run()
    assert run.run(durable=False) == {"rows": 42, "id": "job-1"}
    assert run.system.calls["hook:poll_until_complete"] == 1
    assert run.store.values == {}


def test_a_failed_job_fails_the_try_and_the_retry_submits_afresh() -> None:
    run = Run(["RUNNING", "FAILED"])
    with pytest.raises(JobFailed):
        run.run()
    run.system.script = ["SUCCEEDED"]
    assert run.run() == {"rows": 42, "id": "job-2"}


# -- ids the mixin keeps as JSON -----------------------------------------------------------


@pytest.mark.parametrize("shape", ["list", "dict"])
def test_list_and_dict_ids_reach_the_hooks_unchanged(shape: str) -> None:
    run = Run(["RUNNING", "RUNNING", "SUCCEEDED"], id_shape=shape)
    run.system.status_errors = [Crash("died")]
    with pytest.raises(Crash):
        run.run()
    stored = run.store.values["toy_job_id"]
    assert stored == run.system.jobs[0].external_id  # the stock key holds the JSON value itself
    result = run.run()
    assert result["id"] == run.system.jobs[0].external_id
    assert run.system.calls["submit"] == 1


# -- the crash between submit and record ---------------------------------------------------


def test_crash_between_submit_and_record_is_found_by_reference() -> None:
    run = Run(findable=True)
    run.system.crash_after_submit = True
    with pytest.raises(Crash):
        run.run()
    assert run.record_phase() is Phase.INTENT
    assert run.run(policy=Policy(intent_lease=0.01)) == {"rows": 42, "id": "job-1"}
    assert run.system.calls["submit"] == 1 and run.system.calls["find"] == 1


def test_crash_between_submit_and_record_without_a_lookup_follows_policy() -> None:
    run = Run()
    run.system.crash_after_submit = True
    with pytest.raises(Crash):
        run.run(policy=Policy(intent_lease=0.01))  # the crashed try's lease: short, so nobody waits it out
    with pytest.raises(AmbiguousSubmission):
        run.run(policy=Policy(on_ambiguous=OnAmbiguous.FAIL, intent_lease=0.01))
    assert run.system.calls["submit"] == 1


# -- clear versus retry ----------------------------------------------------------------------


def test_a_retry_reuses_the_success_and_a_clear_submits_afresh() -> None:
    run = Run()
    run.run()
    run.ti.try_number = 2  # a retry: max_tries unchanged
    assert run.run() == {"rows": 42, "id": "job-1"}
    run.ti.try_number, run.ti.max_tries = 3, 3  # a clear raises max_tries
    assert run.run() == {"rows": 42, "id": "job-2"}
    assert run.system.calls["submit"] == 2


# -- kill by cause -----------------------------------------------------------------------------


class SigtermDuringPoll(ToyOperator):
    """Delivers on_kill() as the task runner's SIGTERM handler would, during the second status query."""

    def get_job_status(self, external_id: Any, context: Any) -> str:
        status = super().get_job_status(external_id, context)
        if self.system.calls["hook:get_job_status"] == 2:
            self.on_kill()
        return status


@pytest.mark.parametrize(
    ("state", "cause", "cancelled"),
    [("failed", KillCause.USER_ACTION, True), ("restarting", KillCause.USER_CLEAR, True),
     ("running", KillCause.WORKER_SHUTDOWN, False)],
)
def test_sigterm_cancels_through_the_operators_on_kill_by_cause(state: str, cause: KillCause, cancelled: bool) -> None:
    run = Run(["RUNNING"])
    run.ti.state = state
    op = resumable(SigtermDuringPoll)(task_id="task", system=run.system,
                                      poll=PollPolicy(min_interval=0.01, max_interval=0.01))
    with pytest.raises(TaskInterrupted) as caught:
        op.execute(context_for(run.ti, run.store))
    assert caught.value.cause is cause and caught.value.cancelled is cancelled
    assert caught.value.job_id == '"job-1"' and caught.value.key == KEY
    assert run.system.jobs[0].cancelled is cancelled
    assert run.system.calls.get("cancel", 0) == int(cancelled)
    expected = {KillCause.USER_ACTION: Phase.CANCELLED, KillCause.USER_CLEAR: Phase.FAILED,
                KillCause.WORKER_SHUTDOWN: Phase.SUBMITTED}[cause]
    assert run.record_phase() is expected


def test_a_clear_while_running_cancels_by_the_id_in_memory_when_the_store_no_longer_answers() -> None:
    """Airflow 3.3 gives a task instance cleared while running a new id: its task state store then
    answers the running try with "no such key". The job must still be stopped (the operator's own
    stop path, shared), and it is watched until it reports its end."""
    run = Run(["RUNNING"] * 3 + ["CANCELLED"])

    class ClearedDuringPoll(ToyOperator):
        def get_job_status(self, external_id: Any, context: Any) -> str:
            status = super().get_job_status(external_id, context)
            if self.system.calls["hook:get_job_status"] == 2:
                run.store.values.clear()  # the new id: the store has nothing for this try any more
                self.on_kill()
            return status

    run.ti.state = "restarting"
    op = resumable(ClearedDuringPoll)(task_id="task", system=run.system,
                                      poll=PollPolicy(min_interval=0.01, max_interval=0.01))
    with pytest.raises(TaskInterrupted) as caught:
        op.execute(context_for(run.ti, run.store))
    assert caught.value.cause is KillCause.USER_CLEAR and caught.value.cancelled
    assert run.system.calls.get("cancel", 0) == 1 and run.system.jobs[0].cancelled


def test_a_worker_shutdown_leaves_the_job_for_the_retry_to_reattach() -> None:
    run = Run(["RUNNING", "RUNNING", "SUCCEEDED"])
    op = resumable(SigtermDuringPoll)(task_id="task", system=run.system,
                                      poll=PollPolicy(min_interval=0.01, max_interval=0.01))
    with pytest.raises(TaskInterrupted):
        op.execute(context_for(run.ti, run.store))
    assert run.run() == {"rows": 42, "id": "job-1"}
    assert run.system.calls["submit"] == 1


def test_an_operator_whose_own_switch_is_off_is_never_cancelled() -> None:
    from resumable_adapters.airflow._references import ReferenceHooks, register_reference_hooks

    class SwitchedOff(SigtermDuringPoll):
        pass

    register_reference_hooks(SwitchedOff, ReferenceHooks(name="off", cancels=lambda operator: False))
    run = Run(["RUNNING"])
    run.ti.state = "failed"
    op = resumable(SwitchedOff)(task_id="task", system=run.system,
                                poll=PollPolicy(min_interval=0.01, max_interval=0.01))
    with pytest.raises(TaskInterrupted) as caught:
        op.execute(context_for(run.ti, run.store))
    assert caught.value.cancelled is False and "cancel" not in run.system.calls
    assert run.record_phase() is Phase.SUBMITTED  # no cancel recorded that never happened


# -- two tries at once -------------------------------------------------------------------------


def test_two_tries_at_once_on_a_compare_and_set_store_submit_once() -> None:
    system = ToySystem(script=["RUNNING"] * 5 + ["SUCCEEDED"])
    store = MemoryStateStore()
    results, errors = execute_at_once(
        lambda: ResumableToy(task_id="task", system=system, state_store=store, poll=NO_WAIT), timeout=30)
    assert errors == []
    assert system.calls["submit"] == 1
    assert results == [{"rows": 42, "id": "job-1"}] * 2


def test_adopting_a_stock_id_never_overwrites_a_record() -> None:
    store = MemoryStateStore()
    first = adopt_stock_record(store, "k", "job-1", generation="g")
    assert first is not None and first.phase is Phase.SUBMITTED and first.job_id == '"job-1"'
    assert adopt_stock_record(store, "k", "job-2", generation="g") is None
    record = load_record(store, "k")
    assert record is not None and record.job_id == '"job-1"'


def test_the_id_is_recorded_before_the_first_status_query() -> None:
    seen: list[Any] = []

    class Watching(ToyOperator):
        def get_job_status(self, external_id: Any, context: Any) -> str:
            seen.append(context["task_state_store"].values[KEY]["job_id"])
            return super().get_job_status(external_id, context)

    run = Run()
    resumable(Watching)(task_id="task", system=run.system, poll=NO_WAIT).execute(context_for(run.ti, run.store))
    assert seen[0] == '"job-1"'


def test_a_none_external_id_is_an_error_and_the_intent_stays() -> None:
    # The mixin goes on without storing anything: a retry then cannot reattach.
    from resumable_core import ProtocolError

    class NoneId(ToyOperator):
        def submit_job(self, context: Any) -> Any:
            return None

    run = Run()
    with pytest.raises(ProtocolError, match="returned None"):
        resumable(NoneId)(task_id="task", system=run.system, poll=NO_WAIT).execute(context_for(run.ti, run.store))
    assert run.record_phase() is Phase.INTENT


def test_durable_false_ignores_a_stored_id() -> None:
    run = Run()
    run.system.add("job-9", ["RUNNING"])
    run.store.values["toy_job_id"] = "job-9"
    assert run.run(durable=False) == {"rows": 42, "id": "job-1"}
    assert KEY not in run.store.values


# -- reference hooks of systems not run here -----------------------------------------------------


def test_databricks_hooks_put_the_reference_in_the_payload_for_one_submit_only() -> None:
    from types import SimpleNamespace

    from resumable_adapters.airflow._references import DATABRICKS_HOOKS

    operator = SimpleNamespace(json={"run_name": "etl"}, run_id=None)
    seen: list[dict[str, Any]] = []
    with DATABRICKS_HOOKS.attach(operator, {}, "ab" * 16):
        seen.append(operator.json)
    assert seen == [{"run_name": "etl", "idempotency_token": "ab" * 16}]
    assert operator.json == {"run_name": "etl"}  # restored: the next submission gets its own reference
    assert DATABRICKS_HOOKS.bind is not None
    DATABRICKS_HOOKS.bind(operator, 4711)
    assert operator.run_id == 4711
    assert DATABRICKS_HOOKS.idempotent and "NOT_FOUND:" in DATABRICKS_HOOKS.not_found_statuses


def test_databricks_entries_are_registered_by_import_path() -> None:
    from resumable_adapters.airflow._references import _REGISTRY

    for name in ("DatabricksSubmitRunOperator", "DatabricksRunNowOperator"):
        assert _REGISTRY[f"airflow.providers.databricks.operators.databricks.{name}"].name == "databricks"


def test_glue_hooks_restore_the_operators_arguments() -> None:
    from types import SimpleNamespace

    operator = SimpleNamespace(script_args={"--day": "1"})
    with GLUE_HOOKS.attach(operator, {}, "ref"):
        assert operator.script_args == {"--day": "1", "--resumable_reference": "ref"}
    assert operator.script_args == {"--day": "1"}


def test_a_timeout_cancels_through_on_kill_and_the_next_try_submits_afresh() -> None:
    from airflow.sdk.exceptions import AirflowTaskTimeout

    class TimesOut(ToyOperator):
        def get_job_status(self, external_id: Any, context: Any) -> str:
            status = super().get_job_status(external_id, context)
            if self.system.calls["hook:get_job_status"] == 2:
                raise AirflowTaskTimeout("execution_timeout")  # what SIGALRM raises mid-poll
            return status

    run = Run(["RUNNING"])
    op = resumable(TimesOut)(task_id="task", system=run.system, poll=NO_WAIT)
    try:
        op.execute(context_for(run.ti, run.store))
    except AirflowTaskTimeout:
        op.on_kill()  # the task runner calls it from its except block
    assert run.system.jobs[0].cancelled and run.system.calls["cancel"] == 1
    assert run.record_phase() is Phase.FAILED  # a timeout reruns: the retry submits afresh
    run.system.script = ["SUCCEEDED"]
    assert run.run() == {"rows": 42, "id": "job-2"}
