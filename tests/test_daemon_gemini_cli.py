"""``code-developer --once`` with the real Gemini CLI (npm ``@google/gemini-cli``).

The CLI runs in the daemon's worktree against FakeGemini, scripted to add subtract() with
its ``replace`` and ``write_file`` tools; the daemon verifies, commits, pushes and opens
the PR. When Gemini reports its daily quota used up instead, the task moves on to the next
provider (the OpenAI API, through the tool loop) and gemini-cli is cooled down until the
quota resets (midnight Pacific time).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from daemon_support import (
    CALC,
    CODE_DEVELOPER,
    GITHUB_REPO,
    MODEL_KEY,
    SUBTRACT,
    SUBTRACT_BRANCH,
    SUBTRACT_TEST,
    TEST_COMMAND,
    fakes_running,
    implement_subtract,
    isolate_git,
    make_project,
    snapshot,
)
from fakes.gemini import FakeGemini, quota_failure

from coffee_maker.ai_providers.classification import next_pacific_midnight
from coffee_maker.autonomous.git_ops import worktrees_dir

GEMINI = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "gemini"
GEMINI_KEY = "AIzaSyE2eGeminiCliKey0123456789abcde"


def run_once(project, setup, gemini, tmp_path, order):
    """``code-developer --once`` with gemini-cli first in the chain."""
    project.write_config(
        setup.model.url,
        setup.github.url,
        providers={"gemini-cli": {"type": "gemini-cli", "cli_path": str(GEMINI),
                                  "model": "gemini-2.5-pro", "base_url": gemini.url,
                                  "timeout": 120, "max_budget_usd": 1.0}},
        fallback={"fallback_order": order},
    )  # fmt: skip
    config = project.config.read_text().replace(
        "default_provider: openai", "default_provider: gemini-cli"
    )
    project.config.write_text(config)
    home = tmp_path / "cli-home"
    home.mkdir(exist_ok=True)
    env = project.env(HOME=str(home), GEMINI_API_KEY=GEMINI_KEY)
    return project.run("--once", env=env, timeout=180)


def test_once_with_the_real_gemini_cli(tmp_path: Path, monkeypatch) -> None:
    assert GEMINI.exists(), f"{GEMINI} is missing: run `npm ci` in the repository"
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    before = snapshot(project.checkout)
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    worktree = worktrees_dir(project.checkout) / SUBTRACT_BRANCH.removeprefix("coffee-maker/")
    with fakes_running(project) as setup, FakeGemini(api_key=GEMINI_KEY) as gemini:
        gemini.reply_tool_calls([("read_file", {"file_path": str(worktree / "calc.py")})])
        gemini.reply_tool_calls(
            [("replace", {"file_path": str(worktree / "calc.py"),
                          "old_string": "return a + b\n",
                          "new_string": "return a + b\n" + SUBTRACT[len(CALC):],
                          "instruction": "add subtract()"}),
             ("write_file", {"file_path": str(worktree / "tests" / "test_subtract.py"),
                             "content": SUBTRACT_TEST})]
        )  # fmt: skip
        gemini.reply_text("Added subtract() to calc.py with a test.")
        done = run_once(project, setup, gemini, tmp_path, ["gemini-cli"])
        pr_url = f"{setup.github.url}/{GITHUB_REPO}/pull/1"
        github = setup.github

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"opened pull request {pr_url}" in done.stdout
    assert len(gemini.model_calls) == 3
    assert "Add subtract" in json.dumps(gemini.model_calls[0].json["contents"])
    clone = project.clone_branch(SUBTRACT_BRANCH, tmp_path / "review")
    assert "def subtract" in (clone / "calc.py").read_text()
    tests = subprocess.run(TEST_COMMAND.split(), cwd=clone, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stderr
    pull = github.pulls[0]
    assert not pull.draft and "gemini-cli" in (pull.body or "")
    assert "**Verdict: passed (2 passed; baseline 1 passed)**" in (pull.body or "")
    assert [(c["provider"], c["outcome"]) for c in project.calls()] == [("gemini-cli", "ok")]
    assert snapshot(project.checkout) == before
    for secret in (GEMINI_KEY, MODEL_KEY):
        assert secret not in done.stdout + done.stderr + (pull.body or "")


def test_gemini_quota_falls_back_and_cools_gemini_down(tmp_path: Path, monkeypatch) -> None:
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    daily = quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")
    with fakes_running(project) as setup, FakeGemini(api_key=GEMINI_KEY) as gemini:
        gemini.error(429, details=[daily], times=3)
        setup.model.script(implement_subtract())  # the OpenAI API provider, turn by turn
        done = run_once(project, setup, gemini, tmp_path, ["gemini-cli", "openai"])
        status = subprocess.run(
            [str(Path(CODE_DEVELOPER).with_name("project-manager")), "provider", "status"],
            env=project.env(CODE_DEVELOPER_CONFIG=str(project.config)),
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "opened pull request" in done.stdout
    assert len(gemini.model_calls) == 1  # not retried: a quota moves on at once
    outcomes = [(c["provider"], c["outcome"]) for c in project.calls()]
    assert outcomes[0] == ("gemini-cli", "quota_exhausted") and outcomes[-1] == ("openai", "ok")
    state = json.loads((project.home / "provider_state.json").read_text())
    assert state["cooldowns"]["gemini-cli"]["until"] == next_pacific_midnight().timestamp()
    until = next_pacific_midnight().strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"gemini-cli: not usable: in cooldown until {until}: quota_exhausted" in status.stdout


@pytest.fixture(autouse=True)
def _no_real_gemini_config(monkeypatch, tmp_path):
    """The CLI reads settings under HOME: never the developer's real one."""
    monkeypatch.setenv("HOME", str(tmp_path / "cli-home-default"))
