"""Real git behind the fake GitHub: a repository's bare ``origin`` answers for its commits.

Read-only except :func:`merge`, which makes a real merge commit of a pull request's head
into its base, as GitHub's merge button does (``git merge-tree --write-tree``, then
``git commit-tree`` and ``git update-ref``; needs git 2.38 or later).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


class MergeConflict(RuntimeError):
    """The pull request's head does not merge cleanly into its base."""


def _run(
    bare: str | Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "--git-dir", str(bare), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _git(bare: str | Path, *args: str, env: dict[str, str] | None = None) -> str | None:
    """stdout of ``git args`` in ``bare``, or None when git fails."""
    proc = _run(bare, *args, env=env)
    return proc.stdout if proc.returncode == 0 else None


def _merge_tree(bare: str | Path, base_sha: str, head_sha: str) -> str | None:
    """The merged tree's id, or None on a conflict; raises MergeConflict if git cannot tell."""
    proc = _run(bare, "merge-tree", "--write-tree", "--no-messages", base_sha, head_sha)
    if proc.returncode > 1:
        raise MergeConflict(f"git merge-tree failed: {proc.stderr.strip()}")
    return proc.stdout.split()[0] if proc.returncode == 0 else None


def rev_parse(bare: str | Path, ref: str) -> str | None:
    """The commit ``ref`` (a sha, a branch or a tag) names, or None."""
    if not ref or ref.startswith("-"):
        return None
    for name in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
        out = _git(bare, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        if out:
            return out.strip()
    return None


def merges_cleanly(bare: str | Path, base_sha: str, head_sha: str) -> bool | None:
    """Whether ``head_sha`` merges into ``base_sha`` without conflicts; None if unknown."""
    try:
        return _merge_tree(bare, base_sha, head_sha) is not None
    except MergeConflict:
        return None


def merge(bare: str | Path, base: str, head_sha: str, message: str, login: str) -> str:
    """Merge ``head_sha`` into branch ``base`` with a merge commit; its sha.

    Raises :class:`MergeConflict` when the two do not merge cleanly.
    """
    base_sha = rev_parse(bare, base)
    if base_sha is None:
        raise MergeConflict(f"base branch {base} does not exist in {bare}")
    tree = _merge_tree(bare, base_sha, head_sha)
    if tree is None:
        raise MergeConflict(f"{head_sha[:12]} does not merge cleanly into {base}")
    env = {
        "GIT_AUTHOR_NAME": login,
        "GIT_AUTHOR_EMAIL": f"{login}@users.noreply.github.com",
        "GIT_COMMITTER_NAME": "GitHub",
        "GIT_COMMITTER_EMAIL": "noreply@github.com",
    }
    args = ("commit-tree", tree, "-p", base_sha, "-p", head_sha, "-m", message)
    commit = _git(bare, *args, env=env)
    if commit is None:
        raise MergeConflict(f"git commit-tree failed in {bare}")
    sha = commit.strip()
    if _git(bare, "update-ref", f"refs/heads/{base}", sha, base_sha) is None:
        raise MergeConflict(f"{base} moved while merging")
    return sha


def commit_info(bare: str | Path, sha: str) -> dict[str, object] | None:
    """Message, tree, parents, author and committer of ``sha``."""
    fields = "%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
    out = _git(bare, "show", "-s", f"--format={fields}", sha, "--")
    if out is None:
        return None
    tree, parents, an, ae, ad, cn, ce, cd, message = out.split("\0", 8)
    return {
        "tree": tree,
        "parents": parents.split(),
        "author": {"name": an, "email": ae, "date": ad},
        "committer": {"name": cn, "email": ce, "date": cd},
        "message": message.rstrip("\n"),
    }


def diff_hunk(
    bare: str | Path, base_sha: str, head_sha: str, path: str, line: int, side: str = "RIGHT"
) -> tuple[str, int] | None:
    """GitHub's ``diff_hunk`` and ``position`` for a comment on ``line`` of ``path``.

    The hunk runs from its ``@@`` header to the commented line; the position counts lines
    down from the file's first ``@@`` header. None when the line is not part of the diff
    (GitHub answers 422 then).
    """
    merge_base = _git(bare, "merge-base", base_sha, head_sha)
    if merge_base is None:
        return None
    out = _git(bare, "diff", "--no-color", "-U3", merge_base.strip(), head_sha, "--", path)
    if not out:
        return None
    hunk: list[str] = []
    position, old, new = -1, 0, 0
    for text in out.splitlines():
        match = _HUNK.match(text)
        if match:
            hunk, old, new = [text], int(match.group(1)), int(match.group(2))
            position += 1
            continue
        if position < 0:
            continue  # the file header: diff --git, index, ---, +++
        position += 1
        hunk.append(text)
        if text.startswith("\\"):
            continue  # \ No newline at end of file
        here = old if side == "LEFT" else new
        if text.startswith("-"):
            old += 1
        elif text.startswith("+"):
            new += 1
        else:
            old, new = old + 1, new + 1
        if here == line and (text[:1] != ("+" if side == "LEFT" else "-")):
            return "\n".join(hunk), position
    return None
