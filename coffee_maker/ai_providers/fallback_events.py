"""What the fallback chain is told, and what it tells its caller.

:class:`FallbackConfig` is how hard to try. A person reading a pull request wants to know
that the change was written by the second provider because the first was rate limited
(:class:`FallbackEvent`), and a daemon that finds every provider unavailable wants to know
why and when to try again (:class:`AllProvidersFailedError`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from coffee_maker.ai_providers.errors import ErrorKind, ProviderError
from coffee_maker.ai_providers.provider_config import FallbackSettings

#: Log level per event kind: a disabled provider is loud, a routine attempt is not.
LEVELS = {
    "attempt": logging.DEBUG,
    "success": logging.INFO,
    "wait": logging.INFO,
    "switch": logging.INFO,
    "skip": logging.INFO,
    "failure": logging.WARNING,
    "cooldown": logging.WARNING,
    "disable": logging.ERROR,
}


@dataclass
class FallbackConfig:
    """How hard to try: the config file's ``fallback:`` section (config/ai_providers.yaml)."""

    fallback_order: list[str] = field(default_factory=list)
    enabled: bool = True
    retry_attempts: int = 3  # calls per model in all, before moving on
    retry_delay: float = 1.0
    max_retry_delay: float = 60.0
    cooldown_failures: int = 3
    cooldown_seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: FallbackSettings) -> FallbackConfig:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


def _clock_text(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


@dataclass(frozen=True)
class FallbackEvent:
    """One step: ``attempt``, ``success``, ``failure``, ``wait``, ``switch``, ``skip``,
    ``cooldown`` or ``disable``; ``wait`` in seconds; ``at`` in epoch seconds."""

    kind: str
    provider: str
    model: str | None = None
    error_kind: str | None = None
    wait: float | None = None
    message: str = ""
    at: float = 0.0

    @property
    def level(self) -> int:
        return LEVELS.get(self.kind, logging.INFO)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, ``at`` as ISO 8601 UTC."""
        return {
            "kind": self.kind,
            "provider": self.provider,
            "model": self.model,
            "error_kind": self.error_kind,
            "wait": self.wait,
            "message": self.message,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat().replace("+00:00", "Z"),
        }

    def describe(self) -> str:
        """One line for a log or a PR body: ``12:00:01 wait claude/sonnet rate_limited 2.0s``."""
        where = "/".join(p for p in (self.provider, self.model) if p)
        parts = [_clock_text(self.at), self.kind, where]
        if self.error_kind:
            parts.append(self.error_kind)
        if self.wait is not None:
            parts.append(f"{self.wait:.1f}s")
        text = " ".join(parts)
        return f"{text}: {self.message}" if self.message else text


@dataclass(frozen=True)
class ProviderAttempt:
    """Why one provider of the chain did not answer.

    ``error_kind`` is an :class:`ErrorKind` value, or ``cooldown``, ``config`` or ``auth``
    for a provider skipped before any call; ``retry_at`` (epoch seconds) is when it may work
    again, when known.
    """

    provider: str
    reason: str
    error_kind: str | None = None
    retry_at: float | None = None
    budget_limit: str | None = None  # per_task, daily or monthly, when the budget said no


class AllProvidersFailedError(ProviderError):
    """No provider of the chain answered. ``str()`` lists each one and why.

    ``budget_exhausted`` is True when a provider was passed over because the budget could
    not pay for the call; ``next_retry_at`` is the earliest moment (epoch seconds) a skipped
    provider may work again (a cooldown's end, a quota or budget reset), for a daemon to
    sleep until.
    """

    def __init__(self, attempts: list[ProviderAttempt]) -> None:
        self.attempts = list(attempts)
        self.budget_exhausted = any(
            a.error_kind == ErrorKind.BUDGET_EXCEEDED.value for a in self.attempts
        )
        self.next_retry_at = min((a.retry_at for a in self.attempts if a.retry_at), default=None)
        #: Which limits refused a call; only ``per_task`` means waiting will not help.
        self.budget_limits = {a.budget_limit for a in self.attempts if a.budget_limit}
        names = ", ".join(a.provider for a in self.attempts) or "none configured"
        super().__init__(f"every provider failed ({names})")
        self.kind = ErrorKind.BUDGET_EXCEEDED if self.budget_exhausted else ErrorKind.UNKNOWN

    def describe(self) -> str:
        if not self.attempts:
            return "no provider to try: configure one under providers: in the config file"
        lines = ["every provider failed:"]
        lines += [f"  {a.provider}: {a.reason}" for a in self.attempts]
        if self.next_retry_at:
            when = datetime.fromtimestamp(self.next_retry_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            lines.append(f"  earliest retry: {when}")
        return "\n".join(lines)
