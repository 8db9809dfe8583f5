"""Running the repository's tests and judging a change: one answer for every caller.

The model's ``run_tests`` tool, the harness's verification after ``finish`` and the
baseline on the untouched worktree all run the suite through :class:`Verifier`, in the
test environment (its ``PATH``, its virtualenv) and the workspace's sandbox. The result is
a :class:`TestReport` (per test where the runner allows: pytest writes JUnit XML into a
directory the sandbox keeps writable), and the verdict comes from comparing it with the
baseline (:func:`judge`), so a failure that was already there is never blamed on the model.

The suite is not run twice for nothing: the last report is kept with a hash of the
workspace's content, and verification reuses it when no file changed since.

What a verification means for the run's result (its status, ``tests_passed``, the tail
of the output) is said once, by :func:`result_fields`: for the agent's own run and for a
branch an earlier run pushed, judged again as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.agent.repair_excerpt import repair_excerpt
from coffee_maker.agent.result import Interrupted, Status
from coffee_maker.agent.test_report import TestReport, junit_command
from coffee_maker.agent.verdict import Judgement, Verdict, judge

if TYPE_CHECKING:  # a type only: importing it would load pathspec in an idle daemon
    from coffee_maker.agent.workspace import Workspace

#: JUnit XML larger than this is not read (it comes from code the model wrote).
MAX_JUNIT_BYTES = 20_000_000
#: What every test run gets: no colour codes, no interactive prompts or watchers.
QUIET_VARIABLES = {"NO_COLOR": "1", "CI": "1", "TERM": "dumb", "PY_COLORS": "0"}
#: How much of the judged run's output a result carries.
TEST_TAIL_CHARS = 4000


@dataclass(frozen=True)
class TestSuite:
    """How this repository's tests run: the command, its runner, its environment."""

    command: str
    runner: str | None = None  # "pytest" gets per-test results through JUnit XML
    variables: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 900.0
    reports_dir: Path | None = None  # writable inside the sandbox, outside the worktree
    reason: str = ""  # why this command (shown by --dry-run)


@dataclass(frozen=True)
class Verification:
    """The harness's judgement of the workspace as it was, and the report it judged."""

    report: TestReport | None
    judgement: Judgement
    reused: bool = False  # the last run (the model's run_tests) stood for this one


@dataclass(frozen=True)
class TestRun:
    """One run of the suite and the content it ran on."""

    report: TestReport
    content: str  # hash of the workspace's files when it ran
    interrupted: bool = False


class Verifier:
    """The suite, the workspace it runs in, the baseline it is judged against."""

    def __init__(
        self,
        suite: TestSuite | None,
        workspace: Workspace,
        baseline: TestReport | None = None,
        *,
        ready_on_preexisting: bool = False,
    ) -> None:
        self.suite = suite
        self.workspace = workspace
        self.baseline = baseline
        self.ready_on_preexisting = ready_on_preexisting
        self.last: TestRun | None = None
        self.runs = 0

    @property
    def command(self) -> str | None:
        return self.suite.command if self.suite else None

    def run(self) -> TestRun | None:
        """Run the suite now (None without a suite) and remember the result."""
        if self.suite is None:
            return None
        content = content_hash(self.workspace)
        self.runs += 1
        junit = self._junit_path()
        variables = {**QUIET_VARIABLES, **self.suite.variables}
        command = self.suite.command
        if junit is not None:
            # One pytest invocation gets the flag itself; a wrapper (make, a script) that
            # runs pytest inside still passes the environment on.
            command = junit_command(command, str(junit)) or command
            if command == self.suite.command:
                variables["PYTEST_ADDOPTS"] = f"--junitxml={junit}"
        result = self.workspace.run(command, self.suite.timeout, variables=variables)
        report = TestReport.from_run(
            result.exit_code,
            result.output,
            timed_out=result.timed_out,
            junit_xml=_read_junit(junit),
            runner=self.suite.runner,
        )
        run = TestRun(report, content, interrupted=getattr(result, "interrupted", False))
        if not run.interrupted:
            self.last = run
        return run

    def current(self) -> tuple[TestRun | None, bool]:
        """A report for the workspace as it is now, and whether it was reused (not re-run)."""
        if self.last is not None and self.last.content == content_hash(self.workspace):
            return self.last, True
        return self.run(), False

    def judge(self, report: TestReport | None) -> Judgement:
        return judge(report, self.baseline, ready_on_preexisting=self.ready_on_preexisting)

    def verify(self) -> Verification:
        """The workspace as it is now, judged; :class:`Interrupted` when a stop killed
        the test run (half a run says nothing about the change)."""
        run, reused = self.current()
        if run is not None and run.interrupted:
            raise Interrupted("stop requested while the tests ran")
        report = run.report if run else None
        return Verification(report, self.judge(report), reused)

    def repair_text(self, judgement: Judgement, report: TestReport, limit: int) -> str:
        """What the model reads after a failed verification: its new failures only."""
        names = judgement.new_failures
        return repair_excerpt(report, names, limit)

    def _junit_path(self) -> Path | None:
        if self.suite is None or self.suite.runner != "pytest" or self.suite.reports_dir is None:
            return None
        self.suite.reports_dir.mkdir(parents=True, exist_ok=True)
        path = self.suite.reports_dir / f"junit-{os.getpid()}-{self.runs}.xml"
        path.unlink(missing_ok=True)
        return path


def _read_junit(path: Path | None) -> str | None:
    """The report the runner wrote, if it is a plain file of a sane size."""
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_JUNIT_BYTES + 1)
    path.unlink(missing_ok=True)
    if len(data) > MAX_JUNIT_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


def content_hash(workspace: Workspace) -> str:
    """One hash of every file the workspace would call changed (ignored ones excluded)."""
    snapshot = workspace.snapshot()
    return hashlib.sha256(json.dumps(sorted(snapshot.items())).encode()).hexdigest()


def as_verifier(
    tests: str | TestSuite | Verifier | None, workspace: Workspace, timeout: float
) -> Verifier:
    """A test command (text, as configured), a suite or a ready verifier: always a verifier."""
    if isinstance(tests, Verifier):
        return tests
    if isinstance(tests, str):
        tests = TestSuite(tests, timeout=timeout)
    return Verifier(tests, workspace)


def result_fields(files: list[str], verification: Verification | None) -> dict[str, Any]:
    """What the changed ``files`` and their verification (None: never verified) say in an
    :class:`~coffee_maker.agent.result.AgentResult`: its status and test fields."""
    judgement = verification.judgement if verification else None
    report = verification.report if verification else None
    return {
        "status": status_of(files, judgement),
        "files_changed": files,
        "tests_passed": tests_passed_of(judgement),
        "test_output_tail": report.output[-TEST_TAIL_CHARS:] if report else "",
        "report": report,
        "judgement": judgement,
        "verification_reused": verification.reused if verification else False,
    }


def tests_passed_of(judgement: Judgement | None) -> bool | None:
    """None when nothing ran the tests; else whether the verdict lets the change go."""
    if judgement is None or judgement.verdict is Verdict.NOT_VERIFIED:
        return None
    return judgement.ok


def status_of(files: list[str], judgement: Judgement | None) -> Status:
    """Only a real pass is a success; a change nobody could verify waits for a person."""
    if not files:
        return Status.NO_CHANGES
    if judgement is None or judgement.verdict is Verdict.NEW_FAILURES:
        return Status.TESTS_FAILING if judgement else Status.UNVERIFIED
    return Status.SUCCESS if judgement.ok else Status.UNVERIFIED
