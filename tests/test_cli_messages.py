"""Agent CLIs report errors in words: classify_cli_message and reset_time read them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coffee_maker.ai_providers.cli_errors import classify_cli_json, classify_cli_message, reset_time
from coffee_maker.ai_providers.errors import ErrorKind

NOW = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)
LIMIT = (
    "You\u2019ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
    "https://chatgpt.com/settings/usage to purchase more credits or try again at {when}."
)


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """The CLIs write reset times in the local zone: pin it."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (LIMIT.format(when="5:01 PM"), datetime(2026, 12, 2, 17, 1, tzinfo=UTC)),
        (LIMIT.format(when="9:15 AM"), datetime(2026, 12, 3, 9, 15, tzinfo=UTC)),  # tomorrow
        (LIMIT.format(when="12:05 AM"), datetime(2026, 12, 3, 0, 5, tzinfo=UTC)),
        (LIMIT.format(when="Jan 11th, 2027 1:57 PM"), datetime(2027, 1, 11, 13, 57, tzinfo=UTC)),
        (LIMIT.format(when="Dec 3rd, 2026 12:00 PM"), datetime(2026, 12, 3, 12, 0, tzinfo=UTC)),
        ("Claude AI usage limit reached|1893456000", datetime(2030, 1, 1, tzinfo=UTC)),
        ("Quota exceeded. Your quota will reset after 3h20m15s.",
         datetime(2026, 12, 2, 17, 50, 15, tzinfo=UTC)),
        ("Rate limit reached. Please try again in 20s.",
         datetime(2026, 12, 2, 14, 30, 20, tzinfo=UTC)),
        ("Quota exceeded. Check your plan and billing details.", None),
    ],
)  # fmt: skip
def test_reset_times(text, expected):
    assert reset_time(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "kind", "status"),
    [
        (LIMIT.format(when="5:01 PM"), ErrorKind.QUOTA_EXHAUSTED, None),
        ("Quota exceeded. Check your plan and billing details.", ErrorKind.QUOTA_EXHAUSTED, None),
        ("exceeded retry limit, last status: 429 Too Many Requests, request id: req_1",
         ErrorKind.RATE_LIMITED, 429),
        ("rate limit exceeded: Rate limit reached for gpt-5.4. Please try again in 20s.",
         ErrorKind.RATE_LIMITED, 429),
        ("unexpected status 401 Unauthorized: Incorrect API key provided", ErrorKind.AUTH, 401),
        ("Codex ran out of room in the model's context window. Start a new thread.",
         ErrorKind.CONTEXT_TOO_LONG, None),
        ("unexpected status 503 Service Unavailable", ErrorKind.OVERLOADED, 503),
        ("stream disconnected before completion: error sending request",
         ErrorKind.CONNECTION, None),
        ("something odd happened", ErrorKind.UNKNOWN, None),
        ("request timed out", ErrorKind.TIMEOUT, None),
    ],
)  # fmt: skip
def test_messages_map_to_the_taxonomy(text, kind, status):
    error = classify_cli_message(text, provider="codex", model="gpt-5.4")
    assert error.kind is kind and error.status_code == status
    assert error.provider == "codex"


def test_a_usage_limit_carries_its_reset():
    error = classify_cli_message(LIMIT.format(when="Jan 11th, 2027 1:57 PM"))
    assert error.reset_at == datetime(2027, 1, 11, 13, 57, tzinfo=UTC)
    assert classify_cli_message("daily limit reached").reset_at is not None  # Pacific midnight


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5-hour limit reached ∙ resets 2am", datetime(2026, 12, 3, 2, 0, tzinfo=UTC)),
        ("Claude usage limit reached. Your limit resets at 5:30pm (Europe/Paris).",
         datetime(2026, 12, 2, 16, 30, tzinfo=UTC)),
        ("You've hit your limit · resets 3pm (America/New_York)",
         datetime(2026, 12, 2, 20, 0, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_claude_code_plan_limits_are_quota_until_their_reset(text, expected, monkeypatch):
    import coffee_maker.ai_providers.cli_errors as cli_errors

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return NOW if tz is None else NOW.astimezone(tz)

    monkeypatch.setattr(cli_errors, "datetime", Clock)
    data = {"type": "result", "is_error": True, "result": text, "terminal_reason": "api_error"}
    error = classify_cli_json(data, provider="claude-cli", model="sonnet")
    assert error is not None and error.kind is ErrorKind.QUOTA_EXHAUSTED
    assert error.reset_at == expected
