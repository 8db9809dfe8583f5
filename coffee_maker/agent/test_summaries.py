"""Reading what a test runner printed: its counts and the names of the tests that failed.

One parser per runner family, each given ANSI-stripped output and returning a
:class:`Summary`, or None when the text is not that runner's. The formats are the runners'
own closing lines (pytest, unittest, jest, vitest, mocha, ava, node --test / TAP, go test,
cargo test); nothing here runs a command or decides a verdict (``test_report`` does).
The text comes from code the model may have written: names are cleaned and capped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

#: JUnit files larger than this are ignored (the summary lines are read instead).
MAX_JUNIT_CHARS = 20_000_000
_NAME_LIMIT = 300
_NODEID = re.compile(r"(?<![\w/.-])([\w./-]+\.py(?:::[^\s:]+)+)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ERROR_LINE = re.compile(
    r"^\s*(?:E\s+)?((?:\w+\.)*\w*(?:Error|Exception|Failure)\b.*|error(?:\[\w+\])?:.*"
    r"|.*\bnot found\b.*|.*\bCannot find module\b.*|.*\bundefined: .*)$",
    re.M,
)


@dataclass
class Summary:
    """What one runner's output says; None = the output does not say."""

    passed: int | None = None
    failed_count: int | None = None
    skipped: int | None = None
    collected: int | None = None
    failed: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    broken: str | None = None
    _seen: set[str] = field(default_factory=set, repr=False)

    def fail(self, name: str, detail: str = "") -> str:
        """Record a failing test (once); returns the cleaned name it is recorded under."""
        name = clean_name(name)
        if name and name not in self._seen:
            self._seen.add(name)
            self.failed.append(name)
        if name and detail.strip():
            self.details.setdefault(name, detail.strip("\n"))
        return name


def clean_name(name: str) -> str:
    """A test name fit for one line of a commit trailer: no control characters, capped."""
    return " ".join(_CONTROL.sub(" ", name).split())[:_NAME_LIMIT]


def first_error_line(text: str) -> str | None:
    """The first line that reads like an error, stripped and capped, if any.

    pytest's ``E   `` lines come first: they hold the exception, where the lines above
    them hold the traceback's context.
    """
    match = re.search(r"^E\s+(\S.*)$", text, re.M) or _ERROR_LINE.search(text)
    return clean_name(match.group(1))[:200] if match else None


def word_counts(text: str) -> dict[str, int]:
    """``"2 failed, 10 passed, 1 error"`` → ``{"failed": 2, "passed": 10, "error": 1}``."""
    counts: dict[str, int] = {}
    for number, word in re.findall(r"(\d+) ([a-z]+)", text):
        key = word.rstrip("s") if word.endswith(("errors", "warnings", "tests")) else word
        counts[key] = counts.get(key, 0) + int(number)
    return counts


def lines_until(lines: list[str], start: int, stop: Callable[[str], bool], cap: int = 60) -> str:
    """Lines after ``start`` up to (not including) the first for which ``stop`` is true."""
    out = []
    for line in lines[start + 1 : start + 1 + cap]:
        if stop(line):
            break
        out.append(line)
    return "\n".join(out)


_NOT_RUNNABLE = r"not found|cannot execute|[Pp]ermission denied"
_IMPORT_CRASH = r"^(ModuleNotFoundError|ImportError|SyntaxError|IndentationError)\b"
_NODE_CRASH = r"^Error: Cannot find module|[Mm]issing script:? .?test"


def broken_reason(exit_code: int, text: str, runner: str | None, *, recognised: bool) -> str | None:
    """Why the suite could not run at all, when its output shows that; else None.

    Textual signs count only when no runner summary was recognised: a test may well print
    "not found" or raise ImportError on purpose while the suite itself runs fine.
    """
    if exit_code in (126, 127):
        why = _first_line(text, _NOT_RUNNABLE) or f"exit {exit_code}"
        return f"command not found (exit {exit_code}): {why}"
    if recognised:
        return None
    if re.search(r"No module named '?pytest'?\s*$", text, re.M):
        return "pytest is not installed in the test environment: No module named pytest"
    if why := _first_line(text, r"command not found|^\S*sh: \d+: .*not found"):
        return f"command not found: {why}"
    if runner == "pytest" and exit_code in (3, 4):
        why = first_error_line(text) or _last_line(text)
        return f"pytest could not run (exit {exit_code}): {why}"
    if exit_code != 0 and (why := _first_line(text, _IMPORT_CRASH)):
        return f"the tests could not be imported: {why}"
    if exit_code != 0 and (why := _first_line(text, _NODE_CRASH)):
        return f"the tests could not start: {why}"
    return None


