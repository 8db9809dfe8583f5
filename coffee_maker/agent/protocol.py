"""How one model turn becomes the harness's answer, for models that call tools.

A protocol turns the model's reply into the messages that answer it and tells the loop
what happened (finished? a malformed reply? which calls failed?), so the loop alone keeps
the limits. The text protocol for models without tool calling lives in edit_blocks.py and
has the same face.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from coffee_maker.agent.prompts import TOOL_PROMPTS, Prompts
from coffee_maker.agent.tools import Toolbox
from coffee_maker.ai_providers.base import Message, ProviderResult, ToolSpec


@dataclass
class TurnOutcome:
    """The harness's answer to one model turn.

    ``attempts`` has one ``(key, failed)`` pair per action the model took (a tool call,
    or its whole reply when it called none); the loop calls it stuck when the same key
    fails again and again. ``format_error`` marks a reply the protocol could not use.
    """

    messages: list[Message] = field(default_factory=list)
    summary: str | None = None
    attempts: list[tuple[str, bool]] = field(default_factory=list)
    format_error: bool = False


class TurnProtocol(Protocol):
    prompts: Prompts

    def tools(self) -> list[ToolSpec] | None: ...

    def handle(self, result: ProviderResult) -> TurnOutcome: ...


def reply_key(content: str) -> str:
    return "reply:" + " ".join(content.split())


class ToolProtocol:
    """Native function calling: dispatch every call, answer each with a tool result."""

    prompts = TOOL_PROMPTS

    def __init__(self, toolbox: Toolbox) -> None:
        self.toolbox = toolbox

    def tools(self) -> list[ToolSpec]:
        return self.toolbox.specs()

    def handle(self, result: ProviderResult) -> TurnOutcome:
        if not result.tool_calls:
            return TurnOutcome(
                [Message.user(self.prompts.nudge)], attempts=[(reply_key(result.content), True)]
            )
        outcome = TurnOutcome()
        for call in result.tool_calls:
            done = self.toolbox.dispatch(call)
            outcome.messages.append(Message.tool_result(call, done.content, is_error=done.is_error))
            arguments = json.dumps(call.arguments, sort_keys=True, default=str)
            outcome.attempts.append((f"call:{call.name}:{arguments}", done.is_error))
            if done.finished:
                outcome.summary = done.summary
        return outcome
