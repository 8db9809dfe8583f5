"""Git operations on real repositories, with a bare repository as ``origin``.

The first promise checked is the one users care most about: whatever the daemon does,
their own checkout (files, index, HEAD, stash, config) stays exactly as it was.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coffee_maker.autonomous.git_ops import (
    GitError,
    branch_name,
    changed_files,
    clean_stale_worktrees,
    commit_all,
    create_worktree,
    delete_local_branch,
    diff_stat,
    fetch_base,
    fetch_remote_branch,
    owns_branch,
    parse_github_repo,
    push_branch,
    read_file_at,
    remote_url,
    remove_worktree,
    worktrees_dir,
)

BRANCH = "coffee-maker/priority-3-add-json-flag"
TRAILERS = {"Provider": "claude", "Model": "claude-sonnet-4-6", "Cost-USD": "0.0123"}


def git(cwd: Path, *args: str) -> str:
    identity = ("-c", "user.name=User", "-c", "user.email=user@example.com")
    proc = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(autouse=True)
def isolated_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "README.md").write_text("# Project\n")
    (seed / "app.py").write_text("print('hello')\n")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "initial")
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(seed, "push", "-q", str(bare), "main")
    return bare


@pytest.fixture
def repo(tmp_path: Path, origin: Path) -> Path:
    """The user's clone: on another branch, dirty in every way git knows."""
    path = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(origin), str(path))
    git(path, "switch", "-q", "-c", "my-feature")
    (path / "app.py").write_text("print('stashed work')\n")
    git(path, "stash", "push", "-q", "-m", "user stash")
    (path / "app.py").write_text("print('unstaged edit')\n")
    (path / "README.md").write_text("# Project\n\nstaged edit\n")
    git(path, "add", "README.md")
    (path / "notes.txt").write_text("untracked\n")
    return path


def snapshot(repo: Path) -> dict[str, object]:
    gitdir = repo / ".git"
    index = (gitdir / "index").read_bytes()  # before any command that might refresh it
    files = {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in repo.rglob("*")
        if p.is_file() and p.relative_to(repo).parts[0] != ".git"
    }
    refs = git(
        repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/stash"
    )
    return {
        "index": index,
        "files": files,
        "HEAD": (gitdir / "HEAD").read_text(),
        "config": (gitdir / "config").read_bytes(),
        "status": git(repo, "--no-optional-locks", "status", "--porcelain", "--branch"),
        "stash": git(repo, "stash", "list"),
        "user refs": [r for r in refs.splitlines() if "coffee-maker/" not in r],
    }


def test_full_cycle_leaves_the_users_checkout_byte_identical(repo: Path, origin: Path) -> None:
    before = snapshot(repo)
    base = fetch_base(repo, "main")
    assert base == git(origin, "rev-parse", "main")

    wt = create_worktree(repo, "PRIORITY 3", "add-json-flag", "coffee-maker/", "main")
    assert wt.branch == BRANCH and wt.base_sha == base
    assert wt.path == worktrees_dir(repo) / "priority-3-add-json-flag"
    assert ".git" not in wt.path.parts  # agent CLIs refuse to edit files under .git/
    assert (wt.path / "README.md").read_text() == "# Project\n"  # origin's, not the dirty one
    (wt.path / "app.py").write_text("print('json')\n")
    (wt.path / "cli.py").write_text("FLAG = '--json'\n")
    assert changed_files(wt) == ["app.py", "cli.py"]

    sha = commit_all(wt, "Add a --json flag\n\nLonger body.", TRAILERS)
    assert commit_all(wt, "nothing new", TRAILERS) is None
    assert git(wt.path, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "coffee-maker <coffee-maker@localhost>|coffee-maker <coffee-maker@localhost>"
    )
    trailers = git(wt.path, "log", "-1", "--format=%(trailers:only,unfold)")
    assert trailers.splitlines() == [f"{k}: {v}" for k, v in TRAILERS.items()]
    assert "cli.py" in diff_stat(wt) and changed_files(wt) == ["app.py", "cli.py"]

    push_branch(wt, wt.branch)
    assert git(origin, "rev-parse", f"refs/heads/{BRANCH}") == sha
    remove_worktree(repo, wt)
    assert not wt.path.exists()
    assert str(wt.path) not in git(repo, "worktree", "list", "--porcelain")
    assert owns_branch(repo, BRANCH)

    assert snapshot(repo) == before
    delete_local_branch(repo, BRANCH)
    assert git(repo, "branch", "--list", BRANCH) == "" and not owns_branch(repo, BRANCH)
    assert snapshot(repo) == before


