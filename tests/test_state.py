"""Per-repository state: where it lives, what it remembers, and how it survives crashes."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coffee_maker.autonomous.repo_lock import AlreadyRunningError, RepoLock
from coffee_maker.autonomous.state import (
    HISTORY_LIMIT,
    RepoState,
    StateError,
    state_dir,
)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("hello\n")
    git(path, "add", "README.md")
    git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return path


def test_state_lives_in_the_git_dir_shared_by_worktrees(repo: Path, tmp_path: Path) -> None:
    assert state_dir(repo) == repo / ".git" / "coffee-maker"
    (repo / "src").mkdir()
    assert state_dir(repo / "src") == repo / ".git" / "coffee-maker"
    git(repo, "worktree", "add", "-q", str(tmp_path / "linked"), "-b", "side")
    assert state_dir(tmp_path / "linked") == repo / ".git" / "coffee-maker"
    RepoState.load(tmp_path / "linked").set_current("PRIORITY 1", "agent")
    assert RepoState.load(repo).current["priority"] == "PRIORITY 1"
    assert git(repo, "status", "--porcelain") == ""


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="not a git repository"):
        RepoState.load(tmp_path)
    with pytest.raises(StateError, match="not a git repository"):
        state_dir(tmp_path / "missing")


def test_failures_block_after_max_attempts_and_reset_unblocks(repo: Path) -> None:
    state = RepoState.load(repo)
    for n in (1, 2):
        record = state.record_attempt("PRIORITY 3", "failure", error=f"tests failed #{n}")
        assert not record["blocked"] and record["attempts"] == n
    state.record_attempt("PRIORITY 3", "deferred", error="budget exhausted")
    assert not state.is_blocked("PRIORITY 3")
    record = state.record_attempt("PRIORITY 3", "failure", error="tests failed #3")
    assert record["blocked"] and state.is_blocked("PRIORITY 3")
    assert record["blocked_reason"] == "failed 3 times; last error: tests failed #3"
    assert record["attempts"] == 3 and record["last_outcome"] == "failure"

    reloaded = RepoState.load(repo)
    assert reloaded.is_blocked("PRIORITY 3") and not reloaded.is_blocked("PRIORITY 4")
    reloaded.reset("PRIORITY 3")
    record = RepoState.load(repo).record("PRIORITY 3")
    assert (record["blocked"], record["attempts"], record["blocked_reason"]) == (False, 0, None)
    assert [h["outcome"] for h in record["history"]] == ["failure"] * 2 + ["deferred", "failure"]


def test_success_is_recorded_with_branch_and_pr(repo: Path) -> None:
    state = RepoState.load(repo)
    state.record_attempt("US-12", "failure", error="boom", max_attempts=2)
    record = state.record_attempt(
        "US-12",
        "success",
        max_attempts=2,
        branch="coffee-maker/us-12-x",
        pr_url="https://github.com/o/r/pull/7",
        cost_usd=0.42,
        worktree=repo / "wt",
    )
    assert (record["attempts"], record["failures"], record["blocked"]) == (2, 1, False)
    assert record["pr_url"] == "https://github.com/o/r/pull/7"
    assert record["branch"] == "coffee-maker/us-12-x"
    assert record["last_error"] is None and record["last_run_at"]
    assert record["history"][-1]["cost_usd"] == 0.42
    assert record["history"][-1]["worktree"] == str(repo / "wt")
    with pytest.raises(ValueError):
        state.record_attempt("US-12", "exploded")


def test_history_is_bounded_and_errors_are_redacted(repo: Path, monkeypatch) -> None:
    secret = "sk-test-abcdefghijklmnopqrstuvwxyz0123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    state = RepoState.load(repo)
    for _ in range(HISTORY_LIMIT + 5):
        state.record_attempt("PRIORITY 1", "deferred", error=f"401 for key {secret}")
    record = state.record("PRIORITY 1")
    assert len(record["history"]) == HISTORY_LIMIT
    assert secret not in state.path.read_text()
    assert "[REDACTED]" in record["last_error"]


def test_run_in_progress_and_daemon_info(repo: Path, tmp_path: Path) -> None:
    state = RepoState.load(repo)
    with pytest.raises(StateError, match="no run in progress"):
        state.update_current(step="tests")
    state.set_current("PRIORITY 2", "worktree", worktree=tmp_path / "wt", branch="cm/p2")
    state.update_current(step="agent", provider="claude")
    current = RepoState.load(repo).current
    assert current["priority"] == "PRIORITY 2" and current["step"] == "agent"
    assert current["provider"] == "claude" and current["pid"] == os.getpid()
    assert current["worktree"] == str(tmp_path / "wt") and current["started_at"]
    with pytest.raises(TypeError, match="colour"):
        state.update_current(colour="red")
    state.clear_current()
    assert RepoState.load(repo).current is None

    state.update_daemon(pid=123, started_at="2026-01-01T00:00:00+00:00")
    state.update_daemon(next_run_at="2026-01-01T00:00:30+00:00")
    assert RepoState.load(repo).daemon == {
        "pid": 123,
        "started_at": "2026-01-01T00:00:00+00:00",
        "next_run_at": "2026-01-01T00:00:30+00:00",
    }
    state.clear_daemon()
    assert RepoState.load(repo).to_dict()["daemon"] is None


def test_a_change_from_another_process_is_not_overwritten(repo: Path) -> None:
    daemon_view = RepoState.load(repo)
    for _ in range(3):
        daemon_view.record_attempt("PRIORITY 1", "failure", error="x")
    RepoState.load(repo).reset("PRIORITY 1")  # e.g. the user unblocks it meanwhile
    daemon_view.set_current("PRIORITY 2", "agent")
    assert not RepoState.load(repo).is_blocked("PRIORITY 1")


@pytest.mark.parametrize(
    "content", ["{not json", "[]", '{"priorities": {"PRIORITY 1": {"attempts": "three"}}}']
)
def test_corrupt_state_is_set_aside_with_a_warning(repo: Path, caplog, content: str) -> None:
    path = state_dir(repo) / "state.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING):
        state = RepoState.load(repo)
    assert state.to_dict()["priorities"] == {}
    (aside,) = path.parent.glob("state.json.corrupt-*")
    assert aside.read_text() == content
    assert "moved it to state.json.corrupt-" in caplog.text
    state.record_attempt("PRIORITY 1", "failure")
    assert json.loads(path.read_text())["priorities"]["PRIORITY 1"]["attempts"] == 1


def test_readers_never_see_a_half_written_file(repo: Path) -> None:
    writer = textwrap.dedent(
        f"""
        from coffee_maker.autonomous.state import RepoState
        state = RepoState.load({str(repo)!r})
        state.set_current("PRIORITY 1", "start")
        for i in range(200):
            state.update_current(step="x" * (i % 50) * 40)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer])
    path = state_dir(repo) / "state.json"
    reads = 0
    while proc.poll() is None or reads == 0:
        if path.exists():
            assert "current" in json.loads(path.read_text())
            reads += 1
    assert proc.wait() == 0 and reads > 0
    assert sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")) == []


