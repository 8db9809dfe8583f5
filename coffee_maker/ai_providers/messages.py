"""The provider-neutral data of the conversation: messages, tool calls and specs, results.

Each provider module translates these to and from its vendor's wire format. Because the
conversation never holds vendor objects, a task that started on one provider can
continue on another. ``coffee_maker.ai_providers.base`` re-exports every name here.

Usage is normalised so that cost is computed one way for every vendor:
``input_tokens`` counts *uncached* input only; ``cache_read_tokens`` and
``cache_write_tokens`` are reported separately (vendors that fold cached tokens into the
prompt count, like OpenAI and Gemini, have them subtracted), so no token is billed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def make_usage(
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> dict[str, int]:
    """A usage dict with every key present (``input_tokens`` excludes cached tokens)."""
    return {
        "input_tokens": max(0, int(input_tokens or 0)),
        "output_tokens": max(0, int(output_tokens or 0)),
        "cache_read_tokens": max(0, int(cache_read_tokens or 0)),
        "cache_write_tokens": max(0, int(cache_write_tokens or 0)),
    }


def add_usage(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in USAGE_KEYS}


#: Keys a tool call's ``arguments`` gets when the model wrote invalid JSON: the text as
#: written, and what is wrong with it. The agent answers such a call with the error.
RAW_ARGUMENTS = "_raw"
ARGUMENTS_ERROR = "_error"


@dataclass
class ToolCall:
    """A model's request to run a tool. ``id`` links the result back to it."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolSpec:
    """A tool offered to the model: ``parameters`` is a JSON schema object."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass
class Message:
    """One turn of the conversation.

    ``role`` is ``user``, ``assistant`` or ``tool`` (a tool result answering
    ``tool_call_id``). The system prompt is not a message: it is a field of the request.
    ``provider_data`` holds opaque vendor payloads keyed by provider type (e.g. Gemini's
    thought signatures) that must be sent back unchanged to the same vendor and are
    ignored by the others.
    """

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    tool_name: str | None = None
    is_error: bool = False
    provider_data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def tool_result(cls, call: ToolCall, content: str, *, is_error: bool = False) -> Message:
        return cls(
            role="tool",
            content=content,
            tool_call_id=call.id,
            tool_name=call.name,
            is_error=is_error,
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls
            ]
        if self.tool_call_id:
            data["tool_call_id"] = self.tool_call_id
            data["tool_name"] = self.tool_name
        if self.is_error:
            data["is_error"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(
            role=data["role"],
            content=data.get("content", ""),
            tool_calls=[ToolCall(**c) for c in data.get("tool_calls", [])],
            tool_call_id=data.get("tool_call_id"),
            tool_name=data.get("tool_name"),
            is_error=data.get("is_error", False),
        )


#: Normalised stop reasons; the vendor's own value is kept in ``metadata["raw_stop_reason"]``.
StopReason = Literal["end_turn", "tool_use", "max_tokens", "content_filter", "error", "other"]


@dataclass
class ProviderResult:
    """What one call produced.

    Hard failures raise a :class:`~coffee_maker.ai_providers.errors.ProviderError`;
    ``error`` is for a call that returned but did not finish its job (an agent CLI that
    hit its turn limit, say), so ``success`` is False while content and cost are real.
    """

    content: str = ""
    model: str = ""
    provider: str = ""
    usage: dict[str, int] = field(default_factory=make_usage)
    stop_reason: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    cost: float = 0.0
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    provider_data: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.error is None

    @property
    def total_tokens(self) -> int:
        return sum(self.usage.get(k, 0) for k in USAGE_KEYS)

    def to_message(self) -> Message:
        """The assistant turn to append to the conversation."""
        return Message(
            role="assistant",
            content=self.content,
            tool_calls=list(self.tool_calls),
            provider_data=dict(self.provider_data),
        )
