"""A deadline for one HTTP call as a whole: connect, send, headers and body.

urllib3's timeouts bound each socket operation, so a server that trickles one byte per
second never trips them. Here a timer shuts the call's socket down when the call's time
is up, which ends whatever read or write is blocked on it; the caller then sees
``expired`` and reports a transient error.

The socket is found through the connection class: the pools this client uses get a
subclass of their connection class that registers itself with the call running in this
thread (a context variable), so an injected pool works too. A connection made before
the client first used that pool stays unwatched, and is still bounded per operation.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import urllib3


class CallWatch:
    """One call's deadline: ``expired`` is True once the timer shut the socket."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._connection: Any = None
        self._done = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def attach(self, connection: Any) -> None:
        with self._lock:
            self._connection = connection
            if self.expired:
                _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            if self._done:  # the call ended just before: nothing to interrupt
                return
            self.expired = True
            if self._connection is not None:
                _shut(self._connection)

    def start(self) -> None:
        self._timer.start()

    def finish(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


_CURRENT: ContextVar[CallWatch | None] = ContextVar("adapters_spark_call_watch", default=None)


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        # shutdown, not close: it wakes a recv or send blocked in another thread at once.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _register(connection: Any) -> None:
    watch = _CURRENT.get()
    if watch is not None:
        watch.attach(connection)


class _Watched:
    """Mixed in before a urllib3 connection class; inert outside a ``call_deadline``."""

    def connect(self) -> None:
        _register(self)
        super().connect()  # type: ignore[misc]  # the urllib3 class this is mixed into has it

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)  # type: ignore[misc]  # as above


_WATCHED_CLASSES: dict[type[Any], type[Any]] = {}
_CLASSES_LOCK = threading.Lock()


def watch_pool(manager: urllib3.PoolManager, url: str) -> None:
    """Make the connections *manager* opens for *url* register with the running call."""
    pool: Any = manager.connection_from_url(url)
    base = pool.ConnectionCls
    if issubclass(base, _Watched):
        return
    with _CLASSES_LOCK:
        watched = _WATCHED_CLASSES.get(base)
        if watched is None:
            watched = type(f"Watched{base.__name__}", (_Watched, base), {})
            _WATCHED_CLASSES[base] = watched
    pool.ConnectionCls = watched


@contextlib.contextmanager
def call_deadline(seconds: float) -> Iterator[CallWatch]:
    watch = CallWatch(seconds)
    token = _CURRENT.set(watch)
    watch.start()
    try:
        yield watch
    finally:
        watch.finish()
        _CURRENT.reset(token)
