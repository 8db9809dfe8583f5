"""A fake OpenAI API server: Chat Completions (any OpenAI-compatible vendor) and Responses.

``POST /v1/chat/completions`` answers scripted turns as a ``chat.completion`` JSON object,
or, when the request says ``stream: true``, as ``data: {chunk}`` SSE lines ending with
``data: [DONE]`` (the usage chunk only with ``stream_options.include_usage``), exactly as
api.openai.com does. ``GET /v1/models`` lists :attr:`models`. Errors carry OpenAI's body
``{"error": {"message", "type", "param", "code"}}``.

``POST /v1/responses`` (the Responses API, which the Codex CLI streams) answers the same
script in that API's format (:mod:`coffee_maker.fakes.openai_responses`);
:meth:`FakeOpenAI.fail_in_stream` scripts a ``response.failed`` event.

    with FakeOpenAI() as fake:
        fake.reply_tool_calls([("read_file", {"path": "a.py"})]).reply_text("done")
        provider = OpenAIProvider(ProviderSettings(..., base_url=fake.url + "/v1"))
"""

from __future__ import annotations

import json
import time
from typing import Any

from coffee_maker.fakes.openai_responses import RESPONSES_PATH, failed_stream, render_response
from coffee_maker.fakes.scripted import ScriptedCall, ScriptedModelServer, Turn, text_pieces
from coffee_maker.fakes.server import RecordedRequest, Reply

CHAT_PATH = "/v1/chat/completions"

_FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}

#: Realistic defaults per status: (message, type, code).
_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided: sk-fake****. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to sample from this model", "invalid_request_error", None),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: (
        "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
        "Please try again in 20s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}

#: What api.openai.com says when the account is out of credit (HTTP 429).
INSUFFICIENT_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
#: What api.openai.com says when the prompt does not fit (HTTP 400).
CONTEXT_LENGTH_EXCEEDED = (
    "This model's maximum context length is 128000 tokens. However, your messages resulted "
    "in 130512 tokens. Please reduce the length of the messages."
)


class FakeOpenAI(ScriptedModelServer):
    """OpenAI's Chat Completions and Responses APIs. ``error()`` takes ``type=``, ``code=``,
    ``param=`` and any further field of the error object (ChatGPT plans' ``usage_limit_reached``
    errors carry ``plan_type`` and ``resets_at``)."""

    def is_model_call(self, request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path in (CHAT_PATH, RESPONSES_PATH)

    def fail_in_stream(self, code: str, message: str, *, times: int = 1) -> FakeOpenAI:
        """The next Responses calls start streaming, then end with ``response.failed``."""

        def answer(request: RecordedRequest) -> Reply:
            return failed_stream(request.json or {}, self.new_id, code, message)

        self.enqueue(*[answer] * times)
        return self

    def presented_key(self, request: RecordedRequest) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def route_other(self, request: RecordedRequest) -> Reply:
        if request.method == "GET" and request.path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}
                for m in self.models
            ]
            return Reply(200, {"object": "list", "data": data})
        return super().route_other(request)

    def render_error(
        self,
        status: int,
        message: str | None,
        headers: dict[str, str],
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        **extra: Any,
    ) -> Reply:
        default = _ERRORS.get(status, ("Error", "api_error", None))
        error = {
            "message": message or default[0],
            "type": type or default[1],
            "param": param,
            "code": code if code is not None else default[2],
            **extra,
        }
        return Reply(status, {"error": error}, {"x-request-id": self.new_id("req_"), **headers})

    # -- rendering ---------------------------------------------------------------------
    def render_turn(self, turn: Turn, request: RecordedRequest) -> Reply:
        body = request.json or {}
        if request.path == RESPONSES_PATH:
            return render_response(turn, body, self.new_id)
        model = turn.model or body.get("model", "gpt-fake")
        calls = [self._call(c) for c in turn.tool_calls]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._stream(turn, model, calls, include_usage)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": turn.text or None,
            "refusal": None,
            "annotations": [],
        }
        if calls:
            message["tool_calls"] = calls
        completion = {
            **self._envelope("chat.completion", model),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": _finish(turn),
                }
            ],
            "usage": usage(turn) if turn.report_usage else None,
        }
        return Reply(200, completion, {"x-request-id": self.new_id("req_")})

    def _call(self, call: ScriptedCall) -> dict[str, Any]:
        arguments = call.arguments
        return {
            "id": call.id or self.new_id("call_"),
            "type": "function",
            "function": {
                "name": call.name,
                "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
            },
        }

    def _envelope(self, kind: str, model: str) -> dict[str, Any]:
        return {
            "id": self.new_id("chatcmpl-"),
            "object": kind,
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
        }

    def _stream(
        self, turn: Turn, model: str, calls: list[dict[str, Any]], include_usage: bool
    ) -> Reply:
        envelope = self._envelope("chat.completion.chunk", model)
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**envelope, "choices": [choice], **extra}

        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks += [chunk({"content": piece}) for piece in text_pieces(turn.text)]
        for index, call in enumerate(calls):
            head = {**call, "index": index, "function": {**call["function"], "arguments": ""}}
            chunks.append(chunk({"tool_calls": [head]}))
            for piece in text_pieces(call["function"]["arguments"]):
                part = {"index": index, "function": {"arguments": piece}}
                chunks.append(chunk({"tool_calls": [part]}))
        chunks.append(chunk({}, _finish(turn)))
        if include_usage and turn.report_usage:
            chunks.append({**envelope, "choices": [], "usage": usage(turn)})
        events: list[tuple[str | None, Any]] = [(None, c) for c in chunks]
        events.append((None, "[DONE]"))
        return Reply(200, sse=events, headers={"x-request-id": self.new_id("req_")})


def _finish(turn: Turn) -> str:
    stop = turn.neutral_stop
    return _FINISH.get(stop, stop)


def usage(turn: Turn) -> dict[str, Any]:
    """OpenAI's usage object: cached tokens are part of ``prompt_tokens``."""
    prompt = turn.input_tokens + turn.cached_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": turn.output_tokens,
        "total_tokens": prompt + turn.output_tokens,
        "prompt_tokens_details": {"cached_tokens": turn.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": turn.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
