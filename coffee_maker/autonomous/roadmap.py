"""ROADMAP.md: the priorities a person wrote, as the daemon reads and updates them.

Roadmaps are written by people, in many dialects (emoji, bold, "Priority 2 - Title",
"US-021"), so the parser is lenient about headings and strict about ambiguity: a
duplicate id, an unknown dependency or an unreadable status stops the daemon with
``file:line`` rather than letting it implement the wrong thing. Updates rewrite one
status and leave every other byte alone, because the file belongs to its author.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


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
    r"^[ \t]*(?:[-*+][ \t]+)?\*\*(?P<key>status|dependencies|depends on)(?::\*\*|\*\*[ \t]*:)"
    r"[ \t]*(?P<value>.*?)[ \t]*$",
    re.I,
)
_FENCE_RE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_ID_RE = re.compile(r"(?:priority[ \t_-]*)?(\d+(?:\.\d+)*)|us[-_ ]?(\d+)", re.I)
_NO_DEPENDENCIES = {"", "none", "n/a", "-", "—", "nothing"}


class RoadmapError(ValueError):
    """A roadmap the daemon cannot trust; each problem reads ``file:line: what``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


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


def normalize_id(text: str) -> str:
    """``priority 3`` / ``3`` → ``PRIORITY 3``; ``us-012`` → ``US-12``; else ValueError."""
    match = _ID_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a priority id: {text!r} (expected e.g. PRIORITY 3, 3.1 or US-12)")
    if match.group(1):
        return "PRIORITY " + ".".join(str(int(p)) for p in match.group(1).split("."))
    return f"US-{int(match.group(2))}"


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
    title = re.sub(r"^[:.\-\u2013\u2014][ \t]*", "", title)
    symbols = {ch for ch in title if unicodedata.category(ch) in ("So", "Sk", "Mn", "Cf")}
    return title.strip(" \t" + "".join(symbols))


class _Scanner:
    """One pass over the text: priority headings, their fields, and the problems found."""

    def __init__(self, text: str, path: str) -> None:
        self.text, self.path = text, path
        self.found: list[_Found] = []
        self.problems: list[str] = []
        self._dependency_lines: dict[str, int] = {}
        self._scan()

    def _problem(self, line: int, message: str) -> None:
        self.problems.append(f"{self.path}:{line}: {message}")

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
            self._problem(fence[1], f"code fence {fence[0]} is never closed")
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
        if key == "status" and section.status_value is None:
            status = _status_of(value)
            if status is None:
                self._problem(
                    number,
                    f"unknown status {value!r} for {section.priority.id} "
                    "(use Planned 📝, In Progress 🔄, Complete ✅ or Blocked ⏸️)",
                )
                return
            section.priority.status = status
            section.status_value = (line.start + match.start("value"), line.start + match.end())
        elif key != "status" and section.priority.id not in self._dependency_lines:
            self._dependency_lines[section.priority.id] = number
            section.priority.dependencies = self._dependencies(value, number)

    def _dependencies(self, value: str, number: int) -> list[str]:
        ids = []
        for item in re.split(r"[,;&]|\band\b", value):
            item = item.strip(" \t*`_")
            if item.lower() in _NO_DEPENDENCIES:
                continue
            match = _ID_RE.match(item)
            if not match or item[match.end() : match.end() + 1].isalnum():
                self._problem(number, f"cannot read dependency {item!r} (write e.g. PRIORITY 2)")
                continue
            ids.append(normalize_id(match.group(0)))
        return ids

    def _finish(self) -> None:
        first_line: dict[str, int] = {}
        for found in self.found:
            p = found.priority
            raw = self.text[found.heading.start : found.end].replace("\r\n", "\n")
            raw = raw.lstrip("\ufeff")
            p.section_text = re.sub(r"(?:\n[ \t]*(?:-{3,}|\*{3,})?[ \t]*)+\Z", "", raw.rstrip())
            if p.id in first_line:
                self._problem(p.line, f"duplicate id {p.id} (first at line {first_line[p.id]})")
            first_line.setdefault(p.id, p.line)
        for found in self.found:
            for dep in found.priority.dependencies:
                if dep == found.priority.id or dep not in first_line:
                    what = "itself" if dep == found.priority.id else f"unknown {dep}"
                    line = self._dependency_lines[found.priority.id]
                    self._problem(line, f"{found.priority.id} depends on {what}")

    def checked(self) -> list[_Found]:
        if self.problems:
            raise RoadmapError(self.problems)
        return self.found


