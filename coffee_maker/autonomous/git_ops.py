"""Git for the daemon: a worktree and a branch of its own, commits, pushes, and nothing more.

The user's checkout is sacred. Nothing here runs a command that switches, resets,
stashes, commits or refreshes the index of the main working tree: in the user's
repository only ref and worktree bookkeeping commands run (rev-parse, merge-base,
reading symbolic-ref, ls-remote, fetch into ``refs/remotes``, ``worktree add/remove``,
``branch -D`` of our own branches) and objects are read from the object store; all other
work happens inside a linked worktree of ours (see :func:`worktrees_dir`).
Branches we create are listed in ``.git/coffee-maker/branches.json``, and only those are
ever reset or deleted. Pushes never force, and nothing is written to the user's config.

Running git is :mod:`~coffee_maker.autonomous.git_command`'s; asking a remote (fetch,
``ls-remote``, its default branch, the GitHub repository its URL names) is
:mod:`~coffee_maker.autonomous.git_remote`'s, whose names are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coffee_maker.ai_providers.atomic_files import locked
from coffee_maker.autonomous.git_command import GitError
from coffee_maker.autonomous.git_command import commit_sha as _sha
from coffee_maker.autonomous.git_command import git_in_repo as _in_repo
from coffee_maker.autonomous.git_command import git_text as _git
from coffee_maker.autonomous.git_remote import (  # noqa: F401  (git_ops.X, as always)
    BATCH_ENV,
    NETWORK_TIMEOUT,
    PROBE_TIMEOUT,
    default_branch,
    fetch_base,
    fetch_remote_branch,
    parse_github_repo,
    remote_default_branch,
    remote_has_branch,
    remote_url,
)
from coffee_maker.autonomous.leak_guard import refuse_leaks
from coffee_maker.autonomous.state import atomic_write_json, now_iso, process_alive, state_dir
from coffee_maker.paths import user_state_dir
from coffee_maker.secrets import redact_text

DEFAULT_IDENTITY = ("coffee-maker", "coffee-maker@localhost")
BRANCHES_FILE = "branches.json"


@dataclass(frozen=True)
class Worktree:
    path: Path
    branch: str
    base_sha: str  # the commit the branch started from, for diffs and PR bases
    #: Untracked paths the test environment made (node_modules/, egg-info, generated
    #: version files): never committed, never "changed by the model".
    environment_files: tuple[str, ...] = ()

    def pathspec(self) -> list[str]:
        """``git add``/``diff`` arguments that leave the environment's files out."""
        excluded = [f":(exclude,literal){p.rstrip('/')}" for p in self.environment_files]
        return ["--", ".", *excluded]


def worktrees_dir(repo: str | os.PathLike[str]) -> Path:
    """Where our worktrees of ``repo`` live: ``<user state dir>/worktrees/<repo>-<hash>/``.

    Not under ``.git/``: Claude Code refuses to edit any file whose path is inside a
    ``.git`` directory ("a sensitive file"), so an agentic CLI could not work there.
    One folder per repository (named after it, keyed by its git directory's path).
    """
    common = state_dir(repo).parent.resolve()
    digest = hashlib.sha256(str(common).encode()).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", common.parent.name).strip("-") or "repo"
    path = user_state_dir() / "worktrees" / f"{name}-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


# -- branches we own ---------------------------------------------------------------------


