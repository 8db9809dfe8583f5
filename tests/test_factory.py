"""ProviderFactory: names to providers, with clear errors for every misconfiguration."""

from __future__ import annotations

import subprocess
import sys

import pytest

from coffee_maker.ai_providers import ProviderFactory, register_provider
from coffee_maker.ai_providers.base import BaseAIProvider, ProviderCapability, ProviderResult
from coffee_maker.ai_providers.provider_config import ConfigError, parse_config


class EchoProvider(BaseAIProvider):
    provider_type = "echo"
    default_api_key_env = "ECHO_API_KEY"
    default_capabilities = frozenset({ProviderCapability.TEXT})

    def chat(self, messages, tools=None, **kw):
        return ProviderResult(content=messages[-1].content, model=self.model, provider=self.name)

    def check_available(self):
        return self.api_key() is not None


register_provider("echo", EchoProvider)


def factory(providers: dict, **extra) -> ProviderFactory:
    return ProviderFactory(config=parse_config({"providers": providers, **extra}, "test.yaml"))


def test_get_provider_by_name_and_default(monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "k" * 20)
    f = factory(
        {"echo": {"model": "e1"}, "second": {"type": "echo", "model": "e2"}},
        default_provider="second",
    )
    assert f.get_provider().name == "second"
    provider = f.get_provider("echo")
    assert provider.execute_prompt("hello").content == "hello"
    assert provider is f.get_provider("echo")  # cached
    assert f.list_available_providers() == ["second", "echo"]


def test_unknown_provider_lists_configured_names():
    with pytest.raises(ConfigError, match=r"unknown provider 'nope' .*echo"):
        factory({"echo": {}}).get_provider("nope")


def test_disabled_provider_is_refused(monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "k" * 20)
    f = factory({"echo": {"enabled": False}, "other": {"type": "echo"}})
    with pytest.raises(ConfigError, match=r"providers\.echo\.enabled is false"):
        f.get_provider("echo")
    assert f.list_available_providers() == ["other"]


def test_missing_key_names_the_env_var():
    with pytest.raises(ConfigError, match=r"providers\.echo\.api_key_env: ECHO_API_KEY is not set"):
        factory({"echo": {}}).get_provider("echo")


def test_custom_key_env(monkeypatch):
    monkeypatch.setenv("MY_ECHO_KEY", "k" * 20)
    assert factory({"echo": {"api_key_env": "MY_ECHO_KEY"}}).get_provider("echo")


def test_unknown_type_names_the_key():
    with pytest.raises(ConfigError, match=r"providers\.mine\.type: unknown provider type 'warp'"):
        factory({"mine": {"type": "warp"}}).get_provider("mine")


def test_user_defined_name_with_builtin_type(monkeypatch):
    monkeypatch.setenv("FIREWORKS_API_KEY", "fw-test-key-0000000000")
    f = factory(
        {
            "fireworks": {
                "type": "openai",
                "api_key_env": "FIREWORKS_API_KEY",
                "base_url": "http://127.0.0.1:9/v1",
                "model": "m",
            }
        }
    )
    provider = f.get_provider("fireworks")
    assert provider.name == "fireworks" and provider.provider_type == "openai"


def test_importing_the_package_imports_no_vendor_sdk():
    code = (
        "import sys, coffee_maker.ai_providers as a; "
        "f = a.ProviderFactory('config/ai_providers.yaml'); f.create('claude'); "
        "f.create('openai'); f.create('gemini'); f.create('ollama'); f.create('claude-cli'); "
        "print(sorted(m for m in ('anthropic', 'openai', 'google.genai', 'ollama') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=__import__("pathlib").Path(__file__).parents[1],
    )
    assert out.stdout.strip() == "[]"
