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
from pathlib import Path
from typing import Any

from coffee_maker.agent.edit_blocks import TextProtocol
from coffee_maker.agent.limits import (
    Ending,
    Finished,
    LimitReached,
    Limits,
    ProviderGaveUp,
    Stuck,
    gave_up,
)
from coffee_maker.agent.plan import Model, plan_for
from coffee_maker.agent.prompts import AGENTIC_PROMPTS, Prompts, test_hint
from coffee_maker.agent.protocol import ToolProtocol, TurnProtocol
from coffee_maker.agent.result import AgentResult, Status
from coffee_maker.agent.settings import AgentSettings
from coffee_maker.agent.tools import Toolbox
from coffee_maker.agent.transcript import Transcript
from coffee_maker.agent.verdict import Verdict
from coffee_maker.agent.verification import (
    TestSuite,
    Verification,
    Verifier,
    as_verifier,
    result_fields,
)
from coffee_maker.agent.workspace import Workspace
from coffee_maker.ai_providers.base import (
    Message,
    ProviderResult,
    add_usage,
    make_usage,
)
from coffee_maker.ai_providers.errors import ProviderError
from coffee_maker.ai_providers.fallback_strategy import FallbackStrategy

LISTING_ENTRIES = 200


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
        self.workspace = workspace
        self.settings = settings
        self.verifier = as_verifier(tests, workspace, settings.test_timeout)
        self.test_command = self.verifier.command
        self.transcript_path = Path(transcript_path)
        self.task_id = task_id
        self.limits = Limits(settings, per_task_limit, clock, should_stop)
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
        self._before: dict[str, str] = {}
        self._transcript: Transcript | None = None

    # -- the run --------------------------------------------------------------------------
    def run(self, task: str) -> AgentResult:
        """Work on ``task`` until verified, out of limits, stuck or out of providers."""
        self.limits.start()
        if isinstance(self.model, FallbackStrategy):
            self.model.set_task(self.task_id)
        self._before = self.workspace.snapshot()
        with Transcript(self.transcript_path) as self._transcript:
            self._record("start", task_id=self.task_id, task=task, test_command=self.test_command)
            try:
                self._work(task)
                ended: Ending = (None, None, None, None)
            except LimitReached as exc:
                ended = (Status.LIMIT_REACHED, exc.kind, str(exc), None)
            except Stuck as exc:
                ended = (Status.LIMIT_REACHED, "stuck", str(exc), None)
            except ProviderGaveUp as exc:
                ended = gave_up(exc.error)
            result = self._result(*ended)
            self._record("result", result=result)
        return result

    def _work(self, task: str) -> None:
        plan = plan_for(self.model)
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
        self.limits.check(self.turns, self.cost)
        tools = protocol.tools()
        result = self._call(
            model, lambda: model.chat(list(self.messages), tools, system_prompt=system)
        )
        self._append_turn(result)
        outcome = protocol.handle(result)
        for message in outcome.messages:
            self._append(message)
        self.limits.watch(outcome)

    # -- agentic providers ------------------------------------------------------------------
    def _run_agentic(self, model: Model, task: str) -> None:
        """The provider edits the workspace itself; the harness still verifies."""
        system = self._system(AGENTIC_PROMPTS)

        def attempt(prompt: str) -> str:
            self.limits.check(self.turns, self.cost)
            self._append(Message.user(prompt))
            remaining = self.limits.time_left()
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
            if result.metadata.get("actions"):  # what the CLI did: commands, changed files
                self._record(
                    "actions", provider=result.provider, actions=result.metadata["actions"]
                )
            if result.error:
                self.error = result.error
            return result.content.strip() or "(no summary given)"

        self._until_verified(
            attempt, self._first_prompt(AGENTIC_PROMPTS, task), AGENTIC_PROMPTS, task
        )

    # -- model calls, limits, bookkeeping ---------------------------------------------------
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
