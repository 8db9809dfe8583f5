"""HTTP for the fake GitHub: the request handler, conditional requests, pagination.

As on GitHub: a successful GET carries a weak ``ETag`` (and ``Last-Modified`` for an object
with an ``updated_at``); a GET whose ``If-None-Match`` matches, or, without one, whose
``If-Modified-Since`` is not older than ``Last-Modified``, gets ``304 Not Modified`` with no
body and does not count against the rate limit. Lists take ``per_page`` (default 30, at most
100) and ``page``, and say where the other pages are in a ``Link`` header.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from coffee_maker.fakes.github_state import DOCS, ApiError, RecordedRequest

ENTERPRISE_PREFIX = "/api/v3"
RATE_LIMIT = 5000
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100

Reply = tuple[int, Any, dict[str, str]]


def encode(payload: Any) -> bytes:
    return payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()


def etag(data: bytes) -> str:
    return 'W/"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def last_modified(payload: Any) -> str | None:
    """``Last-Modified`` for a single object that has an ``updated_at``, as GitHub sends it."""
    if isinstance(payload, dict) and isinstance(payload.get("updated_at"), str):
        when = datetime.strptime(payload["updated_at"], "%Y-%m-%dT%H:%M:%SZ")
        return format_datetime(when.replace(tzinfo=UTC), usegmt=True)
    return None


def not_modified(headers: dict[str, str], tag: str, modified: str | None) -> bool:
    """RFC 9110: ``If-None-Match`` decides when present, else ``If-Modified-Since``."""
    if "if-none-match" in headers:
        wanted = [t.strip() for t in headers["if-none-match"].split(",")]
        bare = tag.removeprefix("W/")
        return "*" in wanted or any(t.removeprefix("W/") == bare for t in wanted)
    since = headers.get("if-modified-since")
    if since and modified:
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def paginate(req: RecordedRequest, url: str, items: Sequence[Any]) -> tuple[list, dict]:
    """This request's page of ``items`` and its ``Link`` header (none for a single page)."""
    try:
        per_page = min(max(int(req.query.get("per_page", DEFAULT_PER_PAGE)), 1), MAX_PER_PAGE)
        page = max(int(req.query.get("page", 1)), 1)
    except ValueError as exc:
        raise ApiError(422, "Validation Failed") from exc
    last = max((len(items) + per_page - 1) // per_page, 1)
    start = (page - 1) * per_page

    def link(number: int, rel: str) -> str:
        query = {k: v for k, v in req.query.items() if k not in ("per_page", "page")}
        query |= {"per_page": str(per_page), "page": str(number)}
        return f'<{url}?{urlencode(query)}>; rel="{rel}"'

    rels = []
    if page > 1:
        rels += [link(min(page - 1, last), "prev")]
    if page < last:
        rels += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        rels += [link(1, "first")]
    return list(items[start : start + per_page]), ({"link": ", ".join(rels)} if rels else {})


class Handler(BaseHTTPRequestHandler):
    """Turns HTTP into :class:`RecordedRequest` and back; keep-alive like GitHub."""

    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK hold the body back ~40 ms on every response.
    disable_nagle_algorithm = True
    # (request, API base) -> status, payload, headers; set on a subclass by the server
    respond: Callable[[RecordedRequest, str], Reply]
    count: Callable[[bool], int]  # counts a request unless it is a 304; returns requests used

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a test's output should show the test, not the access log."""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        path, prefix = split.path.rstrip("/") or "/", ""
        if path.startswith(ENTERPRISE_PREFIX + "/"):
            path, prefix = path[len(ENTERPRISE_PREFIX) :], ENTERPRISE_PREFIX
        elif path == "/api/graphql":
            path, prefix = "/graphql", ENTERPRISE_PREFIX
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            problem = {"message": "Problems parsing JSON", "documentation_url": DOCS}
            self._send(400, encode(problem), {}, self.count(True))
            return
        req = RecordedRequest(
            method=self.command,
            path=path,
            query=dict(parse_qsl(split.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            prefix=prefix,
        )
        host, port = self.server.server_address[:2]
        status, payload, headers = self.respond(req, f"http://{host}:{port}{prefix}")
        data = encode(payload)
        headers = {name.lower(): value for name, value in headers.items()}
        if req.method == "GET" and status == 200:
            tag, modified = etag(data), last_modified(payload)
            headers = {"etag": tag, **headers}
            if modified:
                headers["last-modified"] = modified
            if not_modified(req.headers, tag, modified):
                self._send(304, b"", headers, self.count(False))
                return
        self._send(status, data, headers, self.count(True))

    def _send(self, status: int, data: bytes, headers: dict[str, str], used: int) -> None:
        merged = {
            "content-type": "application/json; charset=utf-8",
            "cache-control": "private, max-age=60, s-maxage=60",
            "vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
            "x-github-media-type": "github.v3; format=json",
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(max(RATE_LIMIT - used, 0)),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "core",
            "x-ratelimit-reset": str(int(datetime.now(UTC).timestamp()) + 3600),
        }
        merged.update(headers)
        if status == 304:
            merged.pop("content-type")
        else:
            merged["content-length"] = str(len(data))
        self.send_response(status)
        for name, value in merged.items():
            self.send_header(name, value)
        self.end_headers()
        if status != 304:
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve
