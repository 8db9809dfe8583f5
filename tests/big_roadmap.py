"""A roadmap shaped like the long-lived one this project grew from (33,075 lines).

Forty ``PRIORITY`` and twenty ``US-`` sections in the dialects people use (emoji, bold,
``**Status**:`` lines, dependencies with notes in parentheses), long bodies with lists,
tables and code fences holding heading-like lines, then an archive section that repeats
twelve ids. What the daemon must make of it is known by construction:

- every repeated id is held (none is picked on its own), with a warning naming its lines;
- ``PRIORITY 7`` (Planned, repeated in the archive) is skipped, and ``PRIORITY 30``, which
  depends on it, waits: a repeated id is complete only when all its headings are;
- so the next priority is ``PRIORITY 31``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Ids the archive repeats (twelve of them), each with its old, completed title.
REPEATED = [
    "PRIORITY 3", "PRIORITY 5", "PRIORITY 7", "PRIORITY 8", "PRIORITY 9", "PRIORITY 11",
    "PRIORITY 12", "PRIORITY 14", "PRIORITY 2.5", "US-3", "US-4", "US-5",
]  # fmt: skip
NEXT = "PRIORITY 31"


@dataclass
class BigRoadmap:
    text: str
    #: id -> the lines of its headings, for the ids that repeat.
    repeated: dict[str, list[int]] = field(default_factory=dict)

    @property
    def lines(self) -> int:
        return self.text.count("\n")


def _body(pid: str, size: int, status_line: str | None) -> list[str]:
    """A section body of ``size`` lines: prose, lists, a table, and a fence with decoys."""
    lines = ["", f"**Owner**: team-{len(pid) % 3}"]
    if status_line:
        lines.append(status_line)
    lines += ["", f"Why {pid} matters, in a few paragraphs.", ""]
    lines += ["```markdown", f"## {pid}: a heading inside a fence is not a priority", "```", ""]
    lines += ["| step | done |", "|---|---|", "| design | ✅ |", "| build | 📝 |", ""]
    n = 0
    while len(lines) < size - 1:
        n += 1
        lines.append(f"- acceptance criterion {n} for {pid}: works as written, with a test")
    return [*lines, "---"]


def big_roadmap(target_lines: int = 33_075) -> BigRoadmap:
    """The roadmap text, about ``target_lines`` long, and where its repeated ids are."""
    sections: list[tuple[str, str, str | None, str | None]] = []  # heading, id, status, deps
    for n in range(1, 41):
        pid = f"PRIORITY {n}"
        done = n < 30 and n != 7
        marker = "✅ Complete" if done else "📝 Planned"
        deps = "PRIORITY 7 (the current one), PRIORITY 29" if n == 30 else None
        if n == 2:
            sections.append((f"### PRIORITY 2.5: Sub-step {marker}", "PRIORITY 2.5", None, None))
        heading = (
            f"### 🔴 **{pid}: Feature number {n}** ⚡" if n % 5 == 0 else f"## {pid}: Feature {n}"
        )
        sections.append((heading, pid, f"**Status**: {marker}", deps))
    for n in range(1, 21):
        marker = "✅" if n <= 10 else "📝"
        sections.append((f"## US-{n:03d}: Story {n} {marker}", f"US-{n}", None, None))
    archive = [(f"### {pid}: Old {pid} ✅", pid, None, None) for pid in REPEATED]

    per_section = (target_lines - 40 - 4 * len(archive)) // len(sections)
    out = ["# Product roadmap", "", "```text", "### PRIORITY 1: table of contents, not a heading"]
    out += ["```", "", "## Active work", ""]
    positions: dict[str, list[int]] = {}
    for heading, pid, status, deps in sections:
        positions.setdefault(pid, []).append(len(out) + 1)
        out.append(heading)
        body = _body(pid, per_section, status)
        if deps:
            body.insert(1, f"**Dependencies**: {deps}")
        out += body
    out += ["", "# Archive (kept for history)", ""]
    for heading, pid, _, _ in archive:
        positions.setdefault(pid, []).append(len(out) + 1)
        out += [heading, "", "Done long ago.", ""]
    while len(out) < target_lines:
        out.append("Notes kept after the archive.")
    repeated = {pid: lines for pid, lines in positions.items() if len(lines) > 1}
    return BigRoadmap("\n".join(out) + "\n", repeated)
