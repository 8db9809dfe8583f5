"""ROADMAP.md as people write it: headings, statuses, dependencies, and byte-exact updates."""

from __future__ import annotations

import re

import pytest

from coffee_maker.autonomous.roadmap import (
    AmbiguousPriorityError,
    PriorityLookupError,
    Roadmap,
    RoadmapError,
    Status,
    normalize_id,
    normalize_ref,
    set_status,
    set_status_in_file,
    slugify,
)


@pytest.mark.parametrize(
    ("heading", "pid", "title", "status"),
    [
        (
            "## PRIORITY 3: Add a --json flag to the status command 📝",
            "PRIORITY 3",
            "Add a --json flag to the status command",
            Status.PLANNED,
        ),
        ("### PRIORITY 3.1: Title", "PRIORITY 3.1", "Title", Status.PLANNED),
        ("## US-12: Title", "US-12", "Title", Status.PLANNED),
        ("### 🔴 **PRIORITY 4: Title** ⚡ extra words", "PRIORITY 4", "Title", Status.PLANNED),
        ("### PRIORITY 1: Title ✅ Complete", "PRIORITY 1", "Title", Status.COMPLETE),
        ("## Priority 2 - Title", "PRIORITY 2", "Title", Status.PLANNED),
        ("### 🔴 PRIORITY 5: Title", "PRIORITY 5", "Title", Status.PLANNED),
        ("## US-021: Title", "US-21", "Title", Status.PLANNED),
        ("#### PRIORITY 6: Cache results 🔄", "PRIORITY 6", "Cache results", Status.IN_PROGRESS),
        ("## PRIORITY 7: Ship it ⏸️", "PRIORITY 7", "Ship it", Status.BLOCKED),
        ("## PRIORITY 8: Ship it **BLOCKED**", "PRIORITY 8", "Ship it", Status.BLOCKED),
        ("## PRIORITY 9: Docs (Done)", "PRIORITY 9", "Docs", Status.COMPLETE),
        ("## ✅ PRIORITY 10: Lead marker", "PRIORITY 10", "Lead marker", Status.COMPLETE),
        ("## PRIORITY 11: Mark tasks done", "PRIORITY 11", "Mark tasks done", Status.PLANNED),
    ],
)
def test_heading_forms(heading: str, pid: str, title: str, status: Status) -> None:
    (priority,) = Roadmap.parse(f"# Roadmap\n\n{heading}\n\nBody.\n").priorities
    assert (priority.id, priority.title, priority.status) == (pid, title, status)
    assert priority.line == 3
    assert priority.level == heading.index(" ")


def test_headings_that_are_not_priorities() -> None:
    text = (
        "# PRIORITY 1: level one is the document title\n"
        "## Priority Reorganization\n"
        "## 🔴 TOP PRIORITY FOR code_developer\n"
        "##### PRIORITY 2: too deep\n"
        "## PRIORITY 3 things without a separator\n"
        "#PRIORITY 4: not a heading\n"
    )
    assert Roadmap.parse(text).priorities == []


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("**Status**: ✅ Complete", Status.COMPLETE),
        ("**Status**: COMPLETED (2025-10-09)", Status.COMPLETE),
        ("**status**: done", Status.COMPLETE),
        ("- **Status:** 🔄 In Progress - Phase 1 complete", Status.IN_PROGRESS),
        ("**Status**: ⏸️", Status.BLOCKED),
        ("**Status**: blocked on review", Status.BLOCKED),
        ("**Status**: Cancelled (superseded by US-9)", Status.BLOCKED),
        ("**Status**: not started", Status.PLANNED),
        ("**Status**: 📝 Planned - **START NOW**", Status.PLANNED),
    ],
)
def test_status_line_wins_over_heading_marker(line: str, status: Status) -> None:
    text = f"## PRIORITY 1: Title 📝\n\nIntro.\n\n{line}\n\n**Status**: Blocked\n"
    assert Roadmap.parse(text).get("1").status is status


