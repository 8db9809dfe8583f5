"""Routing end to end: ``code-developer --once`` with two scripted tiers, and privacy.

Two FakeOpenAI servers are two providers (a cheap tier and a frontier tier) driven
through the real openai SDK; git, the CLI and PyGithub against FakeGitHub are real. What
is asserted is what a user would check: which server was asked, the PR body, the state's
history and the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from daemon_support import (
    BROKEN_SUBTRACT,
    GITHUB_REPO,
    MODEL,
    MODEL_KEY,
    SUBTRACT,
    Setup,
    fakes_running,
    implement_subtract,
    isolate_git,
    make_project,
    turn,
)

from coffee_maker.fakes.openai import FakeOpenAI

TURN = 0.006  # a scripted turn at the frontier's prices (1000 in at $3/M, 200 out at $15/M)


@contextmanager
def two_tiers(
    tmp_path: Path, monkeypatch: Any, **routing: Any
) -> Iterator[tuple[Setup, FakeOpenAI]]:
    """The project's `openai` provider is the frontier; `cheap` is a second fake server."""
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as cheap_server,
        fakes_running(project) as setup,
    ):
        cheap_local = routing.pop("cheap_local", False)
        project.write_config(
            setup.model.url,
            setup.github.url,
            providers={
                "openai": _provider(setup.model.url, 3.0, 15.0, False),
                "cheap": _provider(cheap_server.url, 0.3, 1.5, cheap_local),
            },
            routing={"tiers": [["cheap"], ["openai"]], **routing},
        )
        yield setup, cheap_server


def _provider(url: str, price_in: float, price_out: float, local: bool) -> dict[str, Any]:
    return {
        "type": "openai",
        "model": MODEL,
        "base_url": f"{url}/v1",
        "api_key_env": "OPENAI_API_KEY",
        "timeout": 60,
        "pricing": {"input": price_in, "output": price_out},
        "local": local,
    }


def test_the_cheap_tier_fails_the_tests_and_the_frontier_tier_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with two_tiers(tmp_path, monkeypatch) as (setup, cheap):
        project, frontier, github = setup.project, setup.model, setup.github
        cheap.script(implement_subtract(BROKEN_SUBTRACT, "Added subtract (wrong)."))
        frontier.script(implement_subtract())
        plan = "tiers to try: tier 0 (cheap) -> tier 1 (openai)"
        explain = _cli(project, "project-manager", "route", "explain", "1")
        assert plan in explain.stdout and "type: feature" in explain.stdout, explain.stderr
        dry = project.run("--dry-run")
        assert f"route: {plan}" in dry.stdout, dry.stdout + dry.stderr
        worst = next(x for x in dry.stdout.splitlines() if x.startswith("first call's worst"))
        assert worst.endswith(" on cheap"), worst  # the start tier's, not the default's

        done = project.run("--once", timeout=120)

        assert done.returncode == 0, done.stderr
        assert "opened pull request" in done.stdout
        assert "tier 0 (cheap): new failures" in done.stdout
        assert "tier 1 (openai): passed" in done.stdout
        # The cheap tier went first; the frontier was told what it learnt.
        assert len(cheap.model_calls) == 4 and len(frontier.model_calls) == 4
        first = frontier.model_calls[0].body.decode()
        assert "did not pass verification" in first
        assert "return a + b  # wrong" in first  # the previous diff, as reference
        assert "test_subtract" in first  # the failing test
        # The PR carries the frontier's change and says which tiers were tried.
        assert len(github.pulls) == 1 and not github.pulls[0].draft
        body = github.pulls[0].body or ""
        assert "- Routing (cheapest tier first" in body
        assert f"tier 0 (cheap): new failures, ${4 * TURN / 10:.4f}" in body
        assert f"tier 1 (openai): passed, ${4 * TURN:.4f}" in body
        # One attempt in the state, with both tiers; one task id in the ledger for both.
        record = project.state()["priorities"]["PRIORITY 1"]
        assert record["last_outcome"] == "success" and record["attempts"] == 1
        routing = record["history"][-1]["routing"]
        tiers = routing["tiers"]
        assert [(t["label"], t["passed"]) for t in tiers] == [("cheap", False), ("openai", True)]
        said = json.loads(
            _cli(project, "project-manager", "route", "explain", "1", "--json").stdout
        )
        assert said["tiers"] == [
            {"index": 0, "providers": ["cheap"]},
            {"index": 1, "providers": ["openai"]},
        ]
        assert routing["planned"] == [0, 1] and routing["reasons"] == said["reasons"]
        assert tiers[0]["cost"] == pytest.approx(4 * TURN / 10)
        calls = project.calls()
        assert [c["provider"] for c in calls] == ["cheap"] * 4 + ["openai"] * 4
        assert len({c["task_id"] for c in calls}) == 1
        assert project.worktrees() == []
        # status says it too
        status = _cli(project, "code-developer", "status")
        assert "tier 0 (cheap): new failures" in status.stdout, status.stdout
        stats = _cli(project, "project-manager", "route", "stats").stdout.splitlines()
        assert any(line.split()[:5] == ["feature", "cheap", "1", "0", "0%"] for line in stats)
        assert any(line.split()[:5] == ["feature", "openai", "1", "1", "100%"] for line in stats)