def _first_line(text: str, pattern: str) -> str | None:
    match = re.search(rf"^.*(?:{pattern}).*$", text, re.M)
    return clean_name(match.group(0))[:200] if match else None


def _last_line(text: str) -> str:
    lines = [s for s in text.splitlines() if s.strip()]
    return clean_name(lines[-1])[:200] if lines else "no output"


# --- Python -------------------------------------------------------------------------------

_PYTEST_FINAL = re.compile(
    r"^=*\s*(no tests ran|\d+ \w+(?:, \d+ \w+)*) in [\d.]+s\b.*?=*\s*$", re.M
)
_PYTEST_WORDS = {"passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected"}
_PYTEST_SHORT = re.compile(r"^(FAILED|ERROR) (.+?)(?: - .*)?$", re.M)
_PYTEST_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$")
_PYTEST_HEADER = re.compile(r"^={3,} (.+?) ={3,}$")
_PYTEST_UNUSABLE = re.compile(
    r"^(INTERNALERROR>.*|ERROR: usage:.*|ERROR: file or directory not found:.*"
    r"|ImportError while loading conftest.*|ERROR: not found:.*)$",
    re.M,
)


def parse_pytest(text: str) -> Summary | None:
    finals = [
        m
        for m in _PYTEST_FINAL.finditer(text)
        if m.group(1) == "no tests ran" or _PYTEST_WORDS & set(word_counts(m.group(1)))
    ]
    unusable = _PYTEST_UNUSABLE.search(text)
    if not finals and not unusable and "test session starts" not in text:
        return None
    summary = Summary()
    if finals:
        counts = word_counts(finals[-1].group(1))
        summary.passed = counts.get("passed", 0) + counts.get("xpassed", 0)
        summary.skipped = counts.get("skipped", 0) + counts.get("xfailed", 0)
        summary.failed_count = counts.get("failed", 0) + counts.get("error", 0)
        summary.collected = sum(counts.get(k, 0) for k in _PYTEST_WORDS - {"deselected"})
    lines = text.splitlines()
    sections = _pytest_sections(lines)
    for kind, nodeid in _PYTEST_SHORT.findall(text):
        short = nodeid.split("::", 1)[1].replace("::", ".") if "::" in nodeid else nodeid
        summary.fail(nodeid, sections.get(short, ""))
        if kind == "ERROR" and "::" not in nodeid and summary.broken is None:
            detail = sections.get(nodeid, "")
            why = first_error_line(detail) or "see the output"
            summary.broken = f"collection error in {clean_name(nodeid)}: {why}"
    if unusable and summary.broken is None:
        # "ERROR: usage: ..." is followed by the line that says what was wrong.
        usage = re.search(r"^.*: error: .*$", text, re.M)
        line = usage.group(0) if usage else unusable.group(1)
        summary.broken = f"pytest could not run: {clean_name(line)[:200]}"
    if summary.broken is None and re.search(r"Interrupted: \d+ errors? during collection", text):
        summary.broken = "collection errors: " + (first_error_line(text) or "see the output")
    return summary


def _pytest_sections(lines: list[str]) -> dict[str, str]:
    """Titles of the FAILURES/ERRORS sections (``TestK.test_m``, a path) → their text."""
    sections: dict[str, str] = {}
    inside = False
    for index, line in enumerate(lines):
        header = _PYTEST_HEADER.match(line)
        if header:
            inside = header.group(1) in ("FAILURES", "ERRORS")
            continue
        section = _PYTEST_SECTION.match(line) if inside else None
        if section:
            title = re.sub(r"^ERROR (?:at \w+ of|collecting) ", "", section.group(1))
            body = lines_until(
                lines,
                index,
                lambda s: bool(_PYTEST_SECTION.match(s) or _PYTEST_HEADER.match(s)),
                200,
            )
            sections.setdefault(title, body)
    return sections


_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ", re.M)
_UNITTEST_RESULT = re.compile(r"^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?\s*$", re.M)
_UNITTEST_HEAD = re.compile(r"^(FAIL|ERROR|UNEXPECTED SUCCESS): (\S+) \(([^)]*)\)", re.M)
_IMPORT_FAILED = ("unittest.loader._FailedTest", "unittest.loader.ModuleImportFailure")


