"""One error taxonomy for every vendor, and what the fallback does with each kind.

Every SDK raises its own exceptions (and the Claude Code CLI reports errors as JSON);
:func:`classify` maps them all to a :class:`ProviderError` whose ``kind`` decides the
action. The table :data:`ACTIONS` is the single place that decision is written down
(docs/AI_PROVIDERS.md, "What happens when a call fails", says it for users).
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from coffee_maker.secrets import redact_text


class ErrorKind(enum.StrEnum):
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    QUOTA_EXHAUSTED = "quota_exhausted"
    AUTH = "auth"
    CONTEXT_TOO_LONG = "context_too_long"
    BAD_REQUEST = "bad_request"
    CONTENT_FILTERED = "content_filtered"
    BAD_RESPONSE = "bad_response"  # a reply that cannot be used (e.g. over the size cap)
    BUDGET_EXCEEDED = "budget_exceeded"
    UNKNOWN = "unknown"


class Action(enum.StrEnum):
    RETRY = "retry"  # back off (honouring Retry-After) and retry the same model
    NEXT_MODEL = "next_model"  # no retry; a model with a larger context may work
    COOLDOWN = "cooldown"  # no retry; provider unavailable until its reset
    DISABLE = "disable"  # no retry; provider disabled for this process
    NEXT_PROVIDER = "next_provider"  # no retry; this request will not work here


ACTIONS: dict[ErrorKind, Action] = {
    ErrorKind.RATE_LIMITED: Action.RETRY,
    ErrorKind.OVERLOADED: Action.RETRY,
    ErrorKind.SERVER_ERROR: Action.RETRY,
    ErrorKind.TIMEOUT: Action.RETRY,
    ErrorKind.CONNECTION: Action.RETRY,
    ErrorKind.QUOTA_EXHAUSTED: Action.COOLDOWN,
    ErrorKind.AUTH: Action.DISABLE,
    ErrorKind.CONTEXT_TOO_LONG: Action.NEXT_MODEL,
    ErrorKind.BAD_REQUEST: Action.NEXT_PROVIDER,
    ErrorKind.CONTENT_FILTERED: Action.NEXT_PROVIDER,
    ErrorKind.BAD_RESPONSE: Action.NEXT_PROVIDER,
    ErrorKind.BUDGET_EXCEEDED: Action.NEXT_PROVIDER,
    ErrorKind.UNKNOWN: Action.NEXT_PROVIDER,
}


class ProviderError(Exception):
    """A failed model call, classified. ``str()`` is one redacted line for the user."""

    kind: ErrorKind = ErrorKind.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        reset_at: datetime | None = None,
        cause: BaseException | None = None,
    ) -> None:
        self.message = redact_text(" ".join(str(message).split()))[:500]
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.retry_after = retry_after
        self.reset_at = reset_at
        self.cause = cause
        super().__init__(self.message)

    @property
    def action(self) -> Action:
        return ACTIONS[self.kind]

    @property
    def retryable(self) -> bool:
        return self.action is Action.RETRY

    def describe(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        status = f" HTTP {self.status_code}" if self.status_code else ""
        return f"{self.kind.value}{status}{' on ' + where if where else ''}: {self.message}"

    def __str__(self) -> str:
        return self.describe()


class RateLimitError(ProviderError):
    kind = ErrorKind.RATE_LIMITED


class OverloadedError(ProviderError):
    kind = ErrorKind.OVERLOADED


class ServerError(ProviderError):
    kind = ErrorKind.SERVER_ERROR


class ProviderTimeoutError(ProviderError):
    kind = ErrorKind.TIMEOUT


class ProviderConnectionError(ProviderError):
    kind = ErrorKind.CONNECTION


class QuotaExhaustedError(ProviderError):
    kind = ErrorKind.QUOTA_EXHAUSTED


class AuthenticationError(ProviderError):
    kind = ErrorKind.AUTH


class ContextTooLongError(ProviderError):
    kind = ErrorKind.CONTEXT_TOO_LONG


class BadRequestError(ProviderError):
    kind = ErrorKind.BAD_REQUEST


class ContentFilteredError(ProviderError):
    kind = ErrorKind.CONTENT_FILTERED


class BadResponseError(ProviderError):
    kind = ErrorKind.BAD_RESPONSE


class BudgetExceededError(ProviderError):
    kind = ErrorKind.BUDGET_EXCEEDED


class UnknownProviderError(ProviderError):
    kind = ErrorKind.UNKNOWN


ERROR_CLASSES: dict[ErrorKind, type[ProviderError]] = {
    cls.kind: cls
    for cls in (
        RateLimitError,
        OverloadedError,
        ServerError,
        ProviderTimeoutError,
        ProviderConnectionError,
        QuotaExhaustedError,
        AuthenticationError,
        ContextTooLongError,
        BadRequestError,
        ContentFilteredError,
        BadResponseError,
        BudgetExceededError,
        UnknownProviderError,
    )
}

# -- recognising messages -------------------------------------------------------------------

_QUOTA_MARKERS = re.compile(
    r"insufficient_quota|exceeded your current quota|credit balance is too low|"
    r"billing|usage limit|(?<!rate )limit reached|PerDay|per day|daily limit|out of credits",
    re.IGNORECASE,
)
_CONTEXT_MARKERS = re.compile(
    r"prompt is too long|context_length_exceeded|maximum context length|context window|"
    r"too many tokens|exceeds the maximum number of tokens|input token count|"
    r"prompt_too_long|reduce the length|exceeds the available context size|"
    r"longer than the context length|exceeds the context length",
    re.IGNORECASE,
)
#: A wrong key that the vendor answers with 400, not 401 (Google: API_KEY_INVALID).
_AUTH_MARKERS = re.compile(r"API key not valid|API_KEY_INVALID", re.IGNORECASE)
_FILTER_MARKERS = re.compile(
    r"content_filter|content management policy|safety|blocked by|responsible ai",
    re.IGNORECASE,
)


def kind_for_status(status: int | None, text: str = "") -> ErrorKind:
    """The kind for an HTTP status and the error's text (message, type, code)."""
    if status == 429:
        return ErrorKind.QUOTA_EXHAUSTED if _QUOTA_MARKERS.search(text) else ErrorKind.RATE_LIMITED
    if status in (401, 403) or (status == 400 and _AUTH_MARKERS.search(text)):
        return ErrorKind.AUTH
    if status == 402:
        return ErrorKind.QUOTA_EXHAUSTED
    if status in (408,):
        return ErrorKind.TIMEOUT
    if status in (503, 529):
        return ErrorKind.OVERLOADED
    if status is not None and status >= 500:
        return ErrorKind.SERVER_ERROR
    if _CONTEXT_MARKERS.search(text):
        return ErrorKind.CONTEXT_TOO_LONG
    if status is not None and 400 <= status < 500:
        if _QUOTA_MARKERS.search(text) and "credit" in text.lower():
            return ErrorKind.QUOTA_EXHAUSTED
        if _FILTER_MARKERS.search(text):
            return ErrorKind.CONTENT_FILTERED
        return ErrorKind.BAD_REQUEST
    return ErrorKind.UNKNOWN


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


