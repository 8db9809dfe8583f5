"""Scripted model turns shared by the vendor fakes (OpenAI; Anthropic, Gemini, Ollama in tests).

A test scripts what the "model" says in provider-neutral terms — text, tool calls,
usage — and each vendor fake renders it in its own wire format, as JSON or as a stream
depending on what the request asked for. The same script therefore drives every vendor,
which is what the fallback, agent-loop and end-to-end tests need.

Usage fields mean what :func:`coffee_maker.ai_providers.base.make_usage` means:
``input_tokens`` is *uncached* input and ``reasoning_tokens`` is the part of
``output_tokens`` spent thinking. A vendor that folds cached tokens into its prompt count
(OpenAI, Gemini) reports ``input_tokens + cached_tokens`` there, so a provider that
forgets to subtract them is caught.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from coffee_maker.fakes.server import FakeServer, RecordedRequest, Reply, huge_body

#: Neutral stop values a turn may name; anything else is passed to the wire unchanged.
NEUTRAL_STOPS = ("end_turn", "tool_use", "max_tokens", "content_filter")
_HUGE_MARK = "@@huge-text@@"


@dataclass
class ScriptedCall:
    """A tool call the model makes. ``arguments`` given as a str is sent verbatim
    (to script a model that writes invalid JSON); ``id`` None lets the fake choose."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


CallLike = ScriptedCall | tuple[str, dict[str, Any] | str] | tuple[str, dict[str, Any] | str, str]


@dataclass
class Turn:
    """One model reply. ``stop`` None means end_turn, or tool_use when there are calls."""

    text: str = ""
    tool_calls: list[ScriptedCall] = field(default_factory=list)
    input_tokens: int = 10
    output_tokens: int = 5
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    stop: str | None = None
    model: str | None = None  # None: echo the model the request named
    report_usage: bool = True  # False: a vendor that sends no usage at all

    @property
    def neutral_stop(self) -> str:
        return self.stop or ("tool_use" if self.tool_calls else "end_turn")


def as_call(call: CallLike) -> ScriptedCall:
    if isinstance(call, ScriptedCall):
        return call
    return ScriptedCall(*call)


def text_pieces(text: str, count: int = 3) -> list[str]:
    """``text`` cut into up to ``count`` pieces, so streamed replies arrive in parts."""
    if not text:
        return []
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)]


