"""The Python test environment: one virtualenv per repository and dependency hash.

The venv lives under ``environments_dir(repo)/<hash>``, not in the worktree, so the next
iteration's worktree reuses it: when the dependency files and the interpreter are
unchanged only the editable install is pointed at the new worktree, which also rebuilds
what a build step generates (a hatch-vcs / setuptools-scm ``_version.py`` exists because
the project is installed, not because it is in git). A venv counts only once a marker
says every step of it succeeded; a half-built one is thrown away and rebuilt.

Then the check that motivates all this: where does ``import pkg`` come from? If any
top-level package of the project resolves outside the worktree (an editable install of
the user's checkout, a copy in site-packages), the tests would verify the wrong code, so
preparation stops with :class:`EnvironmentBroken` instead.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import shutil
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.atomic_files import locked
from coffee_maker.autonomous.environment import (
    EnvironmentBroken,
    Setup,
    TestEnvironment,
    dependency_hash,
    environments_dir,
    prepend_path,
)
from coffee_maker.autonomous.state import atomic_write_json, now_iso

#: Written last, atomically: the venv is complete and may be reused.
MARKER = "coffee-maker-env.json"
#: Environments kept per repository (the current one and the one before it).
KEEP = 2
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
LOCK_FILES = ("uv.lock", "poetry.lock", "Pipfile.lock", "pdm.lock")
TEST_EXTRAS = ("test", "tests", "testing", "dev")
TEST_GROUPS = ("test", "tests", "dev")
TEST_REQUIREMENTS = (
    "requirements-dev.txt",
    "requirements-test.txt",
    "requirements-tests.txt",
    "test-requirements.txt",
    "dev-requirements.txt",
)
#: Root folders that hold no importable code of the project itself.
NOT_PACKAGES = {"tests", "test", "testing", "docs", "doc", "examples", "example", "build"}
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_CHECK_TAG = "coffee-maker-import-check: "
# Where each name would be imported from, without importing (running) anything. The
# working directory is looked at only when nothing installed provides the name: a
# project that is not installable is imported from its root, like pytest would.
_CHECK_SCRIPT = f"""
import importlib.util, json, os, sys
here = os.getcwd()
sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here]
found = {{}}
for name in sys.argv[1:]:
    try:
        spec = importlib.util.find_spec(name)
        if spec is None:
            sys.path.insert(0, here)
            spec = importlib.util.find_spec(name)
            sys.path.pop(0)
    except Exception:
        found[name] = None
        continue
    where = spec and (spec.origin if spec.origin not in (None, "namespace")
                      else next(iter(spec.submodule_search_locations or []), None))
    found[name] = os.path.realpath(where) if where else None