class Roadmap:
    """The priorities of one ROADMAP.md, in file order."""

    def __init__(self, priorities: list[Priority], path: str = "ROADMAP.md") -> None:
        self.priorities = priorities
        self.path = path
        self._by_id = {p.id: p for p in priorities}

    @classmethod
    def parse(cls, text: str, path: str | Path = "ROADMAP.md") -> Roadmap:
        found = _Scanner(text, str(path)).checked()
        return cls([f.priority for f in found], str(path))

    @classmethod
    def load(cls, path: str | Path) -> Roadmap:
        return cls.parse(read_roadmap(path), path)

    def __iter__(self) -> Iterator[Priority]:
        return iter(self.priorities)

    def __len__(self) -> int:
        return len(self.priorities)

    def get(self, priority_id: str) -> Priority | None:
        """Look up ``PRIORITY 3``, ``priority 3``, ``3`` or ``US-12``; ValueError if not an id."""
        return self._by_id.get(normalize_id(priority_id))

    def next_planned(
        self, skip: Callable[[Priority], bool] | set[str] | frozenset[str] = frozenset()
    ) -> Priority | None:
        """The first Planned priority whose dependencies are all Complete and not skipped."""
        skipped = skip if callable(skip) else (lambda p: p.id in skip)
        for priority in self.priorities:
            if priority.status is not Status.PLANNED or skipped(priority):
                continue
            deps = (self._by_id[d] for d in priority.dependencies)
            if all(dep.status is Status.COMPLETE for dep in deps):
                return priority
        return None


def read_roadmap(path: str | Path) -> str:
    """The file's text with its line endings kept (CRLF survives a status update)."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise RoadmapError([f"{path}: roadmap not found (set daemon.roadmap)"]) from None
    except UnicodeDecodeError as exc:
        raise RoadmapError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None


def _render(status: Status, old: str) -> str:
    """The new status in the old one's style: its emoji, word, case and brackets kept."""
    emoji = re.search(_EMOJI_ALT, old)
    word = re.search(rf"(?<!\w)(?:{_WORD_ALT})(?!\w)", old, re.I)
    new = old
    if word:
        text = status.value.upper() if word.group(0).isupper() else status.value
        new = new[: word.start()] + text + new[word.end() :]
    if emoji:
        new = new[: emoji.start()] + STATUS_EMOJI[status] + new[emoji.end() :]
    return new


def set_status(text: str, priority_id: str, status: Status, path: str = "ROADMAP.md") -> str:
    """``text`` with one priority's status changed and every other byte as it was."""
    wanted = normalize_id(priority_id)
    for found in _Scanner(text, path).checked():
        if found.priority.id != wanted:
            continue
        if found.status_value:  # the whole value is replaced, in the same style
            start, end = found.status_value
            tokens = [m.group(0) for m in _TOKEN_RE.finditer(text, start, end)]
            emoji = next((t for t in tokens if t in _EMOJI), "")
            word = next((t for t in tokens if t not in _EMOJI), "")
            return text[:start] + _render(status, f"{emoji} {word}".strip()) + text[end:]
        if found.marker:
            start, end = found.marker
            return text[:start] + _render(status, text[start:end]) + text[end:]
        end = found.heading.end
        end -= len(found.heading.content) - len(found.heading.content.rstrip(" \t"))
        return text[:end] + " " + STATUS_EMOJI[status] + text[end:]
    raise RoadmapError([f"{path}: no priority {wanted}"])


def set_status_in_file(path: str | Path, priority_id: str, status: Status) -> None:
    """Rewrite one status in the file itself, keeping its bytes and line endings."""
    updated = set_status(read_roadmap(path), priority_id, status, str(path))
    Path(path).write_bytes(updated.encode("utf-8"))
