"""OpenAI Chat Completions, and every OpenAI-compatible vendor through ``base_url``.

One class serves api.openai.com and the compatibles (Fireworks, Groq, DeepSeek, xAI,
OpenRouter, vLLM, LM Studio...): a config entry of ``type: openai`` with its own name is
priced from the price-table section of that name. Differences that matter:

- Output limit: gpt-5 and the o-series reject ``max_tokens``; many compatible servers know
  only ``max_tokens``. So ``max_completion_tokens`` is sent to OpenAI's own hosts
  (api.openai.com, Azure) and to reasoning models anywhere, ``max_tokens`` otherwise.
- Temperature: reasoning models (gpt-5, o1/o3/o4...) reject it, so it is omitted for
  them, and whenever it is not configured.
- Cached prompt tokens: ``prompt_tokens_details.cached_tokens`` (DeepSeek:
  ``prompt_cache_hit_tokens``) are subtracted from ``prompt_tokens``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

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
from coffee_maker.ai_providers.errors import BadResponseError
from coffee_maker.ai_providers.providers._bounded import bound_client
from coffee_maker.ai_providers.providers._common import (
    Draft,
    arguments_json,
    capabilities_for,
    finish,
    parse_arguments,
    synthetic_call_id,
    tool_result_text,
)

STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filter",
}

_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
_OPENAI_HOSTS = re.compile(r"(^|\.)(openai\.com|openai\.azure\.com)$")


def is_reasoning_model(model: str) -> bool:
    """gpt-5.x and the o-series: no temperature, no ``max_tokens``."""
    return bool(_REASONING_MODEL.match(model.lower().rsplit("/", 1)[-1]))


def max_tokens_field(base_url: str, model: str) -> str:
    """``max_completion_tokens`` for OpenAI's hosts and reasoning models, else ``max_tokens``."""
    host = urlsplit(base_url).hostname or ""
    if _OPENAI_HOSTS.search(host) or is_reasoning_model(model):
        return "max_completion_tokens"
    return "max_tokens"


def to_openai_messages(messages: Sequence[Message], system_prompt: str | None) -> list[dict]:
    """Neutral messages as Chat Completions messages (system prompt first)."""
    out: list[dict[str, Any]] = []
    if system_prompt:
        out.append({"role": "system", "content": system_prompt})
    for message in messages:
        if message.role == "tool":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id or "",
                    "content": tool_result_text(message),
                }
            )
        elif message.role == "assistant" and message.tool_calls:
            calls = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": arguments_json(call.arguments)},
                }
                for call in message.tool_calls
            ]
            out.append(
                {"role": "assistant", "content": message.content or None, "tool_calls": calls}
            )
        else:
            out.append({"role": message.role, "content": message.content})
    return out


def to_openai_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def usage_of(usage: Any) -> dict[str, int] | None:
    """Normalised usage from OpenAI's usage object (None when the vendor sent none)."""
    if usage is None:
        return None
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or getattr(usage, "prompt_cache_hit_tokens", 0)
    prompt = usage.prompt_tokens or 0
    return make_usage(prompt - (cached or 0), usage.completion_tokens, cache_read_tokens=cached)


class OpenAIProvider(BaseAIProvider):
    """OpenAI's Chat Completions API (openai SDK), or a compatible vendor via ``base_url``."""

    provider_type = "openai"
    default_api_key_env = "OPENAI_API_KEY"
    default_capabilities = frozenset(
        {ProviderCapability.TEXT, ProviderCapability.TOOLS, ProviderCapability.STREAMING}
    )

    @property
    def capabilities(self) -> frozenset[ProviderCapability]:
        return capabilities_for(self.default_capabilities, self.settings)

    def check_available(self) -> bool:
        return bool(self.api_key())

    def _make_client(self) -> Any:
        key = self.require_api_key()
        import httpcore2
        import openai

        return openai.OpenAI(
            api_key=key,
            base_url=self.settings.base_url,
            max_retries=0,
            timeout=self.settings.timeout,
            default_headers=self.settings.headers or None,
            http_client=bound_client(openai.DefaultHttpxClient(), httpcore2),
        )

    def build_request(self, request: ChatRequest, base_url: str) -> dict[str, Any]:
        """The ``chat.completions.create`` arguments for one call."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(request.messages, request.system_prompt),
            max_tokens_field(base_url, self.model): request.max_tokens or self.settings.max_tokens,
        }
        if request.tools:
            kwargs["tools"] = to_openai_tools(request.tools)
        temperature = request.temperature
        temperature = self.settings.temperature if temperature is None else temperature
        if temperature is not None and not is_reasoning_model(self.model):
            kwargs["temperature"] = temperature
        if self.settings.stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {"include_usage": True}
        return kwargs

    def _complete(self, request: ChatRequest) -> ProviderResult:
        client = self.client
        kwargs = self.build_request(request, str(client.base_url))
        timeout = request.timeout or self.settings.timeout
        if self.settings.stream:
            with client.chat.completions.create(**kwargs, timeout=timeout) as stream:
                draft = self._collect_stream(stream)
        else:
            draft = self._decode(client.chat.completions.create(**kwargs, timeout=timeout))
        return finish(self, draft, STOP_REASONS, request)

    def _decode(self, completion: Any) -> Draft:
        choices = getattr(completion, "choices", None)
        if not choices:
            raise BadResponseError(
                "unexpected reply from openai: no choices (not a chat completion)",
                provider=self.name,
                model=self.model,
            )
        message = choices[0].message
        calls = [
            ToolCall(
                id=call.id or synthetic_call_id(),
                name=call.function.name,
                arguments=parse_arguments(call.function.arguments),
            )
            for call in message.tool_calls or []
        ]
        return Draft(
            content=message.content or "",
            tool_calls=calls,
            raw_stop=choices[0].finish_reason,
            model=completion.model or self.model,
            usage=usage_of(completion.usage),
        )

    def _collect_stream(self, stream: Any) -> Draft:
        """Assemble streamed chunks: text deltas, tool calls by index, the usage chunk."""
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish_reason = model = usage = None
        chunks = 0
        for chunk in stream:
            chunks += 1
            model = chunk.model or model
            usage = chunk.usage or usage
            for choice in chunk.choices or []:
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                for part in delta.tool_calls or []:
                    slot = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = slot["id"] or part.id or ""
                    if part.function is not None:
                        slot["name"] = slot["name"] or part.function.name or ""
                        slot["arguments"] += part.function.arguments or ""
                finish_reason = choice.finish_reason or finish_reason
        if not chunks:  # a body that is not an event stream (a proxy's page, plain JSON)
            raise BadResponseError("unexpected reply from openai: the stream carried no chunk")
        tool_calls = [
            ToolCall(
                id=slot["id"] or synthetic_call_id(),
                name=slot["name"],
                arguments=parse_arguments(slot["arguments"]),
            )
            for _, slot in sorted(calls.items())
        ]
        return Draft("".join(text), tool_calls, finish_reason, model or self.model, usage_of(usage))

    def list_models(self) -> list[str]:
        """Model ids from ``GET /models`` (free)."""
        with self.vendor_call():
            return sorted(model.id for model in self.client.models.list())
