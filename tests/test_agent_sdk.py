"""The agent through real vendor SDKs over real HTTP, against the fake model servers.

The same read → edit → test (fails) → fix → test → finish script as the in-process tests,
but every turn crosses the openai or anthropic SDK and the vendor's wire format both ways,
and a failover hands the conversation from one vendor's format to the other's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_scripts import BUGGY_CALC, CALC_TEST
from fakes.anthropic import FakeAnthropic

from coffee_maker.agent import Agent, AgentResult, Status, Workspace
from coffee_maker.agent.settings import AgentSettings
from coffee_maker.ai_providers.fallback_strategy import FallbackStrategy
from coffee_maker.ai_providers.provider_config import ProviderSettings, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.providers.claude_cli_provider import ClaudeCLIProvider
from coffee_maker.ai_providers.providers.claude_provider import ClaudeProvider
from coffee_maker.ai_providers.providers.openai_provider import OpenAIProvider
from coffee_maker.fakes.openai import INSUFFICIENT_QUOTA, FakeOpenAI

OPENAI_KEY = "sk-test-openai-agent-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-agent-0123456789abcdefghij"
REAL_CLI = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "claude"

WRONG = {"path": "calc.py", "old_text": "return a - b", "new_text": "return a * b"}
RIGHT = {"path": "calc.py", "old_text": "return a * b", "new_text": "return a + b"}
SCRIPT: list[list[tuple[str, dict[str, Any]]]] = [
    [("read_file", {"path": "calc.py"})],
    [("edit_file", WRONG)],
    [("run_tests", {})],
    [("edit_file", RIGHT)],
    [("run_tests", {})],
    [("finish", {"summary": "add adds again"})],
]


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as server:
        yield server


@pytest.fixture
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=ANTHROPIC_KEY) as server:
        yield server


@pytest.fixture
def anthropic_cli_fake() -> Iterator[FakeAnthropic]:
    """Answers the CLI's model calls only (its side requests get a stock reply)."""
    with FakeAnthropic(tool_requests_only=True) as server:
        yield server


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text(BUGGY_CALC)
    return repo


def run_agent(model: Any, root: Path) -> AgentResult:
    agent = Agent(
        model, Workspace(root), AgentSettings(), CALC_TEST, 5.0,
        root.parent / "run.jsonl", "priority-1",
    )  # fmt: skip
    return agent.run("Fix add in calc.py so that it adds.")


def assert_fixed(result: AgentResult, root: Path) -> None:
    assert result.status is Status.SUCCESS, result.error
    assert (root / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert result.files_changed == ["calc.py"] and result.tests_passed is True
    assert result.summary == "add adds again" and result.turns == len(SCRIPT)
    transcript = result.transcript_path.read_text()
    assert OPENAI_KEY not in transcript and ANTHROPIC_KEY not in transcript


def test_openai_sdk_drives_the_tool_loop(keys: None, openai_fake: FakeOpenAI, root: Path) -> None:
    for calls in SCRIPT:
        openai_fake.reply_tool_calls(calls, input_tokens=1000, output_tokens=100)
    provider = OpenAIProvider(
        ProviderSettings(name="openai", type="openai", model="gpt-5.4-mini",
                         base_url=openai_fake.url + "/v1")
    )  # fmt: skip
    result = run_agent(provider, root)
    assert_fixed(result, root)
    first = openai_fake.model_calls[0].json
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"read_file", "edit_file", "run_tests", "finish"} <= names
    assert first["messages"][0]["role"] == "system"
    after_tests = openai_fake.model_calls[3].json["messages"][-1]
    assert after_tests["role"] == "tool" and "Tests FAILED" in after_tests["content"]
    assert result.providers_used == ["openai/gpt-5.4-mini"]
    assert result.usage["input_tokens"] == 6000 and result.cost > 0


