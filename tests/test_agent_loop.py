"""The agent loop end to end, driven by scripted in-process models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agent_scripts import (
    BUGGY_CALC,
    CALC_TEST,
    PY,
    SCRIPTS,
    AgenticProvider,
    ScriptedProvider,
    calls,
    say,
    tool,
)

from coffee_maker.agent import Agent, AgentResult, Status, Workspace
from coffee_maker.agent.settings import AgentSettings
from coffee_maker.ai_providers.base import Message
from coffee_maker.ai_providers.errors import (
    AuthenticationError,
    QuotaExhaustedError,
    RateLimitError,
)
from coffee_maker.ai_providers.fallback_strategy import FallbackStrategy
from coffee_maker.ai_providers.provider_config import ProviderSettings, parse_config
from coffee_maker.ai_providers.provider_factory import ProviderFactory, register_provider

SECRET = "sk-proj-s3cr3tvalue0123456789abcdefXYZ"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text(BUGGY_CALC)
    return repo


def run_agent(
    model: Any,
    root: Path,
    task: str = "Fix add so that it adds.",
    *,
    test_command: str | None = CALC_TEST,
    per_task_limit: float | None = None,
    clock: Any = None,
    **settings: Any,
) -> AgentResult:
    agent_settings = AgentSettings(**settings)
    workspace = Workspace.from_settings(root, agent_settings)
    extra = {"clock": clock} if clock else {}
    agent = Agent(
        model, workspace, agent_settings, test_command, per_task_limit,
        root.parent / "transcripts" / "task.jsonl", "task-1", **extra,
    )  # fmt: skip
    return agent.run(task)


def records(result: AgentResult) -> list[dict[str, Any]]:
    assert result.transcript_path is not None
    return [json.loads(line) for line in result.transcript_path.read_text().splitlines()]


def fix(old: str = "return a - b", new: str = "return a + b") -> Any:
    return tool("edit_file", path="calc.py", old_text=old, new_text=new)


def test_read_edit_test_fix_finish_succeeds(root: Path) -> None:
    model = ScriptedProvider(script=[
        tool("read_file", path="calc.py"),
        fix(new="return a * b"),
        tool("run_tests"),
        lambda messages, **_: fix("return a * b") if "Tests FAILED" in messages[-1].content
        else AssertionError("the failing test output did not reach the model"),
        tool("run_tests"),
        tool("finish", summary="add now adds"),
    ])  # fmt: skip
    result = run_agent(model, root)
    assert result.status is Status.SUCCESS and result.success
    assert (root / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert result.files_changed == ["calc.py"]
    assert result.tests_passed is True and result.summary == "add now adds"
    assert result.turns == 6 and result.usage["input_tokens"] == 600
    assert result.providers_used == ["scripted/script-1"]
    assert {t.name for t in model.tools_seen[0]} >= {"read_file", "edit_file", "finish"}
    assert "finish" in model.kwargs_seen[0]["system_prompt"]
    first = model.seen[0][0]
    assert first.role == "user" and "Fix add so that it adds." in first.content
    assert "calc.py" in first.content  # the file listing comes with the task
    kinds = [r["type"] for r in records(result)]
    assert kinds[:3] == ["start", "system", "message"] and kinds[-1] == "result"
    assert kinds.count("turn") == 6 and "verification" in kinds


def test_the_harness_sends_failing_tests_back_after_finish(root: Path) -> None:
    def after_verification(messages: list[Message], **_: Any) -> Any:
        assert messages[-1].role == "user"
        assert "the harness ran the tests" in messages[-1].content
        assert "add(2, 3) = 6" in messages[-1].content
        return fix("return a * b")

    model = ScriptedProvider(script=[
        fix(new="return a * b"),
        tool("finish", summary="done"),
        after_verification,
        tool("finish", summary="really done"),
    ])  # fmt: skip
    result = run_agent(model, root)
    assert result.status is Status.SUCCESS and result.summary == "really done"
    assert result.tests_passed is True


def test_tests_still_failing_after_the_repairs(root: Path) -> None:
    model = ScriptedProvider(script=[
        fix(new="return a * b"),
        tool("finish", summary="first try"),
        tool("finish", summary="second try"),
    ])  # fmt: skip
    result = run_agent(model, root, max_repairs=1)
    assert result.status is Status.TESTS_FAILING
    assert result.tests_passed is False and "add(2, 3) = 6" in result.test_output_tail
    assert result.files_changed == ["calc.py"]


def test_finishing_without_a_change(root: Path) -> None:
    result = run_agent(ScriptedProvider(script=[tool("finish", summary="nothing to do")]), root)
    assert result.status is Status.NO_CHANGES and result.tests_passed is None
    assert result.files_changed == []


def test_without_a_test_command_a_change_is_not_verified(root: Path) -> None:
    model = ScriptedProvider(script=[fix(), tool("run_tests"), tool("finish", summary="fixed")])
    result = run_agent(model, root, test_command=None)
    assert result.status is Status.UNVERIFIED and result.tests_passed is None
    assert result.judgement is not None and result.judgement.verdict == "not verified"
    assert "No test command" in model.seen[2][-1].content


def test_hostile_calls_are_refused_and_no_secret_is_recorded(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "loot.txt").write_text("private\n")
    (root / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "link.txt").symlink_to(outside / "loot.txt")
    hostile = [
        ("read_file", {"path": "../outside/loot.txt"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": ".env"}),
        ("read_file", {"path": "link.txt"}),
        ("write_file", {"path": ".git/config", "content": "[core]\n\tfsmonitor = x\n"}),
        ("write_file", {"path": "../outside/pwned.txt", "content": "x"}),
        ("edit_file", {"path": "link.txt", "old_text": "private", "new_text": "owned"}),
    ]
    printing = [
        ("run_command", {"command": "env"}),
        ("run_command", {"command": "printenv OPENAI_API_KEY; cat .env; echo " + SECRET}),
        ("search", {"pattern": "sk-proj"}),
    ]
    model = ScriptedProvider(
        script=[calls(*hostile), calls(*printing), tool("finish", summary="x")]
    )
    result = run_agent(model, root, allow_run_command=True)
    refused = [m for m in model.seen[1] if m.role == "tool"]
    assert len(refused) == len(hostile) and all(m.is_error for m in refused)
    assert sorted(p.name for p in outside.iterdir()) == ["loot.txt"]
    assert (outside / "loot.txt").read_text() == "private\n"
    assert (root / ".git" / "config").read_text() == "[core]\n"
    assert result.status is Status.NO_CHANGES
    seen_by_model = "\n".join(m.content for m in model.seen[-1])
    transcript = result.transcript_path.read_text()
    for text in (seen_by_model, transcript):
        assert SECRET not in text and "s3cr3tvalue" not in text
        assert "OPENAI_API_KEY=" not in text.replace("OPENAI_API_KEY=[REDACTED]", "")


def test_a_model_that_never_finishes_stops_at_max_steps(root: Path) -> None:
    model = ScriptedProvider(script=[tool("list_files") for _ in range(10)])
    result = run_agent(model, root, max_steps=4)
    assert result.status is Status.LIMIT_REACHED and result.limit == "max_steps"
    assert result.turns == 4 and "agent.max_steps" in result.error


def test_the_same_failing_call_repeated_is_stuck(root: Path) -> None:
    model = ScriptedProvider(script=[tool("read_file", path="nope.py") for _ in range(10)])
    result = run_agent(model, root, stuck_threshold=3)
    assert result.status is Status.LIMIT_REACHED and result.limit == "stuck"
    assert result.turns == 3


def test_the_same_reply_without_a_tool_call_is_nudged_then_stuck(root: Path) -> None:
    model = ScriptedProvider(script=[say("Let me think about it.") for _ in range(10)])
    result = run_agent(model, root, stuck_threshold=3)
    assert "Continue with a tool call" in model.seen[1][-1].content
    assert result.limit == "stuck" and result.turns == 3


def test_the_per_task_budget_stops_the_run(root: Path) -> None:
    model = ScriptedProvider(script=[tool("list_files", cost=0.4) for _ in range(10)])
    result = run_agent(model, root, per_task_limit=1.0)
    assert result.limit == "per_task_limit" and result.turns == 3
    assert result.cost == pytest.approx(1.2)


def test_wall_time_stops_the_run(root: Path) -> None:
    now = [0.0]

    def slow_turn(messages: list[Message], **_: Any) -> Any:
        now[0] += 100
        return tool("list_files")

    model = ScriptedProvider(script=[slow_turn for _ in range(10)])
    result = run_agent(model, root, clock=lambda: now[0], max_wall_time=250)
    assert result.limit == "max_wall_time" and result.turns == 3


def test_a_provider_error_ends_the_run_as_provider_failure(root: Path) -> None:
    model = ScriptedProvider(script=[fix(), RateLimitError("slow down", provider="scripted")])
    result = run_agent(model, root)
    assert result.status is Status.PROVIDER_FAILURE
    assert "rate_limited" in result.error and result.files_changed == ["calc.py"]


def text_model(script: list[Any]) -> ScriptedProvider:
    settings = ProviderSettings(name="local", type="agent-scripted", tool_calling=False)
    return ScriptedProvider(settings, script=script)


BLOCK = "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n"


def test_text_protocol_with_a_reflection(root: Path) -> None:
    def after_reflection(messages: list[Message], **_: Any) -> Any:
        assert "no `=======` line" in messages[-1].content
        return say(BLOCK + "DONE: add adds now")

    model = text_model([
        say("READ: calc.py"),
        say("calc.py\n<<<<<<< SEARCH\n    return a - b\n>>>>>>> REPLACE\n"),
        after_reflection,
    ])  # fmt: skip
    result = run_agent(model, root)
    assert result.status is Status.SUCCESS and result.summary == "add adds now"
    assert model.tools_seen == [None, None, None]
    assert "def add(a, b):" in model.seen[1][-1].content  # the READ was answered
    assert "<<<<<<< SEARCH" in model.kwargs_seen[0]["system_prompt"]


def test_text_protocol_gives_up_after_max_format_errors(root: Path) -> None:
    model = text_model([say(f"I would change line {n}.") for n in range(10)])
    result = run_agent(model, root, max_format_errors=2)
    assert result.limit == "max_format_errors" and result.turns == 3


def test_an_agentic_provider_edits_the_workspace_and_is_verified(root: Path) -> None:
    def first(messages: list[Message], working_dir: str, timeout: float, **_: Any) -> Any:
        assert "Fix add" in messages[0].content and timeout <= 600
        Path(working_dir, "calc.py").write_text("def add(a, b):\n    return a * b\n")
        return say("changed add")

    def repair(messages: list[Message], working_dir: str, **_: Any) -> Any:
        assert "add(2, 3) = 6" in messages[0].content and "Fix add" in messages[0].content
        Path(working_dir, "calc.py").write_text("def add(a, b):\n    return a + b\n")
        return say("fixed add for real")

    model = AgenticProvider(script=[first, repair])
    result = run_agent(model, root, max_wall_time=600)
    assert result.status is Status.SUCCESS and result.summary == "fixed add for real"
    assert result.turns == 2 and result.files_changed == ["calc.py"]
    assert model.kwargs_seen[0]["working_dir"] == str(root)
    assert model.tools_seen == [None, None]


# -- a FallbackStrategy as the model ----------------------------------------------------------


def strategy_of(**providers: dict[str, Any]) -> FallbackStrategy:
    """A strategy over scripted providers (name -> settings), tried in the order given."""
    register_provider("agent-scripted", ScriptedProvider)
    register_provider("agent-scripted-agentic", AgenticProvider)
    for name in providers:
        SCRIPTS.pop(name, None)
    config = parse_config(
        {"providers": providers, "fallback": {"fallback_order": list(providers)}}, "test"
    )
    return FallbackStrategy(None, ProviderFactory(config=config), None, sleep=lambda _: None)


def scripted(strategy: FallbackStrategy, name: str) -> ScriptedProvider:
    provider = strategy.factory.get_provider(name)
    assert isinstance(provider, ScriptedProvider)
    return provider


def test_failover_mid_task_continues_the_same_conversation(root: Path) -> None:
    strategy = strategy_of(first={"type": "agent-scripted"}, second={"type": "agent-scripted"})
    quota = QuotaExhaustedError("insufficient_quota", provider="first", model="script-1")
    SCRIPTS["first"] = [tool("read_file", path="calc.py"), fix(), quota]

    def takes_over(messages: list[Message], **_: Any) -> Any:
        roles = [m.role for m in messages]
        assert roles == ["user", "assistant", "tool", "assistant", "tool"]
        assert messages[-1].content.startswith("edited calc.py")
        return tool("run_tests")

    SCRIPTS["second"] = [takes_over, tool("finish", summary="fixed after failover")]
    result = run_agent(strategy, root)
    assert result.status is Status.SUCCESS and result.summary == "fixed after failover"
    assert result.providers_used == ["first/script-1", "second/script-1"]
    assert len(scripted(strategy, "first").seen) == 3
    assert len(scripted(strategy, "second").seen) == 2
    failures = [e for e in result.fallback_events if e["kind"] == "failure"]
    assert failures and failures[0]["error_kind"] == "quota_exhausted"
    assert any(r["type"] == "fallback" for r in records(result))


def test_an_agentic_provider_that_gives_out_hands_over_to_the_tool_loop(root: Path) -> None:
    strategy = strategy_of(cli={"type": "agent-scripted-agentic"}, api={"type": "agent-scripted"})
    SCRIPTS["cli"] = [QuotaExhaustedError("usage limit reached", provider="cli")]
    SCRIPTS["api"] = [fix(), tool("finish", summary="fixed by the api")]
    result = run_agent(strategy, root)
    assert result.status is Status.SUCCESS and result.providers_used == ["api/script-1"]
    assert len(scripted(strategy, "cli").seen) == 1
    assert scripted(strategy, "api").tools_seen[0] is not None
    assert any(r["type"] == "switch" for r in records(result))


def test_the_protocol_follows_the_first_usable_provider(root: Path) -> None:
    strategy = strategy_of(
        local={"type": "agent-scripted", "tool_calling": False}, api={"type": "agent-scripted"}
    )
    SCRIPTS["local"] = [say(BLOCK + "DONE: fixed in text")]
    result = run_agent(strategy, root)
    assert result.status is Status.SUCCESS and result.summary == "fixed in text"
    assert scripted(strategy, "local").tools_seen == [None]
    assert scripted(strategy, "api").seen == []


def test_every_provider_failing_is_a_provider_failure(root: Path) -> None:
    strategy = strategy_of(only={"type": "agent-scripted"})
    SCRIPTS["only"] = [AuthenticationError("invalid x-api-key", provider="only", status_code=401)]
    result = run_agent(strategy, root)
    assert result.status is Status.PROVIDER_FAILURE and result.limit is None
    assert "only" in result.error and result.turns == 0


def budget_strategy(**limits: Any) -> FallbackStrategy:
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.ai_providers.provider_config import CostControls

    strategy = strategy_of(paid={"type": "agent-scripted"})
    SCRIPTS["paid"] = [tool("finish", summary="never reached")]
    tracker = CostTracker(CostControls(**limits))
    return FallbackStrategy(None, strategy.factory, tracker, sleep=lambda _: None)


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"daily_limit": 0.0001, "per_task_limit": None}, "budget"),  # resets tomorrow
        ({"daily_limit": None, "per_task_limit": 0.0001}, "per_task_limit"),  # won't reset
    ],
)
def test_which_budget_refused_decides_whether_waiting_helps(
    root: Path, limits: dict[str, Any], expected: str
) -> None:
    strategy = budget_strategy(**limits)
    result = run_agent(strategy, root)
    assert result.status is Status.LIMIT_REACHED and result.limit == expected
    assert scripted(strategy, "paid").seen == []  # no call was paid for


def test_a_stop_request_starts_no_further_model_call(root: Path) -> None:
    from coffee_maker.agent import Interrupted

    model = ScriptedProvider(script=[tool("read_file", path="calc.py"), fix()])
    stop = []
    workspace = Workspace(root)
    agent = Agent(model, workspace, AgentSettings(), CALC_TEST, None,
                  root.parent / "t.jsonl", "task-1", should_stop=lambda: bool(stop))  # fmt: skip
    original = model.chat

    def chat_then_stop(*args: Any, **kwargs: Any) -> Any:
        stop.append(True)  # SIGTERM arrives during the first call
        return original(*args, **kwargs)

    model.chat = chat_then_stop
    with pytest.raises(Interrupted):
        agent.run("Fix add")
    assert len(model.seen) == 1


def test_verification_reuses_the_models_last_run_when_nothing_changed(root: Path) -> None:
    """run_tests then finish with no edit between: the suite runs once, not twice."""
    counter = root.parent / "runs.txt"
    command = f"echo run >> {counter}; {CALC_TEST}"
    model = ScriptedProvider(script=[fix(), tool("run_tests"), tool("finish", summary="fixed")])
    result = run_agent(model, root, test_command=command)
    assert result.status is Status.SUCCESS and result.verification_reused
    assert counter.read_text().count("run") == 1
    verification = [r for r in records(result) if r["type"] == "verification"]
    assert verification and verification[-1]["reused"] is True


def test_an_edit_after_run_tests_is_verified_again(root: Path) -> None:
    counter = root.parent / "runs.txt"
    command = f"echo run >> {counter}; {CALC_TEST}"
    model = ScriptedProvider(script=[
        fix(new="return a * b"),
        tool("run_tests"),
        fix("return a * b"),
        tool("finish", summary="fixed"),
    ])  # fmt: skip
    result = run_agent(model, root, test_command=command)
    assert result.status is Status.SUCCESS and not result.verification_reused
    assert counter.read_text().count("run") == 2


def test_failures_the_baseline_had_are_not_sent_back_as_the_models(root: Path) -> None:
    """With a baseline that already failed the same way, the model is not asked to repair."""
    from coffee_maker.agent.verification import TestSuite, Verifier

    (root / "test_calc.py").write_text(
        "import calc\n\ndef test_known_bug():\n    assert False, 'known'\n\n"
        "def test_add():\n    assert calc.add(2, 3) == 5\n"
    )
    settings = AgentSettings()
    workspace = Workspace.from_settings(root, settings)
    suite = TestSuite(f"{PY} -m pytest -q -p no:cacheprovider", runner="pytest")
    baseline = Verifier(suite, workspace).run()
    assert baseline is not None  # add() is buggy on the base, and a known bug fails too
    assert baseline.report.failed == ("test_calc.py::test_add", "test_calc.py::test_known_bug")
    model = ScriptedProvider(script=[fix(), tool("finish", summary="fixed add")])
    agent = Agent(
        model, workspace, settings, Verifier(suite, workspace, baseline.report),
        None, root.parent / "t.jsonl", "task-b",
    )  # fmt: skip
    result = agent.run("Fix add.")
    assert result.judgement is not None
    assert result.judgement.verdict == "pre-existing failures only"
    assert result.status is Status.UNVERIFIED and result.turns == 2  # no repair round
