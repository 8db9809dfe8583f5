"""SEARCH/REPLACE edits in plain text, for models that cannot call tools.

Small local models often have no function calling, or use it badly. They can still change
code by replying in aider's block format::

    path/to/file.py
    <<<<<<< SEARCH
    exact old lines
    =======
    new lines
    >>>>>>> REPLACE

plus ``READ: path`` lines to see files and a final ``DONE: summary``. Every edit goes
through the same :class:`Workspace` jail as the tools. A reply that cannot be used gets a
reflection message saying exactly what went wrong (with the closest lines of the file for
a SEARCH that does not match); the loop bounds how many in a row it tolerates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from coffee_maker.agent.prompts import TEXT_PROMPTS, TEXT_REFLECTION
from coffee_maker.agent.protocol import TurnOutcome, reply_key
from coffee_maker.agent.tools import replace_once
from coffee_maker.agent.workspace import ToolError, Workspace
from coffee_maker.ai_providers.base import Message, ProviderResult, ToolSpec
from coffee_maker.secrets import redact_text

SEARCH_MARK = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
DIVIDER_MARK = re.compile(r"^\s*={5,9}\s*$")
REPLACE_MARK = re.compile(r"^\s*>{5,9} ?REPLACE\s*$")
READ_LINE = re.compile(r"^\s*READ:\s*(\S.*?)\s*$")
DONE_LINE = re.compile(r"^\s*DONE:\s*(.*)$")
_FENCE = re.compile(r"^\s*```")


@dataclass
class EditBlock:
    path: str
    search: str
    replace: str
    line: int  # where its SEARCH marker is in the reply, for messages


@dataclass
class ParsedReply:
    blocks: list[EditBlock] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    done: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def actionable(self) -> bool:
        return bool(self.blocks or self.reads or self.errors) or self.done is not None


def parse_reply(text: str) -> ParsedReply:
    """The blocks, READ requests and DONE summary in a reply, and what was malformed."""
    parsed = ParsedReply()
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if SEARCH_MARK.match(line):
            index = _parse_block(lines, index, parsed)
            continue
        if DIVIDER_MARK.match(line) or REPLACE_MARK.match(line):
            parsed.errors.append(
                f"line {index + 1}: {line.strip()!r} outside a block; every block starts with "
                "the file path, then a line `<<<<<<< SEARCH`"
            )
        elif match := READ_LINE.match(line):
            parsed.reads.append(match.group(1).strip("`'\""))
        elif match := DONE_LINE.match(line):
            rest = lines[index + 1 :]
            if any(SEARCH_MARK.match(r) for r in rest):
                parsed.done = match.group(1).strip()
            else:
                parsed.done = "\n".join([match.group(1), *rest]).strip()
                break
        index += 1
    return parsed


def _parse_block(lines: list[str], start: int, parsed: ParsedReply) -> int:
    """Parse the block whose SEARCH marker is at ``start``; return where to go on."""
    number = start + 1
    path = _path_before(lines, start)
    index = start + 1
    search: list[str] = []
    while index < len(lines) and not DIVIDER_MARK.match(lines[index]):
        if SEARCH_MARK.match(lines[index]) or REPLACE_MARK.match(lines[index]):
            break
        search.append(lines[index])
        index += 1
    if index == len(lines) or not DIVIDER_MARK.match(lines[index]):
        parsed.errors.append(
            f"the block at line {number} has no `=======` line after its SEARCH part"
        )
        return index
    index += 1
    replace: list[str] = []
    while index < len(lines) and not REPLACE_MARK.match(lines[index]):
        if SEARCH_MARK.match(lines[index]):
            break
        replace.append(lines[index])
        index += 1
    if index == len(lines) or not REPLACE_MARK.match(lines[index]):
        parsed.errors.append(f"the block at line {number} does not end with `>>>>>>> REPLACE`")
        return index
    if path is None:
        found = lines[start - 1].strip() if start else ""
        parsed.errors.append(
            f"the block at line {number} has no file path: the line just before "
            f"`<<<<<<< SEARCH` must be the path alone (found {found!r})"
        )
    else:
        parsed.blocks.append(EditBlock(path, _joined(search), _joined(replace), number))
    return index + 1


def _path_before(lines: list[str], marker: int) -> str | None:
    """The path on the line before a SEARCH marker (a code fence may sit between)."""
    index = marker - 1
    while index >= 0 and _FENCE.match(lines[index]) and index >= marker - 2:
        index -= 1
    if index < 0:
        return None
    candidate = lines[index].strip().strip("`*#").strip().removesuffix(":").strip()
    candidate = re.sub(r"^(?i:file|path):\s*", "", candidate)
    if not candidate or any(ch.isspace() for ch in candidate) or _FENCE.match(candidate):
        return None
    return candidate


def _joined(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def apply_block(workspace: Workspace, block: EditBlock) -> None:
    """Apply one block through the workspace jail; a ToolError says why it could not be."""
    if not block.search.strip():
        if workspace.exists(block.path) and workspace.read_raw(block.path).strip():
            raise ToolError(
                f"{block.path} already exists; an empty SEARCH part only creates new files. "
                "Put the lines to replace in the SEARCH part"
            )
        workspace.write_text(block.path, block.replace)
        return
    text = workspace.read_raw(block.path)
    # Blocks hold whole lines; a file whose last line has no newline must still match.
    unterminated = bool(text) and not text.endswith("\n")
    padded = text + "\n" if unterminated else text
    new = replace_once(padded, block.search, block.replace, block.path, what="the SEARCH part")
    if unterminated and new.endswith("\n"):
        new = new[:-1]
    workspace.write_text(block.path, new)


def render_read(workspace: Workspace, path: str) -> str:
    """A file's text (or a folder's listing) for a ``READ:`` request, or why not."""
    try:
        real = workspace.resolve(path)
        if real.is_dir():
            return f"{path}/ contains:\n" + "\n".join(workspace.list_files(path))
        text = workspace.truncate(workspace.read_raw(path))
    except ToolError as exc:
        return f"READ {path}: {exc}"
    return f"{path}\n```\n{text}{'' if text.endswith(chr(10)) else chr(10)}```"


class TextProtocol:
    """The SEARCH/REPLACE text protocol, with the same face as :class:`ToolProtocol`."""

    prompts = TEXT_PROMPTS

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def tools(self) -> list[ToolSpec] | None:
        return None

    def handle(self, result: ProviderResult) -> TurnOutcome:
        parsed = parse_reply(result.content)
        key = reply_key(result.content)
        if not parsed.actionable:
            return TurnOutcome([Message.user(self.prompts.nudge)], None, [(key, True)], True)
        applied, errors = [], list(parsed.errors)
        for block in parsed.blocks:
            try:
                apply_block(self.workspace, block)
                applied.append(f"- applied the block at line {block.line} to {block.path}")
            except (ToolError, OSError) as exc:
                errors.append(f"the block at line {block.line} for {block.path}: {exc}")
        parts = [render_read(self.workspace, path) for path in parsed.reads]
        if applied:
            parts.append("\n".join(applied))
        if errors:
            parts.append(TEXT_REFLECTION.format(errors="\n".join(f"- {e}" for e in errors)))
        finished = parsed.done if parsed.done is not None and not errors else None
        if finished is not None and not finished:
            finished = "(no summary given)"
        messages = [] if finished is not None else [Message.user(redact_text("\n\n".join(parts)))]
        return TurnOutcome(messages, finished, [(key, bool(errors))], bool(errors))
