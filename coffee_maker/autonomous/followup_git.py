"""Git for follow-ups: a PR's branch brought up to date, and a roadmap change on the base.

Like :mod:`git_ops`, everything here runs inside a linked worktree of ours; the user's
checkout is never touched. Nothing is ever rebased or force-pushed: a base branch that
moved on is merged into the PR's branch, and the base itself only ever fast-forwards.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from coffee_maker.autonomous import git_ops
from coffee_maker.autonomous.git_command import GitError
from coffee_maker.autonomous.git_command import git_text as _git

DIFF_LIMIT = 40_000  # characters of the PR's diff the model reads
_BATCH = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
_MARKERS = ("<<<<<<< ", "\n=======\n", ">>>>>>> ")
_IDENTITY_ENV = {
    "GIT_AUTHOR_NAME": git_ops.DEFAULT_IDENTITY[0],
    "GIT_AUTHOR_EMAIL": git_ops.DEFAULT_IDENTITY[1],
    "GIT_COMMITTER_NAME": git_ops.DEFAULT_IDENTITY[0],
    "GIT_COMMITTER_EMAIL": git_ops.DEFAULT_IDENTITY[1],
}


def is_ancestor(path: Path, ancestor: str, descendant: str) -> bool:
    try:
        _git(path, "merge-base", "--is-ancestor", ancestor, descendant)
    except GitError:
        return False
    return True


def move_branch_to(worktree: git_ops.Worktree, sha: str) -> None:
    """Point our worktree's branch at ``sha`` (the PR's head as the remote has it)."""
    _git(worktree.path, "reset", "--quiet", "--hard", sha)


def merge_base_branch(worktree: git_ops.Worktree, base_sha: str, base_branch: str) -> list[str]:
    """Merge the base into the branch when it moved on; the files left in conflict.

    A clean merge is committed at once. A conflict leaves the merge in progress (the
    model resolves the markers; the harness's commit then concludes the merge).
    """
    if is_ancestor(worktree.path, base_sha, "HEAD"):
        return []
    message = f"Merge {base_branch} into {worktree.branch}"
    args = ("-c", "commit.gpgsign=false", "merge", "--no-ff", "--no-edit", "-m", message)
    try:
        _git(worktree.path, *args, base_sha, env=_IDENTITY_ENV)
    except GitError:
        conflicted = unmerged_files(worktree)
        if not conflicted:
            raise
        return conflicted
    return []


def unmerged_files(worktree: git_ops.Worktree) -> list[str]:
    listing = _git(worktree.path, "diff", "--name-only", "--diff-filter=U", "-z")
    return sorted(p for p in listing.split("\0") if p)


def conflicts_left(worktree: git_ops.Worktree, files: list[str]) -> list[str]:
    """Which of ``files`` still hold conflict markers (or are gone unresolved)."""
    left = []
    for name in files:
        path = worktree.path / name
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue  # deleted: resolving a conflict by removing the file is a choice
        if any(marker in text for marker in _MARKERS):
            left.append(name)
    return left


def abort_merge(worktree: git_ops.Worktree) -> None:
    with contextlib.suppress(GitError):
        _git(worktree.path, "merge", "--abort")


def diff_since(worktree: git_ops.Worktree, since: str, limit: int = DIFF_LIMIT) -> str:
    """The diff a reviewer sees (base to HEAD), shortened to ``limit`` characters."""
    text = _git(worktree.path, "diff", "--no-color", "--no-ext-diff", f"{since}...HEAD")
    if len(text) > limit:
        text = text[:limit] + f"\n[... diff shortened: {len(text) - limit} more characters]"
    return text


def changed_since(worktree: git_ops.Worktree, sha: str) -> list[str]:
    """Paths that differ from ``sha``: committed since, modified, or new."""
    tracked = _git(worktree.path, "diff", "--name-only", "--no-renames", "-z", sha)
    untracked = _git(worktree.path, "ls-files", "--others", "--exclude-standard", "-z")
    merging = (Path(_git(worktree.path, "rev-parse", "--git-dir")) / "MERGE_HEAD").exists()
    found = {p for p in (tracked + "\0" + untracked).split("\0") if p}
    found -= set(worktree.environment_files)
    return sorted(found | ({"(merge of the base branch)"} if merging else set()))


def head(path: Path) -> str:
    return _git(path, "rev-parse", "HEAD")


def commit_on_base(
    repo: Path,
    base_branch: str,
    remote: str,
    message: str,
    change: Callable[[Path], bool],
) -> str | None:
    """Commit ``change`` on top of ``<remote>/<base_branch>`` and push it there.

    ``change(worktree_path)`` edits the files and says whether anything changed. The push
    is a fast-forward or nothing (never forced). Returns the new commit, or None when
    there was nothing to change.
    """
    base_sha = git_ops.fetch_base(repo, base_branch, remote)
    if base_sha is None:
        raise GitError(f"no remote {remote!r} with a branch {base_branch!r} to mark the roadmap on")
    parent = git_ops.worktrees_dir(repo)
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="base-", dir=parent))
    os.rmdir(path)
    _git(repo, "worktree", "add", "--detach", str(path), base_sha)
    try:
        if not change(path):
            return None
        worktree = git_ops.Worktree(path, base_branch, base_sha)
        sha = git_ops.commit_all(worktree, message)
        if sha is None:
            return None
        refspec = f"HEAD:refs/heads/{base_branch}"  # a fast-forward, or refused
        _git(
            path,
            "push",
            "--porcelain",
            remote,
            refspec,
            timeout=git_ops.NETWORK_TIMEOUT,
            env=_BATCH,
        )
        return sha
    finally:
        git_ops.remove_worktree(repo, path)
