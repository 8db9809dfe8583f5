"""Each API provider paired with its vendor's fake, and how that vendor says what the
provider contract asks (tests/test_provider_conformance.py, tests/test_bounded_io.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakes.anthropic import FakeAnthropic
from fakes.gemini import FakeGemini, quota_failure, retry_info
from fakes.ollama import FakeOllama

from coffee_maker.ai_providers.base import BaseAIProvider
from coffee_maker.ai_providers.provider_config import ProviderSettings
from coffee_maker.ai_providers.providers.claude_provider import ClaudeProvider
from coffee_maker.ai_providers.providers.gemini_provider import GeminiProvider
from coffee_maker.ai_providers.providers.ollama_provider import OllamaProvider
from coffee_maker.ai_providers.providers.openai_provider import OpenAIProvider
from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fakes.scripted import ScriptedModelServer


@dataclass(frozen=True)
class Vendor:
    """A provider class, its vendor's fake, and how that vendor says what the contract asks."""

    name: str
    fake: type[ScriptedModelServer]
    provider: type[BaseAIProvider]
    model: str
    sdk: str  # the module the provider must not import until a call needs it
    key_env: str | None  # None: no key needed (a local server)
    url_setting: str = "base_url"
    url_suffix: str = ""
    caches: bool = True  # reports cached input tokens
    may_omit_usage: bool = True  # the wire format allows a reply without usage
    #: Scripts "rate limited, come back in 7 s" the way this vendor says it.
    rate_limit: Callable[[ScriptedModelServer], Any] = lambda fake: fake.error(
        429, headers={"retry-after": "7"}
    )
    retry_after: float | None = 7.0  # what the provider reads from that (None: nothing)

    def make(self, url: str, **settings: Any) -> BaseAIProvider:
        fields: dict[str, Any] = {"name": self.name, "type": self.name, "model": self.model}
        fields[self.url_setting] = url + self.url_suffix
        return self.provider(ProviderSettings(**fields | settings))


VENDORS = [
    Vendor(
        "claude",
        FakeAnthropic,
        ClaudeProvider,
        "claude-sonnet-4-6",
        "anthropic",
        "ANTHROPIC_API_KEY",
        may_omit_usage=False,
    ),
    Vendor(
        "openai",
        FakeOpenAI,
        OpenAIProvider,
        "gpt-5.4-mini",
        "openai",
        "OPENAI_API_KEY",
        url_suffix="/v1",
    ),
    Vendor(
        "gemini",
        FakeGemini,
        GeminiProvider,
        "gemini-2.5-flash",
        "google.genai",
        "GOOGLE_API_KEY",
        # Google says it in the error's details: a per-minute quota and a RetryInfo
        rate_limit=lambda fake: fake.error(
            429, details=[quota_failure("GenerateRequestsPerMinutePerProject"), retry_info("7s")]
        ),
    ),
    Vendor(
        "ollama",
        FakeOllama,
        OllamaProvider,
        "qwen2.5-coder:14b",
        "ollama",
        None,
        url_setting="host",
        caches=False,
        retry_after=None,  # the ollama SDK's errors carry no headers
    ),
]