print({_CHECK_TAG!r} + json.dumps(found))
"""


def is_python_project(worktree: Path) -> bool:
    return any((worktree / name).is_file() for name in PROJECT_FILES) or any(
        worktree.glob("requirements*.txt")
    )


def dependency_files(worktree: Path) -> list[Path]:
    """The files whose content decides what the venv holds (the hash is over these)."""
    named = [worktree / name for name in (*PROJECT_FILES, *LOCK_FILES)]
    found = [*named, *worktree.glob("requirements*.txt"), *worktree.glob("requirements/*.txt")]
    return sorted({path for path in found if path.is_file()})


def find_uv() -> str | None:
    """The ``uv`` binary of the ``uv`` package (a dependency), else one on PATH."""
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def prepare(setup: Setup, started: float) -> TestEnvironment:
    """Build or reuse the venv, install the worktree into it, and check the imports."""
    worktree = setup.worktree
    uv = find_uv()
    if uv:
        setup.alias(Path(uv), "uv")
    interpreter = _interpreter(setup, uv)
    setup.alias(Path(interpreter), Path(interpreter).name)
    real = Path(os.path.realpath(interpreter))
    stat = real.stat()
    key = dependency_hash(
        worktree,
        dependency_files(worktree),
        "uv" if uv else "pip",
        str(real),
        f"{stat.st_size}:{stat.st_mtime_ns}",
    )
    root = environments_dir(setup.repo)
    venv = root / key
    setup.alias(venv, "<env>")
    python = venv / "bin" / "python"
    wait = max(0.0, setup.deadline - time.monotonic())  # a negative timeout waits forever
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(locked(root / f"{key}.lock", timeout=wait))
        except TimeoutError:
            raise EnvironmentBroken(
                f"{setup.public(str(venv))} stayed busy: another process is preparing it"
            ) from None
        reused = (venv / MARKER).is_file() and python.exists()
        if reused:
            if _installable(worktree):
                _repoint(setup, uv, python)
            os.utime(venv / MARKER)
        else:
            shutil.rmtree(venv, ignore_errors=True)
            _build(setup, uv, interpreter, venv)
        _check_imports(setup, python)
        if not reused:
            marker = {"key": key, "installer": "uv" if uv else "pip", "created_at": now_iso()}
            atomic_write_json(venv / MARKER, marker)
    _prune(root, keep=venv)
    variables = {
        "PATH": prepend_path(venv / "bin", setup.env),
        "VIRTUAL_ENV": str(venv),
        # Empty is the same as unset to Python: a PYTHONPATH from the daemon's own
        # environment must not put another copy of the code in front of the worktree.
        "PYTHONPATH": "",
        "PYTHONHOME": "",
    }
    return TestEnvironment(
        "python",
        variables,
        (venv,),
        key,
        reused,
        time.monotonic() - started,
        tuple(setup.steps),
        setup.log_tail(),
    )


def _interpreter(setup: Setup, uv: str | None) -> str:
    """The Python the project asks for (``.python-version``, ``requires-python``), via uv."""
    if uv is None:
        return sys.executable
    result = setup.run([uv, "python", "find"], network=False, record=False, check=False)
    lines = result.output.strip().splitlines()
    if result.exit_code != 0 or not lines or not Path(lines[-1]).is_file():
        return sys.executable
    return lines[-1]


def _build(setup: Setup, uv: str | None, interpreter: str, venv: Path) -> None:
    """A new venv with the worktree, its test dependencies and pytest installed."""
    python = venv / "bin" / "python"
    if uv is None:
        setup.run([interpreter, "-m", "venv", str(venv)])
        setup.run(_installer(uv, python, *install_arguments(setup.worktree)))
        return
    setup.run([uv, "venv", str(venv), "--python", interpreter, "--quiet"])
    if (setup.worktree / "uv.lock").is_file() and "project" in _pyproject(setup.worktree):
        # The project pins its environment in uv.lock: install exactly that, not the
        # newest versions its requirements allow (its CI tests the locked ones).
        setup.env["UV_PROJECT_ENVIRONMENT"] = str(venv)
        setup.run([uv, "sync", "--frozen", *sync_arguments(setup.worktree)])
        setup.run(_installer(uv, python, "pytest"))
    else:
        setup.run(_installer(uv, python, *install_arguments(setup.worktree)))


def sync_arguments(worktree: Path) -> list[str]:
    """``uv sync`` options for the test extras and dependency groups the project declares."""
    arguments: list[str] = []
    for extra in test_extras(worktree):
        arguments += ["--extra", extra]
    groups = _pyproject(worktree).get("dependency-groups")
    for group in TEST_GROUPS if isinstance(groups, dict) else ():
        if group in groups:
            arguments += ["--group", group]
    return arguments


def _repoint(setup: Setup, uv: str | None, python: Path) -> None:
    """Install the new worktree editable into the venv, dependencies left as they are.

    uv first tries its cache alone: the build backend was cached when the venv was made,
    and revalidating every build requirement with the index costs more than the build.
    """
    if uv:
        offline = _installer(uv, python, "--offline", "--no-deps", "-e", ".")
        if setup.run(offline, check=False).exit_code == 0:
            return
    setup.run(_installer(uv, python, "--no-deps", "-e", "."))


def _installer(uv: str | None, python: Path, *arguments: str) -> list[str]:
    if uv:
        return [uv, "pip", "install", "--python", str(python), *arguments]
    return [str(python), "-m", "pip", "install", *arguments]


def _installable(worktree: Path) -> bool:
    """Whether the worktree is a package pip/uv can install (a pyproject.toml that only
    configures tools, as many applications have, is not)."""
    pyproject = _pyproject(worktree)
    return (
        (worktree / "setup.py").is_file() or "project" in pyproject or "build-system" in pyproject
    )


def install_arguments(worktree: Path) -> list[str]:
    """The worktree editable with its test extras, the test requirements, and pytest.

    ``pytest`` is always asked for: with a resolver, a project's own pin of it wins,
    and a project without it gets the runner its tests are most likely written for.
    """
    arguments: list[str] = []
    if _installable(worktree):
        extras = test_extras(worktree)
        arguments += ["-e", f".[{','.join(extras)}]" if extras else "."]
    requirement_files = [
        *(p for p in [worktree / "requirements.txt"] if p.is_file()),
        *(worktree / name for name in TEST_REQUIREMENTS if (worktree / name).is_file()),
        *sorted((worktree / "requirements").glob("test*.txt")),
        *sorted((worktree / "requirements").glob("dev*.txt")),
    ]
    for path in requirement_files:
        arguments += ["-r", path.relative_to(worktree).as_posix()]
    arguments += group_requirements(worktree)
    arguments.append("pytest")
    return arguments


def _pyproject(worktree: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((worktree / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _setup_cfg(worktree: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    with contextlib.suppress(OSError, UnicodeDecodeError, configparser.Error):
        parser.read(worktree / "setup.cfg", encoding="utf-8")
    return parser


def _setup_py(worktree: Path) -> str:
    try:
        return (worktree / "setup.py").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def test_extras(worktree: Path) -> list[str]:
    """The optional-dependency names for testing the project declares, in any of its files."""
    declared: set[str] = set()
    project = _pyproject(worktree).get("project")
    if isinstance(project, dict) and isinstance(project.get("optional-dependencies"), dict):
        declared |= set(project["optional-dependencies"])
    cfg = _setup_cfg(worktree)
    if cfg.has_section("options.extras_require"):
        declared |= set(cfg.options("options.extras_require"))
    if match := re.search(r"extras_require\s*=\s*\{(.*?)\}", _setup_py(worktree), re.DOTALL):
        declared |= set(re.findall(r"""['"]([\w.-]+)['"]\s*:""", match.group(1)))
    return sorted(name for name in declared if name.lower() in TEST_EXTRAS and _NAME.match(name))


