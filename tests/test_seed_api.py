"""The seed's Python API, called exactly as the seed writes it.

The project grew from a specification whose examples people copy: ``ProviderFactory``
with ``register_provider`` called on the class, and ``CostTracker().get_provider_stats()``
with its ``total_*`` keys. These tests call those spellings through the public imports.
"""

from __future__ import annotations

import pytest

from coffee_maker.ai_providers import ProviderFactory
from coffee_maker.ai_providers.base import BaseAIProvider, ProviderCapability, ProviderResult
from coffee_maker.ai_providers.cost_tracker import CostTracker

SEED_STATS_KEYS = {
    "total_cost",
    "total_requests",
    "avg_cost",
    "total_tokens_in",
    "total_tokens_out",
}


class ShoutProvider(BaseAIProvider):
    provider_type = "shout"
    default_api_key_env = "SHOUT_API_KEY"
    default_capabilities = frozenset({ProviderCapability.TEXT})

    def chat(self, messages, tools=None, **kw):
        return ProviderResult(
            content=messages[-1].content.upper(), model=self.model, provider=self.name
        )

    def check_available(self):
        return self.api_key() is not None


def write_config(tmp_path, provider_type: str) -> str:
    path = tmp_path / "ai_providers.yaml"
    path.write_text(f"providers:\n  loud:\n    type: {provider_type}\n    model: m1\n")
    return str(path)


def test_register_provider_is_callable_on_the_class(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOUT_API_KEY", "k" * 20)
    ProviderFactory.register_provider("shout", ShoutProvider)
    factory = ProviderFactory(write_config(tmp_path, "shout"))
    provider = factory.get_provider("loud")
    assert isinstance(provider, ShoutProvider)
    assert provider.execute_prompt("hello").content == "HELLO"


def test_register_provider_still_works_on_an_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOUT_API_KEY", "k" * 20)
    builtin = tmp_path / "builtin.yaml"
    builtin.write_text("providers:\n  openai:\n    model: gpt-5.4-mini\n")
    ProviderFactory(str(builtin)).register_provider("shout-too", ShoutProvider)
    factory = ProviderFactory(write_config(tmp_path, "shout-too"))
    assert factory.get_provider("loud").execute_prompt("hi").content == "HI"


def test_get_provider_stats_has_the_seed_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(tmp_path / "home"))
    tracker = CostTracker()  # ledger under COFFEE_MAKER_HOME
    tracker.track_cost("openai", 0.0123, {"input_tokens": 1000, "output_tokens": 200})
    tracker.track_cost("openai", 0.0077, {"input_tokens": 500, "output_tokens": 100})
    tracker.track_cost("claude", 0.5, {"input_tokens": 7, "output_tokens": 3})
    stats = tracker.get_provider_stats()
    assert set(stats) == {"openai", "claude"}
    openai = stats["openai"]
    assert set(openai) >= SEED_STATS_KEYS
    assert openai["total_requests"] == 2
    assert openai["total_cost"] == pytest.approx(0.02)
    assert openai["avg_cost"] == pytest.approx(0.01)
    assert (openai["total_tokens_in"], openai["total_tokens_out"]) == (1500, 300)
    assert stats["claude"]["total_cost"] == pytest.approx(0.5)
    # The richer keys stay alongside.
    assert openai["requests"] == 2 and openai["input_tokens"] == 1500
    # A fresh process (a new tracker) reads the same answer from the ledger.
    assert CostTracker().get_provider_stats()["openai"]["total_tokens_in"] == 1500


def test_a_provider_that_implements_chat_works_through_the_fallback_chain(tmp_path, monkeypatch):
    from coffee_maker.ai_providers.fallback_strategy import FallbackConfig, FallbackStrategy

    monkeypatch.setenv("SHOUT_API_KEY", "k" * 20)
    ProviderFactory.register_provider("shout", ShoutProvider)
    factory = ProviderFactory(write_config(tmp_path, "shout"))
    chain = FallbackStrategy(FallbackConfig(fallback_order=["loud"]), factory)
    result = chain.execute_with_fallback("hello")
    assert (result.content, result.provider) == ("HELLO", "loud")
