"""ClaudeProvider: the real anthropic SDK over real HTTP against FakeAnthropic."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakes.anthropic import FakeAnthropic

from coffee_maker.ai_providers.base import Message, ToolCall, ToolSpec
from coffee_maker.ai_providers.errors import (
    AuthenticationError,
    ContextTooLongError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from coffee_maker.ai_providers.provider_config import ProviderSettings, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.providers.claude_provider import ClaudeProvider
from coffee_maker.fakes.server import Reply

KEY = "test-anthropic-key-0123456789"
CACHE = {"type": "ephemeral"}
READ_FILE = ToolSpec(
    "read_file",
    "Read a file",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
EDIT_FILE = ToolSpec(
    "edit_file",
    "Replace text",
    {"type": "object", "properties": {"path": {"type": "string"}, "old_text": {"type": "string"}}},
)


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return KEY


def make(fake: FakeAnthropic, **settings) -> ClaudeProvider:
    fields = {"name": "claude", "type": "claude", "model": "claude-sonnet-4-6"} | settings
    return ClaudeProvider(ProviderSettings(base_url=fake.url, **fields))


def test_importing_the_module_does_not_import_the_sdk():
    code = (
        "import sys, coffee_maker.ai_providers.providers.claude_provider;"
        "print('anthropic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_factory_builds_a_claude_provider_from_config(fake, key):
    config = parse_config(
        {"providers": {"claude": {"model": "claude-haiku-4-5", "base_url": fake.url}}}, "test"
    )
    provider = ProviderFactory(config=config).get_provider("claude")
    fake.reply_text("hi")
    assert isinstance(provider, ClaudeProvider)
    assert provider.execute_prompt("hello").content == "hi"
    assert fake.model_calls[0].json["model"] == "claude-haiku-4-5"


def test_plain_completion_content_model_usage_and_cost(fake, key):
    fake.reply_text("Paris.", input_tokens=1000, output_tokens=200, model="claude-sonnet-4-6")
    provider = make(fake, max_tokens=512, temperature=0.2)

    result = provider.execute_prompt("Capital of France?", system_prompt="Be brief")

    assert (result.content, result.model, result.provider) == (
        "Paris.",
        "claude-sonnet-4-6",
        "claude",
    )
    assert result.usage == {
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert result.cost == pytest.approx((1000 * 3.00 + 200 * 15.00) / 1e6)
    assert result.stop_reason == "end_turn" and result.success
    body = fake.model_calls[0].json
    assert body["max_tokens"] == 512
    assert "temperature" not in body  # API 2026-10-21 rejects any sampling parameter
    assert body["system"] == [{"type": "text", "text": "Be brief", "cache_control": CACHE}]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Capital of France?", "cache_control": CACHE}],
        }
    ]
    assert "stream" not in body


def test_metadata_has_request_id_and_rate_limit_headers(fake, key):
    fake.reply_text("ok")
    result = make(fake).execute_prompt("hi")
    assert result.metadata["request_id"].startswith("req_")
    assert result.metadata["ratelimit"]["anthropic-ratelimit-requests-remaining"] == "3999"
    assert result.metadata["raw_stop_reason"] == "end_turn"


def test_key_and_custom_headers_are_sent(fake, key):
    fake.reply_text("ok")
    make(fake, headers={"x-team": "coffee"}).execute_prompt("hi")
    assert fake.keys_seen() == {KEY}
    assert fake.model_calls[0].headers["x-team"] == "coffee"


def test_tool_call_round_trip(fake, key):
    fake.reply_tool_calls(
        [("read_file", {"path": "a.py"}, "toolu_1"), ("read_file", {"path": "b.py"}, "toolu_2")],
        text="Reading both.",
    )
    fake.reply_text("Both read.")
    provider = make(fake)
    conversation = [Message.user("Read a.py and b.py")]

    first = provider.chat(conversation, [READ_FILE, EDIT_FILE], system_prompt="You code.")

    assert first.stop_reason == "tool_use"
    assert first.content == "Reading both."
    assert first.tool_calls == [
        ToolCall("toolu_1", "read_file", {"path": "a.py"}),
        ToolCall("toolu_2", "read_file", {"path": "b.py"}),
    ]
    tools = fake.model_calls[0].json["tools"]
    assert tools[0] == {
        "name": "read_file",
        "description": "Read a file",
        "input_schema": READ_FILE.parameters,
    }
    assert tools[-1]["name"] == "edit_file" and tools[-1]["cache_control"] == CACHE
    assert "cache_control" not in tools[0]

    conversation += [
        first.to_message(),
        Message.tool_result(first.tool_calls[0], "print('a')"),
        Message.tool_result(first.tool_calls[1], "no such file", is_error=True),
    ]
    second = provider.chat(conversation, [READ_FILE, EDIT_FILE], system_prompt="You code.")

    assert second.content == "Both read." and second.tool_calls == []
    sent = fake.model_calls[1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]  # results in ONE turn
    assert sent[1]["content"] == [
        {"type": "text", "text": "Reading both."},
        {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a.py"}},
        {"type": "tool_use", "id": "toolu_2", "name": "read_file", "input": {"path": "b.py"}},
    ]
    assert sent[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "print('a')"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_2",
            "content": "no such file",
            "is_error": True,
            "cache_control": CACHE,  # the breakpoint moves to the newest user block
        },
    ]
    assert "cache_control" not in sent[0]["content"][-1]  # at most 4 breakpoints: 3 used


def test_streaming_assembles_the_same_result(fake, key):
    provider = make(fake, stream=True)
    fake.reply_text("Hello from a stream, in pieces.", input_tokens=40, output_tokens=9)
    fake.reply_tool_calls([("edit_file", {"path": "a.py", "old_text": "x = 1"})], text="Editing")

    text = provider.execute_prompt("hi")
    tool = provider.chat([Message.user("edit")], [EDIT_FILE])

    assert fake.model_calls[0].json["stream"] is True
    assert text.content == "Hello from a stream, in pieces."
    assert text.usage["input_tokens"] == 40 and text.usage["output_tokens"] == 9
    assert text.stop_reason == "end_turn" and text.metadata["request_id"]
    assert tool.content == "Editing" and tool.stop_reason == "tool_use"
    assert [(c.name, c.arguments) for c in tool.tool_calls] == [
        ("edit_file", {"path": "a.py", "old_text": "x = 1"})
    ]


def test_cache_tokens_are_reported_and_priced(fake, key):
    fake.reply_text(
        "cached", input_tokens=100, output_tokens=10, cached_tokens=5000, cache_write_tokens=800
    )
    result = make(fake).execute_prompt("hi", system_prompt="long system prompt")
    assert result.usage == {
        "input_tokens": 100,
        "output_tokens": 10,
        "cache_read_tokens": 5000,
        "cache_write_tokens": 800,
    }
    expected = (100 * 3.00 + 10 * 15.00 + 5000 * 0.30 + 800 * 3.75) / 1e6
    assert result.cost == pytest.approx(expected)


def test_large_max_tokens_does_not_require_streaming(fake, key):
    fake.reply_text("long answer")
    result = make(fake, max_tokens=64000).execute_prompt("write a lot")
    assert result.content == "long answer"


def test_rate_limit_with_retry_after(fake, key):
    fake.error(429, headers={"retry-after": "7"})
    with pytest.raises(RateLimitError) as caught:
        make(fake).execute_prompt("hi")
    assert caught.value.retry_after == 7.0 and caught.value.status_code == 429
    assert len(fake.model_calls) == 1


@pytest.mark.parametrize("status", [529, 503])
def test_overloaded(fake, key, status):
    fake.error(status)
    with pytest.raises(OverloadedError):
        make(fake).execute_prompt("hi")
    assert len(fake.model_calls) == 1  # the SDK's own retries are off


def test_server_error_makes_exactly_one_request(fake, key):
    fake.error(500, times=3)
    with pytest.raises(ServerError) as caught:
        make(fake).execute_prompt("hi")
    assert caught.value.retryable
    assert len(fake.model_calls) == 1


def test_overload_inside_a_stream(fake, key):
    fake.error(529, in_stream=True)
    with pytest.raises(OverloadedError):
        make(fake, stream=True).execute_prompt("hi")


def test_authentication_error_never_shows_the_key(fake, key):
    fake.error(401, f"invalid x-api-key {KEY}")  # a proxy that echoes what it got
    with pytest.raises(AuthenticationError) as caught:
        make(fake).execute_prompt("hi")
    assert fake.keys_seen() == {KEY}  # the key was sent...
    assert KEY not in str(caught.value) and KEY not in caught.value.message  # ...never shown


def test_missing_key_is_unavailable_and_makes_no_request(fake):
    provider = make(fake)
    assert not provider.check_available()
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY is not set"):
        provider.execute_prompt("hi")
    assert fake.requests == []


def test_context_too_long(fake, key):
    fake.prompt_too_long()
    with pytest.raises(ContextTooLongError, match="prompt is too long"):
        make(fake).execute_prompt("a" * 1000)


def test_credit_balance_too_low_is_quota_exhausted(fake, key):
    fake.error(
        400,
        "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits.",
    )
    with pytest.raises(QuotaExhaustedError):
        make(fake).execute_prompt("hi")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b'{"id": "msg_1", "content": [', {"content-type": "application/json"}),
        Reply(200, "<html>proxy login</html>", {"content-type": "text/html"}),
        Reply(200, {"unexpected": True}),
    ],
)
def test_malformed_response_is_a_provider_error(fake, key, reply, stream):
    fake.enqueue(reply)
    with pytest.raises(ProviderError):
        make(fake, stream=stream).execute_prompt("hi")


def test_timeout(fake, key):
    fake.enqueue(Reply(200, {}, delay=2.0))
    with pytest.raises(ProviderTimeoutError):
        make(fake, timeout=0.3).execute_prompt("hi")


def test_connection_refused(key):
    provider = ClaudeProvider(
        ProviderSettings(name="claude", type="claude", model="m", base_url="http://127.0.0.1:9")
    )
    with pytest.raises(ProviderConnectionError):
        provider.execute_prompt("hi")


def test_list_models_and_exact_token_count(fake, key):
    fake.count_tokens_value = 123
    provider = make(fake)
    assert provider.list_models() == ["claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5"]
    assert provider.count_message_tokens([Message.user("hello")], [READ_FILE], "sys") == 123
    counted = fake.requests_to("/count_tokens")[0].json
    assert counted["model"] == "claude-sonnet-4-6" and counted["tools"][0]["name"] == "read_file"


def test_count_tokens_for_budgets_stays_offline(fake, key):
    assert make(fake).count_tokens("hello world, this is a prompt") > 0
    assert fake.requests == []


def test_fake_checks_the_key_it_was_given(key):
    with FakeAnthropic(api_key="the-right-key-0123456789") as server:
        server.reply_text("never sent")
        with pytest.raises(AuthenticationError):
            make(server).execute_prompt("hi")
        assert server.pending == 1  # refused before the script was consulted


def test_fake_answers_tool_less_side_requests_outside_the_script(key):
    with FakeAnthropic(tool_requests_only=True) as server:
        server.reply_text("scripted answer")
        provider = make(server)
        assert provider.execute_prompt("write a title").content == "OK"  # no tools offered
        assert provider.chat([Message.user("task")], [READ_FILE]).content == "scripted answer"


def test_a_configured_temperature_is_ignored_and_said_once(caplog):
    import logging

    from coffee_maker.ai_providers.providers.claude_provider import ClaudeProvider

    settings = ProviderSettings(name="claude-temp", type="claude", model="m", temperature=0.7)
    with caplog.at_level(logging.WARNING):
        ClaudeProvider(settings)
        ClaudeProvider(settings)
    said = [r for r in caplog.records if "temperature is ignored" in r.getMessage()]
    assert len(said) == 1 and "providers.claude-temp.temperature" in said[0].getMessage()
