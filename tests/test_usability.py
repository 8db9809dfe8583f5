"""One answer to "is provider X usable, and why not", rendered three ways.

The same state (a provider in cooldown, one past its daily request quota, one without its
key, a paid one whose budget is spent, and a free local one that still answers) must give
the same verdicts and the very same reasons in the fallback chain's skips,
``code-developer --dry-run`` and ``project-manager provider status`` (table and --json).
The providers are real OpenAI-SDK providers talking HTTP to one fake vendor.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from daemon_support import make_project

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.fallback_strategy import (
    AllProvidersFailedError,
    FallbackConfig,
    FallbackStrategy,
)
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.quotas import ProviderStateStore
from coffee_maker.fakes.openai import FakeOpenAI

KEY = "sk-test-" + "u" * 32
CHAIN = ["cool", "counted", "keyless", "paid", "local"]
SKIPPED = CHAIN[:-1]


@pytest.fixture
def vendor():
    with FakeOpenAI(api_key=KEY, models=["m1"]) as fake:
        yield fake


def provider(url: str, **extra: object) -> dict[str, object]:
    return {
        "type": "openai",
        "model": "m1",
        "base_url": f"{url}/v1",
        "api_key_env": "OPENAI_API_KEY",
        "pricing": {"input": 3.0, "output": 15.0},
        **extra,
    }


@pytest.fixture
def scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vendor: FakeOpenAI) -> Path:
    """The config, the persisted cooldown and request count, and a spent daily budget."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    config = {
        "default_provider": "cool",
        "providers": {
            "cool": provider(vendor.url),
            "counted": provider(vendor.url, daily_requests=1),
            "keyless": provider(vendor.url, api_key_env="KEYLESS_API_KEY"),
            "paid": provider(vendor.url),
            "local": provider(vendor.url, pricing={"free": True}),
        },
        "fallback": {"fallback_order": CHAIN, "retry_attempts": 1},
        "cost_controls": {"daily_limit": 1.0},
        "daemon": {"test_command": "true"},
        "agent": {"sandbox": "none"},  # the plan, not the sandbox, is under test
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    store = ProviderStateStore()
    store.set_cooldown("cool", time.time() + 3600, "insufficient_quota: out of credits")
    store.take_request("counted", 1, None)
    CostTracker(ProviderFactory(config_path=path).config.cost_controls).track_cost(
        "paid", 1.25, {"input_tokens": 1000}, model="m1"
    )
    return path


def chain_reasons(path: Path) -> tuple[dict[str, str], str]:
    """What the fallback chain reports when it skips each provider, and who answered."""
    factory = ProviderFactory(config_path=path)
    tracker = CostTracker(factory.config.cost_controls)
    strategy = FallbackStrategy(FallbackConfig(fallback_order=CHAIN), factory, tracker)
    result = strategy.execute_prompt("hello")
    skips = {e.provider: e.message for e in strategy.events if e.kind == "skip"}
    return skips, result.provider


def test_one_reason_per_provider_in_the_chain_the_dry_run_and_provider_status(
    scenario: Path, vendor: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from coffee_maker.cli.code_developer import main as code_developer
    from coffee_maker.cli.project_manager import main as project_manager

    vendor.reply_text("hi from local")
    skips, answered = chain_reasons(scenario)
    assert answered == "local" and list(skips) == SKIPPED

    assert project_manager(["provider", "status", "--config", str(scenario), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    status = {row["name"]: row["usability"] for row in report["providers"]}

    project = make_project(tmp_path / "project")
    code_developer(
        ["--repo", str(project.checkout), "--config", str(scenario), "--dry-run", "--no-pr"]
    )
    plan = capsys.readouterr().out

    assert project_manager(["provider", "status", "--config", str(scenario)]) == 1
    table = capsys.readouterr().out

    assert status["local"]["usable"] and status["local"]["reason"] == ""
    assert "local(m1)" in plan and "local(m1) [skipped" not in plan
    kinds = {name: status[name]["kind"] for name in SKIPPED}
    assert kinds == {"cool": "cooldown", "counted": "quota", "keyless": "key", "paid": "budget"}
    for name in SKIPPED:
        reason = status[name]["reason"]
        assert not status[name]["usable"] and reason
        assert skips[name] == reason, name  # the chain's skip
        assert f"{name}(m1) [skipped: {reason}]" in plan, name  # --dry-run
        assert f"{name}: not usable: {reason}" in table, name  # the table's note
    assert "insufficient_quota: out of credits" in skips["cool"]
    assert "daily request quota of 1 used up" in skips["counted"]
    assert "KEYLESS_API_KEY is not set" in skips["keyless"] and KEY not in table + plan
    assert "cost_controls.daily_limit $1.00 is used up" in skips["paid"]
    # waiting is enough for three of them: each says until when, the key does not
    untils = {name: status[name]["until"] for name in SKIPPED}
    assert untils["keyless"] is None and all(untils[n] for n in ("cool", "counted", "paid"))


def test_the_chain_reports_the_same_reasons_when_nobody_answers(scenario: Path) -> None:
    """Without the free provider the run fails, and its error lists the same reasons."""
    factory = ProviderFactory(config_path=scenario)
    tracker = CostTracker(factory.config.cost_controls)
    strategy = FallbackStrategy(FallbackConfig(fallback_order=SKIPPED), factory, tracker)
    verdicts = strategy.usability_all(SKIPPED)
    with pytest.raises(AllProvidersFailedError) as caught:
        strategy.execute_prompt("hello", provider_names=SKIPPED)
    error = caught.value
    assert [(a.provider, a.reason) for a in error.attempts] == [
        (n, verdicts[n].reason) for n in SKIPPED
    ]
    assert error.budget_exhausted and error.budget_limits == {"daily"}
    assert error.next_retry_at == min(
        v.until.timestamp() for v in verdicts.values() if v.until is not None
    )


def test_a_probe_is_made_only_when_asked(scenario: Path, vendor: FakeOpenAI) -> None:
    strategy = FallbackStrategy(None, ProviderFactory(config_path=scenario))
    offline = strategy.usability("local")
    assert offline.usable and offline.reach is None and vendor.requests == []
    probed = strategy.usability("local", probe_timeout=5)
    assert probed.usable and probed.reach is not None and probed.reach.outcome == "ok"
    assert [r.path for r in vendor.requests] == ["/v1/models"]
