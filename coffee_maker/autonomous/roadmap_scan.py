"""Reading ROADMAP.md's text: priority headings, their fields, and what is doubtful.

One pass over the lines, outside code fences. The scanner never refuses a file: what it
cannot read or cannot trust (an unknown status, an unreadable or unknown dependency, a
repeated id, a fence left open) becomes a warning with its line, and the priority it
touches is *held* (``Priority.held``) so the daemon never picks it on its own.
:mod:`coffee_maker.autonomous.roadmap` builds the public ``Roadmap`` on top.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from coffee_maker.autonomous.roadmap_cycles import dependency_cycles


class Status(StrEnum):
    PLANNED = "Planned"
    IN_PROGRESS = "In Progress"
    COMPLETE = "Complete"
    BLOCKED = "Blocked"


#: The emoji the daemon writes for each status; reading also accepts a few synonyms.
STATUS_EMOJI = {
    Status.PLANNED: "📝",
    Status.IN_PROGRESS: "🔄",
    Status.COMPLETE: "✅",
    Status.BLOCKED: "⏸️",
}
_EMOJI = {"📝": Status.PLANNED, "🔄": Status.IN_PROGRESS, "🚧": Status.IN_PROGRESS}
_EMOJI |= {"✅": Status.COMPLETE, "✔️": Status.COMPLETE, "✔": Status.COMPLETE}
_EMOJI |= {"⏸️": Status.BLOCKED, "⏸": Status.BLOCKED, "⛔": Status.BLOCKED, "🚫": Status.BLOCKED}
_WORDS = {
    Status.PLANNED: ("planned", "todo", "to do", "not started", "pending", "backlog", "proposed"),
    Status.IN_PROGRESS: ("in progress", "in-progress", "wip", "started", "ongoing", "in review"),
    Status.COMPLETE: ("complete", "completed", "done", "finished", "implemented", "merged"),
    # Cancelled work must never be picked up, and Blocked is the status that says so.
    Status.BLOCKED: ("blocked", "on hold", "paused", "deferred", "cancelled", "canceled"),
}
_WORD = {w: s for s, words in _WORDS.items() for w in words}


def _alt(options: Iterable[str]) -> str:
    return "|".join(re.escape(o) for o in sorted(options, key=len, reverse=True))


_EMOJI_ALT, _WORD_ALT = _alt(_EMOJI), _alt(_WORD)
_TOKEN_RE = re.compile(rf"(?P<emoji>{_EMOJI_ALT})|(?<!\w)(?P<word>{_WORD_ALT})(?!\w)", re.I)
_HEADING_RE = re.compile(r"^\ufeff?[ ]{0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_PRIORITY_RE = re.compile(
    r"^(?P<lead>[^A-Za-z0-9]*?)(?P<id>priority[ \t]+\d+(?:\.\d+)*|us[-_ ]?\d+)(?!\w|\.\d)"
    r"(?P<rest>[ \t]*(?:\*\*|__)?[ \t]*(?:[^\w\s].*)?)$",
    re.I,
)
_MARKER_RE = re.compile(
    rf"(?P<core>(?P<emoji>{_EMOJI_ALT})?[ \t]*"
    rf"(?:(?<!\w)(?P<open>[(\[]|\*\*)?(?P<word>{_WORD_ALT})(?P<close>[)\]]|\*\*)?)?)"
    r"(?<![ \t])[ \t]*(?:\*\*|__)?[ \t]*$",
    re.I,
)
_FIELD_RE = re.compile(
    r"^[ \t]*(?:[-*+][ \t]+)?\*\*(?P<key>status|dependencies|depends on|type|complexity|privacy)"
    r"(?::\*\*|\*\*[ \t]*:)"
    r"[ \t]*(?P<value>.*?)[ \t]*$",
    re.I,
)
_FENCE_RE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_ID_RE = re.compile(r"(?:priority[ \t_-]*)?(\d+(?:\.\d+)*)|us[-_ ]?(\d+)", re.I)
_NO_DEPENDENCIES = {"", "none", "n/a", "-", "—", "nothing"}
#: The task types a ``**Type**:`` line may name (routing: docs/ROUTING.md).
TASK_TYPES = ("docs", "tests", "refactor", "feature", "bugfix")


@dataclass
class Priority:
    """One roadmap entry; ``line`` is its heading's 1-based line, for messages that point."""

    id: str
    title: str
    status: Status
    level: int
    line: int
    section_text: str
    dependencies: list[str] = field(default_factory=list)
    slug: str = ""
    #: Why the daemon never picks it on its own (a repeated id, an unreadable field...).
    held: list[str] = field(default_factory=list)
    #: How to name exactly this priority: the id, or ``ID@LINE`` when the id repeats.
    ref: str = ""
    #: Routing hints (docs/ROUTING.md): ``**Type**:``, ``**Complexity**:`` (1-10) and
    #: ``**Privacy**: local``; None when the section has no (readable) such line.
    task_type: str | None = None
    complexity: int | None = None
    privacy: str | None = None


