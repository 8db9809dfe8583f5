"""Real repository layouts, end to end through ``code-developer --once``: the verdict is true.

Each repository reproduces a layout on which the first round lied: a src-layout library
with a dynamic (hatch-vcs) version whose user's checkout has its own ``.venv`` with an
editable install (the false pass: tests imported the checkout, not the worktree); a
setup.py project whose tests are a root ``test.py`` (nothing was detected: "done"); an npm
package whose ``npm test`` needs its devDependencies (the model was blamed for a missing
``node_modules``); a base branch that already fails a test; a suite that collects nothing.
The model is scripted (FakeOpenAI through the real openai SDK); packages come from PyPI
and the npm registry at test time, through one cache shared by the session.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import (
    CODE_DEVELOPER,
    GITHUB_REPO,
    GITHUB_TOKEN,
    MODEL,
    MODEL_KEY,
    Project,
    git,
    turn,
)

from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI

ROADMAP = """\
# Roadmap

## PRIORITY 1: Add the feature 📝

**Status**: 📝 Planned

Add the function the tests ask for.
"""

BRANCH = "coffee-maker/priority-1-add-the-feature"


@dataclasses.dataclass
class Run:
    project: Project
    model: FakeOpenAI
    github: FakeGitHub


@pytest.fixture
def make_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package_cache: Path
) -> Iterator[callable]:
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("COFFEE_MAKER_CACHE", str(package_cache))
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as model,
        FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN) as github,
    ):

        def make(files: dict[str, str], *, tag: str | None = None, **daemon: object) -> Run:
            project = _repository(tmp_path, files, tag)
            project.write_config(model.url, github.url, daemon={"test_command": None, **daemon})
            return Run(project, model, github)

        yield make


def _repository(root: Path, files: dict[str, str], tag: str | None) -> Project:
    """``files`` committed on main, pushed to a bare origin, and the user's clone of it."""
    seed, origin, checkout = root / "seed", root / "origin.git", root / "checkout"
    for name, text in {**files, "ROADMAP.md": ROADMAP}.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(textwrap.dedent(text))
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "the project")
    if tag:
        git(seed, "tag", tag)
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    git(seed, "push", "-q", "--tags", str(origin), "main")
    git(root, "clone", "-q", str(origin), str(checkout))
    return Project(root, origin, checkout, root / "config.yaml", root / "home")


def _pull(run: Run) -> tuple[bool, str]:
    assert len(run.github.pulls) == 1, run.github.pulls
    pull = run.github.pulls[0]
    return pull.draft, pull.body or ""


def _record(run: Run) -> dict[str, object]:
    return run.project.state()["priorities"]["PRIORITY 1"]


def _public(body: str, run: Run) -> None:
    """A PR body is public: no local path, no terminal escape."""
    for local in (run.project.root, run.project.home, Path.home()):
        assert str(local) not in body
    assert "\x1b" not in body


# -- a src-layout library: the user's editable install must not stand in for the worktree ---

SHAPES = {
    "pyproject.toml": """\
        [build-system]
        requires = ["hatchling", "hatch-vcs"]
        build-backend = "hatchling.build"

        [project]
        name = "shapes"
        dynamic = ["version"]
        requires-python = ">=3.9"

        [project.optional-dependencies]
        test = ["pytest"]

        [tool.hatch.version]
        source = "vcs"

        [tool.hatch.build.hooks.vcs]
        version-file = "src/shapes/_version.py"

        [tool.pytest.ini_options]
        testpaths = ["tests"]
        addopts = "--color=yes"
        """,
    ".gitignore": "src/shapes/_version.py\n.venv/\n",
    "src/shapes/__init__.py": """\
        from shapes._version import __version__


        def area(width, height):
            return width * height
        """,
    "tests/test_shapes.py": """\
        import shapes


        def test_area():
            assert shapes.area(2, 3) == 6


        def test_version_is_generated():
            assert shapes.__version__.startswith("0.1")
        """,
}
PERIMETER = """\
from shapes._version import __version__


def area(width, height):
    return width * height


def perimeter(width, height):
    return 2 * (width + height)
"""
PERIMETER_TEST = """\
import shapes


def test_perimeter():
    assert shapes.perimeter(2, 3) == 10
"""


def _user_editable_install(checkout: Path, cache: Path) -> None:
    """The user's own ``.venv``, with the checkout installed editable (a ``.pth`` file)."""
    from uv import find_uv_bin

    uv = find_uv_bin()
    env = {**os.environ, "UV_CACHE_DIR": str(cache / "uv")}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([uv, "venv", "-q", ".venv"], cwd=checkout, env=env, check=True)
    env["VIRTUAL_ENV"] = str(checkout / ".venv")
    subprocess.run([uv, "pip", "install", "-q", "-e", ".[test]"], cwd=checkout, env=env, check=True)


