"""The agent: a task, a workspace and a model in; a verified change (or why not) out.

In the manner of mini-swe-agent: one linear list of provider-neutral messages that is
exactly what the model saw, one ``chat()`` call a turn, tool results appended, and early
exits as small exception classes. Because the messages are neutral, a FallbackStrategy
can hand the conversation to the next provider mid-task and it simply continues.

The model is not the judge of its work: after it says it is done the harness runs the
test command itself and sends failures back, a bounded number of times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coffee_maker.agent.edit_blocks import TextProtocol
from coffee_maker.agent.prompts import AGENTIC_PROMPTS, Prompts, test_hint
from coffee_maker.agent.protocol import ToolProtocol, TurnOutcome, TurnProtocol
from coffee_maker.agent.result import AgentResult, Interrupted, Status
from coffee_maker.agent.test_report import Verdict
from coffee_maker.agent.tools import Toolbox
from coffee_maker.agent.transcript import Transcript
from coffee_maker.agent.verification import (
    TestSuite,
    Verification,
    Verifier,
    as_verifier,
    result_fields,
)
from coffee_maker.agent.workspace import Workspace
from coffee_maker.ai_providers.base import (
    BaseAIProvider,
    Message,
    ProviderCapability,
    ProviderResult,
    add_usage,
    make_usage,
)
from coffee_maker.ai_providers.errors import ErrorKind, ProviderError
from coffee_maker.ai_providers.fallback_strategy import FallbackStrategy
from coffee_maker.ai_providers.provider_config import AgentSettings

Model = BaseAIProvider | FallbackStrategy
#: How a run ended early: status, the limit hit, the error text, when to retry.
_Ending = tuple[Status | None, str | None, str | None, float | None]
LISTING_ENTRIES = 200


class AgentExit(Exception):
    """Ends the work early; :meth:`Agent.run` turns it into the result."""


class Finished(AgentExit):
    def __init__(self, summary: str) -> None:
        super().__init__("the model finished")
        self.summary = summary


class LimitReached(AgentExit):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Stuck(AgentExit):
    """The model repeated the same failing action (or the same toolless reply)."""


class ProviderGaveUp(AgentExit):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def is_agentic(provider: BaseAIProvider) -> bool:
    return provider.supports_capability(ProviderCapability.AGENTIC)


def uses_tools(provider: BaseAIProvider) -> bool:
    """Native tool calling (a config's ``tool_calling: false`` takes the capability away)."""
    return provider.supports_capability(ProviderCapability.TOOLS)


@dataclass
class _Plan:
    agentic: Model | None = None
    loop: Model | None = None
    use_tools: bool = True


class Agent:
    """Drives one model through one task in one workspace. ``run`` once per Agent."""

    def __init__(
        self,
        model: Model,
        workspace: Workspace,
        settings: AgentSettings,
        tests: str | TestSuite | Verifier | None,
        per_task_limit: float | None,
        transcript_path: Path,
        task_id: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.model = model
        self.should_stop = should_stop
        self.workspace = workspace
        self.settings = settings
        self.verifier = as_verifier(tests, workspace, settings.test_timeout)
        self.test_command = self.verifier.command
        self.per_task_limit = per_task_limit
        self.transcript_path = Path(transcript_path)
        self.task_id = task_id
        self.clock = clock
        self.messages: list[Message] = []
        self.turns = 0
        self.usage = make_usage()
        self.cost = 0.0
        self.summary = ""
        self.error: str | None = None
        self.verification: Verification | None = None  # the last, of the workspace as it was
        self._providers: dict[str, None] = {}
        self._events: list[dict[str, Any]] = []
        self._events_seen: dict[int, int] = {}
        self._repeat: tuple[str | None, int] = (None, 0)
        self._format_errors = 0
        self._started = 0.0
        self._before: dict[str, str] = {}
        self._transcript: Transcript | None = None

    # -- the run --------------------------------------------------------------------------
    def run(self, task: str) -> AgentResult:
        """Work on ``task`` until verified, out of limits, stuck or out of providers."""
        self._started = self.clock()
        if isinstance(self.model, FallbackStrategy):
            self.model.set_task(self.task_id)
        self._before = self.workspace.snapshot()
        with Transcript(self.transcript_path) as self._transcript:
            self._record("start", task_id=self.task_id, task=task, test_command=self.test_command)
            try:
                self._work(task)
                ended: _Ending = (None, None, None, None)
            except LimitReached as exc:
                ended = (Status.LIMIT_REACHED, exc.kind, str(exc), None)
            except Stuck as exc:
                ended = (Status.LIMIT_REACHED, "stuck", str(exc), None)
            except ProviderGaveUp as exc:
                ended = self._gave_up(exc.error)
            result = self._result(*ended)
            self._record("result", result=result)
        return result

    def _work(self, task: str) -> None:
        plan = self._plan()
        if plan.agentic is not None:
            try:
                self._run_agentic(plan.agentic, task)
                return
            except ProviderGaveUp as exc:
                if plan.loop is None:
                    raise
                self._record("switch", reason=str(exc), to="tool loop")
                self.messages = []
        assert plan.loop is not None
        self._run_loop(plan.loop, task, plan.use_tools)

    def _plan(self) -> _Plan:
        """Agentic CLI, tool calling or SEARCH/REPLACE text, from the first usable provider."""
        model = self.model
        if isinstance(model, BaseAIProvider):
            if is_agentic(model):
                return _Plan(agentic=model)
            return _Plan(loop=model, use_tools=uses_tools(model))
        usable = model.providers()
        plan = _Plan()
        if usable and is_agentic(usable[0]):
            plan.agentic = model.restricted(is_agentic)
        rest = [p for p in usable if not is_agentic(p)]
        if plan.agentic is not None and not rest:
            return plan
        # A conversation in one protocol cannot go on in the other: keep to one kind.
        plan.use_tools = uses_tools(rest[0]) if rest else True
        wanted = plan.use_tools
        plan.loop = model.restricted(lambda p: not is_agentic(p) and uses_tools(p) == wanted)
        return plan

    # -- until the tests pass ---------------------------------------------------------------
    def _until_verified(
        self, attempt: Callable[[str], str], prompt: str, prompts: Prompts, task: str
    ) -> None:
        """Let the model work, verify, send new failures back, up to max_repairs times."""
        for repair in range(self.settings.max_repairs + 1):
            self.summary = attempt(prompt)
            if not self.workspace.changed_files(self._before):
                return
            verified = self._verify()
            judgement, report = verified.judgement, verified.report
            if judgement.verdict is not Verdict.NEW_FAILURES or repair == self.settings.max_repairs:
                return
            assert report is not None
            output = self.verifier.repair_text(judgement, report, self.settings.output_limit)
            prompt = prompts.tests_failed.format(
                command=self.test_command, output=f"{judgement.text}\n\n{output}", task=task
            )

    def _verify(self) -> Verification:
        """The harness's own judgement of the workspace as it is now."""
        self.verification = verification = self.verifier.verify()
        judgement, report = verification.judgement, verification.report
        self._record(
            "verification",
            command=self.test_command,
            reused=verification.reused,
            verdict=judgement.verdict.value,
            text=judgement.text,
            exit_code=report.exit_code if report else None,
        )
        return verification

    def _system(self, prompts: Prompts) -> str:
        system = prompts.system.format(
            root=self.workspace.root, test_hint=test_hint(self.test_command)
        )
        self._record("system", prompt=system)
        return system

    def _first_prompt(self, prompts: Prompts, task: str) -> str:
        entries = self.workspace.list_files(".")
        listing = "\n".join(entries[:LISTING_ENTRIES])
        if len(entries) > LISTING_ENTRIES:
            listing += f"\n[... {len(entries) - LISTING_ENTRIES} more entries]"
        return prompts.task.format(task=task, listing=listing or "(empty)")

    # -- tool calling and text protocols ----------------------------------------------------
    def _run_loop(self, model: Model, task: str, use_tools: bool) -> None:
        protocol: TurnProtocol
        if use_tools:
            protocol = ToolProtocol(Toolbox(self.workspace, self.verifier, self.settings))
        else:
            protocol = TextProtocol(self.workspace)
        system = self._system(protocol.prompts)

        def attempt(prompt: str) -> str:
            self._append(Message.user(prompt))
            try:
                while True:
                    self._step(model, protocol, system)
            except Finished as done:
                return done.summary

        self._until_verified(
            attempt, self._first_prompt(protocol.prompts, task), protocol.prompts, task
        )

    def _step(self, model: Model, protocol: TurnProtocol, system: str) -> None:
        self._check_limits()
        tools = protocol.tools()
        result = self._call(
            model, lambda: model.chat(list(self.messages), tools, system_prompt=system)
        )
        self._append_turn(result)
        outcome = protocol.handle(result)
        for message in outcome.messages:
            self._append(message)
        self._watch(outcome)

    def _watch(self, outcome: TurnOutcome) -> None:
        """Raise the early exit this turn calls for, if any."""
        if outcome.summary is not None:
            raise Finished(outcome.summary)
        for key, failed in outcome.attempts:
            last, count = self._repeat
            self._repeat = (key, count + 1 if key == last else 1) if failed else (None, 0)
            if self._repeat[1] >= self.settings.stuck_threshold:
                raise Stuck(
                    f"stuck: the same failing action was repeated {self._repeat[1]} times "
                    f"(agent.stuck_threshold): {key[:200]}"
                )
        self._format_errors = self._format_errors + 1 if outcome.format_error else 0
        if self._format_errors > self.settings.max_format_errors:
            raise LimitReached(
                "max_format_errors",
                f"{self._format_errors} unusable replies in a row (agent.max_format_errors)",
            )

    # -- agentic providers ------------------------------------------------------------------
    def _run_agentic(self, model: Model, task: str) -> None:
        """The provider edits the workspace itself; the harness still verifies."""
        system = self._system(AGENTIC_PROMPTS)

        def attempt(prompt: str) -> str:
            self._check_limits()
            self._append(Message.user(prompt))
            remaining = max(1.0, self.settings.max_wall_time - (self.clock() - self._started))
            result = self._call(
                model,
                lambda: model.execute_prompt(
                    prompt,
                    system_prompt=system,
                    working_dir=str(self.workspace.root),
                    timeout=remaining,
                ),
            )
            self._append_turn(result)
            if result.error:
                self.error = result.error
            return result.content.strip() or "(no summary given)"

        self._until_verified(
            attempt, self._first_prompt(AGENTIC_PROMPTS, task), AGENTIC_PROMPTS, task
        )

    # -- model calls, limits, bookkeeping ---------------------------------------------------
    def _check_limits(self) -> None:
        """Runs before every model call: the place where a run may stop early."""
        if self.should_stop():
            raise Interrupted("stop requested; the next model call was not started")
        if self.turns >= self.settings.max_steps:
            raise LimitReached(
                "max_steps", f"stopped after {self.turns} model turns (agent.max_steps)"
            )
        elapsed = self.clock() - self._started
        if elapsed >= self.settings.max_wall_time:
            raise LimitReached(
                "max_wall_time", f"stopped after {elapsed:.0f} s (agent.max_wall_time)"
            )
        if self.per_task_limit is not None and self.cost >= self.per_task_limit:
            raise LimitReached(
                "per_task_limit",
                f"spent ${self.cost:.4f} of the ${self.per_task_limit:.2f} task budget "
                "(cost_controls.per_task_limit)",
            )

    def _call(self, model: Model, request: Callable[[], ProviderResult]) -> ProviderResult:
        try:
            result = request()
        except ProviderError as exc:  # AllProvidersFailedError included
            self._collect_events(model)
            raise ProviderGaveUp(exc) from exc
        self._collect_events(model)
        self.turns += 1
        self.usage = add_usage(self.usage, result.usage)
        self.cost += result.cost
        self._providers[f"{result.provider}/{result.model}"] = None
        return result

    def _collect_events(self, model: Model) -> None:
        """New fallback events (retries, switches) of the strategy in use, into the record."""
        events = getattr(model, "events", None)
        if events is None:
            return
        seen = self._events_seen.get(id(events), 0)
        for event in events[seen:]:
            self._events.append(event.to_dict())
            self._record("fallback", event=event.to_dict())
        self._events_seen[id(events)] = len(events)

    def _append(self, message: Message) -> None:
        self.messages.append(message)
        self._record("message", message=message.to_dict())

    def _append_turn(self, result: ProviderResult) -> None:
        self.messages.append(result.to_message())
        self._record(
            "turn",
            turn=self.turns,
            provider=result.provider,
            model=result.model,
            message=result.to_message().to_dict(),
            usage=result.usage,
            cost=result.cost,
            stop_reason=result.stop_reason,
            error=result.error,
        )

    def _record(self, kind: str, **fields: Any) -> None:
        if self._transcript is not None:
            self._transcript.write(kind, **fields)

    def _gave_up(self, error: Exception) -> _Ending:
        """No provider answered. Out of budget is a limit: ``per_task_limit`` when only the
        task's own budget refused (waiting will not help), else ``budget`` (it resets)."""
        budget = getattr(error, "budget_exhausted", False) or (
            getattr(error, "kind", None) == ErrorKind.BUDGET_EXCEEDED
        )
        limits = getattr(error, "budget_limits", None) or {getattr(error, "limit", None)}
        limit = None
        if budget:
            limit = "per_task_limit" if limits == {"per_task"} else "budget"
        status = Status.LIMIT_REACHED if budget else Status.PROVIDER_FAILURE
        return (status, limit, str(error), getattr(error, "next_retry_at", None))

    def _result(
        self, status: Status | None, limit: str | None, error: str | None, retry_at: float | None
    ) -> AgentResult:
        fields = result_fields(self.workspace.changed_files(self._before), self.verification)
        if status is not None:
            fields["status"] = status
        return AgentResult(
            **fields,
            summary=self.summary,
            turns=self.turns,
            usage=self.usage,
            cost=self.cost,
            providers_used=list(self._providers),
            fallback_events=self._events,
            transcript_path=self.transcript_path,
            error=error or self.error,
            limit=limit,
            retry_at=retry_at,
        )