def test_without_origin_the_local_base_branch_is_used(tmp_path: Path, origin: Path) -> None:
    local = tmp_path / "local"
    git(tmp_path, "clone", "-q", str(origin), str(local))
    git(local, "remote", "remove", "origin")
    git(local, "switch", "-q", "-c", "elsewhere")
    git(local, "commit", "-q", "--allow-empty", "-m", "not on main")
    assert fetch_base(local, "main") is None
    wt = create_worktree(local, "US-12", "title", base_branch="main")
    assert (
        wt.base_sha == git(local, "rev-parse", "main") and wt.branch == "coffee-maker/us-12-title"
    )
    with pytest.raises(GitError, match=r"base branch 'trunk' not found.*daemon\.base_branch"):
        create_worktree(local, "US-13", "x", base_branch="trunk")


def test_branches_we_did_not_create_are_never_touched(repo: Path) -> None:
    git(repo, "branch", BRANCH, "my-feature")
    theirs = git(repo, "rev-parse", BRANCH)
    with pytest.raises(GitError, match="not created by coffee-maker"):
        create_worktree(repo, "PRIORITY 3", "add-json-flag")
    with pytest.raises(GitError, match="did not create it"):
        delete_local_branch(repo, BRANCH)
    with pytest.raises(GitError, match="did not create it"):
        delete_local_branch(repo, "my-feature")
    assert git(repo, "rev-parse", BRANCH) == theirs
    assert list(worktrees_dir(repo).iterdir()) == []


CRASHING_RUN = """
import os, sys
from pathlib import Path
from coffee_maker.autonomous.git_ops import commit_all, create_worktree
wt = create_worktree(sys.argv[1], "PRIORITY 3", "add-json-flag")
(wt.path / "half.py").write_text("half done\\n")
print(commit_all(wt, "work in progress", {}), flush=True)
(wt.path / "uncommitted.py").write_text("lost\\n")
os._exit(9)  # killed mid-run: no cleanup at all
"""


def test_a_crashed_run_is_cleaned_up_and_its_branch_reused(repo: Path) -> None:
    before = snapshot(repo)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, str(repo)], capture_output=True, text=True
    )
    assert crashed.returncode == 9, crashed.stderr
    crashed_sha = crashed.stdout.strip()
    stale = worktrees_dir(repo) / "priority-3-add-json-flag"
    leftover = worktrees_dir(repo) / "orphan-dir"
    leftover.mkdir()

    live = create_worktree(repo, "PRIORITY 4", "live")  # owned by this (living) process
    cleaned = clean_stale_worktrees(repo)
    assert sorted(cleaned) == sorted([str(stale.resolve()), str(leftover.resolve())])
    assert not stale.exists() and not leftover.exists() and live.path.exists()
    assert str(stale.resolve()) not in git(repo, "worktree", "list", "--porcelain")
    assert clean_stale_worktrees(repo) == []

    kept = create_worktree(repo, "PRIORITY 3", "add-json-flag", keep_commits=True)
    assert git(kept.path, "rev-parse", "HEAD") == crashed_sha
    assert (kept.path / "half.py").exists() and not (kept.path / "uncommitted.py").exists()
    fresh = create_worktree(repo, "PRIORITY 3", "add-json-flag")  # replaces the one above
    assert git(fresh.path, "rev-parse", "HEAD") == fresh.base_sha
    assert not (fresh.path / "half.py").exists()
    for wt in (fresh, live):
        remove_worktree(repo, wt)
    assert snapshot(repo) == before


def test_push_never_forces_over_a_diverged_remote_branch(
    repo: Path, origin: Path, tmp_path: Path
) -> None:
    wt = create_worktree(repo, "PRIORITY 3", "add-json-flag")
    (wt.path / "a.py").write_text("a = 1\n")
    commit_all(wt, "first", TRAILERS)
    push_branch(wt, wt.branch)

    other = tmp_path / "someone-else"
    git(tmp_path, "clone", "-q", "--branch", BRANCH, str(origin), str(other))
    (other / "b.py").write_text("b = 2\n")
    git(other, "add", "b.py")
    git(other, "commit", "-q", "-m", "someone else's work")
    git(other, "push", "-q", "origin", BRANCH)
    theirs = git(origin, "rev-parse", BRANCH)

    (wt.path / "a.py").write_text("a = 3\n")
    commit_all(wt, "second", TRAILERS)
    with pytest.raises(GitError, match=r"rejected.*never force-pushes"):
        push_branch(wt, wt.branch)
    assert git(origin, "rev-parse", BRANCH) == theirs
    assert "branch.coffee-maker" not in (repo / ".git/config").read_text()  # no upstream set


