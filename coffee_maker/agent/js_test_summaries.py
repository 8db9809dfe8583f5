"""Reading what JavaScript test runners printed: jest, vitest, mocha, ava, node --test/TAP.

The same contract as ``test_summaries`` (which owns :class:`Summary` and the helpers): each
parser takes ANSI-stripped output and returns a Summary, or None when the text is not its
runner's. The formats were checked against jest 30, vitest 4, mocha 12, ava 7 and node 20.
"""

from __future__ import annotations

import re

from coffee_maker.agent.test_summaries import Summary, first_error_line, lines_until, word_counts

_JEST_TESTS = re.compile(r"^Tests:\s+(.*\d+ total)\s*$", re.M)
_JEST_BULLET = re.compile(r"^\s*● (.+)$")
_JEST_FILE = re.compile(r"^(?:FAIL|PASS) (\S.*)$")


def parse_jest(text: str) -> Summary | None:
    tests = _JEST_TESTS.findall(text)
    if not tests and "No tests found, exiting with code" not in text:
        return None
    if not tests:
        return Summary(passed=0, failed_count=0, skipped=0, collected=0)
    counts = word_counts(tests[-1])
    summary = Summary(
        passed=counts.get("passed", 0),
        collected=counts.get("total", 0),
        skipped=counts.get("skipped", 0) + counts.get("todo", 0),
    )
    lines = text.splitlines()
    current_file, suites_broken = "", 0
    for index, line in enumerate(lines):
        file_match = _JEST_FILE.match(line)
        if file_match:
            current_file = file_match.group(1).strip()
            continue
        bullet = _JEST_BULLET.match(line)
        if not bullet or bullet.group(1).strip() in ("Console",):
            continue
        detail = lines_until(
            lines,
            index,
            lambda s: bool(
                _JEST_BULLET.match(s) or _JEST_FILE.match(s) or s.startswith("Test Suites:")
            ),
        )
        if bullet.group(1).strip() == "Test suite failed to run":
            suites_broken += 1
            name = summary.fail(current_file or "test suite", detail)
            why = next((s.strip() for s in detail.splitlines() if s.strip()), "see the output")
            summary.broken = summary.broken or f"test suite {name} failed to run: {why[:200]}"
        else:
            summary.fail(bullet.group(1), detail)
    summary.failed_count = counts.get("failed", 0) + suites_broken
    return summary


_VITEST_TESTS = re.compile(r"^\s*Tests\s+(.+?)\s*\((\d+)\)\s*$", re.M)
_VITEST_FAIL = re.compile(r"^\s*FAIL\s+(.+?)(\s+\[ .+ \])?\s*$")
_VITEST_RULE = re.compile(r"^\s*⎯{3,}")


def parse_vitest(text: str) -> Summary | None:
    tests = _VITEST_TESTS.findall(text)
    if not tests:
        if "No test files found, exiting with code" in text:
            return Summary(passed=0, failed_count=0, skipped=0, collected=0)
        return None
    counts = word_counts(tests[-1][0])
    summary = Summary(
        passed=counts.get("passed", 0),
        collected=int(tests[-1][1]),
        skipped=counts.get("skipped", 0) + counts.get("todo", 0),
    )
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = _VITEST_FAIL.match(line)
        if not match:
            continue
        detail = lines_until(
            lines, index, lambda s: bool(_VITEST_FAIL.match(s) or _VITEST_RULE.match(s))
        )
        name = summary.fail(match.group(1), detail)
        if match.group(2):  # "FAIL  file [ file ]": the file itself failed to load
            why = first_error_line(detail) or "see the output"
            summary.broken = summary.broken or f"test file {name} failed to load: {why}"
    summary.failed_count = counts.get("failed", 0) + (1 if summary.broken else 0)
    return summary


_MOCHA_COUNT = re.compile(r"^\s*(\d+) (passing|failing|pending)\b", re.M)
_MOCHA_TITLE = re.compile(r"^  (\d+)\) (.*)$")


def parse_mocha(text: str) -> Summary | None:
    counts = {word: int(n) for n, word in _MOCHA_COUNT.findall(text)}
    if "passing" not in counts:
        if re.search(r"^Error: No test files found", text, re.M):
            return Summary(passed=0, failed_count=0, skipped=0, collected=0)
        return None
    summary = Summary(
        passed=counts["passing"],
        failed_count=counts.get("failing", 0),
        skipped=counts.get("pending", 0),
    )
    summary.collected = summary.passed + summary.failed_count + summary.skipped
    lines = text.splitlines()
    failing_at = next((i for i, s in enumerate(lines) if re.match(r"^\s*\d+ failing", s)), None)
    if failing_at is None:
        return summary
    index = failing_at + 1
    while index < len(lines):
        match = _MOCHA_TITLE.match(lines[index])
        if not match:
            index += 1
            continue
        parts, title, first = [], match.group(2), index
        # A title spans a line per enclosing suite and ends with ":" (at most a few lines).
        while not title.rstrip().endswith(":") and index + 1 < min(len(lines), first + 12):
            parts.append(title.strip())
            index += 1
            title = lines[index]
        parts.append(title.strip().removesuffix(":"))
        detail = lines_until(lines, index, lambda s: bool(_MOCHA_TITLE.match(s)))
        summary.fail(" ".join(p for p in parts if p), detail)
        index += 1
    return summary


