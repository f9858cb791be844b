"""What the Spark jobs' batched status listings share: the key that says which jobs one listing covers.

A batch key is compared within one process only (the core groups jobs by it), never
logged or stored; credentials enter it as a keyed hash with a key drawn per process,
so two jobs share a listing only when they ask the same place with the same secrets,
and no secret can be read back from a key.
"""

from __future__ import annotations

import hashlib
import hmac
import os

_SALT = os.urandom(16)


def batch_key(system: str, *where: str, secrets: tuple[str, ...] = ()) -> str:
    """``system`` + where the listing asks (URLs, namespace, user) + a per-process hash of the credentials."""
    parts = [system, *where]
    if secrets:
        parts.append(hmac.new(_SALT, "\0".join(secrets).encode(), hashlib.sha256).hexdigest()[:16])
    return " ".join(parts)


__all__ = ["batch_key"]
