"""GeminiCLIProvider: the real Gemini CLI (npm ``@google/gemini-cli``) against FakeGemini's
``streamGenerateContent`` SSE API, and a stand-in CLI (tests/fakes/fake_gemini_cli.py) for
its command line, environment and exit codes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakes.gemini import FakeGemini, quota_failure, retry_info

from coffee_maker.ai_providers.classification import next_pacific_midnight
from coffee_maker.ai_providers.errors import (
    AuthenticationError,
    BadRequestError,
    ErrorKind,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
)
from coffee_maker.ai_providers.provider_config import ProviderSettings, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.providers.gemini_cli_provider import GeminiCLIProvider

REPO = Path(__file__).resolve().parents[1]
REAL_CLI = REPO / "node_modules" / ".bin" / "gemini"
STAND_IN = Path(__file__).resolve().parent / "fakes" / "fake_gemini_cli.py"
KEY = "AIzaSyGeminiCliTestKey0123456789abcd"


@pytest.fixture
def gemini_bin() -> Path:
    """The real CLI from package.json; missing is a failure, never a skip."""
    if not os.access(REAL_CLI, os.X_OK):
        pytest.fail(f"{REAL_CLI} is missing: run `npm ci` in {REPO} to install the Gemini CLI")
    return REAL_CLI


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    return home


@pytest.fixture
def fake():
    with FakeGemini(api_key=KEY) as server:
        yield server


@pytest.fixture
def workspace(tmp_path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    (root / "greet.py").write_text("print('hello')\n")
    return root


def make(cli_path, fake=None, **settings) -> GeminiCLIProvider:
    fields = {"name": "gemini-cli", "type": "gemini-cli", "model": "gemini-2.5-pro", "timeout": 60}
    if fake is not None:
        fields["base_url"] = fake.url
    return GeminiCLIProvider(ProviderSettings(cli_path=str(cli_path), **fields | settings))


def tool_names(body: dict) -> set[str]:
    return {d["name"] for t in body.get("tools", []) for d in t.get("functionDeclarations", [])}


# -- the real Gemini CLI --------------------------------------------------------------------


def test_real_gemini_edits_the_workspace(gemini_bin, cli_env, fake, workspace):
    target = str(workspace / "greet.py")
    fake.reply_tool_calls(
        [("replace", {"file_path": target, "old_string": "hello", "new_string": "goodbye",
                      "instruction": "change the greeting"})],
        input_tokens=8000, output_tokens=40,
    )  # fmt: skip
    fake.reply_tool_calls(
        [("write_file", {"file_path": str(workspace / "NOTES.md"), "content": "changed\n"})],
        input_tokens=1000, cached_tokens=8000, output_tokens=30,
    )  # fmt: skip
    fake.reply_text("Changed the greeting.", input_tokens=500, cached_tokens=9000,
                    output_tokens=20)  # fmt: skip

    result = make(gemini_bin, fake).execute_prompt(
        "-- change the greeting", system_prompt="Work carefully.", working_dir=str(workspace)
    )

    assert result.success and result.content == "Changed the greeting."
    assert (workspace / "greet.py").read_text() == "print('goodbye')\n"
    assert (workspace / "NOTES.md").read_text() == "changed\n"
    assert result.usage == {
        "input_tokens": 9500,
        "output_tokens": 90,
        "cache_read_tokens": 17000,
        "cache_write_tokens": 0,
    }
    assert result.cost == pytest.approx(9500 * 1.25e-6 + 90 * 10e-6 + 17000 * 0.125e-6)
    assert [(a["tool"], a["status"]) for a in result.metadata["actions"]] == [
        ("replace", "success"),
        ("write_file", "success"),
    ]
    first = fake.model_calls[0]
    assert first.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    assert first.headers["x-goog-api-key"] == KEY
    assert "-- change the greeting" in json.dumps(first.json["contents"])  # from stdin
    assert "Work carefully." in json.dumps(first.json["contents"])
    assert "run_shell_command" not in tool_names(first.json)  # no shell by default
    assert len(fake.model_calls) == 3


def test_real_gemini_runs_the_shell_only_when_allowed(gemini_bin, cli_env, fake, workspace):
    fake.reply_tool_calls([("run_shell_command", {"command": "touch ran"})]).reply_text("ok")
    result = make(gemini_bin, fake, allow_shell=True).execute_prompt(
        "touch", working_dir=str(workspace)
    )
    assert result.content == "ok" and (workspace / "ran").exists()
    assert "run_shell_command" in tool_names(fake.model_calls[0].json)


def test_real_gemini_daily_quota_cools_down_until_pacific_midnight(
    gemini_bin, cli_env, fake, workspace
):
    daily = quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")
    fake.error(429, details=[daily], times=3)
    with pytest.raises(QuotaExhaustedError, match="exhausted your daily quota") as caught:
        make(gemini_bin, fake).execute_prompt("hi", working_dir=str(workspace))
    assert caught.value.reset_at == next_pacific_midnight()


def test_real_gemini_retrying_a_quota_is_stopped_and_moves_on(gemini_bin, cli_env, fake, workspace):
    """Headless, the CLI retries a 429 for minutes: it is stopped at its first retry."""
    per_minute = quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier")
    fake.error(429, details=[per_minute, retry_info("30s")], times=10)
    started = time.monotonic()

    with pytest.raises(QuotaExhaustedError, match="Suggested retry after 30s") as caught:
        make(gemini_bin, fake).execute_prompt("hi", working_dir=str(workspace))

    assert time.monotonic() - started < 20
    reset = caught.value.reset_at
    assert reset is not None
    assert timedelta(seconds=15) < reset - datetime.now(UTC) < timedelta(seconds=31)
    assert len(fake.model_calls) == 1


def test_real_gemini_bad_key_is_an_auth_error(gemini_bin, cli_env, fake, workspace):
    fake.error(401, times=3)
    with pytest.raises(AuthenticationError) as caught:
        make(gemini_bin, fake).execute_prompt("hi", working_dir=str(workspace))
    assert caught.value.status_code == 401


def test_real_gemini_wall_time_is_enforced(gemini_bin, cli_env, fake, workspace):
    fake.trickle()
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError, match="did not finish within 4 s"):
        make(gemini_bin, fake, timeout=4).execute_prompt("hi", working_dir=str(workspace))
    assert time.monotonic() - started < 12


def test_real_gemini_turn_limit_is_a_result(gemini_bin, cli_env, fake, workspace):
    read = ("read_file", {"file_path": str(workspace / "greet.py")})
    for _ in range(4):
        fake.reply_tool_calls([read])
    result = make(gemini_bin, fake, max_turns=2).execute_prompt(
        "keep reading", working_dir=str(workspace)
    )
    assert result.error == "max turns reached (2)" and result.stop_reason == "max_tokens"
    assert len(fake.model_calls) <= 3


# -- the stand-in: command line, environment, exit codes -------------------------------------


def write_stand_in(directory: Path, exit_code: int = 0) -> Path:
    script = directory / "bin" / "gemini"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        f"#!/bin/sh\nFAKE_GEMINI_RECORD='{directory / 'record.json'}' "
        f"FAKE_GEMINI_EXIT={exit_code} exec '{sys.executable}' '{STAND_IN}' \"$@\"\n"
    )
    script.chmod(0o755)
    return script


def test_command_line_and_an_environment_with_only_its_own_key(
    cli_env, workspace, tmp_path, monkeypatch
):
    others = {
        "OPENAI_API_KEY": "sk-proj-otherVendorKey0123456789abcdef",
        "ANTHROPIC_API_KEY": "sk-ant-other-vendor-key-0123456789",
        "GITHUB_TOKEN": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    }
    for name, value in others.items():
        monkeypatch.setenv(name, value)
    provider = make(write_stand_in(tmp_path), base_url="http://127.0.0.1:9", max_turns=7)

    result = provider.execute_prompt(
        "Fix it", system_prompt="Be careful", working_dir=str(workspace)
    )

    seen = json.loads((tmp_path / "record.json").read_text())
    assert seen["stdin"] == "Be careful\n\nFix it" and Path(seen["cwd"]) == workspace
    assert seen["argv"] == [
        "-p", "", "--output-format", "stream-json", "--approval-mode", "auto_edit",
        "--skip-trust", "--model", "gemini-2.5-pro",
    ]  # fmt: skip
    env = seen["env"]
    assert env["GEMINI_API_KEY"] == KEY and env["GOOGLE_GEMINI_BASE_URL"] == "http://127.0.0.1:9"
    assert env["GEMINI_CLI_TRUST_WORKSPACE"] == "true"
    assert not set(others) & set(env)
    settings = json.loads((Path(env["GEMINI_CLI_HOME"]) / ".gemini" / "settings.json").read_text())
    assert settings["security"]["auth"]["selectedType"] == "gemini-api-key"
    assert settings["model"]["maxSessionTurns"] == 7
    assert result.content == "Done." and result.usage["cache_read_tokens"] == 4000


def test_without_a_key_it_uses_the_users_own_login(cli_env, workspace, tmp_path, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    provider = make(write_stand_in(tmp_path))
    assert provider.check_available()
    provider.execute_prompt("go", working_dir=str(workspace))
    env = json.loads((tmp_path / "record.json").read_text())["env"]
    assert "GEMINI_CLI_HOME" not in env and "GEMINI_API_KEY" not in env
    assert env["HOME"] == str(cli_env)


@pytest.mark.parametrize(
    ("code", "error", "meaning"),
    [
        (41, AuthenticationError, "authentication failed"),
        (42, BadRequestError, "invalid input"),
        (52, BadRequestError, "configuration error"),
        (55, BadRequestError, "untrusted workspace"),
        (44, ProviderError, "sandbox error"),
        (54, ProviderError, "tool execution failed"),
        (130, ProviderError, "cancelled"),
    ],
)
def test_exit_codes_map_to_the_taxonomy(cli_env, workspace, tmp_path, code, error, meaning):
    with pytest.raises(error, match=f"{meaning} \\(exit code {code}\\)") as caught:
        make(write_stand_in(tmp_path, code)).execute_prompt("hi", working_dir=str(workspace))
    if error is ProviderError:
        assert caught.value.kind is ErrorKind.UNKNOWN


def test_missing_binary_and_factory(tmp_path, cli_env, workspace):
    provider = make(tmp_path / "no" / "gemini")
    assert not provider.check_available()
    assert "npm install -g @google/gemini-cli" in provider.describe_unavailable()
    with pytest.raises(ProviderError, match="Gemini CLI not found"):
        provider.execute_prompt("hi", working_dir=str(workspace))
    config = parse_config(
        {"providers": {"gemini-cli": {"cli_path": str(write_stand_in(tmp_path))}}}, "test"
    )
    built = ProviderFactory(config=config).get_provider("gemini-cli")
    assert isinstance(built, GeminiCLIProvider) and built.estimate_cost("x") == 2.0


def test_real_gemini_stalled_stream_is_stopped(gemini_bin, cli_env, fake, workspace):
    fake.trickle()  # HTTP 200, then no event ever
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError, match=r"stalled: no output for 3 s"):
        make(gemini_bin, fake, stall_timeout=3).execute_prompt("hi", working_dir=str(workspace))
    assert time.monotonic() - started < 12
