"""The routing policy: config checks, roadmap lines, the task profile and ``decide()``.

``decide`` is pure, so most of this is plain data in, decision out; the privacy guard is
also proved where it matters, in the fallback chain, with real SDKs against fakes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakes.anthropic import FakeAnthropic
from fakes.ollama import FakeOllama

from coffee_maker.ai_providers.config_env import ConfigError
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.fallback_strategy import (
    AllProvidersFailedError,
    FallbackConfig,
    FallbackStrategy,
)
from coffee_maker.ai_providers.messages import Message
from coffee_maker.ai_providers.provider_config import CostControls, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.autonomous.cascade import Cascade
from coffee_maker.autonomous.roadmap import Roadmap
from coffee_maker.autonomous.routing import (
    BudgetState,
    RouteDecision,
    Tier,
    TierRecord,
    decide,
    worth_trying,
)
from coffee_maker.autonomous.routing_history import budget_state
from coffee_maker.autonomous.task_profile import TaskProfile, profile
from coffee_maker.fakes.openai import FakeOpenAI

PROVIDERS = {
    "ollama": {"model": "qwen2.5-coder:14b", "local": True},
    "mini": {"type": "openai", "model": "gpt-mini"},
    "gemini": {"model": "gemini-2.5-flash"},
    "claude": {"model": "claude-sonnet-4-6"},
}
TIERS = [["ollama"], ["mini", "gemini"], ["claude"]]


def config(**routing: Any) -> Any:
    data = {"providers": PROVIDERS, "routing": {"tiers": TIERS, **routing}}
    return parse_config(data, "test.yaml", environ={})


def task(task_type: str = "feature", complexity: int = 5, local: bool = False) -> TaskProfile:
    return TaskProfile(task_type, "given", complexity, "given", local, "given")


def started(decision: RouteDecision) -> list[int]:
    return [t.index for t in decision.tiers]


# -- the config -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("routing", "key"),
    [
        ({"tiers": [["ollama"], ["nope"]]}, "routing.tiers[1][0]: 'nope' is not a configured"),
        ({"rules": [{"type": "docs", "max_tier": 3}]}, "routing.rules[0].max_tier: tier 3"),
        ({"rules": [{"kind": "docs"}]}, "routing.rules.0.kind: unknown key"),
        ({"rules": [{"type": "poetry"}]}, "routing.rules.0.type"),
        ({"budget_tiers": {1.5: 0}}, "routing.budget_tiers"),
        ({"budget_tiers": {0.8: 5}}, "routing.budget_tiers.0.8: tier 5 does not exist"),
        ({"review": {"provider": "gpt"}}, "routing.review.provider: 'gpt'"),
        ({"tiers": [["mini"], ["claude"]], "privacy": "local"}, "no tier has a local provider"),
    ],
)
def test_a_routing_mistake_is_one_line_naming_its_key(routing: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**routing)
    assert key in str(caught.value) and str(caught.value).startswith("test.yaml: ")
    assert "\n" not in str(caught.value)


def test_privacy_local_without_any_local_provider_is_refused_when_read() -> None:
    data = {"providers": {"mini": {"type": "openai"}}, "routing": {"privacy": "local"}}
    with pytest.raises(ConfigError, match=r"routing\.privacy: local, but no enabled provider"):
        parse_config(data, "test.yaml", environ={})


def test_no_routing_section_is_the_plain_chain() -> None:
    plain = parse_config({"providers": PROVIDERS}, "test.yaml", environ={})
    decision = decide(task(), plain)
    assert not decision.routed and decision.tiers == () and decision.refused is None


# -- the roadmap's lines and the profile ------------------------------------------------------

ROADMAP = """\
# Roadmap

## PRIORITY 1: Fix the crash when the list is empty 📝

**Type**: bugfix
**Complexity**: 7
**Privacy**: local

It crashes.

## PRIORITY 2: Document the CLI in README.md 📝

Explain each flag in the docs.

## PRIORITY 3: Private thing 📝

**Privacy**: lokal
**Complexity**: eleven

Do it.

## PRIORITY 4: Refactor the parser 📝

