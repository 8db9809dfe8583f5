"""One model call's request: everything a provider needs to make it, in one frozen object.

:meth:`BaseAIProvider.chat` and :meth:`FallbackStrategy.chat` build a :class:`ChatRequest`
once from their keyword arguments (or take one ready-made, ``chat(request=...)``), and
from there it travels unchanged: through the fallback chain's retries and models to the
one hook a provider implements, ``_complete(request)``. Adding an option to every call
is adding a field here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from coffee_maker.ai_providers.messages import Message, ToolSpec

#: The fields a caller may set by keyword, beside ``messages`` and ``tools``.
OPTIONS = ("system_prompt", "max_tokens", "temperature", "timeout", "working_dir")


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    """The conversation so far and how to answer it.

    ``None`` means the provider's configured value (``max_tokens``, ``temperature``,
    ``timeout``); ``working_dir`` matters to agentic providers only (Claude Code works
    there), ``temperature`` to the vendors that accept one.
    """

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    system_prompt: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    timeout: float | None = None
    working_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "tools", tuple(self.tools or ()))

    @classmethod
    def build(
        cls,
        messages: Sequence[Message] | ChatRequest | None = None,
        tools: Sequence[ToolSpec] | None = None,
        request: ChatRequest | None = None,
        **options: Any,
    ) -> ChatRequest:
        """A request from ``chat``'s arguments: a conversation and keyword options, or a
        ready request (positional or ``request=``) whose fields the options override."""
        if isinstance(messages, ChatRequest):
            if request is not None:
                raise TypeError("chat() got two ChatRequests")
            messages, request = None, messages
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise TypeError(f"chat() got unexpected keyword argument(s): {', '.join(unknown)}")
        if request is None:
            if messages is None:
                raise TypeError("chat() needs messages or a ChatRequest")
            return cls(messages, tools or (), **options)
        if messages is not None or tools is not None:
            raise TypeError("chat(): pass messages and tools inside the ChatRequest, not beside")
        given = {k: v for k, v in options.items() if v is not None}
        return dataclasses.replace(request, **given) if given else request

    def options(self) -> dict[str, Any]:
        """The keyword options that are set (for a provider that still implements ``chat``)."""
        return {k: getattr(self, k) for k in OPTIONS if getattr(self, k) is not None}

    def text(self) -> str:
        """Everything the model reads (system prompt, messages, tool specs), for an offline
        worst-case token count before the call."""
        parts = [self.system_prompt or ""]
        for message in self.messages:
            parts.append(message.content)
            parts.extend(json.dumps(c.arguments) for c in message.tool_calls)
        parts.extend(json.dumps(dataclasses.asdict(t)) for t in self.tools)
        return "\n".join(p for p in parts if p)