def test_anthropic_sdk_streaming_drives_the_tool_loop(
    keys: None, anthropic_fake: FakeAnthropic, root: Path
) -> None:
    for calls in SCRIPT:
        anthropic_fake.reply_tool_calls(calls)
    provider = ClaudeProvider(
        ProviderSettings(name="claude", type="claude", model="claude-sonnet-4-6",
                         base_url=anthropic_fake.url, stream=True)
    )  # fmt: skip
    result = run_agent(provider, root)
    assert_fixed(result, root)
    body = anthropic_fake.model_calls[3].json
    assert body["stream"] is True and "call finish" in json.dumps(body["system"])
    results = [b for b in body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert results and results[0]["is_error"] is True
    assert "Tests FAILED" in json.dumps(results[0]["content"])


def test_failover_from_openai_to_anthropic_mid_task(
    keys: None, openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic, root: Path
) -> None:
    for calls in SCRIPT[:3]:
        openai_fake.reply_tool_calls(calls)
    openai_fake.error(429, INSUFFICIENT_QUOTA, type="insufficient_quota", code="insufficient_quota")
    for calls in SCRIPT[3:]:
        anthropic_fake.reply_tool_calls(calls)
    config = parse_config(
        {
            "providers": {
                "openai": {"model": "gpt-5.4-mini", "base_url": openai_fake.url + "/v1"},
                "claude": {"model": "claude-sonnet-4-6", "base_url": anthropic_fake.url},
            },
            "fallback": {"fallback_order": ["openai", "claude"], "retry_delay": 0},
        },
        "test",
    )
    strategy = FallbackStrategy(None, ProviderFactory(config=config), None, sleep=lambda _: None)
    result = run_agent(strategy, root)
    assert_fixed(result, root)
    assert result.providers_used == ["openai/gpt-5.4-mini", "claude/claude-sonnet-4-6"]
    handed_over = anthropic_fake.model_calls[0].json["messages"]
    kinds = [b["type"] for m in handed_over if isinstance(m["content"], list) for b in m["content"]]
    assert kinds.count("tool_use") == 3 and kinds.count("tool_result") == 3
    assert any(e["error_kind"] == "quota_exhausted" for e in result.fallback_events)


def test_real_claude_code_cli_takes_the_agentic_path(
    anthropic_cli_fake: FakeAnthropic, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not os.access(REAL_CLI, os.X_OK):
        pytest.fail(f"{REAL_CLI} is missing: run `npm ci` in {REAL_CLI.parents[2]}")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    (tmp_path / "home").mkdir()
    target = root / "calc.py"
    anthropic_cli_fake.reply_tool_calls([("Read", {"file_path": str(target)})])
    anthropic_cli_fake.reply_tool_calls(
        [("Edit", {"file_path": str(target), "old_string": "a - b", "new_string": "a + b"})]
    )
    anthropic_cli_fake.reply_text("add adds again")
    provider = ClaudeCLIProvider(
        ProviderSettings(name="claude-cli", type="claude-cli", model="sonnet", timeout=120,
                         cli_path=str(REAL_CLI), base_url=anthropic_cli_fake.url)
    )  # fmt: skip
    result = run_agent(provider, root)
    assert result.status is Status.SUCCESS, result.error
    assert target.read_text() == "def add(a, b):\n    return a + b\n"
    assert result.files_changed == ["calc.py"] and result.tests_passed is True
    assert result.summary == "add adds again" and result.turns == 1
    first = json.dumps(anthropic_cli_fake.model_calls[0].json["messages"])
    assert "Fix add in calc.py" in first


def test_hostile_calls_over_http_are_refused_as_tool_errors(
    keys: None, openai_fake: FakeOpenAI, root: Path
) -> None:
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    openai_fake.reply_tool_calls([
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": "../run.jsonl"}),
        ("write_file", {"path": ".git/config", "content": "[core]\n\tfsmonitor = evil\n"}),
        ("write_file", '{"path": "x.py", "content": "unterminated'),
        ("run_command", {"command": "printenv OPENAI_API_KEY"}),
    ])  # fmt: skip
    openai_fake.reply_tool_calls([("finish", {"summary": "nothing"})])
    provider = OpenAIProvider(
        ProviderSettings(name="openai", type="openai", model="gpt-5.4-mini",
                         base_url=openai_fake.url + "/v1")
    )  # fmt: skip
    result = run_agent(provider, root)
    assert result.status is Status.NO_CHANGES
    answers = [m for m in openai_fake.model_calls[1].json["messages"] if m["role"] == "tool"]
    assert len(answers) == 5
    assert "absolute paths" in answers[0]["content"] and "'..'" in answers[1]["content"]
    assert ".git is off limits" in answers[2]["content"]
    assert "not valid JSON" in answers[3]["content"]
    assert "unknown tool 'run_command'" in answers[4]["content"]
    assert (root / ".git" / "config").read_text() == "[core]\n"
    assert not (root / "x.py").exists()
    assert OPENAI_KEY not in result.transcript_path.read_text()
