"""spark-submit's properties file, read as spark-submit reads it: one home for the CLI and the Airflow operator."""

from __future__ import annotations

from pathlib import Path

from resumable_core import InvalidArgument


def read_properties_file(path: str) -> dict[str, str]:
    """Java properties: ``key=value``, ``key: value`` or ``key value``; ``#``, ``!`` comments.

    Continuation lines and escapes are not interpreted (Spark's own files rarely use them).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"cannot read the properties file {path!r}: {type(exc).__name__}") from None
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        name, value = line, ""
        for index, char in enumerate(line):
            if char in "=: \t":
                name, value = line[:index], line[index + 1:].strip()
                if value[:1] in ("=", ":"):
                    value = value[1:].strip()
                break
        found[name] = value
    return found


__all__ = ["read_properties_file"]
