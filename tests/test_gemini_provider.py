"""GeminiProvider: the real google-genai SDK over real HTTP against FakeGemini."""

from __future__ import annotations

import base64
import json

import pytest
from fakes.gemini import (
    FakeGemini,
    quota_failure,
    retry_info,
    usage_metadata,
)

from coffee_maker.ai_providers.base import Message, ToolCall, ToolSpec
from coffee_maker.ai_providers.classification import next_pacific_midnight
from coffee_maker.ai_providers.errors import (
    Action,
    AuthenticationError,
    BadRequestError,
    ContextTooLongError,
    ProviderError,
    QuotaExhaustedError,
)
from coffee_maker.ai_providers.provider_config import ProviderSettings
from coffee_maker.ai_providers.providers.gemini_provider import GeminiProvider
from coffee_maker.fakes.scripted import ScriptedCall, Turn
from coffee_maker.fakes.server import FakeServer, Reply

KEY = "AIzaTestGeminiKey0123456789abcdefghijkl"
READ_FILE = ToolSpec(
    "read_file",
    "Read a file",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
# config/model_prices.yaml, USD per million tokens
FLASH = {"input": 0.30, "output": 2.50, "cache_read": 0.03}
CONTEXT_OVERFLOW = (
    "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
)


@pytest.fixture
def fake():
    with FakeGemini(api_key=KEY, models=["gemini-2.5-flash", "gemini-2.5-pro"]) as server:
        yield server


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    return KEY


def make(fake: FakeGemini, **settings) -> GeminiProvider:
    fields = {"name": "gemini", "type": "gemini", "model": "gemini-2.5-flash"} | settings
    return GeminiProvider(ProviderSettings(base_url=fake.url, **fields))


def test_request_path_key_header_and_generation_config(fake, key):
    fake.reply_text("Hello!")
    provider = make(fake, temperature=0.4)
    result = provider.execute_prompt("Say hello", system_prompt="Be brief")

    assert result.metadata["raw_stop_reason"] == "STOP"
    request = fake.model_calls[0]
    assert request.path == "/v1/models/gemini-2.5-flash:generateContent"  # the SDK's default
    assert request.headers["x-goog-api-key"] == KEY
    body = request.json
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Say hello"}]}]
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief"}]
    assert body["generationConfig"] == {"maxOutputTokens": 8000, "temperature": 0.4}
    assert provider.client is provider.client  # kept: a dropped client closes mid-call


def test_api_version_setting_picks_the_path(fake, key):
    fake.reply_text("ok")
    make(fake, api_version="v1beta").execute_prompt("hi")
    assert fake.model_calls[0].path == "/v1beta/models/gemini-2.5-flash:generateContent"


def test_gemini_api_key_is_accepted_when_google_api_key_is_unset(fake, monkeypatch):
    provider = make(fake)
    assert not provider.check_available()
    assert "GOOGLE_API_KEY" in provider.describe_unavailable()
    assert "GEMINI_API_KEY" in provider.describe_unavailable()
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    assert provider.check_available()
    fake.reply_text("ok")
    assert provider.execute_prompt("hi").content == "ok"
    assert fake.model_calls[0].headers["x-goog-api-key"] == KEY


def test_tool_call_round_trip_sends_the_model_turn_back_unchanged(fake, key):
    fake.reply_tool_calls([("read_file", {"path": "a.py"}), ("read_file", {"path": "b"})])
    fake.reply_text("Both read.")
    provider = make(fake)
    first = provider.chat([Message.user("Read a.py and b")], [READ_FILE])

    declaration = fake.last_body["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "read_file" and declaration["description"] == "Read a file"
    assert declaration["parameters"]["required"] == ["path"]
    assert first.stop_reason == "tool_use"
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("read_file", {"path": "a.py"}),
        ("read_file", {"path": "b"}),
    ]
    assert len({c.id for c in first.tool_calls}) == 2  # synthesised, distinct
    model_turn = fake.model_calls[0]
    signed = first.provider_data["gemini"]["parts"][0]["thought_signature"]

    history = [
        Message.user("Read a.py and b"),
        first.to_message(),
        Message.tool_result(first.tool_calls[0], "print('a')"),
        Message.tool_result(first.tool_calls[1], "no such file: b", is_error=True),
    ]
    assert provider.chat(history, [READ_FILE]).content == "Both read."

    contents = fake.last_body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["thoughtSignature"] == signed
    assert base64.b64decode(signed).startswith(b"sig-")
    assert model_turn.json["contents"][0] == contents[0]
    assert contents[2]["parts"] == [  # answered by name, together in one user turn
        {"functionResponse": {"name": "read_file", "response": {"output": "print('a')"}}},
        {"functionResponse": {"name": "read_file", "response": {"error": "no such file: b"}}},
    ]


def test_history_from_another_vendor_is_rebuilt_from_neutral_fields(fake, key):
    call = ToolCall("toolu_01", "read_file", {"path": "a.py"})
    history = [
        Message.user("Read a.py"),
        Message(role="assistant", content="Reading.", tool_calls=[call]),
        Message.tool_result(call, "print('a')"),
    ]
    fake.reply_text("done")
    make(fake).chat(history, [READ_FILE])
    contents = fake.last_body["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"text": "Reading."},
            {"functionCall": {"name": "read_file", "args": {"path": "a.py"}}},
        ],
    }
    assert contents[2]["parts"][0]["functionResponse"] == {
        "name": "read_file",
        "response": {"output": "print('a')"},
    }


