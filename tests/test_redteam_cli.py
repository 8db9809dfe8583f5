"""Attacks on the agent CLIs: a process left behind after a normal exit, and secrets in the
environment under names the secret patterns did not know."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from test_claude_cli_provider import _alive, make

from coffee_maker.ai_providers.providers.agent_cli import cli_environ, run_streaming
from coffee_maker.secrets import scrubbed_environ

STAND_IN = Path(__file__).resolve().parent / "fakes" / "fake_claude_cli.py"


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_a_cli_that_exits_leaving_a_background_process_leaves_nothing(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "cli.sh"
    script.write_text(
        "#!/bin/sh\n"
        "sleep 60 </dev/null >/dev/null 2>&1 &\n"
        f"echo $! > '{pid_file}'\n"
        'echo \'{"type": "done"}\'\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    events: list[dict] = []

    outcome = run_streaming(
        [str(script)], cwd=tmp_path, env=cli_environ({}), stdin_text="", timeout=30,
        stall_timeout=30, on_event=lambda e: events.append(e) or None,
    )  # fmt: skip

    assert outcome.returncode == 0 and events == [{"type": "done"}]
    assert _gone(int(pid_file.read_text())), "a process of the CLI kept running after it exited"


def test_claude_cli_that_exits_leaving_a_background_process_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "dummy-anthropic-key-for-cli-0123")
    script = tmp_path / "bin" / "claude"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{STAND_IN}' \"$@\"\n")
    script.chmod(0o755)
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "orphan")
    monkeypatch.setenv("FAKE_CLAUDE_CHILD_PID", str(pid_file))
    work = tmp_path / "work"
    work.mkdir()

    make(script).execute_prompt("hi", working_dir=str(work))

    assert _gone(int(pid_file.read_text())), "a process of the CLI kept running after it exited"


@pytest.mark.parametrize("name", ["OPENAI_KEY", "AZURE_OPENAI_KEY", "GITHUB_PAT", "ANTHROPIC_KEY"])
def test_a_key_under_a_name_without_api_or_token_reaches_no_cli(name: str) -> None:
    environ = {"PATH": os.environ.get("PATH", ""), name: "value-of-a-real-key-0123456789"}
    assert name not in scrubbed_environ(environ)  # Claude CLI's environment, run_command's
    assert name not in cli_environ({}, environ)