def normalize_id(text: str) -> str:
    """``priority 3`` / ``3`` → ``PRIORITY 3``; ``us-012`` → ``US-12``; else ValueError."""
    match = _ID_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a priority id: {text!r} (expected e.g. PRIORITY 3, 3.1 or US-12)")
    if match.group(1):
        return "PRIORITY " + ".".join(str(int(p)) for p in match.group(1).split("."))
    return f"US-{int(match.group(2))}"


def parse_ref(text: str) -> tuple[str | None, int | None]:
    """``PRIORITY 7``, ``7@1234`` or ``@1234`` → (normalized id or None, line or None)."""
    head, at, tail = text.strip().rpartition("@")
    if not at:
        return normalize_id(text), None
    if not tail.strip().isdigit() or int(tail) < 1:
        raise ValueError(f"not a line number after '@': {tail!r} (write e.g. 'PRIORITY 7@1234')")
    return (normalize_id(head) if head.strip() else None), int(tail)


def normalize_ref(text: str) -> str:
    """The canonical spelling of a reference (``7@12`` → ``PRIORITY 7@12``); else ValueError."""
    pid, line = parse_ref(text)
    return f"{pid or ''}@{line}" if line is not None else str(pid)


def slugify(title: str, max_length: int = 40) -> str:
    """A branch-name-safe slug: ASCII, lowercase, dashes, cut at a word boundary."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut[: cut.rfind("-")] if "-" in cut[1:] else slug[:max_length]
    return slug.strip("-") or "task"


@dataclass
class _Line:
    start: int  # offset of the line in the text
    content: str  # without its line ending

    @property
    def end(self) -> int:
        return self.start + len(self.content)


@dataclass
class _Found:
    """A priority plus where its status lives in the text, for set_status."""

    priority: Priority
    heading: _Line
    marker: tuple[int, int] | None = None  # span of the heading's status marker
    status_value: tuple[int, int] | None = None  # span of the **Status**: value
    dependency_line: int | None = None  # line of the **Dependencies**: field
    end: int = 0  # offset where the section ends


def _split_lines(text: str) -> list[_Line]:
    lines, pos = [], 0
    while pos < len(text):
        nl = text.find("\n", pos)
        stop = len(text) if nl < 0 else nl
        content = text[pos:stop]
        lines.append(_Line(pos, content[:-1] if content.endswith("\r") else content))
        pos = stop + 1
    return lines


def _status_of(value: str) -> Status | None:
    match = _TOKEN_RE.search(value)
    if not match:
        return None
    if match.group("emoji"):
        return _EMOJI[match.group("emoji")]
    return _WORD[match.group("word").lower()]


def _heading_marker(content: str, id_end: int) -> tuple[Status, int, int] | None:
    """The heading's status marker and its span: trailing, else an emoji before the id.

    A trailing word alone counts only when it stands out (``COMPLETE``, ``(Done)``,
    ``**Blocked**``), so a title that merely ends in "done" is not a status.
    """
    match = _MARKER_RE.search(content, id_end)
    if match and (match.group("emoji") or match.group("word")):
        word = match.group("word") or ""
        stands_out = word.isupper() or bool(match.group("open") and match.group("close"))
        if match.group("emoji") or stands_out:
            status = _status_of(match.group("core"))
            return status or Status.PLANNED, match.start("core"), match.end("core")
    for token in _TOKEN_RE.finditer(content, 0, id_end):
        if token.group("emoji"):
            return _EMOJI[token.group("emoji")], token.start(), token.end()
    return None


def _title_of(lead: str, rest: str) -> str:
    if lead.rstrip().endswith(("**", "__")):  # **PRIORITY 4: Title** extra words
        rest = re.split(r"\*\*|__", rest.lstrip(" \t*_"), maxsplit=1)[0]
    title = re.sub(r"\*\*|__", "", rest).strip()
    title = re.sub(r"^[:.\-\u2013\u2014\])][ \t]*", "", title)  # "[US-4] Title" too
    symbols = {ch for ch in title if unicodedata.category(ch) in ("So", "Sk", "Mn", "Cf")}
    return title.strip(" \t" + "".join(symbols))


class _Scanner:
    """One pass over the text: priority headings, their fields, and warnings with lines."""

    def __init__(self, text: str, path: str) -> None:
        self.text, self.path = text, path
        self.found: list[_Found] = []
        self._warnings: list[tuple[int, str]] = []
        self._scan()

    @property
    def warnings(self) -> list[str]:
        """``path:line: message``, in file order."""
        return [
            f"{self.path}:{line}: {message}"
            for line, message in sorted(self._warnings, key=lambda w: w[0])
        ]

    def _warn(self, line: int, message: str, hold: Priority | None = None) -> None:
        """Record a warning; with ``hold``, that priority is not picked on its own."""
        if hold is not None:
            hold.held.append(message)
            message += f"; {hold.id} is not picked on its own until this is fixed"
        self._warnings.append((line, message))

    def _scan(self) -> None:
        fence: tuple[str, int] | None = None  # the open fence's run and line
        current: _Found | None = None
        for number, line in enumerate(_split_lines(self.text), start=1):
            run = _FENCE_RE.match(line.content)
            if fence is None and run:
                fence = (run.group(1), number)
            elif fence and run and line.content.strip().strip(fence[0][0]) == "":
                fence = None if run.group(1).startswith(fence[0]) else fence
            if fence or run:
                continue
            heading = _HEADING_RE.match(line.content)
            if heading:
                current = self._on_heading(line, number, heading, current)
            elif current:
                self._on_body_line(current, line, number)
        if current:
            current.end = len(self.text)
        if fence:
            self._warn(
                fence[1], f"code fence {fence[0]} is never closed; headings after it are not read"
            )
        self._finish()

    def _on_heading(
        self, line: _Line, number: int, heading: re.Match[str], current: _Found | None
    ) -> _Found | None:
        """A priority heading starts a section; any heading at its level or above ends one."""
        level = len(heading.group(1))
        match = _PRIORITY_RE.match(heading.group(2) or "") if 2 <= level <= 4 else None
        if current and (match or level <= current.priority.level):
            current.end = line.start
            current = None
        if not match:
            return current
        marker = _heading_marker(match.string, match.end("id"))
        rest = match.group("rest")
        if marker and marker[1] >= match.start("rest"):
            rest = rest[: marker[1] - match.start("rest")]
        title = _title_of(match.group("lead"), rest)
        pid = normalize_id(match.group("id"))
        status = marker[0] if marker else Status.PLANNED
        priority = Priority(pid, title, status, level, number, "", [], slugify(title or pid))
        offset = line.start + heading.start(2)
        span = (offset + marker[1], offset + marker[2]) if marker else None
        found = _Found(priority, line, span)
        self.found.append(found)
        return found

    def _on_body_line(self, section: _Found, line: _Line, number: int) -> None:
        match = _FIELD_RE.match(line.content)
        if not match:
            return
        key, value = match.group("key").lower(), match.group("value")
        if key in ("type", "complexity", "privacy"):
            self._routing_field(section.priority, key, value, number)
        elif key == "status" and section.status_value is None:
            status = _status_of(value)
            if status is None:
                message = (
                    f"unknown status {value[:80]!r} for {section.priority.id} "
                    "(use Planned 📝, In Progress 🔄, Complete ✅ or Blocked ⏸️)"
                )
                self._warn(number, message, hold=section.priority)
                return
            section.priority.status = status
            section.status_value = (line.start + match.start("value"), line.start + match.end())
        elif key in ("dependencies", "depends on") and section.dependency_line is None:
            section.dependency_line = number
            section.priority.dependencies = self._dependencies(section.priority, value, number)

    def _routing_field(self, priority: Priority, key: str, value: str, number: int) -> None:
        """The first ``**Type**:``, ``**Complexity**:`` or ``**Privacy**:`` line counts.

        An unreadable privacy value fails closed: the priority is treated as local-only
        (a typo must never send private code to a cloud model)."""
        word = value.strip(" \t*`_").lower()
        if key == "type" and priority.task_type is None:
            if word in TASK_TYPES:
                priority.task_type = word
                return
            known = ", ".join(TASK_TYPES)
            message = f"unknown type {value[:40]!r} for {priority.id} (use {known})"
            self._warn(number, message + "; the type is inferred from the text")
        elif key == "complexity" and priority.complexity is None:
            if word.isdigit() and 1 <= int(word) <= 10:
                priority.complexity = int(word)
                return
            message = f"cannot read complexity {value[:40]!r} for {priority.id}"
            self._warn(number, message + " (write 1 to 10); it is estimated from the text")
        elif key == "privacy" and priority.privacy is None:
            priority.privacy = word if word in ("local", "cloud") else "local"
            if word not in ("local", "cloud"):
                message = f"unknown privacy {value[:40]!r} for {priority.id}"
                self._warn(number, message + " (write local or cloud); treated as local")

    def _dependencies(self, priority: Priority, value: str, number: int) -> list[str]:
        """The ids a field names; notes in parentheses ("PRIORITY 3 (Packaging)") are not."""
        ids = []
        for item in re.split(r"[,;&]|\band\b", re.sub(r"\([^()]*\)", " ", value)):
            item = item.strip(" \t*`_")
            if item.lower() in _NO_DEPENDENCIES:
                continue
            match = _ID_RE.match(item)
            if not match or item[match.end() : match.end() + 1].isalnum():
                message = f"cannot read dependency {item[:80]!r} (write e.g. PRIORITY 2)"
                self._warn(number, message, hold=priority)
                continue
            ids.append(normalize_id(match.group(0)))
        return ids

    def _finish(self) -> None:
        lines: dict[str, list[int]] = {}
        for found in self.found:
            p = found.priority
            raw = self.text[found.heading.start : found.end].replace("\r\n", "\n")
            raw = raw.lstrip("\ufeff")
            p.section_text = re.sub(r"(?:\n[ \t]*(?:-{3,}|\*{3,})?[ \t]*)+\Z", "", raw.rstrip())
            lines.setdefault(p.id, []).append(p.line)
        for found in self.found:
            p = found.priority
            same = lines[p.id]
            p.ref = p.id if len(same) == 1 else f"{p.id}@{p.line}"
            if len(same) > 1:
                p.held.append(f"duplicate id (headings at lines {_join(same)})")
            for dep in p.dependencies:
                if dep == p.id or dep not in lines:
                    what = "itself" if dep == p.id else f"unknown {dep}"
                    self._warn(found.dependency_line or p.line, f"{p.id} depends on {what}", p)
        for pid, same in lines.items():
            if len(same) > 1:
                self._warn(same[1], _duplicate_warning(pid, same))
        self._warn_cycles()

    def _warn_cycles(self) -> None:
        """A dependency cycle never becomes ready: name it, at its first priority's line.

        Not held: once any member is Complete the cycle is broken and the rest can run.
        """
        graph: dict[str, list[str]] = {}
        where: dict[str, int] = {}
        for found in self.found:
            p = found.priority
            graph.setdefault(p.id, []).extend(d for d in p.dependencies if d != p.id)
            where.setdefault(p.id, found.dependency_line or p.line)
        for cycle in dependency_cycles(graph):
            path = " -> ".join(cycle)
            self._warn(
                where[cycle[0]],
                f"dependency cycle: {path}; none of them becomes ready until one of "
                "these dependencies is removed or one of them is Complete",
            )


def _join(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _duplicate_warning(pid: str, lines: list[int]) -> str:
    return (
        f"duplicate id {pid}: headings at lines {_join(lines)}; the daemon picks none of "
        f"them on its own; run one with --priority '{pid}@{lines[-1]}'"
    )
