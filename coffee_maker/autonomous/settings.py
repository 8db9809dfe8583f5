"""The daemon's settings (the ``daemon:`` and ``github:`` sections of the config file).

Defined here, by the layer that uses them; :mod:`coffee_maker.config` puts every layer's
section together into the one file the user writes.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DaemonSettings(_Strict):
    roadmap: str = "ROADMAP.md"
    base_branch: str | None = Field(None, min_length=1)  # None: the remote's default branch
    branch_prefix: str = "coffee-maker/"
    test_command: str | None = None
    #: Prepares the worktree's test environment instead of the detected venv/node_modules.
    setup_command: str | None = None
    interval: float = Field(30.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    create_prs: bool = True
    draft_on_test_failure: bool = True
    # A verdict of only pre-existing failures opens a ready PR and completes the priority.
    ready_on_preexisting_failures: bool = False
    remote: str = "origin"
    # The review loop: the PRs it opened are looked at this often (seconds); a comment
    # mentioning the trigger, a review asking for changes or a failing check starts a
    # follow-up on the PR's branch, from accounts with write access or listed here.
    review_poll_interval: float = Field(120.0, gt=0)
    review_trigger: str = Field("@coffee-maker", min_length=1)
    reviewers: list[str] = Field(default_factory=list)
    max_followups: int = Field(5, ge=0)  # per PR
    max_ci_repairs: int = Field(2, ge=0)  # per PR


class GitHubSettings(_Strict):
    repo: str | None = None
    api_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"

    @field_validator("repo")
    @classmethod
    def _owner_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            raise ValueError("must be owner/name")
        return value
