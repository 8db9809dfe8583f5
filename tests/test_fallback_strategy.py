"""FallbackStrategy against in-process scripted providers, with a fake clock and sleep.

Each provider of the config is a ``scripted`` provider: every call pops the next step of
its ``name/model`` script (an error to raise, or text to answer) and is logged, so a test
sees exactly which provider and model were called, how often, and how long the strategy
waited in between. Nothing waits for real.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from coffee_maker.ai_providers.base import (
    BaseAIProvider,
    ChatRequest,
    Message,
    ProviderCapability,
    ProviderResult,
    ToolSpec,
    make_usage,
)
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.errors import (
    AuthenticationError,
    BadRequestError,
    ContextTooLongError,
    OverloadedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from coffee_maker.ai_providers.fallback_strategy import (
    AllProvidersFailedError,
    FallbackConfig,
    FallbackStrategy,
)
from coffee_maker.ai_providers.pricing import reset_price_table
from coffee_maker.ai_providers.provider_config import CostControls, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory, register_provider
from coffee_maker.ai_providers.quotas import ProviderStateStore

START = datetime(2026, 11, 3, 12, 0, tzinfo=UTC).timestamp()
SCRIPTS: dict[str, list[object]] = {}
CALLS: list[str] = []
REQUESTS: list[ChatRequest] = []


class ScriptedProvider(BaseAIProvider):
    """Answers from SCRIPTS[name/model]; an empty script answers "ok from name/model"."""

    provider_type = "scripted"
    default_capabilities = frozenset({ProviderCapability.TEXT, ProviderCapability.TOOLS})

    def _complete(self, request: ChatRequest) -> ProviderResult:
        key = f"{self.name}/{self.model}"
        CALLS.append(key)
        REQUESTS.append(request)
        script = SCRIPTS.get(key)
        step = script.pop(0) if script else f"ok from {key}"
        if isinstance(step, BaseException):
            raise step
        usage = make_usage(100, 20)
        return ProviderResult(
            content=str(step), model=self.model, usage=usage, cost=self.cost_of(usage)
        )

    def check_available(self) -> bool:
        return not self.api_key_env or self.api_key() is not None


register_provider("scripted", ScriptedProvider)

PAID = {"input": 10.0, "output": 50.0}  # USD per million tokens


class FakeTime:
    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _fresh_scripts():
    SCRIPTS.clear()
    CALLS.clear()
    REQUESTS.clear()
    yield


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_factory(providers: dict[str, dict], **top: object) -> ProviderFactory:
    data = {"providers": {}, **top}
    for name, settings in providers.items():
        data["providers"][name] = {
            "type": "scripted",
            "max_tokens": 1000,
            "pricing": PAID,
            **settings,
        }
    return ProviderFactory(config=parse_config(data, "test.yaml", environ={}))


def make_strategy(
    factory: ProviderFactory,
    fake_time: FakeTime,
    tracker: CostTracker | None = None,
    **config: object,
) -> FallbackStrategy:
    settings = {"retry_delay": 1.0, "max_retry_delay": 30.0, **config}
    return FallbackStrategy(
        FallbackConfig(**settings),
        factory,
        tracker,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )


def calls_to(key: str) -> int:
    return sum(1 for c in CALLS if c == key)


@pytest.fixture
def two(fake_time) -> FallbackStrategy:
    """Providers a (models a1, a2) and b (model b1), in that order."""
    factory = make_factory(
        {"a": {"model": "a1", "fallback_models": ["a2"]}, "b": {"model": "b1"}},
        fallback={"fallback_order": ["a", "b"]},
    )
    return make_strategy(factory, fake_time, fallback_order=["a", "b"])


# -- the request ---------------------------------------------------------------------------


def test_one_request_travels_unchanged_through_retries_models_and_providers(two, fake_time):
    SCRIPTS["a/a1"] = [ServerError("boom", status_code=500)] * 3
    SCRIPTS["a/a2"] = [ContextTooLongError("too long")]
    tools = [ToolSpec("finish", "end")]

    result = two.chat([Message.user("hi")], tools, system_prompt="sys", max_tokens=50)

    assert result.provider == "b" and CALLS == ["a/a1"] * 3 + ["a/a2", "b/b1"]
    request = REQUESTS[0]
    assert all(seen is request for seen in REQUESTS)  # built once, never re-listed
    assert (request.system_prompt, request.max_tokens, request.tools) == ("sys", 50, tuple(tools))


def test_a_ready_request_is_taken_as_it_is_or_with_options_overridden(two):
    ready = ChatRequest((Message.user("hi"),), system_prompt="sys", max_tokens=50, timeout=9)
    two.chat(ready)
    two.chat(request=ready, max_tokens=7)
    assert REQUESTS[0] is ready
    assert (REQUESTS[1].max_tokens, REQUESTS[1].system_prompt, REQUESTS[1].timeout) == (7, "sys", 9)
    with pytest.raises(TypeError, match="inside the ChatRequest"):
        two.chat([Message.user("hi")], request=ready)
    with pytest.raises(TypeError, match="max_token"):
        two.chat([Message.user("hi")], max_token=5)


# -- the error table -------------------------------------------------------------------------


def test_rate_limit_waits_at_least_retry_after_then_retries_the_same_model(two, fake_time):
    SCRIPTS["a/a1"] = [RateLimitError("slow down", retry_after=7.0)]
    result = two.execute_with_fallback("hello")
    assert (result.content, result.provider, result.model) == ("ok from a/a1", "a", "a1")
    assert CALLS == ["a/a1", "a/a1"]
    assert len(fake_time.sleeps) == 1 and 7.0 <= fake_time.sleeps[0] <= 30.0
    kinds = [e["kind"] for e in result.metadata["fallback_events"]]
    assert kinds == ["attempt", "failure", "wait", "attempt", "success"]
    wait = result.metadata["fallback_events"][2]
    assert wait["error_kind"] == "rate_limited" and wait["wait"] >= 7.0


def test_retry_after_beyond_max_delay_is_not_waited_for_and_cools_the_provider(two, fake_time):
    SCRIPTS["a/a1"] = [RateLimitError("come back in an hour", retry_after=3600.0)]
    result = two.execute_prompt("hello")
    assert result.provider == "b"
    assert fake_time.sleeps == []
    assert CALLS == ["a/a1", "b/b1"]  # not a2 either: the whole provider is cooling down
    two.execute_prompt("again")
    assert calls_to("a/a1") == 1
    fake_time.now += 3601
    assert two.execute_prompt("later").provider == "a"


def test_backoff_doubles_with_jitter_and_stays_under_the_cap(fake_time):
    factory = make_factory({"a": {"model": "a1"}})
    strategy = make_strategy(factory, fake_time, retry_attempts=5, max_retry_delay=5.0)
    SCRIPTS["a/a1"] = [OverloadedError("busy", status_code=529) for _ in range(4)]
    assert strategy.execute_prompt("x").content == "ok from a/a1"
    first, second, third, fourth = fake_time.sleeps
    assert 1.0 <= first <= 2.0 and 2.0 <= second <= 3.0 and 4.0 <= third <= 5.0
    assert fourth == 5.0  # 8 s of backoff, capped at max_retry_delay
    assert calls_to("a/a1") == 5


def test_transient_errors_exhaust_each_model_then_move_to_the_next_provider(two, fake_time):
    SCRIPTS["a/a1"] = [ServerError("boom", status_code=500) for _ in range(3)]
    SCRIPTS["a/a2"] = [OverloadedError("busy", status_code=529) for _ in range(3)]
    result = two.execute_prompt("x")
    assert result.provider == "b"
    assert CALLS == ["a/a1"] * 3 + ["a/a2"] * 3 + ["b/b1"]
    assert len(fake_time.sleeps) == 4  # two waits per model, none after the last attempt


def test_quota_exhausted_moves_on_at_once_and_cools_down_until_the_reset(two, fake_time):
    reset = datetime.fromtimestamp(START, UTC) + timedelta(hours=5)
    SCRIPTS["a/a1"] = [QuotaExhaustedError("insufficient_quota", reset_at=reset)]
    assert two.execute_prompt("x").provider == "b"
    assert CALLS == ["a/a1", "b/b1"] and fake_time.sleeps == []
    # A new strategy (a restarted daemon) still skips a: the cooldown is persisted.
    restarted = make_strategy(two.factory, fake_time, fallback_order=["a", "b"])
    assert restarted.execute_prompt("y").provider == "b"
    assert calls_to("a/a1") == 1
    skip = next(e for e in restarted.events if e.kind == "skip")
    assert skip.provider == "a" and "cooldown" in skip.message
    fake_time.now = reset.timestamp() + 1
    assert restarted.execute_prompt("z").provider == "a"


def test_quota_without_reset_time_cools_down_for_cooldown_seconds(two, fake_time):
    SCRIPTS["a/a1"] = [QuotaExhaustedError("usage limit")]
    SCRIPTS["b/b1"] = [QuotaExhaustedError("usage limit")]
    with pytest.raises(AllProvidersFailedError) as caught:
        two.execute_prompt("x")
    assert caught.value.next_retry_at == START + two.config.cooldown_seconds


def test_authentication_error_disables_the_provider_loudly(two, caplog):
    SCRIPTS["a/a1"] = [AuthenticationError("invalid x-api-key", status_code=401)]
    with caplog.at_level(logging.ERROR, logger="coffee_maker.ai_providers.fallback_strategy"):
        assert two.execute_prompt("x").provider == "b"
    assert any("disable" in r.getMessage() and "auth" in r.getMessage() for r in caplog.records)
    assert two.execute_prompt("y").provider == "b"
    assert calls_to("a/a1") == 1 and calls_to("a/a2") == 0
    assert [p.name for p in two.providers()] == ["b"]
    # The daemon builds a strategy per task: the rejected key stays rejected in this process.
    next_task = FallbackStrategy(two.config, two.factory, None, sleep=lambda _: None)
    assert next_task.execute_prompt("z").provider == "b"
    assert calls_to("a/a1") == 1


def test_context_too_long_moves_to_the_next_model(two, fake_time):
    SCRIPTS["a/a1"] = [ContextTooLongError("prompt is too long: 300000 tokens > 200000")]
    result = two.execute_prompt("x")
    assert (result.provider, result.model) == ("a", "a2")
    assert CALLS == ["a/a1", "a/a2"] and fake_time.sleeps == []


def test_bad_request_moves_to_the_next_provider_without_trying_other_models(two):
    SCRIPTS["a/a1"] = [BadRequestError("tools.0.name: invalid", status_code=400)]
    assert two.execute_prompt("x").provider == "b"
    assert CALLS == ["a/a1", "b/b1"]


def test_an_unexpected_exception_is_classified_and_the_next_provider_answers(two):
    SCRIPTS["a/a1"] = [RuntimeError("bug in a provider")]
    result = two.execute_prompt("x")
    assert result.provider == "b"
    failure = next(e for e in two.events if e.kind == "failure")
    assert failure.error_kind == "unknown" and "bug in a provider" in failure.message


# -- cooldowns, quotas, rpm ------------------------------------------------------------------


def test_circuit_breaker_skips_a_failing_provider_across_calls(fake_time):
    factory = make_factory({"a": {"model": "a1"}, "b": {"model": "b1"}})
    strategy = make_strategy(
        factory,
        fake_time,
        fallback_order=["a", "b"],
        retry_attempts=1,
        cooldown_failures=2,
        cooldown_seconds=120,
    )
    SCRIPTS["a/a1"] = [ServerError("down", status_code=503) for _ in range(10)]
    for _ in range(2):
        assert strategy.execute_prompt("x").provider == "b"
    assert calls_to("a/a1") == 2
    for _ in range(3):
        assert strategy.execute_prompt("x").provider == "b"
    assert calls_to("a/a1") == 2  # cooling down: not called at all
    fake_time.now += 121
    strategy.execute_prompt("x")
    assert calls_to("a/a1") == 3


def test_rpm_limiter_sleeps_until_a_slot_frees(fake_time):
    factory = make_factory({"a": {"model": "a1", "rpm": 2}})
    strategy = make_strategy(factory, fake_time)
    for _ in range(3):
        strategy.execute_prompt("x")
    assert calls_to("a/a1") == 3
    assert fake_time.sleeps == [60.0]
    wait = next(e for e in strategy.events if e.kind == "wait")
    assert "requests-per-minute" in wait.message


def test_daily_request_quota_is_counted_persistently(fake_time):
    factory = make_factory(
        {"a": {"model": "a1", "daily_requests": 2}, "b": {"model": "b1"}},
    )
    first = make_strategy(factory, fake_time, fallback_order=["a", "b"])
    assert [first.execute_prompt("x").provider for _ in range(2)] == ["a", "a"]
    restarted = make_strategy(factory, fake_time, fallback_order=["a", "b"])
    assert restarted.execute_prompt("x").provider == "b"
    assert calls_to("a/a1") == 2
    fake_time.now += 24 * 3600  # the next UTC day
    assert restarted.execute_prompt("x").provider == "a"


def test_monthly_request_quota_lasts_until_the_next_month(tmp_path, fake_time):
    store = ProviderStateStore(tmp_path, clock=fake_time.clock)
    assert [store.take_request("p", None, 2) for _ in range(2)] == [None, None]
    blocked = store.take_request("p", None, 2)
    assert blocked is not None and "monthly request quota of 2" in blocked.reason
    assert blocked.until == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert store.requests_used("p") == (2, 2)
    fake_time.now = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC).timestamp()
    assert store.take_request("p", None, 2) is None
    assert store.take_request("unlimited", None, None) is None
    assert not (tmp_path / "provider_state.json").read_text().count("unlimited")


def test_fallback_disabled_uses_only_the_first_provider_with_retries(two, fake_time):
    strategy = make_strategy(two.factory, fake_time, fallback_order=["a", "b"], enabled=False)
    SCRIPTS["a/a1"] = [ServerError("boom", status_code=500)]
    assert strategy.execute_prompt("x").provider == "a"
    SCRIPTS["a/a1"] = [ServerError("boom", status_code=500) for _ in range(3)]
    SCRIPTS["a/a2"] = [ServerError("boom", status_code=500) for _ in range(3)]
    with pytest.raises(AllProvidersFailedError) as caught:
        strategy.execute_prompt("x")
    assert [a.provider for a in caught.value.attempts] == ["a"]
    assert calls_to("b/b1") == 0


def test_provider_names_and_first_choose_the_chain(two, fake_time):
    assert two.execute_with_fallback("x", provider_names=["b"]).provider == "b"
    from_config = FallbackStrategy(None, two.factory)
    assert from_config.config == FallbackConfig.from_settings(two.factory.config.fallback)
    assert from_config.chain() == ["a", "b"]
    first_b = FallbackStrategy(
        FallbackConfig(fallback_order=["a", "b"]),
        two.factory,
        first="b",
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )
    assert first_b.chain() == ["b", "a"]
    assert first_b.execute_prompt("x").provider == "b"


def test_all_failed_lists_each_provider_and_why(fake_time, monkeypatch):
    factory = make_factory(
        {
            "a": {"model": "a1"},
            "b": {"model": "b1"},
            "keyless": {"model": "k1", "api_key_env": "KEYLESS_API_KEY"},
            "off": {"model": "o1", "enabled": False},
        }
    )
    strategy = make_strategy(factory, fake_time, fallback_order=["a", "b", "keyless", "off"])
    SCRIPTS["a/a1"] = [AuthenticationError("invalid api key", status_code=401)]
    SCRIPTS["b/b1"] = [OverloadedError("busy", status_code=529) for _ in range(3)]
    with pytest.raises(AllProvidersFailedError) as caught:
        strategy.execute_prompt("x")
    error = caught.value
    reasons = {a.provider: a for a in error.attempts}
    assert list(reasons) == ["a", "b", "keyless", "off"]
    assert reasons["a"].error_kind == "auth"
    assert reasons["b"].error_kind == "overloaded" and "3 calls" in reasons["b"].reason
    assert "KEYLESS_API_KEY" in reasons["keyless"].reason
    assert "enabled is false" in reasons["off"].reason
    text = str(error)
    assert text.startswith("every provider failed:")
    assert all(f"\n  {name}: " in text for name in reasons)
    assert not error.budget_exhausted


# -- budgets and the ledger ------------------------------------------------------------------


@pytest.fixture
def tracker(tmp_path, fake_time) -> CostTracker:
    return CostTracker(CostControls(daily_limit=50.0), home=tmp_path, clock=fake_time.clock)


def test_every_call_is_in_the_ledger_with_its_outcome(two, fake_time, tmp_path, tracker):
    strategy = make_strategy(two.factory, fake_time, tracker, fallback_order=["a", "b"])
    SCRIPTS["a/a1"] = [RateLimitError("slow down", retry_after=1.0)]
    result = strategy.execute_prompt("x")
    stats = tracker.stats(by="model")
    assert stats["a/a1"].requests == 2 and stats["a/a1"].failures == 1
    assert tracker.get_daily_cost() == pytest.approx(result.cost)
    assert result.cost == pytest.approx((100 * 10 + 20 * 50) / 1e6)
    assert tracker.get_reserved() == 0.0


def test_daily_limit_below_one_reservation_means_zero_paid_calls_and_free_answers(
    fake_time, tmp_path
):
    factory = make_factory(
        {"paid": {"model": "p1"}, "local": {"model": "l1", "pricing": {"free": True}}},
    )
    # The worst case of one paid call: 1000 output tokens at $50/M = $0.05 at least.
    tracker = CostTracker(CostControls(daily_limit=0.01), home=tmp_path, clock=fake_time.clock)
    strategy = make_strategy(factory, fake_time, tracker, fallback_order=["paid", "local"])
    result = strategy.execute_prompt("x")
    assert result.provider == "local"
    assert CALLS == ["local/l1"]  # the paid provider received no call at all
    skip = next(e for e in strategy.events if e.kind == "skip")
    assert skip.provider == "paid" and skip.error_kind == "budget_exceeded"
    assert "daily_limit" in skip.message


def test_over_budget_without_a_free_provider_is_budget_exhausted(two, fake_time, tmp_path):
    tracker = CostTracker(CostControls(daily_limit=0.01), home=tmp_path, clock=fake_time.clock)
    strategy = make_strategy(two.factory, fake_time, tracker, fallback_order=["a", "b"])
    with pytest.raises(AllProvidersFailedError) as caught:
        strategy.execute_prompt("x")
    assert caught.value.budget_exhausted
    assert CALLS == []
    midnight = datetime(2026, 11, 4, tzinfo=UTC).timestamp()
    assert caught.value.next_retry_at == midnight
    assert "cost_controls.daily_limit" in str(caught.value)


def test_a_cheaper_fallback_model_runs_when_the_main_model_does_not_fit(
    fake_time, tmp_path, monkeypatch
):
    prices = tmp_path / "prices.yaml"
    prices.write_text("a:\n  big: {input: 10, output: 50}\n  small: {input: 0.1, output: 0.5}\n")
    monkeypatch.setenv("COFFEE_MAKER_PRICES", str(prices))
    reset_price_table()
    factory = make_factory({"a": {"model": "big", "fallback_models": ["small"], "pricing": None}})
    tracker = CostTracker(CostControls(daily_limit=0.01), home=tmp_path, clock=fake_time.clock)
    strategy = make_strategy(factory, fake_time, tracker)
    result = strategy.execute_prompt("x", max_tokens=1000)  # big: $0.05 worst case
    assert (result.model, CALLS) == ("small", ["a/small"])


def test_per_task_limit_applies_to_the_task_set(two, fake_time, tmp_path):
    controls = CostControls(daily_limit=None, per_task_limit=0.06)
    tracker = CostTracker(controls, home=tmp_path, clock=fake_time.clock)
    strategy = make_strategy(two.factory, fake_time, tracker, fallback_order=["a"])
    strategy.set_task("task-1")
    strategy.execute_prompt("x")  # reserves ~$0.05, spends $0.002
    for _ in range(3):
        strategy.execute_prompt("x")
    assert tracker.get_task_cost("task-1") == pytest.approx(0.008)
    with pytest.raises(AllProvidersFailedError) as caught:
        for _ in range(20):
            strategy.execute_prompt("x")
    assert caught.value.budget_exhausted and "per_task_limit" in str(caught.value)
    strategy.set_task("task-2")
    assert strategy.execute_prompt("x").provider == "a"


def test_an_interrupted_call_gives_its_reservation_back(two, fake_time, tracker):
    strategy = make_strategy(two.factory, fake_time, tracker, fallback_order=["a"])
    SCRIPTS["a/a1"] = [KeyboardInterrupt()]
    with pytest.raises(KeyboardInterrupt):
        strategy.execute_prompt("x")
    assert tracker.get_reserved() == 0.0


# -- the face of a provider ------------------------------------------------------------------


def test_restricted_view_shares_events_and_cooldowns(fake_time):
    factory = make_factory({"cli": {"model": "c1"}, "api": {"model": "x1"}})
    strategy = make_strategy(factory, fake_time, fallback_order=["cli", "api"])
    api_only = strategy.restricted(lambda p: p.name == "api")
    assert [p.name for p in api_only.providers()] == ["api"]
    SCRIPTS["api/x1"] = [QuotaExhaustedError("insufficient_quota")]
    with pytest.raises(AllProvidersFailedError):
        api_only.chat([Message.user("hi")], max_tokens=10)
    assert [p.name for p in strategy.providers()] == ["cli"]  # the cooldown is shared
    assert strategy.events is api_only.events and strategy.events
    api_only.set_task("t-9")
    assert strategy.task_id == "t-9"
    assert api_only.restricted(lambda p: p.name == "cli").providers() == []


def test_looks_like_a_provider(two):
    assert two.name == "fallback"
    assert two.check_available()
    assert ProviderCapability.TOOLS in two.capabilities
    assert two.supports_capability("tools")
    assert two.model == "a1"
    assert two.count_tokens("hello world") > 0
    assert two.estimate_cost("hello", max_output_tokens=1000) == pytest.approx(
        two.providers()[0].estimate_cost("hello", max_output_tokens=1000)
    )
    two.reset_context()


def test_chat_passes_tools_and_reports_the_events_of_that_call_only(two):
    SCRIPTS["a/a1"] = [ContextTooLongError("too long")]
    first = two.chat([Message.user("one")], [ToolSpec("finish", "end")], max_tokens=50)
    second = two.chat([Message.user("two")], max_tokens=50)
    assert first.model == "a2" and second.model == "a1"
    assert [e["kind"] for e in second.metadata["fallback_events"]] == ["attempt", "success"]
    assert len(two.events) > len(second.metadata["fallback_events"])
