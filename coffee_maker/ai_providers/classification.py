"""From whatever a vendor raised to one :class:`~coffee_maker.ai_providers.errors.ProviderError`.

What each vendor's errors look like is written down as data: the exception class names
that mean a timeout or a dropped connection, the phrases that tell a quota from a rate
limit or a context overflow when the HTTP status alone cannot (:data:`MARKERS`, by kind
and by vendor), Anthropic's error types for an error inside a streamed 200, and where
Google puts its retry delay and quota ids. :func:`classify` reads any SDK's exception
through these tables; what the agent CLIs report in words is read in ``cli_errors.py``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from coffee_maker.ai_providers.errors import (
    ErrorKind,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    UnknownProviderError,
    make_error,
)

# -- the tables ----------------------------------------------------------------------------

#: Phrases (regular expressions, case-insensitive) in an error's text that decide its kind
#: where the HTTP status alone cannot, by kind and by the vendor that says them.
MARKERS: dict[ErrorKind, dict[str, tuple[str, ...]]] = {
    ErrorKind.QUOTA_EXHAUSTED: {
        "openai": ("insufficient_quota", "exceeded your current quota", "billing"),
        "openai daily caps": ("per day",),
        "anthropic": ("credit balance is too low",),
        "claude code": (
            "usage limit",
            r"(?<!rate )limit reached",
            "out of credits",
            r"hit your (?:usage )?limit",
        ),
        "google": ("PerDay", "daily limit", "daily quota"),
    },
    ErrorKind.CONTEXT_TOO_LONG: {
        "anthropic": ("prompt is too long", "prompt_too_long"),
        "openai": ("context_length_exceeded", "maximum context length", "reduce the length"),
        "google": ("input token count", "exceeds the maximum number of tokens"),
        "ollama": ("exceeds the available context size", "longer than the context length"),
        "llama.cpp": ("exceeds the context length",),
        "compatibles": ("context window", "too many tokens"),
    },
    #: A wrong key that the vendor answers with 400, not 401.
    ErrorKind.AUTH: {"google": ("API key not valid", "API_KEY_INVALID")},
    ErrorKind.CONTENT_FILTERED: {
        "openai": ("content_filter",),
        "azure": ("content management policy", "responsible ai"),
        "compatibles": ("safety", "blocked by"),
    },
}

#: The kind an HTTP status means by itself (a 429, a 400 and other 4xx are read further).
STATUS_KINDS: dict[int, ErrorKind] = {
    401: ErrorKind.AUTH,
    403: ErrorKind.AUTH,
    402: ErrorKind.QUOTA_EXHAUSTED,
    408: ErrorKind.TIMEOUT,
    503: ErrorKind.OVERLOADED,
    529: ErrorKind.OVERLOADED,  # Anthropic
}

#: Exception class names (anywhere in the MRO) by kind, for errors without a status:
#: httpx/httpcore (every SDK's transport), the SDKs' own, the builtins.
EXCEPTION_NAMES: dict[ErrorKind, frozenset[str]] = {
    ErrorKind.TIMEOUT: frozenset(
        {
            "ReadTimeout",
            "WriteTimeout",
            "ConnectTimeout",
            "PoolTimeout",
            "TimeoutException",
            "APITimeoutError",  # openai, anthropic
            "TimeoutExpired",
            "TimeoutError",
        }
    ),
    ErrorKind.CONNECTION: frozenset(
        {
            "ConnectError",
            "RemoteProtocolError",
            "NetworkError",
            "ReadError",
            "WriteError",
            "ProtocolError",
            "APIConnectionError",  # openai, anthropic
            "ConnectionError",  # the builtin, raised by the ollama SDK
            "ConnectionRefusedError",
            "ConnectionResetError",
            "LocalProtocolError",
        }
    ),
}

#: Anthropic's error types, for an error that arrives as an SSE event after HTTP 200.
STREAM_ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

#: A daily cap, whoever says it: it resets at midnight Pacific time.
DAILY = re.compile(r"PerDay|per day|daily", re.IGNORECASE)


def _markers(kind: ErrorKind) -> re.Pattern[str]:
    return re.compile("|".join(p for ps in MARKERS[kind].values() for p in ps), re.IGNORECASE)


_QUOTA, _CONTEXT, _AUTH, _FILTER = map(
    _markers,
    (
        ErrorKind.QUOTA_EXHAUSTED,
        ErrorKind.CONTEXT_TOO_LONG,
        ErrorKind.AUTH,
        ErrorKind.CONTENT_FILTERED,
    ),
)


def kind_for_status(status: int | None, text: str = "") -> ErrorKind:
    """The kind for an HTTP status and the error's text (message, type, code)."""
    if status == 429:
        return ErrorKind.QUOTA_EXHAUSTED if _QUOTA.search(text) else ErrorKind.RATE_LIMITED
    if status == 400 and _AUTH.search(text):
        return ErrorKind.AUTH
    if status in STATUS_KINDS:
        return STATUS_KINDS[status]
    if status is not None and status >= 500:
        return ErrorKind.SERVER_ERROR
    if _CONTEXT.search(text):
        return ErrorKind.CONTEXT_TOO_LONG
    if status is not None and 400 <= status < 500:
        if _QUOTA.search(text) and "credit" in text.lower():
            return ErrorKind.QUOTA_EXHAUSTED
        if _FILTER.search(text):
            return ErrorKind.CONTENT_FILTERED
        return ErrorKind.BAD_REQUEST
    return ErrorKind.UNKNOWN


