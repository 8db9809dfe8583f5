"""ClaudeCLIProvider: the real Claude Code CLI against FakeAnthropic, and a stand-in CLI
(tests/fakes/fake_claude_cli.py) for the failures the real one cannot be pushed into here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes.anthropic import FakeAnthropic

from coffee_maker.ai_providers.base import Message, ToolCall
from coffee_maker.ai_providers.errors import (
    AuthenticationError,
    ContextTooLongError,
    OverloadedError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitError,
)
from coffee_maker.ai_providers.provider_config import ProviderSettings, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.providers.claude_cli_provider import ClaudeCLIProvider

REPO = Path(__file__).resolve().parents[1]
REAL_CLI = REPO / "node_modules" / ".bin" / "claude"
STAND_IN = Path(__file__).resolve().parent / "fakes" / "fake_claude_cli.py"
KEY = "dummy-anthropic-key-for-cli-0123"


@pytest.fixture
def claude_bin() -> Path:
    """The real CLI from package.json; missing is a failure, never a skip."""
    if not os.access(REAL_CLI, os.X_OK):
        pytest.fail(f"{REAL_CLI} is missing: run `npm ci` in {REPO} to install Claude Code")
    return REAL_CLI


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """A dummy key and a HOME of its own, so the CLI never sees a real login."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return home


@pytest.fixture
def fake():
    with FakeAnthropic(tool_requests_only=True) as server:
        yield server


@pytest.fixture
def workspace(tmp_path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    (root / "greet.py").write_text("print('hello')\n")
    return root


@pytest.fixture
def stand_in(tmp_path) -> Path:
    """An executable ``claude`` that runs the stand-in with this interpreter."""
    script = tmp_path / "bin" / "claude"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{STAND_IN}' \"$@\"\n")
    script.chmod(0o755)
    return script


def make(cli_path: Path | str, fake: FakeAnthropic | None = None, **settings) -> ClaudeCLIProvider:
    fields = {"name": "claude-cli", "type": "claude-cli", "model": "sonnet", "timeout": 60}
    if fake is not None:
        fields["base_url"] = fake.url
    return ClaudeCLIProvider(ProviderSettings(cli_path=str(cli_path), **fields | settings))


# -- the real Claude Code CLI ---------------------------------------------------------------


def test_real_cli_answers_a_prompt_with_content_and_cost(claude_bin, cli_env, fake, workspace):
    fake.reply_text("Hello from the fake model.", input_tokens=1000, output_tokens=50)
    provider = make(claude_bin, fake)

    result = provider.execute_prompt(
        "-- say hello", system_prompt="Answer in English.", working_dir=str(workspace)
    )

    assert result.success and result.content == "Hello from the fake model."
    assert result.model.startswith("claude-sonnet")
    assert result.usage["input_tokens"] == 1000 and result.usage["output_tokens"] == 50
    assert result.cost > 0  # the CLI's own figure
    assert result.metadata["num_turns"] == 1 and result.metadata["session_id"]
    assert result.stop_reason == "end_turn"
    request = fake.model_calls[0]
    assert request.headers["x-api-key"] == KEY
    body = request.json
    assert "-- say hello" in json.dumps(body["messages"])  # read from stdin, not as a flag
    assert "Answer in English." in json.dumps(body["system"])
    assert "Bash" not in [tool["name"] for tool in body["tools"]]  # no shell by default
    assert fake.unknown_requests == [], [r.path for r in fake.unknown_requests]


def last_user_turn(body: dict) -> dict:
    """The newest user message (with --max-budget-usd the CLI appends a system note)."""
    return [m for m in body["messages"] if m["role"] == "user"][-1]


def test_real_cli_edits_a_file_in_the_workspace(claude_bin, cli_env, fake, workspace):
    target = workspace / "greet.py"
    fake.reply_tool_calls([("Read", {"file_path": str(target)})])
    fake.reply_tool_calls(
        [("Edit", {"file_path": str(target), "old_string": "hello", "new_string": "goodbye"})]
    )
    fake.reply_tool_calls(
        [("Write", {"file_path": str(workspace / "NOTES.md"), "content": "greeting changed\n"})]
    )
    fake.reply_text("Changed the greeting.")

    result = make(claude_bin, fake).execute_prompt(
        "Change the greeting to goodbye", working_dir=str(workspace)
    )

    assert result.success and result.content == "Changed the greeting."
    assert target.read_text() == "print('goodbye')\n"
    assert (workspace / "NOTES.md").read_text() == "greeting changed\n"
    assert result.metadata["num_turns"] == 4
    tool_results = [
        block
        for request in fake.model_calls[1:]
        for block in last_user_turn(request.json)["content"]
        if block.get("type") == "tool_result"
    ]
    assert len(tool_results) == 3 and not any(b.get("is_error") for b in tool_results)


@pytest.mark.parametrize("allow_shell", [False, True])
def test_real_cli_runs_the_shell_only_when_allowed(
    claude_bin, cli_env, fake, workspace, allow_shell
):
    marker = workspace / "ran"
    fake.reply_tool_calls([("Bash", {"command": f"touch {marker}"})])
    fake.reply_text("finished")
    # Even a user rule allowing Bash does not open the shell without allow_shell.
    provider = make(claude_bin, fake, allow_shell=allow_shell, allowed_tools=["Bash"])

    result = provider.execute_prompt("run touch", working_dir=str(workspace))

    assert result.content == "finished"
    assert marker.exists() is allow_shell
    answer = last_user_turn(fake.model_calls[1].json)["content"][0]
    assert answer["type"] == "tool_result" and bool(answer.get("is_error")) is not allow_shell


def test_real_cli_turn_limit_is_a_result_not_an_exception(claude_bin, cli_env, fake, workspace):
    target = str(workspace / "greet.py")
    fake.reply_tool_calls([("Read", {"file_path": target})])
    fake.reply_tool_calls([("Read", {"file_path": target})])

    result = make(claude_bin, fake, max_turns=1).execute_prompt(
        "keep reading", working_dir=str(workspace)
    )

    assert not result.success
    assert result.error == "max turns reached (1)"
    assert result.stop_reason == "max_tokens"
    assert result.metadata["terminal_reason"] == "max_turns"


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, RateLimitError), (401, AuthenticationError), (529, OverloadedError)],
)
def test_real_cli_api_errors_map_to_the_taxonomy(
    claude_bin, cli_env, fake, workspace, status, error
):
    fake.error(status)
    with pytest.raises(error) as caught:
        make(claude_bin, fake).execute_prompt("hi", working_dir=str(workspace))
    assert caught.value.status_code == status
    assert len(fake.model_calls) == 1  # CLAUDE_CODE_MAX_RETRIES=0: retrying is ours


