"""Claude through the Anthropic Messages API (the official ``anthropic`` SDK).

Three things matter beyond translating messages:

* **One HTTP request per call.** The SDK retries twice by default; FallbackStrategy is the
  one place that retries, so the client is built with ``max_retries=0``.
* **An explicit timeout.** Without one the SDK refuses non-streaming calls whose
  ``max_tokens`` could take over ten minutes ("Streaming is required").
* **Prompt caching.** An agent resends the whole conversation every turn. Cache
  breakpoints on the system prompt, the last tool spec and the last block of the final
  user turn make each turn pay full price only for what is new (3 of the 4 allowed).

``temperature`` is not sent: the SDK (2.x) speaks API version 2026-10-21, which rejects
every sampling parameter with a 400, and no longer accepts them as arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
from coffee_maker.ai_providers.providers._bounded import bound_client

if TYPE_CHECKING:
    from coffee_maker.ai_providers.provider_config import ProviderSettings

log = logging.getLogger(__name__)
_warned_temperature: set[str] = set()

#: Anthropic's stop reasons, normalised (the raw value goes to ``metadata``).
STOP_REASONS: dict[str, str] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "refusal": "content_filter",
    "pause_turn": "other",
}
CACHE = {"type": "ephemeral"}
RATELIMIT_PREFIX = "anthropic-ratelimit-"


def normalise_stop_reason(raw: str | None) -> str | None:
    return STOP_REASONS.get(raw, "other") if raw else None


def to_wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Neutral messages as Anthropic ``messages``.

    Tool results become ``tool_result`` blocks in a user turn. Consecutive turns of the
    same role are merged into one, so the results of parallel tool calls (and any user
    text after them) travel in a single user message, as the API requires.
    """
    wire: list[dict[str, Any]] = []
    for message in messages:
        blocks = _blocks(message)
        role = "assistant" if message.role == "assistant" else "user"
        if not blocks:
            continue
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})
    return wire


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": message.content,
        }
        if message.is_error:
            block["is_error"] = True
        return [block]
    blocks: list[dict[str, Any]] = []
    if message.content:  # the API rejects empty text blocks
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        )
    return blocks


def to_wire_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
    ]


def add_cache_breakpoints(request: dict[str, Any]) -> dict[str, Any]:
    """Mark the system prompt, the last tool and the final user turn's last block.

    Everything before a breakpoint is cached; the next turn's request starts with the same
    prefix, so it reads it from the cache at a tenth of the price.
    """
    if request.get("system"):
        request["system"] = [{"type": "text", "text": request["system"], "cache_control": CACHE}]
    if request.get("tools"):
        request["tools"][-1] = {**request["tools"][-1], "cache_control": CACHE}
    users = [m for m in request["messages"] if m["role"] == "user"]
    if users and users[-1]["content"]:
        content = users[-1]["content"]
        content[-1] = {**content[-1], "cache_control": CACHE}
    return request


class ClaudeProvider(BaseAIProvider):
    """Claude models over the Anthropic API, with native tool calling and prompt caching."""

    provider_type = "claude"
    default_api_key_env = "ANTHROPIC_API_KEY"
    default_capabilities = frozenset(
        {
            ProviderCapability.TEXT,
            ProviderCapability.TOOLS,
            ProviderCapability.STREAMING,
            ProviderCapability.PROMPT_CACHING,
            ProviderCapability.COUNT_TOKENS,
        }
    )

    def __init__(self, settings: ProviderSettings, name: str | None = None) -> None:
        super().__init__(settings, name)
        if settings.temperature is not None and self.name not in _warned_temperature:
            _warned_temperature.add(self.name)
            log.warning(
                "providers.%s.temperature is ignored: the Anthropic API version this SDK "
                "speaks rejects sampling parameters",
                self.name,
            )

    def check_available(self) -> bool:
        return self.api_key() is not None

    def _make_client(self) -> Any:
        key = self.require_api_key()
        import anthropic
        import httpcore2

        return anthropic.Anthropic(
            api_key=key,
            base_url=self.settings.base_url,
            max_retries=0,
            timeout=self.settings.timeout,
            default_headers=self.settings.headers or None,
            http_client=bound_client(anthropic.DefaultHttpxClient(), httpcore2),
        )

    # -- calls -----------------------------------------------------------------------------
    def _complete(self, request: ChatRequest) -> ProviderResult:
        kwargs = self.build_request(
            request.messages, request.tools, request.system_prompt, request.max_tokens
        )
        timeout = request.timeout or self.settings.timeout
        client = self.client
        if self.settings.stream:
            with client.messages.stream(**kwargs, timeout=timeout) as stream:
                message = stream.get_final_message()
                headers = stream.response.headers
        else:
            raw = client.messages.with_raw_response.create(**kwargs, timeout=timeout)
            message, headers = raw.parse(), raw.headers
        return self._result(message, headers)

    def build_request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        system_prompt: str | None = None,
        max_tokens: int | None = None,
    ) -> dict[str, Any]:
        """The keyword arguments of ``messages.create``, cache breakpoints included."""
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens or self.settings.max_tokens,
            "messages": to_wire_messages(messages),
        }
        if system_prompt:
            request["system"] = system_prompt
        if tools:
            request["tools"] = to_wire_tools(tools)
        return add_cache_breakpoints(request)

    def _result(self, message: Any, headers: Mapping[str, str]) -> ProviderResult:
        text = "".join(b.text for b in message.content if b.type == "text")
        calls = [
            ToolCall(id=b.id, name=b.name, arguments=dict(b.input or {}))
            for b in message.content
            if b.type == "tool_use"
        ]
        u = message.usage
        usage = make_usage(
            u.input_tokens,
            u.output_tokens,
            getattr(u, "cache_read_input_tokens", 0) or 0,
            getattr(u, "cache_creation_input_tokens", 0) or 0,
        )
        model = message.model or self.model
        metadata: dict[str, Any] = {
            "raw_stop_reason": message.stop_reason,
            "message_id": message.id,
            "request_id": headers.get("request-id"),
        }
        ratelimit = {k: v for k, v in headers.items() if k.lower().startswith(RATELIMIT_PREFIX)}
        if ratelimit:
            metadata["ratelimit"] = ratelimit
        return ProviderResult(
            content=text,
            model=model,
            provider=self.name,
            usage=usage,
            stop_reason=normalise_stop_reason(message.stop_reason),
            tool_calls=calls,
            cost=self.cost_of(usage, model),
            metadata=metadata,
        )

    # -- free API calls -------------------------------------------------------------------
    def count_message_tokens(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        system_prompt: str | None = None,
    ) -> int:
        """Exact input tokens of a request, from ``/v1/messages/count_tokens`` (free).

        :meth:`count_tokens` stays offline: it sizes the budget reservation made before
        every call, and a network round trip per reservation would double the latency.
        """
        request = self.build_request(messages, tools, system_prompt)
        request.pop("max_tokens")
        with self.vendor_call():
            return int(self.client.messages.count_tokens(**request).input_tokens)

    def list_models(self) -> list[str]:
        with self.vendor_call():
            return [model.id for model in self.client.models.list()]
