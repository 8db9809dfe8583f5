"""ROADMAP.md: the priorities a person wrote, as the daemon reads and updates them.

Roadmaps are written by people, in many dialects (emoji, bold, "Priority 2 - Title",
"US-021"), and real ones grow for years: archive sections repeat old ids, a status says
"🚨 Critical", a dependency line says "None (can start immediately)". So the parser is
lenient about headings and strict about ambiguity without refusing the whole file: each
doubtful thing is a warning with ``file:line``, and the priority it touches is *held* —
never picked by the daemon on its own, still runnable by ``--priority``. A repeated id
holds every heading that carries it; ``--priority 'PRIORITY 7@1234'`` names one by its
heading's line. Updates rewrite one status and leave every other byte alone, because
the file belongs to its author.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from coffee_maker.autonomous.roadmap_scan import (
    _EMOJI,
    _EMOJI_ALT,
    _TOKEN_RE,
    _WORD_ALT,
    STATUS_EMOJI,
    Priority,
    Status,
    _join,
    _Scanner,
    normalize_id,
    normalize_ref,
    parse_ref,
    slugify,
)
from coffee_maker.errors import UserError

__all__ = [
    "STATUS_EMOJI",
    "AmbiguousPriorityError",
    "Priority",
    "PriorityLookupError",
    "Roadmap",
    "RoadmapError",
    "Status",
    "normalize_id",
    "normalize_ref",
    "parse_ref",
    "read_roadmap",
    "set_status",
    "set_status_in_file",
    "slugify",
]


class RoadmapError(ValueError, UserError):
    """A roadmap the daemon cannot read at all; each problem reads ``file[:line]: what``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def one_line(self) -> str:
        return "; ".join(self.problems)


class PriorityLookupError(LookupError):
    """A ``--priority`` reference that names no priority, or more than one; ``str()`` is
    the one line to show."""


class AmbiguousPriorityError(PriorityLookupError, ValueError):
    """An id that several headings carry: name one as ``ID@LINE``."""


class Roadmap:
    """The priorities of one ROADMAP.md, in file order, and what the parser doubted."""

    def __init__(
        self,
        priorities: list[Priority],
        path: str = "ROADMAP.md",
        warnings: list[str] | None = None,
    ) -> None:
        self.priorities = priorities
        self.path = path
        #: ``path:line: message`` for each doubt (repeated ids, unreadable fields...): show
        #: them once; the priorities they touch are ``held``.
        self.warnings = warnings or []
        self._by_id: dict[str, list[Priority]] = {}
        for priority in priorities:
            self._by_id.setdefault(priority.id, []).append(priority)

    @classmethod
    def parse(cls, text: str, path: str | Path = "ROADMAP.md") -> Roadmap:
        scanner = _Scanner(text, str(path))
        return cls([f.priority for f in scanner.found], str(path), scanner.warnings)

    @classmethod
    def load(cls, path: str | Path) -> Roadmap:
        return cls.parse(read_roadmap(path), path)

    def __iter__(self) -> Iterator[Priority]:
        return iter(self.priorities)

    def __len__(self) -> int:
        return len(self.priorities)

    def find(self, ref: str) -> Priority:
        """The one priority ``ref`` names: ``PRIORITY 3``, ``3``, ``US-12``, ``ID@LINE`` or
        ``@LINE``. ValueError if it is not a reference; PriorityLookupError (one line) if it
        names none, or an id several headings carry (AmbiguousPriorityError)."""
        pid, line = parse_ref(ref)
        if line is not None:
            at_line = [p for p in self.priorities if p.line == line and pid in (None, p.id)]
            if at_line:
                return at_line[0]
            known = self._by_id.get(str(pid), [])
            hint = f" ({pid} is at line {_join([p.line for p in known])})" if known else ""
            raise PriorityLookupError(
                f"no {pid or 'priority'} heading at line {line} of {self.path}{hint}"
            )
        same = self._by_id.get(str(pid), [])
        if not same:
            raise PriorityLookupError(f"no such priority in {self.path}")
        if len(same) > 1:
            lines = [p.line for p in same]
            raise AmbiguousPriorityError(
                f"{pid} is ambiguous in {self.path}: headings at lines {_join(lines)}; "
                f"name one as '{pid}@{lines[-1]}'"
            )
        return same[0]

    def get(self, ref: str) -> Priority | None:
        """Like :meth:`find`, but None when nothing matches (ambiguity still raises)."""
        try:
            return self.find(ref)
        except AmbiguousPriorityError:
            raise
        except PriorityLookupError:
            return None

    def is_complete(self, priority_id: str) -> bool:
        """Every heading with this id is Complete (a repeated id is not met by half)."""
        same = self._by_id.get(priority_id, [])
        return bool(same) and all(p.status is Status.COMPLETE for p in same)

    def next_planned(
        self, skip: Callable[[Priority], bool] | set[str] | frozenset[str] = frozenset()
    ) -> Priority | None:
        """The first Planned priority whose dependencies are all Complete, not held and not
        skipped. A held priority (repeated id, unreadable field) runs only by ``--priority``."""
        skipped = skip if callable(skip) else (lambda p: p.id in skip)
        for priority in self.priorities:
            if priority.status is not Status.PLANNED or priority.held or skipped(priority):
                continue
            if all(self.is_complete(dep) for dep in priority.dependencies):
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


def set_status(
    text: str, priority_id: str, status: Status, path: str = "ROADMAP.md", line: int | None = None
) -> str:
    """``text`` with one priority's status changed and every other byte as it was.

    ``line`` (the heading's) picks one of several headings with the same id; with a
    unique id it is not needed, so a roadmap that moved since it was read still works.
    """
    wanted = normalize_id(priority_id)
    same = [f for f in _Scanner(text, path).found if f.priority.id == wanted]
    if len(same) > 1:
        lines = _join([f.priority.line for f in same])
        same = [f for f in same if f.priority.line == line]
        if not same:
            raise RoadmapError([f"{path}: {wanted} is ambiguous (headings at lines {lines})"])
    for found in same:
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
