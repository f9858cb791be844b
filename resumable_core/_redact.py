"""Secrets out of every message: one mechanism, applied where text leaves the library.

``redact`` is applied to every ``ResumableError`` message (so to everything the CLI,
the Airflow operator and ``--json`` errors print from one), and to every line the
core logs. Adapters that know a secret's exact value (a password parsed from a
connection string) can pass it in ``known``, so that it is masked wherever it shows.

What counts as a credential here, in any text:

- the password of a URL (``scheme://user:password@host``);
- the value of an ``Authorization`` or ``Proxy-Authorization`` header, in any echo form;
- a bearer or basic credential (``Bearer <token>``);
- the value of an option or key/value pair whose name says secret, password, passwd,
  token, credential, access key, private key or api key, in ``--name=value``,
  ``--name value``, ``name=value``, ``name: value`` and JSON ``"name": "value"`` forms.

The name is kept and the value replaced by ``***``, so a message still says what
was wrong. The patterns lean towards masking: a false positive costs a word, a
false negative a credential.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re

MASK = "***"

_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:secret|password|passwd|pwd|token|credential|access[_.-]?key|private[_.-]?key|api[_.-]?key)[A-Za-z0-9_.-]*"

_PATTERN_SOURCES: tuple[tuple[str, str], ...] = (
    # scheme://user:password@host -> scheme://user:***@host
    (r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:)(?P<secret>[^\s@/'\"]+)(?=@)", r"\g<head>" + MASK),
    # Authorization: Bearer abc / "authorization": "Basic xyz" / authorization=...
    (r"(?i)(?P<head>\"?(?:proxy-)?authorization\"?\s*[:=]\s*\"?)(?P<secret>[^\"\r\n,}]+)",
     r"\g<head>" + MASK),
    # Bearer/Basic credentials anywhere else
    (r"(?i)\b(?P<head>bearer|basic)\s+(?P<secret>[A-Za-z0-9._~+/=-]{6,})", r"\g<head> " + MASK),
    # "password": "value" (JSON)
    (r"(?i)(?P<head>\"" + _SECRET_NAME + r"\"\s*:\s*)\"(?P<secret>(?:[^\"\\]|\\.)*)\"",
     r"\g<head>" + '"' + MASK + '"'),
    # --password=value, password=value, password: value, spark.x.password=value
    (r"(?i)(?P<head>(?<![A-Za-z0-9_.-])-{0,2}" + _SECRET_NAME + r"\s*[=:]\s*)(?P<secret>[^\s,;&'\"}\]]+)",
     r"\g<head>" + MASK),
    # --password value (argv form)
    (r"(?i)(?P<head>(?<![A-Za-z0-9_.-])--" + _SECRET_NAME + r"\s+)(?P<secret>[^\s-][^\s,;'\"]*)",
     r"\g<head>" + MASK),
)


def redact(text: str, known: Iterable[str] = ()) -> str:
    """*text* with every credential it shows replaced by ``***``."""
    for secret in known:
        if secret:
            text = text.replace(secret, MASK)
    if not _might_hold_secret(text):
        return text
    for pattern, replacement in _patterns():
        text = pattern.sub(replacement, text)
    return text


_COMPILED: list[tuple[re.Pattern[str], str]] = []


def _patterns() -> list[tuple[re.Pattern[str], str]]:
    # Compiled on first use: most processes never build an error message with a secret cue.
    if not _COMPILED:
        import re

        _COMPILED.extend((re.compile(source), replacement) for source, replacement in _PATTERN_SOURCES)
    return _COMPILED


def _might_hold_secret(text: str) -> bool:
    # Most messages hold none of the cues: skip the patterns for them.
    lowered = text.lower()
    return any(cue in lowered for cue in _CUES)


_CUES = ("://", "auth", "bearer", "basic", "secret", "passw", "pwd", "token", "credential", "key")

__all__ = ["MASK", "redact"]
