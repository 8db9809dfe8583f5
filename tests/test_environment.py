"""The worktree's own test environment, on faithful copies of real project layouts.

Each fixture reproduces a layout that made the tests verify the wrong code: a src-layout
library whose user checkout has its own ``.venv`` with an editable install (its ``.pth``
file sends ``import pkg`` to the checkout) and a hatch-vcs version file that exists only
after an install; a setup.py project tested by a root ``test.py``; an npm package whose
``npm test`` needs a devDependency's bin. Packages come from PyPI and the npm registry
at test time, through a cache shared by the whole session (and kept between sessions).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from coffee_maker.agent.commands import CommandResult, run_command
from coffee_maker.autonomous.environment import (
    EnvironmentBroken,
    TestEnvironment,
    base_env,
    environments_dir,
    prepare_environment,
)
from coffee_maker.autonomous.environment_python import MARKER, find_uv
from coffee_maker.autonomous.git_ops import create_worktree

HATCH_VCS_PYPROJECT = """\
[build-system]
requires = ["hatchling", "hatch-vcs"]
build-backend = "hatchling.build"

[project]
name = "shapes"
dynamic = ["version"]
requires-python = ">=3.9"

[project.optional-dependencies]
test = ["pytest"]
docs = ["this-package-does-not-exist-anywhere"]

[tool.hatch.version]
source = "vcs"

[tool.hatch.build.hooks.vcs]
version-file = "src/shapes/_version.py"
"""
SHAPES = """\
from shapes._version import __version__


def area(width, height):
    return width * height
"""
SHAPES_TESTS = """\
import shapes


def test_area():
    assert shapes.area(2, 3) == 6


def test_version_is_generated():
    assert shapes.__version__ == "1.4.0"
"""


class Runner:
    """Runs setup commands like the daemon does, without the sandbox; records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, command, *, cwd, env, timeout, network) -> CommandResult:
        text = command if isinstance(command, str) else shlex.join(command)
        self.calls.append((text, network))
        return run_command(text, cwd=cwd, timeout=timeout, output_limit=200_000, env=dict(env))


def git(cwd: Path, *args: str) -> str:
    identity = ("-c", "user.name=User", "-c", "user.email=user@example.com")
    proc = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def make_repo(root: Path, files: dict[str, str], tag: str | None = None) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    if tag:
        git(root, "tag", tag)
    return root


def worktree(repo: Path, n: int = 1) -> Path:
    return create_worktree(repo, f"PRIORITY {n}", "task").path


