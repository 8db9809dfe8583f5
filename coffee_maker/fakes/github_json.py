"""GitHub's JSON shapes for the fake server: the fields PyGithub reads, with GitHub's URLs.

PyGithub follows the ``url`` fields it is given, so they must point back at the fake and
keep the ``/api/v3`` prefix of a GitHub Enterprise request; ``html_url`` is the web page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coffee_maker.fakes.github_state import (
    REACTIONS,
    FakeCheckRun,
    FakeComment,
    FakePull,
    FakeReaction,
    FakeReview,
    FakeStatus,
)

#: role -> (legacy ``permission``, the ``permissions`` flags), as GitHub maps them.
_ROLE_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
_ROLE_ORDER = ("read", "triage", "write", "maintain", "admin")


def _number(text: str, digits: int) -> int:
    """A stable id for a name, as GitHub's ids are stable."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:digits], 16)


def permission_flags(role: str) -> dict[str, bool]:
    """The ``permissions`` object of a repository or collaborator for ``role``."""
    rank = _ROLE_ORDER.index(role) if role in _ROLE_ORDER else -1
    names = ("pull", "triage", "push", "maintain", "admin")
    return {name: rank >= i for i, name in enumerate(names)}


@dataclass(frozen=True)
class PullLive:
    """What GitHub works out for a pull request when it is read."""

    head_sha: str
    base_sha: str
    mergeable: bool | None
    mergeable_state: str


