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

Modules: this one (server, routes table, pull requests), ``github_reviews`` (reviews,
comments, reactions, permissions), ``github_checks`` (commits, check runs, statuses),
``github_json`` (response shapes), ``github_http`` (handler, ETags, pages), ``github_git``
(the bare repository behind a fake repository), ``github_state`` (what the fake holds).
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

from coffee_maker.fakes import github_git
from coffee_maker.fakes.github_checks import CheckRoutes
from coffee_maker.fakes.github_git import MergeConflict
from coffee_maker.fakes.github_http import ENTERPRISE_PREFIX, Handler, Reply, paginate
from coffee_maker.fakes.github_json import PullLive, Shapes
from coffee_maker.fakes.github_reviews import ReviewRoutes
from coffee_maker.fakes.github_state import (
    DOCS,
    ApiError,
    FakeCheckRun,
    FakePull,
    FakeStatus,
    RecordedRequest,
    custom_error,
    fake_sha,
    missing_field,
    now,
)

__all__ = ["ApiError", "FakeGitHub", "FakePull", "MergeConflict", "RecordedRequest"]

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_MUTATION_RE = re.compile(r"\b(markPullRequestReadyForReview|convertPullRequestToDraft)\s*\(")


@dataclass
class _Fault:
    status: int
    body: Any
    headers: dict[str, str]
    method: str | None
    path: str | None
    remaining: int


class FakeGitHub(ReviewRoutes, CheckRoutes):
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

    def open_pulls(self, repo: str | None = None) -> list[FakePull]:
        return [p for p in self.pulls if p.state == "open" and repo in (None, p.repo)]

    def pull(self, repo: str, number: int) -> FakePull:
        """Pull request ``number`` of ``repo``."""
        return self._find_pull(repo, number)

    def close(self, repo: str, number: int) -> FakePull:
        """Close pull request ``number`` without merging, as a person on GitHub would."""
        with self._lock:
            pull = self._find_pull(repo, number)
            self._close(pull)
            return pull

    def merge(self, repo: str, number: int, by: str | None = None) -> FakePull:
        """Merge pull request ``number`` (by ``by``, default the token's login), as the merge
        button does. With a bare repository in ``git_remotes`` this makes a real merge commit
        of head into base there, and raises :class:`MergeConflict` if they do not merge."""
        with self._lock:
            pull = self._find_pull(repo, number)
            if pull.state != "open":
                raise MergeConflict(f"{repo}#{number} is {pull.state}, not open")
            live, by = self.live(pull), by or self.login
            remote = self.git_remotes.get(repo)
            if remote:
                message = f"Merge pull request #{number} from {pull.head_owner}/{pull.head}"
                sha = github_git.merge(
                    remote, pull.base, live.head_sha, f"{message}\n\n{pull.title}", by
                )
            else:
                sha = fake_sha(f"merge:{repo}#{number}:{live.head_sha}")
            pull.merge_commit_sha, pull.merged_by = sha, by
            self._close(pull)
            pull.merged_at = pull.closed_at
            return pull

    def _close(self, pull: FakePull) -> None:
        live = self.live(pull)
        pull.head_sha, pull.base_sha = live.head_sha, live.base_sha
        pull.state, pull.closed_at = "closed", self.touch(pull)

    def touch(self, pull: FakePull) -> str:
        """Move ``updated_at``: on GitHub every change to a pull request, its comments or its
        reviews does."""
        pull.updated_at = now(after=pull.updated_at)
        return pull.updated_at

    def live(self, pull: FakePull) -> PullLive:
        """head and base shas, and whether (and how) the pull request can be merged now."""
        remote = self.git_remotes.get(pull.repo)
        head = pull.head_sha or self.resolve(pull.repo, pull.head)
        base = pull.base_sha or self.resolve(pull.repo, pull.base)
        head = head or fake_sha(f"{pull.repo}:{pull.head}")
        base = base or fake_sha(f"{pull.repo}:{pull.base}")
        if pull.state != "open":
            return PullLive(head, base, None, "unknown")
        clean = github_git.merges_cleanly(remote, base, head) if remote else True
        if not clean:
            state = "dirty"
        elif pull.draft:
            state = "draft"
        else:
            state = "clean" if self.checks_state(pull.repo, head) == "success" else "unstable"
        return PullLive(head, base, clean, state)

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

    def _find_pull(self, repo: str, number: int | str) -> FakePull:
        for pull in self.pulls:
            if pull.repo == repo and pull.number == int(number):
                return pull
        raise ApiError(404, "Not Found")

    def get_user(self, shapes: Shapes, req: RecordedRequest, **_: str) -> tuple[int, Any]:
        return 200, shapes.user()

    def get_repo(self, shapes: Shapes, req: RecordedRequest, repo: str) -> tuple[int, Any]:
        return 200, shapes.repo(repo)

    def list_pulls(self, shapes: Shapes, req: RecordedRequest, repo: str) -> Reply:
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
        page, headers = paginate(req, shapes.api + req.path, found)
        return 200, [shapes.pull(p, self.live(p)) for p in page], headers

    def create_pull(self, shapes: Shapes, req: RecordedRequest, repo: str) -> tuple[int, Any]:
        data = req.body if isinstance(req.body, dict) else {}
        for name in ("title", "head", "base"):
            if not data.get(name):
                raise missing_field("PullRequest", name)
        owner, _, branch = data["head"].rpartition(":")
        owner = owner or repo.split("/")[0]
        if branch == data["base"]:
            message = f"No commits between {data['base']} and {branch}"
            raise custom_error("PullRequest", message)
        for other in self.open_pulls(repo):
            if other.label == f"{owner}:{branch}" and other.base == data["base"]:
                message = f"A pull request already exists for {other.label}."
                raise custom_error("PullRequest", message)
        stamp = now()
        pull = FakePull(
            number=len(self.pulls) + 1,
            repo=repo,
            head_owner=owner,
            head=branch,
            base=data["base"],
            title=data["title"],
            body=data.get("body"),
            draft=bool(data.get("draft", False)),
            user=self.login,
            created_at=stamp,
            updated_at=stamp,
        )
        self.pulls.append(pull)
        return 201, shapes.pull(pull, self.live(pull))

    def get_pull(
        self, shapes: Shapes, req: RecordedRequest, repo: str, number: str
    ) -> tuple[int, Any]:
        pull = self._find_pull(repo, number)
        return 200, shapes.pull(pull, self.live(pull))

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
        if data.get("state") == "closed" and pull.state == "open":
            self._close(pull)
        elif data.get("state") == "open" and pull.state == "closed" and not pull.merged:
            pull.state, pull.closed_at, pull.head_sha, pull.base_sha = "open", None, None, None
        self.touch(pull)
        return 200, shapes.pull(pull, self.live(pull))

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
        self.touch(pull)
        return 200, {
            "data": {name: {"clientMutationId": None, "pullRequest": {"isDraft": pull.draft}}}
        }

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