def test_a_local_priority_never_reaches_a_cloud_provider_even_when_the_local_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with two_tiers(tmp_path, monkeypatch, cheap_local=True) as (setup, local):
        project, cloud = setup.project, setup.model
        roadmap = project.origin.parent / "seed" / "ROADMAP.md"
        text = roadmap.read_text().replace(
            "Add `subtract(a, b)`", "**Privacy**: local\n\nAdd `subtract(a, b)`"
        )
        _push_roadmap(project, text)
        local.error(500, times=50)  # the local model is down
        cloud.script(implement_subtract())

        done = project.run("--once", timeout=120)

        assert done.returncode != 0
        assert "no provider is available" in done.stdout + done.stderr
        assert local.model_calls, "the local provider was asked"
        assert cloud.requests == [], "a cloud provider saw a private priority"
        assert {c["provider"] for c in project.calls()} == {"cheap"}
        explain = _cli(project, "project-manager", "route", "explain", "1")
        assert "privacy: local only" in explain.stdout, explain.stdout + explain.stderr
        assert "openai not local, left out" in explain.stdout


def _push_roadmap(project: Any, text: str) -> None:
    from daemon_support import git

    seed = project.origin.parent / "seed"
    (seed / "ROADMAP.md").write_text(text)
    git(seed, "commit", "-qam", "private priority")
    git(seed, "push", "-q", str(project.origin), "main")


