"""A fake GitHub REST server, so PRs can be opened without GitHub (tests and the offline demo).

It speaks, over real HTTP on 127.0.0.1, the subset of the REST API (and the two GraphQL
mutations) that PyGithub 2.10 uses to open and update a pull request, with GitHub's status
codes and error bodies: 401 ``Bad credentials`` for a wrong token, 404 ``Not Found`` for an
unknown repository, 422 ``Validation Failed`` for a duplicate pull request. It answers both at
the root (github.com style) and under ``/api/v3`` (GitHub Enterprise style). Faults can be
injected with :meth:`FakeGitHub.fail_next`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from coffee_maker.fakes.github_json import Shapes

DOCS = "https://docs.github.com/rest"
ENTERPRISE_PREFIX = "/api/v3"
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_MUTATION_RE = re.compile(r"\b(markPullRequestReadyForReview|convertPullRequestToDraft)\s*\(")


@dataclass
class RecordedRequest:
    """One request as the server saw it; ``path`` is without the ``/api/v3`` prefix."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    prefix: str = ""


@dataclass
class FakePull:
    """A pull request held by the fake; tests read and change these directly."""

    number: int
    repo: str
    head_owner: str
    head: str
    base: str
    title: str
    body: str | None
    draft: bool
    state: str = "open"
    comments: list[str] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""

    @property
    def label(self) -> str:
        return f"{self.head_owner}:{self.head}"

    @property
    def node_id(self) -> str:
        return f"PR_fake{self.number}"


@dataclass
class _Fault:
    status: int
    body: Any
    headers: dict[str, str]
    method: str | None
    path: str | None
    remaining: int


