"""Shared fixtures: the store contract's parametrisation and the real services' plugins."""

from __future__ import annotations

import importlib.util
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from resumable_core import JsonValue, MemoryStateStore, StateStore

# Each service plugin starts its real server lazily, only for tests that ask for it.
pytest_plugins = [
    name
    for name in ("tests.services.spark", "tests.services.postgres", "tests.services.kdc", "tests.services.flink")
    if importlib.util.find_spec(name) is not None
]

class PlainStore:
    """A store without compare-and-set, like Airflow's task_state_store: the core's other write path."""

    def __init__(self) -> None:
        self._inner = MemoryStateStore()

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        return self._inner.get(key, default)

    def set(self, key: str, value: JsonValue) -> None:
        self._inner.set(key, value)

    def delete(self, key: str) -> None:
        self._inner.delete(key)


STORE_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("plain", id="plain"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


_GUARDED = (signal.SIGINT, signal.SIGTERM)
_last_test: list[str] = ["(none: the first test of this worker)"]


def _signals_off() -> list[str]:
    """The guarded signals this thread has blocked, or this process ignores, as the kernel says:
    what a child process started now would inherit (a C library's sigaction included, which
    ``signal.getsignal`` does not see)."""
    masks: dict[str, int] = {}
    with open(f"/proc/self/task/{threading.get_native_id()}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("SigIgn", "SigBlk"):
                masks[name] = int(value.strip(), 16)
    return [f"{signal.Signals(s).name} {'ignored' if kind == 'SigIgn' else 'blocked'}"
            for kind, mask in sorted(masks.items()) for s in _GUARDED if mask >> (s - 1) & 1]


def pytest_configure(config: pytest.Config) -> None:
    """Give the suite's processes SIGINT as a terminal gives it, however the suite was launched.

    A shell starts a background job (``nohup ... &``, ``cmd &`` in a script, some CI runners) with
    SIGINT ignored, and an ignored signal is inherited: every CLI a test starts would then be deaf
    to Ctrl-C (seen: a test's Ctrl-C did nothing, and the next test's pty read waited out its
    600 s job). Each pytest process (the xdist workers too) puts Python's own handler back."""
    if f"{signal.Signals.SIGINT.name} ignored" in _signals_off():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _put_back(handlers: dict[int, object]) -> None:
    for s, h in handlers.items():
        if h is not None:  # None: set outside Python, nothing to put back from here
            signal.signal(s, h)  # type: ignore[arg-type]  # what getsignal gave
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _GUARDED)


@pytest.fixture(autouse=True)
def _signals_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test finds SIGINT and SIGTERM handled, not ignored nor blocked, and leaves them so.

    A child process inherits an ignored or blocked signal (pytest_configure above): whatever
    changes them during the run is failed here, by name, and the signals are put back for the
    tests after it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers: dict[int, object] = {s: signal.getsignal(s) for s in _GUARDED}
    found = _signals_off()
    if found:
        _put_back({signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL})
        previous = _last_test[0]
        _last_test[0] = request.node.nodeid
        pytest.fail(f"{', '.join(found)} before this test: left by a fixture set up for it or by the test "
                     f"before it in this worker ({previous})")
    _last_test[0] = request.node.nodeid
    yield
    changed = [f"{signal.Signals(s).name} handler {h!r} -> {signal.getsignal(s)!r}"
               for s, h in handlers.items() if signal.getsignal(s) is not h] + _signals_off()
    _put_back(handlers)
    if changed:
        pytest.fail(f"the test left signals otherwise than it found them: {'; '.join(changed)}")


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Every StateStore the project ships, fresh for each test."""
    kind = request.param
    if kind == "memory":
        yield MemoryStateStore()
    elif kind == "plain":
        yield PlainStore()
    elif kind == "sqlite":
        from resumable_adapters.sqlite import SqliteStateStore

        with SqliteStateStore(tmp_path / "state.db") as sqlite_store:
            yield sqlite_store
    else:
        postgres_store: StateStore = request.getfixturevalue("postgres_store")
        yield postgres_store
