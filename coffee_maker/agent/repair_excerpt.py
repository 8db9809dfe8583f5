"""What the model reads after a failed verification: its new failures, within a budget.

Each failing test gets its own text (the JUnit or section text the report kept, else the
output cut around the lines naming it) and a fair share of the budget; what does not fit
is said, not silently dropped. A suite that cannot run shows the output around its
first error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from coffee_maker.agent.commands import truncate_middle
from coffee_maker.agent.test_summaries import clean_name, first_error_line

if TYPE_CHECKING:
    from coffee_maker.agent.test_report import TestReport


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
