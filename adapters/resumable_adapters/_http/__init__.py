"""What the HTTP clients of every integration share (Spark REST, YARN, Kubernetes, and the next ones).

One call bounded as a whole (``http_call``), the answer it gives (``HttpAnswer``), the proof that a
request never left (``NotSent``), how an answer's JSON is read (``json_object``: a garbled body is
transient, a contradicting one a protocol error), and the URL rules that keep credentials out of
every shown URL. Internal: an integration imports this package, never its modules.

The urllib3 parts load on first use: the aiohttp client reads its answers through
``json_object`` without urllib3 installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports
from ._answers import json_object
from ._bound import time_bound
from ._urls import base_url, shown_url, split_masters

_HOMES = {
    "MAX_BODY": "_call", "HttpAnswer": "_call", "NotSent": "_call", "http_call": "_call", "timeouts": "_call",
    "CallWatch": "_deadline", "call_deadline": "_deadline", "watch_pool": "_deadline",
}

if TYPE_CHECKING:
    from ._call import MAX_BODY, HttpAnswer, NotSent, http_call, timeouts
    from ._deadline import CallWatch, call_deadline, watch_pool


__getattr__, __dir__ = exports(__name__, _HOMES)


__all__ = [
    "MAX_BODY",
    "CallWatch",
    "HttpAnswer",
    "NotSent",
    "base_url",
    "call_deadline",
    "http_call",
    "json_object",
    "shown_url",
    "split_masters",
    "time_bound",
    "timeouts",
    "watch_pool",
]
