"""A fake GitHub REST server, so PRs can be opened and reviewed without GitHub.

It speaks, over real HTTP on 127.0.0.1, the subset of the REST API (and the two GraphQL
mutations) that PyGithub 2.10 uses to open and update a pull request and to follow its
review: reviews, review comments and replies, issue comments, reactions, collaborator
permissions, commits, check runs and commit statuses. It answers with GitHub's status codes
and error bodies: 401 ``Bad credentials`` for a wrong token, 404 ``Not Found`` for an unknown
repository, 422 ``Validation Failed`` for a duplicate pull request; with ETags and 304s for
conditional requests, ``Link`` headers for pages, and a rate limit that counts down. It
answers both at the root (github.com style) and under ``/api/v3`` (GitHub Enterprise style).
Faults can be injected with :meth:`FakeGitHub.fail_next`; tests act as people on GitHub with
the helpers (``add_review``, ``add_review_comment``, ``add_issue_comment``, ``set_permission``,
``add_check_run``, ``set_check_run``, ``add_status``, ``merge``, ``close``).

Modules: this one (server, auth, faults, the route table), ``github_pulls`` (pull requests
and their lifecycle), ``github_reviews`` (reviews, comments, reactions, permissions),
``github_checks`` (commits, check runs, statuses), ``github_json`` (response shapes),
``github_http`` (handler, ETags, pages), ``github_git`` (the bare repository behind a fake
repository) and ``github_state`` (what the fake holds).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from coffee_maker.fakes.github_checks import CheckRoutes
from coffee_maker.fakes.github_git import MergeConflict
from coffee_maker.fakes.github_http import ENTERPRISE_PREFIX, Handler, Reply
from coffee_maker.fakes.github_json import Shapes
from coffee_maker.fakes.github_pulls import PullRoutes
from coffee_maker.fakes.github_reviews import ReviewRoutes
from coffee_maker.fakes.github_state import (
    DOCS,
    ApiError,
    FakeCheckRun,
    FakePull,
    FakeStatus,
    RecordedRequest,
)

__all__ = ["ApiError", "FakeGitHub", "FakePull", "MergeConflict", "RecordedRequest"]

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


@dataclass
class _Fault:
    status: int
    body: Any
    headers: dict[str, str]
    method: str | None
    path: str | None
    remaining: int


class FakeGitHub(PullRoutes, ReviewRoutes, CheckRoutes):
    """The server and its state. Use as a context manager; ``url`` is the API base URL.

    ``git_remotes`` maps a repository to its bare git repository: then a pull request's
    ``head.sha`` and ``base.sha`` are read live from its branches there, ``mergeable`` is
    what ``git merge-tree`` says, and :meth:`merge` makes a real merge commit in it.
    """

    def __init__(
        self,
        repos: tuple[str, ...] = ("octo/demo",),
        token: str = "ghp_fakeTokenForTests0000000000000000",
        login: str = "coffee-bot",
        git_remotes: dict[str, str] | None = None,
    ) -> None:
        self.token = token
        self.login = login
        self.git_remotes: dict[str, str] = {k: str(v) for k, v in (git_remotes or {}).items()}
        self.repos: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, dict[str, str]] = {}
        self.pulls: list[FakePull] = []
        self.check_runs: list[FakeCheckRun] = []
        self.statuses: list[FakeStatus] = []
        self.requests: list[RecordedRequest] = []
        self.rate_limited_requests = 0  # answered requests but 304s, as GitHub counts them
        self._ids = itertools.count(5001)
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for full_name in repos:
            self.add_repo(full_name)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        bound = {"respond": staticmethod(self.handle), "count": staticmethod(self._count)}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("_Bound", (Handler,), bound))
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
        """Serve ``full_name``; the token's login is a writer there, or with ``push=False``
        a reader. The owner (the part before the slash) is admin, as on GitHub."""
        self.repos[full_name] = {"default_branch": default_branch}
        self.set_permission(full_name, full_name.split("/")[0], "admin")
        self.set_permission(full_name, self.login, "write" if push else "read")

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

    def _count(self, counted: bool) -> int:
        with self._lock:
            self.rate_limited_requests += counted
            return self.rate_limited_requests

    # -- routes ------------------------------------------------------------------------------

    def get_user(self, shapes: Shapes, req: RecordedRequest, **_: str) -> tuple[int, Any]:
        return 200, shapes.user()

    def get_repo(self, shapes: Shapes, req: RecordedRequest, repo: str) -> tuple[int, Any]:
        return 200, shapes.repo(repo)

    def handle(self, req: RecordedRequest, base: str) -> Reply:
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
            with self._lock:
                shapes = Shapes(base, self.url, self.login, self.repos, self.roles)
                status, body, *headers = route(shapes, req, **params)
        except ApiError as exc:
            return exc.status, exc.body, {}
        return status, body, headers[0] if headers else {}

    def _route(self, req: RecordedRequest) -> tuple[Callable[..., tuple], dict]:
        for method, pattern, name in _ROUTES:
            match = re.fullmatch(pattern, req.path)
            if match and method == req.method:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                return getattr(self, name), params
        raise ApiError(404, "Not Found")

    def _authenticate(self, req: RecordedRequest) -> None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if not token:
            if req.path.startswith("/repos/"):
                raise ApiError(404, "Not Found")  # a private repository hides from strangers
            raise ApiError(401, "Requires authentication")
        if scheme.lower() not in ("token", "bearer") or token != self.token:
            raise ApiError(401, "Bad credentials")


_PULL = _REPO + r"/pulls/(?P<number>\d+)"
_COMMIT = _REPO + r"/commits/(?P<ref>[^/]+)"
_COMMENT = _REPO + r"/(?P<kind>issues|pulls)/comments/(?P<comment_id>\d+)"

#: (method, path pattern, FakeGitHub method); ``owner``/``name`` become ``repo``.
_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/user", "get_user"),
    ("POST", "/graphql", "graphql"),
    ("GET", _REPO, "get_repo"),
    ("GET", _REPO + "/pulls", "list_pulls"),
    ("POST", _REPO + "/pulls", "create_pull"),
    ("GET", _PULL, "get_pull"),
    ("PATCH", _PULL, "edit_pull"),
    ("GET", _PULL + "/reviews", "list_reviews"),
    ("GET", _PULL + "/comments", "list_review_comments"),
    ("POST", _PULL + r"/comments/(?P<comment_id>\d+)/replies", "reply_review_comment"),
    ("GET", _REPO + r"/issues/(?P<number>\d+)/comments", "list_issue_comments"),
    ("POST", _REPO + r"/issues/(?P<number>\d+)/comments", "create_issue_comment"),
    ("GET", _COMMENT, "get_comment"),
    ("GET", _COMMENT + "/reactions", "list_reactions"),
    ("POST", _COMMENT + "/reactions", "create_reaction"),
    ("GET", _REPO + r"/collaborators/(?P<login>[^/]+)/permission", "get_permission"),
    ("GET", _COMMIT, "get_commit"),
    ("GET", _COMMIT + "/check-runs", "list_check_runs"),
    ("GET", _COMMIT + "/status", "combined_status"),
)