def _cli(project: Any, program: str, *args: str) -> Any:
    import subprocess
    import sys

    command = str(Path(sys.executable).with_name(program))
    return subprocess.run(
        [command, *args, "--config", str(project.config), "--repo", str(project.checkout)],
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_opinion_asking_for_changes_gets_one_repair_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    review = {"provider": "cheap", "when": "always"}
    with two_tiers(tmp_path, monkeypatch, review=review) as (setup, reviewer):
        project, model, github = setup.project, setup.model, setup.github
        config = project.config.read_text().replace("- - cheap\n  - - openai", "- - openai")
        project.config.write_text(config)  # one tier: the frontier; cheap only reviews
        model.script(implement_subtract())
        findings = {
            "verdict": "request_changes",
            "findings": [{"file": "calc.py", "line": 6, "problem": "subtract has no docstring"}],
        }
        reviewer.reply_text("Here it is:\n```json\n" + json.dumps(findings) + "\n```")
        model.script(
            [
                turn(("write_file", {"path": "calc.py", "content": SUBTRACT + "# reviewed\n"})),
                turn(("finish", {"summary": "Documented subtract()."})),
            ]
        )

        done = project.run("--once", timeout=120)

        assert done.returncode == 0, done.stderr
        assert len(reviewer.model_calls) == 1
        asked = reviewer.model_calls[0].body.decode()
        assert "<diff>" in asked and "def subtract" in asked and "Add subtract" in asked
        repair = model.model_calls[4].body.decode()
        assert "subtract has no docstring" in repair and "already in the worktree" in repair
        body = github.pulls[0].body or ""
        assert "- Second opinion before this pull request:" in body
        assert "second opinion by cheap: request changes" in body
        assert "one repair round followed: success" in body
        assert "finding: calc.py:6: subtract has no docstring" in body
        calls = project.calls()
        assert [c["provider"] for c in calls] == ["openai"] * 4 + ["cheap"] + ["openai"] * 2
        assert len({c["task_id"] for c in calls}) == 1  # the review is budgeted with the task


def test_a_follow_up_on_a_private_priority_stays_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with two_tiers(tmp_path, monkeypatch, cheap_local=True) as (setup, local):
        project, cloud, github = setup.project, setup.model, setup.github
        seed = project.origin.parent / "seed" / "ROADMAP.md"
        text = seed.read_text()
        private = text[: text.index("## PRIORITY 2")].replace(
            "Add `subtract(a, b)`", "**Privacy**: local\n\nAdd `subtract(a, b)`"
        )
        _push_roadmap(project, private)
        local.script(implement_subtract())
        opened = project.run("--once", timeout=120)
        assert opened.returncode == 0 and len(github.pulls) == 1, opened.stdout + opened.stderr
        github.set_permission(GITHUB_REPO, "maintainer1", "maintain")
        github.add_review(
            GITHUB_REPO, 1, "maintainer1", "CHANGES_REQUESTED", body="Add a docstring test."
        )
        local.error(500, times=50)  # the local model is down for the follow-up
        cloud.script(implement_subtract())

        project.run("--once", timeout=120)

        assert cloud.requests == [], "a follow-up on a private priority reached a cloud model"
        assert len(local.model_calls) > 4, "the follow-up was tried on the local provider"


def test_a_budget_near_its_limit_starts_at_a_lower_tier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.ai_providers.provider_config import CostControls

    rules = [{"complexity_at_least": 1, "start_tier": 1}]  # everything starts at the frontier
    with two_tiers(tmp_path, monkeypatch, rules=rules, budget_tiers={0.8: 0}) as (setup, cheap):
        project, frontier = setup.project, setup.model
        config = project.config.read_text() + "cost_controls: {daily_limit: 1.0}\n"
        project.config.write_text(config)
        before = _cli(project, "project-manager", "route", "explain", "1").stdout
        assert "tiers to try: tier 1 (openai)" in before, before
        controls = CostControls(daily_limit=1.0)
        CostTracker(controls, home=project.home).track_cost("openai", 0.85, model=MODEL)
        after = _cli(project, "project-manager", "route", "explain", "1").stdout
        assert "tiers to try: tier 0 (cheap) -> tier 1 (openai)" in after, after
        assert "85% of a cost limit is spent" in after
        cheap.script(implement_subtract())

        done = project.run("--once", timeout=120)

        assert done.returncode == 0, done.stdout + done.stderr
        assert len(cheap.model_calls) == 4 and frontier.model_calls == []


def test_a_private_priority_with_no_local_provider_is_refused_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with two_tiers(tmp_path, monkeypatch) as (setup, cheap):
        project, cloud = setup.project, setup.model
        text = (project.origin.parent / "seed" / "ROADMAP.md").read_text()
        _push_roadmap(project, text.replace("Add `subtract(a, b)`", "**Privacy**: local\n\nAdd"))
        cheap.script(implement_subtract())
        cloud.script(implement_subtract())

        done = project.run("--once", "--priority", "1", timeout=120)

        assert done.returncode != 0
        assert "routing refused it" in done.stdout + done.stderr
        assert cheap.requests == [] and cloud.requests == []
        assert project.state()["priorities"]["PRIORITY 1"]["blocked"] is True


def test_when_every_tier_fails_the_draft_pr_and_the_state_say_which_tiers_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with two_tiers(tmp_path, monkeypatch) as (setup, cheap):
        project, frontier, github = setup.project, setup.model, setup.github
        cheap.script(implement_subtract(BROKEN_SUBTRACT))
        frontier.script(implement_subtract(BROKEN_SUBTRACT))

        done = project.run("--once", timeout=120)

        assert done.returncode != 0
        assert len(github.pulls) == 1 and github.pulls[0].draft
        body = github.pulls[0].body or ""
        assert "tier 0 (cheap): new failures" in body and "tier 1 (openai): new failures" in body
        record = project.state()["priorities"]["PRIORITY 1"]
        assert record["last_outcome"] == "failure" and record["attempts"] == 1
        tiers = record["history"][-1]["routing"]["tiers"]
        assert [(t["label"], t["passed"]) for t in tiers] == [("cheap", False), ("openai", False)]
