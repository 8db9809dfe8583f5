"""The one interface every model is reached through.

Messages, tool specs and results are provider-neutral dataclasses; each provider module
translates them to and from its vendor's wire format. Because the conversation never holds
vendor objects, a task that started on one provider can continue on another.

Usage is normalised so that cost is computed one way for every vendor:
``input_tokens`` counts *uncached* input only; ``cache_read_tokens`` and
``cache_write_tokens`` are reported separately (vendors that fold cached tokens into the
prompt count, like OpenAI and Gemini, have them subtracted), so no token is billed twice.
"""

from __future__ import annotations

import enum
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from coffee_maker.ai_providers.pricing import Price
    from coffee_maker.ai_providers.provider_config import ProviderSettings


class ProviderCapability(enum.StrEnum):
    TEXT = "text"
    TOOLS = "tools"  # native function calling
    STREAMING = "streaming"
    PROMPT_CACHING = "prompt_caching"
    AGENTIC = "agentic"  # edits files itself given a working directory (CLI agents)
    COUNT_TOKENS = "count_tokens"  # exact counts from the vendor
    FREE = "free"  # costs nothing (local models): may run when the budget is spent


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
    ``tool_call_id``). The system prompt is not a message: it is passed to ``chat``.
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


class PromptAsChat:
    """``execute_prompt``, the specification's single-prompt call, as a one-message ``chat``.

    Shared by providers and by FallbackStrategy, which has the same face.
    """

    def execute_prompt(
        self,
        prompt: str,
        system_prompt: str | None = None,
        working_dir: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> ProviderResult:
        return self.chat(  # type: ignore[attr-defined]
            [Message.user(prompt)],
            system_prompt=system_prompt,
            working_dir=working_dir,
            timeout=timeout,
            **kwargs,
        )


class BaseAIProvider(PromptAsChat, ABC):
    """A configured connection to one vendor (one provider entry of the config).

    Subclasses implement :meth:`chat` (or :meth:`execute_prompt` for agentic CLIs) and
    :meth:`check_available`. The SDK is imported inside the subclass, never at module
    import time, so the CLI starts fast.
    """

    #: The provider type this class implements (``claude``, ``openai``, ...).
    provider_type: str = ""
    #: What every instance can do; a config may narrow it.
    default_capabilities: frozenset[ProviderCapability] = frozenset({ProviderCapability.TEXT})

    def __init__(self, settings: ProviderSettings, name: str | None = None) -> None:
        self.settings = settings
        self._name = name or settings.name
        self.model: str = settings.model or ""

    # -- identity ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> frozenset[ProviderCapability]:
        return self.default_capabilities

    def supports_capability(self, capability: ProviderCapability | str) -> bool:
        return ProviderCapability(capability) in self.capabilities

    @property
    def is_free(self) -> bool:
        """Costs nothing (a local model): may still run when the budget is spent."""
        return ProviderCapability.FREE in self.capabilities or self.price().is_free

    def with_model(self, model: str) -> BaseAIProvider:
        """A provider identical to this one but calling ``model`` (for model fallback)."""
        clone = type(self)(self.settings.model_copy(update={"model": model}), name=self._name)
        return clone

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} model={self.model!r}>"

    # -- calls -----------------------------------------------------------------------
    @abstractmethod
    def chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        *,
        system_prompt: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout: float | None = None,
        working_dir: str | None = None,
    ) -> ProviderResult:
        """One model call: the conversation so far in, one assistant turn out."""

    @abstractmethod
    def check_available(self) -> bool:
        """True when the provider is configured (key present, binary found).

        Cheap and offline: it does not spend money. Reachability is checked by
        ``project-manager provider status``.
        """

    def list_models(self) -> list[str]:
        """Model ids the vendor's API lists (``provider models``, reachability checks).

        Free of charge. Providers that cannot list (agent CLIs) return an empty list.
        """
        return []

    def reset_context(self) -> None:
        """Forget any conversation state kept between calls (CLI sessions)."""
        return None

    # -- tokens and money ----------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        from coffee_maker.ai_providers.tokens import count_tokens

        return count_tokens(text, self.model)

    def max_output_tokens(self) -> int:
        return int(self.settings.max_tokens)

    def price(self, model: str | None = None) -> Price:
        from coffee_maker.ai_providers.pricing import get_price_table

        return get_price_table().price_for(
            self.name, self.provider_type, model or self.model, self.settings.price_override()
        )

    def estimate_cost(
        self,
        prompt: str,
        system_prompt: str | None = None,
        max_output_tokens: int | None = None,
    ) -> float:
        """Worst-case cost of one call: counted input plus the full output allowance."""
        input_tokens = self.count_tokens(prompt) + (
            self.count_tokens(system_prompt) if system_prompt else 0
        )
        output = self.max_output_tokens() if max_output_tokens is None else max_output_tokens
        return self.worst_case_cost(input_tokens, output)

    def cost_of(self, usage: dict[str, int], model: str | None = None) -> float:
        return self.price(model).cost(usage)

    def worst_case_cost(self, input_tokens: int, output_tokens: int) -> float:
        """The most one call can cost: what the budget reserves before making it."""
        return self.cost_of(make_usage(input_tokens, output_tokens))

    # -- keys ----------------------------------------------------------------------------
    #: Environment variable read for the key when the config names none.
    default_api_key_env: str | None = None

    @property
    def api_key_env(self) -> str | None:
        return self.settings.api_key_env or self.default_api_key_env

    def api_key(self) -> str | None:
        env = self.api_key_env
        if not env:
            return None
        return os.environ.get(env) or None

    def require_api_key(self) -> str:
        """The key, registered for redaction; an AuthenticationError naming the env var if unset."""
        from coffee_maker.ai_providers.errors import AuthenticationError
        from coffee_maker.secrets import register_secret_value

        key = self.api_key()
        if not key:
            raise AuthenticationError(
                f"{self.api_key_env} is not set", provider=self.name, model=self.model
            )
        register_secret_value(key)
        return key

    def describe_unavailable(self) -> str:
        """Why :meth:`check_available` is False, in words for the user."""
        env = self.api_key_env
        if env and not self.api_key():
            return f"{env} is not set"
        return "not configured"
