"""Running ``git``: one subprocess per command, its output as text or bytes, its error named.

Every git command coffee-maker runs goes through :func:`git_text` or :func:`git_bytes`
(:mod:`coffee_maker.autonomous.git_ops` says which commands those are, and why the user's
checkout is safe from them). A plain subprocess, not GitPython: importing GitPython cost
every command ~75 ms and the daemon ~14 MB for what these few lines do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from coffee_maker.secrets import redact_text


class GitError(Exception):
    """A git operation failed; the message carries git's own (redacted) explanation."""


def git_text(
    cwd: str | os.PathLike[str],
    *args: str,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``git args`` in ``cwd``: its output as text, less the trailing newline."""
    return decoded(git_bytes(cwd, *args, timeout=timeout, env=env))


def git_bytes(
    cwd: str | os.PathLike[str],
    *args: str,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """Run ``git args`` in ``cwd``: its output as it is; a GitError with git's stderr.

    Messages in English (``LC_ALL=C``) whatever the user's locale; no stdin; its own
    process group, so a timeout also kills what git started (a remote helper, ssh)
    instead of waiting for it to close our pipes.
    """
    if not Path(cwd).is_dir():
        raise GitError(f"{cwd}: no such directory")
    command = ["git", *args]
    environ = {**os.environ, "LANGUAGE": "C", "LC_ALL": "C", **(env or {})}
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        err = f'Timeout: the command "{" ".join(command)}" did not complete in {timeout:g} secs.'
        err = err.encode()
    except BaseException:  # Ctrl-C: the group is ours to end, it no longer sees the terminal
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        said = (decoded(err), decoded(out))
        detail = redact_text("\n".join(s for s in said if s).strip())
        raise GitError(f"git {args[0]} failed in {cwd} (exit {proc.returncode}): {detail}")
    return out


def decoded(data: bytes) -> str:
    """git's output as text, one trailing newline dropped; undecodable bytes kept as-is."""
    text = data.decode("utf-8", "surrogateescape")
    return text[:-1] if text.endswith("\n") else text


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def commit_sha(cwd: str | os.PathLike[str], ref: str) -> str | None:
    """The commit ``ref`` names, or None when it names none."""
    try:
        return git_text(cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitError:
        return None


def git_in_repo(repo: str | os.PathLike[str], *args: str) -> bytes:
    """``git args`` in ``repo``, where not being a repository is the user's mistake to name."""
    try:
        return git_bytes(repo, *args)
    except GitError as exc:
        said = str(exc).partition("): ")[2]  # git's own words (a path could quote these)
        if said.startswith("fatal: not a git repository"):
            raise GitError(f"{repo}: not a git repository (use --repo PATH)") from None
        raise