class ApiError(Exception):
    """Raised inside a route to answer with GitHub's error shape."""

    def __init__(self, status: int, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
        if errors is not None:
            self.body["errors"] = errors
        self.body["status"] = str(status)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub:
    """The server and its state. Use as a context manager; ``url`` is the API base URL."""

    def __init__(
        self,
        repos: tuple[str, ...] = ("octo/demo",),
        token: str = "ghp_fakeTokenForTests0000000000000000",
        login: str = "coffee-bot",
    ) -> None:
        self.token = token
        self.login = login
        self.repos: dict[str, dict[str, Any]] = {}
        self.pulls: list[FakePull] = []
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for full_name in repos:
            self.add_repo(full_name)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL as for github.com (``Github(base_url=fake.url)``)."""
        if self._httpd is None:
            raise RuntimeError("FakeGitHub is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def enterprise_url(self) -> str:
        """Base URL as for GitHub Enterprise (``https://HOST/api/v3``)."""
        return self.url + ENTERPRISE_PREFIX

    # -- state and faults --------------------------------------------------------------------

    def add_repo(self, full_name: str, default_branch: str = "main", push: bool = True) -> None:
        """Serve ``full_name``; ``push=False`` makes the token a read-only collaborator."""
        permissions = {"admin": False, "maintain": False, "push": push, "triage": push}
        self.repos[full_name] = {
            "default_branch": default_branch,
            "permissions": permissions | {"pull": True},
        }

    def remove_repo(self, full_name: str) -> None:
        """From now on ``full_name`` is 404 Not Found, as a repository the token cannot see."""
        self.repos.pop(full_name, None)

    def fail_next(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of serving them.

        ``method`` and ``path`` (a substring of the path without prefix) narrow which
        requests match. ``body`` may be a dict (sent as JSON) or a string (sent as is).
        """
        if body is None:
            body = {"message": HTTPStatus(status).phrase, "documentation_url": DOCS}
        fault = _Fault(status, body, dict(headers or {}), method, path, times)
        with self._lock:
            self._faults.append(fault)

    def open_pulls(self, repo: str | None = None) -> list[FakePull]:
        return [p for p in self.pulls if p.state == "open" and repo in (None, p.repo)]

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method not in (None, method) or (fault.path and fault.path not in path):
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- routes ------------------------------------------------------------------------------

    def _find_pull(self, repo: str, number: str) -> FakePull:
        for pull in self.pulls:
            if pull.repo == repo and pull.number == int(number):
                return pull
        raise ApiError(404, "Not Found")

    def get_user(self, shapes: Shapes, req: RecordedRequest, **_: str) -> tuple[int, Any]:
        return 200, shapes.user()

    def get_repo(self, shapes: Shapes, req: RecordedRequest, repo: str) -> tuple[int, Any]:
        return 200, shapes.repo(repo)

    def list_pulls(self, shapes: Shapes, req: RecordedRequest, repo: str) -> tuple[int, Any]:
        state = req.query.get("state", "open")
        head = req.query.get("head")
        if head and ":" not in head:
            head = f"{repo.split('/')[0]}:{head}"
        found = [
            p
            for p in self.pulls
            if p.repo == repo
            and state in ("all", p.state)
            and head in (None, p.label)
            and req.query.get("base") in (None, p.base)
        ]
        return 200, [shapes.pull(p) for p in found]

    def create_pull(self, shapes: Shapes, req: RecordedRequest, repo: str) -> tuple[int, Any]:
        data = req.body if isinstance(req.body, dict) else {}
        for name in ("title", "head", "base"):
            if not data.get(name):
                errors = [{"resource": "PullRequest", "field": name, "code": "missing_field"}]
                raise ApiError(422, "Validation Failed", errors)
        owner, _, branch = data["head"].rpartition(":")
        owner = owner or repo.split("/")[0]
        if branch == data["base"]:
            message = f"No commits between {data['base']} and {branch}"
            raise ApiError(422, "Validation Failed", [_custom(message)])
        for other in self.open_pulls(repo):
            if other.label == f"{owner}:{branch}" and other.base == data["base"]:
                message = f"A pull request already exists for {other.label}."
                raise ApiError(422, "Validation Failed", [_custom(message)])
        stamp = _now()
        pull = FakePull(
            number=len(self.pulls) + 1,
            repo=repo,
            head_owner=owner,
            head=branch,
            base=data["base"],
            title=data["title"],
            body=data.get("body"),
            draft=bool(data.get("draft", False)),
            created_at=stamp,
            updated_at=stamp,
        )
        self.pulls.append(pull)
        return 201, shapes.pull(pull)

    def get_pull(
        self, shapes: Shapes, req: RecordedRequest, repo: str, number: str
    ) -> tuple[int, Any]:
        return 200, shapes.pull(self._find_pull(repo, number))

    def edit_pull(
        self, shapes: Shapes, req: RecordedRequest, repo: str, number: str
    ) -> tuple[int, Any]:
        pull = self._find_pull(repo, number)
        data = req.body if isinstance(req.body, dict) else {}
        if data.get("state") not in (None, "open", "closed"):
            errors = [{"resource": "PullRequest", "field": "state", "code": "invalid"}]
            raise ApiError(422, "Validation Failed", errors)
        pull.title = data.get("title", pull.title)
        pull.body = data.get("body", pull.body)
        pull.base = data.get("base", pull.base)
        pull.state = data.get("state", pull.state)
        pull.updated_at = _now()
        return 200, shapes.pull(pull)

    def create_comment(
        self, shapes: Shapes, req: RecordedRequest, repo: str, number: str
    ) -> tuple[int, Any]:
        pull = self._find_pull(repo, number)
        text = req.body.get("body") if isinstance(req.body, dict) else None
        if not text:
            errors = [{"resource": "IssueComment", "field": "body", "code": "missing_field"}]
            raise ApiError(422, "Validation Failed", errors)
        pull.comments.append(text)
        comment_id = 5000 + sum(len(p.comments) for p in self.pulls)
        return 201, shapes.comment(pull, comment_id, text)

    def graphql(self, shapes: Shapes, req: RecordedRequest, **_: str) -> tuple[int, Any]:
        query = str(req.body.get("query", "")) if isinstance(req.body, dict) else ""
        match = _MUTATION_RE.search(query)
        if match is None:
            message = "This fake GitHub serves only the draft/ready mutations"
            return 200, {"errors": [{"message": message}]}
        name = match.group(1)
        node = (req.body.get("variables") or {}).get("input", {}).get("pullRequestId")
        pull = next((p for p in self.pulls if p.node_id == node), None)
        if pull is None:
            error = {"type": "NOT_FOUND", "path": [name], "message": f"Could not resolve {node}"}
            return 200, {"data": {name: None}, "errors": [error]}
        pull.draft = name == "convertPullRequestToDraft"
        pull.updated_at = _now()
        return 200, {
            "data": {name: {"clientMutationId": None, "pullRequest": {"isDraft": pull.draft}}}
        }

    def handle(self, req: RecordedRequest, base: str) -> tuple[int, Any, dict[str, str]]:
        """Authenticate, apply a fault if one matches, then route."""
        with self._lock:
            self.requests.append(req)
        fault = self._take_fault(req.method, req.path)
        if fault is not None:
            return fault.status, fault.body, fault.headers
        try:
            route, params = self._route(req)
            self._authenticate(req)
            if "owner" in params:
                repo = f"{params.pop('owner')}/{params.pop('name')}"
                if repo not in self.repos:
                    raise ApiError(404, "Not Found")
                params["repo"] = repo
            shapes = Shapes(api=base, web=self.url, login=self.login, repos=self.repos)
            with self._lock:
                status, body = route(shapes, req, **params)
        except ApiError as exc:
            return exc.status, exc.body, {}
        return status, body, {}

    def _route(self, req: RecordedRequest) -> tuple[Callable[..., tuple[int, Any]], dict]:
        for method, pattern, name in _ROUTES:
            match = re.fullmatch(pattern, req.path)
            if match and method == req.method:
                return getattr(self, name), match.groupdict()
        raise ApiError(404, "Not Found")

    def _authenticate(self, req: RecordedRequest) -> None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if not token:
            if req.path.startswith("/repos/"):
                raise ApiError(404, "Not Found")  # a private repository hides from strangers
            raise ApiError(401, "Requires authentication")
        if scheme.lower() not in ("token", "bearer") or token != self.token:
            raise ApiError(401, "Bad credentials")


_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/user", "get_user"),
    ("POST", "/graphql", "graphql"),
    ("GET", _REPO, "get_repo"),
    ("GET", _REPO + "/pulls", "list_pulls"),
    ("POST", _REPO + "/pulls", "create_pull"),
    ("GET", _REPO + r"/pulls/(?P<number>\d+)", "get_pull"),
    ("PATCH", _REPO + r"/pulls/(?P<number>\d+)", "edit_pull"),
    ("POST", _REPO + r"/issues/(?P<number>\d+)/comments", "create_comment"),
)


def _custom(message: str) -> dict[str, str]:
    return {"resource": "PullRequest", "code": "custom", "message": message}


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP into :class:`RecordedRequest` and back; keep-alive like GitHub."""

    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    fake: FakeGitHub

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
            self._send(400, {"message": "Problems parsing JSON", "documentation_url": DOCS}, {})
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
        status, payload, headers = self.fake.handle(req, f"http://{host}:{port}{prefix}")
        self._send(status, payload, headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        merged = {
            "content-type": "application/json; charset=utf-8",
            "x-github-media-type": "github.v3; format=json",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
        }
        merged.update({name.lower(): value for name, value in headers.items()})
        merged["content-length"] = str(len(data))
        self.send_response(status)
        for name, value in merged.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve
