"""Opening (or updating) the pull request that carries a finished priority, through PyGithub.

A daemon that crashes after pushing must not open a second PR on its next run, and two runs
racing must not either: so an open PR for the branch is looked up first and updated, and
GitHub's 422 "already exists" is treated as "someone was faster", not as a failure. Every
error becomes one :class:`PullRequestError` line that says what to fix, with the token
redacted. The PR's title and body are rendered by :mod:`coffee_maker.autonomous.pr_body`
(re-exported here).

PyGithub (with requests, PyJWT and cryptography, ~20 MB resident) is imported when a
publisher is built, not with this module: a daemon that has nothing to publish, and the
commands that only name :class:`PullRequestError`, never load it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from coffee_maker.autonomous.pr_body import (  # noqa: F401  (the module's public names)
    BODY_LIMIT,
    TITLE_LIMIT,
    PullRequestContent,
    pr_title,
    render_pr_body,
)
from coffee_maker.errors import UserError
from coffee_maker.logging import get_logger
from coffee_maker.secrets import redact_text, register_secret_value

if TYPE_CHECKING:
    from github import Github, GithubException, GithubRetry
    from github.PullRequest import PullRequest
    from github.Repository import Repository

log = get_logger(__name__)

DEFAULT_API_URL = "https://api.github.com"
MAX_RETRIES = 3
#: The longest we ever sleep for a rate limit or a Retry-After header, in seconds.
MAX_RATE_LIMIT_WAIT = 60


class PullRequestError(UserError):
    """A pull request could not be opened or updated; the message says why, on one line."""


@dataclass(frozen=True)
class PullRequestInfo:
    number: int
    url: str
    created: bool  # False: an existing open PR for the branch was updated
    draft: bool


class PullRequestPublisher:
    """Opens or updates the PR for a branch of ``repo_full_name`` (``owner/name``)."""

    def __init__(
        self,
        repo_full_name: str,
        token: str,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 15,
        *,
        token_env: str = "GITHUB_TOKEN",
        retry_backoff: float = 1.0,
        throttle: bool = True,
    ) -> None:
        """``throttle=False`` drops PyGithub's pacing (0.25 s between requests, 1 s between
        writes, GitHub's advice against secondary rate limits): for a local fake server only.
        """
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_full_name or ""):
            raise PullRequestError(
                f"github.repo must be 'owner/name', got {repo_full_name!r}; "
                "set it in the config or give the repository an origin remote on GitHub"
            )
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PullRequestError(
                redact_text(
                    f"github.api_url must be an http(s) URL such as {DEFAULT_API_URL} or "
                    f"https://HOST/api/v3 (GitHub Enterprise), got {api_url!r}"
                )
            )
        if not token:
            raise PullRequestError(f"no GitHub token: set {token_env} to open pull requests")
        register_secret_value(token)
        self.repo_full_name = repo_full_name
        self.owner = repo_full_name.split("/")[0]
        self.api_url = api_url.rstrip("/")
        self.token_env = token_env
        #: What this publisher was built from: the same publisher can be built again
        #: elsewhere (``push_check`` asks GitHub from a child process).
        self.options: dict[str, Any] = {
            "repo_full_name": repo_full_name,
            "token": token,
            "api_url": self.api_url,
            "timeout": timeout,
            "token_env": token_env,
            "retry_backoff": retry_backoff,
            "throttle": throttle,
        }
        self._repo: Repository | None = None
        self._github: Github | None = None

    def open_or_update(
        self,
        head_branch: str,
        base_branch: str,
        title: str,
        body: str,
        draft: bool = False,
        comment: str | None = None,
    ) -> PullRequestInfo:
        """Create the PR, or update the open one for ``head_branch`` (adding ``comment`` if given).

        Editing a body notifies nobody, hence the optional comment on updates.
        """
        from github import GithubException

        with self.translate_errors(f"open a pull request for {head_branch} into {base_branch}"):
            pull = self._find_open(head_branch, base_branch)
            if pull is None:
                try:
                    pull = self._get_repo().create_pull(
                        base=base_branch, head=head_branch, title=title, body=body, draft=draft
                    )
                    log.info("pull request opened", number=pull.number, url=pull.html_url)
                    return _info(pull, created=True)
                except GithubException as exc:
                    if not _already_exists(exc):
                        raise
                pull = self._find_open(head_branch, base_branch)
                if pull is None:
                    raise PullRequestError(
                        f"GitHub says a pull request for {self.owner}:{head_branch} already "
                        f"exists, but none is open into {base_branch}; check the repository"
                    )
            return self._update(pull, title, body, draft, comment)

    def find_open(self, head_branch: str, base_branch: str | None = None) -> PullRequestInfo | None:
        """The open PR for a branch, if any (how a restarted daemon finds its earlier work)."""
        with self.translate_errors(f"look up the pull request for {head_branch}"):
            pull = self._find_open(head_branch, base_branch)
            return None if pull is None else _info(pull, created=False)

    def push_access(self) -> bool | None:
        """Whether the token may push to the repository (None: GitHub did not say).

        Asked before any work, so that a token which cannot see the repository (a
        PullRequestError naming the token's variable) fails before the model is paid.
        """
        with self.translate_errors(f"read the repository {self.repo_full_name}"):
            permissions = self._get_repo().permissions
        return getattr(permissions, "push", None)

    # -- the review loop's writes -------------------------------------------------------
    def comment(self, number: int, body: str) -> None:
        """A comment on the PR's conversation (no key ever goes out in one)."""
        with self.translate_errors(f"comment on pull request #{number}"):
            self._post(f"/issues/{number}/comments", {"body": redact_text(body)})

    def reply_inline(self, number: int, comment_id: int, body: str) -> None:
        """A reply in the thread of an inline review comment."""
        with self.translate_errors(f"reply to review comment {comment_id} on #{number}"):
            path = f"/pulls/{number}/comments/{comment_id}/replies"
            self._post(path, {"body": redact_text(body)})

    def react(self, kind: str, comment_id: int, content: str = "eyes") -> None:
        """A reaction on an issue comment (``kind="comment"``) or an inline one."""
        where = "pulls" if kind == "inline" else "issues"
        with self.translate_errors(f"react to comment {comment_id}"):
            self._post(f"/{where}/comments/{comment_id}/reactions", {"content": content})

    def _post(self, path: str, data: dict[str, Any]) -> None:
        url = f"/repos/{self.repo_full_name}{path}"
        self._client().requester.requestJsonAndCheck("POST", url, input=data)

    @property
    def github(self) -> Github:
        """The PyGithub client (its requester serves conditional GETs)."""
        return self._client()

    def close(self) -> None:
        if self._github is not None:
            self._github.close()

    def _client(self) -> Github:
        if self._github is None:
            from github import Auth, Github

            options = self.options
            pacing = {"seconds_between_requests": 0, "seconds_between_writes": 0}
            self._github = Github(
                auth=Auth.Token(options["token"]),
                base_url=self.api_url,
                timeout=max(1, round(options["timeout"])),  # PyGithub insists on whole seconds
                retry=_bounded_retry(options["retry_backoff"]),
                **({} if options["throttle"] else pacing),
            )
        return self._github

    def _get_repo(self) -> Repository:
        if self._repo is None:
            self._repo = self._client().get_repo(self.repo_full_name)
        return self._repo

    def _find_open(self, head_branch: str, base_branch: str | None) -> PullRequest | None:
        filters: dict[str, Any] = {"state": "open", "head": f"{self.owner}:{head_branch}"}
        if base_branch:
            filters["base"] = base_branch
        return next(iter(self._get_repo().get_pulls(**filters)), None)

    def _update(
        self, pull: PullRequest, title: str, body: str, draft: bool, comment: str | None
    ) -> PullRequestInfo:
        if (pull.title, pull.body or "") != (title, body):
            pull.edit(title=title, body=body)
        if bool(pull.draft) != draft:
            # REST cannot change the draft flag; these two GraphQL mutations can.
            if draft:
                pull.convert_to_draft()
            else:
                pull.mark_ready_for_review()
        if comment:
            pull.create_issue_comment(comment)
        log.info("pull request updated", number=pull.number, url=pull.html_url)
        return _info(pull, created=False)

    @contextmanager
    def translate_errors(self, doing: str) -> Iterator[None]:
        import requests
        from github import GithubException

        try:
            yield
        except GithubException as exc:
            raise PullRequestError(redact_text(self._describe(exc, doing))) from exc
        except requests.exceptions.RetryError as exc:
            reason = getattr(exc.args[0], "reason", exc) if exc.args else exc
            message = (
                f"could not {doing}: GitHub at {self.api_url} kept failing ({reason}) "
                f"after {MAX_RETRIES} retries; try again later"
            )
            raise PullRequestError(redact_text(message)) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            message = (
                f"could not {doing}: GitHub at {self.api_url} is unreachable "
                f"({type(exc).__name__}); check the network and github.api_url"
            )
            raise PullRequestError(redact_text(message)) from exc

    def _describe(self, exc: GithubException, doing: str) -> str:
        from github.GithubException import (
            BadCredentialsException,
            RateLimitExceededException,
            UnknownObjectException,
        )

        message = _github_message(exc)
        if isinstance(exc, BadCredentialsException):
            return (
                f"could not {doing}: GitHub rejected the token (401 {message}); "
                f"check the token in ${self.token_env}"
            )
        if isinstance(exc, RateLimitExceededException):
            return (
                f"could not {doing}: GitHub rate limit exceeded for the token in "
                f"${self.token_env} ({message}); the daemon will try again later"
            )
        if isinstance(exc, UnknownObjectException) or exc.status == 404:
            return (
                f"could not {doing}: repository {self.repo_full_name} not found at "
                f"{self.api_url}, or the token in ${self.token_env} has no access to it"
            )
        if exc.status == 403:
            return (
                f"could not {doing}: GitHub refused (403 {message}); the token in "
                f"${self.token_env} needs write access to pull requests of {self.repo_full_name}"
            )
        return f"could not {doing}: GitHub answered {exc.status} ({message})"


def _bounded_retry(backoff: float) -> GithubRetry:
    """At most 3 retries, and never an hour's sleep for a rate limit reset (the default)."""
    from github import GithubRetry

    return GithubRetry(
        total=MAX_RETRIES,
        backoff_factor=backoff,
        backoff_max=MAX_RATE_LIMIT_WAIT,
        retry_after_max=MAX_RATE_LIMIT_WAIT,
        secondary_rate_wait=MAX_RATE_LIMIT_WAIT,
        max_rate_limit_wait=MAX_RATE_LIMIT_WAIT,
    )


def _info(pull: PullRequest, created: bool) -> PullRequestInfo:
    return PullRequestInfo(pull.number, pull.html_url, created, bool(pull.draft))


def _github_message(exc: GithubException) -> str:
    """GitHub's message plus each validation error's message, on one line."""
    data = exc.data if isinstance(exc.data, dict) else {}
    parts = [str(data.get("message") or exc.message or "no message")]
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            detail = error.get("message") or " ".join(
                str(error[k]) for k in ("resource", "field", "code") if error.get(k)
            )
        else:
            detail = str(error)
        parts.append(detail)
    return ": ".join(parts).replace("\n", " ")


def _already_exists(exc: GithubException) -> bool:
    return exc.status == 422 and "already exists" in _github_message(exc)