def test_real_cli_prompt_too_long(claude_bin, cli_env, fake, workspace):
    fake.prompt_too_long()
    with pytest.raises(ContextTooLongError):
        make(claude_bin, fake).execute_prompt("hi", working_dir=str(workspace))


# -- the stand-in: command line, environment, and failure modes ------------------------------


def test_command_line_environment_and_prompt(stand_in, cli_env, workspace, tmp_path, monkeypatch):
    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(record))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other-vendor-key-0123456789abcdef")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")
    provider = make(
        stand_in, max_turns=7, base_url="http://127.0.0.1:1", allowed_tools=["Read", "Edit"]
    )

    result = provider.execute_prompt(
        "Fix it", system_prompt="Be careful", working_dir=str(workspace)
    )

    seen = json.loads(record.read_text())
    assert seen["stdin"] == "Fix it" and Path(seen["cwd"]) == workspace
    assert seen["argv"] == [
        "-p", "--output-format", "json", "--model", "sonnet", "--max-turns", "7",
        "--permission-mode", "acceptEdits", "--append-system-prompt", "Be careful",
        "--allowedTools=Read,Edit", "--disallowedTools=Bash", "--max-budget-usd", "2.00",
    ]  # fmt: skip
    env = seen["env"]
    assert env["ANTHROPIC_API_KEY"] == KEY and env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:1"
    assert "OPENAI_API_KEY" not in env and "GITHUB_TOKEN" not in env
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "0" and env["DISABLE_AUTOUPDATER"] == "1"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert result.content == "Done." and result.cost == 0.0123
    assert result.usage == {
        "input_tokens": 1200,
        "output_tokens": 250,
        "cache_read_tokens": 4000,
        "cache_write_tokens": 300,
    }


def test_shell_allowed_and_no_key_uses_the_cli_login(stand_in, tmp_path, monkeypatch, workspace):
    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(record))
    provider = make(stand_in, allow_shell=True)

    assert provider.check_available()  # a subscription login needs no key
    provider.execute_prompt("go", working_dir=str(workspace))

    seen = json.loads(record.read_text())
    assert not any(arg.startswith("--disallowedTools") for arg in seen["argv"])
    assert "ANTHROPIC_API_KEY" not in seen["env"]


def test_a_conversation_is_flattened_into_one_prompt(stand_in, tmp_path, monkeypatch, workspace):
    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(record))
    call = ToolCall("t1", "run_tests", {})
    conversation = [
        Message.user("Add a --json flag"),
        Message(role="assistant", content="Done, running tests.", tool_calls=[call]),
        Message.tool_result(call, "2 failed", is_error=True),
        Message.user("Fix the failing tests"),
    ]

    make(stand_in).chat(conversation, working_dir=str(workspace))

    prompt = json.loads(record.read_text())["stdin"]
    for part in ("Add a --json flag", "Done, running tests.", "2 failed", "Fix the failing tests"):
        assert part in prompt
    assert prompt.index("2 failed") < prompt.index("Fix the failing tests")


