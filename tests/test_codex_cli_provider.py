"""CodexCLIProvider: the real Codex CLI (npm ``@openai/codex``) against FakeOpenAI's
Responses API, and a stand-in CLI (tests/fakes/fake_codex_cli.py) to see its command line
and environment.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coffee_maker.ai_providers.errors import (
    AuthenticationError,
    ContextTooLongError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitError,
)
from coffee_maker.ai_providers.provider_config import ConfigError, ProviderSettings, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.providers.codex_cli_provider import CodexCLIProvider
from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fakes.openai_responses import function_outputs

REPO = Path(__file__).resolve().parents[1]
REAL_CLI = REPO / "node_modules" / ".bin" / "codex"
STAND_IN = Path(__file__).resolve().parent / "fakes" / "fake_codex_cli.py"
KEY = "sk-proj-codexTestKey0123456789abcdef"
PATCH = """apply_patch <<'EOF'
*** Begin Patch
*** Update File: greet.py
@@
-print('hi')
+print('goodbye')
*** Add File: NOTES.md
+greeting changed
*** End Patch
EOF
"""


@pytest.fixture
def codex_bin() -> Path:
    """The real CLI from package.json; missing is a failure, never a skip."""
    if not os.access(REAL_CLI, os.X_OK):
        pytest.fail(f"{REAL_CLI} is missing: run `npm ci` in {REPO} to install the Codex CLI")
    return REAL_CLI


@pytest.fixture
def codex_home(package_cache) -> Path:
    """A CODEX_HOME of the test's own, outside the temporary directory (Codex refuses to
    install its sandbox helper there)."""
    home = Path(tempfile.mkdtemp(prefix="codex-home-", dir=package_cache))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return home


@pytest.fixture
def fake():
    with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture
def workspace(tmp_path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    (root / "greet.py").write_text("print('hello')\n")
    return root


def make(cli_path, codex_home, fake=None, **settings) -> CodexCLIProvider:
    fields = {"name": "codex", "type": "codex-cli", "model": "gpt-5.4", "timeout": 60}
    if fake is not None:
        fields["base_url"] = fake.url + "/v1"
    fields |= {"cli_path": str(cli_path), "codex_home": str(codex_home)}
    return CodexCLIProvider(ProviderSettings(**fields | settings))


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


# -- the real Codex CLI ---------------------------------------------------------------------


def test_real_codex_edits_the_workspace_with_a_command_and_a_patch(
    codex_bin, codex_home, cli_env, fake, workspace
):
    fake.reply_tool_calls(
        [("exec_command", {"cmd": "sed -i s/hello/hi/ greet.py && cat greet.py"})],
        input_tokens=9000,
        output_tokens=40,
    )
    fake.reply_tool_calls([("exec_command", {"cmd": PATCH})], input_tokens=1000,
                          cached_tokens=9000, output_tokens=60)  # fmt: skip
    fake.reply_text("Changed the greeting.", input_tokens=500, cached_tokens=10000,
                    output_tokens=20)  # fmt: skip

    result = make(codex_bin, codex_home, fake).execute_prompt(
        "-- change the greeting", system_prompt="Work carefully.", working_dir=str(workspace)
    )

    assert result.success and result.content == "Changed the greeting."
    assert (workspace / "greet.py").read_text() == "print('goodbye')\n"
    assert (workspace / "NOTES.md").read_text() == "greeting changed\n"
    # usage summed over the three requests; cached input apart from the uncached part
    assert result.usage == {
        "input_tokens": 10500,
        "output_tokens": 120,
        "cache_read_tokens": 19000,
        "cache_write_tokens": 0,
    }
    assert result.cost == pytest.approx(10500 * 2.5e-6 + 120 * 15e-6 + 19000 * 0.25e-6)
    assert not result.metadata["usage_estimated"] and result.metadata["thread_id"]
    command, patch = result.metadata["actions"]
    assert command["type"] == "command" and "sed -i" in command["command"]
    assert command["exit_code"] == 0 and "print('hi')" in command["output"]
    assert patch["type"] == "file_change" and patch["status"] == "completed"  # Codex's patch tool
    changes = {(Path(c["path"]).name, c["kind"]) for c in patch["changes"]}
    assert changes == {("greet.py", "update"), ("NOTES.md", "add")}
    # what Codex sent: our model, the prompt (from stdin), the tool outputs
    first = fake.model_calls[0].json
    assert first["model"] == "gpt-5.4" and first["stream"] is True
    assert "-- change the greeting" in json.dumps(first["input"])
    assert "Work carefully." in json.dumps(first["input"])
    outputs = function_outputs(fake.model_calls[1].json)
    assert len(outputs) == 1 and "print('hi')" in outputs[0]["output"]
    assert len(fake.model_calls) == 3
    # the sandbox's mount points are not left in the worktree
    assert sorted(p.name for p in workspace.iterdir()) == ["NOTES.md", "greet.py"]


def test_real_codex_stalled_stream_is_killed_with_no_orphan(
    codex_bin, codex_home, cli_env, fake, workspace
):
    marker = "313.37"  # a sleep that would outlive the run if its sandbox were left behind
    fake.reply_tool_calls([("exec_command", {"cmd": f"sleep {marker}", "yield_time_ms": 300})])
    fake.trickle()  # the next request: HTTP 200, then no event ever
    started = time.monotonic()

    with pytest.raises(ProviderTimeoutError, match=r"stalled: no event for 3 s"):
        make(codex_bin, codex_home, fake, stall_timeout=3).execute_prompt(
            "sleep", working_dir=str(workspace)
        )

    assert time.monotonic() - started < 15
    assert len(fake.model_calls) == 2  # it was waiting on the second request
    assert processes_with(marker) == [], "a process of the stopped run survived"


def test_real_codex_wall_time_is_enforced(codex_bin, codex_home, cli_env, fake, workspace):
    fake.trickle()
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError, match=r"did not finish within 2 s"):
        make(codex_bin, codex_home, fake, timeout=2).execute_prompt(
            "hi", working_dir=str(workspace)
        )
    assert time.monotonic() - started < 10


def test_real_codex_budget_cap_stops_the_run(codex_bin, codex_home, cli_env, fake, workspace):
    for n in range(1, 6):
        fake.reply_tool_calls([("exec_command", {"cmd": f"touch round-{n}"})])
    fake.reply_text("done")
    # $100 per million input tokens: Codex's own prompt alone costs about $1 a request
    pricing = {"input": 100.0, "output": 100.0, "cache_read": 10.0}
    provider = make(codex_bin, codex_home, fake, pricing=pricing, max_budget_usd=1.2)

    result = provider.execute_prompt("touch files", working_dir=str(workspace))

    assert result.error and result.error.startswith("budget cap reached (max_budget_usd $1.20")
    assert result.stop_reason == "max_tokens" and result.metadata["stopped"] == "budget"
    assert result.metadata["usage_estimated"] and result.cost > 1.2
    assert len(fake.model_calls) <= 3
    assert not (workspace / "round-4").exists()


def test_real_codex_usage_limit_is_quota_until_the_reported_reset(
    codex_bin, codex_home, cli_env, fake, workspace
):
    reset = (int(time.time()) // 60 + 150) * 60  # Codex prints it to the minute
    fake.error(429, "The usage limit has been reached", type="usage_limit_reached",
               plan_type="plus", resets_at=reset)  # fmt: skip

    with pytest.raises(QuotaExhaustedError, match="hit your usage limit") as caught:
        make(codex_bin, codex_home, fake).execute_prompt("hi", working_dir=str(workspace))

    assert caught.value.reset_at == datetime.fromtimestamp(reset, UTC)


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (lambda f: f.error(401), AuthenticationError),
        (lambda f: f.error(429, code="insufficient_quota", type="insufficient_quota"),
         QuotaExhaustedError),
        (lambda f: f.error(429), RateLimitError),
        (lambda f: f.fail_in_stream("rate_limit_exceeded", "Rate limit reached for gpt-5.4."),
         RateLimitError),
        (lambda f: f.fail_in_stream("context_length_exceeded", "Input exceeds the context"),
         ContextTooLongError),
    ],
)  # fmt: skip
def test_real_codex_errors_map_to_the_taxonomy(
    codex_bin, codex_home, cli_env, fake, workspace, script, error
):
    script(fake)
    with pytest.raises(error):
        make(codex_bin, codex_home, fake).execute_prompt("hi", working_dir=str(workspace))
    assert len(fake.model_calls) == 1  # Codex's own retries are off: retrying is ours


# -- the stand-in: command line and environment ----------------------------------------------


def write_stand_in(directory: Path, mode: str = "ok") -> Path:
    """An executable ``codex`` running the stand-in, which records into ``record.json``
    next to it (set here: the provider passes the CLI no variable of ours)."""
    script = directory / "bin" / "codex"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        f"#!/bin/sh\nFAKE_CODEX_RECORD='{directory / 'record.json'}' FAKE_CODEX_MODE={mode} "
        f"exec '{sys.executable}' '{STAND_IN}' \"$@\"\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def stand_in(tmp_path) -> Path:
    return write_stand_in(tmp_path)


def test_command_line_and_an_environment_with_only_its_own_key(
    stand_in, codex_home, cli_env, workspace, tmp_path, monkeypatch
):
    record = tmp_path / "record.json"
    others = {
        "ANTHROPIC_API_KEY": "sk-ant-other-vendor-key-0123456789",
        "GEMINI_API_KEY": "AIzaOtherVendorKey0123456789abcdef",
        "GITHUB_TOKEN": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "PYTHONPATH": "/somewhere",
    }
    for name, value in others.items():
        monkeypatch.setenv(name, value)
    provider = make(stand_in, codex_home, base_url="http://127.0.0.1:9/v1",
                    headers={"X-Team": "a b"})  # fmt: skip

    result = provider.execute_prompt(
        "Fix it", system_prompt="Be careful", working_dir=str(workspace)
    )

    seen = json.loads(record.read_text())
    assert seen["stdin"] == "Be careful\n\nFix it" and Path(seen["cwd"]) == workspace
    argv = seen["argv"]
    assert argv[:5] == ["exec", "--json", "--color", "never", "--skip-git-repo-check"]
    assert argv[argv.index("--sandbox") + 1] == "workspace-write"
    assert argv[argv.index("--cd") + 1] == str(workspace)
    assert argv[argv.index("--model") + 1] == "gpt-5.4" and argv[-1] == "-"
    assert 'approval_policy="never"' in argv
    assert (
        'model_providers.coffee_maker={name="coffee_maker",base_url="http://127.0.0.1:9/v1",'
        'env_key="CODEX_API_KEY",wire_api="responses",request_max_retries=0,'
        'stream_max_retries=0,http_headers={"X-Team"="a b"}}'
    ) in argv
    assert 'model_provider="coffee_maker"' in argv
    assert "danger-full-access" not in " ".join(argv)
    env = seen["env"]
    assert env["CODEX_API_KEY"] == KEY and env["CODEX_HOME"] == str(codex_home)
    assert not set(others) & set(env) and "OPENAI_API_KEY" not in env
    assert env["PATH"] == os.environ["PATH"] and env["HOME"] == str(cli_env)
    assert result.content == "Done." and result.metadata["num_turns"] == 1
    assert result.usage["cache_read_tokens"] == 4000 and result.usage["input_tokens"] == 1000


def test_full_access_only_when_configured(stand_in, codex_home, cli_env, workspace, tmp_path,
                                          monkeypatch):  # fmt: skip
    record = tmp_path / "record.json"
    make(stand_in, codex_home, sandbox="danger-full-access").execute_prompt(
        "go", working_dir=str(workspace)
    )
    argv = json.loads(record.read_text())["argv"]
    assert argv[argv.index("--sandbox") + 1] == "danger-full-access"
    assert not any(a.startswith("model_provider") for a in argv)  # no base_url: OpenAI's own


def test_a_failed_start_is_a_clear_redacted_error(codex_home, cli_env, workspace, tmp_path):
    stand_in = write_stand_in(tmp_path, "bad_flag")
    with pytest.raises(ProviderError, match=r"exited with code 2.*unexpected argument") as caught:
        make(stand_in, codex_home).execute_prompt("hi", working_dir=str(workspace))
    assert KEY not in str(caught.value)


def test_codex_home_in_the_temporary_directory_is_refused(stand_in, cli_env, tmp_path, workspace):
    provider = make(stand_in, tmp_path / "codex-home")
    assert not provider.check_available()
    assert "providers.codex.codex_home" in provider.describe_unavailable()
    with pytest.raises(ProviderError, match="temporary directory"):
        provider.execute_prompt("hi", working_dir=str(workspace))


def test_codex_home_defaults(stand_in, monkeypatch, package_cache):
    monkeypatch.setenv("HOME", str(package_cache))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    provider = CodexCLIProvider(ProviderSettings(name="codex", type="codex-cli"))
    assert provider.codex_home() == package_cache / ".codex"
    monkeypatch.setenv("CODEX_HOME", str(package_cache / "elsewhere"))
    assert provider.codex_home() == package_cache / "elsewhere"


def test_missing_binary(codex_home, cli_env, tmp_path, workspace):
    provider = make(tmp_path / "no" / "codex", codex_home)
    assert not provider.check_available()
    assert "npm install -g @openai/codex" in provider.describe_unavailable()
    with pytest.raises(ProviderError, match="Codex CLI not found"):
        provider.execute_prompt("hi", working_dir=str(workspace))


def test_config_keys(stand_in, codex_home):
    config = parse_config(
        {"providers": {"codex": {"type": "codex-cli", "cli_path": str(stand_in),
                                 "codex_home": str(codex_home), "stall_timeout": 60}}},
        "test",
    )  # fmt: skip
    provider = ProviderFactory(config=config).get_provider("codex")
    assert isinstance(provider, CodexCLIProvider)
    assert provider.settings.sandbox == "workspace-write" and provider.settings.stall_timeout == 60
    assert provider.execute_prompt("hi").content == "Done."
    with pytest.raises(ConfigError, match=r"providers\.codex\.sandbox"):
        parse_config({"providers": {"codex": {"type": "codex-cli", "sandbox": "yolo"}}}, "t")


def test_an_agentic_run_reserves_its_whole_cap(stand_in, codex_home):
    provider = make(stand_in, codex_home, max_budget_usd=3.0)
    assert provider.estimate_cost("Fix the bug") == 3.0


def test_a_stop_of_the_daemon_ends_the_run_at_once(codex_bin, codex_home, cli_env, fake, workspace):
    """SIGTERM's cancel_calls() reaches a CLI run too: killed now, not at its timeout."""
    import threading

    from coffee_maker.ai_providers.providers._bounded import CallCancelled, cancel_calls

    marker = "271.828"
    fake.reply_tool_calls([("exec_command", {"cmd": f"sleep {marker}", "yield_time_ms": 300})])
    fake.trickle()
    timer = threading.Timer(3.0, cancel_calls)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(CallCancelled):
            make(codex_bin, codex_home, fake).execute_prompt("sleep", working_dir=str(workspace))
    finally:
        timer.cancel()
    assert time.monotonic() - started < 8
    assert processes_with(marker) == []