def _gemini_retry_delay(details: Any) -> float | None:
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


def make_error(kind: ErrorKind, message: str, **fields: Any) -> ProviderError:
    return ERROR_CLASSES[kind](message, **fields)


# -- classify ------------------------------------------------------------------------------

_TIMEOUT_NAMES = {
    "ReadTimeout",
    "WriteTimeout",
    "ConnectTimeout",
    "PoolTimeout",
    "TimeoutException",
    "APITimeoutError",
    "TimeoutExpired",
    "TimeoutError",
}
_CONNECTION_NAMES = {
    "ConnectError",
    "RemoteProtocolError",
    "NetworkError",
    "ReadError",
    "WriteError",
    "ProtocolError",
    "APIConnectionError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "LocalProtocolError",
}


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


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
    parts = [
        str(exc),
        str(getattr(exc, "code", "") or ""),
        str(getattr(exc, "type", "") or ""),
        str(getattr(exc, "status", "") or ""),
        str(getattr(exc, "error", "") or ""),
    ]
    if isinstance(body, Mapping):
        parts.append(str(body))
    if isinstance(status, int) and status <= 0:  # ollama's mid-stream errors: no status
        status = None
    if isinstance(details, Mapping):  # google-genai keeps the whole error JSON here
        error = details.get("error", details)
        details = error.get("details") if isinstance(error, Mapping) else None
        parts.append(str(error))
    return status, " ".join(parts), headers, details