def parse_unittest(text: str) -> Summary | None:
    ran = [int(n) for n in _UNITTEST_RAN.findall(text)]
    results = _UNITTEST_RESULT.findall(text)
    if not ran and not any(r[0] == "NO TESTS RAN" for r in results):
        return None
    counts: dict[str, int] = {}
    for _word, inside in results:
        for part in filter(None, (p.strip() for p in inside.split(","))):
            key, _, value = part.partition("=")
            if value.isdigit():
                counts[key] = counts.get(key, 0) + int(value)
    summary = Summary(collected=sum(ran))
    summary.failed_count = sum(
        counts.get(k, 0) for k in ("failures", "errors", "unexpected successes")
    )
    summary.skipped = counts.get("skipped", 0) + counts.get("expected failures", 0)
    summary.passed = max(0, summary.collected - summary.failed_count - summary.skipped)
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = _UNITTEST_HEAD.match(line)
        if match is None:
            continue
        name, where = match.group(2), match.group(3)
        test_id = where if where == name or where.endswith("." + name) else f"{where}.{name}"
        detail = lines_until(lines, index, lambda s: bool(re.match(r"^={20,}$", s)), 200)
        detail = re.split(r"^-{20,}\nRan ", detail, flags=re.M)[0]
        if test_id.startswith(_IMPORT_FAILED):
            errors = _ERROR_LINE.findall(detail)
            why = clean_name(errors[-1])[:200] if errors else "see the output"
            summary.broken = summary.broken or f"import error in test module {name}: {why}"
            test_id = name
        summary.fail(test_id, detail)
    return summary


# --- Go and Rust --------------------------------------------------------------------------

_GO_RESULT = re.compile(r"^(\s*)--- (PASS|FAIL|SKIP): (\S+) \(")
_GO_PACKAGE = re.compile(r"^(ok  |FAIL|\?   )\t(\S+)(?:\s+(.*))?$")


def parse_go(text: str) -> Summary | None:
    lines = text.splitlines()
    if not any(_GO_PACKAGE.match(s) or _GO_RESULT.match(s) for s in lines):
        return None
    summary = Summary()
    outcomes: dict[str, tuple[str, int]] = {}
    pending: list[tuple[str, str, int]] = []  # go prints a package's tests, then its line
    tested_packages = 0
    for index, line in enumerate(lines):
        result = _GO_RESULT.match(line)
        if result:
            pending.append((result.group(3), result.group(2), index))
            continue
        package = _GO_PACKAGE.match(line)
        if not package:
            continue
        status, name, rest = package.group(1).strip(), package.group(2), package.group(3) or ""
        tested_packages += status != "?" and "[no tests to run]" not in rest
        outcomes.update({f"{name}::{test}": (outcome, at) for test, outcome, at in pending})
        if "[build failed]" in rest or "[setup failed]" in rest:
            header = next((i for i, s in enumerate(lines) if s.startswith(f"# {name}")), -1)
            why = lines[header + 1] if 0 <= header < len(lines) - 1 else "see the output"
            summary.broken = summary.broken or f"go build failed in {name}: {clean_name(why)}"
            summary.fail(name)
        elif status == "FAIL" and all(outcome != "FAIL" for _, outcome, _ in pending):
            summary.fail(name)  # failed with no failing test: a panic, a timeout, TestMain
        pending = []
    # A test with subtests fails when one of them does: name the subtest only.
    parents = {test_id.rsplit("/", 1)[0] for test_id in outcomes if "/" in test_id}
    leaves = {k: v for k, v in outcomes.items() if k not in parents}
    for test_id, (outcome, at) in sorted(leaves.items()):
        if outcome == "FAIL":
            indent = len(lines[at]) - len(lines[at].lstrip())
            summary.fail(
                test_id,
                lines_until(
                    lines,
                    at,
                    lambda s, i=indent: len(s) - len(s.lstrip()) <= i or bool(_GO_RESULT.match(s)),
                    40,
                ),
            )
    summary.failed_count = len(summary.failed)
    if any(outcome == "PASS" for outcome, _ in leaves.values()):  # -v lists every test
        summary.passed = sum(1 for outcome, _ in leaves.values() if outcome == "PASS")
        summary.skipped = sum(1 for outcome, _ in leaves.values() if outcome == "SKIP")
        summary.collected = len(leaves)
    elif tested_packages == 0:
        summary.passed, summary.skipped, summary.collected = 0, 0, 0
    return summary


