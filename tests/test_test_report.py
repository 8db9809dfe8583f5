"""Reading test runs: JUnit XML, each runner's closing lines, the exit code, broken suites.

pytest, unittest, node --test and cargo run here for real, on tiny generated projects;
go, jest, vitest, mocha and ava are recordings of the real tools (see report_support).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from report_support import (
    RECORDED,
    SAMPLE_FAILED,
    make_collection_error,
    make_sample,
    pytest_report,
    recorded,
    run,
    write,
)

from coffee_maker.agent import test_summaries
from coffee_maker.agent.test_report import TestReport, Verdict, judge, junit_command, strip_ansi


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return make_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def collection_error(tmp_path_factory) -> Path:
    return make_collection_error(tmp_path_factory.mktemp("collection"))


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


def test_a_silent_pytest_exit_5_is_still_zero_tests(tmp_path):
    write(tmp_path, {"tests/helpers.py": "X = 1\n"})
    code, output, _ = run("python -m pytest -p no:cacheprovider -p no:terminal", tmp_path)
    assert (code, output.strip()) == (5, "")
    report = TestReport.from_run(code, output, runner="pytest")
    assert judge(report, None).text == "0 tests ran (exit 5)"


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
