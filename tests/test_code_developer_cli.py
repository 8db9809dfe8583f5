"""``code-developer``'s surface: help, usage errors, ``status`` and ``install-service``.

Run as the installed program, as a user (or systemd) would: exit codes and the exact
lines on stdout/stderr are what is checked.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from daemon_support import CODE_DEVELOPER, GITHUB_REPO, Project, make_project

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.autonomous.repo_lock import RepoLock
from coffee_maker.autonomous.state import Outcome, RepoState


def cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CODE_DEVELOPER, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    project = make_project(tmp_path)
    project.write_config("http://127.0.0.1:9", "http://127.0.0.1:9")
    return project


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["--once", "--dry-run", "--priority ID", "--no-fallback", "exit codes", "demo"]),
        (["status"], ["--json", "--repo PATH"]),
        (["install-service"], ["--user", "--system", "--print"]),
        (["demo"], ["SCRIPTED"]),
    ],
)
def test_help_for_each_command(command: list[str], expected: list[str]) -> None:
    shown = cli(*command, "--help")
    assert shown.returncode == 0 and shown.stderr == ""
    assert shown.stdout.startswith(f"usage: code-developer {' '.join(command)}".rstrip())
    for text in expected:
        assert text in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--interval", "0"], "argument --interval: must be greater than 0"),
        (["status", "--jsn"], "unrecognized arguments: --jsn"),
        (["install-service", "--user", "--system"], "not allowed with argument --user"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    failed = cli(*args)
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and message in failed.stderr
    assert "Traceback" not in failed.stderr


def test_bad_config_provider_and_priority_are_one_line_and_exit_2(project: Project) -> None:
    missing = project.run("--once", "--config", str(project.root / "absent.yaml"))
    bad_provider = project.run("--once", "--provider", "nope")
    bad_priority = project.run("--once", "--priority", "banana")
    project.config.write_text("daemon:\n  max_attempts: many\n")
    bad_value = project.run("--once")
    for failed, message in [
        (missing, f"--config {project.root / 'absent.yaml'}: no such file"),
        (bad_provider, "--provider nope: not a configured provider (openai)"),
        (bad_priority, "--priority: not a priority id: 'banana'"),
        (bad_value, f"{project.config}: daemon.max_attempts:"),
    ]:
        assert failed.returncode == 2, failed.stderr
        assert failed.stderr.count("\n") == 1 and message in failed.stderr
    assert not (project.checkout / ".git" / "coffee-maker" / "worktrees").exists()


def _state_with_history(project: Project) -> None:
    state = RepoState.load(project.checkout)
    for _ in range(3):
        state.record_attempt("PRIORITY 1", Outcome.FAILURE, "the tests fail", max_attempts=3)
    state.record_attempt("PRIORITY 3", Outcome.SUCCESS, pr_url="https://example.test/pull/7")
    state.set_current("PRIORITY 2", "agent", provider="openai", branch="coffee-maker/x")
    state.update_daemon(pid=os.getpid(), next_run_at="2030-01-01T00:00:00+00:00")
    tracker = CostTracker(home=project.home)
    tracker.track_cost("openai", 1.25, {"input_tokens": 1000})
    tracker.track_cost("openai", 0.0004, {"input_tokens": 10})  # a cheap call still shows


def test_status_reads_what_the_daemon_wrote(project: Project) -> None:
    config = project.config.read_text()
    project.config.write_text(config + "cost_controls:\n  daily_limit: 10.0\n")
    _state_with_history(project)
    env = {"COFFEE_MAKER_HOME": str(project.home)}
    args = ["status", "--repo", str(project.checkout), "--config", str(project.config)]
    with RepoLock(project.checkout):
        as_json = cli(*args, "--json", **env)
        text = cli(*args, **env, COLUMNS="200")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["running"] and data["pid"] == os.getpid()
    assert data["current"]["priority"] == "PRIORITY 2" and data["current"]["step"] == "agent"
    assert data["spend"]["today"] == 1.2504 and data["spend"]["daily_limit"] == 10.0
    assert data["daemon"]["next_run_at"].startswith("2030-01-01")
    rows = {p["id"]: p for p in data["priorities"]}
    assert rows["PRIORITY 1"]["blocked"] and rows["PRIORITY 1"]["attempts"] == 3
    assert "failed 3 times; last error: the tests fail" in rows["PRIORITY 1"]["blocked_reason"]
    assert rows["PRIORITY 3"]["pr_url"] == "https://example.test/pull/7"
    assert not any(p["next"] for p in data["priorities"])  # 1 blocked, 2 waits on 1, 3 done

    assert text.returncode == 0, text.stderr
    assert f"running (pid {os.getpid()})" in text.stdout
    assert "now: PRIORITY 2: agent (provider openai" in text.stdout
    assert "spend today: $1.25 of $10.00 (13%)" in text.stdout
    assert "next run: 2030-01-01" in text.stdout
    assert "blocked: failed 3 times" in text.stdout
    assert "awaiting review (passed): https://example.test/pull/7" in text.stdout
    assert "working on it now" in text.stdout
    assert rows["PRIORITY 2"]["waiting_for"] == ["PRIORITY 1"] and rows["PRIORITY 2"]["current"]


def test_status_of_a_fresh_repository_and_of_no_repository(project: Project, tmp_path) -> None:
    fresh = cli("status", "--repo", str(project.checkout), "--config", str(project.config))
    assert fresh.returncode == 0, fresh.stderr
    assert "not running" in fresh.stdout and "waits for PRIORITY 1" in fresh.stdout
    assert "next" in fresh.stdout
    nowhere = cli("status", "--repo", str(tmp_path / "nowhere"), "--json")
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1
    assert "not a git repository" in nowhere.stderr


def test_install_service_prints_or_writes_the_unit(project: Project, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    printed = cli(
        "install-service", "--print", "--repo", str(project.checkout), XDG_CONFIG_HOME=str(xdg)
    )
    assert printed.returncode == 0, printed.stderr
    assert (
        "Type=notify" in printed.stdout and f"WorkingDirectory={project.checkout}" in printed.stdout
    )
    assert f"--repo {project.checkout}" in printed.stdout
    assert "would be written to" in printed.stderr and not xdg.exists()

    written = cli("install-service", "--repo", str(project.checkout), XDG_CONFIG_HOME=str(xdg))
    assert written.returncode == 0, written.stderr
    unit = xdg / "systemd" / "user" / "code-developer-checkout.service"
    env_file = xdg / "coffee-maker" / "env"
    assert unit.read_text() == printed.stdout
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f"wrote {unit}" in written.stdout
    assert "systemctl --user enable --now code-developer-checkout.service" in written.stdout

    env_file.chmod(0o644)
    again = cli("install-service", "--repo", str(project.checkout), XDG_CONFIG_HOME=str(xdg))
    assert again.returncode == 0
    assert again.stderr == (
        f"code-developer: warning: {env_file} is readable by others (mode 0644); "
        f"run: chmod 600 {env_file}\n"
    )


def test_github_repo_is_needed_before_any_money_is_spent(project: Project) -> None:
    config = project.config.read_text()
    project.config.write_text(config.replace(f"repo: {GITHUB_REPO}", "repo: null"))
    failed = project.run("--once")  # the origin is a local path: no owner/name in it
    assert failed.returncode == 2
    assert "set github.repo" in failed.stderr and failed.stderr.count("\n") == 1
    project.config.write_text(config)
    no_token = project.run("--once", env=project.env(GITHUB_TOKEN=""))
    assert no_token.returncode == 2 and "set GITHUB_TOKEN" in no_token.stderr
