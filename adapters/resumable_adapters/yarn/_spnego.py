"""SPNEGO (Kerberos) for ``YarnRestClient``: what Hadoop's AuthenticationFilter asks of a client.

A ResourceManager with ``hadoop.http.authentication.type=kerberos`` answers an
unauthenticated request with 401 and ``WWW-Authenticate: Negotiate``; it accepts
``Authorization: Negotiate <token>`` (a GSS-API token for ``HTTP/<its host>@REALM``),
then answers with a signed ``hadoop.auth`` cookie (valid until the ``e=`` time it
carries) and possibly ``WWW-Authenticate: Negotiate <token>`` for mutual
authentication. ``SpnegoAuth`` does the client's part:

- the first request to a ResourceManager carries a token (preemptively: the handshake
  costs no extra round trip); the ``hadoop.auth`` cookie it gets back is sent instead
  on every later request to that RM, until it expires or the RM answers 401 (a restarted
  RM, a rotated secret): then one retry with a fresh token;
- the RM's mutual-authentication token is checked when it sends one;
- each RM gets its own service principal ``HTTP/<host>``, *host* being the canonical
  name of the RM URL's host (an RM's principal is ``HTTP/_HOST@REALM`` with ``_HOST``
  replaced by its canonical host name, so a URL naming it by IP or alias must be
  canonicalised: an IP address is looked up in reverse, as Java's
  ``getCanonicalHostName``; a name resolved to its canonical name, CNAMEs followed), or
  what *hostname* says (a mapping or a function of the URL's host). The name is given to
  Kerberos as a host-based service, so the realm comes from krb5.conf's domain_realm (or
  the default realm), and MIT's own ``dns_canonicalize_hostname`` / ``rdns`` still apply;
- credentials: the ticket cache (``KRB5CCNAME``, or *ccache*), or *principal* and
  *keytab*: the credentials are then acquired from the keytab through GSS-API's
  credential store (no ``kinit`` process) into a private in-memory cache, and renewed
  from the keytab by Kerberos when they expire.

Errors name the ResourceManager, the service principal and the client principal (or
the ticket cache), never a token, cookie or key: no credentials, an expired ticket, a
principal the KDC does not know, or a 401 after a valid token (a refusal) are a
``SpnegoError`` (a ``ProtocolError``: polling stops, the recorded handle stays); a KDC
that does not answer is a ``TransientError`` (polled again within the budget).

python-gssapi (the ``kerberos`` extra) is imported when a token is first needed, never
by ``import resumable_adapters.yarn``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import socket
import threading
import time
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from resumable_core import InvalidArgument, ProtocolError, TransientError

from .._http import HttpAnswer, shown_url

if TYPE_CHECKING:
    import gssapi
    import gssapi.raw

COOKIE = "hadoop.auth"
SPNEGO_MECH = "1.3.6.1.5.5.2"
EXTRA_HINT = "pip install 'resumable-core[kerberos]'"
_EXPIRY_MARGIN = 5.0  # seconds: a cookie this close to its end is not sent (the RM would refuse it)
_PENDING_BOUND = 32  # contexts of tokens whose answer never came (the call failed): the oldest are dropped
_NEGOTIATE = re.compile(r"^\s*Negotiate(?:\s+([A-Za-z0-9+/=]+))?\s*$", re.IGNORECASE)
_SERVICE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class SpnegoError(ProtocolError):
    """Kerberos could not authenticate this process to a ResourceManager.

    No credentials, an expired ticket, a principal the KDC does not know, a keytab
    without the principal's key, or the RM refusing a valid token (401). Carries what
    the message names: ``rm_url``, ``service_principal``, ``client`` (the principal, or
    the ticket cache when no principal was given).
    """

    def __init__(self, message: str, *, rm_url: str, service_principal: str, client: str) -> None:
        super().__init__(message)
        self.rm_url = rm_url
        self.service_principal = service_principal
        self.client = client


def canonical_host(host: str) -> str:
    """The host name of an RM's service principal (``HTTP/_HOST``: its canonical name), lowercased.

    An IP address: its reverse lookup (``127.0.0.1`` -> ``localhost``); a name: its
    canonical name (CNAMEs followed). The host unchanged when the lookup fails.
    """
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)
        except OSError:
            return host.lower()
        name = next((info[3] for info in infos if info[3]), host)
    else:
        try:
            name = socket.gethostbyaddr(host)[0]
        except OSError:
            return host.lower()
    return name.rstrip(".").lower()


def _require_gssapi() -> None:
    """An ImportError naming the extra when python-gssapi is missing."""
    try:
        import gssapi.exceptions  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"SPNEGO for YARN needs python-gssapi (and the Kerberos libraries): {EXTRA_HINT}") from exc


class SpnegoAuth:
    """The *auth* of a ``YarnRestClient`` for a Kerberized ResourceManager (SPNEGO, Hadoop's cookie).

    ::

        client = YarnRestClient("http://rm1.corp:8088,http://rm2.corp:8088",
                                auth=SpnegoAuth(principal="etl@CORP.COM", keytab="/etc/security/etl.keytab"))

    *principal* and *keytab*: log in from the keytab (no ticket cache needed, none
    written unless *ccache* names one). Neither: the current ticket cache (``kinit``).
    *ccache*: a ticket cache name (``FILE:/tmp/krb5cc_etl``) instead of ``KRB5CCNAME``.
    *service*: the service of the RM's principal (Hadoop: ``HTTP``). *hostname*: the
    host of the service principal per RM host (a mapping, or a function of the host);
    the default is the canonical name (*canonicalize*), else the URL's host as written.
    One instance may serve several clients and threads.
    """

    def __init__(
        self,
        *,
        principal: str | None = None,
        keytab: str | os.PathLike[str] | None = None,
        ccache: str | None = None,
        service: str = "HTTP",
        hostname: Mapping[str, str] | Callable[[str], str] | None = None,
        canonicalize: bool = True,
    ) -> None:
        if principal is not None and (not isinstance(principal, str) or not re.fullmatch(r"[^\s@]+(@[^\s@]+)?",
                                                                                           principal)):
            raise InvalidArgument(f"SpnegoAuth principal {principal!r} is not a Kerberos principal name")
        if keytab is not None and principal is None:
            raise InvalidArgument("SpnegoAuth: keytab= needs principal= (the principal to log in as)")
        if keytab is not None and not os.fspath(keytab):
            raise InvalidArgument("SpnegoAuth: keytab= is empty")
        if ccache is not None and not (isinstance(ccache, str) and ccache.strip()):
            raise InvalidArgument("SpnegoAuth: ccache= is empty")
        if not (isinstance(service, str) and _SERVICE.fullmatch(service)):
            raise InvalidArgument(f"SpnegoAuth service {service!r} is not a service name (HTTP)")
        _require_gssapi()  # the missing extra is said now, not at the first poll
        self.principal = principal
        self.keytab = os.fspath(keytab) if keytab is not None else None
        self.ccache = ccache if ccache is not None else (
            f"MEMORY:resumable-spnego-{uuid.uuid4().hex}" if keytab is not None else None)
        self.service = service
        self.hostname = ({str(k).lower(): v for k, v in hostname.items()} if isinstance(hostname, Mapping)
                         else hostname)
        self.canonicalize = canonicalize
        self.tokens_sent = 0  # handshakes started (a cookie spares one per request)
        self._lock = threading.Lock()
        self._hosts: dict[str, str] = {}
        self._cookies: dict[str, tuple[str, float]] = {}  # RM origin -> (cookie value, expiry epoch seconds)
        self._pending: OrderedDict[str, tuple[gssapi.SecurityContext, str]] = OrderedDict()  # token -> (context, SPN)

    def __repr__(self) -> str:
        return (f"SpnegoAuth(principal={self.principal!r}, keytab={self.keytab!r}, service={self.service!r}, "
                f"canonicalize={self.canonicalize!r})")

    # -- what YarnRestClient calls ---------------------------------------------------------------

    def __call__(self, url: str) -> Mapping[str, str]:
        """Headers for a request to *url*: the RM's cookie while it is valid, else a fresh token."""
        origin = _origin(url)
        with self._lock:
            found = self._cookies.get(origin)
            if found is not None and time.time() < found[1] - _EXPIRY_MARGIN:
                return {"Cookie": f'{COOKIE}="{found[0]}"'}
            self._cookies.pop(origin, None)
        token, context, spn = self._mint(url)
        with self._lock:
            self._pending[token] = (context, spn)
            while len(self._pending) > _PENDING_BOUND:
                self._pending.popitem(last=False)
            self.tokens_sent += 1
        return {"Authorization": f"Negotiate {token}"}

    def answered(self, url: str, sent: Mapping[str, str], answer: HttpAnswer) -> bool:
        """Read the RM's answer to a request that carried *sent*; True: retry once with fresh headers.

        Keeps the ``hadoop.auth`` cookie, checks the mutual-authentication token, and on a
        401: after a cookie, forget it and retry (with a token); after a token, a refusal.
        """
        origin = _origin(url)
        token = _negotiate_token(sent.get("Authorization", ""))
        with self._lock:
            pending = self._pending.pop(token, None) if token else None
            for header in answer.header_values("Set-Cookie"):
                self._take_cookie(origin, header)
        if answer.status == 401:
            if token is not None:
                spn = pending[1] if pending is not None else self.service_principal(url)
                raise SpnegoError(
                    f"the YARN ResourceManager {origin} refused the Kerberos token of {self._client()} for {spn} "
                    "(HTTP 401 after a valid token): is it the RM's principal, and does the RM accept this realm?",
                    rm_url=origin, service_principal=spn, client=self._client())
            if "Cookie" in sent:
                with self._lock:
                    self._cookies.pop(origin, None)
            return any(_NEGOTIATE.match(v) for v in answer.header_values("WWW-Authenticate"))
        if pending is not None:
            self._check_mutual(origin, pending, answer)
        return False

    # -- naming ----------------------------------------------------------------------------------

    def spn_host(self, url: str) -> str:
        """The host part of the RM's service principal for *url*."""
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
        if not host:
            raise InvalidArgument(f"SpnegoAuth: no host in {shown_url(url)!r}")
        with self._lock:
            known = self._hosts.get(host)
        if known is not None:
            return known
        if callable(self.hostname):
            named = self.hostname(host)
        elif self.hostname is not None and host in self.hostname:
            named = self.hostname[host]
        else:
            named = canonical_host(host) if self.canonicalize else host
        if not isinstance(named, str) or not re.fullmatch(r"[A-Za-z0-9._:-]{1,255}", named):
            raise InvalidArgument(f"SpnegoAuth hostname for {host!r} is not a host name: {named!r}")
        with self._lock:
            self._hosts[host] = named
        return named

    def service_principal(self, url: str) -> str:
        """``HTTP/<host>`` for the RM at *url* (the realm is Kerberos's: domain_realm, or the default)."""
        return f"{self.service}/{self.spn_host(url)}"

    # -- Kerberos ------------------------------------------------------------------------------

    def _credentials(self) -> gssapi.Credentials:
        import gssapi

        store: dict[bytes | str, bytes | str] = {}
        if self.ccache is not None:
            store["ccache"] = self.ccache
        if self.keytab is not None:
            store["client_keytab"] = self.keytab
        name = gssapi.Name(self.principal, gssapi.NameType.kerberos_principal) if self.principal else None
        return gssapi.Credentials(name=name, usage="initiate", store=store or None)

    def _mint(self, url: str) -> tuple[str, gssapi.SecurityContext, str]:
        """A base64 SPNEGO token for the RM at *url*, its context, and the service principal."""
        import gssapi
        import gssapi.raw.misc

        spn = self.service_principal(url)
        try:
            creds = self._credentials()
            target = gssapi.Name(f"{self.service}@{self.spn_host(url)}", gssapi.NameType.hostbased_service)
            context = gssapi.SecurityContext(
                name=target, creds=creds, usage="initiate", mech=gssapi.OID.from_int_seq(SPNEGO_MECH),
                flags=gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.out_of_sequence_detection)
            token = context.step()
        except gssapi.raw.misc.GSSError as exc:
            raise self._error(exc, _origin(url), spn) from None
        if not token:
            raise SpnegoError(f"Kerberos produced no token for {spn} (YARN ResourceManager {_origin(url)})",
                              rm_url=_origin(url), service_principal=spn, client=self._client())
        return base64.b64encode(token).decode("ascii"), context, spn

    def _check_mutual(self, origin: str, pending: tuple[gssapi.SecurityContext, str], answer: HttpAnswer) -> None:
        import gssapi.raw.misc

        context, spn = pending
        for value in answer.header_values("WWW-Authenticate"):
            match = _NEGOTIATE.match(value)
            if match is None or not match.group(1):
                continue
            try:
                context.step(base64.b64decode(match.group(1), validate=True))
            except (gssapi.raw.misc.GSSError, binascii.Error, ValueError):
                raise SpnegoError(
                    f"the answer of the YARN ResourceManager {origin} failed mutual authentication as {spn}: "
                    "it is not from the service this token was for", rm_url=origin, service_principal=spn,
                    client=self._client()) from None
            return

    def _take_cookie(self, origin: str, header: str) -> None:
        """Keep (or, when empty, drop) the ``hadoop.auth`` cookie of one ``Set-Cookie`` header; lock held."""
        parsed = _parse_cookie(header)
        if parsed is None:
            return
        value, expires = parsed
        if not value or (expires is not None and expires <= time.time() + _EXPIRY_MARGIN):
            self._cookies.pop(origin, None)  # the RM cleared it (a failed authentication), or it is spent
        else:
            self._cookies[origin] = (value, expires if expires is not None else float("inf"))

    def _client(self) -> str:
        if self.principal is not None:
            return self.principal + (f" (keytab {self.keytab})" if self.keytab else "")
        ccache = self.ccache or os.environ.get("KRB5CCNAME") or "the default ticket cache"
        return f"the principal of {ccache}"

    def _error(self, exc: gssapi.raw.misc.GSSError, origin: str, spn: str) -> ProtocolError | TransientError:
        """The typed error for a GSS-API failure; the text is MIT's (names and paths, never key material)."""
        import gssapi.exceptions

        text = " ".join(_gss_text(exc).split())[:400]
        low = text.lower()
        client = self._client()
        where = f"the YARN ResourceManager {origin} (service principal {spn})"

        def error(message: str) -> SpnegoError:
            return SpnegoError(message, rm_url=origin, service_principal=spn, client=client)

        if "cannot contact any kdc" in low or "cannot find kdc" in low or "cannot resolve network address" in low:
            return TransientError(f"Kerberos: no KDC answered for {client} to reach {where}: {text}")
        if "server" in low and "not found in kerberos database" in low:
            return error(f"the KDC does not know the service principal {spn} of {where}: Hadoop's is "
                         f"HTTP/<the RM's canonical host name>@REALM; pass hostname= to name the host ({text})")
        if "client" in low and "not found in kerberos database" in low:
            return error(f"the KDC does not know the principal {client} (reaching {where}): {text}")
        if isinstance(exc, gssapi.exceptions.ExpiredCredentialsError) or "expired" in low:
            return error(f"the Kerberos credentials of {client} have expired (reaching {where}): kinit again, "
                         f"or pass principal= and keytab= ({text})")
        if self.keytab is not None and (isinstance(exc, gssapi.exceptions.MissingCredentialsError)
                                        or "keytab" in low or "key table" in low or "preauthentication failed" in low
                                        or "decrypt" in low or "integrity" in low):
            return error(f"the keytab {self.keytab} holds no usable key for {self.principal} (or cannot be read) "
                         f"(reaching {where}): {text}")
        if isinstance(exc, gssapi.exceptions.MissingCredentialsError) or "no kerberos credentials" in low \
                or "no credentials" in low:
            return error(f"no Kerberos credentials for {client} to reach {where}: kinit, or pass principal= and "
                         f"keytab= ({text})")
        return error(f"Kerberos failed for {client} reaching {where}: {text}")


def _gss_text(exc: gssapi.raw.misc.GSSError) -> str:
    """The mechanism's own words (MIT's minor status) when there are some, else GSS-API's."""
    try:
        text = str(exc.gen_message())
    except Exception:  # a message is the best effort; the class name is enough then
        return type(exc).__name__
    minor = re.search(r"Minor \(\d+\): (.+)$", text, re.DOTALL)
    if minor is not None and minor.group(1).strip() and "unknown error" not in minor.group(1).lower():
        return minor.group(1).strip()
    return re.sub(r"^Major \(\d+\): ", "", text)


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()


def _negotiate_token(header: str) -> str | None:
    match = _NEGOTIATE.match(header)
    return match.group(1) if match is not None and match.group(1) else None


def _parse_cookie(header: str) -> tuple[str, float | None] | None:
    """(value, expiry) of a ``hadoop.auth`` Set-Cookie header, None for another cookie.

    The expiry is the earliest of ``Max-Age``, ``Expires`` and the token's own ``e=``
    (epoch milliseconds, what the RM checks); None when none says.
    """
    first, _, attributes = header.partition(";")
    name, eq, value = first.partition("=")
    if not eq or name.strip() != COOKIE:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    ends: list[float] = []
    for attribute in attributes.split(";"):
        key, _, raw = attribute.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        try:
            if key == "max-age":
                ends.append(time.time() + int(raw))
            elif key == "expires":
                ends.append(parsedate_to_datetime(raw).timestamp())
        except (ValueError, TypeError, OverflowError):
            continue
    fields = dict(part.partition("=")[::2] for part in value.split("&"))
    if fields.get("e", "").isdigit():
        ends.append(int(fields["e"]) / 1000.0)
    return value, (min(ends) if ends else None)


__all__ = ["COOKIE", "SpnegoAuth", "SpnegoError", "canonical_host"]
