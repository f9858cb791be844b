"""Authentication for the Spark REST submission server: a static bearer token or an HS256 JWS.

Spark 4's ``org.apache.spark.ui.JWSFilter`` (``spark.master.rest.filters``) checks an
``Authorization: Bearer <JWS>`` header signed with HS256 and the key configured as
``spark.org.apache.spark.ui.JWSFilter.param.secretKey`` (base64url, at least 256 bits).
The standard library's hmac is enough to mint one; a short expiry bounds what a leaked
header is worth. Neither class shows its secret in ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

from resumable_core import InvalidArgument


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class BearerToken:
    """A static token sent as ``Authorization: Bearer <token>`` (for a proxy in front of Spark)."""

    token: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.token or any(c in self.token for c in "\r\n"):
            raise InvalidArgument("BearerToken needs a non-empty single-line token")

    def header(self) -> str:
        return f"Bearer {self.token}"

    def secrets(self) -> tuple[str, ...]:
        return (self.token,)


@dataclass(frozen=True, slots=True)
class JwsAuth:
    """Mints a short-lived HS256 JWS for Spark's JWSFilter from its base64url *secret_key*.

    A fresh token per request: signing costs microseconds, and no token outlives *ttl*.
    """

    secret_key: str = field(repr=False)
    ttl: float = 60.0
    subject: str = "resumable-core"
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    _key: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            key = base64.urlsafe_b64decode(self.secret_key + "=" * (-len(self.secret_key) % 4))
        except (binascii.Error, ValueError):
            raise InvalidArgument("JwsAuth secret_key is not base64url (as Spark's secretKey is)") from None
        if len(key) < 32:
            # Spark (jjwt) refuses HS256 keys under 256 bits; say so here rather than as a 403.
            raise InvalidArgument(f"JwsAuth secret_key decodes to {len(key) * 8} bits; HS256 needs >= 256")
        if not 0 < self.ttl <= 3600:
            raise InvalidArgument("JwsAuth ttl must be in (0, 3600] seconds")
        object.__setattr__(self, "_key", key)

    def token(self) -> str:
        now = int(self.clock())
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        claims = {"sub": self.subject, "iat": now, "exp": now + max(1, int(self.ttl))}
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = _b64url(hmac.new(self._key, signing_input, hashlib.sha256).digest())
        return f"{header}.{payload}.{signature}"

    def header(self) -> str:
        return f"Bearer {self.token()}"

    def secrets(self) -> tuple[str, ...]:
        return (self.secret_key,)


SparkAuth = Union[BearerToken, JwsAuth]
