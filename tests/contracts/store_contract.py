"""The StateStore contract: every store the project ships runs these (see tests/stores)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from resumable_core import CompareAndSetStore, InvalidArgument, JsonValue, StateStore

VALUES: list[JsonValue] = [
    {"a": 1, "b": [1, 2.5, "x", None, True], "c": {"d": {}}},
    [1, 2, 3],
    "text with unicode ✓ and \"quotes\"",
    0,
    -1.25,
    False,
]


class StoreContract:
    """Subclass and provide a ``store`` fixture returning a fresh, empty store."""

    def test_missing_key_gives_default(self, store: StateStore) -> None:
        assert store.get("missing") is None
        assert store.get("missing", {"d": 1}) == {"d": 1}

    @pytest.mark.parametrize("value", VALUES)
    def test_round_trip(self, store: StateStore, value: JsonValue) -> None:
        store.set("k", value)
        assert store.get("k") == value
        assert type(store.get("k")) is type(value)

    def test_overwrite_and_delete(self, store: StateStore) -> None:
        store.set("k", {"v": 1})
        store.set("k", {"v": 2})
        assert store.get("k") == {"v": 2}
        store.delete("k")
        assert store.get("k") is None
        store.delete("k")  # deleting a missing key is not an error

    def test_keys_are_independent(self, store: StateStore) -> None:
        store.set("a", 1)
        store.set("b", 2)
        store.delete("a")
        assert store.get("a") is None
        assert store.get("b") == 2

    def test_returned_value_is_a_copy(self, store: StateStore) -> None:
        store.set("k", {"list": [1]})
        got = store.get("k")
        assert isinstance(got, dict)
        got["list"] = [2]
        assert store.get("k") == {"list": [1]}

    @pytest.mark.parametrize("bad", [None, float("nan"), (1, 2), {1: "int key"}, {"s": {1, 2}}])
    def test_bad_values_rejected_and_old_value_kept(self, store: StateStore, bad: object) -> None:
        store.set("k", {"kept": True})
        with pytest.raises(InvalidArgument):
            store.set("k", bad)  # type: ignore[arg-type]  # deliberately not JSON
        assert store.get("k") == {"kept": True}

    def test_empty_key_rejected(self, store: StateStore) -> None:
        with pytest.raises(InvalidArgument):
            store.set("", 1)

    # A lone surrogate is what Python makes of a non-UTF-8 byte in argv; NUL no store can hold.
    @pytest.mark.parametrize("bad_key", ["a\udcffb", "\ud800", "nul\x00key", ""])
    def test_keys_no_store_can_hold_are_refused_the_same_everywhere(self, store: StateStore, bad_key: str) -> None:
        store.set("k", {"kept": True})
        calls: list[Callable[[], object]] = [
            lambda: store.get(bad_key), lambda: store.set(bad_key, 1), lambda: store.delete(bad_key)
        ]
        if isinstance(store, CompareAndSetStore):
            cas = store
            calls.append(lambda: cas.compare_and_set(bad_key, None, 1))
        for call in calls:
            with pytest.raises(InvalidArgument, match="key"):
                call()
        assert store.get("k") == {"kept": True}

    def test_compare_and_set(self, store: StateStore) -> None:
        if not isinstance(store, CompareAndSetStore):
            pytest.skip("store has no compare-and-set")
        assert store.compare_and_set("k", None, {"rev": 1})
        assert not store.compare_and_set("k", None, {"rev": 9}), "expected absent, but present"
        assert not store.compare_and_set("k", {"rev": 0}, {"rev": 9}), "stale expectation"
        assert store.get("k") == {"rev": 1}
        assert store.compare_and_set("k", {"rev": 1}, {"rev": 2})
        assert store.get("k") == {"rev": 2}
        with pytest.raises(InvalidArgument):
            store.compare_and_set("k", {"rev": 2}, None)
        assert store.get("k") == {"rev": 2}

    def test_compare_and_set_compares_values_not_spelling(self, store: StateStore) -> None:
        if not isinstance(store, CompareAndSetStore):
            pytest.skip("store has no compare-and-set")
        store.set("k", {"b": 1, "a": [1.5, "x"]})
        assert store.compare_and_set("k", {"a": [1.5, "x"], "b": 1}, {"done": True})
