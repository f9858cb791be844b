"""A bound on several HTTP calls together: ``time_bound`` (a command's bound, whatever the clients'
own per-call deadlines are). No urllib3 here: a command bounds its calls before it knows which
client (if any) it will use.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_BOUND: ContextVar[tuple[float, float] | None] = ContextVar("resumable_adapters_time_bound", default=None)


@contextlib.contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Every ``http_call`` made inside (in this thread) ends within *seconds* from now, all together.

    A call starting after that is not sent (``NotSent``); one under way is cut at the bound.
    Nested bounds: the nearest end wins.
    """
    due = time.monotonic() + seconds
    outer = _BOUND.get()
    token = _BOUND.set((due, seconds) if outer is None or due < outer[0] else outer)
    try:
        yield
    finally:
        _BOUND.reset(token)


def bound_left() -> tuple[float, float] | None:
    """(seconds left, the bound's length) of the ``time_bound`` running here, None outside one."""
    bound = _BOUND.get()
    return None if bound is None else (bound[0] - time.monotonic(), bound[1])


__all__ = ["bound_left", "time_bound"]