def test_code_fences_hide_headings_and_fields() -> None:
    text = (
        "## PRIORITY 1: Real\n"
        "```markdown\n"
        "## PRIORITY 2: Example inside a fence\n"
        "**Status**: ✅ Complete\n"
        "```\n"
        "~~~~\n"
        "```\n"
        "## PRIORITY 3: Still inside the tilde fence\n"
        "~~~~\n"
        "   ```bash\n"
        "   **Dependencies**: PRIORITY 99\n"
        "   ```\n"
        "**Status**: 🔄 In Progress\n"
    )
    roadmap = Roadmap.parse(text)
    assert [p.id for p in roadmap] == ["PRIORITY 1"]
    assert roadmap.get("1").status is Status.IN_PROGRESS
    assert roadmap.get("1").dependencies == []


def test_section_text_is_the_task_description() -> None:
    text = (
        "# Roadmap\n\n"
        "## PRIORITY 1: Parser\n\nWrite the parser.\n\n"
        "### Acceptance\n\n- handles CRLF\n\n---\n\n"
        "## Notes\n\nNot part of any priority.\n\n"
        "## PRIORITY 2: CLI\r\n\r\nAdd the CLI.\r\n"
        "### PRIORITY 2.1: Flag\n\nA flag.\n"
    )
    roadmap = Roadmap.parse(text)
    assert roadmap.get("1").section_text == (
        "## PRIORITY 1: Parser\n\nWrite the parser.\n\n### Acceptance\n\n- handles CRLF"
    )
    assert roadmap.get("2").section_text == "## PRIORITY 2: CLI\n\nAdd the CLI."
    assert roadmap.get("2.1").section_text == "### PRIORITY 2.1: Flag\n\nA flag."


def test_byte_order_mark_does_not_hide_the_first_heading() -> None:
    (priority,) = Roadmap.parse("\ufeff## PRIORITY 1: First\r\nBody\r\n").priorities
    assert (priority.id, priority.section_text) == ("PRIORITY 1", "## PRIORITY 1: First\nBody")


def test_dependencies_and_next_planned() -> None:
    text = (
        "## PRIORITY 1: Base ✅\n"
        "## PRIORITY 2: Needs 3\n**Dependencies**: PRIORITY 3\n"
        "## PRIORITY 3: Needs 1 and a story\n**Dependencies**: PRIORITY 1, US-7\n"
        "## US-7: Story\n**Status**: 🔄 In Progress\n**Dependencies**: None\n"
        "## PRIORITY 4: Free\n**Dependencies**: none\n"
        "## PRIORITY 5: Also free\n"
    )
    roadmap = Roadmap.parse(text)
    assert roadmap.get("3").dependencies == ["PRIORITY 1", "US-7"]
    assert roadmap.get("US-7").dependencies == []
    assert roadmap.next_planned().id == "PRIORITY 4"
    assert roadmap.next_planned(skip={"PRIORITY 4"}).id == "PRIORITY 5"
    assert roadmap.next_planned(skip=lambda p: p.id in {"PRIORITY 4", "PRIORITY 5"}) is None
    done = set_status(set_status(text, "US-7", Status.COMPLETE), "3", Status.COMPLETE)
    assert Roadmap.parse(done).next_planned().id == "PRIORITY 2"