_CARGO_RESULT = re.compile(
    r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored;", re.M
)
_CARGO_TEST = re.compile(r"^test (.+?) \.\.\. (FAILED|ok|ignored)", re.M)
_CARGO_STDOUT = re.compile(r"^---- (.+?) stdout ----$")


def parse_cargo(text: str) -> Summary | None:
    results = _CARGO_RESULT.findall(text)
    compile_failed = re.search(r"^error: could not compile", text, re.M)
    if not results and not compile_failed:
        return None
    summary = Summary(
        collected=sum(int(n) for n in re.findall(r"^running (\d+) tests?$", text, re.M))
    )
    summary.passed = sum(int(p) for p, _, _ in results)
    summary.failed_count = sum(int(f) for _, f, _ in results)
    summary.skipped = sum(int(i) for _, _, i in results)
    lines = text.splitlines()
    details = {}
    for index, line in enumerate(lines):
        match = _CARGO_STDOUT.match(line)
        if match:
            details[match.group(1)] = lines_until(
                lines, index, lambda s: bool(_CARGO_STDOUT.match(s) or s == "failures:"), 80
            )
    named = [name for name, outcome in _CARGO_TEST.findall(text) if outcome == "FAILED"]
    for index, line in enumerate(lines):  # the closing list, also printed with --quiet
        if line == "failures:":
            listed = lines_until(lines, index, lambda s: not s.startswith("    "))
            named += [s.strip() for s in listed.splitlines()]
    for name in named:
        summary.fail(name, details.get(name, ""))
    if compile_failed:
        why = first_error_line(text) or clean_name(compile_failed.group(0))
        summary.broken = f"cargo could not compile the tests: {why}"
    return summary


# --- JUnit XML (pytest --junitxml and others) ---------------------------------------------


def parse_junit(xml_text: str, output: str = "") -> Summary | None:
    """A summary of a JUnit XML report; None when it is too large, has a DTD or is broken.

    Test ids are rendered as pytest node ids (``tests/test_x.py::TestA::test_b``): taken
    from the output when it names the test, else rebuilt from ``classname``.
    """
    if len(xml_text) > MAX_JUNIT_CHARS or re.search(r"<!(DOCTYPE|ENTITY)", xml_text, re.I):
        return None  # a DTD can declare entities (billion laughs, external files): refuse
    try:
        root = ET.fromstring(xml_text)
    except (ET.ParseError, ValueError):
        return None
    known = {_dotted(nodeid): nodeid for nodeid in _NODEID.findall(output)}
    summary = Summary(passed=0, skipped=0, collected=0)
    for case in root.iter("testcase"):
        summary.collected = (summary.collected or 0) + 1
        test_id = _test_id(case, known)
        problem = next((c for c in case if c.tag in ("failure", "error")), None)
        if problem is None:
            if any(c.tag == "skipped" for c in case):
                summary.skipped = (summary.skipped or 0) + 1
            else:
                summary.passed = (summary.passed or 0) + 1
            continue
        message = problem.get("message") or ""
        detail = "\n".join(s for s in (message, problem.text or "") if s)
        name = summary.fail(test_id, detail)
        if message == "collection failure" and summary.broken is None:
            why = first_error_line(problem.text or "") or clean_name(message)
            summary.broken = f"collection error in {name}: {why}"
    summary.failed_count = len(summary.failed)
    return summary


def _dotted(nodeid: str) -> str:
    """The ``classname.name`` pytest writes to JUnit for a node id."""
    path, _, rest = nodeid.partition("::")
    return ".".join([path.removesuffix(".py").replace("/", "."), *rest.split("::")])


def _test_id(case: ET.Element, known: dict[str, str]) -> str:
    classname, name = case.get("classname") or "", case.get("name") or ""
    if not classname and re.fullmatch(r"[\w.]+", name):  # a collection error: the module
        return name.replace(".", "/") + ".py"
    key = f"{classname}.{name}" if classname else name
    if key in known:
        return known[key]
    if not re.fullmatch(r"[\w.]+", classname):
        return f"{classname}::{name}" if classname and classname != name else name
    parts = classname.split(".")
    classes: list[str] = []
    while len(parts) > 1 and parts[-1][:1].isupper():  # pytest test classes are Test*
        classes.insert(0, parts.pop())
    path = case.get("file") or "/".join(parts) + ".py"
    return "::".join([path, *classes, name])
