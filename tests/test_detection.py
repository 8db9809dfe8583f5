"""How a repository's tests are found: each layout written as real files, then detected.

The last tests run the detected command for real and read the run with TestReport, so a
plan that names a command which does not run the layout's tests fails here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from coffee_maker.agent.commands import run_command
from coffee_maker.agent.test_report import TestReport, Verdict, judge
from coffee_maker.autonomous import detection
from coffee_maker.autonomous.detection import TestPlan, detect_tests, has_make_target


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


PASSING_TEST = "def test_one():\n    assert 1 + 1 == 2\n"
UNITTEST_SCRIPT = """\
import unittest

class T(unittest.TestCase):
    def test_one(self):
        self.assertEqual(1 + 1, 2)

if __name__ == "__main__":
    unittest.main()
"""


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"pytest.ini": "[pytest]\n"}, "pytest configured in pytest.ini"),
        (
            {"pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['t']\n"},
            "pytest configured in pyproject.toml [tool.pytest.ini_options]",
        ),
        (
            {"pyproject.toml": "[tool.pytest]\nminversion = '9.0'\n"},
            "pytest configured in pyproject.toml [tool.pytest]",
        ),
        (
            {"tox.ini": "[tox]\nenvlist = py3\n\n[pytest]\naddopts = -ra\n"},
            "pytest configured in tox.ini [pytest]",
        ),
        (
            {"setup.cfg": "[metadata]\nname = x\n\n[tool:pytest]\ntestpaths = t\n"},
            "pytest configured in setup.cfg [tool:pytest]",
        ),
        ({"conftest.py": "import pytest\n"}, "pytest configured by conftest.py at the root"),
    ],
)
def test_pytest_configuration_is_found_wherever_it_lives(tmp_path, files, reason):
    plan = detect_tests(write(tmp_path, files))
    assert plan == TestPlan("python -m pytest", "pytest", reason, "python")


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("tests/test_api.py", "tests/test_*.py"),
        ("src/pkg/tests/unit/test_core.py", "src/pkg/tests/unit/test_*.py"),
        ("lib/parser_test.py", "lib/*_test.py"),
        ("test_root.py", "test_*.py"),
    ],
)
def test_test_files_anywhere_mean_pytest(tmp_path, path, where):
    write(tmp_path, {"setup.py": "from setuptools import setup\nsetup()\n", path: PASSING_TEST})
    plan = detect_tests(tmp_path)
    assert plan is not None
    assert (plan.command, plan.runner, plan.language) == ("python -m pytest", "pytest", "python")
    assert plan.reason == f"test files {where} found (pytest runs unittest tests too)"


@pytest.mark.parametrize(
    "path",
    [
        ".git/hooks/test_hook.py",
        "node_modules/pkg/test_x.py",
        ".venv/lib/python3.11/site-packages/pkg/test_x.py",
        "venv/lib/test_x.py",
        ".tox/py3/lib/test_x.py",
        ".nox/s/test_x.py",
        "build/lib/pkg/test_x.py",
        "dist/pkg/test_x.py",
        "site-packages/pkg/test_x.py",
        ".hidden/test_x.py",
        "pkg.egg-info/test_x.py",
        "myenv/lib/test_x.py",  # any directory with pyvenv.cfg is a virtualenv
    ],
)
def test_test_files_in_tooling_directories_do_not_count(tmp_path, path):
    write(tmp_path, {path: PASSING_TEST, "myenv/pyvenv.cfg": "home = /usr\n"})
    assert detect_tests(tmp_path) is None


def test_the_reason_stays_one_line_whatever_the_names_hold(tmp_path):
    write(tmp_path, {"we\nird\x1b[31m/test_x.py": PASSING_TEST})
    assert detect_tests(tmp_path).reason == (
        "test files we?ird?[31m/test_*.py found (pytest runs unittest tests too)"
    )
    text = package({"test": "jest"}, packageManager="pnpm@9\nInjected: line")
    node = write(tmp_path / "node", {"package.json": text})
    assert (
        detect_tests(node).reason
        == "package.json scripts.test, packageManager pnpm@9?Injected: line"
    )


def test_the_walk_is_bounded_in_depth_and_ignores_symlink_loops(tmp_path):
    deep = "/".join(f"d{i}" for i in range(detection.MAX_WALK_DEPTH + 1))
    write(tmp_path, {f"{deep}/test_deep.py": PASSING_TEST})
    (tmp_path / "loop").symlink_to(tmp_path)
    assert detect_tests(tmp_path) is None
    shallower = "/".join(f"d{i}" for i in range(detection.MAX_WALK_DEPTH))
    write(tmp_path, {f"{shallower}/test_ok.py": PASSING_TEST})
    assert detect_tests(tmp_path).runner == "pytest"


def test_the_walk_gives_up_after_its_entry_budget(tmp_path, monkeypatch):
    write(tmp_path, {f"data/f{i}.txt": "" for i in range(30)})
    write(tmp_path, {"zz/test_late.py": PASSING_TEST})
    monkeypatch.setattr(detection, "MAX_WALK_ENTRIES", 20)
    assert detect_tests(tmp_path) is None
    monkeypatch.setattr(detection, "MAX_WALK_ENTRIES", 100)
    assert detect_tests(tmp_path).runner == "pytest"


def test_a_root_script_runs_the_tests_and_beats_plain_test_files(tmp_path):
    write(tmp_path, {"test.py": UNITTEST_SCRIPT, "tests/test_helpers.py": PASSING_TEST})
    assert detect_tests(tmp_path) == TestPlan(
        "python test.py", "script", "root test.py runs the tests", "python"
    )
    (tmp_path / "test.py").unlink()
    write(tmp_path, {"runtests.py": UNITTEST_SCRIPT})
    assert detect_tests(tmp_path).command == "python runtests.py"


def test_a_root_test_py_without_main_is_run_by_pytest(tmp_path):
    # As a script it would define the tests and exit 0 having run none: a false pass.
    write(tmp_path, {"test.py": PASSING_TEST})
    plan = detect_tests(tmp_path)
    assert (plan.command, plan.runner) == ("python -m pytest test.py", "pytest")
    assert "no __main__" in plan.reason


def test_pytest_configuration_beats_a_root_script(tmp_path):
    write(tmp_path, {"test.py": UNITTEST_SCRIPT, "setup.cfg": "[tool:pytest]\n"})
    assert detect_tests(tmp_path).reason == "pytest configured in setup.cfg [tool:pytest]"


@pytest.mark.parametrize(
    ("files", "command", "reason"),
    [
        ({"tox.ini": "[tox]\nenvlist = py3\n"}, "tox", "tox configured in tox.ini"),
        ({"tox.ini": "[testenv:lint]\ncommands = ruff\n"}, "tox", "tox configured in tox.ini"),
        ({"tox.toml": "env_list = ['3.13']\n"}, "tox", "tox configured in tox.toml"),
        (
            {"pyproject.toml": "[tool.tox]\nenv_list = ['3.13']\n"},
            "tox",
            "tox configured in pyproject.toml [tool.tox]",
        ),
        (
            {"setup.cfg": "[tox:tox]\nenvlist = py3\n"},
            "tox",
            "tox configured in setup.cfg [tox:tox]",
        ),
        ({"noxfile.py": "import nox\n"}, "nox", "nox configured in noxfile.py"),
    ],
)
def test_tox_and_nox_when_nothing_says_pytest(tmp_path, files, command, reason):
    plan = detect_tests(write(tmp_path, files))
    assert plan == TestPlan(command, command, reason, "python")


def test_test_files_beat_tox(tmp_path):
    write(tmp_path, {"tox.ini": "[tox]\nenvlist = py3\n", "tests/test_a.py": PASSING_TEST})
    assert detect_tests(tmp_path).runner == "pytest"


def package(scripts: dict[str, str] | None = None, **extra: object) -> str:
    return json.dumps({"name": "pkg", "version": "1.0.0", "scripts": scripts or {}, **extra})


@pytest.mark.parametrize(
    ("files", "command", "why"),
    [
        ({"package-lock.json": "{}"}, "npm test", "package-lock.json present"),
        ({"pnpm-lock.yaml": "lockfileVersion: '9.0'\n"}, "pnpm test", "pnpm-lock.yaml present"),
        ({"yarn.lock": "# yarn lockfile v1\n"}, "yarn test", "yarn.lock present"),
        ({}, "npm test", "no lockfile (npm)"),
    ],
)
def test_package_json_test_script_by_lockfile(tmp_path, files, command, why):
    write(tmp_path, {"package.json": package({"test": "xo && ava"}), **files})
    plan = detect_tests(tmp_path)
    assert plan == TestPlan(
        command, command.split()[0], f"package.json scripts.test, {why}", "node"
    )


def test_the_package_manager_field_beats_the_lockfile(tmp_path):
    text = package({"test": "vitest run"}, packageManager="pnpm@9.12.0")
    write(tmp_path, {"package.json": text, "package-lock.json": "{}"})
    plan = detect_tests(tmp_path)
    assert plan.command == "pnpm test"
    assert plan.reason == "package.json scripts.test, packageManager pnpm@9.12.0"


@pytest.mark.parametrize(
    "text",
    [
        package({"test": 'echo "Error: no test specified" && exit 1'}),  # what npm init writes
        package({"build": "tsc"}),
        package({"test": "   "}),
        '{"name": "pkg", "scripts": {"test": "jest"',  # broken JSON
        '["not", "an", "object"]',
    ],
)
def test_package_json_without_a_real_test_script_is_not_a_plan(tmp_path, text):
    write(tmp_path, {"package.json": text})
    assert detect_tests(tmp_path) is None


def test_python_tests_beat_a_package_json_in_the_same_repository(tmp_path):
    write(tmp_path, {"package.json": package({"test": "jest"}), "tests/test_a.py": PASSING_TEST})
    assert detect_tests(tmp_path).runner == "pytest"


def test_go_cargo_and_make(tmp_path):
    go = write(tmp_path / "go", {"go.mod": "module example.com/x\n\ngo 1.22\n"})
    assert detect_tests(go) == TestPlan("go test ./...", "go", "go.mod at the root", "go")
    rust = write(tmp_path / "rust", {"Cargo.toml": "[package]\nname = 'x'\n"})
    assert detect_tests(rust) == TestPlan("cargo test", "cargo", "Cargo.toml at the root", "rust")
    make = write(tmp_path / "make", {"Makefile": "CC = cc\n\ntest: build\n\t./run-tests\n"})
    assert detect_tests(make) == TestPlan(
        "make test", "make", "Makefile has a test target", "other"
    )


@pytest.mark.parametrize(
    ("makefile", "has_test"),
    [
        ("test:\n\tpytest\n", True),
        ("check test: deps\n\t./t\n", True),
        ("test::\n\t./t\n", True),
        (".PHONY: test\nall:\n\tcc x.c\n", False),
        ("test := yes\nall:\n\techo $(test)\n", False),
        ("test = 1\n", False),
        ("# test: commented out\n", False),
        ("tests:\n\t./t\n", False),
        ("\ttest: inside a recipe\n", False),
    ],
)
def test_make_test_target(makefile, has_test):
    assert has_make_target(makefile, "test") is has_test


def test_broken_config_files_are_skipped_not_fatal(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "[tool.pytest.ini_options\nbroken = \n",
            "tox.ini": "no section header here\n[pytest\n",
            "setup.cfg": "[tool:pytest]\nkey = 1\n[tool:pytest]\nduplicate = yes\n",
            "package.json": "{not json",
            "Makefile": "test:\n\t./run\n",
        },
    )
    # setup.cfg repeats a section: tolerated (strict=False), so pytest is still found there.
    assert detect_tests(tmp_path).reason == "pytest configured in setup.cfg [tool:pytest]"
    (tmp_path / "setup.cfg").write_text("[tool:pytest\n")
    assert detect_tests(tmp_path) == TestPlan(
        "make test", "make", "Makefile has a test target", "other"
    )


def test_an_empty_repository_has_no_plan(tmp_path):
    assert detect_tests(tmp_path) is None
    write(tmp_path, {"README.md": "# hi\n", "src/app.py": "print('hi')\n"})
    assert detect_tests(tmp_path) is None


def test_a_config_file_that_is_a_directory_or_huge_is_skipped(tmp_path, monkeypatch):
    (tmp_path / "pytest.ini").mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n" + "#" * 100)
    monkeypatch.setattr(detection, "MAX_CONFIG_BYTES", 50)
    assert detect_tests(tmp_path) is None


# --- The detected command, run ------------------------------------------------------------


def run_plan(root: Path, plan: TestPlan) -> TestReport:
    """Run the plan as the harness would: the test environment's bin first on PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = run_command(plan.command, cwd=root, timeout=120, output_limit=200_000, env=env)
    return TestReport.from_run(result.exit_code, result.output, runner=plan.runner)