#: Anthropic error types, for an error that arrives as an SSE event after HTTP 200.
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def classify(
    exc: BaseException, *, provider: str | None = None, model: str | None = None
) -> ProviderError:
    """Map any exception raised while calling a model to a :class:`ProviderError`."""
    if isinstance(exc, ProviderError):
        exc.provider = exc.provider or provider
        exc.model = exc.model or model
        return exc
    names = _class_names(exc)
    fields: dict[str, Any] = {"provider": provider, "model": model, "cause": exc}
    # google-genai's str() is the whole error JSON; its ``message`` is the sentence
    message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    if names & _TIMEOUT_NAMES:
        return ProviderTimeoutError(message, **fields)
    status, text, headers, details = _status_error_fields(exc)
    if status is not None and int(status) < 400:  # an error event inside a streamed 200
        status = _STREAM_ERROR_STATUS.get(str(getattr(exc, "type", "") or ""), status)
    if status is None:
        if names & _CONNECTION_NAMES or isinstance(exc, OSError):
            return ProviderConnectionError(message, **fields)
        return UnknownProviderError(f"{type(exc).__name__}: {message}", **fields)
    kind = kind_for_status(int(status), text)
    quota_ids = _google_quota_ids(details)
    if status == 429 and quota_ids:  # Google says "exceeded your current quota" for both
        daily = any("PerDay" in quota_id for quota_id in quota_ids)
        kind = ErrorKind.QUOTA_EXHAUSTED if daily else ErrorKind.RATE_LIMITED
    retry_after = parse_retry_after(headers) or _gemini_retry_delay(details)
    reset_at = None
    if kind is ErrorKind.QUOTA_EXHAUSTED:
        if re.search(r"PerDay|per day|daily", text, re.IGNORECASE):
            reset_at = next_pacific_midnight()
        elif retry_after:
            reset_at = datetime.now(UTC) + timedelta(seconds=retry_after)
    return make_error(
        kind, message, status_code=int(status), retry_after=retry_after, reset_at=reset_at, **fields
    )


_USAGE_LIMIT = re.compile(r"usage limit reached\|(\d{9,})", re.IGNORECASE)


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
    usage = _USAGE_LIMIT.search(text)
    if usage:
        reset = datetime.fromtimestamp(int(usage.group(1)), UTC)
        return QuotaExhaustedError("Claude usage limit reached", reset_at=reset, **fields)
    if data.get("terminal_reason") == "prompt_too_long" or _CONTEXT_MARKERS.search(text):
        return ContextTooLongError(text.strip() or "prompt too long", **fields)
    status = data.get("api_error_status")
    if isinstance(status, int):
        return make_error(
            kind_for_status(status, text),
            text.strip() or f"HTTP {status}",
            status_code=status,
            **fields,
        )
    if _QUOTA_MARKERS.search(text):
        return QuotaExhaustedError(text.strip(), **fields)
    return UnknownProviderError(text.strip() or "Claude Code reported an error", **fields)