def _shapes_change(source: str) -> list:
    return [
        turn(("write_file", {"path": "src/shapes/__init__.py", "content": source})),
        turn(("write_file", {"path": "tests/test_perimeter.py", "content": PERIMETER_TEST})),
        turn(("finish", {"summary": "Added perimeter()."})),
    ]


def test_src_layout_correct_change_is_verified_in_the_worktree(make_run, package_cache) -> None:
    run = make_run(SHAPES, tag="v0.1.0")
    _user_editable_install(run.project.checkout, package_cache)
    run.model.script(_shapes_change(PERIMETER))

    done = run.project.run("--once", timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    # Per JUnit: the 2 tests of the base (the version test needs the generated file) + 1.
    assert "verdict: passed (3 passed; baseline 2 passed)" in done.stdout
    draft, body = _pull(run)
    assert not draft and "Verdict: passed" in body
    _public(body, run)
    record = _record(run)
    assert record["last_outcome"] == "success" and record["verdict"] == "passed"
    clone = run.project.clone_branch(BRANCH, run.project.root / "r")
    assert "Verdict: passed" in git(clone, "log", "-1", "--format=%(trailers:only,unfold)")
    assert not (clone / "src/shapes/_version.py").exists()  # generated, never committed


def test_src_layout_broken_change_is_a_draft_naming_the_failing_test(make_run, package_cache):
    run = make_run(SHAPES, tag="v0.1.0")
    _user_editable_install(run.project.checkout, package_cache)  # would have passed before
    run.model.script(_shapes_change(PERIMETER.replace("width * height", "width + height")))

    failed = run.project.run("--once", timeout=300)

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "new failures: tests/test_shapes.py::test_area" in failed.stdout
    draft, body = _pull(run)
    assert draft and "new failures" in body and "test_area" in body
    assert "without network access (agent.sandbox.network: false)" in body
    _public(body, run)
    record = _record(run)
    assert record["last_outcome"] == "failure" and record["verdict"] == "new failures"


# -- a setup.py project whose tests are a root test.py -------------------------------------

GREET = {
    "setup.py": """\
        from setuptools import setup

        setup(name="greet", version="1.0", py_modules=["greet"])
        """,
    "greet.py": 'def hello(name):\n    return f"hello {name}"\n',
    "test.py": """\
        import unittest

        import greet


        class GreetTest(unittest.TestCase):
            def test_hello(self):
                self.assertEqual(greet.hello("ada"), "hello ada")


        if __name__ == "__main__":
            unittest.main()
        """,
}


def test_root_test_py_is_found_and_run(make_run) -> None:
    run = make_run(GREET)
    source = textwrap.dedent(GREET["greet.py"]) + '\n\ndef bye(name):\n    return f"bye {name}"\n'
    run.model.script(
        [
            turn(("write_file", {"path": "greet.py", "content": source})),
            turn(("run_tests", {})),
            turn(("finish", {"summary": "Added bye()."})),
        ]
    )

    done = run.project.run("--once", timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: passed (1 passed" in done.stdout
    draft, body = _pull(run)
    assert not draft and "python test.py" in body
    assert "the suite was not run a second time" in body  # run_tests stood for it


# -- an npm package whose tests need its devDependencies ----------------------------------

NPM_TEST = """\
const test = require("node:test");
const assert = require("node:assert");
const isNumber = require("is-number");
const { double } = require("../index.js");

test("doubles a number", () => {
  assert.ok(isNumber(double(2)));
  assert.strictEqual(double(2), 4);
});
"""


def _npm_package(cache: Path) -> dict[str, str]:
    """package.json with a devDependency and the lockfile npm itself writes for it."""
    package = {
        "name": "doubler",
        "version": "1.0.0",
        "scripts": {"test": "node --test test/"},
        "devDependencies": {"is-number": "7.0.0"},
    }
    scratch = cache / "npm-lock"
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "package.json").write_text(json.dumps(package, indent=2))
    env = {**os.environ, "npm_config_cache": str(cache / "npm")}
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund", "-q"],
        cwd=scratch,
        env=env,
        check=True,
        capture_output=True,
    )
    return {
        "package.json": json.dumps(package, indent=2) + "\n",
        "package-lock.json": (scratch / "package-lock.json").read_text(),
        ".gitignore": "node_modules/\n",
        "index.js": "exports.double = (n) => n * 2;\n",
        "test/double.test.js": NPM_TEST,
    }


def test_npm_devdependencies_are_installed_so_the_model_is_not_blamed(
    make_run, package_cache
) -> None:
    run = make_run(_npm_package(package_cache))
    source = "exports.double = (n) => n * 2;\nexports.triple = (n) => n * 3;\n"
    run.model.script(
        [
            turn(("write_file", {"path": "index.js", "content": source})),
            turn(("finish", {"summary": "Added triple()."})),
        ]
    )

    done = run.project.run("--once", timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: passed" in done.stdout
    draft, body = _pull(run)
    assert not draft and "npm test" in body
    clone = run.project.clone_branch(BRANCH, run.project.root / "r")
    assert not (clone / "node_modules").exists()


# -- a base branch that already fails, and a suite that collects nothing --------------------

KNOWN_BUG = {
    "pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['tests']\n",
    "calc.py": """\
        def add(a, b):
            return a + b


        def mul(a, b):
            return a + b  # a known bug
        """,
    "tests/test_calc.py": """\
        from calc import add, mul


        def test_add():
            assert add(2, 3) == 5


        def test_mul():
            assert mul(2, 3) == 6
        """,
}


def test_a_failure_already_on_the_base_is_not_blamed_on_the_model(make_run) -> None:
    run = make_run(KNOWN_BUG)
    source = textwrap.dedent(KNOWN_BUG["calc.py"]) + "\n\ndef sub(a, b):\n    return a - b\n"
    run.model.script(
        [
            turn(("write_file", {"path": "calc.py", "content": source})),
            turn(("finish", {"summary": "Added sub()."})),
        ]
    )

    done = run.project.run("--once", timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "pre-existing failures only: tests/test_calc.py::test_mul" in done.stdout
    draft, body = _pull(run)
    assert draft and "pre-existing failures only" in body and "new failures" not in body
    record = _record(run)
    assert record["last_outcome"] == "unverified" and record["failures"] == 0
    status = subprocess.run(
        [CODE_DEVELOPER, "status", "--repo", str(run.project.checkout)],
        env=run.project.env(COLUMNS="200"),
        capture_output=True,
        text=True,
    )
    assert "awaiting review (unverified: pre-existing failures only)" in status.stdout


def test_a_suite_that_collects_nothing_is_never_a_pass(make_run) -> None:
    files = {
        "pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['tests']\n",
        "app.py": "VALUE = 1\n",
        "tests/test_nothing.py": "# tests to come\n",
    }
    run = make_run(files)
    run.model.script(
        [
            turn(("write_file", {"path": "app.py", "content": "VALUE = 2\n"})),
            turn(("finish", {"summary": "Changed the value."})),
        ]
    )

    done = run.project.run("--once", timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: 0 tests ran" in done.stdout
    draft, body = _pull(run)
    assert draft and "0 tests ran" in body and "Verdict: passed" not in body
    assert _record(run)["last_outcome"] == "unverified"
    roadmap = git(run.project.origin, "show", f"{BRANCH}:ROADMAP.md")
    assert "📝 Planned" in roadmap  # not marked complete


def test_tests_that_cannot_run_stop_before_any_model_call(make_run) -> None:
    run = make_run(KNOWN_BUG, test_command="xo --strict")  # a linter that is not installed

    failed = run.project.run("--once", timeout=300)

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "environment broken" in failed.stdout and "xo" in failed.stdout
    assert run.model.model_calls == [] and run.project.calls() == []
    record = _record(run)
    assert record["attempts"] == 0 and record["last_outcome"] == "deferred"
    assert run.github.pulls == []


def test_src_layout_draft_fixed_by_a_follow_up_on_review_becomes_ready(make_run, package_cache):
    """The review loop on a real layout: the follow-up's verdict is judged in the worktree
    against the base's baseline, and a passed one turns the draft ready and completes the
    priority on the branch."""
    run = make_run(SHAPES, tag="v0.1.0")
    run.github.git_remotes[GITHUB_REPO] = str(run.project.origin)
    _user_editable_install(run.project.checkout, package_cache)  # would have passed before
    run.model.script(_shapes_change(PERIMETER.replace("width * height", "width + height")))
    assert run.project.run("--once", timeout=300).returncode == 1  # a draft, new failures
    broken = git(run.project.origin, "rev-parse", BRANCH)
    run.github.add_review(
        GITHUB_REPO, 1, "octo", "CHANGES_REQUESTED", body="test_area fails.",
        comments=[{"path": "src/shapes/__init__.py", "line": 5, "body": "area multiplies."}],
    )  # fmt: skip
    run.model.script(
        [
            turn(("write_file", {"path": "src/shapes/__init__.py", "content": PERIMETER})),
            turn(("finish", {"summary": "area() multiplies again."})),
        ]
    )

    done = run.project.run("--once", timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: passed (3 passed; baseline 2 passed)" in done.stdout
    head = git(run.project.origin, "rev-parse", BRANCH)
    assert git(run.project.origin, "rev-parse", f"{head}~1") == broken
    draft, body = _pull(run)
    assert not draft and "Verdict: passed" in body
    _public(body, run)
    _public("\n".join(run.github.pulls[0].comments), run)
    assert _record(run)["last_outcome"] == "success"
    roadmap = git(run.project.origin, "show", f"{head}:ROADMAP.md")
    assert "**Status**: ✅ Complete" in roadmap
