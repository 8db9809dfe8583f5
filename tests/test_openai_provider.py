"""OpenAIProvider: the real openai SDK over real HTTP against FakeOpenAI."""

from __future__ import annotations

import json

import pytest

from coffee_maker.ai_providers.base import Message, ProviderCapability, ToolSpec
from coffee_maker.ai_providers.errors import (
    Action,
    BadRequestError,
    ContextTooLongError,
    ProviderError,
    QuotaExhaustedError,
)
from coffee_maker.ai_providers.provider_config import ProviderSettings, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.providers.openai_provider import OpenAIProvider, max_tokens_field
from coffee_maker.fakes.openai import CONTEXT_LENGTH_EXCEEDED, INSUFFICIENT_QUOTA, FakeOpenAI
from coffee_maker.fakes.scripted import ScriptedCall, Turn
from coffee_maker.fakes.server import Reply

KEY = "sk-test-openai-0123456789abcdefghij"
READ_FILE = ToolSpec(
    "read_file",
    "Read a file",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


@pytest.fixture
def fake():
    with FakeOpenAI(api_key=KEY, models=["gpt-5.4-mini", "gpt-4.1"]) as server:
        yield server


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


def make(fake: FakeOpenAI, **settings) -> OpenAIProvider:
    fields = {"name": "openai", "type": "openai", "model": "gpt-5.4-mini"} | settings
    return OpenAIProvider(ProviderSettings(base_url=fake.url + "/v1", **fields))


def test_request_body_for_a_reasoning_model_on_openais_host(fake, key):
    fake.reply_text("Hello!")
    result = make(fake).execute_prompt("Say hello", system_prompt="Be brief")

    assert result.metadata["raw_stop_reason"] == "stop"
    request = fake.model_calls[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.json
    assert body["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Say hello"},
    ]
    assert body["max_completion_tokens"] == 8000 and "max_tokens" not in body
    assert "temperature" not in body  # gpt-5 rejects it
    assert "tools" not in body and "stream" not in body


def test_configured_headers_and_temperature_are_sent(fake, key):
    fake.reply_text("ok")
    provider = make(fake, model="gpt-4.1", temperature=0.2, headers={"X-Team": "core"})
    provider.chat([Message.user("hi")], max_tokens=50)
    request = fake.model_calls[0]
    assert request.headers["x-team"] == "core"
    # a non-reasoning model on a host that is not OpenAI's: the classic field
    assert request.json["temperature"] == 0.2 and request.json["max_tokens"] == 50


def test_tool_call_round_trip(fake, key):
    fake.reply_tool_calls([("read_file", {"path": "a.py"}, "call_A"), ("read_file", {"path": "b"})])
    fake.reply_text("Both read.")
    provider = make(fake)
    first = provider.chat([Message.user("Read a.py and b")], [READ_FILE])

    assert fake.last_body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file",
                "parameters": READ_FILE.parameters,
            },
        }
    ]
    assert first.stop_reason == "tool_use"
    first_call = first.tool_calls[0]
    assert (first_call.id, first_call.name, first_call.arguments) == (
        "call_A",
        "read_file",
        {"path": "a.py"},
    )
    second_call = first.tool_calls[1]
    history = [
        Message.user("Read a.py and b"),
        first.to_message(),
        Message.tool_result(first.tool_calls[0], "print('a')"),
        Message.tool_result(second_call, "no such file: b", is_error=True),
    ]
    result = provider.chat(history, [READ_FILE])

    assert result.content == "Both read."
    sent = fake.last_body["messages"]
    assert sent[1]["role"] == "assistant" and sent[1]["content"] is None
    assert [json.loads(c["function"]["arguments"]) for c in sent[1]["tool_calls"]] == [
        {"path": "a.py"},
        {"path": "b"},
    ]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_A", "content": "print('a')"}
    assert sent[3] == {
        "role": "tool",
        "tool_call_id": second_call.id,
        "content": "ERROR: no such file: b",
    }


def test_invalid_json_arguments_are_kept_raw_and_flagged(fake, key):
    broken = '{"path": "a.py"'
    fake.reply(Turn(tool_calls=[ScriptedCall("read_file", broken, "call_X")]))
    fake.reply_text("fixed")
    provider = make(fake)
    result = provider.chat([Message.user("read")], [READ_FILE])

    call = result.tool_calls[0]
    assert call.arguments["_raw"] == broken
    assert "not valid JSON" in call.arguments["_error"]
    assert result.metadata["invalid_tool_arguments"] == ["call_X"]
    history = [
        Message.user("read"),
        result.to_message(),
        Message.tool_result(call, "bad", is_error=True),
    ]
    provider.chat(history, [READ_FILE])
    assert fake.last_body["messages"][1]["tool_calls"][0]["function"]["arguments"] == broken


