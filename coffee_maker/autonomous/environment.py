"""A test environment of the worktree's own, so the tests test the worktree.

A repository's tests verify the worktree only if the code they import is the worktree's.
Run from the user's checkout environment they are not: its editable install (a ``.pth``
file in the user's ``.venv``) points ``import pkg`` at the checkout, and its
``node_modules`` is not in the worktree at all. So before the model starts, the worktree
gets an environment of its own:

- Python: a virtualenv per repository and dependency hash under the user state directory
  (:mod:`coffee_maker.autonomous.environment_python`), the worktree installed into it
  editable, checked by asking where each top-level package is imported from.
- JavaScript: the lockfile's package manager installs ``node_modules`` in the worktree
  (:mod:`coffee_maker.autonomous.environment_node`).
- ``daemon.setup_command`` replaces both for any other stack.

Every command goes through an injected runner (the caller runs it in its sandbox, network
on); every failure is one :class:`EnvironmentBroken` line. What is recorded (steps, log
tail, messages) names paths relative to the worktree, because it may reach a public PR.
This module never decides what a failure means for the priority: its caller does.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coffee_maker.agent.commands import CommandResult, scrubbed_env
from coffee_maker.autonomous.git_ops import worktrees_dir
from coffee_maker.paths import package_cache_dir, user_state_dir
from coffee_maker.secrets import redact_text

#: Bump when what an environment contains changes, so old ones are rebuilt, not reused.
RECIPE = "1"
#: Characters of setup output kept in :attr:`TestEnvironment.log_tail`.
LOG_TAIL = 4000
#: Variables that would make Python look somewhere else than the environment we built.
PYTHON_LEAKS = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "PYTHONSTARTUP")

Runner = Callable[..., CommandResult]
"""``run(command: str | Sequence[str], *, cwd, env, timeout, network) -> CommandResult``.

A string runs through the shell, a sequence as an argument vector."""

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
#: How surely a line names the error, best first: a line that starts with one, a line
#: that mentions one, a line that describes a failure.
_ERROR_LINES = (
    re.compile(r"(?i)^\s*(?:[\w.]*error\b|npm err|fatal\b|\u00d7)"),
    re.compile(r"(?i)\b(?:error|ERR!|fatal)\b"),
    re.compile(r"(?i)not found|no such|cannot|could not|\bfailed\b|no matching|conflict"),
)


class EnvironmentBroken(Exception):
    """The worktree's test environment could not be prepared or does not test the worktree.

    ``str()`` is one line: the command, its exit code and its first error line.
    """


@dataclass(frozen=True)
class TestEnvironment:
    """What the test command needs to run against the worktree, and how it was made."""

    __test__ = False  # not a pytest test class, despite the name

    kind: str  # "python" | "node" | "custom" | "none"
    variables: dict[str, str]  # added to the test command's environment
    writable: tuple[Path, ...]  # kept writable by the sandbox while tests run
    key: str  # the dependency hash: part of the baseline's cache key
    reused: bool
    duration: float  # seconds
    steps: tuple[str, ...]  # what ran, paths relative to the worktree
    log_tail: str  # the end of the setup's output, ANSI stripped


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor sequences."""
    return _ANSI.sub("", text)


def first_error_line(output: str) -> str:
    """The line of ``output`` that best says what went wrong (else its last line)."""
    lines = [line.strip() for line in strip_ansi(output).splitlines() if line.strip()]
    found = (next((x for x in lines if pattern.search(x)), None) for pattern in _ERROR_LINES)
    chosen = next((x for x in found if x is not None), lines[-1] if lines else "no output")
    return chosen if len(chosen) <= 300 else chosen[:297] + "..."