def test_detected_pytest_layout_runs_its_tests(tmp_path):
    write(tmp_path, {"src/pkg/__init__.py": "", "tests/test_a.py": PASSING_TEST * 1})
    write(tmp_path, {"tests/test_b.py": "def test_two():\n    assert True\n"})
    plan = detect_tests(tmp_path)
    report = run_plan(tmp_path, plan)
    assert (report.passed, report.failed_count, report.source) == (2, 0, "summary")
    assert judge(report, None).verdict is Verdict.PASSED


def test_detected_root_script_runs_its_tests(tmp_path):
    write(tmp_path, {"setup.py": "", "test.py": UNITTEST_SCRIPT})
    report = run_plan(tmp_path, detect_tests(tmp_path))
    assert (report.passed, report.collected, report.failed) == (1, 1, ())
    assert judge(report, None).text == "passed (1 passed; no baseline)"


def test_detected_root_test_py_without_main_runs_under_pytest(tmp_path):
    write(tmp_path, {"test.py": "def test_one():\n    assert False\n"})
    report = run_plan(tmp_path, detect_tests(tmp_path))
    assert report.failed == ("test.py::test_one",)


def test_detected_npm_layout_runs_node_tests(tmp_path):
    write(
        tmp_path,
        {
            "package.json": package({"test": "node --test"}),
            "package-lock.json": json.dumps({"name": "pkg", "lockfileVersion": 3}),
            "test/math.test.js": (
                "const test = require('node:test');\nconst assert = require('node:assert');\n"
                "test('adds', () => assert.strictEqual(1 + 1, 2));\n"
                "test('breaks', () => assert.strictEqual(1 + 1, 3));\n"
            ),
        },
    )
    plan = detect_tests(tmp_path)
    assert plan.command == "npm test"
    report = run_plan(tmp_path, plan)
    assert (report.passed, report.failed) == (1, ("breaks",))