class ScriptedModelServer(FakeServer, ABC):
    """A :class:`FakeServer` speaking one vendor's model API from a script of turns.

    Subclasses say which requests are model calls (:meth:`is_model_call`), render a turn
    (:meth:`render_turn`) and an error (:meth:`render_error`), and answer everything else
    (model lists, token counts) in :meth:`route_other`. ``api_key``, when given, must be
    presented by every request (:meth:`presented_key`), else the vendor's auth error.
    """

    def __init__(self, *, api_key: str | None = None, models: Sequence[str] = ()) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = list(models)
        self._ids = itertools.count(1)

    # -- scripting ---------------------------------------------------------------------
    def reply(self, turn: Turn) -> Self:
        """Answer the next model call with ``turn``."""
        self.enqueue(lambda request: self.render_turn(turn, request))
        return self

    def script(self, turns: Iterable[Turn]) -> Self:
        """Scripted-model mode: the next model calls get these turns, in order."""
        for turn in turns:
            self.reply(turn)
        return self

    def reply_text(self, text: str, **fields: Any) -> Self:
        """A plain answer; ``fields`` are :class:`Turn` fields (usage, stop, model)."""
        return self.reply(Turn(text=text, **fields))

    def reply_tool_calls(self, calls: Iterable[CallLike], *, text: str = "", **fields: Any) -> Self:
        """Tool calls, given as ``(name, arguments)`` or ``(name, arguments, id)`` tuples."""
        return self.reply(Turn(text=text, tool_calls=[as_call(c) for c in calls], **fields))

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        **vendor: Any,
    ) -> Self:
        """The next ``times`` model calls fail with the vendor's error body for ``status``.

        ``vendor`` holds vendor-specific fields (OpenAI ``code``/``type``, Google
        ``details``); each subclass documents its own.
        """
        reply = self.render_error(status, message, headers or {}, **vendor)
        return self.enqueue(*[reply] * times)

    def trickle(self, where: str = "body", *, interval: float = 1.0, times: int = 1) -> Self:
        """The next ``times`` model calls get a slow-loris reply: HTTP 200 and its headers,
        then one byte a second, forever (``where="headers"``: the header block trickles)."""

        def answer(request: RecordedRequest) -> Reply:
            streaming = (request.json or {}).get("stream") or "stream" in request.path.lower()
            kind = "text/event-stream" if streaming else "application/json"
            return Reply(200, trickle=where, trickle_interval=interval, content_type=kind)

        return self.enqueue(*[answer] * times)

    def huge_reply(self, size: int, *, times: int = 1) -> Self:
        """The next model calls get a well-formed reply whose text is ``size`` bytes.

        The body is the vendor's non-streamed form (whatever the request asked), made
        piece by piece, so the fake stays small however large the reply is.
        """

        def answer(request: RecordedRequest) -> Reply:
            plain = _unstreamed(request)
            rendered = self.render_turn(Turn(text=_HUGE_MARK), plain)
            payload, _ = rendered.encode()
            prefix, suffix = payload.split(_HUGE_MARK.encode(), 1)
            reply = huge_body(prefix, size, suffix)
            reply.headers = dict(rendered.headers)
            return reply

        return self.enqueue(*[answer] * times)

    # -- inspection --------------------------------------------------------------------
    @property
    def model_calls(self) -> list[RecordedRequest]:
        """Every request that was a model call, in order."""
        return [r for r in self.requests if self.is_model_call(r)]

    @property
    def last_body(self) -> Any:
        """The JSON body of the last model call."""
        return self.model_calls[-1].json

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}_{uuid.uuid4().hex[:12]}"

    # -- dispatch ----------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Reply | None:
        if self.api_key is not None and self.presented_key(request) != self.api_key:
            return self.auth_error(request)
        if self.is_model_call(request):
            return None  # the script answers
        return self.route_other(request)

    def default_reply(self, request: RecordedRequest) -> Reply:
        message = f"fake: no scripted reply left for {request.method} {request.path}"
        return self.render_error(400, message, {})

    # -- vendor hooks ------------------------------------------------------------------
    @abstractmethod
    def is_model_call(self, request: RecordedRequest) -> bool:
        """True for the vendor's generation endpoint (the one the script answers)."""

    @abstractmethod
    def render_turn(self, turn: Turn, request: RecordedRequest) -> Reply:
        """``turn`` in the vendor's wire format, streamed if the request asked for it."""

    @abstractmethod
    def render_error(
        self, status: int, message: str | None, headers: dict[str, str], **vendor: Any
    ) -> Reply:
        """The vendor's error body for ``status`` (a realistic message when None)."""

    @abstractmethod
    def presented_key(self, request: RecordedRequest) -> str | None:
        """The API key the request carries, in the vendor's header."""

    def route_other(self, request: RecordedRequest) -> Reply:
        """Endpoints outside the script (model lists, token counts); 404 by default."""
        return self.render_error(404, f"fake: unknown endpoint {request.method} {request.path}", {})

    def auth_error(self, request: RecordedRequest) -> Reply:
        """What the vendor answers to a wrong or missing key."""
        return self.render_error(401, None, {})


def _unstreamed(request: RecordedRequest) -> RecordedRequest:
    """The same request asking for a whole (non-streamed) reply."""
    body = request.json if isinstance(request.json, dict) else {}
    return dataclasses.replace(
        request,
        path=request.path.replace(":streamGenerateContent", ":generateContent"),
        body=json.dumps({**body, "stream": False}).encode(),
    )
