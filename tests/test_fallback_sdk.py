"""FallbackStrategy over the real SDKs and real HTTP: Anthropic, OpenAI and Ollama fakes.

What issue 3 promises, checked where it matters, on the wire: how many requests each
vendor received, for which model, and how long the strategy waited in between (a fake
sleep records it; nothing waits for real).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakes.anthropic import FakeAnthropic
from fakes.ollama import FakeOllama

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.fallback_strategy import (
    AllProvidersFailedError,
    FallbackConfig,
    FallbackStrategy,
)
from coffee_maker.ai_providers.provider_config import CostControls, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.fakes.openai import CONTEXT_LENGTH_EXCEEDED, INSUFFICIENT_QUOTA, FakeOpenAI

START = datetime(2026, 11, 3, 12, 0, tzinfo=UTC).timestamp()
CREDIT_TOO_LOW = (
    "Your credit balance is too low to access the Anthropic API. "
    "Please go to Plans & Billing to upgrade or purchase credits."
)


class FakeTime:
    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def servers(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")
    with FakeAnthropic() as anthropic, FakeOpenAI() as openai, FakeOllama() as ollama:
        yield anthropic, openai, ollama


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def factory(servers) -> ProviderFactory:
    anthropic, openai, ollama = servers
    data = {
        "default_provider": "claude",
        "providers": {
            "claude": {
                "model": "claude-sonnet-4-6",
                "fallback_models": ["claude-haiku-4-5"],
                "base_url": anthropic.url,
                "max_tokens": 1000,
            },
            "openai": {
                "model": "gpt-5.4-mini",
                "fallback_models": ["gpt-5.4"],
                "base_url": openai.url + "/v1",
                "max_tokens": 1000,
            },
            "ollama": {"model": "qwen2.5-coder:14b", "host": ollama.url, "max_tokens": 1000},
        },
    }
    return ProviderFactory(config=parse_config(data, "test.yaml", environ={}))


def strategy_for(
    factory: ProviderFactory,
    fake_time: FakeTime,
    order: list[str],
    tracker: CostTracker | None = None,
    **config: object,
) -> FallbackStrategy:
    settings = {"retry_delay": 0.5, "max_retry_delay": 20.0, **config}
    return FallbackStrategy(
        FallbackConfig(fallback_order=order, **settings),
        factory,
        tracker,
        first=order[0],
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )


def models_called(server) -> list[str]:
    return [request.json["model"] for request in server.model_calls]


def test_429_then_success_waits_retry_after_and_retries_the_same_model(
    servers, factory, fake_time, tmp_path
):
    anthropic, openai, _ = servers
    anthropic.error(429, headers={"retry-after": "3"}).reply_text("hello from claude")
    tracker = CostTracker(CostControls(), home=tmp_path, clock=fake_time.clock)
    strategy = strategy_for(factory, fake_time, ["claude", "openai"], tracker)
    result = strategy.execute_with_fallback("Say hello")
    assert (result.content, result.provider) == ("hello from claude", "claude")
    assert models_called(anthropic) == ["claude-sonnet-4-6", "claude-sonnet-4-6"]
    assert len(fake_time.sleeps) == 1 and fake_time.sleeps[0] >= 3.0
    assert openai.model_calls == []
    outcomes = [(s.requests, s.failures) for s in tracker.stats(by="model").values()]
    assert outcomes == [(2, 1)]
    assert tracker.get_daily_cost() == pytest.approx(result.cost) and result.cost > 0


def test_overloaded_529_on_every_model_moves_to_the_next_provider(servers, factory, fake_time):
    anthropic, openai, _ = servers
    anthropic.error(529, times=6)
    openai.reply_text("hello from openai")
    strategy = strategy_for(factory, fake_time, ["claude", "openai"])
    result = strategy.execute_prompt("Say hello")
    assert (result.content, result.provider, result.model) == (
        "hello from openai",
        "openai",
        "gpt-5.4-mini",
    )
    assert models_called(anthropic) == ["claude-sonnet-4-6"] * 3 + ["claude-haiku-4-5"] * 3
    assert len(fake_time.sleeps) == 4
    switches = [e for e in result.metadata["fallback_events"] if e["kind"] == "switch"]
    assert [s["message"] for s in switches] == ["next model", "next provider"]


def test_401_disables_the_first_provider_and_the_second_answers(servers, factory, fake_time):
    anthropic, openai, _ = servers
    anthropic.error(401)
    openai.reply_text("first").reply_text("second")
    strategy = strategy_for(factory, fake_time, ["claude", "openai"])
    assert strategy.execute_prompt("one").content == "first"
    assert strategy.execute_prompt("two").content == "second"
    assert len(anthropic.model_calls) == 1 and fake_time.sleeps == []


def test_insufficient_quota_moves_on_without_retrying(servers, factory, fake_time):
    _, openai, ollama = servers
    openai.error(429, INSUFFICIENT_QUOTA, type="insufficient_quota", code="insufficient_quota")
    ollama.reply_text("local answer")
    strategy = strategy_for(factory, fake_time, ["openai", "ollama"])
    result = strategy.execute_prompt("Say hello")
    assert (result.provider, result.content) == ("ollama", "local answer")
    assert len(openai.model_calls) == 1 and fake_time.sleeps == []
    assert [p.name for p in strategy.providers()] == ["ollama"]  # openai cools down


def test_context_overflow_moves_to_the_next_model(servers, factory, fake_time):
    anthropic, openai, _ = servers
    anthropic.prompt_too_long().reply_text("haiku answers")
    result = strategy_for(factory, fake_time, ["claude"]).execute_prompt("A long prompt")
    assert (result.model, result.content) == ("claude-haiku-4-5", "haiku answers")
    assert models_called(anthropic) == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    openai.error(400, CONTEXT_LENGTH_EXCEEDED, code="context_length_exceeded").reply_text("5.4")
    result = strategy_for(factory, fake_time, ["openai"]).execute_prompt("A long prompt")
    assert models_called(openai) == ["gpt-5.4-mini", "gpt-5.4"] and result.content == "5.4"


def test_a_provider_in_cooldown_receives_no_request(servers, factory, fake_time):
    anthropic, openai, _ = servers
    anthropic.error(400, CREDIT_TOO_LOW)
    openai.reply_text("one").reply_text("two")
    assert strategy_for(factory, fake_time, ["claude", "openai"]).execute_prompt("x").content == (
        "one"
    )
    assert len(anthropic.requests) == 1
    restarted = strategy_for(factory, fake_time, ["claude", "openai"])  # a new daemon
    assert restarted.execute_prompt("y").content == "two"
    assert len(anthropic.requests) == 1
    skip = next(e for e in restarted.events if e.kind == "skip")
    assert skip.provider == "claude" and "credit balance" in skip.message


def test_daily_limit_below_one_reservation_means_no_paid_request(
    servers, factory, fake_time, tmp_path
):
    anthropic, openai, ollama = servers
    ollama.reply_text("free answer")
    tracker = CostTracker(CostControls(daily_limit=0.001), home=tmp_path, clock=fake_time.clock)
    strategy = strategy_for(factory, fake_time, ["claude", "openai", "ollama"], tracker)
    result = strategy.execute_prompt("Say hello")
    assert (result.provider, result.content, result.cost) == ("ollama", "free answer", 0.0)
    assert anthropic.requests == [] and openai.requests == []
    assert tracker.stats()["ollama"].requests == 1


def test_all_failing_raises_with_each_provider_s_reason(servers, factory, fake_time):
    anthropic, openai, ollama = servers
    anthropic.error(401)
    openai.error(500, times=6)
    ollama.error(404, 'model "qwen2.5-coder:14b" not found, try pulling it first')
    strategy = strategy_for(factory, fake_time, ["claude", "openai", "ollama"])
    with pytest.raises(AllProvidersFailedError) as caught:
        strategy.execute_prompt("Say hello")
    reasons = {a.provider: a for a in caught.value.attempts}
    assert list(reasons) == ["claude", "openai", "ollama"]
    assert reasons["claude"].error_kind == "auth"
    assert reasons["openai"].error_kind == "server_error" and "gpt-5.4" in reasons["openai"].reason
    assert "not found" in reasons["ollama"].reason
    assert len(openai.model_calls) == 6  # one HTTP request per attempt: no SDK retries
    assert not caught.value.budget_exhausted
