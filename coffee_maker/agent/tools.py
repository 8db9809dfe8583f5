"""The tools a model is offered (docs/ARCHITECTURE.md, "The agent's tools") and their dispatch.

Specs are provider-neutral JSON schemas; each provider renders them in its vendor's format.
Every failure (a refused path, a missing argument, an edit that does not match) comes back
as a :class:`ToolOutcome` with ``is_error`` set, for the model to read and correct: a tool
call never ends the run, only ``finish`` does.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coffee_maker.agent.result import Interrupted
from coffee_maker.agent.settings import AgentSettings
from coffee_maker.agent.verdict import Judgement
from coffee_maker.agent.verification import TestRun, TestSuite, Verifier, as_verifier
from coffee_maker.agent.workspace import ToolError, Workspace
from coffee_maker.ai_providers.base import ARGUMENTS_ERROR, ToolCall, ToolSpec
from coffee_maker.secrets import redact_text
from coffee_maker.wording import count_of


def _schema(required: list[str], **properties: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {n: {"type": t, "description": d} for n, (t, d) in properties.items()},
        "required": required,
    }


_PATH = ("string", "A path relative to the workspace root.")

#: The tools; ``run_command`` is offered only when the config allows it.
TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "list_files",
        "List files and folders (folders end with /) under a path; .gitignore is respected.",
        _schema([], path=("string", "Folder relative to the workspace root; default the root.")),
    ),
    ToolSpec(
        "read_file",
        "Read a text file. Lines come numbered (number, tab, text); the numbers are not part "
        "of the file.",
        _schema(
            ["path"],
            path=_PATH,
            start_line=("integer", "First line to show (from 1); default 1."),
            end_line=("integer", "Last line to show; default the end of the file."),
        ),
    ),
    ToolSpec(
        "search",
        "Search files for a regular expression; returns file:line: text for each match.",
        _schema(
            ["pattern"],
            pattern=("string", "A Python regular expression."),
            path=("string", "File or folder to search; default the whole workspace."),
        ),
    ),
    ToolSpec(
        "write_file",
        "Create a file or replace its whole content (folders are created as needed).",
        _schema(["path", "content"], path=_PATH, content=("string", "The complete new content.")),
    ),
    ToolSpec(
        "edit_file",
        "Replace exactly one occurrence of old_text with new_text. old_text must match the "
        "file exactly (whitespace included, without line numbers) and occur once.",
        _schema(
            ["path", "old_text", "new_text"],
            path=_PATH,
            old_text=("string", "The exact text to replace, with enough lines to be unique."),
            new_text=("string", "The replacement text."),
        ),
    ),
    ToolSpec(
        "run_tests",
        "Run the project's test command; returns its exit code and output.",
        _schema([]),
    ),
    ToolSpec(
        "finish",
        "End the task once the change is complete. The harness then runs the tests.",
        _schema(["summary"], summary=("string", "What you changed and why (goes in the PR).")),
    ),
)

RUN_COMMAND_SPEC = ToolSpec(
    "run_command",
    "Run a shell command in the workspace root (no secrets in its environment, time-limited).",
    _schema(["command"], command=("string", "The shell command line.")),
)


@dataclass
class ToolOutcome:
    """What a tool call produced: the text for the model, and whether the task is over."""

    content: str
    is_error: bool = False
    finished: bool = False
    summary: str | None = None


def check_arguments(spec: ToolSpec, arguments: Any) -> dict[str, Any]:
    """The arguments validated against ``spec``'s schema; a ToolError names the parameter."""
    if not isinstance(arguments, dict):
        raise ToolError(f"{spec.name}: arguments must be a JSON object")
    if ARGUMENTS_ERROR in arguments:  # the provider could not decode what the model wrote
        raise ToolError(f"{spec.name}: {arguments[ARGUMENTS_ERROR]}; send them again")
    properties: dict[str, Any] = spec.parameters.get("properties", {})
    known = ", ".join(properties) or "none"
    checked: dict[str, Any] = {}
    for name, value in arguments.items():
        if name not in properties:
            raise ToolError(f"{spec.name}: unknown parameter {name!r} (parameters: {known})")
        if value is not None:
            checked[name] = _coerce(spec.name, name, properties[name]["type"], value)
    for name in spec.parameters.get("required", []):
        if name not in checked:
            raise ToolError(f"{spec.name}: missing required parameter {name!r}")
    return checked


def _coerce(tool: str, name: str, kind: str, value: Any) -> Any:
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    raise ToolError(f"{tool}: parameter {name!r} must be a{'n' if kind[0] == 'i' else ''} {kind}")


def replace_once(text: str, old: str, new: str, path: str, what: str = "old_text") -> str:
    """``text`` with the single occurrence of ``old`` replaced; a ToolError explains a miss."""
    if not old:
        raise ToolError(f"{path}: {what} is empty; use write_file to create or replace a file")
    count = text.count(old)
    if count == 1:
        return text.replace(old, new, 1)
    if count == 0:
        raise ToolError(f"{path}: {what} was not found. {closest_lines(text, old)}")
    lines, start = [], 0
    while (index := text.find(old, start)) != -1:
        lines.append(str(text.count("\n", 0, index) + 1))
        start = index + len(old)
    raise ToolError(
        f"{path}: {what} occurs {count} times (at lines {', '.join(lines)}); include more "
        "surrounding lines so that it matches exactly once"
    )


