"""What a test run says, and the verdict a run after a change supports against its baseline.

A :class:`TestReport` reads one run: the JUnit XML the runner wrote (pytest
``--junitxml``) when there is one, else the runner's closing lines (``test_summaries``),
else only the exit code, and says which. :func:`judge` compares the run after the model's
change with the baseline run on the untouched base and names the verdict in the words
users see everywhere (result line, ``status``, the ``Verdict:`` commit trailer, PR body).
Only a real pass is called a pass: 0 tests, a suite that cannot run, a timeout and a
failure the output does not count are each said as what they are.

Everything here comes from code the model may have written: output is ANSI-stripped,
names are cleaned and capped, and the XML is parsed with a size cap and no DTD.
"""

from __future__ import annotations

import enum
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coffee_maker.agent.commands import truncate_middle
from coffee_maker.agent.js_test_summaries import (
    parse_ava,
    parse_jest,
    parse_mocha,
    parse_node_test,
    parse_vitest,
)
from coffee_maker.agent.test_summaries import (
    Summary,
    broken_reason,
    clean_name,
    first_error_line,
    parse_cargo,
    parse_go,
    parse_junit,
    parse_pytest,
    parse_unittest,
)

_ANSI = re.compile(
    r"\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase line
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
)
#: Parsers tried for each runner, in order; a runner not listed gets all of them.
ALL_PARSERS: tuple[Callable[[str], Summary | None], ...] = (
    parse_pytest,
    parse_unittest,
    parse_cargo,
    parse_jest,
    parse_vitest,
    parse_mocha,
    parse_ava,
    parse_node_test,
    parse_go,
)
_PYTHON = (parse_pytest, parse_unittest)
_NODE = (parse_jest, parse_vitest, parse_mocha, parse_ava, parse_node_test)
PARSERS_BY_RUNNER: dict[str, tuple[Callable[[str], Summary | None], ...]] = {
    "pytest": _PYTHON,
    "script": (parse_unittest, parse_pytest),
    "tox": _PYTHON,
    "nox": _PYTHON,
    "npm": _NODE,
    "pnpm": _NODE,
    "yarn": _NODE,
    "node": _NODE,
    "go": (parse_go,),
    "cargo": (parse_cargo,),
}


def parse_summary(text: str, runner: str | None) -> Summary | None:
    """The first summary a parser for ``runner`` recognises in ``text`` (ANSI stripped).

    A runner not in the table (``make``, a configured command) gets every parser, in an
    order that puts the most specific formats first; none recognising = exit code only.
    """
    for parser in PARSERS_BY_RUNNER.get(runner or "", ALL_PARSERS):
        summary = parser(text)
        if summary is not None:
            return summary
    return None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TIMEOUT = re.compile(r"timed out after ([\d.]+) seconds")


def strip_ansi(text: str) -> str:
    """``text`` as a terminal would finally show it: no escape sequences, no overwritten
    progress (``\\r`` returns to the line's start and what follows overwrites it)."""
    text = _ANSI.sub("", text)
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            shown = ""
            for part in line.split("\r"):
                shown = part + shown[len(part) :]
            line = shown
        lines.append(line)
    return _CONTROL.sub("", "\n".join(lines))


@dataclass(frozen=True)
class TestReport:
    """One test run, read. Counts are None when the run's output does not say them."""

    __test__ = False  # not a pytest test class, despite the name

    exit_code: int
    timed_out: bool
    output: str  # ANSI stripped
    passed: int | None
    failed: tuple[str, ...]  # failing test ids (failures and errors), sorted
    failed_count: int | None
    skipped: int | None
    collected: int | None  # None = unknown
    broken: str | None  # the suite could not run: why, in one line
    source: str  # "junit" | "summary" | "exit code"
    failure_details: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_run(
        cls,
        exit_code: int,
        output: str,
        *,
        timed_out: bool = False,
        junit_xml: str | None = None,
        runner: str | None = None,
    ) -> TestReport:
        """Read a run. ``runner`` is a ``TestPlan.runner``; None tries every parser."""
        text = strip_ansi(output)
        summary = parse_junit(junit_xml, text) if junit_xml else None
        source = "junit"
        if summary is None:
            summary = parse_summary(text, runner)
            source = "summary" if summary is not None else "exit code"
        broken = (summary.broken if summary else None) or broken_reason(
            exit_code, text, runner, recognised=summary is not None
        )
        summary = summary or Summary()
        failed_count = summary.failed_count
        if failed_count is None and summary.failed:
            failed_count = len(summary.failed)
        collected = summary.collected
        if collected is None and runner == "pytest" and exit_code == 5:
            collected = 0  # pytest's exit code for "no tests collected", even when quiet
        return cls(
            exit_code=exit_code,
            timed_out=timed_out,
            output=text,
            passed=summary.passed,
            failed=tuple(sorted(summary.failed)),
            failed_count=failed_count,
            skipped=summary.skipped,
            collected=collected,
            broken=broken,
            source=source,
            failure_details={k: strip_ansi(v) for k, v in summary.details.items()},
        )

    def counts_text(self) -> str:
        """``"3 failed, 9 passed, 1 skipped"``; ``"exit N"`` when the output gave no count."""
        parts = []
        if self.failed_count:
            parts.append(f"{self.failed_count} failed")
        if self.passed is not None:
            parts.append(f"{self.passed} passed")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        return ", ".join(parts) or f"exit {self.exit_code}"


