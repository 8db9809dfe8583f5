"""How a repository's tests are run, found from the files it has.

The first rule that matches wins (docs/VERIFICATION.md says the same for users):

1. pytest is configured: ``pytest.ini``; ``pyproject.toml`` ``[tool.pytest.ini_options]`` or
   ``[tool.pytest]``; ``tox.ini`` ``[pytest]``; ``setup.cfg`` ``[tool:pytest]``; a root
   ``conftest.py`` → ``python -m pytest``.
2. A root ``test.py`` or ``runtests.py`` → ``python test.py``: the project's own entry point
   beats the mere presence of test files, which it may run itself. A root ``test.py``
   without a ``__main__`` block would run nothing as a script, so pytest runs it instead.
3. Test files ``test_*.py`` / ``*_test.py`` anywhere (a bounded walk that skips ``.git``,
   ``node_modules``, virtualenvs, ``build``, ``dist`` and hidden directories) →
   ``python -m pytest`` (pytest runs unittest tests too).
4. tox (``tox.ini`` with ``[tox]``/``[testenv]``, ``tox.toml``, ``pyproject.toml``
   ``[tool.tox]``, ``setup.cfg`` ``[tox:tox]``) → ``tox``; nox (``noxfile.py``) → ``nox``.
5. ``package.json`` ``scripts.test`` (not npm's placeholder) → ``npm``/``pnpm``/``yarn test``,
   chosen by the ``packageManager`` field, else by the lockfile.
6. ``go.mod`` → ``go test ./...``; 7. ``Cargo.toml`` → ``cargo test``;
8. a Makefile with a ``test`` target → ``make test``.

Commands name a bare ``python``: whoever runs them puts the test environment's ``bin``
first on ``PATH``. Every file read here comes from the repository, so it is untrusted: a
broken TOML, INI or JSON file is skipped (that rule does not match), never a crash.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coffee_maker.config import AppConfig

#: Directories never searched for test files (plus every hidden directory).
SKIP_DIRS = frozenset(
    {
        "node_modules",
        "venv",
        "build",
        "dist",
        "site-packages",
        "__pycache__",
    }
)
#: How many directory entries the walk for test files looks at before giving up.
MAX_WALK_ENTRIES = 20_000
#: How deep below the root the walk goes.
MAX_WALK_DEPTH = 8
#: Files larger than this are not parsed (a config file is small).
MAX_CONFIG_BYTES = 2_000_000

_NPM_PLACEHOLDER = "no test specified"
_LOCKFILES = (
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
)
_MAKEFILES = ("GNUmakefile", "makefile", "Makefile")


@dataclass(frozen=True)
class TestPlan:
    """How to run a repository's tests, and why this way (``reason`` is shown to users)."""

    __test__ = False  # not a pytest test class, despite the name

    command: str
    runner: str  # pytest | script | tox | nox | npm | pnpm | yarn | go | cargo | make
    reason: str
    language: str  # python | node | go | rust | other


def detect_tests(root: Path) -> TestPlan | None:
    """The test plan for the repository at ``root``; None when no rule matches."""
    for rule in (
        _pytest_configured,
        _root_script,
        _python_test_files,
        _tox_or_nox,
        _package_json,
        _go_or_cargo,
        _makefile,
    ):
        plan = rule(root)
        if plan is not None:
            return plan
    return None


def _printable(text: str) -> str:
    """A file or field name fit for the one-line reason (names may hold any character)."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _read_text(path: Path) -> str | None:
    """The file's text, or None when it is absent, not a regular file, or too large."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _toml(path: Path) -> dict[str, Any] | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _ini_sections(path: Path) -> set[str]:
    """The section names of an INI file; empty when it is absent or does not parse."""
    text = _read_text(path)
    if text is None:
        return set()
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=path.name)
    except configparser.Error:
        return set()
    return set(parser.sections())


def _tool_table(pyproject: dict[str, Any] | None, name: str) -> bool:
    tool = (pyproject or {}).get("tool")
    return isinstance(tool, dict) and name in tool


def _pytest(reason: str, target: str = "") -> TestPlan:
    command = f"python -m pytest {target}".rstrip()
    return TestPlan(command, "pytest", reason, "python")


def _pytest_configured(root: Path) -> TestPlan | None:
    if (root / "pytest.ini").is_file():
        return _pytest("pytest configured in pytest.ini")
    pyproject = _toml(root / "pyproject.toml")
    tool = (pyproject or {}).get("tool")
    pytest_table = tool.get("pytest") if isinstance(tool, dict) else None
    if isinstance(pytest_table, dict):
        key = "ini_options" if "ini_options" in pytest_table else None
        table = f"[tool.pytest.{key}]" if key else "[tool.pytest]"
        return _pytest(f"pytest configured in pyproject.toml {table}")
    if "pytest" in _ini_sections(root / "tox.ini"):
        return _pytest("pytest configured in tox.ini [pytest]")
    if "tool:pytest" in _ini_sections(root / "setup.cfg"):
        return _pytest("pytest configured in setup.cfg [tool:pytest]")
    if (root / "conftest.py").is_file():
        return _pytest("pytest configured by conftest.py at the root")
    return None


def _root_script(root: Path) -> TestPlan | None:
    for name in ("test.py", "runtests.py"):
        text = _read_text(root / name)
        if text is None:
            continue
        if "__main__" in text:
            return TestPlan(f"python {name}", "script", f"root {name} runs the tests", "python")
        return _pytest(f"root {name} has no __main__ block: pytest runs it", name)
    return None


