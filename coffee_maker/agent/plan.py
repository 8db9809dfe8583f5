"""Which way the agent drives a model: an agentic CLI, native tool calls, or text edits.

An agentic provider (Claude Code) edits the workspace itself; any other is driven turn
by turn, with tool calls where it supports them and SEARCH/REPLACE blocks where it does
not. A conversation in one protocol cannot go on in the other, so a fallback chain is
restricted to the providers of the kind its first usable provider has.
"""

from __future__ import annotations

from dataclasses import dataclass

from coffee_maker.ai_providers.base import BaseAIProvider, ProviderCapability
from coffee_maker.ai_providers.fallback_strategy import FallbackStrategy

Model = BaseAIProvider | FallbackStrategy


def is_agentic(provider: BaseAIProvider) -> bool:
    return provider.supports_capability(ProviderCapability.AGENTIC)


def uses_tools(provider: BaseAIProvider) -> bool:
    """Native tool calling (a config's ``tool_calling: false`` takes the capability away)."""
    return provider.supports_capability(ProviderCapability.TOOLS)


@dataclass
class Plan:
    """The agentic model to try first (if any), then the turn-by-turn one (if any)."""

    agentic: Model | None = None
    loop: Model | None = None
    use_tools: bool = True


def plan_for(model: Model) -> Plan:
    """Agentic CLI, tool calling or SEARCH/REPLACE text, from the first usable provider."""
    if isinstance(model, BaseAIProvider):
        if is_agentic(model):
            return Plan(agentic=model)
        return Plan(loop=model, use_tools=uses_tools(model))
    usable = model.providers()
    plan = Plan()
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
