"""The server side of SPNEGO, as Hadoop's AuthenticationFilter does it (kerberos type), for the loopback RM.

``SpnegoAcceptor(keytab)`` accepts with the keys of *keytab* (``HTTP/<host>@REALM``)
through python-gssapi, against the real KDC of tests/services/kdc.py:

- a valid ``hadoop.auth`` cookie (signed by this acceptor, not expired): let through;
- ``Authorization: Negotiate <token>`` that GSS-API accepts: let through, with a new
  ``hadoop.auth`` cookie (``u=<user>&p=<principal>&t=kerberos&e=<ms>&s=<signature>``, as
  Hadoop's signed token) and ``WWW-Authenticate: Negotiate <mutual token>``; counted in
  ``handshakes``;
- anything else: 401 with ``WWW-Authenticate: Negotiate`` (and an emptied cookie when a
  bad one or a bad token came), counted in ``refused``.

``rotate_secret()`` invalidates every cookie given so far (an RM restarted with a new
signing secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import gssapi
import gssapi.raw.misc

from tests.services.loopback import Answer

COOKIE = "hadoop.auth"


class SpnegoAcceptor:
    def __init__(self, keytab: Path, *, cookie_ttl: float = 3600.0) -> None:
        self.keytab = keytab
        self.cookie_ttl = cookie_ttl
        self.lock = threading.Lock()
        self.handshakes = 0
        self.cookie_hits = 0
        self.refused = 0
        self.users: list[str] = []  # client principals, one per handshake
        self._secret = secrets.token_bytes(32)

    def rotate_secret(self) -> None:
        with self.lock:
            self._secret = secrets.token_bytes(32)

    def filter(self, headers: Message, serve: Callable[[], Answer]) -> Answer:
        """Authenticate the request, then *serve* it (with the cookie and mutual token added), or 401."""
        if self._cookie_user(headers) is not None:
            with self.lock:
                self.cookie_hits += 1
            return serve()
        authorization = headers.get("Authorization") or ""
        scheme, _, token = authorization.partition(" ")
        extra: dict[str, str] = {}
        if scheme.lower() == "negotiate" and token.strip():
            accepted = self._accept(token.strip())
            if accepted is not None:
                principal, mutual = accepted
                code, payload, answer_headers = serve()
                answer_headers = dict(answer_headers)
                answer_headers["Set-Cookie"] = self._cookie(principal)
                if mutual:
                    answer_headers["WWW-Authenticate"] = "Negotiate " + base64.b64encode(mutual).decode()
                return code, payload, answer_headers
            extra["Set-Cookie"] = f"{COOKIE}=; Path=/; HttpOnly"
        elif COOKIE in (headers.get("Cookie") or ""):
            extra["Set-Cookie"] = f"{COOKIE}=; Path=/; HttpOnly"
        with self.lock:
            self.refused += 1
        extra["WWW-Authenticate"] = "Negotiate"
        return 401, "<html><body>Error 401 Authentication required</body></html>", extra

    # -- GSS-API ---------------------------------------------------------------------------

    def _accept(self, token: str) -> tuple[str, bytes | None] | None:
        try:
            raw = base64.b64decode(token, validate=True)
            creds = gssapi.Credentials(usage="accept", store={"keytab": str(self.keytab)})
            context = gssapi.SecurityContext(creds=creds, usage="accept")
            mutual = context.step(raw)
            if not context.complete:
                return None
            principal = str(context.initiator_name)
        except (gssapi.raw.misc.GSSError, binascii.Error, ValueError):
            return None
        with self.lock:
            self.handshakes += 1
            self.users.append(principal)
        return principal, mutual

    # -- Hadoop's signed token ---------------------------------------------------------------

    def _cookie(self, principal: str) -> str:
        user = principal.split("@", 1)[0].split("/", 1)[0]
        expires_ms = int((time.time() + self.cookie_ttl) * 1000)
        body = f"u={user}&p={principal}&t=kerberos&e={expires_ms}"
        return f'{COOKIE}="{body}&s={self._sign(body)}"; Path=/; HttpOnly'

    def _sign(self, body: str) -> str:
        with self.lock:
            key = self._secret
        return base64.b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest()).decode()

    def _cookie_user(self, headers: Message) -> str | None:
        for part in (headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name != COOKIE:
                continue
            value = value.strip().strip('"')
            body, sep, signature = value.rpartition("&s=")
            if not sep or not hmac.compare_digest(signature, self._sign(body)):
                return None
            fields = dict(item.partition("=")[::2] for item in body.split("&"))
            if not fields.get("e", "").isdigit() or int(fields["e"]) / 1000.0 <= time.time():
                return None
            return fields.get("p")
        return None


__all__ = ["COOKIE", "SpnegoAcceptor"]