def _owned_branches(repo: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((state_dir(repo) / BRANCHES_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    branches = data.get("branches") if isinstance(data, dict) else None
    return branches if isinstance(branches, dict) else {}


def _set_owned(repo: str | os.PathLike[str], branch: str, info: dict[str, str] | None) -> None:
    # Re-read and written under a lock: the daemon and ``project-manager mcp`` both add
    # branches, and neither may lose the other's.
    with locked(state_dir(repo) / f".{BRANCHES_FILE}.lock", timeout=30):
        branches = _owned_branches(repo)
        if info is None:
            branches.pop(branch, None)
        else:
            branches[branch] = info
        atomic_write_json(state_dir(repo) / BRANCHES_FILE, {"branches": branches})


def owns_branch(repo: str | os.PathLike[str], branch: str) -> bool:
    """Whether coffee-maker created ``branch`` (and so may reset or delete it)."""
    return branch in _owned_branches(repo)


def branch_name(priority_id: str, slug: str, branch_prefix: str = "coffee-maker/") -> str:
    """``PRIORITY 3``, ``add-json-flag`` → ``<prefix>priority-3-add-json-flag``: one naming rule."""
    id_part = re.sub(r"[^a-z0-9.]+", "-", priority_id.lower()).strip("-.")
    return f"{branch_prefix}{id_part}-{slug}" if slug else f"{branch_prefix}{id_part}"


# -- worktrees ---------------------------------------------------------------------------


def read_file_at(repo: str | os.PathLike[str], commit: str, path: str) -> bytes | None:
    """A file's bytes as ``commit`` has it (None if it has none), read from the object store."""
    try:  # fails alike for no such commit or path, and for a directory or submodule there
        return _in_repo(repo, "cat-file", "blob", f"{commit}:{path}")
    except GitError as exc:
        if str(exc).endswith("not a git repository (use --repo PATH)"):
            raise
        return None


def base_commit(repo: str | os.PathLike[str], base_branch: str, remote: str = "origin") -> str:
    """The commit work starts from: ``<remote>/<base_branch>`` as last fetched, else local."""
    for ref in (f"refs/remotes/{remote}/{base_branch}", f"refs/heads/{base_branch}"):
        sha = _sha(repo, ref)
        if sha:
            return sha
    raise GitError(
        f"base branch {base_branch!r} not found (neither {remote}/{base_branch} nor a local "
        f"branch) in {repo}; set daemon.base_branch"
    )


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks, so a recycled pid is not mistaken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def _owner_file(path: Path) -> Path:
    return path.with_name(path.name + ".owner")


def _owner_alive(path: Path) -> bool:
    try:
        owner = json.loads(_owner_file(path).read_text())
        pid, start = int(owner["pid"]), str(owner.get("start", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return process_alive(pid) and (not start or start == _process_start(pid))


def _registered_worktrees(repo: str | os.PathLike[str]) -> list[Path]:
    listing = _git(repo, "worktree", "list", "--porcelain")
    return [Path(line[9:]) for line in listing.splitlines() if line.startswith("worktree ")]


def _discard(repo: str | os.PathLike[str], path: Path) -> None:
    """Remove one of our worktrees (registered or not, present or not) and its owner file."""
    ours = worktrees_dir(repo)
    if path.resolve().parent != ours:
        raise GitError(f"refusing to remove {path}: not a coffee-maker worktree")
    if path.resolve() in [p.resolve() for p in _registered_worktrees(repo)]:
        _git(repo, "worktree", "remove", "--force", str(path))
    if path.exists():
        shutil.rmtree(path)
    _owner_file(path).unlink(missing_ok=True)


def create_worktree(
    repo: str | os.PathLike[str],
    priority_id: str,
    slug: str,
    branch_prefix: str = "coffee-maker/",
    base_branch: str = "main",
    remote: str = "origin",
    keep_commits: bool = False,
    start_point: str | None = None,
    branch: str | None = None,
) -> Worktree:
    """A fresh worktree on a branch of our own, started from ``<remote>/<base_branch>``.

    A branch left by an earlier (crashed) run of ours is reused: reset to the base, or
    kept as it is with ``keep_commits``. ``start_point`` starts the branch at that commit
    instead, e.g. the remote's copy of our branch (:func:`fetch_remote_branch`), so that
    the next push fast-forwards; ``base_sha`` is then where the branch left the base.
    A branch of the same name that we did not create is never touched: that is an
    error the user resolves. ``branch`` names the branch outright (a PR's, for a follow-up).
    """
    branch = branch or branch_name(priority_id, slug, branch_prefix)
    try:
        _git(repo, "check-ref-format", "--branch", branch)
    except GitError:
        raise GitError(f"invalid branch name {branch!r}; check daemon.branch_prefix") from None
    base_sha = base_commit(repo, base_branch, remote)
    start = start_point or base_sha
    base_sha = _merge_base(repo, start_point, base_sha) if start_point else base_sha
    path = worktrees_dir(repo) / branch.removeprefix(branch_prefix).replace("/", "-")
    _discard(repo, path)
    exists = _sha(repo, f"refs/heads/{branch}") is not None
    if exists and not owns_branch(repo, branch):
        raise GitError(
            f"branch {branch!r} already exists and was not created by coffee-maker; "
            "rename or delete it, or change daemon.branch_prefix"
        )
    pid = os.getpid()
    _owner_file(path).write_text(json.dumps({"pid": pid, "start": _process_start(pid)}))
    try:
        if exists and keep_commits:
            _git(repo, "worktree", "add", str(path), branch)
        else:
            flag = "-B" if exists else "-b"  # -B resets only a branch we own (checked above)
            _set_owned(repo, branch, {"created_at": now_iso(), "priority": priority_id})
            _git(repo, "worktree", "add", "--no-track", flag, branch, str(path), start)
    except GitError:
        _owner_file(path).unlink(missing_ok=True)
        if not exists and _sha(repo, f"refs/heads/{branch}") is None:
            _set_owned(repo, branch, None)  # never claim a name someone may create later
        raise
    return Worktree(path, branch, base_sha)


def _merge_base(repo: str | os.PathLike[str], a: str, b: str) -> str:
    try:
        return _git(repo, "merge-base", a, b)
    except GitError:
        return b  # unrelated histories: diff against the base itself


def remove_worktree(repo: str | os.PathLike[str], worktree: Worktree | Path) -> None:
    """Remove the worktree directory and its registration; the branch stays."""
    _discard(repo, Path(worktree.path if isinstance(worktree, Worktree) else worktree))


def clean_stale_worktrees(repo: str | os.PathLike[str]) -> list[str]:
    """Remove our worktrees whose owning process is gone (a crash); returns their paths.

    Only worktrees under our own directory are considered, one by one: a global
    ``git worktree prune`` would also forget the user's worktrees on unmounted disks.
    """
    ours = worktrees_dir(repo)
    registered = [p for p in _registered_worktrees(repo) if p.resolve().parent == ours]
    on_disk = [p for p in ours.iterdir() if p.is_dir()]
    cleaned = []
    for path in sorted({p.resolve() for p in registered + on_disk}):
        if not _owner_alive(path):
            _discard(repo, path)
            cleaned.append(str(path))
    for owner in ours.glob("*.owner"):  # owner files whose worktree never got created
        if not owner.with_suffix("").exists() and not _owner_alive(owner.with_suffix("")):
            owner.unlink(missing_ok=True)
    return cleaned


def delete_local_branch(repo: str | os.PathLike[str], branch: str) -> None:
    """Delete a local branch coffee-maker created; any other branch is refused."""
    if not owns_branch(repo, branch):
        raise GitError(f"refusing to delete branch {branch!r}: coffee-maker did not create it")
    if _sha(repo, f"refs/heads/{branch}"):
        _git(repo, "branch", "--delete", "--force", branch)
    _set_owned(repo, branch, None)


# -- work inside the worktree ------------------------------------------------------------


def commit_all(
    worktree: Worktree,
    message: str,
    trailers: Mapping[str, object] | None = None,
    identity: tuple[str, str] | None = None,
) -> str | None:
    """Commit every change in the worktree; the new sha, or None when nothing changed.

    The identity goes through the environment and signing is turned off with ``-c``,
    so the user's git config is read by nobody's hands but git's and written by none.
    """
    _git(worktree.path, "add", "--all", *worktree.pathspec())
    if not _git(worktree.path, "diff", "--cached", "--name-only"):
        return None
    refuse_leaks(worktree.path)
    lines = [f"{key}: {' '.join(str(value).split())}" for key, value in (trailers or {}).items()]
    text = redact_text(message.strip() + ("\n\n" + "\n".join(lines) if lines else "") + "\n")
    name, email = identity or DEFAULT_IDENTITY
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    env |= {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    with tempfile.NamedTemporaryFile("w", dir=state_dir(worktree.path), suffix=".msg") as msg:
        msg.write(text)
        msg.flush()
        _git(
            worktree.path,
            *("-c", "commit.gpgsign=false", "commit", "--quiet", "--cleanup=whitespace"),
            *("--file", msg.name),
            env=env,
        )
    return _git(worktree.path, "rev-parse", "HEAD")


def changed_files(worktree: Worktree) -> list[str]:
    """Paths that differ from the base: committed, modified, deleted or new."""
    spec = worktree.pathspec()
    tracked = _git(
        worktree.path, "diff", "--name-only", "--no-renames", "-z", worktree.base_sha, *spec
    )
    untracked = _git(worktree.path, "ls-files", "--others", "--exclude-standard", "-z", *spec)
    return sorted({p for p in (tracked + "\0" + untracked).split("\0") if p})


def untracked_files(worktree: Worktree) -> tuple[str, ...]:
    """Untracked, unignored paths now (a whole new folder as one ``dir/`` entry)."""
    listing = _git(worktree.path, "ls-files", "--others", "--exclude-standard", "--directory", "-z")
    return tuple(sorted(p for p in listing.split("\0") if p))


def diff_stat(worktree: Worktree) -> str:
    """``git diff --stat`` against the base (untracked files show once committed)."""
    return _git(worktree.path, "diff", "--stat", worktree.base_sha, *worktree.pathspec())


def push_branch(worktree: Worktree | Path, branch: str, remote: str = "origin") -> None:
    """Push ``branch`` to the same name on ``remote``: never forced, no upstream configured."""
    path = worktree.path if isinstance(worktree, Worktree) else worktree
    refspec = f"refs/heads/{branch}:refs/heads/{branch}"
    try:
        _git(path, "push", "--porcelain", remote, refspec, timeout=NETWORK_TIMEOUT, env=BATCH_ENV)
    except GitError as exc:
        if "[rejected]" in str(exc) or "[remote rejected]" in str(exc):
            raise GitError(
                f"push of {branch} to {remote} was rejected: the remote branch has commits "
                "this one lacks, and coffee-maker never force-pushes; delete or merge the "
                f"remote branch by hand. git said: {exc}"
            ) from None
        raise


# -- what the branch may not carry ---------------------------------------------------------


def checkout_of(worktree: Worktree | Path) -> Path:
    """The user's checkout a linked worktree belongs to (the parent of the common .git)."""
    path = worktree.path if isinstance(worktree, Worktree) else worktree
    common = Path(_git(path, "rev-parse", "--path-format=absolute", "--git-common-dir").strip())
    return common.parent


def restore_paths(worktree: Worktree, paths: list[str]) -> list[str]:
    """Put each path back as the base commit has it, or delete it where the base has none.

    In the worktree and its index only, with literal pathspecs (a file named ``*`` is one
    file). A path whose folder leads out of the worktree through a link is only unstaged,
    never deleted there. Returns the paths it restored.
    """
    env = {"GIT_LITERAL_PATHSPECS": "1"}
    root = worktree.path.resolve()
    done = []
    for path in paths:
        if not path or path.startswith("/") or ".." in Path(path).parts:
            continue
        if _git(worktree.path, "ls-tree", "--name-only", worktree.base_sha, "--", path, env=env):
            _git(
                worktree.path,
                *("restore", f"--source={worktree.base_sha}", "--staged", "--worktree"),
                *("--", path),
                env=env,
            )
        else:
            untrack = ("rm", "--cached", "--quiet", "--ignore-unmatch", "--", path)
            _git(worktree.path, *untrack, env=env)
            target = worktree.path / path
            folder = Path(os.path.realpath(target.parent))
            inside = folder == root or root in folder.parents
            if inside and (target.is_symlink() or target.is_file()):
                target.unlink()
        done.append(path)
    return done
