"""Fresh identifiers: submission references and owner ids."""

from __future__ import annotations

import os


def new_reference() -> str:
    """A fresh submission reference: 32 hex digits, safe in URLs, file names, Spark properties and labels.

    128 random bits, as ``uuid.uuid4().hex`` carries (less 6 fixed bits), without
    importing uuid (and platform) for it.
    """
    return os.urandom(16).hex()


def new_owner() -> str:
    """An id for one run, written into the intent it holds the lease of."""
    return os.urandom(16).hex()


__all__ = ["new_owner", "new_reference"]