def test_duplicates_and_unknown_dependencies_are_warnings_with_lines() -> None:
    text = (
        "## PRIORITY 1: One\n"
        "**Dependencies**: PRIORITY 9, priority 1\n"
        "## US-3: Story\n"
        "## priority 1: Again\n"
        "## US-003: Again\n"
        "## PRIORITY 2: Free\n"
    )
    roadmap = Roadmap.parse(text, path="docs/ROADMAP.md")
    hold = "; PRIORITY 1 is not picked on its own until this is fixed"
    assert roadmap.warnings == [
        "docs/ROADMAP.md:2: PRIORITY 1 depends on unknown PRIORITY 9" + hold,
        "docs/ROADMAP.md:2: PRIORITY 1 depends on itself" + hold,
        "docs/ROADMAP.md:4: duplicate id PRIORITY 1: headings at lines 1, 4; the daemon picks "
        "none of them on its own; run one with --priority 'PRIORITY 1@4'",
        "docs/ROADMAP.md:5: duplicate id US-3: headings at lines 3, 5; the daemon picks none "
        "of them on its own; run one with --priority 'US-3@5'",
    ]
    assert [p.ref for p in roadmap] == [
        "PRIORITY 1@1",
        "US-3@3",
        "PRIORITY 1@4",
        "US-3@5",
        "PRIORITY 2",
    ]
    assert roadmap.next_planned().id == "PRIORITY 2"  # every repeated id is held


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("## PRIORITY 1: A\n\n**Status**: someday\n", "ROADMAP.md:3: unknown status 'someday'"),
        ("## PRIORITY 1: A\n**Dependencies**: the auth work\n", "ROADMAP.md:2: cannot read"),
        ("## PRIORITY 1: A\n**Depends on**: PRIORITY 1\n", "ROADMAP.md:2: PRIORITY 1 depends on"),
    ],
)
def test_doubtful_fields_are_warnings_that_hold_the_priority(text: str, message: str) -> None:
    roadmap = Roadmap.parse(text + "## PRIORITY 2: B\n")
    [warning] = roadmap.warnings
    assert warning.startswith(message) and warning.endswith(
        "not picked on its own until this is fixed"
    )
    assert roadmap.get("1").held and roadmap.next_planned().id == "PRIORITY 2"


def test_an_unclosed_fence_is_a_warning_and_hides_what_follows() -> None:
    roadmap = Roadmap.parse("## PRIORITY 1: A\n\n```python\nx = 1\n## PRIORITY 2: B\n")
    assert roadmap.warnings == [
        "ROADMAP.md:3: code fence ``` is never closed; headings after it are not read"
    ]
    assert [p.id for p in roadmap] == ["PRIORITY 1"] and not roadmap.get("1").held


def test_dependency_notes_in_parentheses_and_none_with_a_reason_are_read() -> None:
    roadmap = Roadmap.parse(
        "## PRIORITY 1: A ✅\n## PRIORITY 2: B ✅\n## PRIORITY 3: C\n"
        "**Dependencies**: PRIORITY 1 (Daemon), PRIORITY 2 (Package & Binaries)\n"
        "## PRIORITY 4: D\n**Dependencies**: None (can start immediately)\n"
    )
    assert roadmap.warnings == []
    assert roadmap.get("3").dependencies == ["PRIORITY 1", "PRIORITY 2"]
    assert roadmap.get("4").dependencies == []
    assert roadmap.next_planned().id == "PRIORITY 3"


def test_a_repeated_id_is_named_by_line_and_met_only_when_all_are_complete() -> None:
    text = (
        "## PRIORITY 7: Archived ✅\n"  # line 1
        "## PRIORITY 7: Current\n"  # line 2
        "## PRIORITY 8: Next\n**Dependencies**: PRIORITY 7\n"
    )
    roadmap = Roadmap.parse(text)
    with pytest.raises(
        AmbiguousPriorityError,
        match=r"PRIORITY 7 is ambiguous in ROADMAP\.md: "
        r"headings at lines 1, 2; name one as 'PRIORITY 7@2'",
    ):
        roadmap.find("7")
    with pytest.raises(ValueError, match="ambiguous"):
        roadmap.get("PRIORITY 7")
    assert roadmap.find("PRIORITY 7@2").title == "Current"
    assert roadmap.find("7@1").title == "Archived" and roadmap.find("@2").title == "Current"
    with pytest.raises(
        PriorityLookupError,
        match="no PRIORITY 7 heading at line 3 of ROADMAP.md "
        r"\(PRIORITY 7 is at line 1, 2\)",
    ):
        roadmap.find("PRIORITY 7@3")
    with pytest.raises(PriorityLookupError, match="no priority heading at line 4"):
        roadmap.find("@4")
    with pytest.raises(ValueError, match="not a line number"):
        roadmap.find("7@x")
    assert roadmap.next_planned() is None  # 7 is held, 8 waits for every PRIORITY 7
    done = set_status(text, "7", Status.COMPLETE, line=2)
    assert done == text.replace("PRIORITY 7: Current", "PRIORITY 7: Current ✅")
    assert Roadmap.parse(done).next_planned().id == "PRIORITY 8"
    with pytest.raises(RoadmapError, match="PRIORITY 7 is ambiguous"):
        set_status(text, "7", Status.COMPLETE)
    assert normalize_ref(" 7 @ 12") == "PRIORITY 7@12" and normalize_ref("@12") == "@12"


