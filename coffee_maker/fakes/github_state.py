"""What the fake GitHub holds: pull requests, their comments and reviews, checks, statuses.

Tests read and change these objects directly, or through the helpers on
:class:`~coffee_maker.fakes.github.FakeGitHub` (which also keep ``updated_at`` right).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DOCS = "https://docs.github.com/rest"
ROLES = ("admin", "maintain", "write", "triage", "read", "none")
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CHECK_CONCLUSIONS = (
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "stale",
)
STATUS_STATES = ("error", "failure", "pending", "success")
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class RecordedRequest:
    """One request as the server saw it; ``path`` is without the ``/api/v3`` prefix."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    prefix: str = ""


class ApiError(Exception):
    """Raised inside a route to answer with GitHub's error shape."""

    def __init__(self, status: int, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
        if errors is not None:
            self.body["errors"] = errors
        self.body["status"] = str(status)


def missing_field(resource: str, name: str) -> ApiError:
    errors = [{"resource": resource, "field": name, "code": "missing_field"}]
    return ApiError(422, "Validation Failed", errors)


def custom_error(resource: str, message: str) -> ApiError:
    errors = [{"resource": resource, "code": "custom", "message": message}]
    return ApiError(422, "Validation Failed", errors)


def now(after: str = "") -> str:
    """GitHub's timestamp for now, strictly later than ``after``: each change to an object
    moves its ``updated_at`` (and so its ETag), even twice in one second."""
    stamp = datetime.now(UTC).strftime(_STAMP)
    if after and stamp <= after:
        later = datetime.strptime(after, _STAMP).replace(tzinfo=UTC) + timedelta(seconds=1)
        stamp = later.strftime(_STAMP)
    return stamp


def fake_sha(text: str) -> str:
    """A stable 40-hex commit id for a name, where no real repository is behind the fake."""
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class FakeReaction:
    id: int
    user: str
    content: str
    created_at: str


@dataclass
class FakeComment:
    """An issue comment (``path`` is None) or a pull request review comment."""

    id: int
    user: str
    body: str
    created_at: str
    updated_at: str
    reactions: list[FakeReaction] = field(default_factory=list)
    # review comments only
    path: str | None = None
    line: int | None = None
    side: str = "RIGHT"
    commit_id: str = ""
    diff_hunk: str = ""
    position: int | None = None
    in_reply_to_id: int | None = None
    review_id: int | None = None


@dataclass
class FakeReview:
    id: int
    user: str
    body: str
    state: str
    commit_id: str
    submitted_at: str


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
    user: str = ""
    created_at: str = ""
    updated_at: str = ""
    closed_at: str | None = None
    merged_at: str | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    # None: read live (from the bare repository in ``git_remotes``, else a stable fake sha);
    # pinned when the pull request is closed or merged, or by a test.
    head_sha: str | None = None
    base_sha: str | None = None
    seen_head_sha: str | None = None  # the head when last read: a push moves updated_at
    issue_comments: list[FakeComment] = field(default_factory=list)
    review_comments: list[FakeComment] = field(default_factory=list)
    reviews: list[FakeReview] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.head_owner}:{self.head}"

    @property
    def node_id(self) -> str:
        return f"PR_fake{self.number}"

    @property
    def merged(self) -> bool:
        return self.merged_at is not None

    @property
    def comments(self) -> list[str]:
        """The issue comments' texts, oldest first."""
        return [c.body for c in self.issue_comments]


@dataclass
class FakeCheckRun:
    id: int
    repo: str
    head_sha: str
    name: str
    status: str
    conclusion: str | None
    started_at: str
    completed_at: str | None
    title: str = ""
    summary: str = ""
    text: str = ""
    details_url: str | None = None
    app: str = "github-actions"


@dataclass
class FakeStatus:
    id: int
    repo: str
    sha: str
    context: str
    state: str
    description: str
    target_url: str | None
    creator: str
    created_at: str
    updated_at: str