@dataclass(frozen=True)
class Shapes:
    api: str  # the API base the request came in on, e.g. http://127.0.0.1:P/api/v3
    web: str  # the web base, for html_url
    login: str  # the authenticated user, author of what it creates
    repos: Mapping[str, Mapping[str, Any]]
    roles: Mapping[str, Mapping[str, str]]  # repo -> login -> role

    def user(self, login: str | None = None) -> dict[str, Any]:
        login = login or self.login
        return {
            "login": login,
            "id": _number(login, 6),
            "node_id": f"U_{login}",
            "avatar_url": f"{self.web}/{login}.png",
            "type": "User",
            "site_admin": False,
            "url": f"{self.api}/users/{login}",
            "html_url": f"{self.web}/{login}",
        }

    def role(self, repo: str, login: str) -> str:
        return self.roles.get(repo, {}).get(login, "none")

    def association(self, repo: str, login: str) -> str:
        if login == repo.split("/")[0]:
            return "OWNER"
        return "NONE" if self.role(repo, login) == "none" else "COLLABORATOR"

    def repo(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/", 1)
        url = f"{self.api}/repos/{full_name}"
        return {
            "id": _number(full_name, 8),
            "node_id": f"R_{full_name}",
            "name": name,
            "full_name": full_name,
            "private": True,
            "owner": self.user(owner),
            "html_url": f"{self.web}/{full_name}",
            "url": url,
            "pulls_url": url + "/pulls{/number}",
            "issues_url": url + "/issues{/number}",
            "default_branch": self.repos[full_name]["default_branch"],
            "permissions": permission_flags(self.role(full_name, self.login)),
        }

    def permission(self, repo: str, login: str) -> dict[str, Any]:
        role = self.role(repo, login)
        user = self.user(login) | {"permissions": permission_flags(role), "role_name": role}
        return {"permission": _ROLE_PERMISSION[role], "role_name": role, "user": user}

    def pull(self, pull: FakePull, live: PullLive) -> dict[str, Any]:
        url = f"{self.api}/repos/{pull.repo}/pulls/{pull.number}"
        issue_url = f"{self.api}/repos/{pull.repo}/issues/{pull.number}"
        html = f"{self.web}/{pull.repo}/pull/{pull.number}"
        repo = self.repo(pull.repo)

        def part(owner: str, ref: str, sha: str) -> dict[str, Any]:
            user = self.user(owner)
            return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha, "user": user, "repo": repo}

        return {
            "url": url,
            "id": 1000 + pull.number,
            "node_id": pull.node_id,
            "html_url": html,
            "diff_url": html + ".diff",
            "patch_url": html + ".patch",
            "issue_url": issue_url,
            "comments_url": issue_url + "/comments",
            "review_comments_url": url + "/comments",
            "review_comment_url": f"{self.api}/repos/{pull.repo}/pulls/comments{{/number}}",
            "commits_url": url + "/commits",
            "statuses_url": f"{self.api}/repos/{pull.repo}/statuses/{live.head_sha}",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user(pull.user),
            "body": pull.body,
            "labels": [],
            "created_at": pull.created_at,
            "updated_at": pull.updated_at,
            "closed_at": pull.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "draft": pull.draft,
            "head": part(pull.head_owner, pull.head, live.head_sha),
            "base": part(pull.repo.split("/")[0], pull.base, live.base_sha),
            "author_association": self.association(pull.repo, pull.user),
            "merged": pull.merged,
            "mergeable": live.mergeable,
            "rebaseable": live.mergeable,
            "mergeable_state": live.mergeable_state,
            "merged_by": self.user(pull.merged_by) if pull.merged_by else None,
            "comments": len(pull.issue_comments),
            "review_comments": len(pull.review_comments),
            "maintainer_can_modify": False,
        }

    def reactions(self, url: str, reactions: Sequence[FakeReaction]) -> dict[str, Any]:
        counts = {name: sum(r.content == name for r in reactions) for name in REACTIONS}
        return {"url": url + "/reactions", "total_count": len(reactions), **counts}

    def reaction(self, reaction: FakeReaction) -> dict[str, Any]:
        return {
            "id": reaction.id,
            "node_id": f"REA_{reaction.id}",
            "user": self.user(reaction.user),
            "content": reaction.content,
            "created_at": reaction.created_at,
        }

    def issue_comment(self, pull: FakePull, comment: FakeComment) -> dict[str, Any]:
        url = f"{self.api}/repos/{pull.repo}/issues/comments/{comment.id}"
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": url,
            "html_url": f"{self.web}/{pull.repo}/pull/{pull.number}#issuecomment-{comment.id}",
            "issue_url": f"{self.api}/repos/{pull.repo}/issues/{pull.number}",
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "author_association": self.association(pull.repo, comment.user),
            "reactions": self.reactions(url, comment.reactions),
        }

    def review_comment(self, pull: FakePull, comment: FakeComment) -> dict[str, Any]:
        url = f"{self.api}/repos/{pull.repo}/pulls/comments/{comment.id}"
        html = f"{self.web}/{pull.repo}/pull/{pull.number}#discussion_r{comment.id}"
        pull_url = f"{self.api}/repos/{pull.repo}/pulls/{pull.number}"
        shape = {
            "url": url,
            "pull_request_review_id": comment.review_id,
            "id": comment.id,
            "node_id": f"PRRC_{comment.id}",
            "diff_hunk": comment.diff_hunk,
            "path": comment.path,
            "position": comment.position,
            "original_position": comment.position,
            "commit_id": comment.commit_id,
            "original_commit_id": comment.commit_id,
            "user": self.user(comment.user),
            "body": comment.body,
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "html_url": html,
            "pull_request_url": pull_url,
            "author_association": self.association(pull.repo, comment.user),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "pull_request": {"href": pull_url},
            },
            "reactions": self.reactions(url, comment.reactions),
            "start_line": None,
            "original_start_line": None,
            "start_side": None,
            "line": comment.line,
            "original_line": comment.line,
            "side": comment.side,
            "subject_type": "line",
        }
        if comment.in_reply_to_id is not None:  # GitHub leaves the key out otherwise
            shape["in_reply_to_id"] = comment.in_reply_to_id
        return shape

    def review(self, pull: FakePull, review: FakeReview) -> dict[str, Any]:
        html = f"{self.web}/{pull.repo}/pull/{pull.number}#pullrequestreview-{review.id}"
        pull_url = f"{self.api}/repos/{pull.repo}/pulls/{pull.number}"
        return {
            "id": review.id,
            "node_id": f"PRR_{review.id}",
            "user": self.user(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pull_url,
            "author_association": self.association(pull.repo, review.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "submitted_at": None if review.state == "PENDING" else review.submitted_at,
            "commit_id": review.commit_id,
        }

    def commit(self, repo: str, sha: str, info: Mapping[str, Any]) -> dict[str, Any]:
        url = f"{self.api}/repos/{repo}/commits/{sha}"
        parents = [
            {"sha": p, "url": f"{self.api}/repos/{repo}/commits/{p}", "html_url": ""}
            for p in info["parents"]
        ]
        tree = info["tree"]
        return {
            "sha": sha,
            "node_id": f"C_{sha}",
            "url": url,
            "html_url": f"{self.web}/{repo}/commit/{sha}",
            "comments_url": url + "/comments",
            "commit": {
                "url": f"{self.api}/repos/{repo}/git/commits/{sha}",
                "message": info["message"],
                "author": info["author"],
                "committer": info["committer"],
                "tree": {"sha": tree, "url": f"{self.api}/repos/{repo}/git/trees/{tree}"},
                "comment_count": 0,
            },
            "author": None,
            "committer": None,
            "parents": parents,
            "files": [],
        }

    def check_run(self, run: FakeCheckRun) -> dict[str, Any]:
        url = f"{self.api}/repos/{run.repo}/check-runs/{run.id}"
        html = f"{self.web}/{run.repo}/runs/{run.id}"
        owner = self.user(run.repo.split("/")[0])
        return {
            "id": run.id,
            "node_id": f"CR_{run.id}",
            "head_sha": run.head_sha,
            "external_id": "",
            "url": url,
            "html_url": html,
            "details_url": run.details_url or html,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "output": {
                "title": run.title or None,
                "summary": run.summary or None,
                "text": run.text or None,
                "annotations_count": 0,
                "annotations_url": url + "/annotations",
            },
            "name": run.name,
            "check_suite": {"id": _number(f"{run.repo}:{run.head_sha}:{run.app}", 8)},
            "app": {
                "id": _number(run.app, 6),
                "slug": run.app,
                "node_id": f"A_{run.app}",
                "name": run.app.replace("-", " ").title(),
                "owner": owner,
                "html_url": f"{self.web}/apps/{run.app}",
            },
            "pull_requests": [],
        }

    def status(self, status: FakeStatus) -> dict[str, Any]:
        return {
            "url": f"{self.api}/repos/{status.repo}/statuses/{status.sha}",
            "avatar_url": None,
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "state": status.state,
            "description": status.description or None,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": status.created_at,
            "updated_at": status.updated_at,
            "creator": self.user(status.creator),
        }

    def combined_status(
        self, repo: str, sha: str, state: str, statuses: Sequence[FakeStatus]
    ) -> dict[str, Any]:
        return {
            "state": state,
            "statuses": [self.status(s) for s in statuses],
            "sha": sha,
            "total_count": len(statuses),
            "repository": self.repo(repo),
            "commit_url": f"{self.api}/repos/{repo}/commits/{sha}",
            "url": f"{self.api}/repos/{repo}/commits/{sha}/status",
        }
