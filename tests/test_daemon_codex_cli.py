"""``code-developer --once`` with the real Codex CLI (npm ``@openai/codex``) as the provider.

Codex runs in the daemon's worktree against FakeOpenAI's Responses API, scripted to apply a
patch that adds subtract() and its test; the daemon then verifies, commits, pushes and
opens the PR as with any provider. When Codex reports its plan's usage limit instead, the
task moves on to the next provider (the OpenAI API, through the tool loop) and Codex is
cooled down until the reset it reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemon_support import (
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

CODEX = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "codex"
ANTHROPIC_KEY = "sk-ant-notForCodex0123456789abcdef"


def add_file(path: str, text: str) -> str:
    return f"*** Add File: {path}\n" + "".join(f"+{line}\n" for line in text.splitlines())


#: One patch: calc.py gains subtract(), tests/test_subtract.py is created.
PATCH = (
    "apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: calc.py\n@@\n     return a + b\n"
    + "".join(f"+{line}\n" for line in SUBTRACT.split("return a + b\n", 1)[1].splitlines())
    + add_file("tests/test_subtract.py", SUBTRACT_TEST)
    + "*** End Patch\nEOF\n"
)


@pytest.fixture
def codex_home(package_cache):
    home = Path(tempfile.mkdtemp(prefix="codex-home-", dir=package_cache))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def codex_config(model_url: str, codex_home: Path) -> dict:
    return {
        "type": "codex-cli",
        "cli_path": str(CODEX),
        "model": "gpt-5.4",
        "base_url": f"{model_url}/v1",
        "codex_home": str(codex_home),
        "timeout": 120,
        "stall_timeout": 60,
        "max_budget_usd": 1.0,
    }


def run_once(project, setup, codex_home, tmp_path, order):
    """``code-developer --once`` with Codex first in the chain."""
    model = setup.model
    project.write_config(
        model.url,
        setup.github.url,
        providers={"codex": codex_config(model.url, codex_home)},
        fallback={"fallback_order": order},
    )
    config = project.config.read_text().replace(
        "default_provider: openai", "default_provider: codex"
    )
    project.config.write_text(config)
    home = tmp_path / "cli-home"
    home.mkdir(exist_ok=True)
    env = project.env(HOME=str(home), ANTHROPIC_API_KEY=ANTHROPIC_KEY)
    return project.run("--once", env=env, timeout=180)


def test_once_with_the_real_codex_cli(tmp_path: Path, monkeypatch, codex_home) -> None:
    assert CODEX.exists(), f"{CODEX} is missing: run `npm ci` in the repository"
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    before = snapshot(project.checkout)
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    with fakes_running(project) as setup:
        model, github = setup.model, setup.github
        model.reply_tool_calls([("exec_command", {"cmd": "cat calc.py"})])
        model.reply_tool_calls([("exec_command", {"cmd": PATCH})])
        model.reply_text("Added subtract() to calc.py with a test.")
        done = run_once(project, setup, codex_home, tmp_path, ["codex"])
        pr_url = f"{github.url}/{GITHUB_REPO}/pull/1"

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"opened pull request {pr_url}" in done.stdout
    responses = [r for r in model.model_calls if r.path == "/v1/responses"]
    assert len(responses) == 3  # cat, the patch, the final answer
    assert "Add subtract" in json.dumps(responses[0].json["input"])  # the priority's task
    clone = project.clone_branch(SUBTRACT_BRANCH, tmp_path / "review")
    assert "def subtract" in (clone / "calc.py").read_text()
    assert not any((clone / name).exists() for name in (".codex", ".agents", ".aws"))
    tests = subprocess.run(TEST_COMMAND.split(), cwd=clone, capture_output=True, text=True)
    assert tests.returncode == 0, tests.stderr
    pull = github.pulls[0]
    assert not pull.draft and "codex" in (pull.body or "")
    assert "**Verdict: passed (2 passed; baseline 1 passed)**" in (pull.body or "")
    assert [(c["provider"], c["outcome"]) for c in project.calls()] == [("codex", "ok")]
    records = [
        json.loads(line)
        for path in (project.checkout / ".git" / "coffee-maker" / "runs").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    actions = [a for r in records if r["type"] == "actions" for a in r["actions"]]
    assert [a["type"] for a in actions] == ["command", "file_change"]  # what Codex did
    assert snapshot(project.checkout) == before
    for secret in (MODEL_KEY, ANTHROPIC_KEY):
        assert secret not in done.stdout + done.stderr + (pull.body or "")


def test_codex_usage_limit_falls_back_and_cools_codex_down(
    tmp_path: Path, monkeypatch, codex_home
) -> None:
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    reset = (int(time.time()) // 60 + 180) * 60
    with fakes_running(project) as setup:
        model = setup.model
        model.error(429, "The usage limit has been reached", type="usage_limit_reached",
                    plan_type="plus", resets_at=reset)  # fmt: skip
        model.script(implement_subtract())  # the OpenAI API provider, turn by turn
        done = run_once(project, setup, codex_home, tmp_path, ["codex", "openai"])
        status = subprocess.run(
            [str(Path(project_manager())), "provider", "status"],
            env=project.env(CODE_DEVELOPER_CONFIG=str(project.config)),
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "opened pull request" in done.stdout
    paths = [r.path for r in model.model_calls]
    assert paths[0] == "/v1/responses" and set(paths[1:]) == {"/v1/chat/completions"}
    outcomes = [(c["provider"], c["outcome"]) for c in project.calls()]
    assert outcomes[0] == ("codex", "quota_exhausted") and outcomes[-1] == ("openai", "ok")
    state = json.loads((project.home / "provider_state.json").read_text())
    assert state["cooldowns"]["codex"]["until"] == reset
    until = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"codex: not usable: in cooldown until {until}: quota_exhausted" in status.stdout


def project_manager() -> str:
    from daemon_support import CODE_DEVELOPER

    return str(Path(CODE_DEVELOPER).with_name("project-manager"))


@pytest.fixture(autouse=True)
def _no_real_codex_config(monkeypatch, tmp_path):
    """The CLI reads settings under HOME: never the developer's real one."""
    monkeypatch.setenv("HOME", str(tmp_path / "cli-home-default"))
