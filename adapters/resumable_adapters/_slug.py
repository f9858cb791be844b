"""How a submission reference becomes a name a cluster accepts: one rule for every integration.

A slug is a YARN application tag (lowercased by YARN, at most 100 characters, no commas) and a
Kubernetes label value and DNS label (at most 63 characters, ``[a-z0-9-]``, alphanumeric at
both ends), short enough to follow a 22-character prefix and a ``-`` in a pod name. A
job's recorded tags and labels were made by it, so it never changes.
"""

from __future__ import annotations

import hashlib
import re

from resumable_core import InvalidArgument

_SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")


def reference_slug(reference: str) -> str:
    """*reference* itself when a cluster accepts it as is (the core's 32 hex digits do), else a hash.

    Hashed rather than cleaned up, so two references never share a slug by losing case or
    punctuation: YARN lowercases tags, and Kubernetes names allow neither ``_`` nor ``:``.
    """
    if not isinstance(reference, str) or not reference:
        raise InvalidArgument(f"submission reference must be a non-empty string, got {reference!r}")
    if _SLUG_RE.fullmatch(reference):
        return reference
    return "h" + hashlib.sha256(reference.encode()).hexdigest()[:32]


__all__ = ["reference_slug"]
