"""A deadline for one HTTP call as a whole: connect, send, headers and body.

urllib3's timeouts bound each socket operation, so a server that trickles one byte per
second never trips them. Here a timer shuts the call's socket down when the call's time
is up (one watchdog thread for all calls), which ends whatever read or write is blocked on it; the caller then sees
``expired`` and reports a transient error.

The socket is found through the connection class: the pools this client uses get a
subclass of their connection class that registers itself with the call running in this
thread (a context variable), so an injected pool works too. A connection made before
the client first used that pool stays unwatched, and is still bounded per operation.

The same watch sees whether a byte of the request left: ``unsent`` is True when the call's
connection registered and never sent, the proof ``http_call`` needs to call a failed TLS
handshake "nothing sent". ``_bound.time_bound`` bounds several calls together.
"""

from __future__ import annotations

import contextlib
import heapq
import socket
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import urllib3


class CallWatch:
    """One call's deadline: ``expired`` is True once the watchdog shut the socket."""

    __slots__ = ("_connection", "_done", "_lock", "attached", "due", "expired", "seconds", "sent")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.due = 0.0
        self.expired = False
        self.attached = False  # a connection of ours registered: what it did is known
        self.sent = False  # ... and it began to send the request
        self._lock = threading.Lock()
        self._connection: Any = None
        self._done = False

    @property
    def unsent(self) -> bool:
        """True when the call's connection was watched and never sent a byte of the request."""
        return self.attached and not self.sent

    def attach(self, connection: Any) -> None:
        with self._lock:
            self.attached = True
            self._connection = connection
            if self.expired:
                _shut(connection)

    def fire(self) -> None:
        with self._lock:
            if self._done:  # the call ended just before: nothing to interrupt
                return
            self.expired = True
            if self._connection is not None:
                _shut(self._connection)

    def start(self) -> None:
        self.due = time.monotonic() + self.seconds
        _WATCHDOG.add(self)

    def finish(self) -> None:
        with self._lock:
            self._done = True
        _WATCHDOG.remove(self)


class _Watchdog:
    """One thread for every call's deadline, started on first use.

    A timer thread per call would cost a thread start on every status check; a
    supervisor polling a thousand drivers makes a thousand calls a minute.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, CallWatch]] = []
        self._live: set[int] = set()
        self._thread: threading.Thread | None = None

    def add(self, watch: CallWatch) -> None:
        with self._cond:
            heapq.heappush(self._heap, (watch.due, id(watch), watch))
            self._live.add(id(watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="resumable_adapters.spark call deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is watch:
                self._cond.notify()

    def remove(self, watch: CallWatch) -> None:
        with self._cond:
            self._live.discard(id(watch))  # its heap entry is dropped when it comes up

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and id(self._heap[0][2]) not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                due, _, watch = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(id(watch))
            watch.fire()  # outside the lock: shutting a socket may take a moment


_WATCHDOG = _Watchdog()


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

    def send(self, data: Any) -> None:
        # Every byte of a request goes through http.client's send (headers, then body chunks).
        watch = _CURRENT.get()
        if watch is not None:
            watch.sent = True
        super().send(data)  # type: ignore[misc]  # as above


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
