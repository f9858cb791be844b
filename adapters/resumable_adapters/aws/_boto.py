"""The boto3 edge: every AWS answer is mapped here to the core's error tree, once.

::

    ThrottlingException and its kin, HTTP 429, HTTP 5xx, expired or
    unobtainable credentials, connection errors and timeouts         -> TransientError
    ResourceNotFoundException (the run or step asked about)           -> JobNotFound
    on a submission: AccessDenied, ValidationException, any other 4xx -> SubmissionRejected
    elsewhere: AccessDenied, ValidationException, any other 4xx       -> InvalidArgument
    an answer without the fields the API documents                    -> ProtocolError

Only a refusal proves nothing was created, so a submission's ambiguous failures (5xx,
timeouts) stay TransientError: the core keeps the intent and looks the reference up.
Messages carry the AWS error code and message, never the request: a step's arguments
or a job driver may hold secrets. They pass through ``redact`` like every error's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from resumable_core import InvalidArgument, JobNotFound, ProtocolError, SubmissionRejected, TransientError

try:
    import botocore.exceptions  # type: ignore[import-untyped]  # botocore ships no type stubs
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("resumable_adapters.aws needs boto3: pip install 'resumable-core[aws]'") from exc

T = TypeVar("T")
_MESSAGE_MAX = 300

_THROTTLING = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "ProvisionedThroughputExceededException", "BandwidthLimitExceeded", "LimitExceededException",
    "EC2ThrottledException", "PriorRequestNotComplete", "TransactionInProgressException",
})
# Credentials that expired or could not be refreshed right now: a refresh (instance role,
# SSO, assumed role) usually cures them, so they are asked again, within the transient budget.
_EXPIRED_CREDENTIALS = frozenset({
    "ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired",
    "IDPCommunicationError", "InvalidIdentityToken",
})
_SERVER_SIDE = frozenset({
    "InternalError", "InternalFailure", "InternalServerError", "InternalServerException",
    "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
})
_NOT_FOUND = frozenset({"ResourceNotFoundException", "ResourceNotFound", "NotFoundException"})
# botocore errors raised before or instead of an answer: nothing was learnt, ask again.
_TRANSIENT_BOTOCORE: tuple[type[BaseException], ...] = (
    botocore.exceptions.ConnectionError,       # EndpointConnectionError, ConnectionClosedError, ...
    botocore.exceptions.HTTPClientError,       # ReadTimeoutError, ConnectTimeoutError, ...
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
    botocore.exceptions.TokenRetrievalError,
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _http_status(exc: Any) -> int:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status if isinstance(status, int) else 0


def _aws_message(exc: Any) -> str:
    error = exc.response.get("Error", {})
    message = " ".join(str(error.get("Message") or "").split())[:_MESSAGE_MAX]  # a proxy's HTML page: bounded
    return f"{error.get('Code') or 'error'}: {message}" if message else str(error.get("Code") or "error")


def raise_mapped(
    exc: BaseException, what: str, *, job_id: str | None = None, submitting: bool = False, not_found: bool = True
) -> NoReturn:
    """Raise the core's error for a boto3 failure of *what* (``EMR DescribeStep s-1``)."""
    if isinstance(exc, _TRANSIENT_BOTOCORE):
        raise TransientError(f"{what}: {type(exc).__name__}: {exc}; asking again", job_id=job_id) from exc
    if not isinstance(exc, botocore.exceptions.ClientError):
        if isinstance(exc, (botocore.exceptions.ParamValidationError, botocore.exceptions.ValidationError)):
            raise InvalidArgument(f"{what}: {exc}", job_id=job_id) from exc
        raise ProtocolError(f"{what}: {type(exc).__name__}: {exc}", job_id=job_id) from exc
    code, status, message = error_code(exc), _http_status(exc), _aws_message(exc)
    if code in _THROTTLING or code in _SERVER_SIDE or status == 429 or status >= 500:
        raise TransientError(f"{what}: {message} (HTTP {status}); asking again", job_id=job_id) from exc
    if code in _EXPIRED_CREDENTIALS:
        raise TransientError(f"{what}: credentials expired ({code}); asking again once they are refreshed",
                             job_id=job_id) from exc
    if code in _NOT_FOUND and not_found and not submitting:
        raise JobNotFound(f"{what}: {message}", job_id=job_id) from exc
    if submitting:
        raise SubmissionRejected(f"{what} refused: {message}", job_id=job_id) from exc
    raise InvalidArgument(f"{what} refused: {message}", job_id=job_id) from exc


def aws_call(
    what: str, call: Callable[..., T], /, *, job_id: str | None = None, submitting: bool = False,
    not_found: bool = True, **kwargs: Any,
) -> T:
    """``call(**kwargs)`` with its failure mapped by ``raise_mapped``."""
    try:
        return call(**kwargs)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise_mapped(exc, what, job_id=job_id, submitting=submitting, not_found=not_found)


def field(answer: Any, *path: str, what: str, job_id: str | None = None) -> Any:
    """``answer[path[0]][path[1]]...``, or ProtocolError naming what is missing."""
    value = answer
    for name in path:
        if not isinstance(value, Mapping) or name not in value:
            raise ProtocolError(f"{what}: the answer has no {'.'.join(path)}", job_id=job_id)
        value = value[name]
    return value


def text_field(answer: Any, *path: str, what: str, job_id: str | None = None) -> str:
    value = field(answer, *path, what=what, job_id=job_id)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{what}: {'.'.join(path)} is not a non-empty string", job_id=job_id)
    return value


def fingerprint(kind: str, spec: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of *spec*: what decides whether a recorded job is this one."""
    text = json.dumps({"kind": kind, "spec": spec}, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def iso(value: Any) -> str | None:
    """A timestamp botocore parsed (datetime) as ISO 8601 text, for a JSON result."""
    if value is None:
        return None
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)


__all__ = ["aws_call", "error_code", "field", "fingerprint", "iso", "raise_mapped", "text_field"]