def test_git_errors_carry_git_stderr_with_secrets_redacted(repo: Path) -> None:
    token = "ghp_" + "a1b2c3d4e5" * 4
    git(repo, "remote", "add", "leaky", f"/nonexistent/{token}.git")
    with pytest.raises(GitError) as info:
        fetch_base(repo, "main", remote="leaky")
    message = str(info.value)
    assert "git fetch failed" in message and "does not appear to be a git repository" in message
    assert token not in message and "[REDACTED]" in message


def test_commit_messages_never_carry_secrets(repo: Path, monkeypatch) -> None:
    secret = "sk-ant-" + "x" * 30
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    wt = create_worktree(repo, "US-1", "s")
    (wt.path / "x.txt").write_text("x\n")
    commit_all(wt, f"Used key {secret}", {"Provider": "claude"})
    assert secret not in git(wt.path, "log", "-1", "--format=%B")


@pytest.mark.parametrize(
    ("priority_id", "slug", "prefix", "expected"),
    [
        ("PRIORITY 3", "add-json-flag", "coffee-maker/", BRANCH),
        ("PRIORITY 3.1", "title", "coffee-maker/", "coffee-maker/priority-3.1-title"),
        ("US-12", "story", "bot/", "bot/us-12-story"),
    ],
)
def test_branch_names(priority_id: str, slug: str, prefix: str, expected: str) -> None:
    assert branch_name(priority_id, slug, prefix) == expected


def test_invalid_branch_prefix_names_the_setting(repo: Path) -> None:
    with pytest.raises(GitError, match=r"daemon\.branch_prefix"):
        create_worktree(repo, "PRIORITY 1", "x", branch_prefix="bad..prefix/")


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/owner/name.git",
        "https://github.com/owner/name",
        "https://github.com/owner/name/",
        "https://x-access-token:secret@github.com/owner/name.git",
        "git@github.com:owner/name.git",
        "github.com:owner/name.git",
        "ssh://git@github.com/owner/name.git",
        "ssh://git@github.com:22/owner/name",
        "https://github.example.com/owner/name.git",
        "git@github.example.com:owner/name.git",
    ],
)
def test_parse_github_repo(url: str) -> None:
    assert parse_github_repo(url) == "owner/name"


@pytest.mark.parametrize(
    "url", ["/srv/git/name.git", "https://github.com/owner", "file:///tmp/x/y.git", ""]
)
def test_parse_github_repo_rejects_what_is_not_owner_name(url: str) -> None:
    with pytest.raises(GitError, match=r"set github\.repo"):
        parse_github_repo(url)


def test_remote_url(repo: Path, origin: Path) -> None:
    assert remote_url(repo) == str(origin)
    assert remote_url(repo, "upstream") is None
    with pytest.raises(GitError, match="not a git repository"):
        remote_url(repo.parent)


def test_a_missing_worktree_directory_is_an_error_not_a_commit_elsewhere(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wt = create_worktree(repo, "PRIORITY 9", "gone")
    remove_worktree(repo, wt)
    elsewhere = tmp_path / "elsewhere"  # where the process happens to be
    elsewhere.mkdir()
    git(elsewhere, "init", "-q")
    (elsewhere / "file.txt").write_text("not yours\n")
    monkeypatch.chdir(elsewhere)
    with pytest.raises(GitError, match="no such directory"):
        commit_all(wt, "into the void", {})
    assert git(elsewhere, "status", "--porcelain") == "?? file.txt"


def test_a_retry_continues_the_branch_an_earlier_run_pushed(repo: Path, origin: Path) -> None:
    before = snapshot(repo)
    assert fetch_remote_branch(repo, BRANCH) is None  # nothing pushed yet
    first = create_worktree(repo, "PRIORITY 3", "add-json-flag")
    (first.path / "a.py").write_text("a = 1\n")
    pushed = commit_all(first, "first attempt", TRAILERS)
    push_branch(first, first.branch)
    remove_worktree(repo, first)
    delete_local_branch(repo, BRANCH)  # e.g. a fresh clone: only origin remembers it

    assert fetch_remote_branch(repo, BRANCH) == pushed
    retry = create_worktree(repo, "PRIORITY 3", "add-json-flag", start_point=pushed)
    assert git(retry.path, "rev-parse", "HEAD") == pushed and retry.base_sha == first.base_sha
    (retry.path / "a.py").write_text("a = 2\n")
    second = commit_all(retry, "second attempt", TRAILERS)
    push_branch(retry, retry.branch)  # a fast-forward: no force needed
    assert git(origin, "rev-parse", BRANCH) == second
    assert git(origin, "rev-parse", f"{BRANCH}~1") == pushed
    assert changed_files(retry) == ["a.py"]
    assert read_file_at(repo, second, "a.py") == b"a = 2\n"
    assert read_file_at(repo, pushed, "missing.py") is None
    remove_worktree(repo, retry)
    assert snapshot(repo) == before
