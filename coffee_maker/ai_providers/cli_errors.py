"""The errors agent CLIs report in words, and when their usage limits reset.

Claude Code reports errors in its JSON result (:func:`classify_cli_json`); Codex and
Gemini CLI in an event's or a result's message (:func:`classify_cli_message`). Both end
in the one taxonomy of :mod:`coffee_maker.ai_providers.errors`, using the vendors' phrases
of :mod:`coffee_maker.ai_providers.classification`. A plan's usage-limit message carries
when it resets, in one of a few forms :func:`reset_time` reads: that time becomes the
provider's cooldown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from coffee_maker.ai_providers.classification import (
    _CONTEXT,
    _QUOTA,
    DAILY,
    kind_for_status,
    next_pacific_midnight,
)
from coffee_maker.ai_providers.errors import (
    ContextTooLongError,
    ErrorKind,
    ProviderError,
    QuotaExhaustedError,
    UnknownProviderError,
    make_error,
)

#: Claude Code's "usage limit reached|<epoch seconds of the reset>".
USAGE_LIMIT = re.compile(r"usage limit reached\|(\d{9,})", re.IGNORECASE)
#: Codex's "try again at 2:07 PM." / "try again at Dec 4th, 2026 1:57 PM." (local time).
TRY_AGAIN_AT = re.compile(
    r"try again at (?:(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2})(?:st|nd|rd|th), (?P<year>\d{4}) )?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2}) ?(?P<ampm>[AP]M)",
    re.IGNORECASE,
)
#: Claude Code's plan limits: "5-hour limit reached ∙ resets 2am", "resets at 5:30pm
#: (Europe/Paris)" (the zone given, else the local one).
RESETS_AT = re.compile(
    r"resets?(?: at)? (?P<hour>\d{1,2})(?::(?P<minute>\d{2}))? ?(?P<ampm>[ap]m)\b"
    r"(?: \((?P<zone>[A-Za-z_]+(?:/[A-Za-z_+-]+)*)\))?",
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
    if _QUOTA.search(text) and RESETS_AT.search(text):  # a plan limit with its reset time
        return QuotaExhaustedError(text.strip(), reset_at=reset_time(text), **fields)
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
        return QuotaExhaustedError(text.strip(), reset_at=reset_time(text), **fields)
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
    clock = RESETS_AT.search(text)
    if clock:
        return _next_clock_time(clock, now)
    delay = RESET_IN.search(text)
    if delay:
        units = {"h": 3600, "m": 60, "s": 1}
        parts = re.findall(r"(\d+(?:\.\d+)?) ?([hms])", delay["spec"].lower())
        return now + timedelta(seconds=sum(float(n) * units[u] for n, u in parts))
    return None


def _next_clock_time(match: re.Match[str], now: datetime) -> datetime:
    """The next time the clock shows ``match``'s hour (in its zone, else the local one)."""
    zone: Any = None
    if match["zone"]:
        try:
            zone = ZoneInfo(match["zone"])
        except (KeyError, ValueError):  # an unknown zone name: read it as local time
            zone = None
    local = now.astimezone(zone)
    hour = int(match["hour"]) % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    when = local.replace(hour=hour, minute=int(match["minute"] or 0), second=0, microsecond=0)
    if when <= local:
        when += timedelta(days=1)
    return when.astimezone(UTC)


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
