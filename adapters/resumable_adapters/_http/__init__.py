"""What the HTTP clients of every integration share (Spark REST, YARN, Kubernetes, and the next ones).

One call bounded as a whole (``http_call``), the answer it gives (``HttpAnswer``), the proof that a
request never left (``NotSent``), and the URL rules that keep credentials out of every shown URL.
Internal: an integration imports this package, never its modules.
"""

from __future__ import annotations

from ._call import MAX_BODY, HttpAnswer, NotSent, http_call, timeouts
from ._deadline import CallWatch, call_deadline, time_bound, watch_pool
from ._urls import base_url, shown_url, split_masters

__all__ = [
    "MAX_BODY",
    "CallWatch",
    "HttpAnswer",
    "NotSent",
    "base_url",
    "call_deadline",
    "http_call",
    "shown_url",
    "split_masters",
    "time_bound",
    "timeouts",
    "watch_pool",
]
