"""classify() on real SDK exceptions raised by real responses from the vendor fakes,
plus classify_cli_json() on Claude Code result shapes and parse_retry_after() forms."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

import pytest
from fakes.anthropic import FakeAnthropic
from fakes.gemini import (
    API_KEY_INVALID,
    FakeGemini,
    quota_failure,
    retry_info,
)
from fakes.ollama import CONTEXT_TOO_LONG, FakeOllama

from coffee_maker.ai_providers.classification import (
    classify,
    next_pacific_midnight,
    parse_retry_after,
)
from coffee_maker.ai_providers.cli_errors import classify_cli_json
from coffee_maker.ai_providers.errors import Action, ErrorKind, ProviderError, RateLimitError
from coffee_maker.fakes.openai import CONTEXT_LENGTH_EXCEEDED, INSUFFICIENT_QUOTA, FakeOpenAI
from coffee_maker.fakes.server import Reply

KEY = "sk-test-errors-0123456789abcdefghijkl"
HELLO = [{"role": "user", "content": "hi"}]
CLOSED_PORT = "http://127.0.0.1:9"  # discard: nothing listens there


def openai_exception(base_url: str) -> Exception:
    import openai

    client = openai.OpenAI(api_key=KEY, base_url=base_url + "/v1", max_retries=0, timeout=5)
    with pytest.raises(openai.OpenAIError) as info:
        client.chat.completions.create(model="gpt-5.4-mini", messages=HELLO)
    return info.value


def gemini_exception(base_url: str, timeout_ms: int = 5000) -> Exception:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=base_url, timeout=timeout_ms)
    client = genai.Client(api_key="AIzaTestKey0123456789abcdefghijklmn", http_options=options)
    with pytest.raises(Exception) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    return info.value


def ollama_exception(host: str, stream: bool = False) -> Exception:
    import ollama

    client = ollama.Client(host=host, timeout=5)
    with pytest.raises(Exception) as info:
        reply = client.chat(model="qwen2.5-coder:14b", messages=HELLO, stream=stream)
        list(reply) if stream else None
    return info.value


def anthropic_exception(fake: FakeAnthropic) -> Exception:
    import anthropic

    client = anthropic.Anthropic(api_key=KEY, base_url=fake.url, max_retries=0, timeout=5)
    with pytest.raises(anthropic.APIError) as info:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=HELLO)
    return info.value


# -- OpenAI and compatibles ----------------------------------------------------------------

RPM = (
    "Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): "
    "Limit 3, Used 3, Requested 1. Please try again in 20s."
)
RPD = "Rate limit reached for gpt-4o in organization org-abc on requests per day (RPD): Limit 200"
AZURE_FILTER = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content "
    "management policy."
)


@pytest.mark.parametrize(
    ("status", "message", "fields", "kind"),
    [
        (429, RPM, {"code": "rate_limit_exceeded"}, ErrorKind.RATE_LIMITED),
        (429, RPD, {"code": "rate_limit_exceeded"}, ErrorKind.QUOTA_EXHAUSTED),
        (429, INSUFFICIENT_QUOTA, {"code": "insufficient_quota"}, ErrorKind.QUOTA_EXHAUSTED),
        (
            400,
            CONTEXT_LENGTH_EXCEEDED,
            {"code": "context_length_exceeded"},
            ErrorKind.CONTEXT_TOO_LONG,
        ),
        (400, AZURE_FILTER, {"code": "content_filter"}, ErrorKind.CONTENT_FILTERED),
        (400, "Invalid 'messages[1].role'.", {}, ErrorKind.BAD_REQUEST),
        (401, None, {}, ErrorKind.AUTH),
        (403, None, {}, ErrorKind.AUTH),
        (404, None, {}, ErrorKind.BAD_REQUEST),
        (500, None, {}, ErrorKind.SERVER_ERROR),
        (503, None, {}, ErrorKind.OVERLOADED),
    ],
)
def test_openai_errors(status, message, fields, kind):
    with FakeOpenAI() as fake:
        fake.error(status, message, **fields)
        error = classify(openai_exception(fake.url), provider="openai", model="gpt-5.4-mini")
    assert error.kind is kind and error.status_code == status
    assert (error.provider, error.model) == ("openai", "gpt-5.4-mini")


def test_openai_retry_after_ms_wins_over_retry_after():
    with FakeOpenAI() as fake:
        fake.error(429, RPM, headers={"retry-after-ms": "1500", "retry-after": "20"})
        error = classify(openai_exception(fake.url))
    assert isinstance(error, RateLimitError) and error.retry_after == 1.5


def test_openai_daily_cap_resets_at_pacific_midnight():
    with FakeOpenAI() as fake:
        fake.error(429, RPD)
        error = classify(openai_exception(fake.url))
    assert error.action is Action.COOLDOWN and error.reset_at == next_pacific_midnight()


def test_openai_timeout_and_connection_errors():
    with FakeOpenAI() as fake:
        fake.enqueue(Reply(200, {}, delay=2.0))
        import openai

        client = openai.OpenAI(api_key=KEY, base_url=fake.url + "/v1", max_retries=0, timeout=0.3)
        with pytest.raises(openai.APITimeoutError) as info:
            client.chat.completions.create(model="m", messages=HELLO)
    assert classify(info.value).kind is ErrorKind.TIMEOUT
    assert classify(openai_exception(CLOSED_PORT)).kind is ErrorKind.CONNECTION


# -- Gemini -----------------------------------------------------------------------------------

PER_MINUTE = quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier")
PER_DAY = quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")


@pytest.mark.parametrize(
    ("status", "message", "details", "kind", "retry_after"),
    [
        (429, None, [PER_MINUTE, retry_info("31s")], ErrorKind.RATE_LIMITED, 31.0),
        (429, None, [PER_DAY, retry_info("58.5s")], ErrorKind.QUOTA_EXHAUSTED, 58.5),
        (429, "Resource exhausted. Please try again later.", None, ErrorKind.RATE_LIMITED, None),
        (
            400,
            "API key not valid. Please pass a valid API key.",
            [API_KEY_INVALID],
            ErrorKind.AUTH,
            None,
        ),
        (
            400,
            "The input token count (1200000) exceeds the maximum number of tokens allowed "
            "(1048576).",
            None,
            ErrorKind.CONTEXT_TOO_LONG,
            None,
        ),
        (400, "Request contains an invalid argument.", None, ErrorKind.BAD_REQUEST, None),
        (403, None, None, ErrorKind.AUTH, None),
        (404, None, None, ErrorKind.BAD_REQUEST, None),
        (500, None, None, ErrorKind.SERVER_ERROR, None),
        (503, None, None, ErrorKind.OVERLOADED, None),
    ],
)
def test_gemini_errors(status, message, details, kind, retry_after):
    with FakeGemini() as fake:
        fake.error(status, message, details=details)
        exc = gemini_exception(fake.url)
    assert type(exc).__name__ in ("ClientError", "ServerError")
    error = classify(exc)
    assert error.kind is kind and error.status_code == status
    assert error.retry_after == retry_after
    assert not error.message.startswith(str(status))  # Google's sentence, not the JSON dump


def test_gemini_daily_quota_has_a_reset_time():
    with FakeGemini() as fake:
        fake.error(429, details=[PER_DAY])
        error = classify(gemini_exception(fake.url))
    assert error.reset_at == next_pacific_midnight()


def test_gemini_raw_transport_errors():
    with FakeGemini() as fake:
        fake.enqueue(Reply(200, {}, delay=2.0))
        timeout = gemini_exception(fake.url, timeout_ms=300)
    assert type(timeout).__module__.startswith("httpx2")  # google-genai does not wrap them
    assert classify(timeout).kind is ErrorKind.TIMEOUT
    refused = gemini_exception(CLOSED_PORT)
    assert type(refused).__name__ == "ConnectError"
    assert classify(refused).kind is ErrorKind.CONNECTION


# -- Ollama -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (404, 'model "x" not found, try pulling it first', ErrorKind.BAD_REQUEST),
        (400, CONTEXT_TOO_LONG, ErrorKind.CONTEXT_TOO_LONG),
        (
            400,
            "the prompt is longer than the context length currently available to the model",
            ErrorKind.CONTEXT_TOO_LONG,
        ),
        (429, "too many requests", ErrorKind.RATE_LIMITED),
        (401, "unauthorized", ErrorKind.AUTH),
        (500, None, ErrorKind.SERVER_ERROR),
    ],
)
def test_ollama_errors(status, message, kind):
    with FakeOllama() as fake:
        fake.error(status, message)
        exc = ollama_exception(fake.url)
    assert type(exc).__name__ == "ResponseError"
    assert classify(exc).kind is kind


def test_ollama_error_inside_a_stream_has_no_status():
    body = '{"model":"m","message":{"role":"assistant","content":"a"},"done":false}\n'
    body += '{"error":"an error was encountered while running the model"}\n'
    with FakeOllama() as fake:
        fake.enqueue(Reply(200, body, {"content-type": "application/x-ndjson"}))
        exc = ollama_exception(fake.url, stream=True)
    error = classify(exc)
    assert error.status_code is None and error.kind is ErrorKind.UNKNOWN
    assert "HTTP" not in str(error)


def test_ollama_server_down_is_a_connection_error():
    exc = ollama_exception(CLOSED_PORT)
    assert type(exc) is ConnectionError  # the builtin, raised by the ollama SDK
    assert classify(exc).kind is ErrorKind.CONNECTION


# -- Anthropic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (429, {"retry-after": "2"}, ErrorKind.RATE_LIMITED, 2.0),
        (529, {}, ErrorKind.OVERLOADED, None),
        (401, {}, ErrorKind.AUTH, None),
    ],
)
def test_anthropic_errors(status, headers, kind, retry_after):
    with FakeAnthropic() as fake:
        fake.error(status, headers=headers)
        error = classify(anthropic_exception(fake))
    assert error.kind is kind and error.retry_after == retry_after


# -- anything else --------------------------------------------------------------------------


def test_unknown_exceptions_and_provider_errors():
    error = classify(ValueError("odd"), provider="p", model="m")
    assert error.kind is ErrorKind.UNKNOWN and "ValueError: odd" in error.message
    assert error.action is Action.NEXT_PROVIDER and not error.retryable
    original = RateLimitError("slow down")
    assert classify(original, provider="p", model="m") is original
    assert (original.provider, original.model) == ("p", "m")


def test_provider_error_is_one_redacted_line(monkeypatch):
    monkeypatch.setenv("SOME_VENDOR_API_KEY", "secret-value-123456")
    error = ProviderError("bad\nkey secret-value-123456 and sk-abcdefghijklmnopqrstuvwxyz")
    assert "\n" not in str(error)
    assert "secret-value-123456" not in str(error) and "sk-abcdefghij" not in str(error)


# -- Claude Code JSON results ---------------------------------------------------------------


def cli(**fields: Any) -> dict[str, Any]:
    return {"type": "result", "subtype": "success", "is_error": True, "result": ""} | fields


@pytest.mark.parametrize(
    ("data", "kind", "status"),
    [
        (cli(result="Claude AI usage limit reached|1767225600"), ErrorKind.QUOTA_EXHAUSTED, None),
        (cli(result="5-hour limit reached ∙ resets 3pm"), ErrorKind.QUOTA_EXHAUSTED, None),
        (cli(result="Credit balance is too low"), ErrorKind.QUOTA_EXHAUSTED, None),
        (
            cli(terminal_reason="prompt_too_long", result="Prompt is too long"),
            ErrorKind.CONTEXT_TOO_LONG,
            None,
        ),
        (
            cli(terminal_reason="api_error", api_error_status=429, result="API Error: 429"),
            ErrorKind.RATE_LIMITED,
            429,
        ),
        (
            cli(
                terminal_reason="api_error",
                api_error_status=529,
                result="API Error: 529 Overloaded",
            ),
            ErrorKind.OVERLOADED,
            529,
        ),
        (
            cli(
                terminal_reason="api_error",
                api_error_status=401,
                result="Invalid API key · Please run /login",
            ),
            ErrorKind.AUTH,
            401,
        ),
        (cli(result="something unexpected"), ErrorKind.UNKNOWN, None),
    ],
)
def test_claude_code_errors(data, kind, status):
    error = classify_cli_json(data, provider="claude-cli", model="sonnet")
    assert error is not None and error.kind is kind and error.status_code == status
    assert error.provider == "claude-cli"


def test_claude_code_usage_limit_reset_time():
    error = classify_cli_json(cli(result="Claude AI usage limit reached|1767225600"))
    assert error is not None and error.reset_at == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "data",
    [
        {"type": "result", "subtype": "success", "is_error": False, "result": "Done."},
        {"type": "result", "subtype": "error_max_turns", "is_error": True, "num_turns": 40},
    ],
)
def test_claude_code_results_that_are_not_provider_errors(data):
    assert classify_cli_json(data) is None


# -- Retry-After ------------------------------------------------------------------------------

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "7"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after": "later"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers, seconds):
    assert parse_retry_after(headers, now=NOW) == seconds


def test_next_pacific_midnight_follows_daylight_saving():
    summer = datetime(2026, 7, 1, 20, 0, tzinfo=UTC)  # 13:00 PDT
    assert next_pacific_midnight(summer) == datetime(2026, 7, 2, 7, 0, tzinfo=UTC)
    winter = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # 04:00 PST
    assert next_pacific_midnight(winter) == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)
