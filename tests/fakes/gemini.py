"""A fake Gemini API server (Google AI ``generativelanguage`` paths, and Vertex AI's).

``POST /{v1,v1beta}/models/{model}:generateContent`` answers scripted turns as a
``GenerateContentResponse``; ``:streamGenerateContent?alt=sse`` streams them as
``data: {json}`` events; ``:countTokens`` counts about four characters per token;
``GET /{version}/models`` lists :attr:`models`. Vertex paths
(``/v1beta1/projects/P/locations/L/publishers/google/models/M:...``) are answered the
same way. Requests are read with camelCase or snake_case keys. Errors carry Google's
body ``{"error": {"code", "message", "status", "details": [...]}}``; build ``details``
with :func:`retry_info` and :func:`quota_failure`.

Like Gemini 3, the fake signs function-call parts with a ``thoughtSignature`` that must
come back unchanged in the next request.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from coffee_maker.fakes.scripted import ScriptedModelServer, Turn, text_pieces
from coffee_maker.fakes.server import RecordedRequest, Reply

MODEL_PATH = re.compile(
    r"^/(?P<version>v1\w*)/(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/"
    r"publishers/google/)?models/(?P<model>[^/:]+):(?P<method>\w+)$"
)
_LIST_PATH = re.compile(r"^/v1\w*/models$")

_FINISH = {
    "end_turn": "STOP",
    "tool_use": "STOP",
    "max_tokens": "MAX_TOKENS",
    "content_filter": "SAFETY",
}

_STATUS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "models/unknown is not found for API version v1beta."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For "
        "more information on this error, head to: https://ai.google.dev/gemini-api/docs/"
        "rate-limits.",
    ),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}

#: Google's answer to a wrong API key: HTTP 400, not 401.
API_KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
    "metadata": {"service": "generativelanguage.googleapis.com"},
}


def retry_info(delay: str) -> dict[str, Any]:
    """A ``google.rpc.RetryInfo`` detail, e.g. ``retry_info("30s")``."""
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def quota_failure(quota_id: str, metric: str = "generate_content_free_tier_requests") -> dict:
    """A ``google.rpc.QuotaFailure`` detail; a ``quota_id`` with ``PerDay`` is a daily cap."""
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": f"generativelanguage.googleapis.com/{metric}",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                "quotaValue": "10",
            }
        ],
    }


def field(data: dict[str, Any], camel: str) -> Any:
    """A request field by its camelCase name or its snake_case twin."""
    if camel in data:
        return data[camel]
    return data.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel))


class FakeGemini(ScriptedModelServer):
    """Gemini's generateContent API. ``error()`` takes ``status_name=`` and ``details=``."""

    def is_model_call(self, request: RecordedRequest) -> bool:
        match = MODEL_PATH.match(request.path)
        return bool(
            request.method == "POST"
            and match
            and match["method"] in ("generateContent", "streamGenerateContent")
        )

    def presented_key(self, request: RecordedRequest) -> str | None:
        return request.headers.get("x-goog-api-key") or (request.query.get("key") or [None])[0]

    def auth_error(self, request: RecordedRequest) -> Reply:
        message = "API key not valid. Please pass a valid API key."
        return self.render_error(400, message, {}, details=[API_KEY_INVALID])

    def route_other(self, request: RecordedRequest) -> Reply:
        match = MODEL_PATH.match(request.path)
        if request.method == "POST" and match and match["method"] == "countTokens":
            return Reply(200, {"totalTokens": count_request_tokens(request.json or {})})
        if request.method == "GET" and _LIST_PATH.match(request.path):
            return Reply(200, {"models": [self._model_info(m) for m in self.models]})
        return super().route_other(request)

    @staticmethod
    def _model_info(model: str) -> dict[str, Any]:
        return {
            "name": f"models/{model}",
            "displayName": model,
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }

    def render_error(
        self,
        status: int,
        message: str | None,
        headers: dict[str, str],
        *,
        status_name: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> Reply:
        name, default = _STATUS.get(status, ("UNKNOWN", "Unknown error."))
        error: dict[str, Any] = {
            "code": status,
            "message": message or default,
            "status": status_name or name,
        }
        if details:
            error["details"] = details
        return Reply(status, {"error": error}, headers)

    # -- rendering ---------------------------------------------------------------------
    def render_turn(self, turn: Turn, request: RecordedRequest) -> Reply:
        match = MODEL_PATH.match(request.path)
        model = turn.model or (match["model"] if match else "gemini-fake")
        if match and match["method"] == "streamGenerateContent":
            return Reply(200, sse=[(None, chunk) for chunk in self._chunks(turn, model)])
        return Reply(200, self._response(turn, model, self._parts(turn), final=True))

    def _parts(self, turn: Turn) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = [{"text": turn.text}] if turn.text else []
        for index, call in enumerate(turn.tool_calls):
            function_call: dict[str, Any] = {"name": call.name, "args": call.arguments}
            if call.id:
                function_call["id"] = call.id
            part: dict[str, Any] = {"functionCall": function_call}
            if index == 0:
                signature = f"sig-{self.new_id('')}".encode()
                part["thoughtSignature"] = base64.b64encode(signature).decode()
            parts.append(part)
        return parts

    def _chunks(self, turn: Turn, model: str) -> list[dict[str, Any]]:
        pieces = [[{"text": piece}] for piece in text_pieces(turn.text)]
        calls = [p for p in self._parts(turn) if "functionCall" in p]
        groups = [*pieces[:-1], (pieces[-1] if pieces else []) + calls]
        return [
            self._response(turn, model, parts, final=i == len(groups) - 1)
            for i, parts in enumerate(groups)
        ]

    def _response(
        self, turn: Turn, model: str, parts: list[dict[str, Any]], *, final: bool
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if final:
            stop = turn.neutral_stop
            candidate["finishReason"] = _FINISH.get(stop, stop)
        response: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": model,
            "responseId": self.new_id("resp-"),
        }
        if turn.report_usage:
            response["usageMetadata"] = usage_metadata(turn, final=final)
        return response


def usage_metadata(turn: Turn, *, final: bool = True) -> dict[str, Any]:
    """Gemini's usage: cached tokens inside ``promptTokenCount``, thoughts counted apart."""
    prompt = turn.input_tokens + turn.cached_tokens
    metadata: dict[str, Any] = {"promptTokenCount": prompt, "totalTokenCount": prompt}
    if final:
        candidates = turn.output_tokens - turn.reasoning_tokens
        metadata["candidatesTokenCount"] = candidates
        metadata["totalTokenCount"] = prompt + turn.output_tokens
        if turn.reasoning_tokens:
            metadata["thoughtsTokenCount"] = turn.reasoning_tokens
    if turn.cached_tokens:
        metadata["cachedContentTokenCount"] = turn.cached_tokens
    return metadata


def count_request_tokens(body: dict[str, Any]) -> int:
    """About four characters per token over every text part of a countTokens request."""
    contents = field(body, "contents") or []
    request = field(body, "generateContentRequest")
    if request:
        contents = field(request, "contents") or []
    chars = sum(len(p.get("text", "")) for c in contents for p in c.get("parts", []))
    return max(1, -(-chars // 4))