def junit_command(command: str, junit_path: str) -> str | None:
    """``command`` made to write pytest's JUnit XML to ``junit_path``; None when it cannot.

    Only a command that is exactly one pytest invocation (``pytest ...``, ``python -m pytest
    ...``) gets ``--junitxml``; anything with shell operators, or tox, make and the like, is
    read from its output instead. Delete ``junit_path`` before each run: a stale file would
    describe an earlier run.
    """
    if re.search(r"[;&|<>`$()\n]", command):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    python = len(words) >= 3 and re.fullmatch(r"(?:\S*/)?python[\d.]*", words[0])
    if (python and words[1:3] == ["-m", "pytest"]) or (
        words and re.fullmatch(r"(?:\S*/)?pytest", words[0])
    ):
        return f"{command} --junitxml={shlex.quote(junit_path)}"
    return None


# --- The verdict --------------------------------------------------------------------------


class Verdict(enum.StrEnum):
    """The words of the verdict: the same in every place a user reads it."""

    PASSED = "passed"
    NEW_FAILURES = "new failures"
    PREEXISTING_ONLY = "pre-existing failures only"
    NO_TESTS = "0 tests ran"
    NOT_VERIFIED = "not verified"
    ENVIRONMENT_BROKEN = "environment broken"


@dataclass(frozen=True)
class Judgement:
    """A verdict and its one-line human form (``text`` starts with the verdict's words)."""

    verdict: Verdict
    text: str
    new_failures: tuple[str, ...] = ()
    preexisting: tuple[str, ...] = ()
    ready_on_preexisting: bool = False

    @property
    def ok(self) -> bool:
        """Whether the change may be called done: a pass, or only old failures if allowed."""
        if self.verdict is Verdict.PREEXISTING_ONLY:
            return self.ready_on_preexisting
        return self.verdict is Verdict.PASSED


def judge(
    after: TestReport | None,
    baseline: TestReport | None,
    *,
    ready_on_preexisting: bool = False,
) -> Judgement:
    """The verdict on ``after`` given ``baseline`` (None: the baseline was not run)."""

    def verdict(kind: Verdict, detail: str, new=(), old=()) -> Judgement:
        text = f"{kind.value}{detail}"
        return Judgement(kind, text, tuple(new), tuple(old), ready_on_preexisting)

    if after is None:
        return verdict(Verdict.NOT_VERIFIED, " (no test command)")
    base = _baseline_text(baseline)
    if after.timed_out:
        match = _TIMEOUT.search(after.output)
        took = f"timed out after {float(match.group(1)):g} s" if match else "timed out"
        if baseline is not None and baseline.timed_out:
            return verdict(Verdict.PREEXISTING_ONLY, f": {took} (the baseline timed out too)")
        return verdict(Verdict.NEW_FAILURES, f": {took} ({base})")
    if after.broken:
        if baseline is None or baseline.broken:
            return verdict(Verdict.ENVIRONMENT_BROKEN, f": {after.broken}")
        new = sorted(set(after.failed) - set(baseline.failed))
        return verdict(
            Verdict.NEW_FAILURES, f": the suite no longer runs: {after.broken} ({base})", new
        )
    if _ran_nothing(after):
        shown = f"{after.skipped} skipped, " if after.skipped else ""
        return verdict(Verdict.NO_TESTS, f" ({shown}exit {after.exit_code})")
    failing = _failing(after)
    if failing == 0:
        if after.passed is None:
            return verdict(Verdict.PASSED, " (exit 0; the runner's output gave no count)")
        return verdict(Verdict.PASSED, f" ({after.counts_text()}; {base})")
    counts = f"{after.counts_text()}; {base}"
    if baseline is None or _failing(baseline) == 0:
        return _new(verdict, after, after.failed, (), counts)
    old = sorted(set(after.failed) & set(baseline.failed))
    if after.failed and baseline.failed:
        new = sorted(set(after.failed) - set(baseline.failed))
        # More failures counted than named, and more than the baseline had: some are new.
        unnamed_more = len(after.failed) < (after.failed_count or 0) > (baseline.failed_count or 0)
        if new or unnamed_more:
            return _new(verdict, after, new, old, counts)
        same = "the same failure" if len(old) == 1 else "the same failures"
        return verdict(Verdict.PREEXISTING_ONLY, f": {_names(old)} (baseline had {same})", (), old)
    # Names unknown on one side: compare the counts, and say so.
    before = _failing(baseline)
    if failing is not None and before is not None and failing <= before:
        return verdict(Verdict.PREEXISTING_ONLY, f" (counts only: {counts})", (), after.failed)
    if failing is None and before is None and after.exit_code == baseline.exit_code:
        detail = f" (counts only: exit {after.exit_code}, as in the baseline)"
        return verdict(Verdict.PREEXISTING_ONLY, detail)
    return verdict(Verdict.NEW_FAILURES, f" (counts only: {counts})", after.failed)


