"""ClaudeProvider: the real anthropic SDK over real HTTP against FakeAnthropic."""

from __future__ import annotations

import pytest
from fakes.anthropic import FakeAnthropic

from coffee_maker.ai_providers.base import Message, ToolCall, ToolSpec
from coffee_maker.ai_providers.errors import (
    AuthenticationError,
    ContextTooLongError,
    OverloadedError,
    QuotaExhaustedError,
)
from coffee_maker.ai_providers.provider_config import ProviderSettings, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.providers.claude_provider import ClaudeProvider

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


def test_factory_builds_a_claude_provider_from_config(fake, key):
    config = parse_config(
        {"providers": {"claude": {"model": "claude-haiku-4-5", "base_url": fake.url}}}, "test"
    )
    provider = ProviderFactory(config=config).get_provider("claude")
    fake.reply_text("hi")
    assert isinstance(provider, ClaudeProvider)
    assert provider.execute_prompt("hello").content == "hi"
    assert fake.model_calls[0].json["model"] == "claude-haiku-4-5"


def test_request_body_has_cache_breakpoints_and_no_temperature(fake, key):
    fake.reply_text("Paris.")
    provider = make(fake, max_tokens=512, temperature=0.2)

    provider.execute_prompt("Capital of France?", system_prompt="Be brief")

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


def test_overloaded_is_529(fake, key):
    fake.error(529)
    with pytest.raises(OverloadedError):
        make(fake).execute_prompt("hi")
    assert len(fake.model_calls) == 1  # the SDK's own retries are off


def test_overload_inside_a_stream(fake, key):
    fake.error(529, in_stream=True)
    with pytest.raises(OverloadedError):
        make(fake, stream=True).execute_prompt("hi")


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
