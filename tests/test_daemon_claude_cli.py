"""``code-developer --once`` with the real Claude Code CLI as the provider.

The CLI (from npm, see package.json) runs in the daemon's worktree against FakeAnthropic,
scripted to read calc.py, edit it with its Edit tool and write a test; the daemon then
verifies, commits, pushes and opens the PR exactly as with an API provider.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from daemon_support import (
    CALC,
    GITHUB_REPO,
    GITHUB_TOKEN,
    SUBTRACT,
    SUBTRACT_BRANCH,
    SUBTRACT_TEST,
    TEST_COMMAND,
    make_project,
    snapshot,
)
from fakes.anthropic import FakeAnthropic

from coffee_maker.autonomous.git_ops import worktrees_dir
from coffee_maker.fakes.github import FakeGitHub

CLAUDE = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "claude"
KEY = "sk-ant-e2eClaudeCliKey0123456789abcdef"


def test_once_with_the_real_claude_code_cli(tmp_path: Path, monkeypatch) -> None:
    assert CLAUDE.exists(), f"{CLAUDE} is missing: run `npm ci` in the repository"
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    project = make_project(tmp_path)
    before = snapshot(project.checkout)
    # The worktree's path follows from the branch name; the CLI is scripted to edit in it.
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    worktree = worktrees_dir(project.checkout) / SUBTRACT_BRANCH.removeprefix("coffee-maker/")
    with (
        FakeAnthropic(api_key=KEY) as model,
        FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN) as github,
    ):
        model.reply_tool_calls([("Read", {"file_path": str(worktree / "calc.py")})])
        model.reply_tool_calls(
            [("Edit", {"file_path": str(worktree / "calc.py"), "old_string": "return a + b\n",
                       "new_string": "return a + b\n" + SUBTRACT[len(CALC):]})]
        )  # fmt: skip
        model.reply_tool_calls(
            [("Write", {"file_path": str(worktree / "tests" / "test_subtract.py"),
                        "content": SUBTRACT_TEST})]
        )  # fmt: skip
        model.reply_text("Added subtract() to calc.py with a test.")
        project.write_config(
            model.url,
            github.url,
            providers={"claude-cli": {"type": "claude-cli", "cli_path": str(CLAUDE),
                                      "model": "sonnet", "base_url": model.url, "timeout": 120,
                                      "max_budget_usd": 1.0}},
            fallback={"fallback_order": ["claude-cli"]},
        )  # fmt: skip
        config = project.config.read_text().replace(
            "default_provider: openai", "default_provider: claude-cli"
        )
        project.config.write_text(config)
        home = tmp_path / "cli-home"
        home.mkdir()
        env = project.env(ANTHROPIC_API_KEY=KEY, HOME=str(home))

        done = project.run("--once", env=env, timeout=180)
        pr_url = f"{github.url}/{GITHUB_REPO}/pull/1"

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"opened pull request {pr_url}" in done.stdout
    assert len(model.model_calls) == 4  # read, edit, write, the final answer
    clone = project.clone_branch(SUBTRACT_BRANCH, tmp_path / "review")
    assert "def subtract" in (clone / "calc.py").read_text()
    tests = subprocess.run(TEST_COMMAND.split(), cwd=clone, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stderr
    pull = github.pulls[0]
    assert not pull.draft and "claude-cli" in (pull.body or "")
    assert "**Verdict: passed (2 passed; baseline 1 passed)**" in (pull.body or "")
    calls = project.calls()
    assert [(c["provider"], c["outcome"]) for c in calls] == [("claude-cli", "ok")]
    assert snapshot(project.checkout) == before
    assert KEY not in done.stdout + done.stderr + (pull.body or "")


@pytest.fixture(autouse=True)
def _no_real_claude_config(monkeypatch, tmp_path):
    """The CLI keeps its settings under HOME: never the developer's real one."""
    monkeypatch.setenv("HOME", str(tmp_path / "cli-home-default"))
