"""One error taxonomy for every vendor, and what the fallback does with each kind.

Every SDK raises its own exceptions (and the Claude Code CLI reports errors as JSON);
:func:`~coffee_maker.ai_providers.classification.classify` maps them all to a
:class:`ProviderError` whose ``kind`` decides the action. The table :data:`ACTIONS` is
the single place that decision is written down (docs/AI_PROVIDERS.md, "What happens when
a call fails", says it for users).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

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


def make_error(kind: ErrorKind, message: str, **fields: Any) -> ProviderError:
    return ERROR_CLASSES[kind](message, **fields)


#: Names that moved to :mod:`coffee_maker.ai_providers.classification` (and ``cli_errors``),
#: still importable here.
_CLASSIFICATION = {
    "classify",
    "kind_for_status",
    "next_pacific_midnight",
    "parse_retry_after",
}


def __getattr__(name: str) -> Any:
    if name in _CLASSIFICATION:
        from coffee_maker.ai_providers import classification

        return getattr(classification, name)
    if name == "classify_cli_json":
        from coffee_maker.ai_providers import cli_errors

        return cli_errors.classify_cli_json
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
