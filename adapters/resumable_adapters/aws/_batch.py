"""What the EMR jobs' batched status listings share: the batch key and the paged listing of the active ones.

One listing per container and tick (``resumable_core.aio.SupportsBatchStatus``): ``ListSteps``
of a cluster, ``ListJobRuns`` of a Serverless application or of an EKS virtual cluster,
each filtered to the *active* states. A job that ended is therefore never in a listing: it
is asked directly, once, and that read is the one its result is built from. A listing never
says "not found"; an id it does not show is asked directly by the core.

A batch key is compared within one process only (the core groups jobs by it), never logged
or stored. It names the endpoint, the region, the container and the credentials, the last
as a keyed hash with a key drawn per process, so two jobs share a listing only when either
could make it, and no secret can be read back from a key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .._batching import batch_key, secrets_hash
from ._boto import aws_call

_MAX_PAGES = 1000  # a listing of the active ones is a few pages; a token that never ends is a broken answer


def _credentials_identity(client: Any) -> str:
    """Who the client signs as, without a secret in the text and without a call.

    botocore keeps the signing credentials on the client's request signer (no public
    accessor). Static credentials enter as a keyed hash of the key id, secret and token.
    Refreshable ones (an assumed role, SSO, instance metadata) are never read here: reading
    them may refresh them over the network, and the key is asked on the event loop; the
    object itself is their identity (clients made from one session share it). A client
    without a signer (a test double) shares with no other client.
    """
    signer = getattr(client, "_request_signer", None)
    if signer is None:
        return f"client-{id(client):x}"
    credentials = getattr(signer, "_credentials", None)
    if credentials is None:
        return "unsigned"
    if callable(getattr(credentials, "refresh_needed", None)):  # botocore's RefreshableCredentials
        return f"credentials-{id(credentials):x}"
    return secrets_hash(*(str(getattr(credentials, name, None) or "") for name in ("access_key", "secret_key", "token")))


def emr_batch_key(api: str, client: Any, container: str) -> str:
    """``api`` + the client's endpoint and region + the container + a per-process hash of the credentials."""
    meta = getattr(client, "meta", None)
    endpoint = str(getattr(meta, "endpoint_url", "") or "")
    region = str(getattr(meta, "region_name", "") or "")
    return batch_key(api, endpoint, region, container, _credentials_identity(client))


def listed_pages(what: str, call: Callable[..., Any], items: str, token_in: str, token_out: str,
                 **kwargs: Any) -> Iterator[Mapping[str, Any]]:
    """Every item of every page of a listing, each call mapped at the edge (``TransientError`` when
    throttled or unreachable; a refusal is an ``InvalidArgument``, after which the core asks each
    job directly)."""
    token: str | None = None
    for _ in range(_MAX_PAGES):
        page = aws_call(what, call, not_found=False, **({**kwargs, token_in: token} if token else kwargs))
        for item in (page.get(items) if isinstance(page, Mapping) else None) or []:
            if isinstance(item, Mapping):
                yield item
        token = page.get(token_out) if isinstance(page, Mapping) else None
        if not token:
            return


def active_statuses(items: Iterator[Mapping[str, Any]], wanted: set[str], active: frozenset[str],
                    id_of: Callable[[Mapping[str, Any]], object],
                    state_of: Callable[[Mapping[str, Any]], object]) -> dict[str, str]:
    """The active state of each wanted id the listing shows (anything else is left to the direct ask)."""
    statuses: dict[str, str] = {}
    for item in items:
        job_id, state = id_of(item), state_of(item)
        if isinstance(job_id, str) and job_id in wanted and isinstance(state, str) and state in active:
            statuses[job_id] = state
    return statuses


__all__ = ["active_statuses", "emr_batch_key", "listed_pages"]