def closest_lines(text: str, wanted: str) -> str:
    """Where ``wanted`` nearly occurs in ``text``, with line numbers, for the model to copy."""
    if " ".join(wanted.split()) in " ".join(text.split()):
        hint = (
            "It matches only if whitespace is ignored: copy indentation and blank lines exactly. "
        )
    else:
        hint = ""
    lines = text.splitlines()
    target = "\n".join(wanted.splitlines())
    size = max(1, len(wanted.splitlines()))
    best_ratio, best_start = 0.0, 0
    for start in range(max(1, len(lines) - size + 1)):
        matcher = difflib.SequenceMatcher(None, target, "\n".join(lines[start : start + size]))
        if matcher.real_quick_ratio() <= best_ratio or matcher.quick_ratio() <= best_ratio:
            continue
        if (ratio := matcher.ratio()) > best_ratio:
            best_ratio, best_start = ratio, start
    if best_ratio < 0.3:
        return hint + "No similar lines exist in the file; read it again before editing."
    window = lines[best_start : best_start + size]
    numbered = "\n".join(f"{best_start + i + 1:>6}\t{line}" for i, line in enumerate(window))
    return (
        f"{hint}The closest lines ({best_ratio:.0%} similar) are:\n{numbered}\n"
        "Copy the text exactly (without the line numbers) and try again."
    )


def describe_test_run(run: TestRun, judgement: Judgement) -> str:
    """What the model reads after run_tests: the harness's verdict, then the output."""
    report = run.report
    said = "passed" if judgement.ok else "FAILED"
    return f"Tests {said} (exit code {report.exit_code}): {judgement.text}\n{report.output}"


class Toolbox:
    """The tools bound to one workspace, a test command and the agent's limits."""

    def __init__(
        self,
        workspace: Workspace,
        tests: str | TestSuite | Verifier | None,
        settings: AgentSettings,
    ) -> None:
        self.workspace = workspace
        self.verifier = as_verifier(tests, workspace, settings.test_timeout)
        self.settings = settings
        self._handlers: dict[str, Callable[..., ToolOutcome]] = {
            "list_files": self._list_files,
            "read_file": self._read_file,
            "search": self._search,
            "write_file": self._write_file,
            "edit_file": self._edit_file,
            "run_tests": self._run_tests,
            "finish": self._finish,
        }
        if settings.allow_run_command:
            self._handlers["run_command"] = self._run_command

    def specs(self) -> list[ToolSpec]:
        extra = [RUN_COMMAND_SPEC] if self.settings.allow_run_command else []
        return [*TOOL_SPECS, *extra]

    def dispatch(self, call: ToolCall) -> ToolOutcome:
        """Run one tool call; every failure becomes an error outcome, none an exception."""
        spec = next((s for s in self.specs() if s.name == call.name), None)
        if spec is None:
            names = ", ".join(s.name for s in self.specs())
            return ToolOutcome(f"unknown tool {call.name!r}; available: {names}", is_error=True)
        try:
            outcome = self._handlers[call.name](**check_arguments(spec, call.arguments))
        except ToolError as exc:
            outcome = ToolOutcome(str(exc), is_error=True)
        except OSError as exc:
            outcome = ToolOutcome(f"{call.name}: {exc.strerror or exc}", is_error=True)
        outcome.content = redact_text(self.workspace.truncate(outcome.content))
        return outcome

    # -- handlers ---------------------------------------------------------------------------
    def _list_files(self, path: str = ".") -> ToolOutcome:
        return ToolOutcome("\n".join(self.workspace.list_files(path)) or f"({path} is empty)")

    def _read_file(
        self, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> ToolOutcome:
        return ToolOutcome(self.workspace.read_text(path, start_line, end_line))

    def _search(self, pattern: str, path: str = ".") -> ToolOutcome:
        matches = self.workspace.search(pattern, path)
        return ToolOutcome("\n".join(matches) or f"no match for {pattern!r}")

    def _write_file(self, path: str, content: str) -> ToolOutcome:
        size = self.workspace.write_text(path, content)
        return ToolOutcome(f"wrote {path} ({count_of(size, 'byte')})")

    def _edit_file(self, path: str, old_text: str, new_text: str) -> ToolOutcome:
        text = self.workspace.read_raw(path)
        self.workspace.write_text(path, replace_once(text, old_text, new_text, path))
        line = text.count("\n", 0, text.find(old_text)) + 1
        return ToolOutcome(f"edited {path}: replaced 1 occurrence at line {line}")

    def _run_tests(self) -> ToolOutcome:
        run = self.verifier.run()
        if run is None:
            return ToolOutcome(
                "No test command is configured for this project; check your change by reading "
                "it, then finish."
            )
        if run.interrupted:
            raise Interrupted("stop requested while the tests ran")
        judgement = self.verifier.judge(run.report)
        return ToolOutcome(describe_test_run(run, judgement), is_error=not judgement.ok)

    def _run_command(self, command: str) -> ToolOutcome:
        result = self.workspace.run(command, self.settings.command_timeout)
        return ToolOutcome(
            f"exit code {result.exit_code}\n{result.output}", is_error=result.exit_code != 0
        )

    def _finish(self, summary: str) -> ToolOutcome:
        if not summary.strip():
            raise ToolError("finish: parameter 'summary' must say what you changed")
        return ToolOutcome(
            "finished; the harness will now verify the change", finished=True, summary=summary
        )
