"""How a run ends, and the one place each ending is written to the repository's state.

An interrupted run is recorded the same way wherever the interruption is noticed: by the
iteration itself (a stop, Ctrl-C twice), by the daemon giving up on it after its grace
period, or by the next daemon finding a run its dead predecessor never finished. Each
records a deferred attempt (not the model's failure), clears ``current`` and removes the
worktree, through :func:`end_interrupted_run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.autonomous import git_ops
from coffee_maker.autonomous.state import Outcome, RepoState
from coffee_maker.errors import UserError
from coffee_maker.logging import get_logger

if TYPE_CHECKING:
    from coffee_maker.agent import AgentResult


log = get_logger(__name__)


class Ending(StrEnum):
    """How an iteration ended (the command line maps each to an exit code: README, "Exit codes")."""

    PR_OPENED = "pr_opened"
    PUSHED = "pushed"  # --no-pr or create_prs: false
    FOLLOWED_UP = "followed_up"  # a follow-up on a PR's review or checks
    PR_RECORDED = "pr_recorded"  # a PR it opened was merged or closed
    NOTHING_TO_DO = "nothing_to_do"
    DRY_RUN = "dry_run"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"  # every provider unavailable, or the budget spent
    INTERRUPTED = "interrupted"  # a stop was requested
    ENVIRONMENT_BROKEN = "environment_broken"  # the tests cannot run before any change
    NOT_READY = "not_ready"  # --dry-run: a preflight check failed (the user's to fix)


@dataclass
class IterationResult:
    ending: Ending
    message: str
    priority: str | None = None
    branch: str | None = None
    pr_url: str | None = None
    next_retry_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunOptions:
    """The command line's choices for one daemon (``code-developer --help``; README)."""

    repo: Path
    provider: str | None = None
    no_fallback: bool = False
    dry_run: bool = False
    priority: str | None = None
    no_pr: bool = False
    once: bool = False  # --once: look at the PRs now, whatever review_poll_interval says


class UnknownPriorityError(UserError):
    """``--priority ID`` names no priority of the roadmap, or an id several headings carry."""


def end_interrupted_run(
    repo: Path, state: RepoState, detail: str, worktree: Path | None = None
) -> str | None:
    """Record the state's current run as interrupted, clear it and remove its worktree.

    ``detail`` follows "interrupted during <step>" (": stop requested", " (process 12
    ended)"). Returns the reason recorded, or None when no run was current (another path
    already ended it). ``worktree`` defaults to the one the state recorded.
    """
    current = state.current
    if not current:
        return None
    reason = f"interrupted during {current.get('step')}{detail}"
    extra = {"branch": current["branch"]} if current.get("branch") else {}
    state.record_attempt(current["priority"], Outcome.DEFERRED, reason, **extra)
    state.clear_current()
    path = worktree or current.get("worktree")
    if path:
        git_ops.remove_worktree(repo, Path(path))
    return reason


def record_bench_problem(
    state: RepoState, priority_id: str, branch: str, reason: str
) -> IterationResult:
    """The tests cannot run before any change: not the model's failure, no attempt."""
    state.record_attempt(priority_id, Outcome.DEFERRED, reason, branch=branch)
    return IterationResult(Ending.ENVIRONMENT_BROKEN, f"{priority_id}: {reason}", priority_id)


def record_failure(
    state: RepoState,
    max_attempts: int,
    priority_id: str,
    result: AgentResult | None,
    branch: str,
    reason: str,
    pr_url: str | None = None,
    extra: dict[str, Any] | None = None,
) -> IterationResult:
    """A failed attempt; the ``max_attempts``-th blocks the priority (the message says so).
    ``extra``: more for the history entry (a cascade's tier tries)."""
    details: dict[str, Any] = {"branch": branch, "pr_url": pr_url, **(extra or {})}
    if result is not None:
        details.update(status=result.status.value, cost=round(result.cost, 6))
        if result.judgement is not None:
            details["verdict"] = result.judgement.verdict.value
    record = state.record_attempt(priority_id, Outcome.FAILURE, reason, max_attempts, **details)
    blocked = "; now blocked (use --priority to retry it)" if record["blocked"] else ""
    message = f"{priority_id}: {reason}{blocked}"
    return IterationResult(Ending.FAILED, message, priority_id, branch, pr_url)


def record_unavailable(
    state: RepoState,
    priority_id: str,
    reason: str,
    result: AgentResult,
    extra: dict[str, Any] | None = None,
) -> IterationResult:
    """No provider could work (or the budget is spent): deferred, retried when one can."""
    state.record_attempt(priority_id, Outcome.DEFERRED, reason, cost=result.cost, **(extra or {}))
    retry = datetime.fromtimestamp(result.retry_at, UTC) if result.retry_at else None
    message = f"{priority_id}: {reason}"
    return IterationResult(Ending.UNAVAILABLE, message, priority_id, next_retry_at=retry)


def recover_interrupted_run(repo: Path, state: RepoState) -> None:
    """At the start of an iteration (the lock held): a run the state still calls current
    was killed; record it and remove what it and any other dead run left behind."""
    current = state.current
    if current:
        log.warning(
            "the previous run was interrupted; starting again",
            priority=current.get("priority"),
            step=current.get("step"),
        )
        end_interrupted_run(repo, state, f" (process {current.get('pid')} ended)")
    for cleaned in git_ops.clean_stale_worktrees(repo):
        log.info("removed a worktree left by an earlier run", path=cleaned)
