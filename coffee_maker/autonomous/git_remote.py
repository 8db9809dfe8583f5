"""Remotes and the network: fetch, ``ls-remote``, the base branch, the GitHub repository.

Every command here that talks to a remote runs in batch mode (no password prompt nobody
would answer) and within a timeout, and fetches write only ``refs/remotes``. Pushing is
work on our own branch (:func:`coffee_maker.autonomous.git_ops.push_branch`), which
re-exports these names.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from coffee_maker.autonomous.git_command import GitError, commit_sha, git_in_repo
from coffee_maker.autonomous.git_command import decoded as _decoded
from coffee_maker.autonomous.git_command import git_text as _git
from coffee_maker.secrets import redact_text

NETWORK_TIMEOUT = 300.0  # seconds for fetch and push
PROBE_TIMEOUT = 30.0  # seconds for a look at the remote (ls-remote) before any work
#: Network commands fail instead of waiting for a password nobody will type.
BATCH_ENV = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}


def _remotes(repo: str | os.PathLike[str]) -> list[str]:
    return _decoded(git_in_repo(repo, "remote")).split()


def _has_remote(repo: str | os.PathLike[str], remote: str) -> bool:
    return remote in _remotes(repo)


def _fetch(repo: str | os.PathLike[str], remote: str, branch: str) -> str | None:
    refspec = f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"
    options = ("--no-tags", "--no-write-fetch-head", "--recurse-submodules=no")
    _git(repo, "fetch", *options, remote, refspec, timeout=NETWORK_TIMEOUT, env=BATCH_ENV)
    return commit_sha(repo, f"refs/remotes/{remote}/{branch}")


def fetch_base(
    repo: str | os.PathLike[str], base_branch: str, remote: str = "origin"
) -> str | None:
    """Update ``refs/remotes/<remote>/<base_branch>``; None when there is no such remote."""
    return _fetch(repo, remote, base_branch) if _has_remote(repo, remote) else None


def fetch_remote_branch(
    repo: str | os.PathLike[str], branch: str, remote: str = "origin"
) -> str | None:
    """The sha of ``branch`` on ``remote`` (fetched into ``refs/remotes``), None if it has none.

    A branch an earlier run pushed must be continued, not replaced: starting the worktree
    from this commit makes the next push a fast-forward, so no force is ever needed.
    """
    if not _has_remote(repo, remote):
        return None
    ref = f"refs/heads/{branch}"
    listed = _git(repo, "ls-remote", remote, ref, timeout=NETWORK_TIMEOUT, env=BATCH_ENV)
    return _fetch(repo, remote, branch) if listed.strip() else None


def remote_default_branch(
    repo: str | os.PathLike[str], remote: str = "origin", timeout: float = PROBE_TIMEOUT
) -> str | None:
    """The branch the remote's HEAD names, asked over the network (None: it names none).

    This is also how the remote's reachability is tested: a GitError when it cannot be
    read (no network, a wrong URL, no credentials), within ``timeout`` seconds.
    """
    out = _git(repo, "ls-remote", "--symref", remote, "HEAD", timeout=timeout, env=BATCH_ENV)
    for line in out.splitlines():
        target, _, name = line.partition("\t")
        if name == "HEAD" and target.startswith("ref: refs/heads/"):
            return target.removeprefix("ref: refs/heads/")
    return None


def remote_has_branch(
    repo: str | os.PathLike[str],
    branch: str,
    remote: str = "origin",
    timeout: float = PROBE_TIMEOUT,
) -> bool:
    """Whether ``branch`` exists on ``remote`` now (a GitError when it cannot be read)."""
    ref = f"refs/heads/{branch}"
    out = _git(repo, "ls-remote", remote, ref, timeout=timeout, env=BATCH_ENV)
    return any(line.partition("\t")[2] == ref for line in out.splitlines())


def default_branch(repo: str | os.PathLike[str], remote: str = "origin") -> str:
    """The base branch when ``daemon.base_branch`` is not set: the remote's default branch.

    ``refs/remotes/<remote>/HEAD`` (which ``git clone`` sets) answers without the network;
    else the remote is asked. A repository without that remote (``project-manager roadmap``
    on a purely local repository) uses its local ``main``, else ``master``.
    """
    if not _has_remote(repo, remote):
        for name in ("main", "master"):
            if commit_sha(repo, f"refs/heads/{name}"):
                return name
        raise GitError(
            f"{repo} has no remote named {remote!r} and no local main or master branch; "
            "set daemon.base_branch"
        )
    try:
        ref = _git(repo, "symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD")
    except GitError:  # not set: a repository that was not cloned, or set-head --delete
        ref = ""
    if ref.startswith(f"refs/remotes/{remote}/"):
        return ref.removeprefix(f"refs/remotes/{remote}/")
    name = remote_default_branch(repo, remote)
    if name is None:
        raise GitError(
            f"remote {remote!r} names no default branch (is it empty?); set daemon.base_branch"
        )
    return name


def remote_url(repo: str | os.PathLike[str], remote: str = "origin") -> str | None:
    if remote not in _remotes(repo):
        return None
    try:
        return _git(repo, "config", "--get", f"remote.{remote}.url")
    except GitError:  # a remote with no url (only a pushurl)
        return None


_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^@/:]+):(?P<path>[^/].*)$")


def parse_github_repo(url: str) -> str:
    """``owner/name`` from an https, ssh (``git@host:o/r.git``, ``ssh://``) or GHE remote URL."""
    url = url.strip()
    parts = urlsplit(url)
    scp = _SCP_LIKE.match(url)
    if parts.scheme in ("https", "http", "ssh", "git", "git+ssh") and parts.hostname:
        path = parts.path
    else:
        path = scp.group("path") if scp else ""
    segments = [s for s in path.strip("/").removesuffix(".git").split("/") if s]
    if len(segments) != 2:
        raise GitError(
            f"cannot read owner/name from remote URL {redact_text(url)!r}; set github.repo"
        )
    return "/".join(segments)
