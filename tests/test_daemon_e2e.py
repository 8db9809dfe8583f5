"""``code-developer --once`` end to end, as a user runs it (issue 5's checks, for real).

Real git (a bare origin, the user's checkout dirty and on another branch), the real CLI
as a subprocess, the real openai SDK and PyGithub over HTTP against FakeOpenAI and
FakeGitHub. Each test asserts what a user would check: the branch on origin, the PR and
its body, the state, the ledger, exit codes, and that their own checkout was not touched.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import (
    BROKEN_SUBTRACT,
    GITHUB_REPO,
    GITHUB_TOKEN,
    MODEL,
    MODEL_KEY,
    SUBTRACT_BRANCH,
    TEST_COMMAND,
    USAGE_BRANCH,
    Setup,
    all_text,
    edit_subtract,
    fakes_running,
    git,
    implement_subtract,
    isolate_git,
    make_project,
    snapshot,
    turn,
    write_usage_note,
)

from coffee_maker.autonomous.repo_lock import RepoLock
from coffee_maker.autonomous.roadmap import Roadmap, Status

TURN_COST = 0.006  # 1000 input tokens at $3/M + 200 output tokens at $15/M


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    isolate_git(tmp_path, monkeypatch)
    with fakes_running(make_project(tmp_path)) as running:
        yield running


def secrets_in(text: str) -> list[str]:
    return [s for s in (MODEL_KEY, GITHUB_TOKEN) if s in text]


def test_once_opens_one_honest_pr_and_leaves_the_checkout_alone(setup: Setup, tmp_path) -> None:
    project, model, github = setup.project, setup.model, setup.github
    before = snapshot(project.checkout)
    model.script(edit_subtract())

    done = project.run("--once")

    assert done.returncode == 0, done.stderr
    assert f"opened pull request {github.url}/{GITHUB_REPO}/pull/1" in done.stdout
    assert "Add subtract" in model.model_calls[0].body.decode()  # the priority was the task
    # The branch on origin carries the change and marks the priority complete...
    clone = project.clone_branch(SUBTRACT_BRANCH, tmp_path / "review")
    assert "def subtract" in (clone / "calc.py").read_text()
    roadmap = Roadmap.load(clone / "ROADMAP.md")
    assert roadmap.get("1").status is Status.COMPLETE
    assert roadmap.get("2").status is Status.PLANNED
    # ...and only that line of the roadmap changed.
    main_roadmap = git(project.origin, "show", "main:ROADMAP.md").splitlines()
    branch_roadmap = (clone / "ROADMAP.md").read_text().splitlines()
    changed = [a for a, b in zip(main_roadmap, branch_roadmap, strict=True) if a != b]
    assert changed == ["**Status**: 📝 Planned"]
    tests = subprocess.run(TEST_COMMAND.split(), cwd=clone, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stderr
    assert "Ran 2 tests" in tests.stderr
    trailers = git(clone, "log", "-1", "--format=%(trailers:only,unfold)")
    assert f"Provider: openai\nModel: {MODEL}\nCost-USD: {4 * TURN_COST:.4f}" in trailers
    # One PR, ready for review, whose body tells the truth.
    assert len(github.pulls) == 1
    pull = github.pulls[0]
    assert (pull.title, pull.head, pull.base, pull.draft) == (
        "PRIORITY 1: Add subtract",
        SUBTRACT_BRANCH,
        "main",
        False,
    )
    live = github.live(pull)  # what GitHub would report: the pushed tip, mergeable into main
    assert live.head_sha == git(project.origin, "rev-parse", f"refs/heads/{SUBTRACT_BRANCH}")
    assert (live.mergeable, live.mergeable_state) == (True, "clean")
    body = pull.body or ""
    assert f"**Verdict: passed (2 passed; baseline 1 passed)** (`{TEST_COMMAND}`)" in body
    assert f"`{TEST_COMMAND}`: **passed**" in body
    assert f"- Cost: ${4 * TURN_COST:.4f}" in body
    assert f"- Providers: openai/{MODEL}" in body
    assert "`calc.py`" in body and "`tests/test_subtract.py`" in body
    assert "Added subtract() to calc.py" in body
    # The state and the ledger remember it; the user's checkout is exactly as it was.
    record = project.state()["priorities"]["PRIORITY 1"]
    assert record["last_outcome"] == "success" and record["pr_url"].endswith("/pull/1")
    assert project.state()["current"] is None and project.worktrees() == []
    calls = project.calls()
    assert [(c["provider"], c["model"], c["outcome"]) for c in calls] == [
        ("openai", MODEL, "ok")
    ] * 4
    assert sum(c["cost"] for c in calls) == pytest.approx(4 * TURN_COST)
    assert snapshot(project.checkout) == before
    # No secret anywhere: output, transcript, commit, PR, state (the model even said one).
    runs = list((project.checkout / ".git" / "coffee-maker" / "runs").glob("*.jsonl"))
    assert len(runs) == 1 and "[REDACTED]" in runs[0].read_text()
    state_file = project.checkout / ".git" / "coffee-maker" / "state.json"
    commit = git(clone, "log", "-1", "--format=%B")
    everywhere = [done.stdout, done.stderr, all_text([*runs, state_file]), commit, body]
    assert secrets_in("\n".join([*everywhere, pull.title, *pull.comments])) == []


def test_failing_tests_give_a_draft_then_block_and_the_next_priority_goes(
    setup: Setup,
) -> None:
    project, model, github = setup.project, setup.model, setup.github
    before = snapshot(project.checkout)
    pushed = []
    for attempt in (1, 2, 3):
        broken = f"{BROKEN_SUBTRACT}# attempt {attempt}\n"
        model.script(implement_subtract(broken, summary=f"Attempt {attempt}."))
        failed = project.run("--once")
        assert failed.returncode == 1, failed.stderr
        assert "new failures: test_subtract.SubtractTest.test_subtract" in failed.stdout
        pushed.append(git(project.origin, "rev-parse", SUBTRACT_BRANCH))
        record = project.state()["priorities"]["PRIORITY 1"]
        assert (record["attempts"], record["failures"]) == (attempt, attempt)
        assert len(github.pulls) == 1 and github.pulls[0].draft  # one draft, updated
    assert "now blocked" in failed.stdout
    assert record["blocked"] and "failed 3 times" in record["blocked_reason"]
    # Each retry continued the pushed branch: fast-forwards, never a force push.
    assert git(project.origin, "rev-parse", f"{pushed[2]}~1") == pushed[1]
    assert git(project.origin, "rev-parse", f"{pushed[1]}~1") == pushed[0]
    body = github.pulls[0].body or ""
    assert "**Verdict: new failures: test_subtract.SubtractTest.test_subtract" in body
    assert "`" + TEST_COMMAND + "`: **new failures**" in body
    assert "Attempt 3." in body and len(github.pulls[0].comments) == 2
    roadmap = git(project.origin, "show", f"{SUBTRACT_BRANCH}:ROADMAP.md")
    assert Roadmap.parse(roadmap).get("1").status is Status.PLANNED  # not claimed complete

    model.script(write_usage_note())
    nxt = project.run("--once")  # PRIORITY 2 waits for 1; PRIORITY 3 is next
    assert nxt.returncode == 0, nxt.stderr
    assert [p.head for p in github.pulls] == [SUBTRACT_BRANCH, USAGE_BRANCH]
    assert not github.pulls[1].draft
    assert len(project.calls()) == 3 * 4 + 2
    idle = project.run("--once")  # 1 blocked, 2 waits for 1, 3 awaits review
    assert idle.returncode == 0 and idle.stdout.startswith("nothing to do")
    assert snapshot(project.checkout) == before


def test_without_draft_prs_a_failure_opens_none_but_is_recorded(setup: Setup) -> None:
    project, model, github = setup.project, setup.model, setup.github
    project.write_config(
        model.url, github.url, daemon={"draft_on_test_failure": False, "test_command": TEST_COMMAND}
    )
    model.script(implement_subtract(BROKEN_SUBTRACT))
    failed = project.run("--once")
    assert failed.returncode == 1
    assert github.pulls == []
    record = project.state()["priorities"]["PRIORITY 1"]
    assert record["attempts"] == 1 and record["last_outcome"] == "failure"
    assert "new failures: test_subtract.SubtractTest.test_subtract" in record["last_error"]


def test_sigkill_mid_iteration_then_restart_loses_and_duplicates_nothing(setup: Setup) -> None:
    project, model, github = setup.project, setup.model, setup.github
    before = snapshot(project.checkout)
    model.script(implement_subtract(BROKEN_SUBTRACT))
    assert project.run("--once").returncode == 1  # a draft PR and a pushed branch exist
    first_push = git(project.origin, "rev-parse", SUBTRACT_BRANCH)

    turns = implement_subtract()
    model.reply(turns[0])
    model.enqueue(lambda req: dataclasses.replace(model.render_turn(turns[1], req), delay=30))
    victim = project.start("--once")
    deadline = time.monotonic() + 20
    while len(model.model_calls) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(model.model_calls) == 6, victim.communicate(timeout=5)
    victim.send_signal(signal.SIGKILL)  # while the model "thinks": no cleanup at all
    victim.wait(timeout=10)
    assert project.worktrees() != [] and project.state()["current"]["step"] == "agent"
    ledger_after_kill = (project.home / "ledger.jsonl").read_text()

    model.script(implement_subtract())
    again = project.run("--once")

    assert again.returncode == 0, again.stderr
    assert len(github.pulls) == 1 and not github.pulls[0].draft  # the draft, now ready
    assert project.worktrees() == [] and project.state()["current"] is None
    assert git(project.origin, "rev-parse", f"{SUBTRACT_BRANCH}~1") == first_push
    ledger = (project.home / "ledger.jsonl").read_text()
    assert ledger.startswith(ledger_after_kill)  # nothing lost, nothing rewritten
    assert [json.loads(line)["kind"] for line in ledger.splitlines()].count("call") == 4 + 1 + 4
    history = project.state()["priorities"]["PRIORITY 1"]["history"]
    assert [h["outcome"] for h in history] == ["failure", "deferred", "success"]
    assert "interrupted during agent" in history[1]["error"]
    assert snapshot(project.checkout) == before


def test_sigterm_on_once_cancels_the_model_call_in_flight_and_records_it(
    setup: Setup,
) -> None:
    project, model = setup.project, setup.model
    turns = implement_subtract()
    model.reply(turns[0])
    model.enqueue(lambda req: dataclasses.replace(model.render_turn(turns[1], req), delay=30))
    running = project.start("--once")
    deadline = time.monotonic() + 20
    while len(model.model_calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    running.send_signal(signal.SIGTERM)  # the reply is 30 s away: the stop must not wait
    out, _ = running.communicate(timeout=20)
    assert running.returncode == 130
    assert out.splitlines() == [
        "PRIORITY 1: interrupted during agent: stop requested; "
        "the model call in flight was cancelled"
    ]
    assert len(model.model_calls) == 2 and project.worktrees() == []
    assert project.state()["priorities"]["PRIORITY 1"]["last_outcome"] == "deferred"


def test_work_pushed_by_a_run_that_died_before_its_pr_is_published_on_retry(
    setup: Setup,
) -> None:
    project, model, github = setup.project, setup.model, setup.github
    github.fail_next(403, method="POST", path="/pulls")  # as if killed right after the push
    model.script(implement_subtract())
    failed = project.run("--once")
    assert failed.returncode == 1 and "GitHub refused (403" in failed.stdout
    pushed = git(project.origin, "rev-parse", SUBTRACT_BRANCH)
    assert github.pulls == []

    model.reply(turn(("finish", {"summary": "It is already implemented on this branch."})))
    done = project.run("--once")
    assert done.returncode == 0, done.stderr
    assert len(github.pulls) == 1 and not github.pulls[0].draft
    assert "**Verdict: passed (2 passed; no baseline)**" in (github.pulls[0].body or "")
    assert git(project.origin, "rev-parse", SUBTRACT_BRANCH) == pushed  # nothing new to push


def test_dry_run_changes_nothing_and_calls_no_model(setup: Setup) -> None:
    project, model, github = setup.project, setup.model, setup.github
    refs = git(project.checkout, "for-each-ref")
    before = snapshot(project.checkout)
    plan = project.run("--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "priority: PRIORITY 1: Add subtract" in plan.stdout
    assert f"provider chain: openai({MODEL})" in plan.stdout
    assert f"tests: {TEST_COMMAND}" in plan.stdout
    assert model.requests == [] and github.pulls == []
    # the preflight only reads: GET /repos/{owner}/{name} for the token's permissions
    assert [(r.method, r.path) for r in github.requests] == [("GET", f"/repos/{GITHUB_REPO}")]
    assert snapshot(project.checkout) == before and git(project.checkout, "for-each-ref") == refs
    assert project.worktrees() == [] and project.ledger() == []
    assert git(project.origin, "branch", "--list") == "* main"
    assert project.state().get("priorities", {}) == {}


def test_exit_codes_config_error_no_provider_budget_and_second_daemon(setup: Setup) -> None:
    project, model, github = setup.project, setup.model, setup.github
    config = project.config.read_text()
    project.config.write_text(config.replace("interval: 1", "interval: -5"))
    bad = project.run("--once")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "daemon.interval" in bad.stderr
    assert "Traceback" not in bad.stderr and str(project.config) in bad.stderr
    project.config.write_text(config)

    no_key = project.run("--once", env=project.env(OPENAI_API_KEY=""))
    assert no_key.returncode == 75, no_key.stderr
    assert "no provider is available" in no_key.stdout and "OPENAI_API_KEY" in no_key.stdout

    project.write_config(model.url, github.url, cost_controls={"daily_limit": 0.0})
    broke = project.run("--once")
    assert broke.returncode == 75, broke.stderr
    assert "the budget is exhausted" in broke.stdout and "daily_limit" in broke.stdout
    assert model.requests == [] and github.pulls == []
    record = project.state()["priorities"]["PRIORITY 1"]
    assert record["attempts"] == 0 and record["last_outcome"] == "deferred"

    with RepoLock(project.checkout):
        second = project.run("--once")
    assert second.returncode == 75
    assert "code-developer: another daemon is already running" in second.stderr
    assert second.stderr.count("\n") == 1


def test_priority_flag_picks_and_unblocks_a_priority(setup: Setup) -> None:
    project, model, github = setup.project, setup.model, setup.github
    model.script(write_usage_note())
    done = project.run("--once", "--priority", "3", "--no-pr")
    assert done.returncode == 0, done.stderr
    assert f"PRIORITY 3: pushed {USAGE_BRANCH} (no pull request; verdict: passed" in done.stdout
    assert github.pulls == [] and git(project.origin, "rev-parse", USAGE_BRANCH)
    unknown = project.run("--once", "--priority", "PRIORITY 9")
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines()[-1] == (
        "code-developer: --priority PRIORITY 9: no such priority in main:ROADMAP.md"
    )
    assert "Traceback" not in unknown.stderr
