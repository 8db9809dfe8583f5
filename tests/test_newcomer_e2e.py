"""What a newcomer tripped on, checked through the CLI as they met it.

Ctrl-C during a model call, the cost of a run where they looked for it, and a deferred
``--priority`` run that must not undo a PR awaiting review. Real git, the real CLI as a
subprocess, the openai SDK against FakeOpenAI and PyGithub against FakeGitHub.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import (
    CODE_DEVELOPER,
    GITHUB_REPO,
    GITHUB_TOKEN,
    MODEL,
    MODEL_KEY,
    Project,
    implement_subtract,
    make_project,
)

from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI

PROJECT_MANAGER = str(Path(sys.executable).with_name("project-manager"))
RUN_COST = 4 * 0.006  # four turns of 1000 input tokens at $3/M + 200 output at $15/M


@dataclasses.dataclass
class Setup:
    project: Project
    model: FakeOpenAI
    github: FakeGitHub


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    project = make_project(tmp_path)
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as model,
        FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN) as github,
    ):
        project.write_config(model.url, github.url)
        yield Setup(project, model, github)


def status_of(project: Project) -> subprocess.CompletedProcess[str]:
    """``code-developer status``, wide enough that rich does not wrap its table."""
    args = ["status", "--repo", str(project.checkout), "--config", str(project.config)]
    env = project.env(COLUMNS="250")
    return subprocess.run(
        [CODE_DEVELOPER, *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_ctrl_c_during_a_model_call_stops_at_once(setup: Setup) -> None:
    project, model = setup.project, setup.model
    turns = implement_subtract()
    model.enqueue(lambda req: dataclasses.replace(model.render_turn(turns[0], req), delay=30))
    running = project.start("--once")
    deadline = time.monotonic() + 30
    while not model.model_calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert model.model_calls, "the model was never called"
    time.sleep(0.3)  # the request is on the wire, its reply 30 s away
    asked = time.monotonic()
    running.send_signal(signal.SIGINT)
    out, err = running.communicate(timeout=20)
    took = time.monotonic() - asked
    assert running.returncode == 130, err
    assert took < 3.0, f"took {took:.1f} s to stop"
    assert err.splitlines().count("code-developer: stopping...") == 1  # logs share stderr
    assert "Traceback" not in err
    assert out.splitlines() == [
        "PRIORITY 1: interrupted during agent: stop requested; "
        "the model call in flight was cancelled"
    ]
    state = project.state()
    record = state["priorities"]["PRIORITY 1"]
    assert record["last_outcome"] == "deferred" and record["attempts"] == 0
    assert "interrupted" in record["history"][-1]["error"]
    assert state["current"] is None and project.worktrees() == []


def test_a_deferred_priority_run_keeps_the_pr_awaiting_review(setup: Setup) -> None:
    project, model, github = setup.project, setup.model, setup.github
    model.script(implement_subtract())
    done = project.run("--once")
    assert done.returncode == 0, done.stderr
    pr_url = project.state()["priorities"]["PRIORITY 1"]["pr_url"]

    project.write_config(model.url, github.url, cost_controls={"daily_limit": 0.0})
    deferred = project.run("--once", "--priority", "1")
    assert deferred.returncode == 75, deferred.stdout + deferred.stderr
    assert "the budget is exhausted" in deferred.stdout

    record = project.state()["priorities"]["PRIORITY 1"]
    assert record["last_outcome"] == "success" and record["pr_url"] == pr_url
    assert [h["outcome"] for h in record["history"]] == ["success", "deferred"]
    status = status_of(project)
    row = next(line for line in status.stdout.splitlines() if "PRIORITY 1" in line)
    assert "awaiting review (passed" in row and pr_url in row, status.stdout
    # With the budget back, the daemon moves on instead of paying for PRIORITY 1 again.
    project.write_config(model.url, github.url)
    plan = project.run("--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "priority: PRIORITY 1:" not in plan.stdout, plan.stdout
    assert "priority: PRIORITY " in plan.stdout, plan.stdout


def test_the_cost_of_a_run_is_shown_where_the_user_looks(setup: Setup) -> None:
    project, model = setup.project, setup.model
    model.script(implement_subtract())
    done = project.run("--once")
    assert done.returncode == 0, done.stderr
    assert f"cost ${RUN_COST:.4f})" in done.stdout.splitlines()[-1]

    status = status_of(project)
    assert status.returncode == 0, status.stderr
    row = next(line for line in status.stdout.splitlines() if "PRIORITY 1" in line)
    assert f"${RUN_COST:.4f}" in row

    by_priority = subprocess.run(
        [PROJECT_MANAGER, "provider", "costs", "--by", "priority"],
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert by_priority.returncode == 0, by_priority.stderr
    line = next(line for line in by_priority.stdout.splitlines() if "PRIORITY 1" in line)
    assert f"${RUN_COST:.4f}" in line and "4" in line.split()