Split parser.py into lexer.py, tokens.py and grammar.py; keep cli.py, api.py and
errors.py working. Mind the concurrency of the cache.
"""


def test_type_complexity_and_privacy_lines_are_read_and_bad_ones_fail_safe() -> None:
    roadmap = Roadmap.parse(ROADMAP)
    first, second, third, fourth = (profile(p) for p in roadmap)
    assert (first.task_type, first.complexity, first.local_only) == ("bugfix", 7, True)
    assert first.type_source == "its **Type** line"
    assert (second.task_type, second.local_only) == ("docs", False)
    assert "readme" in second.type_source
    assert third.local_only, "an unreadable privacy value must keep the code local"
    assert any("unknown privacy 'lokal'" in w for w in roadmap.warnings)
    assert any("cannot read complexity 'eleven'" in w for w in roadmap.warnings)
    assert fourth.task_type == "refactor"
    assert fourth.complexity > second.complexity
    assert "files" in fourth.complexity_source and "concurrency" in fourth.complexity_source


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("Add tests for the parser", "Improve test coverage of parse().", "tests"),
        ("Fix wrong totals", "The sum is broken for negative numbers.", "bugfix"),
        ("Rename Foo to Bar", "Clean up the module.", "refactor"),
        ("Write the usage guide", "A docs page.", "docs"),
        ("Add a --json flag", "Implement a new output format.", "feature"),
        ("Something", "Nothing telling.", "feature"),
    ],
)
def test_the_type_is_inferred_from_the_words(title: str, body: str, expected: str) -> None:
    text = f"## PRIORITY 1: {title} 📝\n\n{body}\n"
    assert profile(Roadmap.parse(text).get("1")).task_type == expected


# -- decide ------------------------------------------------------------------------------------


def test_the_same_priority_and_state_give_the_same_decision() -> None:
    cfg = config(rules=[{"complexity_at_least": 8, "start_tier": 2}], budget_tiers={0.8: 1})
    history = {
        ("feature", "ollama"): TierRecord(5, 1, 0.5),
        ("feature", "mini+gemini"): TierRecord(4, 3, 0.4),
    }
    inputs = (task("feature", 6), cfg, BudgetState(0.5, 0.2), history)
    decisions = {decide(*inputs) for _ in range(5)}
    assert len(decisions) == 1
    again = decide(
        task("feature", 6),
        config(rules=[{"complexity_at_least": 8, "start_tier": 2}], budget_tiers={0.8: 1}),
        BudgetState(0.5, 0.2),
        dict(reversed(list(history.items()))),
    )
    assert again == decisions.pop()


def test_without_rules_it_starts_at_the_cheapest_tier() -> None:
    decision = decide(task(), config())
    assert started(decision) == [0, 1, 2]
    assert decision.start == Tier(0, ("ollama",))
    assert decision.reasons == ("no rule applies: from the cheapest tier up",)


def test_the_first_matching_rule_sets_start_and_max() -> None:
    cfg = config(
        rules=[{"type": "docs", "max_tier": 1}, {"complexity_at_least": 8, "start_tier": 2}]
    )
    assert started(decide(task("docs", 9), cfg)) == [0, 1]
    hard = decide(task("feature", 8), cfg)
    assert started(hard) == [2]
    assert any(
        "routing.rules[1] {complexity_at_least: 8, start_tier: 2} matches" in r
        for r in hard.reasons
    )
    assert started(decide(task("feature", 7), cfg)) == [0, 1, 2]


def test_a_budget_near_its_limit_starts_lower() -> None:
    cfg = config(
        rules=[{"complexity_at_least": 8, "start_tier": 2}], budget_tiers={0.8: 1, 0.95: 0}
    )
    assert started(decide(task("feature", 9), cfg, BudgetState(0.5, 0.1))) == [2]
    near = decide(task("feature", 9), cfg, BudgetState(0.85, None))
    assert started(near) == [1, 2]
    assert any("85% of a cost limit is spent" in r for r in near.reasons)
    assert started(decide(task("feature", 9), cfg, BudgetState(0.1, 0.97))) == [0, 1, 2]


def test_the_budget_state_comes_from_the_ledger(tmp_path) -> None:
    controls = CostControls(daily_limit=10.0, monthly_limit=100.0)
    tracker = CostTracker(controls, home=tmp_path)
    cfg = config(rules=[{"start_tier": 2}], budget_tiers={0.8: 0})
    cfg.cost_controls = controls
    assert started(decide(task(), cfg, budget_state(tracker, cfg))) == [2]
    tracker.track_cost("claude", 8.5, model="claude-sonnet-4-6")
    state = budget_state(tracker, cfg)
    assert state.daily == pytest.approx(0.85) and state.monthly == pytest.approx(0.085)
    assert started(decide(task(), cfg, state)) == [0, 1, 2]


def test_privacy_keeps_only_local_providers_and_refuses_rather_than_go_to_the_cloud() -> None:
    local = decide(task(local=True), config())
    assert local.local_only and [t.providers for t in local.tiers] == [("ollama",)]
    assert any("mini, gemini not local, left out" in r for r in local.reasons)
    repo_wide = decide(task(), config(privacy="local"))
    assert [t.providers for t in repo_wide.tiers] == [("ollama",)]
    cloud_only = config(tiers=[["mini"], ["claude"]])
    refused = decide(task(local=True), cloud_only)
    assert refused.tiers == () and refused.refused and "local: true" in refused.refused
    forced = decide(task(local=True), config(), provider="claude")
    assert forced.tiers == () and forced.refused
    # no routing section at all: a private priority still only sees local providers
    plain = parse_config({"providers": PROVIDERS}, "test.yaml", environ={})
    assert [t.providers for t in decide(task(local=True), plain).tiers] == [("ollama",)]


def test_a_rule_may_keep_a_task_type_local() -> None:
    decision = decide(task("bugfix"), config(rules=[{"type": "bugfix", "local_only": True}]))
    assert decision.local_only and [t.index for t in decision.tiers] == [0]


def test_history_skips_a_tier_that_costs_more_than_it_saves() -> None:
    # tier 0: 1 pass in 10 at $0.05; tier 1 costs $0.20 a try: 0.05 > 0.1 * 0.20 -> skip
    bad = {
        ("feature", "ollama"): TierRecord(10, 1, 0.5),
        ("feature", "mini+gemini"): TierRecord(5, 4, 1.0),
    }
    decision = decide(task(), config(), history=bad)
    assert started(decision) == [1, 2] and decision.skipped == ("ollama",)
    assert any("expected to cost more than it saves" in r for r in decision.reasons)
    # the same rate on another task type is not this one's history
    assert started(decide(task("docs"), config(), history=bad)) == [0, 1, 2]
    # a good rate is worth its try; too few tries are always tried
    assert worth_trying(TierRecord(10, 5, 0.5), TierRecord(5, 4, 1.0))
    assert worth_trying(TierRecord(2, 0, 2.0), TierRecord(5, 4, 1.0))


def test_the_explanation_says_type_complexity_privacy_and_every_reason() -> None:
    cfg = config(rules=[{"type": "docs", "max_tier": 1}])
    lines = decide(task("docs", 2), cfg).lines()
    assert lines[:3] == ["type: docs (given)", "complexity: 2 (given)", "privacy: cloud allowed"]
    assert "tiers to try: tier 0 (ollama) -> tier 1 (mini, gemini)" in lines
    assert "because: routing.rules[0] {type: docs, max_tier: 1} matches" in lines


# -- the guard in the fallback chain ----------------------------------------------------------


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")
    with FakeAnthropic() as anthropic, FakeOpenAI() as openai, FakeOllama() as ollama:
        yield anthropic, openai, ollama


def test_a_local_route_makes_zero_cloud_requests_even_when_the_local_model_fails(servers) -> None:
    anthropic, openai, ollama = servers
    data = {
        "providers": {
            "ollama": {"model": "qwen2.5-coder:14b", "host": ollama.url, "local": True},
            "mini": {"type": "openai", "model": "gpt-mini", "base_url": openai.url + "/v1"},
            "claude": {"model": "claude-sonnet-4-6", "base_url": anthropic.url},
        },
        # a careless tier mixing local and cloud providers: the guard must still hold
        "routing": {"tiers": [["ollama", "mini"], ["claude"]], "privacy": "local"},
    }
    cfg = parse_config(data, "test.yaml", environ={})
    decision = decide(task(), cfg)
    assert [t.providers for t in decision.tiers] == [("ollama",)]
    unsafe = RouteDecision(
        decision.profile, True, (Tier(0, ("ollama", "mini", "claude")),), local_only=True
    )
    ollama.error(500, times=20)
    openai.reply_text("cloud answer")
    anthropic.reply_text("cloud answer")
    fallback = FallbackStrategy(
        FallbackConfig(retry_attempts=2, retry_delay=0),
        ProviderFactory(config=cfg),
        sleep=lambda s: None,
    )
    for route in (decision, unsafe):
        strategy = Cascade(route, None).strategy(fallback)
        with pytest.raises(AllProvidersFailedError):
            strategy.chat([Message.user("the private code")])
    assert ollama.model_calls, "the local provider was tried"
    assert openai.requests == [] and anthropic.requests == []


# -- the second opinion's reply ---------------------------------------------------------------


def test_a_second_opinion_is_read_leniently_and_bounded() -> None:
    from coffee_maker.autonomous.second_opinion import Finding, parse

    finding = {"file": "a.py", "line": 3, "problem": "off by one"}
    reply = json.dumps({"verdict": "request_changes", "findings": [finding]})
    fenced = f"Sure.\n```json\n{reply}\n```"
    assert parse(fenced) == ("request_changes", [Finding("a.py", "off by one", 3)])
    assert parse("I think it is fine.") == ("unreadable", [])
    assert parse('{"verdict": "merge it now"}') == ("unreadable", [])
    unclear = [{"problem": "no file"}, "text", {"file": "b.py", "problem": " "}]
    vague = json.dumps({"verdict": "request_changes", "findings": unclear})
    assert parse(vague) == ("request_changes", [])  # nothing concrete: no repair round
    many = {"verdict": "request_changes", "findings": [{"file": "x.py", "problem": "p" * 999}] * 50}
    _, findings = parse(json.dumps(many))
    assert len(findings) == 10 and len(findings[0].problem) == 300


def test_when_a_second_opinion_is_wanted() -> None:
    from coffee_maker.ai_providers.routing_settings import ReviewSettings
    from coffee_maker.autonomous.second_opinion import wanted

    small, large = "+x\n" * 10, "+x\n" * 500
    assert not wanted(None, True, small)
    assert wanted(ReviewSettings(provider="g", when="always"), False, small)
    assert not wanted(ReviewSettings(provider="g", when="escalated"), False, small)
    assert wanted(ReviewSettings(provider="g", when="escalated"), True, small)
    assert not wanted(ReviewSettings(provider="g", when="large_diff"), True, small)
    assert wanted(ReviewSettings(provider="g", when="large_diff"), False, large)
    assert not wanted(ReviewSettings(provider="g", when="always"), False, "")


def test_privacy_is_known_for_follow_ups_even_when_the_roadmap_lost_the_priority(tmp_path) -> None:
    import subprocess

    from coffee_maker.autonomous.routing_history import is_private
    from coffee_maker.autonomous.state import Outcome, RepoState

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    state = RepoState.load(tmp_path)
    roadmap = Roadmap.parse(ROADMAP)
    cfg = config()
    assert is_private(cfg, state, "PRIORITY 1", roadmap.get("1"))
    assert not is_private(cfg, state, "PRIORITY 2", roadmap.get("2"))
    assert is_private(config(privacy="local"), state, "PRIORITY 2", roadmap.get("2"))
    state.record_attempt("PRIORITY 9", Outcome.SUCCESS, routing={"local_only": True, "tiers": []})
    assert is_private(cfg, state, "PRIORITY 9", None)
    assert not is_private(cfg, state, "PRIORITY 8", None)


def test_provider_flag_without_routing_keeps_the_plain_chain() -> None:
    plain = parse_config({"providers": PROVIDERS}, "test.yaml", environ={})
    assert not decide(task(), plain, provider="claude").routed
    assert [t.providers for t in decide(task(), config(), provider="claude").tiers] == [("claude",)]


def test_history_counts_each_tier_try_but_not_one_whose_providers_never_answered(
    tmp_path,
) -> None:
    import subprocess

    from coffee_maker.autonomous.routing_history import tier_history
    from coffee_maker.autonomous.state import Outcome, RepoState

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    state = RepoState.load(tmp_path)
    cheap = {"tier": 0, "label": "ollama", "cost": 0.01, "passed": False, "status": "tests_failing"}
    down = {**cheap, "cost": 0.0, "status": "provider_failure"}
    top = {"tier": 2, "label": "claude", "cost": 0.2, "passed": True, "status": "success"}
    for tries in ([cheap, top], [down, top]):
        details = {"routing": {"type": "bugfix", "tiers": tries}}
        state.record_attempt("PRIORITY 1", Outcome.SUCCESS, **details)
    history = tier_history(state)
    assert history[("bugfix", "ollama")] == TierRecord(1, 0, 0.01)
    assert history[("bugfix", "claude")] == TierRecord(2, 2, 0.4)


def test_the_cascade_stops_at_the_per_task_budget_and_at_the_top_tier(tmp_path) -> None:
    from pathlib import Path

    from coffee_maker.agent import AgentResult, Status
    from coffee_maker.autonomous.git_ops import Worktree

    decision = decide(task(), config())
    tracker = CostTracker(CostControls(per_task_limit=0.05), home=tmp_path)
    nowhere = Worktree(Path(tmp_path), "b", "0" * 40)
    failing = AgentResult(Status.TESTS_FAILING, files_changed=["a.py"], cost=0.06)
    spent = Cascade(decision, 0.05)
    spent.claim("repo:PRIORITY 1:run")
    tracker.track_cost("ollama", 0.06, task_id="repo:PRIORITY 1:run")
    assert not spent.after(failing, nowhere, tracker)
    assert spent.stopped == "cost_controls.per_task_limit $0.05 spent"
    assert spent.details()["routing"]["stopped"] == spent.stopped
    unverified = AgentResult(Status.UNVERIFIED, files_changed=["a.py"])
    assert not Cascade(decision, None).after(unverified, nowhere, tracker)
    top = Cascade(decide(task(), config(rules=[{"start_tier": 2}])), None)
    assert not top.after(failing, nowhere, tracker) and top.lines() == [
        "tier 2 (claude): tests_failing, $0.06"
    ]
    plain = Cascade()
    assert not plain.after(failing, nowhere, tracker) and plain.details() == {}
