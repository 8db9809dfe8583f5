"""Local models through Ollama's native API (ollama SDK): free, private, no key.

Ollama's tool calls carry no ids (they are synthesised) and a tool result names its
tool (``tool_name``). It has no error flag on results, so a failed tool's text says so.
It costs nothing, so it may still run when the budget is spent (``FREE``). When the
server is down the error says how to start it: ``ollama serve``, or fix ``host``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
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
from coffee_maker.ai_providers.errors import ErrorKind, ProviderConnectionError
from coffee_maker.ai_providers.providers._bounded import bound_client
from coffee_maker.ai_providers.providers._common import (
    RAW_ARGUMENTS,
    Draft,
    capabilities_for,
    finish,
    synthetic_call_id,
    tool_names_by_id,
    tool_result_text,
)

if TYPE_CHECKING:
    from coffee_maker.ai_providers.errors import ProviderError

DEFAULT_HOST = "http://localhost:11434"
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


def to_ollama_messages(messages: Sequence[Message], system_prompt: str | None) -> list[dict]:
    """Neutral messages as Ollama chat messages (system prompt first)."""
    names = tool_names_by_id(messages)
    out: list[dict[str, Any]] = []
    if system_prompt:
        out.append({"role": "system", "content": system_prompt})
    for message in messages:
        if message.role == "tool":
            name = message.tool_name or names.get(message.tool_call_id or "", "")
            out.append({"role": "tool", "content": tool_result_text(message), "tool_name": name})
            continue
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            item["tool_calls"] = [
                {"function": {"name": c.name, "arguments": _arguments(c.arguments)}}
                for c in message.tool_calls
            ]
        out.append(item)
    return out


def _arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Ollama wants an object; arguments another vendor could not parse stay as text."""
    return {RAW_ARGUMENTS: arguments[RAW_ARGUMENTS]} if RAW_ARGUMENTS in arguments else arguments


def to_ollama_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


class OllamaProvider(BaseAIProvider):
    """A model served by Ollama (local, or any host running ``ollama serve``)."""

    provider_type = "ollama"
    default_capabilities = frozenset(
        {
            ProviderCapability.TEXT,
            ProviderCapability.TOOLS,
            ProviderCapability.STREAMING,
            ProviderCapability.FREE,
        }
    )

    @property
    def capabilities(self) -> frozenset[ProviderCapability]:
        return capabilities_for(self.default_capabilities, self.settings)

    @property
    def host(self) -> str:
        return self.settings.host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST

    def check_available(self) -> bool:
        """Configured: a model is named (and a key is present if one is configured)."""
        return bool(self.model) and (not self.settings.api_key_env or bool(self.api_key()))

    def describe_unavailable(self) -> str:
        if not self.model:
            return f"providers.{self.name}.model is not set"
        return super().describe_unavailable()

    def cost_of(self, usage: dict[str, int], model: str | None = None) -> float:
        return 0.0

    def _make_client(self) -> Any:
        """No timeout of the SDK's own: each call's deadline bounds every socket operation
        (the SDK sets its timeout per client, and a call may ask for another)."""
        import httpcore
        import ollama

        headers = dict(self.settings.headers)
        key = self.api_key()
        if key:  # ollama.com's hosted models take a key; a local server needs none
            headers["authorization"] = f"Bearer {key}"
        client = ollama.Client(host=self.host, timeout=None, headers=headers or None)
        bound_client(client._client, httpcore)  # the SDK takes no client of ours
        return client

    def _complete(self, request: ChatRequest) -> ProviderResult:
        options: dict[str, Any] = {"num_predict": request.max_tokens or self.settings.max_tokens}
        temperature = request.temperature
        temperature = self.settings.temperature if temperature is None else temperature
        if temperature is not None:
            options["temperature"] = temperature
        reply = self.client.chat(
            model=self.model,
            messages=to_ollama_messages(request.messages, request.system_prompt),
            tools=to_ollama_tools(request.tools) if request.tools else None,
            stream=self.settings.stream,
            options=options,
        )
        draft = self._decode(reply if self.settings.stream else [reply])
        return finish(self, draft, STOP_REASONS, request)

    def _decode(self, chunks: Iterable[Any]) -> Draft:
        """A reply from one response, or from the chunks of a streamed one."""
        text: list[str] = []
        calls: list[ToolCall] = []
        last = None
        for chunk in chunks:
            last = chunk
            text.append(chunk.message.content or "")
            calls += [
                ToolCall(synthetic_call_id(), c.function.name, dict(c.function.arguments))
                for c in chunk.message.tool_calls or []
            ]
        counted = last is not None and (
            last.prompt_eval_count is not None or last.eval_count is not None
        )
        usage = make_usage(last.prompt_eval_count, last.eval_count) if counted else None
        return Draft(
            content="".join(text),
            tool_calls=calls,
            raw_stop=last.done_reason if last is not None else None,
            model=(last.model if last is not None else None) or self.model,
            usage=usage,
        )

    def classify_error(self, exc: Exception) -> ProviderError:
        """A server that is not running says how to start it."""
        error = super().classify_error(exc)
        if error.kind is ErrorKind.CONNECTION:
            return ProviderConnectionError(
                f"cannot reach Ollama at {self.host}: start it with `ollama serve`, "
                f"or set providers.{self.name}.host to where it runs",
                provider=self.name,
                model=self.model,
                cause=exc,
            )
        return error

    def list_models(self) -> list[str]:
        """Models pulled on the server (``GET /api/tags``)."""
        with self.vendor_call():
            listed = self.client.list().models
        return sorted(m.model for m in listed if m.model)
