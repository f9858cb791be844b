"""Secrets out of text: the one mechanism the core uses, for adapters' own texts.

Every ``ResumableError`` message already passes through ``redact``. Adapters call it
for what they show outside an error (log lines, reprs) so that the same rules mask
the same credentials everywhere. See ``resumable_core._redact`` for what is masked.
"""

from __future__ import annotations

from ._redact import MASK, redact

__all__ = ["MASK", "redact"]
