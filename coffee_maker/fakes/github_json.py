"""GitHub's JSON shapes for the fake server: the fields PyGithub reads, with GitHub's URLs.

PyGithub follows the ``url`` fields it is given, so they must point back at the fake and
keep the ``/api/v3`` prefix of a GitHub Enterprise request; ``html_url`` is the web page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coffee_maker.fakes.github import FakePull


def _number(text: str, digits: int) -> int:
    """A stable id for a name, as GitHub's ids are stable."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:digits], 16)


@dataclass(frozen=True)
class Shapes:
    api: str  # the API base the request came in on, e.g. http://127.0.0.1:P/api/v3
    web: str  # the web base, for html_url
    login: str  # the authenticated user, author of what it creates
    repos: Mapping[str, Mapping[str, Any]]

    def user(self, login: str | None = None) -> dict[str, Any]:
        login = login or self.login
        return {
            "login": login,
            "id": _number(login, 6),
            "node_id": f"U_{login}",
            "type": "User",
            "site_admin": False,
            "url": f"{self.api}/users/{login}",
            "html_url": f"{self.web}/{login}",
        }

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
            "permissions": dict(self.repos[full_name]["permissions"]),
        }

    def pull(self, pull: FakePull) -> dict[str, Any]:
        issue_url = f"{self.api}/repos/{pull.repo}/issues/{pull.number}"
        html = f"{self.web}/{pull.repo}/pull/{pull.number}"
        repo = self.repo(pull.repo)

        def part(owner: str, ref: str) -> dict[str, Any]:
            sha = hashlib.sha1(f"{pull.repo}:{ref}".encode()).hexdigest()
            return {
                "label": f"{owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self.user(owner),
                "repo": repo,
            }

        return {
            "url": f"{self.api}/repos/{pull.repo}/pulls/{pull.number}",
            "id": 1000 + pull.number,
            "node_id": pull.node_id,
            "html_url": html,
            "diff_url": html + ".diff",
            "patch_url": html + ".patch",
            "issue_url": issue_url,
            "comments_url": issue_url + "/comments",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user(),
            "body": pull.body,
            "labels": [],
            "created_at": pull.created_at,
            "updated_at": pull.updated_at,
            "closed_at": None,
            "merged_at": None,
            "draft": pull.draft,
            "head": part(pull.head_owner, pull.head),
            "base": part(pull.repo.split("/")[0], pull.base),
            "author_association": "CONTRIBUTOR",
            "merged": False,
            "comments": len(pull.comments),
        }

    def comment(self, pull: FakePull, comment_id: int, text: str) -> dict[str, Any]:
        return {
            "id": comment_id,
            "url": f"{self.api}/repos/{pull.repo}/issues/comments/{comment_id}",
            "html_url": f"{self.web}/{pull.repo}/pull/{pull.number}#issuecomment-{comment_id}",
            "issue_url": f"{self.api}/repos/{pull.repo}/issues/{pull.number}",
            "body": text,
            "user": self.user(),
            "created_at": pull.updated_at,
            "updated_at": pull.updated_at,
        }
