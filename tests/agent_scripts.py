"""In-process scripted models for the agent tests: real BaseAIProvider subclasses.

A script is a list of steps; each ``chat`` call takes the next one. A step is a
ProviderResult, an exception to raise, or a callable given the messages (and the
keyword arguments) that returns either. Each call records what the model was sent.
"""

from __future__ import annotations

import itertools
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

from coffee_maker.ai_providers.base import (
    BaseAIProvider,
    ChatRequest,
    Message,
    ProviderCapability,
    ProviderResult,
    ToolCall,
    ToolSpec,
    make_usage,
)
from coffee_maker.ai_providers.provider_config import ProviderSettings

PY = shlex.quote(sys.executable)
#: A test command for the tiny calc project: passes when add adds.
CALC_TEST = (
    f"{PY} -c \"import calc, sys; r = calc.add(2, 3); print('add(2, 3) =', r); "
    'sys.exit(0 if r == 5 else 1)"'
)
BUGGY_CALC = "def add(a, b):\n    return a - b\n"

Step = ProviderResult | Exception | Callable[..., ProviderResult | Exception]
_ids = itertools.count(1)

#: Scripts for providers built by a ProviderFactory (keyed by provider name).
SCRIPTS: dict[str, list[Step]] = {}


def tool(name: str, cost: float = 0.0, **arguments: Any) -> ProviderResult:
    """A turn calling one tool."""
    return calls((name, arguments), cost=cost)


def calls(*pairs: tuple[str, dict[str, Any]], cost: float = 0.0) -> ProviderResult:
    return ProviderResult(
        tool_calls=[ToolCall(f"call_{next(_ids)}", name, args) for name, args in pairs],
        usage=make_usage(100, 20),
        stop_reason="tool_use",
        cost=cost,
    )


def say(text: str, cost: float = 0.0) -> ProviderResult:
    return ProviderResult(
        content=text, usage=make_usage(100, 20), stop_reason="end_turn", cost=cost
    )


class ScriptedProvider(BaseAIProvider):
    """A model that replays a script. Tool calling unless ``settings.tool_calling`` is off."""

    provider_type = "agent-scripted"
    default_capabilities = frozenset({ProviderCapability.TEXT, ProviderCapability.TOOLS})

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        name: str | None = None,
        *,
        script: Sequence[Step] | None = None,
    ) -> None:
        settings = settings or ProviderSettings(name=name or "scripted", type="agent-scripted")
        super().__init__(settings, name=name)
        self.model = self.model or "script-1"
        self.script = list(script) if script is not None else SCRIPTS.setdefault(self.name, [])
        self.seen: list[list[Message]] = []
        self.tools_seen: list[list[ToolSpec] | None] = []
        self.kwargs_seen: list[dict[str, Any]] = []

    @property
    def capabilities(self) -> frozenset[ProviderCapability]:
        if not self.settings.tool_calling:
            return self.default_capabilities - {ProviderCapability.TOOLS}
        return self.default_capabilities

    def _complete(self, request: ChatRequest) -> ProviderResult:
        messages, kwargs = list(request.messages), request.options()
        self.seen.append(messages)
        self.tools_seen.append(list(request.tools) or None)
        self.kwargs_seen.append(kwargs)
        if not self.script:
            raise AssertionError(f"{self.name}: the script ran out after {len(self.seen)} calls")
        step = self.script.pop(0)
        if callable(step) and not isinstance(step, ProviderResult | Exception):
            step = step(messages, **kwargs)
        if isinstance(step, Exception):
            raise step
        step.provider = self.name
        step.model = step.model or self.model
        return step

    def check_available(self) -> bool:
        return True


class AgenticProvider(ScriptedProvider):
    """Like a CLI agent: given a working directory, it edits the files itself."""

    provider_type = "agent-scripted-agentic"
    default_capabilities = frozenset({ProviderCapability.TEXT, ProviderCapability.AGENTIC})