def _new(verdict, report: TestReport, new: Sequence[str], old: Sequence[str], counts: str):
    """A new-failures judgement naming the new ones (or saying that none was named)."""
    if new:
        return verdict(Verdict.NEW_FAILURES, f": {_names(new)} ({counts})", new, old)
    if report.failed:  # every named failure is old, but more failed than were named
        return verdict(Verdict.NEW_FAILURES, f" (counts only: {counts})", (), old)
    why = f"the command exited {report.exit_code} and named no failing test"
    if error := _last_error(report.output):
        why += f"; it ended with {error}"
    return verdict(Verdict.NEW_FAILURES, f": {why} ({counts})", (), old)


_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+(?:Error|Exception|Exit)|E\s{2,}\S.*)\b.*$", re.M)


def _last_error(output: str, limit: int = 160) -> str | None:
    """The last exception line of the output (a crashed runner's traceback), one line."""
    found = _ERROR_LINE.findall(output[-20_000:])
    if not found:
        return None
    line = " ".join(found[-1].split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _failing(report: TestReport) -> int | None:
    """How many tests failed: 0, a number, or None for "the command failed, count unknown"."""
    if report.failed_count:
        return report.failed_count
    if report.failed:
        return len(report.failed)
    return 0 if report.exit_code == 0 else None


def _ran_nothing(report: TestReport) -> bool:
    if report.collected == 0:
        return True
    return (
        report.passed == 0
        and not report.failed_count
        and not report.failed
        and (report.collected is not None or report.skipped is not None)
    )


def _baseline_text(baseline: TestReport | None) -> str:
    if baseline is None:
        return "no baseline"
    if baseline.broken:
        return "baseline could not run"
    if baseline.timed_out:
        return "baseline timed out"
    if baseline.collected == 0:
        return "baseline: 0 tests ran"
    failing = _failing(baseline)
    if failing is None:
        return f"baseline exit {baseline.exit_code}"
    if baseline.passed is None:
        return f"baseline {failing} failed" if failing else "baseline exit 0"
    if failing:
        return f"baseline {failing} failed, {baseline.passed} passed"
    return f"baseline {baseline.passed} passed"


def _names(names: Sequence[str], budget: int = 160) -> str:
    """Names for one line: as many as fit in ``budget`` characters (at least one)."""
    shown: list[str] = []
    for name in names:
        if shown and sum(len(s) + 2 for s in shown) + len(name) > budget:
            break
        shown.append(name)
    more = len(names) - len(shown)
    return ", ".join(shown) + (f", +{more} more" if more else "")


# --- What the repair prompt shows ---------------------------------------------------------


def repair_excerpt(report: TestReport, names: Sequence[str], limit: int) -> str:
    """The named failures' text within ``limit`` characters, saying what was cut.

    Each name gets its JUnit/section text when the report has it, else the output cut
    around the lines naming it. With no names (a suite that cannot run), the output
    around its first error, or its tail.
    """
    names = list(dict.fromkeys(names))
    if not names:
        return _fit(_around_error(report), limit)
    pieces: list[str] = []
    share = max(300, limit // len(names))
    remaining = limit
    for index, name in enumerate(names):
        left = len(names) - index
        marker = f"[... {left} more failing tests not shown ...]"
        room = min(share, remaining - (len(marker) + 1 if left > 1 else 0))
        body_room = room - len(name) - 10
        if body_room < 80:
            pieces.append(marker)
            break
        body = report.failure_details.get(name) or _cut_around(report.output, name)
        pieces.append(f"--- {name} ---\n{_fit(body, body_room)}")
        remaining -= len(pieces[-1]) + 1
    return "\n".join(pieces)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else truncate_middle(text, max(limit - 40, 40))


def _cut_around(output: str, name: str, before: int = 3, after: int = 30) -> str:
    """The output's lines around each mention of ``name`` (or its last part)."""
    last = re.split(r"::| > | \u203a ", name)[-1]
    if last == name and re.fullmatch(r"[\w.]+", name):  # a unittest id: mod.Class.test_x
        last = name.rsplit(".", 1)[-1]
    keys = {key for key in (name, last) if len(key) >= 4}  # a short key would match anything
    lines = output.splitlines()
    hits = [i for i, line in enumerate(lines) if any(k and k in line for k in keys)]
    if not hits:
        return "(the output does not name this test)"
    spans: list[list[int]] = []
    for hit in hits:
        start, end = max(0, hit - before), min(len(lines), hit + after)
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return "\n[...]\n".join("\n".join(lines[a:b]) for a, b in spans)


def _around_error(report: TestReport) -> str:
    if report.broken:
        error = first_error_line(report.output)
        lines = report.output.splitlines()
        at = next((i for i, s in enumerate(lines) if error and error in clean_name(s)), None)
        if at is not None:
            return "\n".join(lines[max(0, at - 10) : at + 20])
    return report.output
