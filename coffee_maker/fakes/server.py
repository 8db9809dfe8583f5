"""A small threaded HTTP server on 127.0.0.1 that records requests and replays scripts.

Vendor fakes (Anthropic, OpenAI, Gemini, Ollama) subclass :class:`FakeServer` and turn
provider-neutral script steps into their vendor's exact wire format. Real SDKs talk to
them over real HTTP, so the whole client stack (serialisation, headers, retries, SSE
parsing, error mapping) is exercised, not mocked.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """One scripted HTTP response: JSON (``body`` dict/list), raw bytes/str, or SSE events."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    sse: list[tuple[str | None, Any]] | None = None  # (event name, data) pairs
    delay: float = 0.0  # seconds before answering (to provoke client timeouts)
    #: A slow-loris server: "body" sends the headers, then one byte of body per
    #: ``trickle_interval`` seconds forever; "headers" trickles the header block itself.
    #: Either way it stops only when the client hangs up (or the fake stops).
    trickle: str | None = None
    trickle_interval: float = 1.0
    #: A body produced piece by piece (a huge reply the fake never holds whole);
    #: ``stream_length`` is its total size, sent as content-length.
    stream: Iterable[bytes] | None = None
    stream_length: int = 0
    content_type: str | None = None  # overrides the type ``encode`` picks

    def encode(self) -> tuple[bytes, str]:
        if self.sse is not None:
            chunks = []
            for event, data in self.sse:
                payload = data if isinstance(data, str) else json.dumps(data)
                prefix = f"event: {event}\n" if event else ""
                chunks.append(f"{prefix}data: {payload}\n\n")
            return "".join(chunks).encode(), "text/event-stream"
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        return json.dumps(self.body if self.body is not None else {}).encode(), "application/json"


Handler = Callable[[RecordedRequest], Reply]


class FakeServer:
    """Serve scripted replies in order; with the script empty, ``default_reply`` answers.

    Use as a context manager. ``requests`` lists every request received, in order.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply | Handler] = deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()  # ends trickling replies when the fake stops

    # -- scripting -------------------------------------------------------------------------
    def enqueue(self, *replies: Reply | Handler) -> FakeServer:
        """Add replies (or functions of the request returning a reply) to the script."""
        with self._lock:
            self._script.extend(replies)
        return self

    def fail_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, times: int = 1
    ) -> FakeServer:
        return self.enqueue(*[Reply(status, body, headers or {}) for _ in range(times)])

    @property
    def pending(self) -> int:
        return len(self._script)

    def default_reply(self, request: RecordedRequest) -> Reply:
        return Reply(404, {"error": f"no scripted reply for {request.method} {request.path}"})

    def route(self, request: RecordedRequest) -> Reply | None:
        """Answer requests that are not part of the script (model lists, health checks)."""
        return None

    def requests_to(self, path_fragment: str) -> list[RecordedRequest]:
        return [r for r in self.requests if path_fragment in r.path]

    def _answer(self, request: RecordedRequest) -> Reply:
        routed = self.route(request)
        if routed is not None:
            return routed
        with self._lock:
            step = self._script.popleft() if self._script else None
        if step is None:
            return self.default_reply(request)
        return step(request) if callable(step) else step

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in separate writes: with Nagle on, the body waits for
            # the client's delayed ACK (~40 ms a reply on Linux), as no real server does.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with server._lock:
                    server.requests.append(request)
                reply = server._answer(request)
                if reply.delay:
                    time.sleep(reply.delay)
                # the client may give up (a timeout test): then there is nothing to answer
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                if reply.trickle == "headers":
                    self.wfile.write(f"HTTP/1.1 {reply.status} OK\r\nx-slow: ".encode())
                    self._trickle(reply.trickle_interval)
                    return
                payload, content_type = reply.encode()
                length = reply.stream_length if reply.stream is not None else len(payload)
                if reply.trickle == "body":
                    length = 1_000_000  # more than will ever come
                self.send_response(reply.status)
                headers = {"content-type": reply.content_type or content_type, **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(length))
                self.end_headers()
                if reply.trickle == "body":
                    self._trickle(reply.trickle_interval)
                elif reply.stream is not None:
                    for piece in reply.stream:
                        self.wfile.write(piece)
                else:
                    self.wfile.write(payload)

            def _trickle(self, interval: float) -> None:
                """One space a tick (harmless in JSON, SSE and headers) until hung up."""
                self.close_connection = True
                while not server._stopping.is_set():
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    server._stopping.wait(interval)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._stopping.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for one poll: keep tests fast
            daemon=True,
            name=f"{type(self).__name__}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sse_events(events: Iterable[tuple[str | None, Any]]) -> Reply:
    return Reply(200, sse=list(events), headers={"cache-control": "no-cache"})


def huge_body(prefix: bytes, size: int, suffix: bytes, filler: bytes = b"a") -> Reply:
    """A reply of ``prefix``, ``size`` filler bytes and ``suffix``, made in 1 MiB pieces."""
    piece = filler * (1024 * 1024)

    def pieces() -> Iterator[bytes]:
        yield prefix
        whole, rest = divmod(size, len(piece))
        for _ in range(whole):
            yield piece
        yield piece[:rest]
        yield suffix

    return Reply(
        200,
        stream=pieces(),
        stream_length=len(prefix) + size + len(suffix),
        content_type="application/json",
    )
