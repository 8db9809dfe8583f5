"""What the API providers share once a vendor's reply is decoded.

Each provider turns its vendor's response into a :class:`Draft` (content, tool calls,
the vendor's stop value, the model it reports, normalised usage) and :func:`finish`
makes the :class:`ProviderResult` the same way for all of them: normalised stop reason,
cost from the price table, and an estimate when a vendor reports no usage at all (some
OpenAI-compatible servers do not, and a call must never look free to the budget).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coffee_maker.ai_providers.base import (
    ARGUMENTS_ERROR,
    RAW_ARGUMENTS,
    Message,
    ProviderCapability,
    ProviderResult,
    ToolCall,
    make_usage,
)
from coffee_maker.ai_providers.tokens import count_tokens

if TYPE_CHECKING:
    from coffee_maker.ai_providers.base import BaseAIProvider, ChatRequest
    from coffee_maker.ai_providers.provider_config import ProviderSettings


@dataclass
class Draft:
    """A decoded vendor reply, before it becomes a :class:`ProviderResult`."""

    content: str
    tool_calls: list[ToolCall]
    raw_stop: str | None
    model: str
    usage: dict[str, int] | None  # None: the vendor reported none
    provider_data: dict[str, Any] = field(default_factory=dict)


def synthetic_call_id() -> str:
    """An id for a tool call from a vendor that gives none (Gemini, Ollama).

    Random rather than derived from the call, so two identical calls in one conversation
    never share an id (Anthropic and OpenAI reject that when the history moves there).
    """
    return f"call_{uuid.uuid4().hex[:24]}"


def parse_arguments(raw: str | None) -> dict[str, Any]:
    """A tool call's JSON-string arguments as a dict, never raising.

    Models do write broken JSON; the call then carries the text under ``_raw`` and the
    problem under ``_error`` so the agent can tell the model, which usually repairs it.
    """
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        problem = f"tool arguments are not valid JSON ({exc.msg} at char {exc.pos})"
        return {RAW_ARGUMENTS: raw, ARGUMENTS_ERROR: problem}
    if not isinstance(value, dict):
        return {RAW_ARGUMENTS: raw, ARGUMENTS_ERROR: "tool arguments must be a JSON object"}
    return value


def arguments_json(arguments: Mapping[str, Any]) -> str:
    """Arguments as a JSON string again; invalid ones go back exactly as the model wrote them."""
    raw = arguments.get(RAW_ARGUMENTS)
    if isinstance(raw, str) and ARGUMENTS_ERROR in arguments:
        return raw
    return json.dumps(dict(arguments), ensure_ascii=False)


def tool_result_text(message: Message) -> str:
    """A tool result's text; vendors with no error flag on results get it in the text."""
    return f"ERROR: {message.content}" if message.is_error else message.content


def tool_names_by_id(messages: Sequence[Message]) -> dict[str, str]:
    """Tool call id -> tool name, for vendors that answer a call by name (Gemini, Ollama)."""
    return {c.id: c.name for m in messages for c in m.tool_calls}


def capabilities_for(
    defaults: frozenset[ProviderCapability], settings: ProviderSettings
) -> frozenset[ProviderCapability]:
    """``tool_calling: false`` in the config takes native tool calling away."""
    if settings.tool_calling:
        return defaults
    return defaults - {ProviderCapability.TOOLS}


def normalise_stop(raw: str | None, table: Mapping[str, str], has_tool_calls: bool) -> str:
    """The vendor's stop value as end_turn|tool_use|max_tokens|content_filter|other."""
    stop = table.get(raw or "", "other" if raw else "end_turn")
    if has_tool_calls and stop == "end_turn":
        return "tool_use"
    return stop


def estimate_usage(request: ChatRequest, draft: Draft) -> dict[str, int]:
    """Token counts from the text itself, for a vendor that reported none."""

    def size(text: str) -> int:
        return count_tokens(text, draft.model)

    prompt = size(request.system_prompt or "")
    for message in request.messages:
        prompt += size(message.content)
        prompt += sum(size(json.dumps(c.arguments)) + size(c.name) for c in message.tool_calls)
    output = size(draft.content)
    output += sum(size(json.dumps(c.arguments)) + size(c.name) for c in draft.tool_calls)
    return make_usage(prompt, output)


def finish(
    provider: BaseAIProvider,
    draft: Draft,
    stop_table: Mapping[str, str],
    request: ChatRequest,
) -> ProviderResult:
    """The :class:`ProviderResult` for a decoded reply, priced at the model that answered."""
    metadata: dict[str, Any] = {"raw_stop_reason": draft.raw_stop}
    usage = draft.usage
    if usage is None:
        usage = estimate_usage(request, draft)
        metadata["usage_estimated"] = True
    bad_calls = [c.id for c in draft.tool_calls if ARGUMENTS_ERROR in c.arguments]
    if bad_calls:
        metadata["invalid_tool_arguments"] = bad_calls
    return ProviderResult(
        content=draft.content,
        model=draft.model,
        provider=provider.name,
        usage=usage,
        stop_reason=normalise_stop(draft.raw_stop, stop_table, bool(draft.tool_calls)),
        tool_calls=draft.tool_calls,
        cost=provider.cost_of(usage, draft.model),
        metadata=metadata,
        provider_data=draft.provider_data,
    )