def test_load_errors_name_the_file(tmp_path) -> None:
    missing = tmp_path / "ROADMAP.md"
    with pytest.raises(RoadmapError, match=re.escape(f"{missing}: roadmap not found")):
        Roadmap.load(missing)
    missing.write_bytes(b"## PRIORITY 1: caf\xe9\n")
    with pytest.raises(RoadmapError, match="not UTF-8"):
        Roadmap.load(missing)


def test_get_accepts_the_ways_people_write_ids() -> None:
    roadmap = Roadmap.parse("## PRIORITY 3: A\n## PRIORITY 3.1: B\n## US-12: C\n")
    for written in ("PRIORITY 3", "priority 3", "3", " 3 ", "priority-3"):
        assert roadmap.get(written).title == "A"
    assert roadmap.get("3.1").title == "B"
    assert roadmap.get("us-012").title == "C"
    assert roadmap.get("4") is None
    with pytest.raises(ValueError, match="not a priority id: 'banana'"):
        roadmap.get("banana")
    assert normalize_id("PRIORITY 03.10") == "PRIORITY 3.10"


def test_slugs_are_short_ascii_branch_parts() -> None:
    assert slugify("Add a --json flag to the status command") == (
        "add-a-json-flag-to-the-status-command"
    )
    assert slugify("Café crème: ünïcode & émojis 🚀") == "cafe-creme-unicode-emojis"
    long = slugify("Implement the complete multi provider fallback strategy with budgets")
    assert len(long) <= 40 and long == "implement-the-complete-multi-provider"
    assert slugify("🚀🚀") == "task"
    (priority,) = Roadmap.parse("## PRIORITY 2: Émoji 🚀 support\n").priorities
    assert priority.slug == "emoji-support"


STYLED = (
    "\ufeff# Roadmap  \r\n"
    "\r\n"
    "## PRIORITY 1: Done thing ✅ Complete  \r\n"
    "Text with trailing spaces   \r\n"
    "## PRIORITY 2: Status line\r\n"
    "- **Status:** 📝 Planned - **START NOW**\r\n"
    "## US-3: Loud marker **BLOCKED**\r\n"
    "## US-4: Bracket marker (Done)\n"
    "### 🔴 **PRIORITY 5: No marker** ⚡ extra words\n"
    "**Dependencies**: PRIORITY 1\n"
    "## PRIORITY 6: Word-only status\n"
    "**Status**: COMPLETE\n"
    "```\n## PRIORITY 7: fenced ✅\n```\n"
    "## PRIORITY 8: Ünïcödé ☕ 📝"
)


@pytest.mark.parametrize("pid", ["1", "2", "US-3", "US-4", "5", "6", "8"])
@pytest.mark.parametrize("status", list(Status))
def test_set_status_changes_one_line_and_nothing_else(pid: str, status: Status) -> None:
    before = Roadmap.parse(STYLED)
    updated = set_status(STYLED, pid, status)
    after = Roadmap.parse(updated)
    assert after.get(pid).status is status
    for old, new in zip(before, after, strict=True):
        if old.id != after.get(pid).id:
            assert (new.status, new.title) == (old.status, old.title)
    old_lines, new_lines = STYLED.split("\n"), updated.split("\n")
    assert len(old_lines) == len(new_lines)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert len(changed) <= 1
    assert updated.startswith("\ufeff") and not updated.endswith("\n")