LOCK_HOLDER = """
import subprocess, sys, time
from coffee_maker.autonomous.repo_lock import RepoLock
lock = RepoLock(sys.argv[1]).acquire()
child = subprocess.Popen(["sleep", "60"])   # must not inherit the lock
print(child.pid, flush=True)
time.sleep(60)
"""


def test_one_daemon_per_repository_even_across_processes(repo: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(repo)], stdout=subprocess.PIPE, text=True
    )
    grandchild = int(holder.stdout.readline())
    try:
        with pytest.raises(AlreadyRunningError, match=f"pid {holder.pid}"):
            RepoLock(repo).acquire()
        assert RepoLock.holder(repo) == holder.pid
        holder.send_signal(signal.SIGKILL)  # a crash: no cleanup code runs
        holder.wait()
        with RepoLock(repo) as lock:
            assert lock.path.read_text().strip() == str(os.getpid())
            with pytest.raises(AlreadyRunningError, match=f"pid {os.getpid()}"):
                RepoLock(repo).acquire()
        assert RepoLock.holder(repo) is None
    finally:
        holder.kill()
        holder.wait()
        os.kill(grandchild, signal.SIGKILL)


def test_skipped_means_blocked_or_awaiting_review(repo):
    state = RepoState.load(repo)
    assert not state.is_skipped("PRIORITY 1")
    state.record_attempt("PRIORITY 1", "success", branch="b", pr_url="http://pr/1")
    assert state.is_skipped("PRIORITY 1")  # its PR awaits review
    for _ in range(2):
        state.record_attempt("PRIORITY 2", "failure", "tests fail", max_attempts=2)
    assert state.is_skipped("PRIORITY 2") and state.is_blocked("PRIORITY 2")
    state.reset("PRIORITY 2")
    assert not state.is_skipped("PRIORITY 2")
