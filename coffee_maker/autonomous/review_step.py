"""The review loop's step in an iteration: one follow-up, or one PR that ended.

:func:`take_review_work` runs before an iteration turns to the roadmap; what to take is
decided by :mod:`review_loop`, a follow-up runs in :mod:`followup`, and a merged or closed
PR is recorded here (:func:`finish_pull`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from coffee_maker.autonomous import followup_git, git_ops, publishing
from coffee_maker.autonomous.followup import run_followup
from coffee_maker.autonomous.planning import load_base_roadmap
from coffee_maker.autonomous.pull_requests import PullRequestError
from coffee_maker.autonomous.review_loop import FollowUp, PullEnded, ReviewLoop
from coffee_maker.autonomous.roadmap import PriorityLookupError
from coffee_maker.autonomous.roadmap import Status as RoadmapStatus
from coffee_maker.autonomous.run_endings import Ending, IterationResult
from coffee_maker.logging import bind_context, get_logger
from coffee_maker.wording import count_of

if TYPE_CHECKING:
    from coffee_maker.autonomous.iteration import Iteration

log = get_logger(__name__)


def take_review_work(iteration: Iteration, only: int | None = None) -> IterationResult | None:
    """The PRs it opened first: one follow-up, or one merged or closed PR to record
    (review_loop.py); None when there is none. Not with ``--priority`` (the user asked for
    that one) nor without pull requests. ``only``: that PR alone, now (the fleet's
    workflow, whose timer said it is due)."""
    if only is None and (iteration.options.priority or not iteration.wants_pr()):
        return None
    loop = ReviewLoop(iteration.config, iteration.repo, iteration.state, iteration.publisher)
    loop.only = only
    try:
        loop.adopt()
        due = loop.due(force=iteration.options.once or only is not None)
        if not loop.open_pulls() or not due:
            return None
        iteration.on_step(f"looking at {count_of(len(loop.open_pulls()), 'open pull request')}")
        try:
            work = loop.next_work()
        except PullRequestError as exc:
            log.warning("could not look at the pull requests", error=str(exc))
            return None
        if work is None:
            return None
        if iteration.should_stop():
            return IterationResult(Ending.INTERRUPTED, "stop requested; nothing started")
        bind_context(priority=work.priority_id)
        try:
            if isinstance(work, FollowUp):
                return run_followup(iteration, loop, work)
            return finish_pull(iteration, loop, work)
        finally:
            bind_context(priority=None, provider=None)
    finally:
        loop.close()


def finish_pull(iteration: Iteration, loop: ReviewLoop, ended: PullEnded) -> IterationResult:
    """Record a PR that ended. Merged: its priority Complete in the roadmap on the base
    branch (the branch usually carried that change, and then nothing is done); closed
    without merge: the priority Blocked, never reopened on its own."""
    pull, priority_id = ended.pull, ended.priority_id
    if pull.state != "merged":
        message = loop.record_closed(ended)
        return IterationResult(Ending.PR_RECORDED, message, priority_id, pull.head_branch, pull.url)
    config, repo = iteration.config, iteration.repo
    try:
        priority = load_base_roadmap(repo, config, fetch=True).find(priority_id)
    except PriorityLookupError:
        priority = None
    if priority is None:
        done = "not in the roadmap on the base branch; nothing marked"
    elif priority.status is RoadmapStatus.COMPLETE:
        done = "already Complete on the base branch"
    else:
        roadmap = config.daemon.roadmap

        def mark(path: Path) -> bool:
            file = path / roadmap
            if not file.exists():
                return False
            before = file.read_bytes()
            publishing.mark_complete(
                git_ops.Worktree(path, pull.base_branch, ""), roadmap, priority
            )
            return file.read_bytes() != before

        message = f"Mark {priority_id} complete: PR #{pull.number} was merged"
        try:
            sha = followup_git.commit_on_base(
                repo, pull.base_branch, config.daemon.remote, message, mark
            )
        except git_ops.GitError as exc:
            done = f"could not mark it Complete on {pull.base_branch}: {exc}"
            log.warning(done, priority=priority_id, number=pull.number)
        else:
            done = (
                f"marked Complete on {pull.base_branch} in {sha[:7]}" if sha else "nothing to mark"
            )
    loop.record_merged(ended, done)
    message = f"{priority_id}: PR #{pull.number} merged; {done}"
    return IterationResult(Ending.PR_RECORDED, message, priority_id, pull.head_branch, pull.url)
