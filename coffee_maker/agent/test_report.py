"""What a test run says: the report of one run, read from what the runner left.

A :class:`TestReport` reads one run: the JUnit XML the runner wrote (pytest
``--junitxml``) when there is one, else the runner's closing lines (``test_summaries``),
else only the exit code, and says which. The verdict on a run against its baseline is
:mod:`~coffee_maker.agent.verdict`'s, and what the model reads of the failures is
:mod:`~coffee_maker.agent.repair_excerpt`'s (both re-exported here).

Everything here comes from code the model may have written: output is ANSI-stripped,
names are cleaned and capped, and the XML is parsed with a size cap and no DTD.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from coffee_maker.agent.js_test_summaries import (
    parse_ava,
    parse_jest,
    parse_mocha,
    parse_node_test,
    parse_vitest,
)
from coffee_maker.agent.repair_excerpt import repair_excerpt  # noqa: F401  (re-exported)
from coffee_maker.agent.test_summaries import (
    Summary,
    broken_reason,
    parse_cargo,
    parse_go,
    parse_junit,
    parse_pytest,
    parse_unittest,
)
from coffee_maker.agent.verdict import Judgement, Verdict, judge  # noqa: F401  (re-exported)

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
