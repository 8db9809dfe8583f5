"""From whatever a vendor raised to one :class:`~coffee_maker.ai_providers.errors.ProviderError`.

What each vendor's errors look like is written down as data: the exception class names
that mean a timeout or a dropped connection, the phrases that tell a quota from a rate
limit or a context overflow when the HTTP status alone cannot (:data:`MARKERS`, by kind
and by vendor), Anthropic's error types for an error inside a streamed 200, and where
Google puts its retry delay and quota ids. :func:`classify` reads any SDK's exception
through these tables; :func:`classify_cli_json` reads a Claude Code JSON result and
:func:`classify_cli_message` the one-line error text of the other agent CLIs (Codex,
Gemini CLI), with the reset time their usage-limit messages give.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from coffee_maker.ai_providers.errors import (
    ContextTooLongError,
    ErrorKind,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
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
        "claude code": ("usage limit", r"(?<!rate )limit reached", "out of credits"),
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
#: Claude Code's "usage limit reached|<epoch seconds of the reset>".
USAGE_LIMIT = re.compile(r"usage limit reached\|(\d{9,})", re.IGNORECASE)
#: Codex's "try again at 2:07 PM." / "try again at Dec 4th, 2026 1:57 PM." (local time).
TRY_AGAIN_AT = re.compile(
    r"try again at (?:(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2})(?:st|nd|rd|th), (?P<year>\d{4}) )?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2}) ?(?P<ampm>[AP]M)",
    re.IGNORECASE,
)
#: "try again in 20s", "reset after 3h20m15s", "retry after 2s": a delay from now.
RESET_IN = re.compile(
    r"(?:try again|resets?|retry)(?: after| in) (?P<spec>(?:\d+(?:\.\d+)? ?[hms] ?)+)",
    re.IGNORECASE,
)
#: An HTTP status quoted in a CLI's error line ("unexpected status 401", "last status: 429",
#: a Google error body's ``"code":401``).
QUOTED_STATUS = re.compile(r'(?:\b(?:status|HTTP)[: ]+|"code": ?)(\d{3})\b', re.IGNORECASE)
_TIMED_OUT = re.compile(r"timed? ?out|timeout", re.IGNORECASE)
_CONNECTION = re.compile(
    r"connection|connect error|network|disconnected|error sending request", re.IGNORECASE
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


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


def classify_cli_json(
    data: Mapping[str, Any], *, provider: str | None = None, model: str | None = None
) -> ProviderError | None:
    """The error in a Claude Code ``--output-format json`` result, or None if there is none.

    A turn limit (``subtype: error_max_turns``) is not a provider failure: the agent did
    work in the workspace, so the caller reports it as a result with ``error`` set.
    """
    if not data.get("is_error") or data.get("subtype") == "error_max_turns":
        return None
    text = " ".join(str(data.get(k) or "") for k in ("result", "terminal_reason", "subtype"))
    text += " " + " ".join(str(e) for e in data.get("errors") or [])
    fields: dict[str, Any] = {"provider": provider, "model": model}
    usage = USAGE_LIMIT.search(text)
    if usage:
        reset = datetime.fromtimestamp(int(usage.group(1)), UTC)
        return QuotaExhaustedError("Claude usage limit reached", reset_at=reset, **fields)
    if data.get("terminal_reason") == "prompt_too_long" or _CONTEXT.search(text):
        return ContextTooLongError(text.strip() or "prompt too long", **fields)
    status = data.get("api_error_status")
    if isinstance(status, int):
        return make_error(
            kind_for_status(status, text),
            text.strip() or f"HTTP {status}",
            status_code=status,
            **fields,
        )
    if _QUOTA.search(text):
        return QuotaExhaustedError(text.strip(), **fields)
    return UnknownProviderError(text.strip() or "Claude Code reported an error", **fields)


def reset_time(text: str, now: datetime | None = None) -> datetime | None:
    """When a usage-limit message says the limit resets (UTC), or None if it does not say."""
    now = now or datetime.now(UTC)
    epoch = USAGE_LIMIT.search(text)
    if epoch:
        return datetime.fromtimestamp(int(epoch.group(1)), UTC)
    at = TRY_AGAIN_AT.search(text)
    if at:
        hour = int(at["hour"]) % 12 + (12 if at["ampm"].upper() == "PM" else 0)
        local = now.astimezone()  # the CLI writes the time in the local zone, as we read it
        when = local.replace(hour=hour, minute=int(at["minute"]), second=0, microsecond=0)
        if at["month"] and at["month"].lower() in _MONTHS:
            month = _MONTHS.index(at["month"].lower()) + 1
            when = when.replace(year=int(at["year"]), month=month, day=int(at["day"]))
        elif when < local:
            when += timedelta(days=1)
        return when.astimezone(UTC)
    delay = RESET_IN.search(text)
    if delay:
        units = {"h": 3600, "m": 60, "s": 1}
        parts = re.findall(r"(\d+(?:\.\d+)?) ?([hms])", delay["spec"].lower())
        return now + timedelta(seconds=sum(float(n) * units[u] for n, u in parts))
    return None


def classify_cli_message(
    text: str, *, provider: str | None = None, model: str | None = None
) -> ProviderError:
    """The error an agent CLI reported in words (its error event, its last line)."""
    fields: dict[str, Any] = {"provider": provider, "model": model}
    text = " ".join(text.split()) or "the CLI reported an error"
    if _QUOTA.search(text):
        reset = reset_time(text)
        if reset is None and DAILY.search(text):
            reset = next_pacific_midnight()
        return QuotaExhaustedError(text, reset_at=reset, **fields)
    if _CONTEXT.search(text):
        return ContextTooLongError(text, **fields)
    quoted = QUOTED_STATUS.search(text)
    status = int(quoted.group(1)) if quoted else None
    if status is None and re.search(r"rate.?limit", text, re.IGNORECASE):
        status = 429
    kind = kind_for_status(status, text)
    if status is None and kind is ErrorKind.UNKNOWN:
        if _TIMED_OUT.search(text):
            kind = ErrorKind.TIMEOUT
        elif _CONNECTION.search(text):
            kind = ErrorKind.CONNECTION
    reset = reset_time(text) if kind is ErrorKind.RATE_LIMITED else None
    retry_after = (reset - datetime.now(UTC)).total_seconds() if reset else None
    return make_error(kind, text, status_code=status, retry_after=retry_after, **fields)
