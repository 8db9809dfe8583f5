"""Looking at the pull requests the daemon opened: state, reviews, comments, checks.

Every look is a set of conditional GETs: the ETag of each answer is kept (in memory and
in ``<git common dir>/coffee-maker/github-cache.json``) and sent back as
``If-None-Match``, so a look at a PR where nothing changed is answered ``304 Not
Modified``, which GitHub does not count against the rate limit. Lists are read a hundred
per page, following ``Link: rel="next"``.

What comes back is turned into small frozen records (:class:`Remark`, :class:`Check`,
:class:`PullSnapshot`). Their text is GitHub users' text: data for the model to read as
quoted review feedback, never instructions to the harness.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from coffee_maker.ai_providers.atomic_files import atomic_write
from coffee_maker.autonomous.pull_requests import PullRequestError, PullRequestPublisher
from coffee_maker.logging import get_logger

log = get_logger(__name__)

CACHE_FILE = "github-cache.json"
CACHE_LIMIT = 400  # answers kept; the oldest are dropped first
PAGE_LIMIT = 10  # pages of 100 read per list: a PR with more than 1,000 comments is read in part
BODY_LIMIT = 8_000  # characters of one remark kept
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_LAST = re.compile(r'<([^>]+)>;\s*rel="last"')

#: Check-run conclusions and commit-status states that fail a head commit.
FAILING = frozenset(
    {"failure", "timed_out", "cancelled", "action_required", "error", "startup_failure"}
)


@dataclass(frozen=True)
class Remark:
    """One thing a person said on a PR: a review, an inline review comment, a comment."""

    key: str  # "review:ID", "inline:ID" or "comment:ID": what the state records as handled
    kind: str  # review | inline | comment
    id: int
    author: str
    body: str
    created_at: str = ""
    review_state: str | None = None  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    review_id: int | None = None  # the review an inline comment belongs to
    path: str | None = None
    line: int | None = None
    in_reply_to: int | None = None
    url: str = ""


@dataclass(frozen=True)
class Check:
    """A check run or a commit status of the head commit."""

    name: str
    state: str  # pending | success | failure | neutral
    summary: str = ""
    url: str = ""


@dataclass(frozen=True)
class PullSnapshot:
    number: int
    url: str
    state: str  # open | merged | closed
    draft: bool
    head_branch: str
    head_sha: str
    base_branch: str
    merge_commit_sha: str | None = None
    author: str = ""  # who opened it: the daemon's own account, since it opened it
    remarks: tuple[Remark, ...] = ()
    checks: tuple[Check, ...] = ()

    @property
    def review_state(self) -> str:
        """``changes requested``, ``approved``, ``commented`` or ``none``: each reviewer's
        latest deciding review counts, as GitHub shows it."""
        latest: dict[str, str] = {}
        for remark in self.remarks:
            if remark.kind == "review" and remark.review_state != "COMMENTED":
                latest[remark.author] = remark.review_state or ""
        if "CHANGES_REQUESTED" in latest.values():
            return "changes requested"
        if "APPROVED" in latest.values():
            return "approved"
        return "commented" if any(r.kind != "review" for r in self.remarks) else "none"

    @property
    def ci_state(self) -> str:
        """``pending`` while any check runs, else ``failing``, ``passing`` or ``none``."""
        states = {check.state for check in self.checks}
        if "pending" in states:
            return "pending"
        if "failure" in states:
            return "failing"
        return "passing" if states else "none"

    @property
    def failing_checks(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.state == "failure")


class ConditionalReader:
    """GETs through PyGithub's requester with ETags; JSON of the answer (cached on 304)."""

    def __init__(self, publisher: PullRequestPublisher, cache_dir: Path | None = None) -> None:
        self.publisher = publisher
        self.path = cache_dir / CACHE_FILE if cache_dir else None
        self._cache: dict[str, dict[str, Any]] = self._load()
        self.not_modified = 0  # answers GitHub did not count against the rate limit
        self.last: str | None = None  # the rel="last" page of the latest answer
        self.counted = 0

    def get(self, path: str, **params: Any) -> Any:
        url = path + ("?" + urlencode(params) if params else "")
        cached = self._cache.get(url)
        headers = {"If-None-Match": cached["etag"]} if cached else {}
        requester = self.publisher.github.requester
        with self.publisher.translate_errors(f"read {path}"):
            status, answer_headers, text = requester.requestJson("GET", url, headers=headers)
        if status == 304 and cached is not None:
            self.not_modified += 1
            self._cache[url] = self._cache.pop(url)  # most recently used last
            self.last = cached.get("last")
            return cached["data"], cached.get("next")
        self.counted += 1
        if status >= 400:
            raise PullRequestError(f"could not read {path}: GitHub answered {status}")
        data = json.loads(text) if text else None
        link = {k.lower(): v for k, v in answer_headers.items()}.get("link", "")
        match, last = _NEXT.search(link), _LAST.search(link)
        following = _relative(match.group(1)) if match else None
        self.last = _relative(last.group(1)) if last else None
        etag = {k.lower(): v for k, v in answer_headers.items()}.get("etag")
        if etag:
            self._cache.pop(url, None)
            self._cache[url] = {"etag": etag, "data": data, "next": following, "last": self.last}
        return data, following

    def get_all(self, path: str) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint (or of its ``key`` for wrapped lists). Past
        ``PAGE_LIMIT`` pages, the first page and the last ones: lists come oldest first,
        and a flood of comments must not hide the newest."""
        url: str | None = path + "?" + urlencode({"per_page": 100})
        for number in range(PAGE_LIMIT):
            if url is None:
                return
            data, url = self.get(url)
            if number == 0 and url and self.last:
                url = _skip_to(url, self.last, PAGE_LIMIT - 1)
            items = data.get("check_runs", []) if isinstance(data, dict) else data or []
            yield from (item for item in items if isinstance(item, dict))

    def save(self) -> None:
        if self.path is None:
            return
        kept = dict(list(self._cache.items())[-CACHE_LIMIT:])
        atomic_write(self.path, json.dumps(kept).encode("utf-8"))

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


class PullWatch:
    """What a PR looks like now, read with :class:`ConditionalReader`."""

    def __init__(self, publisher: PullRequestPublisher, cache_dir: Path | None = None) -> None:
        self.publisher = publisher
        self.reader = ConditionalReader(publisher, cache_dir)
        self.repo_path = f"/repos/{publisher.repo_full_name}"
        self._permissions: dict[str, str] = {}
        self._login: str | None = None

    def look(self, number: int) -> PullSnapshot:
        pull, _ = self.reader.get(f"{self.repo_path}/pulls/{number}")
        if not isinstance(pull, dict):
            raise PullRequestError(f"could not read pull request #{number}: not an object")
        merged = pull.get("merged") or pull.get("merged_at")
        state = "merged" if merged else str(pull.get("state") or "open")
        head, base = pull.get("head") or {}, pull.get("base") or {}
        snapshot = PullSnapshot(
            number=number,
            url=str(pull.get("html_url") or ""),
            state=state,
            draft=bool(pull.get("draft")),
            head_branch=str(head.get("ref") or ""),
            head_sha=str(head.get("sha") or ""),
            base_branch=str(base.get("ref") or ""),
            merge_commit_sha=pull.get("merge_commit_sha") if state == "merged" else None,
            author=_login(pull),
        )
        if state != "open":
            return snapshot
        remarks = (*self._reviews(number), *self._inline(number), *self._comments(number))
        checks: tuple[Check, ...] = ()
        if snapshot.head_sha:
            try:
                checks = self._checks(snapshot.head_sha)
            except PullRequestError as exc:  # e.g. a GitHub Enterprise without checks
                log.warning(
                    "could not read the checks of a pull request", number=number, error=str(exc)
                )
        return PullSnapshot(**{**snapshot.__dict__, "remarks": remarks, "checks": checks})

    def login(self) -> str:
        """The token's own account: its comments are the daemon's, never work. ``""``
        when GitHub will not say (a GitHub App's installation token may not read
        ``/user``): the PR's author, who is the daemon, stands for it then."""
        if self._login is None:
            try:
                user, _ = self.reader.get("/user")
            except PullRequestError as exc:
                log.info("GitHub did not say who the token is", error=str(exc))
                user = None
            self._login = str((user or {}).get("login") or "") if isinstance(user, dict) else ""
        return self._login

    def permission(self, login: str) -> str:
        """``admin``, ``write``, ``read`` or ``none`` (maintain reads as write, triage as
        read, as GitHub reports them); an account GitHub does not know is ``none``."""
        if login not in self._permissions:
            try:
                data, _ = self.reader.get(f"{self.repo_path}/collaborators/{login}/permission")
            except PullRequestError:
                data = None
            self._permissions[login] = str((data or {}).get("permission") or "none")
        return self._permissions[login]

    def save(self) -> None:
        self.reader.save()

    # -- the parts of a PR -------------------------------------------------------------------
    def _reviews(self, number: int) -> Iterator[Remark]:
        for item in self.reader.get_all(f"{self.repo_path}/pulls/{number}/reviews"):
            if item.get("state") == "PENDING":
                continue  # a review its author has not submitted yet
            yield _remark("review", item, "submitted_at", review_state=str(item.get("state") or ""))

    def _inline(self, number: int) -> Iterator[Remark]:
        for item in self.reader.get_all(f"{self.repo_path}/pulls/{number}/comments"):
            line = item.get("line") or item.get("original_line")
            yield _remark(
                "inline",
                item,
                review_id=item.get("pull_request_review_id"),
                path=str(item.get("path") or "") or None,
                line=int(line) if isinstance(line, int) else None,
                in_reply_to=item.get("in_reply_to_id"),
            )

    def _comments(self, number: int) -> Iterator[Remark]:
        for item in self.reader.get_all(f"{self.repo_path}/issues/{number}/comments"):
            yield _remark("comment", item)

    def _checks(self, sha: str) -> tuple[Check, ...]:
        checks = []
        for run in self.reader.get_all(f"{self.repo_path}/commits/{sha}/check-runs"):
            output = run.get("output") or {}
            if run.get("status") != "completed":
                state = "pending"
            elif run.get("conclusion") in FAILING:
                state = "failure"
            else:
                state = "success" if run.get("conclusion") == "success" else "neutral"
            summary = "\n".join(
                str(output.get(k) or "") for k in ("title", "summary", "text") if output.get(k)
            )
            url = str(run.get("html_url") or run.get("details_url") or "")
            checks.append(Check(str(run.get("name") or "check"), state, _text(summary), url))
        combined, _ = self.reader.get(f"{self.repo_path}/commits/{sha}/status")
        for status in (combined or {}).get("statuses") or []:
            raw = status.get("state")
            state = "failure" if raw in FAILING else "pending" if raw == "pending" else "success"
            name = str(status.get("context") or "status")
            description = _text(status.get("description"))
            checks.append(Check(name, state, description, str(status.get("target_url") or "")))
        return tuple(checks)


