"""A fake Ollama server (``ollama serve``): ``/api/chat``, ``/api/tags``, ``GET /``.

``POST /api/chat`` answers scripted turns as one JSON object, or — when the request says
``stream: true``, which is Ollama's default — as newline-delimited JSON chunks whose
last one has ``done: true`` and the counts. Tool calls carry no id, with ``arguments``
as an object. Errors are ``{"error": "..."}``. ``GET /api/tags`` lists :attr:`models`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from coffee_maker.fakes.scripted import ScriptedModelServer, Turn, text_pieces
from coffee_maker.fakes.server import RecordedRequest, Reply

CHAT_PATH = "/api/chat"
NDJSON = "application/x-ndjson"

_DONE = {"end_turn": "stop", "tool_use": "stop", "max_tokens": "length"}

#: What Ollama says when the prompt does not fit ``num_ctx`` (HTTP 400).
CONTEXT_TOO_LONG = (
    "request (8889 tokens) exceeds the available context size (4096 tokens), try increasing it"
)


class FakeOllama(ScriptedModelServer):
    """Ollama's native chat API (no key unless ``api_key`` is given, as for ollama.com)."""

    def is_model_call(self, request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path == CHAT_PATH

    def presented_key(self, request: RecordedRequest) -> str | None:
        return request.headers.get("authorization", "").removeprefix("Bearer ") or None

    def route_other(self, request: RecordedRequest) -> Reply:
        if request.method == "GET" and request.path == "/api/tags":
            return Reply(200, {"models": [_model_info(m) for m in self.models]})
        if request.method in ("GET", "HEAD") and request.path == "/":
            return Reply(200, "Ollama is running")
        return Reply(404, "404 page not found")

    def render_error(
        self, status: int, message: str | None, headers: dict[str, str], **vendor: Any
    ) -> Reply:
        defaults = {
            401: "unauthorized",
            404: 'model "unknown" not found, try pulling it first',
            500: "llama runner process has terminated: exit status 2",
        }
        text = message or defaults.get(status, "error")
        return Reply(status, {"error": text}, headers)

    def render_turn(self, turn: Turn, request: RecordedRequest) -> Reply:
        body = request.json or {}
        model = turn.model or body.get("model", "ollama-fake")
        if not body.get("stream", True):
            return Reply(200, self._final(turn, model, turn.text, with_calls=True))
        chunks = [self._chunk(model, {"content": piece}) for piece in text_pieces(turn.text)]
        if turn.tool_calls:
            chunks.append(self._chunk(model, {"content": "", "tool_calls": _calls(turn)}))
        chunks.append(self._final(turn, model, "", with_calls=False))
        lines = "".join(json.dumps(chunk) + "\n" for chunk in chunks)
        return Reply(200, lines, {"content-type": NDJSON})

    @staticmethod
    def _chunk(model: str, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", **message},
            "done": False,
        }

    @staticmethod
    def _final(turn: Turn, model: str, text: str, *, with_calls: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if with_calls and turn.tool_calls:
            message["tool_calls"] = _calls(turn)
        stop = turn.neutral_stop
        final: dict[str, Any] = {
            "model": model,
            "created_at": _now(),
            "message": message,
            "done": True,
            "done_reason": _DONE.get(stop, stop),
            "total_duration": 1_200_000_000,
            "load_duration": 20_000_000,
            "prompt_eval_duration": 300_000_000,
            "eval_duration": 800_000_000,
        }
        if turn.report_usage:
            final["prompt_eval_count"] = turn.input_tokens + turn.cached_tokens
            final["eval_count"] = turn.output_tokens
        return final


def _calls(turn: Turn) -> list[dict[str, Any]]:
    return [{"function": {"name": c.name, "arguments": c.arguments}} for c in turn.tool_calls]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _model_info(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-11-01T10:00:00.000000Z",
        "size": 9_000_000_000,
        "digest": "0" * 64,
        "details": {
            "format": "gguf",
            "family": "qwen2",
            "parameter_size": "14.8B",
            "quantization_level": "Q4_K_M",
        },
    }