def group_requirements(worktree: Path) -> list[str]:
    """The requirements of the PEP 735 test/dev dependency groups, includes expanded.

    Expanded here rather than passed as ``--group`` so pip (the fallback) gets them too.
    Entries that would read as an option (``-...``) are dropped: the file is untrusted.
    """
    groups = _pyproject(worktree).get("dependency-groups")
    if not isinstance(groups, dict):
        return []
    requirements: list[str] = []

    def expand(name: str, seen: set[str]) -> None:
        if name in seen or not isinstance(groups.get(name), list):
            return
        seen.add(name)
        for entry in groups[name]:
            if isinstance(entry, str) and entry.strip() and not entry.lstrip().startswith("-"):
                requirements.append(entry.strip())
            elif isinstance(entry, dict) and isinstance(entry.get("include-group"), str):
                expand(entry["include-group"], seen)

    for name in TEST_GROUPS:
        expand(name, set())
    return list(dict.fromkeys(requirements))


def top_level_names(worktree: Path) -> list[str]:
    """The project's importable top-level packages and modules, found on disk and in config."""
    names: list[str] = []
    for base in (worktree / "src", worktree):
        for init in sorted(base.glob("*/__init__.py")):
            name = init.parent.name
            if name.isidentifier() and name.lower() not in NOT_PACKAGES:
                names.append(name)
    tool = _pyproject(worktree).get("tool")
    setuptools = tool.get("setuptools") if isinstance(tool, dict) else None
    if isinstance(setuptools, dict) and isinstance(setuptools.get("py-modules"), list):
        names += [m for m in setuptools["py-modules"] if isinstance(m, str)]
    cfg = _setup_cfg(worktree)
    if cfg.has_option("options", "py_modules"):
        names += cfg.get("options", "py_modules").replace(",", " ").split()
    if match := re.search(r"py_modules\s*=\s*\[([^\]]*)\]", _setup_py(worktree)):
        names += re.findall(r"""['"]([\w.]+)['"]""", match.group(1))
    valid = [n for n in names if n.isidentifier() and n.lower() not in NOT_PACKAGES]
    return list(dict.fromkeys(valid))[:20]


def _check_imports(setup: Setup, python: Path) -> None:
    """:class:`EnvironmentBroken` when a package of the project loads from outside the worktree."""
    names = top_level_names(setup.worktree)
    if not names:
        return
    result = setup.run(
        [str(python), "-c", _CHECK_SCRIPT, *names],
        shown=f"python -c '<where is import {' '.join(names)} from>'",
        network=False,
    )
    line = next((x for x in result.output.splitlines() if x.startswith(_CHECK_TAG)), None)
    if line is None:
        raise EnvironmentBroken(f"the import check printed nothing: {result.output[-200:]!r}")
    found: dict[str, str | None] = json.loads(line[len(_CHECK_TAG) :])
    inside = os.path.realpath(setup.worktree) + os.sep
    for name, where in found.items():
        if where is not None and not where.startswith(inside):
            raise EnvironmentBroken(
                f"import {name} loads {setup.public(where)}, not the worktree: an installed"
                " copy shadows the worktree's code, so its tests would test something else"
            )


def _prune(root: Path, keep: Path) -> None:
    """Delete all but the :data:`KEEP` most recently used venvs (never ``keep``, never busy)."""
    venvs = [p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"[0-9a-f]{16}", p.name)]

    def last_used(path: Path) -> float:
        marker = path / MARKER
        return (marker if marker.exists() else path).stat().st_mtime

    others = sorted((p for p in venvs if p != keep), key=last_used, reverse=True)
    for old in others[KEEP - 1 :]:
        try:
            with locked(root / f"{old.name}.lock", timeout=0):
                shutil.rmtree(old, ignore_errors=True)
        except TimeoutError:
            continue  # another process is building or using it