def environments_dir(repo: str | os.PathLike[str]) -> Path:
    """``<user state dir>/envs/<repo>-<hash>/``: the virtualenvs of one repository.

    Named like the repository's worktree folder (see ``git_ops.worktrees_dir``), so
    one repository has one name everywhere under the state directory.
    """
    path = user_state_dir() / "envs" / worktrees_dir(repo).name
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def cache_dir(tool: str) -> Path:
    """A package manager's download cache under the user state dir (never the user's home).

    Shared by every repository: the same wheel or tarball is fetched once.
    """
    path = package_cache_dir() / tool
    path.mkdir(parents=True, exist_ok=True)
    return path


def dependency_hash(worktree: Path, files: Iterable[Path], *extra: str) -> str:
    """16 hex digits over the files' names and contents and ``extra`` (e.g. the Python)."""
    digest = hashlib.sha256(f"coffee-maker-env {RECIPE}\0".encode())
    for path in sorted(set(files)):
        digest.update(path.relative_to(worktree).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for item in extra:
        digest.update(b"\0" + item.encode())
    return digest.hexdigest()[:16]


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for setup commands: no secret, and no trace of another virtualenv.

    A ``VIRTUAL_ENV``/``PYTHONPATH`` inherited from the user's shell would make the
    installer or the tests look at the user's checkout instead of the worktree.
    """
    env = scrubbed_env()
    leaked = env.get("VIRTUAL_ENV")
    for name in PYTHON_LEAKS:
        env.pop(name, None)
    if leaked:
        env["PATH"] = without_dir(env.get("PATH", ""), Path(leaked) / "bin")
    env.update(extra or {})
    return env


def without_dir(path_list: str, directory: Path) -> str:
    return os.pathsep.join(p for p in path_list.split(os.pathsep) if p and Path(p) != directory)


def prepend_path(directory: Path, env: Mapping[str, str]) -> str:
    """``PATH`` with ``directory`` first (and nowhere else)."""
    rest = without_dir(env.get("PATH", os.defpath), directory)
    return f"{directory}{os.pathsep}{rest}" if rest else str(directory)


@dataclass
class Setup:
    """One preparation in progress: runs the steps, records them, turns failures into one line.

    ``public`` maps absolute paths to the names shown instead (the worktree is ``.``),
    longest first, so nothing recorded names a directory of the user's machine.
    """

    repo: Path
    worktree: Path
    runner: Runner
    deadline: float
    env: dict[str, str]
    steps: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.alias(Path.home(), "~")
        self.alias(user_state_dir(), "<state>")
        self.alias(self.repo, "<checkout>")
        self.alias(self.worktree, ".")

    def alias(self, path: Path, name: str) -> None:
        for form in {str(path), os.path.realpath(path)}:
            if form != os.sep:  # a service user's home may be "/"
                self.aliases[form] = name

    def public(self, text: str) -> str:
        """``text`` with every known absolute path replaced by its public name."""
        for path in sorted(self.aliases, key=len, reverse=True):
            name = self.aliases[path]
            text = re.sub(re.escape(path) + r"(?![\w.-])", lambda _m, n=name: n, text)
        return text

    def run(
        self,
        command: str | Sequence[str],
        *,
        shown: str | None = None,
        network: bool = True,
        check: bool = True,
        record: bool = True,
    ) -> CommandResult:
        """Run one step in the worktree; :class:`EnvironmentBroken` if it fails and ``check``."""
        display = self.public(
            shown or (command if isinstance(command, str) else shlex.join(command))
        )
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise EnvironmentBroken(f"setup ran out of time before `{display}`")
        if record:
            self.steps.append(display)
        result = self.runner(
            command if isinstance(command, str) else list(command),
            cwd=self.worktree,
            env=self.env,
            timeout=remaining,
            network=network,
        )
        output = self.public(strip_ansi(redact_text(result.output)))
        if record:
            self.output.append(f"$ {display}\n{output}".rstrip())
        if check and result.timed_out:
            raise EnvironmentBroken(f"`{display}` timed out after {result.duration:.3g} s")
        if check and result.exit_code != 0:
            raise EnvironmentBroken(
                f"`{display}` failed (exit {result.exit_code}): {first_error_line(output)}"
            )
        return result

    def log_tail(self) -> str:
        text = "\n".join(self.output)
        if len(text) <= LOG_TAIL:
            return text
        return f"[... {len(text) - LOG_TAIL} characters cut ...]\n{text[-LOG_TAIL:]}"


def require_program(name: str, env: Mapping[str, str], why: str) -> str:
    """The path of ``name`` on the setup's PATH, or :class:`EnvironmentBroken` naming it."""
    found = shutil.which(name, path=env.get("PATH"))
    if found is None:
        raise EnvironmentBroken(
            f"{name} is not installed (needed for {why}): install it, or set daemon.setup_command"
        )
    return found


def prepare_environment(
    repo: Path,
    worktree: Path,
    *,
    runner: Runner,
    setup_command: str | None = None,
    timeout: float = 900,
    language_hint: str | None = None,
) -> TestEnvironment:
    """Give ``worktree`` a test environment in which the code under test is its own.

    ``setup_command`` (``daemon.setup_command``) overrides all detection. Otherwise a
    Python project (pyproject/setup.py/setup.cfg/requirements) gets a virtualenv, a
    ``package.json`` gets ``node_modules``; ``language_hint`` ("python"/"node") picks one
    when a repository has both. Nothing detected is kind ``"none"``, at once.
    """
    # The language modules build on the pieces above, so they are imported here.
    from coffee_maker.autonomous import environment_node, environment_python

    started = time.monotonic()
    repo, worktree = Path(repo), Path(worktree)
    setup = Setup(
        repo=repo,
        worktree=worktree,
        runner=runner,
        deadline=started + timeout,
        env=base_env(_caches()),
    )
    if setup_command:
        return _custom(setup, setup_command, started)
    node = environment_node.is_node_project(worktree)
    if node and language_hint == "node":
        return environment_node.prepare(setup, started)
    if environment_python.is_python_project(worktree):
        return environment_python.prepare(setup, started)
    if node:
        return environment_node.prepare(setup, started)
    return TestEnvironment("none", {}, (), "none", False, time.monotonic() - started, (), "")


def _caches() -> dict[str, str]:
    """Where each package manager keeps its downloads: under the user state directory."""
    return {
        "UV_CACHE_DIR": str(cache_dir("uv")),
        # The sandbox binds the cache and the environments separately: a hard link
        # across two mounts fails, so say "copy" instead of a warning in every log.
        "UV_LINK_MODE": "copy",
        "PIP_CACHE_DIR": str(cache_dir("pip")),
        "npm_config_cache": str(cache_dir("npm")),
        "npm_config_store_dir": str(cache_dir("pnpm")),
        "YARN_CACHE_FOLDER": str(cache_dir("yarn")),
        "npm_config_update_notifier": "false",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def _custom(setup: Setup, command: str, started: float) -> TestEnvironment:
    """``daemon.setup_command``: run as given; a ``.venv`` or ``node_modules`` it made is used."""
    from coffee_maker.autonomous import environment_node, environment_python

    setup.run(command)
    variables: dict[str, str] = {}
    writable: tuple[Path, ...] = ()
    bins = []
    venv = setup.worktree / ".venv"
    if (venv / "bin" / "python").exists():
        bins.append(venv / "bin")
        variables["VIRTUAL_ENV"] = str(venv)
        writable = (venv,)
    if (setup.worktree / "node_modules" / ".bin").is_dir():
        bins.append(setup.worktree / "node_modules" / ".bin")
    path = setup.env.get("PATH", os.defpath)
    for directory in reversed(bins):
        path = prepend_path(directory, {"PATH": path})
    if bins:
        variables["PATH"] = path
    files = [
        *environment_python.dependency_files(setup.worktree),
        *environment_node.dependency_files(setup.worktree),
    ]
    key = dependency_hash(setup.worktree, files, "custom", command)
    return TestEnvironment(
        "custom",
        variables,
        writable,
        key,
        False,
        time.monotonic() - started,
        tuple(setup.steps),
        setup.log_tail(),
    )