@pytest.mark.parametrize(
    ("pid", "old_line", "new_line"),
    [
        (
            "1",
            "## PRIORITY 1: Done thing ✅ Complete  \r",
            "## PRIORITY 1: Done thing 🔄 In Progress  \r",
        ),
        ("2", "- **Status:** 📝 Planned - **START NOW**\r", "- **Status:** 🔄 In Progress\r"),
        ("US-3", "## US-3: Loud marker **BLOCKED**\r", "## US-3: Loud marker **IN PROGRESS**\r"),
        ("US-4", "## US-4: Bracket marker (Done)", "## US-4: Bracket marker (In Progress)"),
        (
            "5",
            "### 🔴 **PRIORITY 5: No marker** ⚡ extra words",
            "### 🔴 **PRIORITY 5: No marker** ⚡ extra words 🔄",
        ),
        ("6", "**Status**: COMPLETE", "**Status**: IN PROGRESS"),
        ("8", "## PRIORITY 8: Ünïcödé ☕ 📝", "## PRIORITY 8: Ünïcödé ☕ 🔄"),
    ],
)
def test_set_status_keeps_the_authors_style(pid: str, old_line: str, new_line: str) -> None:
    updated = set_status(STYLED, pid, Status.IN_PROGRESS)
    assert old_line in STYLED.split("\n")
    assert updated == STYLED.replace(old_line, new_line, 1)


def test_set_status_of_unknown_priority_is_an_error() -> None:
    with pytest.raises(RoadmapError, match=r"ROADMAP\.md: no priority PRIORITY 7"):
        set_status(STYLED, "7", Status.COMPLETE)


def test_set_status_in_file_keeps_crlf_bytes(tmp_path) -> None:
    path = tmp_path / "ROADMAP.md"
    path.write_bytes(STYLED.encode())
    set_status_in_file(path, "PRIORITY 2", Status.COMPLETE)
    expected = STYLED.replace("📝 Planned - **START NOW**", "✅ Complete").encode()
    assert path.read_bytes() == expected
    assert Roadmap.load(path).get("2").status is Status.COMPLETE


def test_a_dependency_cycle_is_a_warning_naming_it() -> None:
    roadmap = Roadmap.parse(
        "## PRIORITY 1: A\n**Dependencies**: PRIORITY 3\n"
        "## PRIORITY 2: B\n**Dependencies**: PRIORITY 1\n"
        "## PRIORITY 3: C\n**Dependencies**: PRIORITY 2, PRIORITY 4\n"
        "## PRIORITY 4: D\n"
        "## US-1: E\n**Dependencies**: US-2\n## US-2: F\n**Dependencies**: US-1\n"
    )
    tail = "; none of them becomes ready until one of these dependencies is removed or one "
    assert roadmap.warnings == [
        "ROADMAP.md:2: dependency cycle: PRIORITY 1 -> PRIORITY 3 -> PRIORITY 2 -> PRIORITY 1"
        + tail + "of them is Complete",
        "ROADMAP.md:9: dependency cycle: US-1 -> US-2 -> US-1" + tail + "of them is Complete",
    ]  # fmt: skip
    assert roadmap.next_planned().id == "PRIORITY 4"


def test_a_chain_without_a_cycle_warns_nothing() -> None:
    text = "".join(
        f"## PRIORITY {n}: step {n}\n**Dependencies**: PRIORITY {n + 1}\n" for n in range(1, 3000)
    )
    roadmap = Roadmap.parse(text + "## PRIORITY 3000: last\n")
    assert roadmap.warnings == []
    closed = Roadmap.parse(text + "## PRIORITY 3000: last\n**Dependencies**: PRIORITY 1\n")
    [warning] = closed.warnings
    assert warning.startswith("ROADMAP.md:2: dependency cycle: PRIORITY 1 -> PRIORITY 2 -> ")
    assert "PRIORITY 3000 -> PRIORITY 1;" in warning
