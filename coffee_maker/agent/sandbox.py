"""The OS sandbox that every command run for the model's code goes through (bubblewrap).

The path jail of :mod:`coffee_maker.agent.workspace` covers the file tools only. A test
the model wrote, run by ``run_tests`` or by the harness's own verification, is a program
of the model's: without this sandbox it runs as the user and can read the daemon's
``/proc/<pid>/environ``, ``~/.ssh``, the ledger, write to the user's checkout and leave
processes behind. Inside ``bwrap`` it sees the root filesystem read-only, the worktree
(and its test environment) writable, a private ``/tmp``, and empty tmpfs where the
user's home, the state and config directories and the checkout are; its own PID
namespace (the daemon's ``/proc`` is invisible, and everything dies with the command),
no capabilities (root inside could otherwise unmount the tmpfs and look under it) and
no network unless the config allows it.

A toolchain that lives under a hidden directory (pyenv's ``~/.pyenv``, nvm's
``~/.nvm/versions/node/vX``) is re-exposed read-only, found from the interpreter and the
usual tools on ``PATH`` - never a directory holding credentials (``~/.ssh``,
``~/.config``, ``~/.aws``, ...).

This module only builds command lines and checks that bwrap works; running them is
:func:`coffee_maker.agent.commands.run_command`'s job.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Tools whose install prefix is re-exposed when it lives under a hidden directory.
TOOLS = ("python3", "python", "node", "npm", "npx", "uv", "git", "pnpm", "yarn")
#: Under a home directory: never re-exposed, nor any directory containing one of them.
NEVER_EXPOSED = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config",
    ".netrc",
    ".docker",
    ".kube",
    ".git-credentials",
    ".gitconfig",
    ".pypirc",
    ".npmrc",
    ".yarnrc",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".local/share/keyrings",
    ".password-store",
    ".vault-token",
    ".terraform.d",
    ".gcloud",
    ".env",
)
#: Host sockets that hand out root: a read-only mount does not stop connecting to them,
#: so /dev/null is bound over each that exists.
HOST_SOCKETS = (
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/containerd/containerd.sock",
)
#: bwrap options that take one path (the others bind a path onto itself).
ONE_PATH = ("tmpfs", "remount-ro")
#: Directory names whose parent is a tool's install prefix (``<prefix>/bin/node``).
_BIN_DIRS = ("bin", "sbin", "shims")
FIX = (
    "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; "
    "Fedora: sudo dnf install bubblewrap) or set agent.sandbox: none"
)
NO_SANDBOX_NOTE = "Model-written code ran WITHOUT a sandbox (agent.sandbox: none)"


@dataclass(frozen=True)
class Sandbox:
    """What a sandboxed command may see and change; :meth:`wrap` makes the command line.

    ``hidden`` directories become empty, read-only tmpfs (the user's homes always are
    hidden, and stay writable for caches); ``readonly`` ones are bound read-only again
    inside them (e.g. the checkout's ``.git`` a linked worktree needs); ``writable`` ones
    are bound read-write.
    """

    writable: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()
    readonly: tuple[Path, ...] = ()
    network: bool = False

    def wrap(
        self,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        info_fd: int | None = None,
    ) -> list[str]:
        """``argv`` as a bwrap command line, run in ``cwd`` (default: the first writable dir).

        ``info_fd``: where bwrap reports the sandbox's PID 1 (see ``--info-fd``).
        """
        where = Path(cwd) if cwd is not None else (self.writable[0] if self.writable else "/")
        args = [bwrap_path(), "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        if not self.network:
            args.append("--unshare-net")
        if info_fd is not None:
            args += ["--info-fd", str(info_fd)]
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for kind, path in self.mounts():
            if kind == "null":
                args += ["--ro-bind", "/dev/null", path]
            else:
                args += [f"--{kind}", path] if kind in ONE_PATH else [f"--{kind}", path, path]
        return [*args, "--chdir", str(where), "--", *argv]

    def mounts(self) -> list[tuple[str, str]]:
        """``(kind, path)`` in the order bwrap must apply them: outer before inner, and at
        the same depth hide, then re-expose read-only, then writable; then the hidden
        dirs made read-only, then /dev/null over the host's container sockets."""
        hidden = _existing_dirs([*home_dirs(), *_runtime_dirs(), *self.hidden])
        readonly = _existing_dirs([*self.readonly, *toolchain_dirs(hidden)])
        writable = _existing_dirs(self.writable)
        entries = [(0, Path("/tmp"))]  # a private /tmp; binds under it are re-added after
        entries += [(0, p) for p in hidden] + [(1, p) for p in readonly]
        entries += [(2, p) for p in writable]
        kinds = ("tmpfs", "ro-bind", "bind")
        ordered = sorted(dict.fromkeys(entries), key=lambda e: (len(e[1].parts), e[0]))
        mounts = [(kinds[order], str(path)) for order, path in ordered]
        # Empty and read-only once everything inside is in place, so a write there fails
        # loudly instead of vanishing with the tmpfs; a home stays writable (caches).
        keep = {*_existing_dirs(home_dirs()), *readonly, *writable}
        mounts += [("remount-ro", str(p)) for p in hidden if p not in keep]
        sockets = dict.fromkeys(os.path.realpath(p) for p in HOST_SOCKETS if os.path.exists(p))
        return mounts + [("null", p) for p in sockets]


def home_dirs() -> list[Path]:
    """The user's home: ``$HOME`` and the password database's, if they differ."""
    homes = [os.environ.get("HOME", "")]
    with contextlib.suppress(KeyError):
        homes.append(pwd.getpwuid(os.getuid()).pw_dir)
    return [Path(h) for h in homes if h and h != "/"]


def _runtime_dirs() -> list[Path]:
    """``$XDG_RUNTIME_DIR`` holds sockets (ssh-agent, the session bus, keyrings)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return [Path(runtime)]


def _existing_dirs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Each real (symlink-free) directory once, in order; what does not exist is skipped."""
    found: dict[Path, None] = {}
    for path in paths:
        real = Path(os.path.realpath(path))
        if real.is_dir() and real != Path("/"):
            found[real] = None
    return list(found)


def toolchain_dirs(hidden: Sequence[Path], path_env: str | None = None) -> list[Path]:
    """The install prefixes of the interpreter and the usual tools that hiding the home
    would otherwise take away (pyenv shims are shell scripts reading ``~/.pyenv``).

    Only directories in a home (or the private /tmp), never inside another hidden
    directory (the checkout, the state or config dir), never a home itself or anything
    holding a credential.
    """
    homes = _existing_dirs(home_dirs())
    secrets = [home / name for home in homes for name in NEVER_EXPOSED]
    path_env = os.environ.get("PATH", "") if path_env is None else path_env

    # The private /tmp hides what lives there too: a tool (or coffee-maker's own virtualenv,
    # whose uv builds the test environments) installed under /tmp must be seen again.
    private = [*homes, Path(os.path.realpath("/tmp"))]

    def allowed(candidate: Path) -> bool:
        if not any(h in candidate.parents for h in private):
            return False  # not in a home or /tmp: visible anyway, or never re-exposed
        if any(h in candidate.parents for h in hidden if h not in homes):
            return False  # inside the checkout, the state or the config dir
        for blocked in [*hidden, *homes, *secrets]:
            if candidate == blocked or candidate in blocked.parents:
                return False  # it would uncover a hidden dir, a home or a credential
            if blocked in secrets and blocked in candidate.parents:
                return False
        return True

    chosen: list[Path] = []
    for wanted in _tool_candidates(path_env):
        pick = next((c for c in wanted if allowed(c)), None)
        if pick is not None and pick not in chosen:
            chosen.append(pick)
    # A directory inside another chosen one adds nothing.
    return [c for c in chosen if not any(o in c.parents for o in chosen)]


def _tool_candidates(path_env: str) -> list[list[Path]]:
    """For each tool, where it lives: its install prefix first, then narrower fallbacks."""
    groups = [[Path(os.path.realpath(p))] for p in dict.fromkeys((sys.base_prefix, sys.prefix))]
    for entry in path_env.split(os.pathsep):
        if entry and os.path.isabs(entry):
            groups.append([Path(os.path.realpath(entry))])
    for tool in TOOLS:
        found = shutil.which(tool, path=path_env)
        if found is None:
            continue
        for exe in dict.fromkeys((Path(os.path.abspath(found)), Path(os.path.realpath(found)))):
            folder = exe.parent
            prefix = folder.parent if folder.name in _BIN_DIRS else folder
            groups.append([prefix, folder])
    return groups


@functools.cache
def bwrap_path() -> str:
    return shutil.which("bwrap") or "bwrap"


@functools.cache
def sandbox_problem() -> str | None:
    """None when bwrap can build the sandbox here; else one line saying why and the fix.

    A trial run with the real flags (namespaces, dropped capabilities, tmpfs over the
    home) answers it: bwrap can be installed and still fail, e.g. in a container that
    forbids user namespaces. Asked once per process.
    """
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux and bubblewrap ({sys.platform} is not supported): {FIX}"
    if shutil.which("bwrap") is None:
        return f"bwrap (bubblewrap) was not found on PATH: {FIX}"
    try:
        trial = subprocess.run(
            Sandbox().wrap(["true"], cwd="/"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not be run ({exc}): {FIX}"
    if trial.returncode != 0:
        detail = " ".join(trial.stderr.split())[:200] or f"exit code {trial.returncode}"
        return f"bwrap cannot create a sandbox here ({detail}): {FIX}"
    return None
