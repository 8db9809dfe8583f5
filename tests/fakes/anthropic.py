"""A fake Anthropic Messages API, faithful enough for the anthropic SDK and Claude Code.

It serves ``POST /v1/messages`` (also with ``?beta=true``, as Claude Code sends it) as JSON
or, when the request says ``stream: true``, as the exact SSE event sequence Anthropic
streams (``message_start``, ``ping``, ``content_block_start``, ``content_block_delta`` with
``text_delta``/``input_json_delta``, ``content_block_stop``, ``message_delta``,
``message_stop``); ``POST /v1/messages/count_tokens``; ``GET /v1/models``. Errors carry
Anthropic's body ``{"type": "error", "error": {"type", "message"}}`` with its status.

    with FakeAnthropic() as fake:
        fake.reply_tool_calls([("Read", {"file_path": path})]).reply_text("done")
        fake.error(429, headers={"retry-after": "2"})

Claude Code also makes side requests without tools (titles, summaries); with
``tool_requests_only=True`` only requests that offer tools consume the script and the
others get :attr:`FakeAnthropic.side_text`, so a scripted conversation stays in step.
Requests to paths it does not serve are answered 404 and kept in ``unknown_requests``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

from coffee_maker.fakes.scripted import (
    CallLike,
    ScriptedCall,
    ScriptedModelServer,
    Turn,
    as_call,
    text_pieces,
)
from coffee_maker.fakes.server import RecordedRequest, Reply

MESSAGES_PATH = "/v1/messages"
DEFAULT_MODELS = ("claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5")
#: Anthropic's message for a request larger than the model's context window (HTTP 400).
PROMPT_TOO_LONG = "prompt is too long: 250000 tokens > 200000 maximum"
#: Status -> (error type, realistic message), as api.anthropic.com answers.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    503: ("api_error", "Service unavailable"),
    529: ("overloaded_error", "Overloaded"),
}
_STOPS = {"content_filter": "refusal"}


@dataclass
class AnthropicTurn(Turn):
    """A :class:`Turn` that also writes to the prompt cache (Anthropic bills that apart).

    ``cached_tokens`` are the tokens read from the cache.
    """

    cache_write_tokens: int = 0


class FakeAnthropic(ScriptedModelServer):
    """The Anthropic API on 127.0.0.1. ``api_key`` set: any other key gets a 401.

    ``error()`` takes ``error_type=`` (default: the status's usual type) and
    ``in_stream=True`` (a streaming request gets HTTP 200, ``message_start`` and then an
    SSE ``error`` event, as an overload during a streamed answer arrives).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        tool_requests_only: bool = False,
    ) -> None:
        super().__init__(api_key=api_key, models=models)
        self.tool_requests_only = tool_requests_only
        self.side_text = "OK"
        self.count_tokens_value: int | None = None  # None: estimated from the request size
        self.ratelimit_headers: dict[str, str] = {
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
            "anthropic-ratelimit-requests-reset": "2026-11-21T00:00:01Z",
        }
        self.unknown_requests: list[RecordedRequest] = []

    # -- scripting -------------------------------------------------------------------------
    def reply_text(self, text: str, **fields: Any) -> Self:
        """A text answer; ``fields`` are :class:`AnthropicTurn` fields."""
        return self.reply(AnthropicTurn(text=text, **fields))

    def reply_tool_calls(self, calls: Iterable[CallLike], *, text: str = "", **fields: Any) -> Self:
        """Tool calls as ``(name, input)`` or ``(name, input, id)`` tuples."""
        return self.reply(
            AnthropicTurn(text=text, tool_calls=[as_call(c) for c in calls], **fields)
        )

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        error_type: str | None = None,
        in_stream: bool = False,
    ) -> Self:
        reply = self.render_error(status, message, headers or {}, error_type=error_type)

        def answer(request: RecordedRequest) -> Reply:
            body = request.json or {}
            if in_stream and body.get("stream"):
                start = self._message_start(AnthropicTurn(), body.get("model", "claude"))
                return Reply(200, sse=[("message_start", start), ("error", reply.body)])
            return reply

        return self.enqueue(*[answer] * times)

    def prompt_too_long(self) -> Self:
        """The next model call fails with Anthropic's exact context-overflow error."""
        return self.error(400, PROMPT_TOO_LONG)

    # -- vendor hooks ----------------------------------------------------------------------
    def is_model_call(self, request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path == MESSAGES_PATH

    def presented_key(self, request: RecordedRequest) -> str | None:
        """``x-api-key`` (Claude Code) or ``Authorization: Bearer`` (the Python SDK 2.x)."""
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        return request.headers.get("x-api-key") or bearer

    def keys_seen(self) -> set[str]:
        """Every key any request presented (to check a key was sent, or never sent)."""
        return {k for k in map(self.presented_key, self.requests) if k}

    def route(self, request: RecordedRequest) -> Reply | None:
        routed = super().route(request)
        if routed is None and self.tool_requests_only and not (request.json or {}).get("tools"):
            return self.render_turn(AnthropicTurn(text=self.side_text), request)
        return routed

    def route_other(self, request: RecordedRequest) -> Reply:
        if request.method == "POST" and request.path == MESSAGES_PATH + "/count_tokens":
            count = self.count_tokens_value or max(1, len(request.body) // 4)
            return Reply(200, {"input_tokens": count}, self._headers())
        if request.method == "GET" and request.path == "/v1/models":
            return Reply(200, self._models_page(), self._headers())
        self.unknown_requests.append(request)
        return super().route_other(request)

    def render_error(
        self, status: int, message: str | None, headers: dict[str, str], **vendor: Any
    ) -> Reply:
        kind, default = ERRORS.get(status, ("api_error", "Internal server error"))
        body = {
            "type": "error",
            "error": {"type": vendor.get("error_type") or kind, "message": message or default},
            "request_id": self.new_id("req_"),
        }
        return Reply(status, body, {**self._headers(), **headers})

    def auth_error(self, request: RecordedRequest) -> Reply:
        return self.render_error(401, "invalid x-api-key", {})

    def render_turn(self, turn: Turn, request: RecordedRequest) -> Reply:
        body = request.json or {}
        model = turn.model or body.get("model") or "claude"
        headers = {**self._headers(), **self.ratelimit_headers}
        if body.get("stream"):
            return Reply(200, sse=self._events(turn, model), headers=headers)
        message = self._message_start(turn, model)["message"]
        message["content"] = [self._block(block, final=True) for block in self._blocks(turn)]
        message["stop_reason"] = _stop(turn)
        message["usage"]["output_tokens"] = turn.output_tokens
        return Reply(200, message, headers)

    # -- rendering -------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"request-id": self.new_id("req_")}

    def _models_page(self) -> dict[str, Any]:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"}
            for m in self.models
        ]
        first, last = (self.models[0], self.models[-1]) if self.models else (None, None)
        return {"data": data, "has_more": False, "first_id": first, "last_id": last}

    def _blocks(self, turn: Turn) -> list[str | ScriptedCall]:
        return ([turn.text] if turn.text else []) + list(turn.tool_calls)

    def _block(self, block: str | ScriptedCall, final: bool) -> dict[str, Any]:
        if isinstance(block, str):
            return {"type": "text", "text": block if final else ""}
        if block.id is None:
            block.id = self.new_id("toolu_")
        arguments = block.arguments if final else {}
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": arguments}

    def _message_start(self, turn: Turn, model: str) -> dict[str, Any]:
        usage = {
            "input_tokens": turn.input_tokens,
            "cache_creation_input_tokens": getattr(turn, "cache_write_tokens", 0),
            "cache_read_input_tokens": turn.cached_tokens,
            "output_tokens": 1,
        }
        message = {
            "id": self.new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return {"type": "message_start", "message": message}

    def _events(self, turn: Turn, model: str) -> list[tuple[str | None, Any]]:
        """A streamed message, each block's content split over several deltas."""
        events: list[tuple[str | None, Any]] = [
            ("message_start", self._message_start(turn, model)),
            ("ping", {"type": "ping"}),
        ]
        for index, block in enumerate(self._blocks(turn)):
            start = {"type": "content_block_start", "index": index}
            events.append(
                ("content_block_start", {**start, "content_block": self._block(block, False)})
            )
            for delta in _deltas(block):
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        end = {
            "type": "message_delta",
            "delta": {"stop_reason": _stop(turn), "stop_sequence": None},
            "usage": {"output_tokens": turn.output_tokens},
        }
        events += [("message_delta", end), ("message_stop", {"type": "message_stop"})]
        return events


def _deltas(block: str | ScriptedCall) -> list[dict[str, Any]]:
    if isinstance(block, str):
        return [{"type": "text_delta", "text": piece} for piece in text_pieces(block)]
    raw = block.arguments if isinstance(block.arguments, str) else json.dumps(block.arguments)
    return [{"type": "input_json_delta", "partial_json": piece} for piece in text_pieces(raw)]


def _stop(turn: Turn) -> str:
    return _STOPS.get(turn.neutral_stop, turn.neutral_stop)