# -- when to come back ---------------------------------------------------------------------


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return max(0.0, float(lower["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # only for an HTTP date in Retry-After: ~15 ms to import

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _google_retry_delay(details: Any) -> float | None:
    """``RetryInfo.retryDelay`` ("30s", "1.5s") from a Google error's details."""
    for item in details or []:
        if isinstance(item, Mapping) and "retryDelay" in item:
            match = re.fullmatch(r"([\d.]+)s", str(item["retryDelay"]))
            if match:
                return float(match.group(1))
    return None


def _google_quota_ids(details: Any) -> list[str]:
    """The ``quotaId`` of each violation in a Google error's ``QuotaFailure`` detail."""
    return [
        str(violation.get("quotaId", ""))
        for item in details or []
        if isinstance(item, Mapping)
        for violation in item.get("violations") or []
        if isinstance(violation, Mapping)
    ]


def next_pacific_midnight(now: datetime | None = None) -> datetime:
    """Google's and OpenAI's daily quotas reset at midnight Pacific time."""
    tz = ZoneInfo("America/Los_Angeles")
    local = (now or datetime.now(UTC)).astimezone(tz)
    tomorrow = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return tomorrow.astimezone(UTC)


# -- classify ------------------------------------------------------------------------------


def _status_error_fields(
    exc: BaseException,
) -> tuple[int | None, str, Mapping[str, str] | None, Any]:
    """(status, searchable text, headers, details) from any SDK's HTTP status error."""
    status = getattr(exc, "status_code", None)
    if status is None and isinstance(getattr(exc, "code", None), int):
        status = exc.code  # google-genai APIError
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
    body = getattr(exc, "body", None)
    details = getattr(exc, "details", None)
    parts = [str(exc)]
    parts += [str(getattr(exc, a, "") or "") for a in ("code", "type", "status", "error")]
    if isinstance(body, Mapping):
        parts.append(str(body))
    if isinstance(status, int) and status <= 0:  # ollama's mid-stream errors: no status
        status = None
    if isinstance(details, Mapping):  # google-genai keeps the whole error JSON here
        error = details.get("error", details)
        details = error.get("details") if isinstance(error, Mapping) else None
        parts.append(str(error))
    return status, " ".join(parts), headers, details


def classify(
    exc: BaseException, *, provider: str | None = None, model: str | None = None
) -> ProviderError:
    """Map any exception raised while calling a model to a :class:`ProviderError`."""
    if isinstance(exc, ProviderError):
        exc.provider = exc.provider or provider
        exc.model = exc.model or model
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    fields: dict[str, Any] = {"provider": provider, "model": model, "cause": exc}
    # google-genai's str() is the whole error JSON; its ``message`` is the sentence
    message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    if names & EXCEPTION_NAMES[ErrorKind.TIMEOUT]:
        return ProviderTimeoutError(message, **fields)
    status, text, headers, details = _status_error_fields(exc)
    if status is not None and int(status) < 400:  # an error event inside a streamed 200
        status = STREAM_ERROR_STATUS.get(str(getattr(exc, "type", "") or ""), status)
    if status is None:
        if names & EXCEPTION_NAMES[ErrorKind.CONNECTION] or isinstance(exc, OSError):
            return ProviderConnectionError(message, **fields)
        return UnknownProviderError(f"{type(exc).__name__}: {message}", **fields)
    kind = kind_for_status(int(status), text)
    quota_ids = _google_quota_ids(details)
    if status == 429 and quota_ids:  # Google says "exceeded your current quota" for both
        daily = any("PerDay" in quota_id for quota_id in quota_ids)
        kind = ErrorKind.QUOTA_EXHAUSTED if daily else ErrorKind.RATE_LIMITED
    retry_after = parse_retry_after(headers) or _google_retry_delay(details)
    reset_at = None
    if kind is ErrorKind.QUOTA_EXHAUSTED:
        if DAILY.search(text):
            reset_at = next_pacific_midnight()
        elif retry_after:
            reset_at = datetime.now(UTC) + timedelta(seconds=retry_after)
    return make_error(
        kind, message, status_code=int(status), retry_after=retry_after, reset_at=reset_at, **fields
    )