def run_in(env: TestEnvironment, cwd: Path, command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` the way the harness runs the test command: base env + variables."""
    return subprocess.run(
        command,
        shell=True,
        cwd=cwd,
        env={**base_env(), **env.variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_public(env: TestEnvironment, *private: Path) -> None:
    """Nothing recorded names a directory of this machine (it may reach a public PR)."""
    recorded = "\n".join([*env.steps, env.log_tail])
    for path in (*private, Path.home()):
        assert str(path) not in recorded, (str(path), recorded)


@pytest.fixture(autouse=True)
def setup_env(_isolated_environment, package_cache: Path, tmp_path: Path, monkeypatch) -> None:
    """Each test's state dir borrows the shared package cache; git has no user config."""
    (Path(os.environ["COFFEE_MAKER_HOME"]) / "cache").symlink_to(package_cache)
    (tmp_path / "gitconfig").write_text("[user]\n\tname = User\n\temail = user@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def uv() -> str:
    found = find_uv()
    assert found, "uv is a dependency of coffee-maker"
    return found


def test_src_layout_with_editable_install_in_the_checkout_tests_the_worktree(
    tmp_path: Path, package_cache: Path, uv: str
) -> None:
    checkout = make_repo(
        tmp_path / "shapes",
        {
            "pyproject.toml": HATCH_VCS_PYPROJECT,
            "src/shapes/__init__.py": SHAPES,
            "tests/test_shapes.py": SHAPES_TESTS,
            ".gitignore": ".venv/\nsrc/shapes/_version.py\n",
        },
        tag="v1.4.0",
    )
    # The user's own environment, as `uv venv && uv pip install -e .[test]` makes it.
    user_env = {**base_env(), "UV_CACHE_DIR": str(package_cache / "uv")}
    for command in ([uv, "venv", "-q", ".venv"], [uv, "pip", "install", "-q", "-e", ".[test]"]):
        subprocess.run(command, cwd=checkout, env=user_env, check=True)
    tree = worktree(checkout)
    where = "python -c 'import shapes; print(shapes.__file__)'"
    # The bug this prevents: the checkout's venv, run in the worktree, imports the checkout.
    leak = subprocess.run(
        f"{checkout}/.venv/bin/{where}", shell=True, cwd=tree, capture_output=True, text=True
    )
    assert leak.stdout.startswith(str(checkout / "src")), leak

    runner = Runner()
    env = prepare_environment(checkout, tree, runner=runner)

    assert (env.kind, env.reused) == ("python", False)
    assert Path(run_in(env, tree, where).stdout.strip()) == tree / "src/shapes/__init__.py"
    assert (tree / "src/shapes/_version.py").is_file()  # made by the install, not copied
    venv = environments_dir(checkout) / env.key
    assert env.variables["VIRTUAL_ENV"] == str(venv) and env.writable == (venv,)
    assert env.variables["PATH"].startswith(f"{venv}/bin:")
    assert any(step.startswith("uv pip install") and "-e '.[test]'" in step for step in env.steps)
    assert [net for command, net in runner.calls if "importlib" in command] == [False]
    assert_public(env, tmp_path, tree, checkout)

    assert run_in(env, tree, "pytest -q").returncode == 0
    # Change the code in the worktree only: the tests must see the change.
    init = tree / "src/shapes/__init__.py"
    init.write_text(init.read_text().replace("width * height", "width + height"))
    broken = run_in(env, tree, "pytest -q")
    assert broken.returncode == 1 and "1 failed, 1 passed" in broken.stdout, broken.stdout
    assert run_in(env, checkout, "pytest -q").returncode == 1  # same env: the worktree's code
    user = subprocess.run(
        [".venv/bin/python", "-m", "pytest", "-q"], cwd=checkout, capture_output=True
    )
    assert user.returncode == 0  # the user's checkout and environment are untouched


SETUP_PY = """\
from setuptools import setup

setup(
    name="tinycalc",
    version="0.3",
    packages=["tinycalc"],
    extras_require={"test": ["six"], "speed": ["this-package-does-not-exist-anywhere"]},
)
"""
ROOT_TEST = """\
import unittest

import six  # from the "test" extra
import tinycalc


class TestCalc(unittest.TestCase):
    def test_double(self):
        self.assertEqual(tinycalc.double(21), 42)


if __name__ == "__main__":
    unittest.main()
"""


def test_setup_py_project_with_a_root_test_py(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "tinycalc",
        {
            "setup.py": SETUP_PY,
            "tinycalc/__init__.py": "def double(x):\n    return 2 * x\n",
            "test.py": ROOT_TEST,
        },
    )
    tree = worktree(repo)
    env = prepare_environment(repo, tree, runner=Runner())

    assert env.kind == "python"
    assert any("-e '.[test]'" in step for step in env.steps), env.steps
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run_in(env, elsewhere, "python -c 'import tinycalc; print(tinycalc.__file__)'")
    assert Path(where.stdout.strip()) == tree / "tinycalc/__init__.py"  # from anywhere
    assert run_in(env, tree, "python test.py").returncode == 0
    (tree / "tinycalc/__init__.py").write_text("def double(x):\n    return x\n")
    assert run_in(env, tree, "python test.py").returncode == 1


def test_an_application_with_requirements_and_a_tools_only_pyproject(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "site",
        {
            "pyproject.toml": "[tool.ruff]\nline-length = 100\n",  # configures tools only
            "requirements.txt": "six\n",
            "app/__init__.py": "import six\n",
            "tests/test_app.py": "import app\n\ndef test_app():\n    assert app.six\n",
        },
    )
    tree = worktree(repo)
    env = prepare_environment(repo, tree, runner=Runner())
    install = next(step for step in env.steps if " install " in step)
    assert install.endswith("install --python <env>/bin/python -r requirements.txt pytest")
    assert run_in(env, tree, "python -m pytest -q").returncode == 0


UV_PROJECT = """\
[project]
name = "locked"
version = "0.1"
requires-python = ">=3.9"
dependencies = ["six"]

[dependency-groups]
test = ["iniconfig"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""


def test_a_uv_project_gets_the_versions_its_lockfile_pins(tmp_path, package_cache, uv):
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "pyproject.toml").write_text(UV_PROJECT)
    lock = [uv, "lock", "-q", "--exclude-newer", "2024-06-01"]  # six 1.16.0, not the newest
    subprocess.run(lock, cwd=seed, env={**base_env(), "UV_CACHE_DIR": str(package_cache / "uv")})
    repo = make_repo(
        tmp_path / "locked",
        {
            "pyproject.toml": UV_PROJECT,
            "uv.lock": (seed / "uv.lock").read_text(),
            "src/locked/__init__.py": "",
        },
    )
    tree = worktree(repo)
    env = prepare_environment(repo, tree, runner=Runner())

    assert "uv sync --frozen --group test" in env.steps
    versions = "python -c 'import iniconfig, locked, six; print(six.__version__, locked.__file__)'"
    six_version, where = run_in(env, tmp_path, versions).stdout.split()
    assert (six_version, Path(where)) == ("1.16.0", tree / "src/locked/__init__.py")


def test_an_installed_copy_that_shadows_the_worktree_stops_preparation(tmp_path: Path) -> None:
    # A requirements file frozen on the developer's machine installs the project itself
    # from another copy: `import shapes` would load that copy, not the worktree.
    other = make_repo(
        tmp_path / "other-copy",
        {
            "pyproject.toml": '[build-system]\nrequires = ["hatchling"]\n'
            'build-backend = "hatchling.build"\n[project]\nname = "shapes"\nversion = "1.0"\n',
            "shapes/__init__.py": "",
        },
    )
    repo = make_repo(
        tmp_path / "app",
        {"requirements.txt": f"shapes @ {other.as_uri()}\n", "shapes/__init__.py": ""},
    )
    tree = worktree(repo)
    with pytest.raises(EnvironmentBroken) as broken:
        prepare_environment(repo, tree, runner=Runner())
    message = str(broken.value)
    assert message.startswith("import shapes loads <env>/lib/python"), message
    assert "not the worktree" in message and "\n" not in message
    assert str(tmp_path) not in message


def test_npm_package_gets_node_modules_in_the_worktree(tmp_path: Path, package_cache: Path):
    package = {
        "name": "tiny",
        "version": "1.0.0",
        "scripts": {"test": "semver 1.2.3 && node test.js"},
        "devDependencies": {"semver": "7.7.3", "is-number": "7.0.0"},
    }
    files = {
        "package.json": json.dumps(package, indent=2) + "\n",
        "test.js": "const isNumber = require('is-number');\n"
        "if (!isNumber(5)) { process.exit(1); }\nconsole.log('ok');\n",
        ".gitignore": "node_modules/\n",
    }
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "package.json").write_text(files["package.json"])
    npm_env = {**base_env(), "npm_config_cache": str(package_cache / "npm")}
    lock = ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"]
    subprocess.run(lock, cwd=seed, env=npm_env, check=True, capture_output=True)
    files["package-lock.json"] = (seed / "package-lock.json").read_text()
    repo = make_repo(tmp_path / "tiny", files)
    tree = worktree(repo)
    # The bug this prevents: a fresh worktree has no node_modules, so `npm test` fails.
    assert subprocess.run("npm test", shell=True, cwd=tree, capture_output=True).returncode == 127

    env = prepare_environment(repo, tree, runner=Runner())

    assert (env.kind, env.reused, env.steps) == ("node", False, ("npm ci --no-audit --no-fund",))
    assert (tree / "node_modules/semver/package.json").is_file()
    assert env.variables["PATH"].startswith(f"{tree}/node_modules/.bin:")
    assert run_in(env, tree, "npm test").returncode == 0
    assert run_in(env, tree, "semver 2.0.0").stdout.strip() == "2.0.0"
    again = prepare_environment(repo, tree, runner=Runner())
    assert (again.reused, again.key, again.steps) == (True, env.key, ())
    assert_public(env, tmp_path, tree)


def test_a_missing_package_manager_is_named(tmp_path: Path, monkeypatch) -> None:
    repo = make_repo(
        tmp_path / "p",
        {"package.json": '{"name": "p", "version": "1.0.0"}\n', "pnpm-lock.yaml": "{}\n"},
    )
    tree = worktree(repo)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(subprocess.check_output(["which", "git"], text=True).strip())
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(EnvironmentBroken, match=r"^pnpm is not installed \(needed for pnpm-lock"):
        prepare_environment(repo, tree, runner=Runner())


LIB_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "reuse-me"
version = "0.1"

[tool.hatch.build.targets.wheel]
packages = ["src/reuse_me"]
"""


def test_an_environment_is_reused_until_the_dependencies_change(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "reuse-me",
        {"pyproject.toml": LIB_PYPROJECT, "src/reuse_me/__init__.py": "VALUE = 1\n"},
    )
    where = "python -c 'import reuse_me; print(reuse_me.__file__)'"
    first_tree = worktree(repo, 1)
    first = prepare_environment(repo, first_tree, runner=Runner())
    second_tree = worktree(repo, 2)
    second = prepare_environment(repo, second_tree, runner=Runner())
    print(f"\nfirst prepare {first.duration:.2f} s, reused {second.duration:.2f} s")

    assert (first.reused, second.reused, second.key) == (False, True, first.key)
    install, check = second.steps  # no venv made, no dependency installed
    assert install.startswith("uv pip install") and install.endswith("--no-deps -e .")
    assert check.startswith("python -c")
    # Re-pointed: the same venv now imports the second worktree.
    assert Path(run_in(second, tmp_path, where).stdout.strip()).is_relative_to(second_tree)

    # A build interrupted before its marker is not trusted: rebuilt, then marked.
    venv = environments_dir(repo) / first.key
    (venv / MARKER).unlink()
    rebuilt = prepare_environment(repo, second_tree, runner=Runner())
    assert (rebuilt.reused, rebuilt.key) == (False, first.key)
    assert any(step.startswith("uv venv") for step in rebuilt.steps)
    assert (venv / MARKER).is_file()

    # Changed dependencies: another venv; the two most recent are kept, older ones go.
    keys = [first.key]
    pyproject = second_tree / "pyproject.toml"
    for dependency in ("iniconfig", "six"):
        declared = f'version = "0.1"\ndependencies = ["{dependency}"]\n'
        pyproject.write_text(LIB_PYPROJECT.replace('version = "0.1"\n', declared))
        changed = prepare_environment(repo, second_tree, runner=Runner())
        assert changed.key not in keys and not changed.reused
        keys.append(changed.key)
    kept = sorted(p.name for p in environments_dir(repo).iterdir() if p.is_dir())
    assert kept == sorted(keys[1:])


def test_setup_command_replaces_detection(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "custom", {"pyproject.toml": LIB_PYPROJECT})
    tree = worktree(repo)
    command = "echo fetching tools && sleep 0.2 && mkdir -p build && touch build/ready"

    env = prepare_environment(repo, tree, runner=Runner(), setup_command=command)

    assert (env.kind, env.steps, env.variables) == ("custom", (command,), {})
    assert "fetching tools" in env.log_tail and env.duration >= 0.2
    assert (tree / "build/ready").is_file()
    assert not any(environments_dir(repo).iterdir())  # no venv: detection was skipped


def test_a_failing_setup_command_is_one_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "custom", {"README.md": "# x\n"})
    tree = worktree(repo)
    command = (
        "echo step one; printf '\\033[31merror: libfoo not found\\033[0m\\nmore\\n' >&2; exit 3"
    )

    with pytest.raises(EnvironmentBroken) as broken:
        prepare_environment(repo, tree, runner=Runner(), setup_command=command)

    assert str(broken.value) == f"`{command}` failed (exit 3): error: libfoo not found"


def test_nothing_to_prepare(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "plain", {"README.md": "# x\n", "main.go": "package main\n"})
    runner = Runner()
    started = time.monotonic()
    env = prepare_environment(repo, worktree(repo), runner=runner)
    assert (env.kind, env.variables, env.steps, runner.calls) == ("none", {}, (), [])
    assert time.monotonic() - started < 2


def test_without_uv_the_environment_is_made_with_venv_and_pip(tmp_path: Path, monkeypatch):
    import uv as uv_package

    def no_uv() -> str:
        raise FileNotFoundError("uv")

    monkeypatch.setattr(uv_package, "find_uv_bin", no_uv)
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "uv").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    repo = make_repo(
        tmp_path / "reuse-me",
        {"pyproject.toml": LIB_PYPROJECT, "src/reuse_me/__init__.py": "VALUE = 1\n"},
    )
    where = "python -c 'import reuse_me; print(reuse_me.__file__)'"
    first = prepare_environment(repo, worktree(repo, 1), runner=Runner())
    second_tree = worktree(repo, 2)
    second = prepare_environment(repo, second_tree, runner=Runner())

    assert first.steps[0] == "python -m venv <env>"
    assert first.steps[1] == "<env>/bin/python -m pip install -e . pytest"
    assert (second.reused, second.steps[0]) == (
        True,
        "<env>/bin/python -m pip install --no-deps -e .",
    )
    assert Path(run_in(second, tmp_path, where).stdout.strip()).is_relative_to(second_tree)
    assert run_in(second, tmp_path, "pytest --version").returncode == 0


def test_a_setup_that_takes_too_long_is_stopped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "slow", {"README.md": "# x\n"})
    started = time.monotonic()
    with pytest.raises(EnvironmentBroken, match=r"^`sleep 30` timed out after 0\.\d+ s$"):
        prepare_environment(
            repo, worktree(repo), runner=Runner(), setup_command="sleep 30", timeout=0.5
        )
    assert time.monotonic() - started < 10


def test_language_hint_picks_node_in_a_mixed_repository(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "mixed",
        {"pyproject.toml": LIB_PYPROJECT, "package.json": '{"name": "m", "version": "1.0.0"}\n'},
    )
    tree = worktree(repo)
    env = prepare_environment(repo, tree, runner=Runner(), language_hint="node")
    assert (env.kind, env.steps) == (
        "node",
        ("npm install --no-audit --no-fund --no-package-lock",),
    )
    assert not (tree / "package-lock.json").exists()  # nothing the model did not write
