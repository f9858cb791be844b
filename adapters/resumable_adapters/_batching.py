"""What every job's batched status listing shares: the key that says which jobs one listing covers.

A batch key is compared within one process only (the core groups jobs by it,
``resumable_core.aio.SupportsBatchStatus``), never logged or stored; credentials enter it as
a keyed hash with a key drawn per process, so two jobs share a listing only when they ask the
same place with the same secrets, and no secret can be read back from a key (nor guessed
offline from a dump: the key never leaves the process).
"""

from __future__ import annotations

import hashlib
import hmac
import os

_SALT = os.urandom(16)


def secrets_hash(*secrets: str) -> str:
    """A per-process keyed hash of *secrets* (16 hex digits): equal secrets, equal hashes, in this process only."""
    return hmac.new(_SALT, "\0".join(secrets).encode(), hashlib.sha256).hexdigest()[:16]


def batch_key(system: str, *where: str, secrets: tuple[str, ...] = ()) -> str:
    """``system`` + where the listing asks (URLs, namespace, user, a certificate's path) + a
    per-process hash of the credentials, when there are any."""
    parts = [system, *where]
    if secrets:
        parts.append(secrets_hash(*secrets))
    return " ".join(parts)


__all__ = ["batch_key", "secrets_hash"]
