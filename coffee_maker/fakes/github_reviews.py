"""The review side of the fake GitHub: reviews, review and issue comments, reactions, roles.

Routes (see the table in :mod:`coffee_maker.fakes.github`) and the helpers tests use to act
as a person on GitHub. As on GitHub, every review comment belongs to a review: a single
comment, or a reply, outside a review makes a ``COMMENTED`` review with an empty body; a
reply to a reply joins the thread of the comment it answers (``in_reply_to_id`` is the
thread's first comment).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from coffee_maker.fakes import github_git
from coffee_maker.fakes.github_http import paginate
from coffee_maker.fakes.github_json import PullLive, Shapes
from coffee_maker.fakes.github_state import (
    REACTIONS,
    REVIEW_STATES,
    ROLES,
    ApiError,
    FakeComment,
    FakePull,
    FakeReaction,
    FakeReview,
    RecordedRequest,
    missing_field,
    now,
)

Result = tuple[int, Any] | tuple[int, Any, dict[str, str]]


class ReviewRoutes:
    """Mixed into :class:`~coffee_maker.fakes.github.FakeGitHub`, which provides these."""

    login: str
    pulls: list[FakePull]
    roles: dict[str, dict[str, str]]
    git_remotes: dict[str, str]
    _lock: threading.RLock
    _ids: itertools.count

    _find_pull: Callable[[str, int | str], FakePull]
    live: Callable[[FakePull], PullLive]
    touch: Callable[[FakePull], str]

    # -- test helpers: what a person does on GitHub --------------------------------------------

    def set_permission(self, repo: str, login: str, role: str) -> None:
        """Give ``login`` a role on ``repo``: admin, maintain, write, triage, read or none."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        with self._lock:
            self.roles.setdefault(repo, {})[login] = role

    def add_issue_comment(self, repo: str, number: int, user: str, body: str) -> FakeComment:
        """``user`` comments on the conversation of pull request ``number``."""
        with self._lock:
            pull = self._find_pull(repo, number)
            self.touch(pull)
            stamp = now()
            comment = FakeComment(next(self._ids), user, body, stamp, stamp)
            pull.issue_comments.append(comment)
            return comment

    def add_review(
        self,
        repo: str,
        number: int,
        user: str,
        state: str,
        body: str = "",
        comments: Iterable[Mapping[str, Any]] = (),
    ) -> FakeReview:
        """``user`` submits a review; each of ``comments`` ({"path", "line", "body"}, and
        optionally "side": "LEFT") becomes a review comment of it on the current head."""
        if state not in REVIEW_STATES or state == "PENDING":
            states = ", ".join(s for s in REVIEW_STATES if s != "PENDING")
            raise ValueError(f"state must be one of {states}, not {state!r}")
        with self._lock:
            pull = self._find_pull(repo, number)
            review = self._new_review(pull, user, state, body)
            for c in comments:
                side = c.get("side", "RIGHT")
                self._new_review_comment(pull, user, c["path"], c["line"], c["body"], side, review)
            return review

    def add_review_comment(
        self,
        repo: str,
        number: int,
        user: str,
        path: str,
        line: int,
        body: str,
        in_reply_to: int | None = None,
        *,
        side: str = "RIGHT",
    ) -> FakeComment:
        """A single comment by ``user`` on ``line`` of ``path`` (or a reply in the thread of
        comment ``in_reply_to``, whose path and line it takes), in a new COMMENTED review."""
        with self._lock:
            pull = self._find_pull(repo, number)
            if in_reply_to is not None:
                return self._reply(pull, user, in_reply_to, body)
            review = self._new_review(pull, user, "COMMENTED", "")
            return self._new_review_comment(pull, user, path, line, body, side, review)

    def dismiss_review(self, repo: str, number: int, review_id: int) -> FakeReview:
        with self._lock:
            pull = self._find_pull(repo, number)
            review = next((r for r in pull.reviews if r.id == review_id), None)
            if review is None:
                raise ValueError(f"no review {review_id} on {repo}#{number}")
            review.state = "DISMISSED"
            self.touch(pull)
            return review

    # -- the state changes both share ----------------------------------------------------------

    def _new_review(self, pull: FakePull, user: str, state: str, body: str) -> FakeReview:
        self.touch(pull)
        stamp = now()
        review = FakeReview(next(self._ids), user, body, state, self.live(pull).head_sha, stamp)
        pull.reviews.append(review)
        return review

    def _new_review_comment(
        self,
        pull: FakePull,
        user: str,
        path: str,
        line: int,
        body: str,
        side: str,
        review: FakeReview,
    ) -> FakeComment:
        if side not in ("LEFT", "RIGHT"):
            raise ValueError(f"side must be LEFT or RIGHT, not {side!r}")
        live = self.live(pull)
        hunk, position = f"@@ -{line},1 +{line},1 @@", None
        remote = self.git_remotes.get(pull.repo)
        if remote:
            found = github_git.diff_hunk(remote, live.base_sha, live.head_sha, path, line, side)
            if found is None:  # GitHub: 422 "line must be part of the diff"
                raise ValueError(f"line {line} of {path} is not part of the diff")
            hunk, position = found
        self.touch(pull)
        stamp = now()
        comment = FakeComment(
            next(self._ids),
            user,
            body,
            stamp,
            stamp,
            path=path,
            line=line,
            side=side,
            commit_id=live.head_sha,
            diff_hunk=hunk,
            position=position,
            review_id=review.id,
        )
        pull.review_comments.append(comment)
        return comment

    def _reply(self, pull: FakePull, user: str, to: int, body: str) -> FakeComment:
        parent = next((c for c in pull.review_comments if c.id == to), None)
        if parent is None:
            raise ApiError(404, "Not Found")
        root = next((c for c in pull.review_comments if c.id == parent.in_reply_to_id), parent)
        review = self._new_review(pull, user, "COMMENTED", "")
        self.touch(pull)
        stamp = now()
        comment = FakeComment(
            next(self._ids),
            user,
            body,
            stamp,
            stamp,
            path=root.path,
            line=root.line,
            side=root.side,
            commit_id=root.commit_id,
            diff_hunk=root.diff_hunk,
            position=root.position,
            in_reply_to_id=root.id,
            review_id=review.id,
        )
        pull.review_comments.append(comment)
        return comment

    # -- routes ----------------------------------------------------------------------------

    def list_reviews(self, shapes: Shapes, req: RecordedRequest, repo: str, number: str) -> Result:
        pull = self._find_pull(repo, number)
        page, headers = paginate(req, _url(shapes, req), pull.reviews)
        return 200, [shapes.review(pull, r) for r in page], headers

    def list_review_comments(
        self, shapes: Shapes, req: RecordedRequest, repo: str, number: str
    ) -> Result:
        pull = self._find_pull(repo, number)
        found = _since(req, pull.review_comments)
        page, headers = paginate(req, _url(shapes, req), found)
        return 200, [shapes.review_comment(pull, c) for c in page], headers

    def reply_review_comment(
        self, shapes: Shapes, req: RecordedRequest, repo: str, number: str, comment_id: str
    ) -> Result:
        pull = self._find_pull(repo, number)
        text = req.body.get("body") if isinstance(req.body, dict) else None
        if not text:
            raise missing_field("PullRequestReviewComment", "body")
        comment = self._reply(pull, self.login, int(comment_id), text)
        return 201, shapes.review_comment(pull, comment)

    def list_issue_comments(
        self, shapes: Shapes, req: RecordedRequest, repo: str, number: str
    ) -> Result:
        pull = self._find_pull(repo, number)
        page, headers = paginate(req, _url(shapes, req), _since(req, pull.issue_comments))
        return 200, [shapes.issue_comment(pull, c) for c in page], headers

    def create_issue_comment(
        self, shapes: Shapes, req: RecordedRequest, repo: str, number: str
    ) -> Result:
        text = req.body.get("body") if isinstance(req.body, dict) else None
        if not text:
            raise missing_field("IssueComment", "body")
        pull = self._find_pull(repo, number)
        return 201, shapes.issue_comment(
            pull, self.add_issue_comment(repo, pull.number, self.login, text)
        )

    def create_reaction(
        self, shapes: Shapes, req: RecordedRequest, repo: str, kind: str, comment_id: str
    ) -> Result:
        """201 with a new reaction, 200 with the token's same reaction when it exists."""
        comment = self._find_comment(repo, kind, int(comment_id))
        content = req.body.get("content") if isinstance(req.body, dict) else None
        if not content:
            raise missing_field("Reaction", "content")
        if content not in REACTIONS:
            errors = [{"resource": "Reaction", "code": "invalid", "field": "content"}]
            raise ApiError(422, "Validation Failed", errors)
        for reaction in comment.reactions:
            if (reaction.user, reaction.content) == (self.login, content):
                return 200, shapes.reaction(reaction)
        reaction = FakeReaction(next(self._ids), self.login, content, now())
        comment.reactions.append(reaction)
        return 201, shapes.reaction(reaction)

    def list_reactions(
        self, shapes: Shapes, req: RecordedRequest, repo: str, kind: str, comment_id: str
    ) -> Result:
        comment = self._find_comment(repo, kind, int(comment_id))
        wanted = req.query.get("content")
        found = [r for r in comment.reactions if wanted in (None, r.content)]
        page, headers = paginate(req, _url(shapes, req), found)
        return 200, [shapes.reaction(r) for r in page], headers

    def get_comment(
        self, shapes: Shapes, req: RecordedRequest, repo: str, kind: str, comment_id: str
    ) -> Result:
        comment = self._find_comment(repo, kind, int(comment_id))
        pull = next(p for p in self.pulls if comment in (*p.issue_comments, *p.review_comments))
        if kind == "issues":
            return 200, shapes.issue_comment(pull, comment)
        return 200, shapes.review_comment(pull, comment)

    def get_permission(self, shapes: Shapes, req: RecordedRequest, repo: str, login: str) -> Result:
        """GitHub's legacy ``permission`` (admin, write, read, none: maintain reads as write,
        triage as read) and the ``role_name``. The repository's owner is admin; any other
        login is taken for an existing user and, unless given a role, gets "none", as GitHub
        answers for a user without access to a private repository (it 404s only for a login
        that is no user at all, which the fake does not model)."""
        return 200, shapes.permission(repo, login)

    def _find_comment(self, repo: str, kind: str, comment_id: int) -> FakeComment:
        for pull in self.pulls:
            if pull.repo == repo:
                pool = pull.issue_comments if kind == "issues" else pull.review_comments
                for comment in pool:
                    if comment.id == comment_id:
                        return comment
        raise ApiError(404, "Not Found")


def _url(shapes: Shapes, req: RecordedRequest) -> str:
    return shapes.api + req.path


def _since(req: RecordedRequest, comments: list[FakeComment]) -> list[FakeComment]:
    """``since``: only comments updated at or after that ISO 8601 time."""
    since = req.query.get("since")
    return [c for c in comments if not since or c.updated_at >= since]
