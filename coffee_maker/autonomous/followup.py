"""A follow-up: the model answers a review (or repairs failing checks) on the PR's branch.

The walk mirrors a first run, with the PR's branch in place of a new one:

1. fetch the base and the PR's branch; a worktree of ours on the branch, at the base's tip
   first so the baseline is the base's own tests (cached per base commit);
2. the branch moved to the PR's head; a base that moved on is merged in (conflicts are
   left for the model to resolve, and reported on the PR when it cannot);
3. the agent, with the priority, the diff, the quoted conversation and the harness's rules;
4. a commit on top, pushed as a fast-forward (never forced); the PR's body, draft flag and
   verdict follow the new run; a reply in each inline thread it addressed and a comment
   with what changed, the verdict and the cost.

The remarks are recorded as handled once the push is done, so a kill before it makes the
follow-up run again, and one after it never does.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from coffee_maker.agent import AgentResult, Interrupted, Status
from coffee_maker.ai_providers.cost_tracker import money
from coffee_maker.autonomous import followup_git, git_ops, publishing, task_ids
from coffee_maker.autonomous.cascade import local_chain
from coffee_maker.autonomous.followup_prompt import followup_task
from coffee_maker.autonomous.planning import load_base_roadmap, task_text
from coffee_maker.autonomous.pr_body import pr_title, render_pr_body
from coffee_maker.autonomous.public_text import (
    LocalPaths,
    code_span,
    inert_markdown,
    plain,
)
from coffee_maker.autonomous.pull_requests import PullRequestError
from coffee_maker.autonomous.review_loop import FollowUp, ReviewLoop
from coffee_maker.autonomous.roadmap import Priority, PriorityLookupError
from coffee_maker.autonomous.routing_history import is_private
from coffee_maker.autonomous.run_endings import (
    Ending,
    IterationResult,
    end_interrupted_run,
    record_unavailable,
)
from coffee_maker.autonomous.state import Outcome, state_dir
from coffee_maker.autonomous.test_bench import BenchProblem, build_bench
from coffee_maker.logging import get_logger
from coffee_maker.secrets import redact_text
from coffee_maker.wording import count_of

if TYPE_CHECKING:
    from coffee_maker.autonomous.iteration import Iteration

log = get_logger(__name__)

SUMMARY_LIMIT = 1_500  # characters of the model's summary quoted in the PR comment


def run_followup(iteration: Iteration, loop: ReviewLoop, work: FollowUp) -> IterationResult:
    """One follow-up, end to end; the worktree is removed whatever happens."""
    config, repo, state = iteration.config, iteration.repo, iteration.state
    daemon = config.daemon
    pull = work.pull
    priority = _priority(iteration, work)
    run_id = (
        datetime.now(UTC).strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6] + f"-pr{pull.number}"
    )
    label = f"{work.priority_id}: PR #{pull.number}"
    base = pull.base_branch
    iteration.on_step(f"{label}: following up ({_what(work)})")
    _acknowledge(loop, work)
    base_sha = git_ops.fetch_base(repo, base, daemon.remote) or git_ops.base_commit(repo, base)
    head_sha = git_ops.fetch_remote_branch(repo, pull.head_branch, daemon.remote)
    if head_sha is None:
        loop.record_followup(work, verdict="branch gone", commit=None, cost=0.0)
        return IterationResult(
            Ending.FAILED, f"{label}: the branch {pull.head_branch} is gone; nothing done"
        )
    worktree = git_ops.create_worktree(
        repo, work.priority_id, "", daemon.branch_prefix, base, daemon.remote,
        start_point=base_sha, branch=pull.head_branch,
    )  # fmt: skip
    state.set_current(work.priority_id, "follow-up", worktree=worktree.path, branch=worktree.branch)
    state.update_current(pull=pull.number)
    try:
        return _work(iteration, loop, work, priority, worktree, run_id, base_sha, head_sha)
    except BenchProblem as exc:
        return IterationResult(Ending.ENVIRONMENT_BROKEN, f"{label}: {exc}", work.priority_id)
    except (Interrupted, KeyboardInterrupt) as exc:
        detail = str(exc) or "asked twice to stop"
        why = end_interrupted_run(repo, state, f": {detail}", worktree.path)
        return IterationResult(Ending.INTERRUPTED, f"{label}: {why or detail}", work.priority_id)
    except (git_ops.GitError, PullRequestError) as exc:
        # Not handled: the next look tries again (a push that lost a race, GitHub away),
        # bounded by daemon.max_followups / max_ci_repairs, which this still counts.
        loop.record_followup(work, handled=False, verdict="failed", error=str(exc)[:500])
        return IterationResult(Ending.FAILED, f"{label}: follow-up failed: {exc}", work.priority_id)
    finally:
        git_ops.remove_worktree(repo, worktree)
        state.clear_current()


def _work(
    iteration: Iteration,
    loop: ReviewLoop,
    work: FollowUp,
    priority: Priority | None,
    worktree: git_ops.Worktree,
    run_id: str,
    base_sha: str,
    head_sha: str,
) -> IterationResult:
    config, repo = iteration.config, iteration.repo
    pull, settings = work.pull, config.agent
    label = f"{work.priority_id}: PR #{pull.number}"
    iteration.on_step(f"{label}: preparing the tests")
    bench = build_bench(
        config, repo, worktree.path, base_sha, run_id=run_id,
        should_stop=iteration.should_stop, on_step=iteration.on_step,
    )  # fmt: skip
    try:
        followup_git.move_branch_to(worktree, head_sha)
        conflicts = followup_git.merge_base_branch(worktree, base_sha, pull.base_branch)
        merge_base = _merge_base(worktree, base_sha)
        worktree = dataclasses.replace(
            worktree, base_sha=merge_base, environment_files=git_ops.untracked_files(worktree)
        )
        from coffee_maker.agent.loop import Agent
        from coffee_maker.agent.workspace import Workspace

        workspace = Workspace(
            worktree.path,
            sensitive_patterns=settings.sensitive_files,
            secret_env_names=settings.secret_env,
            output_limit=settings.output_limit,
            protected_patterns=publishing.protected_patterns(config),
            sandbox=bench.sandbox,
            should_stop=iteration.should_stop,
        )
        verifier = bench.verifier(workspace, config.daemon.ready_on_preexisting_failures)
        task_id = task_ids.task_id(repo.name, work.priority_id, run_id)
        transcript = state_dir(repo) / "runs" / f"{run_id}.jsonl"
        limit = config.cost_controls.per_task_limit
        strategy = iteration.strategy(task_id)
        if is_private(config, iteration.state, work.priority_id, priority):
            strategy = local_chain(strategy)  # a private priority's follow-ups stay local too
        parts = (strategy, workspace, settings, verifier, limit, transcript, task_id)
        agent = Agent(*parts, should_stop=iteration.should_stop)
        diff = followup_git.diff_since(worktree, base_sha)
        text = task_text(priority) if priority else f"Priority {work.priority_id}."
        iteration.state.update_current(step="agent")
        iteration.on_step(f"{label}: the model is working")
        result = agent.run(followup_task(work, text, diff, pull.base_branch, conflicts))
        if result.status is Status.PROVIDER_FAILURE or publishing.waits_for_budget(result):
            reason = publishing.unavailable_reason(result)
            return record_unavailable(iteration.state, work.priority_id, reason, result)
        left = followup_git.conflicts_left(worktree, conflicts)
        if left:
            followup_git.abort_merge(worktree)
            return _report_conflict(loop, work, result, left)
        command = verifier.command
        return _publish(
            iteration, loop, work, priority, worktree, result, command, head_sha, run_id, bench
        )
    finally:
        bench.close()


def _merge_base(worktree: git_ops.Worktree, base_sha: str) -> str:
    from coffee_maker.autonomous.git_command import git_text

    return git_text(worktree.path, "merge-base", "HEAD", base_sha)


def _publish(
    iteration: Iteration,
    loop: ReviewLoop,
    work: FollowUp,
    priority: Priority | None,
    worktree: git_ops.Worktree,
    result: AgentResult,
    test_command: str | None,
    head_sha: str,
    run_id: str,
    bench: object,
) -> IterationResult:
    config, pull = iteration.config, work.pull
    label = f"{work.priority_id}: PR #{pull.number}"
    since_head = dataclasses.replace(worktree, base_sha=head_sha)
    dropped = publishing.drop_protected(since_head, publishing.protected_patterns(config))
    verdict = publishing.verdict_text(result)
    changed = followup_git.changed_since(since_head, head_sha)
    passed = result.status is Status.SUCCESS
    commit = None
    if changed:
        if passed and priority is not None:
            publishing.mark_complete(worktree, config.daemon.roadmap, priority)
        iteration.on_step(f"{label}: committing and pushing {worktree.branch}")
        message = f"Follow up on review of #{pull.number}: {_what(work)}"
        trailers = publishing.commit_trailers(result, run_id)
        commit = git_ops.commit_all(worktree, message, trailers)
        git_ops.push_branch(worktree, worktree.branch, config.daemon.remote)
    loop.record_followup(
        work, verdict=verdict, commit=commit, cost=round(result.cost, 6), status=result.status.value
    )
    if commit and passed:  # the PR now waits for a person, verified: not a priority to redo
        iteration.state.record_attempt(
            work.priority_id,
            Outcome.SUCCESS,
            max_attempts=config.daemon.max_attempts,
            branch=worktree.branch,
            pr_url=pull.url,
            verdict=publishing.verdict_of(result),
            cost=round(result.cost, 6),
            status=result.status.value,
        )
    short = commit[:7] if commit else None
    reply = _reply_text(short, verdict, result, dropped)
    publisher = loop.publisher
    # The push is done and recorded: a GitHub error from here on must not count the
    # follow-up again nor overwrite its verdict; each answer is tried, and what failed is
    # kept in the state and said in the comment when that can still be posted.
    failed: list[str] = []
    stale = False
    if commit and priority is not None:
        notes = publishing.review_notes(result, bench, iteration.sandbox_note())  # type: ignore[arg-type]
        content = publishing.pr_content(
            priority, result, test_command, worktree, run_id, dropped, notes
        )
        title = pr_title(content.priority_id, content.priority_title, content.local_paths)
        _try(failed, lambda: publisher.open_or_update(
            worktree.branch, pull.base_branch, title, render_pr_body(content), draft=not passed,
        ))  # fmt: skip
        stale = bool(failed)
    for remark in work.remarks:
        if remark.kind == "inline":
            _try(failed, lambda r=remark: publisher.reply_inline(pull.number, r.id, reply))
    paths = LocalPaths.of_run(worktree.path, iteration.repo)
    text = _comment_text(work, short, verdict, result, changed if commit else [], dropped, paths)
    if stale:
        text += "\n\nThe pull request's description could not be updated: its verdict is out "
        text += "of date; the verdict above is this follow-up's."
    _try(failed, lambda: publisher.comment(pull.number, text))
    if failed:
        with loop.state.change_pull(pull.number) as record:
            record["last_followup"]["not_said"] = [error[:300] for error in failed]
    said = f"verdict: {verdict}; cost {money(result.cost)}"
    said += f"; GitHub refused {count_of(len(failed), 'answer')}" if failed else ""
    if commit:
        message = f"{label}: pushed follow-up {short} to {worktree.branch} ({said})"
        return IterationResult(
            Ending.FOLLOWED_UP, message, work.priority_id, worktree.branch, pull.url
        )
    message = f"{label}: the model changed nothing ({said})"
    return IterationResult(Ending.FOLLOWED_UP, message, work.priority_id, worktree.branch, pull.url)


def _try(failed: list[str], post: Callable[[], object]) -> None:
    try:
        post()
    except PullRequestError as exc:
        log.warning("could not answer on a pull request", error=str(exc))
        failed.append(str(exc))


def _report_conflict(
    loop: ReviewLoop, work: FollowUp, result: AgentResult, left: list[str]
) -> IterationResult:
    pull = work.pull
    files = ", ".join(code_span(name) for name in left[:20])
    base, head = code_span(pull.base_branch), code_span(pull.head_branch)  # git allows `
    text = (
        f"coffee-maker could not merge {base} into this branch: conflicts in "
        f"{files} were left unresolved, so nothing was pushed. A person needs to merge "
        f"{base} into {head} (cost of the attempt: {money(result.cost)})."
    )
    loop.record_followup(work, verdict="merge conflict", commit=None, cost=round(result.cost, 6))
    loop.publisher.comment(pull.number, text)
    message = (
        f"{work.priority_id}: PR #{pull.number}: unresolved merge conflict in {', '.join(left)}"
    )
    return IterationResult(Ending.FAILED, message, work.priority_id, pull.head_branch, pull.url)


def _reply_text(short: str | None, verdict: str, result: AgentResult, dropped: list[str]) -> str:
    if short is None:
        return f"coffee-maker looked at this and changed nothing (verdict: {verdict})."
    return (
        f"coffee-maker addressed this in {short} (verdict: {verdict}; cost {money(result.cost)})."
    )


def _comment_text(
    work: FollowUp,
    short: str | None,
    verdict: str,
    result: AgentResult,
    changed: list[str],
    dropped: list[str],
    paths: LocalPaths,
) -> str:
    what = "a follow-up on the review" if work.kind == "review" else "a repair of failing checks"
    head = (
        f"coffee-maker pushed {short}, {what}."
        if short
        else f"coffee-maker ran {what} and changed nothing."
    )
    lines = [head, "", f"- Verdict: **{verdict}**", f"- Cost: {money(result.cost)}"]
    if changed:
        files = ", ".join(code_span(name) for name in changed[:20])
        more = f" and {len(changed) - 20} more" if len(changed) > 20 else ""
        lines.append(f"- Files this follow-up changed: {files}{more}")
    if dropped:
        names = ", ".join(code_span(name) for name in dropped[:10])
        lines.append("- Changes to protected paths were dropped: " + names)
    if result.summary:
        summary = paths.scrub(redact_text(result.summary)).strip()[:SUMMARY_LIMIT]
        lines += [
            "",
            "The model's summary (its own words, not verified):",
            "",
            inert_markdown(summary),
        ]
    return "\n".join(lines)


def _acknowledge(loop: ReviewLoop, work: FollowUp) -> None:
    """An 👀 on each comment being worked on, as people do: seen, on it."""
    for remark in work.remarks:
        if remark.kind in ("comment", "inline"):
            try:
                loop.publisher.react(remark.kind, remark.id, "eyes")
            except PullRequestError as exc:
                log.warning("could not react to a comment", error=str(exc))


def _priority(iteration: Iteration, work: FollowUp) -> Priority | None:
    try:
        return load_base_roadmap(iteration.repo, iteration.config).find(work.priority_id)
    except PriorityLookupError:
        log.warning("the PR's priority is not in the roadmap any more", priority=work.priority_id)
        return None


def _what(work: FollowUp) -> str:
    if work.kind == "ci":
        # Check names come from CI configurations and apps: one quiet line each, so they
        # neither close an issue from the commit message nor add a trailer to it.
        names = (" ".join(plain(check.name).split())[:100] for check in work.checks)
        return "failing checks: " + ", ".join(names)
    authors = sorted({remark.author for remark in work.remarks})
    return f"{len(work.remarks)} remark(s) by " + ", ".join(authors)
