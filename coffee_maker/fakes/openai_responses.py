"""OpenAI's Responses API (``POST /v1/responses``), as the Codex CLI streams it.

:class:`~coffee_maker.fakes.openai.FakeOpenAI` answers that path through these functions.
A scripted :class:`~coffee_maker.fakes.scripted.Turn` becomes the SSE event sequence
api.openai.com sends: ``response.created``, ``response.in_progress``, then per output
item ``response.output_item.added``, its deltas (``response.output_text.delta`` for a
message, ``response.function_call_arguments.delta`` for a function call), their
``.done`` events and ``response.output_item.done``, and last ``response.completed`` with
the whole response and its usage. Every event carries its ``type`` in the data and as
the SSE ``event:`` name, and a ``sequence_number``. A request without ``stream: true`` gets
the ``response`` object as JSON.

Tool calls are ``function_call`` items (``call_id``, ``name``, JSON-string
``arguments``); Codex offers ``exec_command`` (``cmd``) among its tools and answers with
a ``function_call_output`` item in the next request's ``input``.

Errors: an HTTP status with OpenAI's error body (``FakeOpenAI.error``), or, inside a
started stream, a ``response.failed`` event whose ``response.error`` holds ``code`` and
``message`` (:func:`failed_stream`).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from coffee_maker.fakes.scripted import ScriptedCall, Turn, text_pieces
from coffee_maker.fakes.server import Reply

RESPONSES_PATH = "/v1/responses"

_INCOMPLETE = {"max_tokens": "max_output_tokens", "content_filter": "content_filter"}


def responses_usage(turn: Turn) -> dict[str, Any]:
    """The Responses API's usage: cached tokens are part of ``input_tokens``."""
    prompt = turn.input_tokens + turn.cached_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": turn.cached_tokens},
        "output_tokens": turn.output_tokens,
        "output_tokens_details": {"reasoning_tokens": turn.reasoning_tokens},
        "total_tokens": prompt + turn.output_tokens,
    }


class ResponseBuilder:
    """One response's ids and envelope; ``new_id`` is the fake's id maker."""

    def __init__(self, new_id: Any, model: str) -> None:
        self.new_id = new_id
        self.id = new_id("resp_")
        self.model = model
        self.created = int(time.time())
        self._seq = itertools.count()

    def envelope(self, status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "usage": None,
            **extra,
        }

    def event(self, kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        return kind, {"type": kind, "sequence_number": next(self._seq), **fields}

    def message(self, text: str) -> dict[str, Any]:
        part = {"type": "output_text", "text": text, "annotations": []}
        return {
            "id": self.new_id("msg_"),
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }

    def function_call(self, call: ScriptedCall) -> dict[str, Any]:
        arguments = call.arguments
        return {
            "id": self.new_id("fc_"),
            "type": "function_call",
            "status": "completed",
            "call_id": call.id or self.new_id("call_"),
            "name": call.name,
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        }


def render_response(turn: Turn, body: dict[str, Any], new_id: Any) -> Reply:
    """``turn`` as a Responses API reply: SSE when the request streams, else JSON."""
    builder = ResponseBuilder(new_id, turn.model or body.get("model", "gpt-fake"))
    output = ([builder.message(turn.text)] if turn.text else []) + [
        builder.function_call(c) for c in turn.tool_calls
    ]
    incomplete = _INCOMPLETE.get(turn.neutral_stop)
    status = "incomplete" if incomplete else "completed"
    final = builder.envelope(
        status,
        output,
        usage=responses_usage(turn) if turn.report_usage else None,
        incomplete_details={"reason": incomplete} if incomplete else None,
    )
    headers = {"x-request-id": new_id("req_")}
    if not body.get("stream"):
        return Reply(200, final, headers)
    events = [
        builder.event("response.created", response=builder.envelope("in_progress", [])),
        builder.event("response.in_progress", response=builder.envelope("in_progress", [])),
    ]
    for index, item in enumerate(output):
        events += _item_events(builder, index, item)
    done = "response.incomplete" if incomplete else "response.completed"
    events.append(builder.event(done, response=final))
    return Reply(200, sse=list(events), headers=headers)


def _item_events(builder: ResponseBuilder, index: int, item: dict[str, Any]) -> list[Any]:
    """added, the deltas and done events of one output item."""
    at = {"output_index": index, "item_id": item["id"]}
    if item["type"] == "message":
        text = item["content"][0]["text"]
        empty = {**item, "status": "in_progress", "content": []}
        part = {"type": "output_text", "text": "", "annotations": []}
        events = [
            builder.event("response.output_item.added", output_index=index, item=empty),
            builder.event("response.content_part.added", **at, content_index=0, part=part),
        ]
        events += [
            builder.event("response.output_text.delta", **at, content_index=0, delta=piece)
            for piece in text_pieces(text)
        ]
        events += [
            builder.event("response.output_text.done", **at, content_index=0, text=text),
            builder.event(
                "response.content_part.done", **at, content_index=0, part=item["content"][0]
            ),
        ]
    else:
        empty = {**item, "status": "in_progress", "arguments": ""}
        events = [builder.event("response.output_item.added", output_index=index, item=empty)]
        events += [
            builder.event("response.function_call_arguments.delta", **at, delta=piece)
            for piece in text_pieces(item["arguments"])
        ]
        events.append(
            builder.event(
                "response.function_call_arguments.done", **at, arguments=item["arguments"]
            )
        )
    events.append(builder.event("response.output_item.done", output_index=index, item=item))
    return events


def failed_stream(body: dict[str, Any], new_id: Any, code: str, message: str) -> Reply:
    """HTTP 200, ``response.created``, then ``response.failed`` with ``code`` and ``message``."""
    builder = ResponseBuilder(new_id, body.get("model", "gpt-fake"))
    failed = builder.envelope("failed", [], error={"code": code, "message": message})
    events = [
        builder.event("response.created", response=builder.envelope("in_progress", [])),
        builder.event("response.failed", response=failed),
    ]
    return Reply(200, sse=list(events), headers={"x-request-id": new_id("req_")})


def function_outputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``function_call_output`` items of a request's ``input`` (what the tools answered)."""
    items = body.get("input")
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