def _is_test_file(name: str) -> bool:
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _searchable(directory: Path) -> bool:
    """Hidden directories, build output and virtualenvs (any name) hold no project tests."""
    name = directory.name
    if name.startswith(".") or name in SKIP_DIRS or name.endswith(".egg-info"):
        return False
    return not (directory / "pyvenv.cfg").exists()


def find_test_file(root: Path) -> Path | None:
    """The shallowest Python test file under ``root`` (breadth first, bounded), if any."""
    queue: deque[tuple[Path, int]] = deque([(root, 0)])
    seen = 0
    while queue:
        directory, depth = queue.popleft()
        try:
            entries = sorted(directory.iterdir(), key=lambda p: p.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            seen += 1
            if seen > MAX_WALK_ENTRIES:
                return None
            if entry.is_symlink():
                continue  # a link may leave the repository or loop
            if entry.is_dir():
                if _searchable(entry):
                    subdirs.append(entry)
            elif _is_test_file(entry.name) and entry.is_file():
                return entry
        if depth < MAX_WALK_DEPTH:
            queue.extend((sub, depth + 1) for sub in subdirs)
    return None


def _python_test_files(root: Path) -> TestPlan | None:
    found = find_test_file(root)
    if found is None:
        return None
    relative = found.relative_to(root)
    pattern = "test_*.py" if found.name.startswith("test_") else "*_test.py"
    where = f"{relative.parent.as_posix()}/{pattern}" if relative.parent.parts else pattern
    return _pytest(f"test files {_printable(where)} found (pytest runs unittest tests too)")


def _tox_or_nox(root: Path) -> TestPlan | None:
    sections = _ini_sections(root / "tox.ini")
    if "tox" in sections or any(s.startswith("testenv") for s in sections):
        return TestPlan("tox", "tox", "tox configured in tox.ini", "python")
    if _toml(root / "tox.toml") is not None:
        return TestPlan("tox", "tox", "tox configured in tox.toml", "python")
    if _tool_table(_toml(root / "pyproject.toml"), "tox"):
        return TestPlan("tox", "tox", "tox configured in pyproject.toml [tool.tox]", "python")
    if "tox:tox" in _ini_sections(root / "setup.cfg"):
        return TestPlan("tox", "tox", "tox configured in setup.cfg [tox:tox]", "python")
    if (root / "noxfile.py").is_file():
        return TestPlan("nox", "nox", "nox configured in noxfile.py", "python")
    return None


def _package_json(root: Path) -> TestPlan | None:
    text = _read_text(root / "package.json")
    if text is None:
        return None
    try:
        package = json.loads(text)
    except ValueError:
        return None
    scripts = package.get("scripts") if isinstance(package, dict) else None
    test = scripts.get("test") if isinstance(scripts, dict) else None
    if not isinstance(test, str) or not test.strip() or _NPM_PLACEHOLDER in test:
        return None
    manager, why = _package_manager(root, package.get("packageManager"))
    return TestPlan(f"{manager} test", manager, f"package.json scripts.test, {why}", "node")


def _package_manager(root: Path, field: object) -> tuple[str, str]:
    """Which of npm/pnpm/yarn runs the scripts, and the file or field that says so."""
    if isinstance(field, str):
        name = field.split("@", 1)[0].strip()
        if name in ("npm", "pnpm", "yarn"):
            return name, f"packageManager {_printable(field)[:40]}"
    for lockfile, manager in _LOCKFILES:
        if (root / lockfile).is_file():
            return manager, f"{lockfile} present"
    return "npm", "no lockfile (npm)"


def _go_or_cargo(root: Path) -> TestPlan | None:
    if (root / "go.mod").is_file():
        return TestPlan("go test ./...", "go", "go.mod at the root", "go")
    if (root / "Cargo.toml").is_file():
        return TestPlan("cargo test", "cargo", "Cargo.toml at the root", "rust")
    return None


def has_make_target(text: str, target: str) -> bool:
    """Whether a Makefile's text defines ``target`` (a rule line, not a variable)."""
    for line in text.splitlines():
        if not line or line[0] in "\t #":
            continue
        head, colon, rest = line.partition(":")
        if not colon or "=" in head or rest.startswith("="):
            continue
        if target in head.split():
            return True
    return False


def _makefile(root: Path) -> TestPlan | None:
    for name in _MAKEFILES:
        text = _read_text(root / name)
        if text is not None and has_make_target(text, "test"):
            return TestPlan("make test", "make", f"{name} has a test target", "other")
    return None


_PYTEST = re.compile(r"(^|[\s/])(py\.test|pytest)(\s|$)|-m\s+pytest\b")


@dataclass(frozen=True)
class TestPlanChoice:
    """The test command a run uses and why (``--dry-run`` and the PR body say it)."""

    command: str | None
    runner: str | None
    reason: str


def choose_tests(config: AppConfig, root: Path) -> TestPlanChoice:
    """``daemon.test_command`` when set, else what detection finds in ``root``."""
    configured = config.daemon.test_command
    if configured:
        runner = "pytest" if _PYTEST.search(configured) else None
        return TestPlanChoice(configured, runner, "daemon.test_command")
    plan = detect_tests(root)
    if plan is None:
        return TestPlanChoice(None, None, "no test command configured or detected")
    return TestPlanChoice(plan.command, plan.runner, plan.reason)
