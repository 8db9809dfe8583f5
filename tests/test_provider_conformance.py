"""One contract, every API provider: each provider's real SDK over real HTTP against its
vendor's fake, checked the same way.

What a provider must do whoever the vendor is: answer text and tool calls (whole and
streamed), report usage with cached input apart and price it, and turn every way a call
fails into the same error classes (a wrong or missing key, a rate limit with its
Retry-After, a 5xx, a timeout, a refused connection, a body that is not the vendor's
format), and let a stop cut a call in flight short. What only one vendor has (Anthropic's
cache breakpoints, Gemini's thought signatures, OpenAI's compatible vendors, Ollama's
hosted keys) is tested in that provider's own file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from provider_pairs import VENDORS, Vendor

from coffee_maker.ai_providers.base import BaseAIProvider, ChatRequest, Message, ToolSpec
from coffee_maker.ai_providers.errors import (
    Action,
    AuthenticationError,
    BadResponseError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)
from coffee_maker.ai_providers.providers._bounded import CallCancelled, cancel_calls
from coffee_maker.fakes.scripted import Turn
from coffee_maker.fakes.server import Reply

KEY = "sk-test-conformance-0123456789abcdefghij"
RIGHT_KEY = "sk-test-the-right-key-0123456789abcdef"
CLOSED_PORT = "http://127.0.0.1:9"  # discard: nothing listens there
READ_FILE = ToolSpec(
    "read_file",
    "Read a file",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


WITH_KEYS = [v for v in VENDORS if v.key_env]
MAY_OMIT_USAGE = [v for v in VENDORS if v.may_omit_usage]
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])


def by_name(vendors: list[Vendor]) -> Any:
    return pytest.mark.parametrize("vendor", vendors, ids=[v.name for v in vendors])


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for vendor in WITH_KEYS:
        monkeypatch.setenv(str(vendor.key_env), KEY)


@pytest.fixture
def fake(vendor: Vendor):
    with vendor.fake(models=[vendor.model]) as server:
        yield server


def _fails(provider: BaseAIProvider, **options: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        provider.chat([Message.user("hi")], **options)
    return caught.value


# -- answers ----------------------------------------------------------------------------------


@by_name(VENDORS)
def test_importing_the_provider_does_not_import_its_sdk(vendor):
    code = (
        f"import sys, {vendor.provider.__module__}\n"
        f"assert {vendor.sdk!r} not in sys.modules, '{vendor.sdk} imported at module import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@STREAM
@by_name(VENDORS)
def test_a_plain_text_reply(vendor, fake, stream):
    fake.reply_text("Paris.")
    provider = vendor.make(fake.url, stream=stream)
    request = ChatRequest(
        (Message.user("Capital of France?"),), system_prompt="Be brief", max_tokens=512
    )

    result = provider.chat(request)

    assert (result.content, result.provider, result.model) == ("Paris.", vendor.name, vendor.model)
    assert result.stop_reason == "end_turn" and result.success and result.tool_calls == []
    assert len(fake.model_calls) == 1  # one HTTP request per call: no SDK retries
    sent = json.dumps(fake.last_body)
    assert "Capital of France?" in sent and "Be brief" in sent and "512" in sent


@STREAM
@by_name(VENDORS)
def test_a_tool_call_round_trip(vendor, fake, stream):
    fake.reply_tool_calls([("read_file", {"path": "a.py"}), ("read_file", {"path": "b"})])
    fake.reply_text("Both read.")
    provider = vendor.make(fake.url, stream=stream)

    first = provider.chat([Message.user("Read a.py and b")], [READ_FILE])

    assert first.stop_reason == "tool_use"
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("read_file", {"path": "a.py"}),
        ("read_file", {"path": "b"}),
    ]
    assert all(c.id for c in first.tool_calls) and len({c.id for c in first.tool_calls}) == 2
    offered = json.dumps(fake.last_body)
    assert "read_file" in offered and "Read a file" in offered
    history = [
        Message.user("Read a.py and b"),
        first.to_message(),
        Message.tool_result(first.tool_calls[0], "print('a')"),
        Message.tool_result(first.tool_calls[1], "no such file: b", is_error=True),
    ]

    second = provider.chat(history, [READ_FILE])

    assert second.content == "Both read." and second.tool_calls == []
    answered = json.dumps(fake.last_body)
    assert "print('a')" in answered and "no such file: b" in answered


@STREAM
@by_name(VENDORS)
def test_usage_counts_cached_input_apart_and_is_priced(vendor, fake, stream):
    cached = 600 if vendor.caches else 0
    fake.reply(Turn(text="ok", input_tokens=400, cached_tokens=cached, output_tokens=80))
    provider = vendor.make(fake.url, stream=stream)

    result = provider.chat([Message.user("hi")])

    assert result.usage == {
        "input_tokens": 400,  # uncached only, whatever the vendor folds into its count
        "output_tokens": 80,
        "cache_read_tokens": cached,
        "cache_write_tokens": 0,
    }
    assert result.cost == pytest.approx(provider.price(result.model).cost(result.usage))
    assert result.cost > 0 or provider.is_free


@by_name(MAY_OMIT_USAGE)
def test_a_reply_without_usage_is_estimated_never_free(vendor, fake):
    fake.reply(Turn(text="an answer of some words", report_usage=False))
    result = vendor.make(fake.url).chat([Message.user("a question of some words")])
    assert result.metadata["usage_estimated"] is True
    assert result.usage["input_tokens"] > 0 and result.usage["output_tokens"] > 0


@by_name(VENDORS)
def test_list_models(vendor, fake):
    assert vendor.model in vendor.make(fake.url).list_models()


# -- failures -----------------------------------------------------------------------------------


@by_name(VENDORS)
def test_a_wrong_key_is_an_authentication_error(vendor, fake, monkeypatch):
    monkeypatch.setenv("CONFORMANCE_API_KEY", KEY)
    fake.api_key = RIGHT_KEY
    error = _fails(vendor.make(fake.url, api_key_env="CONFORMANCE_API_KEY"))
    assert isinstance(error, AuthenticationError) and error.action is Action.DISABLE
    assert fake.requests and KEY not in str(error)


@by_name(WITH_KEYS)
def test_a_missing_key_is_unavailable_and_sends_nothing(vendor, fake, monkeypatch):
    monkeypatch.delenv(str(vendor.key_env))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    provider = vendor.make(fake.url)
    assert not provider.check_available()
    assert vendor.key_env in provider.describe_unavailable()
    error = _fails(provider)
    assert isinstance(error, AuthenticationError) and vendor.key_env in str(error)
    assert fake.requests == []


@by_name(VENDORS)
def test_a_key_echoed_in_an_error_is_never_shown(vendor, fake, monkeypatch):
    monkeypatch.setenv("CONFORMANCE_API_KEY", KEY)
    fake.error(500, f"internal error for key {KEY}")
    error = _fails(vendor.make(fake.url, api_key_env="CONFORMANCE_API_KEY"))
    assert KEY not in str(error) and KEY not in error.message


@by_name(VENDORS)
def test_a_rate_limit_is_retried_after_what_the_vendor_says(vendor, fake):
    vendor.rate_limit(fake)
    error = _fails(vendor.make(fake.url))
    assert isinstance(error, RateLimitError) and error.action is Action.RETRY
    assert error.status_code == 429 and error.retry_after == vendor.retry_after
    assert len(fake.model_calls) == 1  # retrying is the fallback's job, not the SDK's


@pytest.mark.parametrize(("status", "kind"), [(500, ServerError), (503, OverloadedError)])
@by_name(VENDORS)
def test_a_5xx_is_transient_and_made_once(vendor, fake, status, kind):
    fake.error(status)
    error = _fails(vendor.make(fake.url))
    assert isinstance(error, kind) and error.retryable and error.status_code == status
    assert len(fake.model_calls) == 1


@by_name(VENDORS)
def test_the_calls_timeout_wins_over_the_configured_one(vendor, fake):
    fake.enqueue(Reply(200, {}, delay=3.0))
    started = time.monotonic()
    error = _fails(vendor.make(fake.url, timeout=600), timeout=0.3)
    assert isinstance(error, ProviderTimeoutError) and error.retryable
    assert time.monotonic() - started < 2.5


@by_name(VENDORS)
def test_a_refused_connection_is_a_connection_error(vendor):
    error = _fails(vendor.make(CLOSED_PORT))
    assert isinstance(error, ProviderConnectionError) and error.retryable


MALFORMED = [
    Reply(200, b'{"id": "x", "content": [', {"content-type": "application/json"}),
    Reply(200, "<html>proxy login</html>", {"content-type": "text/html"}),
    Reply(200, {"unexpected": True}),
]


@STREAM
@pytest.mark.parametrize("reply", MALFORMED, ids=["truncated-json", "html", "foreign-json"])
@by_name(VENDORS)
def test_a_reply_that_is_not_the_vendors_format_is_a_clear_error(vendor, fake, reply, stream):
    fake.enqueue(reply)
    error = _fails(vendor.make(fake.url, stream=stream))
    assert isinstance(error, BadResponseError) and error.action is Action.NEXT_PROVIDER
    assert f"unexpected reply from {vendor.name}" in str(error)


@by_name(VENDORS)
def test_a_stop_cuts_the_call_in_flight_short(vendor, fake):
    fake.enqueue(Reply(200, {}, delay=10.0))
    provider = vendor.make(fake.url)
    assert provider.client is not None  # the SDK imported before the clock starts
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            provider.chat([Message.user("hi")])
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 5
    while not fake.model_calls and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    assert cancel_calls() == 1
    worker.join(timeout=5)

    assert not worker.is_alive() and time.monotonic() - started < 2
    assert len(outcome) == 1 and isinstance(outcome[0], CallCancelled)