def test_foreign_calls_get_googles_stand_in_signature_on_gemini_3(fake, key):
    calls = [ToolCall("call_1", "read_file", {"path": "a"}), ToolCall("call_2", "read_file", {})]
    history = [
        Message.user("Read"),
        Message(role="assistant", tool_calls=calls),
        Message.tool_result(calls[0], "a"),
        Message.tool_result(calls[1], "b"),
    ]
    fake.reply_text("done")
    make(fake, model="gemini-3-flash-preview").chat(history, [READ_FILE])
    parts = fake.last_body["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]  # like Gemini: only the first parallel call


def test_call_ids_from_gemini_are_kept_and_answered(fake, key):
    fake.reply_tool_calls([("read_file", {"path": "a.py"}, "fc-7")]).reply_text("ok")
    provider = make(fake)
    first = provider.chat([Message.user("read")], [READ_FILE])
    assert first.tool_calls[0].id == "fc-7"
    history = [
        Message.user("read"),
        first.to_message(),
        Message.tool_result(first.tool_calls[0], "x"),
    ]
    provider.chat(history, [READ_FILE])
    assert fake.last_body["contents"][2]["parts"][0]["functionResponse"]["id"] == "fc-7"


def test_streaming_assembles_the_same_result(fake, key):
    turn = Turn(
        text="Reading now.",
        tool_calls=[ScriptedCall("read_file", {"path": "src/main.py"})],
        input_tokens=300,
        cached_tokens=100,
        output_tokens=40,
    )
    fake.reply(turn).reply(turn)
    plain = make(fake).chat([Message.user("go")], [READ_FILE])
    streamed = make(fake, stream=True).chat([Message.user("go")], [READ_FILE])

    request = fake.model_calls[-1]
    assert request.path.endswith(":streamGenerateContent") and request.query["alt"] == ["sse"]
    assert streamed.content == plain.content == "Reading now."
    assert [(c.name, c.arguments) for c in streamed.tool_calls] == [
        (c.name, c.arguments) for c in plain.tool_calls
    ]
    assert streamed.usage == plain.usage
    assert streamed.stop_reason == plain.stop_reason == "tool_use"
    assert streamed.cost == plain.cost > 0
    parts = streamed.provider_data["gemini"]["parts"]
    assert "".join(p.get("text", "") for p in parts) == "Reading now."


def test_cached_and_thinking_tokens(fake, key):
    turn = Turn(
        text="ok", input_tokens=400, cached_tokens=600, output_tokens=80, reasoning_tokens=30
    )
    assert usage_metadata(turn) == {  # what Gemini reports for it
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 600,
        "candidatesTokenCount": 50,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 1080,
    }
    fake.reply(turn)
    result = make(fake).execute_prompt("hi")
    assert result.usage == {
        "input_tokens": 400,
        "output_tokens": 80,  # 50 candidates + 30 thoughts
        "cache_read_tokens": 600,
        "cache_write_tokens": 0,
    }
    expected = (400 * FLASH["input"] + 600 * FLASH["cache_read"] + 80 * FLASH["output"]) / 1e6
    assert result.cost == pytest.approx(expected)


@pytest.mark.parametrize(
    ("stop", "raw", "expected"),
    [("content_filter", "SAFETY", "content_filter"), ("max_tokens", "MAX_TOKENS", "max_tokens")],
)
def test_finish_reasons_are_normalised(fake, key, stop, raw, expected):
    fake.reply_text("partial", stop=stop)
    result = make(fake).execute_prompt("hi")
    assert result.stop_reason == expected and result.metadata["raw_stop_reason"] == raw


def test_exact_token_count_and_model_list(fake, key):
    provider = make(fake)
    assert provider.count_message_tokens([Message.user("x" * 40)], system_prompt="y" * 40) == 20
    counted = fake.requests_to(":countTokens")[0].json
    assert [c["parts"][0]["text"] for c in counted["contents"]] == ["y" * 40, "x" * 40]
    assert provider.list_models() == ["gemini-2.5-flash", "gemini-2.5-pro"]


def test_count_tokens_for_budgets_stays_offline(fake, key):
    assert make(fake).count_tokens("hello world, this is a prompt") > 0
    assert fake.requests == []


# -- Vertex AI --------------------------------------------------------------------------------


def test_vertex_without_a_project_is_unavailable(monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    provider = GeminiProvider(
        ProviderSettings(name="vertex", type="gemini", model="m", vertex=True)
    )
    assert provider.api_key_env is None  # Vertex uses Application Default Credentials
    assert not provider.check_available()
    assert "providers.vertex.project" in provider.describe_unavailable()
    with pytest.raises(AuthenticationError, match="project"):
        provider.execute_prompt("hi")


def _service_account(token_uri: str) -> dict[str, str]:
    """Application Default Credentials whose token exchange goes to ``token_uri``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "type": "service_account",
        "project_id": "my-proj",
        "private_key_id": "kid",
        "private_key": pem.decode(),
        "client_email": "bot@my-proj.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


def test_vertex_calls_the_project_and_location_path_with_adc(fake, tmp_path, monkeypatch):
    with FakeServer() as oauth:
        token = {"access_token": "ya29.fake-token", "expires_in": 3600, "token_type": "Bearer"}
        oauth.enqueue(Reply(200, token))
        adc = tmp_path / "service-account.json"
        adc.write_text(json.dumps(_service_account(oauth.url + "/token")))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        fake.api_key = None  # Vertex authenticates with the OAuth token instead
        fake.reply_text("from vertex")
        provider = make(fake, vertex=True, project="my-proj", location="europe-west4")
        result = provider.execute_prompt("hi")
        assert [r.path for r in oauth.requests] == ["/token"]  # the service account's exchange

    assert result.content == "from vertex"
    request = fake.model_calls[0]
    assert request.path == (
        "/v1beta1/projects/my-proj/locations/europe-west4/publishers/google/models/"
        "gemini-2.5-flash:generateContent"
    )
    assert request.headers["authorization"] == "Bearer ya29.fake-token"


# -- errors ---------------------------------------------------------------------------------


def _fails(provider: GeminiProvider) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        provider.execute_prompt("hi")
    return info.value


def test_daily_quota_is_exhausted_until_pacific_midnight(fake, key):
    per_day = quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")
    fake.error(429, details=[per_day, retry_info("3600s")])
    error = _fails(make(fake))
    assert isinstance(error, QuotaExhaustedError) and error.action is Action.COOLDOWN
    assert error.reset_at == next_pacific_midnight()


def test_context_too_long(fake, key):
    fake.error(400, CONTEXT_OVERFLOW)
    assert isinstance(_fails(make(fake)), ContextTooLongError)


def test_unknown_model_is_a_bad_request(fake, key):
    fake.error(404)
    assert isinstance(_fails(make(fake)), BadRequestError)


def test_schema_gemini_cannot_take_is_a_clear_bad_request(fake, key):
    odd = ToolSpec("odd", "Odd", {"type": "object", "properties": {}, "$comment": "x"})
    with pytest.raises(BadRequestError, match="tool 'odd'"):
        make(fake).chat([Message.user("hi")], [odd])
    assert fake.requests == []
