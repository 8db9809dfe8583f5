"""An interrupted run ends one way: a deferred attempt, no current run, no worktree."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from coffee_maker.autonomous.git_ops import create_worktree
from coffee_maker.autonomous.run_endings import end_interrupted_run
from coffee_maker.autonomous.state import RepoState

AUTONOMOUS = Path(__file__).resolve().parents[1] / "coffee_maker" / "autonomous"


def git(cwd: Path, *args: str) -> str:
    identity = ("-c", "user.name=User", "-c", "user.email=user@example.com")
    proc = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# Project\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "initial")
    return path


def test_records_clears_and_removes_the_worktree(repo: Path) -> None:
    worktree = create_worktree(repo, "PRIORITY 1", "title", base_branch="main")
    state = RepoState.load(repo)
    state.set_current("PRIORITY 1", "agent", worktree=worktree.path, branch=worktree.branch)

    reason = end_interrupted_run(repo, state, " (process 4242 ended)")

    assert reason == "interrupted during agent (process 4242 ended)"
    again = RepoState.load(repo)  # what another process reads
    assert again.current is None
    record = again.record("PRIORITY 1")
    assert record["last_outcome"] == "deferred" and record["attempts"] == 0
    assert record["last_error"] == reason and record["branch"] == worktree.branch
    assert not worktree.path.exists()
    assert str(worktree.path) not in git(repo, "worktree", "list")
    # a second path noticing the same interruption finds nothing left to end
    assert end_interrupted_run(repo, again, ": again") is None
    assert len(RepoState.load(repo).record("PRIORITY 1")["history"]) == 1


def test_the_places_that_end_a_run_use_the_one_path() -> None:
    """The daemon's grace-period stop, the iteration's and the follow-up's interrupt, and
    the recovery at the start of an iteration."""
    callers = set()
    for name in ("daemon.py", "iteration.py", "followup.py", "run_endings.py"):
        tree = ast.parse((AUTONOMOUS / name).read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == (
                    "end_interrupted_run"
                ):
                    callers.add(func.name)
                # nobody else clears the current run by hand after recording it
                assert not (
                    isinstance(node, ast.Attribute)
                    and node.attr == "clear_current"
                    and func.name in {"_wait_for_iteration", "recover_interrupted_run"}
                )
    assert callers == {
        "_wait_for_iteration",
        "_run_priority",
        "run_followup",
        "recover_interrupted_run",
    }
