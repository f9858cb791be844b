"""Master addresses as users write them: one URL, a list, or Spark's comma-separated HA forms.

Spark's REST client splits ``spark://a:6066,b:6066`` into one ``spark://`` URL per host
(``Utils.parseStandaloneMasterUrls``) and talks HTTP to each. The same forms are accepted
here, plus ``http://a:6066,http://b:6066``. Every malformed address is an
``InvalidArgument`` whose text shows no credential.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

from resumable_core import InvalidArgument
from resumable_core.redaction import MASK


def shown_url(url: str) -> str:
    """*url* as it may appear in a message: userinfo masked, query and fragment dropped."""
    head, sep, rest = url.partition("://")
    if not sep:
        return url.split("?", 1)[0].split("#", 1)[0]
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = MASK + "@" + authority.rsplit("@", 1)[1]
    return (head + sep + authority + slash + path).split("?", 1)[0].split("#", 1)[0]


def split_masters(urls: str | Sequence[str], *, what: str, allow_spark: bool) -> tuple[str, ...]:
    """Every master address in *urls* as a normalised ``http(s)://host:port``, in order."""
    items = [urls] if isinstance(urls, str) else list(urls)
    found: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidArgument(f"{what} must be strings, got {type(item).__name__}")
        found.extend(_split_one(item, what=what, allow_spark=allow_spark))
    return tuple(found)


def _split_one(text: str, *, what: str, allow_spark: bool) -> list[str]:
    text = text.strip()
    if text.lower().startswith("spark://"):
        if not allow_spark:
            raise InvalidArgument(f"{what} {shown_url(text)!r}: a spark:// address is a master, not a web UI")
        # Spark's HA form: one scheme, then host:port entries (a repeated scheme is tolerated).
        entries = [e.strip() for e in text[len("spark://"):].split(",")]
        urls = ["http://" + (e[len("spark://"):] if e.lower().startswith("spark://") else e) for e in entries]
        shown = [shown_url(text)] * len(urls)
    else:
        urls = [e.strip() for e in text.split(",")]
        shown = [shown_url(u) for u in urls]
    spark_form = text.lower().startswith("spark://")
    return [base_url(url, what=what, shown=s, need_port=spark_form) for url, s in zip(urls, shown, strict=True)]


def base_url(url: str, *, what: str = "Spark URL", shown: str | None = None, need_port: bool = False) -> str:
    """``scheme://host:port[/path]`` without a trailing slash, or InvalidArgument."""
    label = shown if shown is not None else shown_url(url)
    if not url:
        raise InvalidArgument(f"{what} {label!r} has an empty entry (a stray comma?)")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a bad port or bracket: say what, never echo the credential
        raise InvalidArgument(f"{what} {label!r} is malformed: {type(exc).__name__}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"{what} {label!r} must be http(s)://host:port (or spark://host:port,host:port)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidArgument(f"{what} {label!r} must carry no credentials, query or fragment (use auth=)")
    if port is None and need_port:  # Spark itself refuses spark://host without a port
        raise InvalidArgument(f"{what} {label!r} names no port (the REST server's is 6066 by default)")
    if any(c.isspace() for c in url) or (parts.path not in ("", "/") and need_port):
        raise InvalidArgument(f"{what} {label!r} contains whitespace or a path where host:port is expected")
    return url.rstrip("/")
