"""SEARCH/REPLACE text edits for models without tool calling."""

from __future__ import annotations

from pathlib import Path

import pytest

from coffee_maker.agent.edit_blocks import EditBlock, TextProtocol, apply_block, parse_reply
from coffee_maker.agent.workspace import ToolError, Workspace
from coffee_maker.ai_providers.base import ProviderResult

REPLY = """I will fix the sign.

calc.py
```python
<<<<<<< SEARCH
def add(a, b):
    return a - b
=======
def add(a, b):
    return a + b
>>>>>>> REPLACE
```

READ: tests/test_calc.py
DONE: Fixed add,
which subtracted.
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    return Workspace(tmp_path)


def test_parse_finds_blocks_reads_and_a_multiline_done() -> None:
    parsed = parse_reply(REPLY)
    assert parsed.errors == []
    assert parsed.blocks == [
        EditBlock(
            "calc.py", "def add(a, b):\n    return a - b\n", "def add(a, b):\n    return a + b\n", 5
        )
    ]
    assert parsed.reads == ["tests/test_calc.py"]
    assert parsed.done == "Fixed add,\nwhich subtracted."


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("calc.py\n<<<<<<< SEARCH\nold\n>>>>>>> REPLACE\n", "no `=======` line"),
        ("calc.py\n<<<<<<< SEARCH\nold\n=======\nnew\n", "does not end with `>>>>>>> REPLACE`"),
        ("Here is my change:\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE", "no file path"),
        ("=======\nnew\n>>>>>>> REPLACE\n", "outside a block"),
    ],
)
def test_malformed_blocks_are_reported_precisely(reply: str, message: str) -> None:
    parsed = parse_reply(reply)
    assert not parsed.blocks
    assert any(message in error for error in parsed.errors), parsed.errors


def test_a_good_block_after_a_broken_one_still_parses() -> None:
    reply = "a.py\n<<<<<<< SEARCH\nx\nb.py\n<<<<<<< SEARCH\ny\n=======\nz\n>>>>>>> REPLACE\n"
    parsed = parse_reply(reply)
    assert [b.path for b in parsed.blocks] == ["b.py"]
    assert len(parsed.errors) == 1


def test_apply_replaces_and_creates(ws: Workspace) -> None:
    apply_block(ws, EditBlock("calc.py", "    return a - b\n", "    return a + b\n", 1))
    assert (ws.root / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    apply_block(ws, EditBlock("pkg/new.py", "", "X = 1\n", 1))
    assert (ws.root / "pkg" / "new.py").read_text() == "X = 1\n"


def test_apply_to_a_file_without_final_newline(ws: Workspace) -> None:
    (ws.root / "raw.txt").write_text("first\nlast")
    apply_block(ws, EditBlock("raw.txt", "last\n", "final\n", 1))
    assert (ws.root / "raw.txt").read_text() == "first\nfinal"


def test_an_empty_search_does_not_overwrite_an_existing_file(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="already exists"):
        apply_block(ws, EditBlock("calc.py", "", "oops\n", 1))
    assert "def add" in (ws.root / "calc.py").read_text()


@pytest.mark.parametrize("path", ["../escape.py", "/tmp/escape.py", ".env", ".git/config"])
def test_blocks_go_through_the_jail(ws: Workspace, path: str) -> None:
    with pytest.raises(ToolError):
        apply_block(ws, EditBlock(path, "", "evil\n", 1))
    assert not (ws.root.parent / "escape.py").exists()
    assert not (ws.root / ".env").exists()


def reply(text: str) -> ProviderResult:
    return ProviderResult(content=text, provider="local", model="tiny")


def test_a_search_that_does_not_match_gets_a_reflection_with_the_closest_lines(
    ws: Workspace,
) -> None:
    protocol = TextProtocol(ws)
    text = (
        "calc.py\n<<<<<<< SEARCH\ndef add(a,b):\n  return a-b\n=======\nX\n>>>>>>> REPLACE\n"
        "DONE: ok"
    )
    outcome = protocol.handle(reply(text))
    assert outcome.summary is None  # not finished while a block failed
    assert outcome.format_error
    message = outcome.messages[0].content
    assert "the SEARCH part was not found" in message
    assert "     1\tdef add(a, b):\n     2\t    return a - b" in message
    assert (ws.root / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"


def test_applied_blocks_and_reads_are_reported(ws: Workspace) -> None:
    outcome = TextProtocol(ws).handle(
        reply(REPLY.replace("DONE: Fixed add,\nwhich subtracted.", ""))
    )
    message = outcome.messages[0].content
    assert "READ tests/test_calc.py: tests/test_calc.py: no such file" in message
    assert "applied the block at line 5 to calc.py" in message
    assert not outcome.format_error


def test_read_shows_the_file_text(ws: Workspace) -> None:
    message = TextProtocol(ws).handle(reply("READ: calc.py")).messages[0].content
    assert message == "calc.py\n```\ndef add(a, b):\n    return a - b\n```"


def test_done_with_clean_blocks_finishes(ws: Workspace) -> None:
    outcome = TextProtocol(ws).handle(reply(REPLY.replace("READ: tests/test_calc.py\n", "")))
    assert outcome.summary == "Fixed add,\nwhich subtracted."
    assert outcome.messages == []
    assert "return a + b" in (ws.root / "calc.py").read_text()


def test_a_reply_with_nothing_to_do_gets_the_format_reminder(ws: Workspace) -> None:
    outcome = TextProtocol(ws).handle(reply("I think the bug is in add."))
    assert outcome.format_error and outcome.summary is None
    assert "no READ line, no SEARCH/REPLACE block and no DONE line" in outcome.messages[0].content
