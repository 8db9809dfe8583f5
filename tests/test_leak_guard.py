"""No secret of this machine leaves in a change: a commit that adds one is refused.

An agent CLI's shell reads outside the worktree (a token in ``~/.git-credentials``), and a
model can be talked into writing what it read; redaction guards what the daemon *says*,
this guards what it *pushes*.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_support import (
    GITHUB_TOKEN,
    MODEL_KEY,
    SUBTRACT_BRANCH,
    fakes_running,
    git,
    isolate_git,
    make_project,
    turn,
)

from coffee_maker.autonomous import git_ops
from coffee_maker.autonomous.git_command import GitError


@pytest.fixture
def worktree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> git_ops.Worktree:
    isolate_git(tmp_path, monkeypatch)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "notes.txt").write_text(f"an old line with the key {MODEL_KEY}\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)
    return git_ops.Worktree(root, "main", git(root, "rev-parse", "HEAD"))


def test_a_commit_adding_a_secret_value_is_refused_naming_the_file_not_the_value(
    worktree: git_ops.Worktree,
) -> None:
    (worktree.path / "leak.py").write_text(f'TOKEN = "{MODEL_KEY}"\n')
    (worktree.path / "fine.py").write_text("x = 1\n")

    with pytest.raises(GitError) as raised:
        git_ops.commit_all(worktree, "Add things")

    assert "'leak.py'" in str(raised.value) and MODEL_KEY not in str(raised.value)
    assert git(worktree.path, "rev-list", "--count", "HEAD") == "1"  # nothing committed
    assert git(worktree.path, "diff", "--cached", "--name-only") == ""  # nothing left staged


def test_removing_a_line_that_held_one_or_an_ordinary_change_commits(
    worktree: git_ops.Worktree,
) -> None:
    (worktree.path / "notes.txt").write_text("the key is gone\n")
    (worktree.path / "short.py").write_text("x = 'sk-1'\n")  # a short look-alike: not ours
    assert git_ops.commit_all(worktree, "Drop the key") is not None


def test_a_model_that_writes_the_github_token_into_the_change_pushes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(tmp_path, monkeypatch)
    with fakes_running(make_project(tmp_path)) as setup:
        project, model, github = setup.project, setup.model, setup.github
        model.script(
            [
                turn(("write_file", {"path": "creds.txt", "content": f"token={GITHUB_TOKEN}\n"})),
                turn(("finish", {"summary": "Saved the credentials I found."})),
            ]
        )
        done = project.run("--once")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "holds a secret of this machine" in done.stdout and "'creds.txt'" in done.stdout
    assert git(project.origin, "branch", "--list", SUBTRACT_BRANCH) == ""  # nothing pushed
    assert github.pulls == []
    assert GITHUB_TOKEN not in done.stdout + done.stderr
