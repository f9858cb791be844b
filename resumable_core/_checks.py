"""The rules for keys and stored values: one home, used by the core and every store.

Two key rules, on purpose:

- a *job key* (``check_key``) is what a caller names a logical job with: a non-blank
  string of at most 512 printable characters, valid Unicode;
- a *store key* (``check_store_key``) is what a StateStore accepts: any non-empty
  valid-Unicode string without NUL. It is wider, so that an adapter can keep its own
  bookkeeping under keys no job key can take (the CLI prefixes them with a control
  character), and narrower than "any str" because no store can hold NUL or a lone
  surrogate (PostgreSQL text, SQLite's UTF-8, Airflow's JSON API).
"""

from __future__ import annotations

from ._errors import InvalidArgument
from ._types import JsonValue, is_json

KEY_MAX_LENGTH = 512


def check_store_key(key: object) -> str:
    """*key* when every store can hold it; InvalidArgument naming it otherwise."""
    if not isinstance(key, str) or not key:
        raise InvalidArgument(f"key must be a non-empty string, got {key!r}")
    if "\x00" in key:
        raise InvalidArgument(f"key must not contain NUL, got {key!r}")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate: what Python makes of a non-UTF-8 byte in argv or a file name.
        raise InvalidArgument(f"key is not valid Unicode (lone surrogate), got {key!r}") from None
    return key


def check_key(key: object) -> str:
    """*key* when it can name a job; InvalidArgument naming it otherwise."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgument(f"key must be a non-empty string, got {key!r}")
    if len(key) > KEY_MAX_LENGTH or any(ord(c) < 32 for c in key):
        raise InvalidArgument(f"key must be at most {KEY_MAX_LENGTH} printable characters, got {key!r}")
    return check_store_key(key)


def check_store_value(key: str, value: object) -> JsonValue:
    """*value* when it is JSON that comes back unchanged; None is never stored (delete the key)."""
    if value is None:
        raise InvalidArgument(f"None cannot be stored under key {key!r}; delete the key instead", key=key)
    try:
        if is_json(value):
            import json  # deferred: only a process that stores values pays for it

            json.dumps(value, allow_nan=False)
            return value
    except RecursionError as exc:  # nesting deeper than the interpreter's recursion limit
        raise InvalidArgument(f"value for key {key!r} is nested too deeply to store", key=key) from exc
    raise InvalidArgument(
        f"value for key {key!r} is not JSON that comes back unchanged (NaN, tuple, non-str dict key...)", key=key
    )


def check_run_options(key: str, *, fresh: bool, attach_only: bool) -> None:
    """Options of one run that contradict each other."""
    if fresh and attach_only:
        raise InvalidArgument("fresh=True asks for a new submission, attach_only=True forbids one", key=key)


__all__ = ["KEY_MAX_LENGTH", "check_key", "check_run_options", "check_store_key", "check_store_value"]
