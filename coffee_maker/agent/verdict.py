"""The verdict: what a test run after a change supports, against the baseline's run.

:func:`judge` compares the run after the model's change with the baseline run on the
untouched base and names the verdict in the words users see everywhere (the result line,
``status``, the ``Verdict:`` commit trailer, the PR body). Only a real pass is called a
pass: 0 tests, a suite that cannot run, a timeout and a failure the output does not
count are each said as what they are, and a failure the baseline already had is never
blamed on the change.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coffee_maker.agent.test_report import TestReport

_TIMEOUT = re.compile(r"timed out after ([\d.]+) seconds")


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