def pull_number(url: str | None) -> int | None:
    """The number of a PR from its web URL (``.../pull/12``)."""
    match = re.search(r"/pull/(\d+)(?:$|[/?#])", url or "")
    return int(match.group(1)) if match else None


def _skip_to(following: str, last: str, pages: int) -> str:
    """The next page to read so that the last ``pages`` pages are read: ``following`` if
    there are no more, else the ``last`` URL with the page number ``pages - 1`` before."""
    number = _page(last)
    if number is None or _page(following) is None or number - pages + 1 <= (_page(following) or 0):
        return following
    parts = urlsplit(last)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "page"]
    query.append(("page", str(number - pages + 1)))
    return parts.path + "?" + urlencode(query)


def _page(url: str) -> int | None:
    value = dict(parse_qsl(urlsplit(url).query)).get("page", "")
    return int(value) if value.isdigit() else None


def _relative(url: str) -> str:
    """A ``Link`` URL as a path and query (PyGithub's requester adds its own base)."""
    parts = urlsplit(url)
    path = parts.path
    if path.startswith("/api/v3/"):
        path = path[len("/api/v3") :]
    return path + ("?" + parts.query if parts.query else "")


def _remark(kind: str, item: dict[str, Any], stamp: str = "created_at", **extra: Any) -> Remark:
    """A review or comment as GitHub sent it, in the fields every kind shares."""
    return Remark(
        key=f"{kind}:{item.get('id')}",
        kind=kind,
        id=int(item.get("id") or 0),
        author=_login(item),
        body=_text(item.get("body")),
        created_at=str(item.get(stamp) or ""),
        url=str(item.get("html_url") or ""),
        **extra,
    )


def _login(item: dict[str, Any]) -> str:
    return str((item.get("user") or {}).get("login") or "")


def _text(value: Any) -> str:
    return str(value or "")[:BODY_LIMIT]
