"""The record's JSON form and what happens with values that are not ours."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resumable_core import InvalidArgument, JobRecord, JsonValue, MemoryStateStore, Phase, RecordCorrupt, run_resumable
from resumable_core._record import HISTORY_LIMIT, new_intent
from resumable_core.errors import RecordFromNewerVersion
from resumable_core.record import SCHEMA_VERSION
from resumable_core.store import is_json
from resumable_core.testing import FakeExternalSystem, FakeJob


def sample() -> JobRecord:
    return new_intent("k", "ref", 10.0, previous=None, fingerprint="f", generation="g", owner="o", lease_until=20.0)


def test_round_trip_through_json_text() -> None:
    record = sample().evolve(11.0, phase=Phase.SUBMITTED, job_id="j", has_result=True, result={"x": [1, 2]})
    text = json.dumps(record.to_json())
    assert JobRecord.from_json("k", json.loads(text)) == record


@pytest.mark.parametrize(
    "value",
    [
        "a string",
        [1, 2],
        {"remote_job_id": "driver-1"},  # what Airflow's own mixin stores
        {"schema": "resumable-core/record"},
        {"schema": "resumable-core/record", "version": "1"},
    ],
)
def test_foreign_values_are_corrupt_and_name_the_key(value: object) -> None:
    with pytest.raises(RecordCorrupt) as info:
        JobRecord.from_json("my-key", value)  # type: ignore[arg-type]
    assert info.value.key == "my-key" and "my-key" in str(info.value)


def test_each_malformed_field_is_corrupt() -> None:
    good = sample().to_json()
    cases: list[tuple[str, JsonValue]] = [
        ("phase", "exploded"), ("revision", "1"), ("history", {}), ("has_result", 1), ("job_id", 5), ("key", "other")
    ]
    for field, bad in cases:
        broken = dict(good)
        broken[field] = bad
        with pytest.raises(RecordCorrupt):
            JobRecord.from_json("k", broken)


def test_newer_schema_is_refused_and_not_overwritten() -> None:
    store = MemoryStateStore()
    newer = dict(sample().to_json(), version=SCHEMA_VERSION + 1)
    store.set("k", newer)
    with pytest.raises(RecordFromNewerVersion):
        run_resumable(FakeJob(FakeExternalSystem()), store, key="k")
    assert store.get("k") == newer


def test_history_is_bounded() -> None:
    store = MemoryStateStore()
    system = FakeExternalSystem(running_polls=0)
    for _ in range(HISTORY_LIMIT + 5):
        run_resumable(FakeJob(system), store, key="k", fresh=True, sleep=lambda s: None)
    record = JobRecord.from_json("k", store.get("k"))
    assert len(record.history) == HISTORY_LIMIT
    assert record.history[-1].job_id == system.submissions()[-1]


@pytest.mark.parametrize("key", ["", "   ", "a\nb", 5, None, "x" * 600])
def test_bad_keys_are_rejected_before_anything_happens(key: object) -> None:
    system = FakeExternalSystem()
    with pytest.raises(InvalidArgument):
        run_resumable(FakeJob(system), MemoryStateStore(), key=key)  # type: ignore[arg-type]
    assert system.submissions() == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


# No per-example deadline and no too-slow check: Hypothesis's defaults (200 ms an example) time
# the machine, and a busy one fails them with nothing wrong in the code.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_is_json_accepts_exactly_what_round_trips(value: object) -> None:
    assert is_json(value)
    assert json.loads(json.dumps(value)) == value


@pytest.mark.parametrize("value", [(1,), {1: 2}, float("nan"), float("inf"), {"a": {1, 2}}, b"x", object()])
def test_is_json_rejects_what_would_come_back_different(value: object) -> None:
    assert not is_json(value)


def test_an_accepted_intent_round_trips_and_is_refused_by_a_reader_of_version_1() -> None:
    accepted = sample().evolve(11.0, accepted=True, lease_until=None)
    value = accepted.to_json()
    assert value["version"] == SCHEMA_VERSION == 2 and value["accepted"] is True
    assert JobRecord.from_json("k", json.loads(json.dumps(value))) == accepted
    # Every other record stays version 1, without the field: an older library still reads it,
    # and refuses (RecordFromNewerVersion) only the record it would misread as resubmittable.
    plain = sample().to_json()
    assert plain["version"] == 1 and "accepted" not in plain
    assert JobRecord.from_json("k", plain).accepted is False
    assert accepted.with_job_id(12.0, "j").to_json()["version"] == 1


def test_a_malformed_accepted_flag_is_corrupt() -> None:
    with pytest.raises(RecordCorrupt):
        JobRecord.from_json("k", dict(sample().to_json(), version=2, accepted="yes"))
