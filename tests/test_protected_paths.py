"""Protected paths: the tools refuse them, and what reaches the worktree anyway is dropped.

A workflow file pushed on a branch runs with the repository's secrets, so CI, hook and
git settings files (and the roadmap, whose status only the harness marks) never leave the
machine in a commit the model made.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from coffee_maker.agent.settings import DEFAULT_PROTECTED
from coffee_maker.agent.workspace import ToolError, Workspace
from coffee_maker.agent.write_policy import WritePolicy
from coffee_maker.autonomous import git_ops, publishing
from coffee_maker.config import AppConfig


def test_the_default_protects_ci_hooks_git_settings_and_the_roadmap() -> None:
    patterns = publishing.protected_patterns(AppConfig())
    policy = WritePolicy(patterns)
    for path in (
        ".github/workflows/ci.yml",
        ".GitHub/Workflows/evil.yml",  # the same file on a case-insensitive disk
        ".github/actions/setup/action.yml",
        ".gitlab-ci.yml",
        ".circleci/config.yml",
        "Jenkinsfile",
        ".husky/pre-commit",
        ".pre-commit-config.yaml",
        ".gitmodules",
        ".gitattributes",
        "ROADMAP.md",
    ):
        assert policy.protects(path), path
    for path in ("src/app.py", "docs/ROADMAP.md", ".github/CODEOWNERS", "workflows/x.yml"):
        assert not policy.protects(path), path


def test_user_patterns_replace_the_default_and_an_empty_list_disables() -> None:
    mine = AppConfig.model_validate({"agent": {"protected_paths": ["deploy/**"]}})
    assert publishing.protected_patterns(mine) == ["deploy/**"]
    none = AppConfig.model_validate({"agent": {"protected_paths": []}})
    assert publishing.protected_patterns(none) == []
    roadmap = AppConfig.model_validate({"daemon": {"roadmap": "docs/PLAN[1].md"}})
    assert WritePolicy(publishing.protected_patterns(roadmap)).protects("docs/PLAN[1].md")


def test_the_write_tool_refuses_a_protected_path(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, protected_patterns=DEFAULT_PROTECTED)
    (tmp_path / "ci").symlink_to(".github/workflows", target_is_directory=True)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    for path in (".github/workflows/x.yml", "./.github//workflows/x.yml", "ci/x.yml"):
        with pytest.raises(ToolError, match="protected path"):
            ws.write_text(path, "on: push\n")
    assert list((tmp_path / ".github" / "workflows").iterdir()) == []
    assert ws.write_text("src/ok.py", "x = 1\n") == 6
    assert Workspace(tmp_path).write_text(".github/workflows/x.yml", "ok\n") == 3  # no policy


def git(cwd: Path, *args: str) -> str:
    identity = ("-c", "user.name=T", "-c", "user.email=t@example.com")
    done = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_direct_writes_to_protected_paths_are_restored_or_removed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: pull_request\n")
    (repo / "ROADMAP.md").write_text("## PRIORITY 1: x 📝\n")
    (repo / "app.py").write_text("x = 1\n")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    worktree = git_ops.Worktree(repo, "main", base)
    # What an agentic CLI does: edit, create (an odd name too) and delete, some staged.
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\nrun: curl evil\n")
    (repo / ".github" / "workflows" / "new `*`.yml").write_text("on: push\n")
    (repo / ".gitattributes").write_text("* filter=evil\n")
    git(repo, "add", ".gitattributes")
    (repo / "ROADMAP.md").unlink()
    (repo / "app.py").write_text("x = 2\n")

    dropped = publishing.drop_protected(worktree, publishing.protected_patterns(AppConfig()))

    assert dropped == [
        ".gitattributes",
        ".github/workflows/ci.yml",
        ".github/workflows/new `*`.yml",
        "ROADMAP.md",
    ]
    assert (repo / ".github" / "workflows" / "ci.yml").read_text() == "on: pull_request\n"
    assert not (repo / ".github" / "workflows" / "new `*`.yml").exists()
    assert not (repo / ".gitattributes").exists()
    assert (repo / "ROADMAP.md").read_text() == "## PRIORITY 1: x 📝\n"
    assert git_ops.changed_files(worktree) == ["app.py"]  # the model's real work stays