def test_usage_limit_is_quota_exhausted_until_reset(stand_in, cli_env, monkeypatch, workspace):
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "usage_limit")
    with pytest.raises(QuotaExhaustedError) as caught:
        make(stand_in).execute_prompt("hi", working_dir=str(workspace))
    assert caught.value.reset_at == datetime.fromtimestamp(1893456000, UTC)


def test_output_that_is_not_json_is_a_clear_redacted_error(
    stand_in, cli_env, monkeypatch, workspace
):
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "not_json")
    with pytest.raises(ProviderError, match="exited with code 1 without a JSON result") as caught:
        make(stand_in).execute_prompt("hi", working_dir=str(workspace))
    assert "fatal: could not start" in str(caught.value)  # the stderr tail is quoted
    assert KEY not in str(caught.value)  # ...with the key the CLI printed removed


def test_a_crash_is_a_provider_error(stand_in, cli_env, monkeypatch, workspace):
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "crash")
    with pytest.raises(ProviderError, match=r"code 139.*Segmentation fault"):
        make(stand_in).execute_prompt("hi", working_dir=str(workspace))


def test_timeout_kills_the_whole_process_group(stand_in, cli_env, monkeypatch, workspace, tmp_path):
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "hang")
    monkeypatch.setenv("FAKE_CLAUDE_CHILD_PID", str(pid_file))
    started = time.monotonic()

    with pytest.raises(ProviderTimeoutError, match="process group killed"):
        make(stand_in, timeout=1.5).execute_prompt("hi", working_dir=str(workspace))

    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the CLI's own child process survived the timeout"


def test_missing_binary(cli_env, tmp_path, workspace):
    provider = make(tmp_path / "no" / "claude")
    assert not provider.check_available()
    assert "npm install -g @anthropic-ai/claude-code" in provider.describe_unavailable()
    with pytest.raises(ProviderError, match="Claude Code CLI not found"):
        provider.execute_prompt("hi", working_dir=str(workspace))
    assert not make("claude-not-on-path-anywhere").check_available()


def test_missing_working_directory(stand_in, cli_env, tmp_path):
    with pytest.raises(ProviderError, match="does not exist"):
        make(stand_in).execute_prompt("hi", working_dir=str(tmp_path / "gone"))


def test_factory_builds_it_without_a_key(stand_in):
    config = parse_config(
        {"providers": {"claude-cli": {"type": "claude-cli", "cli_path": str(stand_in)}}}, "test"
    )
    provider = ProviderFactory(config=config).get_provider("claude-cli")
    assert isinstance(provider, ClaudeCLIProvider)
    assert provider.execute_prompt("hi").content == "Done."


def test_importing_the_module_imports_no_sdk():
    code = (
        "import sys, coffee_maker.ai_providers.providers.claude_cli_provider;"
        "print('anthropic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def test_an_agentic_run_reserves_its_whole_cap(stand_in, cli_env, workspace, tmp_path, monkeypatch):
    """One CLI run is many model turns: the budget must hold its cap, not one turn's cost."""
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.ai_providers.fallback_strategy import (
        AllProvidersFailedError,
        FallbackConfig,
        FallbackStrategy,
    )
    from coffee_maker.ai_providers.provider_config import CostControls, parse_config
    from coffee_maker.ai_providers.provider_factory import ProviderFactory

    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(record))
    provider = make(stand_in, max_budget_usd=3.0)
    assert provider.worst_case_cost(1000, 8000) == 3.0
    assert "--max-budget-usd" in provider.command(str(stand_in))

    config = parse_config(
        {"providers": {"claude-cli": {"cli_path": str(stand_in), "max_budget_usd": 3.0}}}, "t"
    )
    tracker = CostTracker(CostControls(daily_limit=2.5, per_task_limit=None))
    strategy = FallbackStrategy(
        FallbackConfig(fallback_order=["claude-cli"]), ProviderFactory(config=config), tracker
    )
    with pytest.raises(AllProvidersFailedError) as failure:
        strategy.execute_prompt("Fix it", working_dir=str(workspace))
    assert failure.value.budget_exhausted
    assert not record.exists()  # the CLI never ran


def test_the_estimate_of_a_run_is_its_cap(stand_in):
    """--dry-run and budgets agree: one CLI run may cost up to max_budget_usd."""
    assert make(stand_in, max_budget_usd=2.0).estimate_cost("Fix the bug") == 2.0