_AVA_COUNT = re.compile(
    r"^\s*(\d+) (tests? passed|tests? failed|tests? skipped|tests? todo|known failures?"
    r"|uncaught exceptions?|unhandled rejections?)\s*$",
    re.M,
)
_AVA_FAIL = re.compile(r"^\s*✘ \[fail\]: (.+)$", re.M)


def parse_ava(text: str) -> Summary | None:
    found = _AVA_COUNT.findall(text)
    if not found:
        return None
    counts: dict[str, int] = {}
    for number, words in found:
        key = words.split()[-1]
        counts[key] = counts.get(key, 0) + int(number)
    passed = counts.get("passed", len(re.findall(r"^\s*✔ ", text, re.M)))
    summary = Summary(passed=passed, skipped=counts.get("skipped", 0) + counts.get("todo", 0))
    for name in _AVA_FAIL.findall(text):
        summary.fail(name)
    summary.failed_count = (
        counts.get("failed", 0)
        + counts.get("exceptions", 0)
        + counts.get("exception", 0)
        + counts.get("rejections", 0)
        + counts.get("rejection", 0)
    )
    summary.collected = summary.passed + summary.failed_count + summary.skipped
    return summary


_NODE_COUNT = re.compile(r"^(?:#|\u2139) (tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$", re.M)
_TAP_SUBTEST = re.compile(r"^(\s*)# Subtest: (.*)$")
_TAP_NOT_OK = re.compile(r"^(\s*)not ok \d+(?: -)? ?(.*?)(?: # (TODO|SKIP)\b.*)?$")
_SPEC_FAILED = re.compile(r"^\s*✖ (.+?) \([\d.]+m?s\)$")


def _comments_before(lines: list[str], index: int) -> str:
    """The ``# `` comment lines just above a TAP entry (and its ``# Subtest:`` line)."""
    start = index - 1
    if start >= 0 and _TAP_SUBTEST.match(lines[start]):
        start -= 1
    found = []
    while start >= 0 and lines[start].startswith("#") and len(found) < 200:
        found.append(lines[start][2:])
        start -= 1
    return "\n".join(reversed(found))


def parse_node_test(text: str) -> Summary | None:
    """``node --test`` (TAP or spec reporter) and plain TAP producers."""
    counts = {word: int(n) for word, n in _NODE_COUNT.findall(text)}
    plan = re.search(r"^1\.\.(\d+)$", text, re.M)
    if "pass" not in counts and not (plan and "TAP version" in text):
        return None
    summary = Summary()
    lines = text.splitlines()
    stack: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        subtest = _TAP_SUBTEST.match(line)
        if subtest:
            indent = len(subtest.group(1))
            stack = [(i, n) for i, n in stack if i < indent] + [(indent, subtest.group(2))]
            continue
        not_ok = _TAP_NOT_OK.match(line)
        if not_ok and not_ok.group(3) != "TODO":
            indent = len(not_ok.group(1))
            detail = lines_until(lines, index, lambda s, i=indent: s == " " * i + "  ...")
            if "subtestsFailed" in detail:
                continue  # a suite that failed because a test inside it did
            parents = [n for i, n in stack if i < indent]
            name = summary.fail(" > ".join([*parents, not_ok.group(2)]), detail)
            if re.search(r"^\s*exitCode: ", detail, re.M) and summary.broken is None:
                # A whole file failed outside any test: it could not load (node prints
                # the error as "# " comment lines just before it).
                why = first_error_line(_comments_before(lines, index)) or "see the output"
                summary.broken = f"test file {name} failed to load: {why}"
    if not summary.failed and "✖ failing tests:" in text:
        tail = text.split("✖ failing tests:", 1)[1].splitlines()
        for index, line in enumerate(tail):
            match = _SPEC_FAILED.match(line)
            if match:
                summary.fail(
                    match.group(1), lines_until(tail, index, lambda s: s.startswith("test at"))
                )
    if "pass" in counts:
        summary.passed, summary.failed_count = counts["pass"], counts.get("fail", 0)
        summary.failed_count += counts.get("cancelled", 0)
        summary.skipped = counts.get("skipped", 0) + counts.get("todo", 0)
        summary.collected = counts.get("tests")
    else:
        summary.collected = int(plan.group(1)) if plan else None
        summary.failed_count = len(summary.failed)
        summary.passed = len(re.findall(r"^ok \d+", text, re.M))
    return summary
