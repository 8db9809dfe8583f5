"""Pull requests of the fake GitHub: routes, and the lifecycle a person drives on GitHub.

A pull request's ``head.sha`` and ``base.sha`` are read live (see :meth:`PullRoutes.live`)
until it is closed or merged, which pins them, as GitHub does.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from typing import Any

from coffee_maker.fakes import github_git
from coffee_maker.fakes.github_git import MergeConflict
from coffee_maker.fakes.github_http import Reply, paginate
from coffee_maker.fakes.github_json import PullLive, Shapes
from coffee_maker.fakes.github_state import (
    ApiError,
    FakePull,
    RecordedRequest,
    custom_error,
    fake_sha,
    missing_field,
    now,
)

_MUTATION_RE = re.compile(r"\b(markPullRequestReadyForReview|convertPullRequestToDraft)\s*\(")


class PullRoutes:
    """Mixed into :class:`~coffee_maker.fakes.github.FakeGitHub`, which provides these."""

    login: str
    pulls: list[FakePull]
    git_remotes: dict[str, str]
    _lock: threading.RLock
    _ids: itertools.count
    resolve: Callable[[str, str], str | None]
    checks_state: Callable[[str, str], str]

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
            if pull.state != "open" or pull.draft:
                what = "a draft" if pull.state == "open" else pull.state
                raise MergeConflict(f"{repo}#{number} is {what}, not open for merging")
            live, by = self.live(pull), by or self.login
            remote = self.git_remotes.get(repo)
            if live.mergeable is None:
                raise MergeConflict(f"{pull.head} or {pull.base} is not a branch in {remote}")
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
        """Move ``updated_at``, as every change to a pull request, its comments or its reviews
        does on GitHub: strictly later than before (by a second if need be), so the pull
        request's ETag changes with each change, even two in one second."""
        pull.updated_at = now(after=pull.updated_at)
        return pull.updated_at

    def live(self, pull: FakePull) -> PullLive:
        """head and base shas, and whether (and how) the pull request can be merged now."""
        remote = self.git_remotes.get(pull.repo)
        head = pull.head_sha or self.resolve(pull.repo, pull.head)
        base = pull.base_sha or self.resolve(pull.repo, pull.base)
        known = head is not None and base is not None  # else missing from the bare repository
        head = head or fake_sha(f"{pull.repo}:{pull.head}")
        base = base or fake_sha(f"{pull.repo}:{pull.base}")
        if pull.state != "open" or not known:
            return PullLive(head, base, None, "unknown")
        if head != pull.seen_head_sha:
            if pull.seen_head_sha is not None:
                self.touch(pull)  # a push to the head branch
            pull.seen_head_sha = head
        clean = github_git.merges_cleanly(remote, base, head) if remote else True
        if clean is None:
            state = "unknown"
        elif not clean:
            state = "dirty"
        elif pull.draft:
            state = "draft"
        else:
            state = "clean" if self.checks_state(pull.repo, head) == "success" else "unstable"
        return PullLive(head, base, clean, state)

    def _find_pull(self, repo: str, number: int | str) -> FakePull:
        for pull in self.pulls:
            if pull.repo == repo and pull.number == int(number):
                return pull
        raise ApiError(404, "Not Found")

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
