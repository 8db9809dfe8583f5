"""OllamaProvider: the real ollama SDK over real HTTP against FakeOllama."""

from __future__ import annotations

import pytest
from fakes.ollama import CONTEXT_TOO_LONG, FakeOllama

from coffee_maker.ai_providers.base import Message, ProviderCapability, ToolCall, ToolSpec
from coffee_maker.ai_providers.errors import (
    BadRequestError,
    ContextTooLongError,
    ProviderConnectionError,
    ProviderError,
)
from coffee_maker.ai_providers.provider_config import ProviderSettings, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.providers.ollama_provider import OllamaProvider

MODEL = "qwen2.5-coder:14b"
READ_FILE = ToolSpec(
    "read_file",
    "Read a file",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


@pytest.fixture
def fake():
    with FakeOllama(models=[MODEL, "llama3.2:3b"]) as server:
        yield server


def make(fake: FakeOllama, **settings) -> OllamaProvider:
    fields = {"name": "ollama", "type": "ollama", "model": MODEL} | settings
    return OllamaProvider(ProviderSettings(host=fake.url, **fields))


def test_factory_builds_a_free_provider_that_needs_no_key(fake):
    config = parse_config({"providers": {"ollama": {"model": MODEL, "host": fake.url}}}, "test")
    provider = ProviderFactory(config=config).get_provider("ollama")
    assert isinstance(provider, OllamaProvider)
    assert provider.check_available() and provider.is_free
    assert ProviderCapability.FREE in provider.capabilities
    assert fake.requests == []  # being configured says nothing about reachability


def test_request_body_options_and_zero_cost(fake):
    fake.reply_text("Hello!", input_tokens=1000, output_tokens=200)
    result = make(fake, temperature=0.1).execute_prompt("Say hello", system_prompt="Be brief")

    assert result.cost == 0.0 and result.metadata["raw_stop_reason"] == "stop"
    body = fake.model_calls[0].json
    assert body["model"] == MODEL and body["stream"] is False
    assert body["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Say hello"},
    ]
    assert body["options"] == {"num_predict": 8000, "temperature": 0.1}


def test_tool_call_round_trip(fake):
    fake.reply_tool_calls([("read_file", {"path": "a.py"}), ("read_file", {"path": "b"})])
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
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("read_file", {"path": "a.py"}),
        ("read_file", {"path": "b"}),
    ]
    assert len({c.id for c in first.tool_calls}) == 2  # Ollama gives no ids: synthesised
    history = [
        Message.user("Read a.py and b"),
        first.to_message(),
        Message.tool_result(first.tool_calls[0], "print('a')"),
        Message.tool_result(first.tool_calls[1], "no such file: b", is_error=True),
    ]
    assert provider.chat(history, [READ_FILE]).content == "Both read."

    sent = fake.last_body["messages"]
    assert sent[1]["tool_calls"] == [
        {"function": {"name": "read_file", "arguments": {"path": "a.py"}}},
        {"function": {"name": "read_file", "arguments": {"path": "b"}}},
    ]
    assert sent[2] == {"role": "tool", "content": "print('a')", "tool_name": "read_file"}
    assert sent[3] == {
        "role": "tool",
        "content": "ERROR: no such file: b",
        "tool_name": "read_file",
    }


def test_tool_result_from_a_foreign_history_is_named_by_its_call(fake):
    call = ToolCall("call_abc", "read_file", {"path": "a.py"})
    result = Message(role="tool", content="x", tool_call_id="call_abc")  # no tool_name
    fake.reply_text("ok")
    make(fake).chat([Message.user("go"), Message(role="assistant", tool_calls=[call]), result])
    assert fake.last_body["messages"][2]["tool_name"] == "read_file"


def test_length_stop_is_max_tokens(fake):
    fake.reply_text("partial", stop="max_tokens")
    result = make(fake).execute_prompt("hi")
    assert result.stop_reason == "max_tokens" and result.metadata["raw_stop_reason"] == "length"


def test_tool_calling_off_removes_the_capability(fake):
    assert ProviderCapability.TOOLS not in make(fake, tool_calling=False).capabilities
    assert ProviderCapability.TOOLS in make(fake).capabilities


# -- errors ---------------------------------------------------------------------------------


def _fails(provider: OllamaProvider) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        provider.execute_prompt("hi")
    return info.value


def test_model_not_pulled_is_a_bad_request_saying_so(fake):
    fake.error(404, f'model "{MODEL}" not found, try pulling it first')
    error = _fails(make(fake))
    assert isinstance(error, BadRequestError) and "try pulling it" in str(error)


def test_context_overflow_is_context_too_long(fake):
    fake.error(400, CONTEXT_TOO_LONG)
    assert isinstance(_fails(make(fake)), ContextTooLongError)


@pytest.mark.parametrize("stream", [False, True])
def test_server_down_says_how_to_start_it(stream):
    provider = OllamaProvider(
        ProviderSettings(
            name="local", type="ollama", model=MODEL, host="http://127.0.0.1:9", stream=stream
        )
    )
    error = _fails(provider)
    assert isinstance(error, ProviderConnectionError)
    assert "ollama serve" in str(error) and "providers.local.host" in str(error)
    assert "http://127.0.0.1:9" in str(error)


def test_hosted_ollama_key_is_sent_and_never_shown(fake, monkeypatch):
    key = "ollama-hosted-key-0123456789abcdef"
    monkeypatch.setenv("OLLAMA_CLOUD_API_KEY", key)
    fake.api_key = key
    provider = make(fake, api_key_env="OLLAMA_CLOUD_API_KEY")
    fake.reply_text("ok")
    assert provider.execute_prompt("hi").content == "ok"
    assert fake.model_calls[0].headers["authorization"] == f"Bearer {key}"
    fake.error(500, f"internal error for key {key}")
    assert key not in str(_fails(provider))
    monkeypatch.delenv("OLLAMA_CLOUD_API_KEY")
    assert not make(fake, api_key_env="OLLAMA_CLOUD_API_KEY").check_available()
