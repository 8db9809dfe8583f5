"""Google Gemini through the google-genai SDK: the Gemini API, or Vertex AI (``vertex: true``).

Translation notes:

- A model turn produced by Gemini is sent back exactly as received (it is kept in
  ``Message.provider_data["gemini"]``): Gemini 3 signs function calls with a
  ``thought_signature`` and rejects a continued conversation without it. A turn produced
  by another vendor is rebuilt from the neutral fields, its first call carrying the
  stand-in signature Google documents for that case.
- Tool parameters go as Gemini's ``Schema`` (``parameters``), the form every API version
  (v1, v1beta, Vertex) accepts; a JSON Schema it cannot express is a clear BadRequestError.
- Gemini answers a function call by *name* (``functionResponse{name, response}``) and,
  unless it gave the call an id, gives none: ids are synthesised for the neutral
  conversation and sent back only when they came from Gemini. Consecutive tool results
  travel together in one ``user`` turn, as Gemini expects.
- Usage: ``promptTokenCount`` includes ``cachedContentTokenCount`` (subtracted); thinking
  tokens (``thoughtsTokenCount``) are billed as output.
- Keys: ``GOOGLE_API_KEY``, else ``GEMINI_API_KEY`` (the SDK's own order). Vertex AI uses
  Application Default Credentials with ``project`` and ``location``.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

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
from coffee_maker.ai_providers.errors import (
    AuthenticationError,
    BadRequestError,
    BadResponseError,
)
from coffee_maker.ai_providers.providers._bounded import bound_client
from coffee_maker.ai_providers.providers._common import (
    Draft,
    capabilities_for,
    finish,
    synthetic_call_id,
    tool_names_by_id,
)
from coffee_maker.secrets import register_secret_value

PROVIDER_KEY = "gemini"
FALLBACK_KEY_ENV = "GEMINI_API_KEY"
DEFAULT_VERTEX_LOCATION = "global"
#: Google's documented stand-in signature for function calls another model produced
#: (``thoughtSignature: "skip_thought_signature_validator"`` on the wire).
FOREIGN_SIGNATURE = base64.urlsafe_b64decode("skip_thought_signature_validator")

_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY")
STOP_REASONS = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    **{reason: "content_filter" for reason in _FILTERED},
}


def _millis(seconds: float) -> int:
    return int(seconds * 1000)


def usage_of(metadata: Any) -> dict[str, int] | None:
    """Normalised usage from ``usageMetadata`` (None when the reply had none)."""
    if metadata is None:
        return None
    cached = metadata.cached_content_token_count or 0
    output = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
    prompt = metadata.prompt_token_count or 0
    return make_usage(prompt - cached, output, cache_read_tokens=cached)


def to_gemini_tools(types: Any, tools: Sequence[ToolSpec]) -> list[Any]:
    """One ``Tool`` holding every function declaration (parameters as Gemini's Schema)."""
    declarations = []
    for tool in tools:
        try:
            schema = types.Schema.model_validate(tool.parameters)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise BadRequestError(
                f"tool {tool.name!r}: Gemini's Schema does not accept its parameters "
                f"({where}: {problem['msg']})"
            ) from exc
        declarations.append(
            types.FunctionDeclaration(
                name=tool.name, description=tool.description, parameters=schema
            )
        )
    return [types.Tool(function_declarations=declarations)]


def needs_thought_signatures(model: str) -> bool:
    """Gemini 3 and later reject a function call in the history without a signature."""
    match = re.search(r"gemini-(\d+)", model)
    return bool(match) and int(match.group(1)) >= 3


def _model_turn(types: Any, message: Message, sign: bool) -> Any | None:
    """A model turn rebuilt from neutral fields (it came from another vendor).

    Such calls carry no signature of Gemini's, so when the model demands one the first
    call gets the sentinel Google documents for histories it did not produce.
    """
    parts = [types.Part(text=message.content)] if message.content else []
    for index, call in enumerate(message.tool_calls):
        signature = FOREIGN_SIGNATURE if sign and index == 0 else None
        function_call = types.FunctionCall(name=call.name, args=call.arguments)
        parts.append(types.Part(function_call=function_call, thought_signature=signature))
    # an empty reply (a blocked one) is left out: Gemini rejects a turn without parts
    return types.Content(role="model", parts=parts) if parts else None


def to_gemini_contents(types: Any, messages: Sequence[Message], model: str) -> list[Any]:
    """Neutral messages as Gemini ``Content`` turns (``user`` / ``model``)."""
    names = tool_names_by_id(messages)
    native_ids = {
        part["function_call"]["id"]
        for m in messages
        for part in (m.provider_data.get(PROVIDER_KEY) or {}).get("parts", [])
        if (part.get("function_call") or {}).get("id")
    }
    sign = needs_thought_signatures(model)
    contents: list[Any] = []
    for message in messages:
        if message.role == "assistant":
            raw = message.provider_data.get(PROVIDER_KEY)
            turn = types.Content.model_validate(raw) if raw else _model_turn(types, message, sign)
            contents += [turn] if turn else []
            continue
        if message.role == "tool":
            call_id = message.tool_call_id or ""
            response = types.FunctionResponse(
                name=message.tool_name or names.get(call_id, ""),
                response={"error" if message.is_error else "output": message.content},
                id=call_id if call_id in native_ids else None,
            )
            part = types.Part(function_response=response)
        else:
            part = types.Part(text=message.content)
        if contents and contents[-1].role == "user":
            contents[-1].parts.append(part)  # tool results (and a following note) share a turn
        else:
            contents.append(types.Content(role="user", parts=[part]))
    return contents


class GeminiProvider(BaseAIProvider):
    """Google Gemini (google-genai SDK), on the Gemini API or on Vertex AI."""

    provider_type = "gemini"
    default_api_key_env = "GOOGLE_API_KEY"
    default_capabilities = frozenset(
        {
            ProviderCapability.TEXT,
            ProviderCapability.TOOLS,
            ProviderCapability.STREAMING,
            ProviderCapability.COUNT_TOKENS,
        }
    )

    @property
    def capabilities(self) -> frozenset[ProviderCapability]:
        return capabilities_for(self.default_capabilities, self.settings)

    # -- configuration -------------------------------------------------------------------
    @property
    def api_key_env(self) -> str | None:
        return None if self.settings.vertex else super().api_key_env

    def api_key(self) -> str | None:
        key = super().api_key()
        if key or self.settings.vertex or self.settings.api_key_env:
            return key
        return os.environ.get(FALLBACK_KEY_ENV) or None

    def vertex_project(self) -> str | None:
        return self.settings.project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None

    def check_available(self) -> bool:
        return bool(self.vertex_project() if self.settings.vertex else self.api_key())

    def describe_unavailable(self) -> str:
        if self.settings.vertex:
            return (
                f"providers.{self.name}.project is not set (vertex: true needs a Google "
                "Cloud project; or set GOOGLE_CLOUD_PROJECT)"
            )
        if not self.settings.api_key_env and not self.api_key():
            return f"neither {self.default_api_key_env} nor {FALLBACK_KEY_ENV} is set"
        return super().describe_unavailable()

    def _make_client(self) -> Any:
        """No ``retry_options``: one request per call."""
        import httpcore2
        import httpx2
        from google import genai
        from google.genai import types

        options = types.HttpOptions(
            base_url=self.settings.base_url,
            api_version=self.settings.api_version,
            timeout=_millis(self.settings.timeout),
            headers=self.settings.headers or None,
            httpx_client=bound_client(httpx2.Client(), httpcore2),
        )
        if self.settings.vertex:
            project = self.vertex_project()
            if not project:
                raise AuthenticationError(self.describe_unavailable(), provider=self.name)
            location = (
                self.settings.location
                or os.environ.get("GOOGLE_CLOUD_LOCATION")
                or DEFAULT_VERTEX_LOCATION
            )
            return genai.Client(
                vertexai=True, project=project, location=location, http_options=options
            )
        key = self.api_key()
        if not key:
            raise AuthenticationError(self.describe_unavailable(), provider=self.name)
        register_secret_value(key)
        return genai.Client(api_key=key, http_options=options)

    # -- calls ---------------------------------------------------------------------------
    def _complete(self, request: ChatRequest) -> ProviderResult:
        from google.genai import types

        temperature = request.temperature
        timeout = request.timeout or self.settings.timeout
        config = types.GenerateContentConfig(
            system_instruction=request.system_prompt or None,
            tools=to_gemini_tools(types, request.tools) if request.tools else None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            max_output_tokens=request.max_tokens or self.settings.max_tokens,
            temperature=self.settings.temperature if temperature is None else temperature,
            http_options=types.HttpOptions(timeout=_millis(timeout)),
        )
        contents = to_gemini_contents(types, request.messages, self.model)
        models = self.client.models
        if self.settings.stream:
            chunks = models.generate_content_stream(
                model=self.model, contents=contents, config=config
            )
            draft = self._decode(types, list(chunks))
        else:
            response = models.generate_content(model=self.model, contents=contents, config=config)
            draft = self._decode(types, [response])
        return finish(self, draft, STOP_REASONS, request)

    def _decode(self, types: Any, responses: list[Any]) -> Draft:
        """One reply from a response, or from the chunks of a streamed one (parts in order)."""
        parts: list[Any] = []
        raw_stop = model = None
        usage = None
        for response in responses:
            model = response.model_version or model
            usage = response.usage_metadata or usage
            candidate = response.candidates[0] if response.candidates else None
            if candidate is None:  # the prompt itself was blocked
                feedback = response.prompt_feedback
                if feedback and feedback.block_reason:
                    raw_stop = feedback.block_reason.value
                continue
            if candidate.content and candidate.content.parts:
                parts.extend(candidate.content.parts)
            if candidate.finish_reason:
                raw_stop = candidate.finish_reason.value
        if not parts and raw_stop is None:  # neither an answer nor a reason for none
            raise BadResponseError("unexpected reply from gemini: no candidate and no block reason")
        text = "".join(p.text for p in parts if p.text and not p.thought)
        calls = [
            ToolCall(
                id=p.function_call.id or synthetic_call_id(),
                name=p.function_call.name or "",
                arguments=dict(p.function_call.args or {}),
            )
            for p in parts
            if p.function_call
        ]
        provider_data = {}
        if parts:
            raw = types.Content(role="model", parts=parts)
            provider_data[PROVIDER_KEY] = raw.model_dump(mode="json", exclude_none=True)
        return Draft(text, calls, raw_stop, model or self.model, usage_of(usage), provider_data)

    def count_message_tokens(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] | None = None,
        system_prompt: str | None = None,
    ) -> int:
        """Input tokens of a conversation, counted by Gemini's ``countTokens`` (free).

        The Gemini API counts ``contents`` only, so the system prompt is counted as a
        leading user turn and tool declarations are not counted. :meth:`count_tokens`
        stays offline: it sizes the budget reservation made before every call.
        """
        with self.vendor_call():
            from google.genai import types

            contents = to_gemini_contents(types, messages, self.model)
            if system_prompt:
                system = types.Content(role="user", parts=[types.Part(text=system_prompt)])
                contents.insert(0, system)
            counted = self.client.models.count_tokens(model=self.model, contents=contents)
        return int(counted.total_tokens or 0)

    def list_models(self) -> list[str]:
        """Model ids from the models API (free), without the ``models/`` prefix."""
        with self.vendor_call():
            names = [m.name for m in self.client.models.list() if m.name]
        return sorted(name.rsplit("/", 1)[-1] for name in names)