@pytest.mark.parametrize(
    ("stop", "finish_reason", "expected"),
    [
        ("max_tokens", "length", "max_tokens"),
        ("content_filter", "content_filter", "content_filter"),
    ],
)
def test_finish_reasons_are_normalised(fake, key, stop, finish_reason, expected):
    fake.reply_text("partial", stop=stop)
    result = make(fake).execute_prompt("hi")
    assert result.stop_reason == expected and result.metadata["raw_stop_reason"] == finish_reason


def test_compatible_vendor_is_priced_from_its_own_section(fake, monkeypatch):
    monkeypatch.setenv("FIREWORKS_API_KEY", KEY)
    config = parse_config(
        {
            "providers": {
                "fireworks": {
                    "type": "openai",
                    "base_url": fake.url + "/v1",
                    "api_key_env": "FIREWORKS_API_KEY",
                    "model": "accounts/fireworks/models/deepseek-v3",
                    "temperature": 0.3,
                }
            }
        },
        "test",
    )
    provider = ProviderFactory(config=config).get_provider("fireworks")
    fake.reply_text("hi", input_tokens=1_000_000, output_tokens=1_000_000)
    result = provider.execute_prompt("hello")

    assert result.provider == "fireworks"
    assert result.cost == pytest.approx(0.90 + 0.90)  # fireworks section, not openai's
    body = fake.last_body
    assert body["max_tokens"] == 8000 and "max_completion_tokens" not in body
    assert body["temperature"] == 0.3


def test_deepseek_cache_hits_are_read_from_its_own_usage_fields(fake, key):
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 10,
        "total_tokens": 1010,
        "prompt_cache_hit_tokens": 900,
        "prompt_cache_miss_tokens": 100,
    }
    message = {"role": "assistant", "content": "ok"}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    completion = {"id": "x", "object": "chat.completion", "created": 1, "model": "deepseek-chat"}
    fake.enqueue(Reply(200, completion | {"choices": [choice], "usage": usage}))
    result = make(fake, name="deepseek", model="deepseek-chat").execute_prompt("hi")
    assert result.usage["input_tokens"] == 100 and result.usage["cache_read_tokens"] == 900
    assert result.cost == pytest.approx((100 * 0.28 + 900 * 0.028 + 10 * 0.42) / 1e6)


def test_max_tokens_field_by_host_and_model():
    assert max_tokens_field("https://api.openai.com/v1", "gpt-4o") == "max_completion_tokens"
    assert max_tokens_field("https://me.openai.azure.com/openai", "gpt-4o") == (
        "max_completion_tokens"
    )
    assert max_tokens_field("https://api.groq.com/openai/v1", "llama-3.3-70b") == "max_tokens"
    assert max_tokens_field("https://openrouter.ai/api/v1", "openai/gpt-5") == (
        "max_completion_tokens"
    )
    assert max_tokens_field("http://localhost:8000/v1", "o4-mini") == "max_completion_tokens"


def test_tool_calling_off_removes_the_capability():
    settings = ProviderSettings(name="vllm", type="openai", model="m", tool_calling=False)
    assert ProviderCapability.TOOLS not in OpenAIProvider(settings).capabilities
    assert (
        ProviderCapability.TOOLS
        in OpenAIProvider(settings.model_copy(update={"tool_calling": True})).capabilities
    )


# -- errors ---------------------------------------------------------------------------------


def _fails(provider: OpenAIProvider) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        provider.execute_prompt("hi")
    return info.value


def test_insufficient_quota_is_not_retried(fake, key):
    fake.error(429, INSUFFICIENT_QUOTA, type="insufficient_quota", code="insufficient_quota")
    error = _fails(make(fake))
    assert isinstance(error, QuotaExhaustedError) and error.action is Action.COOLDOWN


def test_context_length_exceeded(fake, key):
    fake.error(400, CONTEXT_LENGTH_EXCEEDED, code="context_length_exceeded", param="messages")
    assert isinstance(_fails(make(fake)), ContextTooLongError)


def test_other_bad_request(fake, key):
    fake.error(400, "Invalid value for 'tool_choice'.", param="tool_choice")
    assert isinstance(_fails(make(fake)), BadRequestError)
