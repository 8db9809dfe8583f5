"""The tools a model is offered: their specs, and what each call returns."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from coffee_maker.agent.settings import AgentSettings
from coffee_maker.agent.tools import Toolbox
from coffee_maker.agent.workspace import Workspace
from coffee_maker.ai_providers.base import ToolCall

PY = shlex.quote(sys.executable)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "calc.py").write_text(
        "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
    )
    return tmp_path


def make_toolbox(root: Path, test_command: str | None = None, **settings: object) -> Toolbox:
    agent_settings = AgentSettings(**settings)
    return Toolbox(Workspace.from_settings(root, agent_settings), test_command, agent_settings)


def call(box: Toolbox, name: str, **arguments: object):
    return box.dispatch(ToolCall(id="c1", name=name, arguments=dict(arguments)))


def test_specs_match_the_contract_table(root: Path) -> None:
    specs = {s.name: s.parameters for s in make_toolbox(root).specs()}
    expected = {
        "list_files": ([], {"path"}),
        "read_file": (["path"], {"path", "start_line", "end_line"}),
        "search": (["pattern"], {"pattern", "path"}),
        "write_file": (["path", "content"], {"path", "content"}),
        "edit_file": (["path", "old_text", "new_text"], {"path", "old_text", "new_text"}),
        "run_tests": ([], set()),
        "finish": (["summary"], {"summary"}),
    }
    assert set(specs) == set(expected)
    for name, (required, properties) in expected.items():
        assert specs[name]["type"] == "object"
        assert specs[name]["required"] == required
        assert set(specs[name]["properties"]) == properties
    assert specs["read_file"]["properties"]["start_line"]["type"] == "integer"


def test_run_command_is_offered_only_when_allowed(root: Path) -> None:
    assert "run_command" not in {s.name for s in make_toolbox(root).specs()}
    refused = call(make_toolbox(root), "run_command", command="ls")
    assert refused.is_error and "unknown tool 'run_command'" in refused.content
    allowed = make_toolbox(root, allow_run_command=True)
    assert "run_command" in {s.name for s in allowed.specs()}
    done = call(allowed, "run_command", command="echo hello")
    assert not done.is_error and "exit code 0" in done.content and "hello" in done.content


def test_read_file_with_a_range_and_integer_strings(root: Path) -> None:
    outcome = call(make_toolbox(root), "read_file", path="calc.py", start_line="2", end_line=2)
    assert outcome.content == "     2\t    return a - b"
    assert not outcome.is_error


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("read_file", {}, "missing required parameter 'path'"),
        ("read_file", {"path": 3}, "parameter 'path' must be a string"),
        ("read_file", {"path": "calc.py", "start_line": "two"}, "'start_line' must be an integer"),
        ("read_file", {"file": "calc.py"}, "unknown parameter 'file'"),
        (
            "edit_file",
            {"path": "calc.py", "old_text": "x"},
            "missing required parameter 'new_text'",
        ),
        ("finish", {"summary": "  "}, "'summary' must say what you changed"),
        ("deploy", {}, "unknown tool 'deploy'; available: list_files"),
        (
            "write_file",
            {
                "_raw": '{"path": "a.py", "content": "x',
                "_error": "tool arguments are not valid JSON",
            },
            "write_file: tool arguments are not valid JSON; send them again",
        ),
    ],
)
def test_bad_calls_are_tool_errors_naming_the_problem(
    root: Path, name: str, arguments: dict, message: str
) -> None:
    outcome = call(make_toolbox(root), name, **arguments)
    assert outcome.is_error and not outcome.finished
    assert message in outcome.content


def test_edit_file_replaces_the_single_occurrence(root: Path) -> None:
    box = make_toolbox(root)
    outcome = call(
        box, "edit_file", path="calc.py", old_text="def add(a, b):\n    return a - b",
        new_text="def add(a, b):\n    return a + b",
    )  # fmt: skip
    assert not outcome.is_error and "line 1" in outcome.content
    assert (root / "calc.py").read_text().startswith("def add(a, b):\n    return a + b\n")


def test_edit_file_with_several_matches_says_how_many_and_where(root: Path) -> None:
    original = (root / "calc.py").read_text()
    outcome = call(make_toolbox(root), "edit_file", path="calc.py", old_text="return a - b",
                   new_text="return a + b")  # fmt: skip
    assert outcome.is_error
    assert "occurs 2 times (at lines 2, 6)" in outcome.content
    assert (root / "calc.py").read_text() == original


def test_edit_file_without_a_match_shows_the_closest_lines(root: Path) -> None:
    outcome = call(make_toolbox(root), "edit_file", path="calc.py",
                   old_text="def sub(a, b):\n    return a-b", new_text="x")  # fmt: skip
    assert outcome.is_error and "old_text was not found" in outcome.content
    assert "     5\tdef sub(a, b):\n     6\t    return a - b" in outcome.content


def test_edit_file_reports_whitespace_only_differences(root: Path) -> None:
    outcome = call(make_toolbox(root), "edit_file", path="calc.py",
                   old_text="def sub(a, b):\n  return a - b", new_text="x")  # fmt: skip
    assert "matches only if whitespace is ignored" in outcome.content


def test_write_then_list_and_search(root: Path) -> None:
    box = make_toolbox(root)
    assert call(box, "write_file", path="pkg/util.py", content="VALUE = 42\n").content == (
        "wrote pkg/util.py (11 bytes)"
    )
    assert call(box, "list_files").content.splitlines() == ["calc.py", "pkg/", "pkg/util.py"]
    assert call(box, "search", pattern=r"VALUE\s*=").content == "pkg/util.py:1: VALUE = 42"


def test_long_results_are_cut_to_the_output_budget(root: Path) -> None:
    (root / "many.txt").write_text("match here\n" * 150)
    outcome = call(make_toolbox(root, output_limit=1000), "search", pattern="match")
    assert len(outcome.content) < 1100 and "characters cut ...]" in outcome.content
    assert outcome.content.startswith("many.txt:1: match here")


def test_refusals_are_error_results_not_exceptions(root: Path) -> None:
    (root / ".env").write_text("TOKEN=abc\n")
    box = make_toolbox(root)
    for name, arguments in [
        ("read_file", {"path": "../etc/passwd"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": ".env"}),
        ("write_file", {"path": ".git/config", "content": "x"}),
        ("edit_file", {"path": "missing.py", "old_text": "a", "new_text": "b"}),
    ]:
        outcome = call(box, name, **arguments)
        assert outcome.is_error, (name, arguments)
    assert not (root / ".git").exists()


def test_run_tests_without_a_command_says_so(root: Path) -> None:
    outcome = call(make_toolbox(root), "run_tests")
    assert not outcome.is_error
    assert "No test command is configured" in outcome.content


def test_run_tests_reports_failure_with_exit_code_and_output(root: Path) -> None:
    command = f"{PY} -c \"import calc; assert calc.add(2, 3) == 5, 'add is wrong'\""
    box = make_toolbox(root, command)
    failing = call(box, "run_tests")
    assert failing.is_error
    assert "Tests FAILED (exit code 1" in failing.content and "add is wrong" in failing.content
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    passing = call(box, "run_tests")
    assert not passing.is_error and passing.content.startswith("Tests passed (exit code 0")


def test_finish_ends_the_task_with_its_summary(root: Path) -> None:
    outcome = call(make_toolbox(root), "finish", summary="Fixed add.")
    assert outcome.finished and outcome.summary == "Fixed add." and not outcome.is_error


def test_secrets_in_tool_output_are_redacted(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abcdefghijklmnopqrstuvwxyz123456")
    (root / "settings.py").write_text('KEY = "sk-abcdefghijklmnopqrstuvwxyz123456"\n')
    box = make_toolbox(root, allow_run_command=True)
    assert "abcdefghijklmnop" not in call(box, "read_file", path="settings.py").content
    printed = call(box, "run_command", command="env; printenv OPENAI_API_KEY").content
    assert "OPENAI_API_KEY" not in printed and "abcdefghijklmnop" not in printed
