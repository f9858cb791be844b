"""Reading an answer's JSON: the one place that tells a garbled answer from a contradicting one.

A body that is not JSON at all (a proxy's HTML error page, a body cut short) carries nothing
the system said: ``MalformedAnswer``, a ``TransientError``, so a status query is asked again
within the caller's budget instead of ending the attempt. JSON of the wrong kind (a list where
the protocol has an object) is a well-formed answer that contradicts the protocol:
``ProtocolError``. Every HTTP client of the project (Spark REST, its aiohttp twin, YARN,
Kubernetes) reads its answers through here. No urllib3: the aiohttp client uses it too.
"""

from __future__ import annotations

import json
from typing import Any

from resumable_core import ProtocolError
from resumable_core.errors import MalformedAnswer


def json_object(body: bytes | str, *, what: str, status: int, content_type: str = "",
                job_id: str | None = None, after: str = "") -> dict[str, Any]:
    """The JSON object *body* holds; *what* names the call in messages, *after* ends them."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        head = body[:512].lower()
        kind = "an HTML page" if (b"<html" in head if isinstance(head, bytes) else "<html" in head) else "a non-JSON body"
        raise MalformedAnswer(f"{what} answered {kind} ({content_type or 'no type'}, {len(body)} bytes) with HTTP "
                              f"{status}; asking again{after}", job_id=job_id) from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{what} answered a JSON {type(data).__name__} with HTTP {status}, not an object{after}",
                            job_id=job_id)
    return data


__all__ = ["json_object"]
