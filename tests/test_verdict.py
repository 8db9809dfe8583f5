"""judge() on real runs, for every verdict, and what the repair prompt is shown.

The runs are real pytest runs of small generated projects: a baseline and an "after" that
differ the way a change would make them differ.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from report_support import (
    SAMPLE_FAILED,
    make_collection_error,
    make_sample,
    pytest_report,
    recorded,
    run,
    write,
)

from coffee_maker.agent.test_report import (
    Judgement,
    TestReport,
    Verdict,
    judge,
    repair_excerpt,
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return make_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def collection_error(tmp_path_factory) -> Path:
    return make_collection_error(tmp_path_factory.mktemp("collection"))


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


def test_a_runner_that_crashes_after_the_change_names_its_last_error() -> None:
    """Breaking what the runner itself imports (pytest uses pluggy): no test is named, so
    the verdict quotes the traceback's last exception line instead of saying nothing."""
    from coffee_maker.agent.test_report import TestReport, judge

    baseline = TestReport.from_run(0, "===== 124 passed in 1.0s =====", runner="pytest")
    crashed = TestReport.from_run(
        1,
        'Traceback (most recent call last):\n  File "x.py", line 9, in <module>\n'
        "    raise SystemExit(main())\nNameError: name 'firstresult' is not defined\n",
        runner="pytest",
    )
    judgement = judge(crashed, baseline)
    assert judgement.verdict == "new failures"
    assert "it ended with NameError: name 'firstresult' is not defined" in judgement.text
