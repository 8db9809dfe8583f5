"""What leaves the machine (the commit, the pushed branch, the pull request) and the words.

Everything here happens inside the iteration's own worktree or on the remote, never in
the user's checkout. Every text that may quote the model or a vendor is redacted before
it is written. An existing PR for the branch is updated (with a comment saying what this
attempt did), never duplicated, so a retry or a restart after a crash is safe.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from coffee_maker.agent import AgentResult, Status
from coffee_maker.autonomous import git_ops
from coffee_maker.autonomous.public_text import LocalPaths, plain, strip_terminal
from coffee_maker.autonomous.pull_requests import (
    PullRequestContent,
    PullRequestError,
    PullRequestPublisher,
    pr_title,
    render_pr_body,
)
from coffee_maker.autonomous.roadmap import Priority, set_status
from coffee_maker.autonomous.roadmap import Status as RoadmapStatus
from coffee_maker.config import AppConfig
from coffee_maker.logging import get_logger
from coffee_maker.secrets import redact_text

if TYPE_CHECKING:
    from coffee_maker.autonomous.test_bench import Bench

log = get_logger(__name__)

#: Fallback events of every call, which a reviewer need not read.
_ROUTINE_EVENTS = ("attempt", "success")
SUBJECT_LIMIT = 72  # what git log --oneline and GitHub show of a commit
COMMIT_BODY_LIMIT = 6_000


def make_publisher(config: AppConfig, repo: Path) -> PullRequestPublisher:
    """The PR publisher; a PullRequestError (no token, no owner/name) is a config problem."""
    github = config.github
    name = github.repo
    if name is None:
        url = git_ops.remote_url(repo, config.daemon.remote) or ""
        try:
            name = git_ops.parse_github_repo(url)
        except git_ops.GitError as exc:
            raise PullRequestError(str(exc)) from None
    token = os.environ.get(github.token_env, "")
    # GitHub's pacing (a second between writes) guards its secondary rate limits; a server
    # on this machine is a fake or a test double, and waiting on it only slows the run.
    local = urlsplit(github.api_url).hostname in ("127.0.0.1", "localhost", "::1")
    return PullRequestPublisher(
        name, token, github.api_url, token_env=github.token_env, throttle=not local
    )


def mark_complete(worktree: git_ops.Worktree, roadmap: str, priority: Priority) -> None:
    """The branch carries the roadmap change, so merging the PR completes the priority."""
    path = worktree.path / roadmap
    if path.exists():
        text = path.read_bytes().decode("utf-8")
        line = priority.line  # picks this heading when its id repeats in the roadmap
        updated = set_status(text, priority.id, RoadmapStatus.COMPLETE, roadmap, line=line)
        path.write_bytes(updated.encode("utf-8"))


def protected_patterns(config: AppConfig) -> list[str]:
    """``agent.protected_paths`` as configured; by default also the roadmap file, whose
    status only the harness marks. An explicit list replaces all of it (``[]``: none)."""
    agent = config.agent
    if "protected_paths" in agent.model_fields_set:
        return list(agent.protected_paths)
    roadmap = re.sub(r"([*?\[\]!#\\])", r"\\\1", config.daemon.roadmap.lstrip("/"))
    return [*agent.protected_paths, f"/{roadmap}"]


def drop_protected(worktree: git_ops.Worktree, patterns: list[str]) -> list[str]:
    """Changes to protected paths, restored to the base commit's version (or removed when
    new) before the commit: an agentic CLI writes files directly, past our tools' refusal.
    Returns the paths dropped, for the PR body."""
    from coffee_maker.agent.write_policy import WritePolicy  # pathspec: only when publishing

    dropped = WritePolicy(patterns).protected(git_ops.changed_files(worktree))
    if dropped:
        git_ops.restore_paths(worktree, dropped)
        log.warning("dropped changes to protected paths from the commit", paths=dropped)
    return dropped


def local_paths(worktree: git_ops.Worktree) -> LocalPaths:
    """The paths of this machine that public text (commit, PR) must not show."""
    try:
        checkout = git_ops.checkout_of(worktree)
    except git_ops.GitError:
        checkout = None
    return LocalPaths.of_run(worktree.path, checkout)


def commit_and_push(
    worktree: git_ops.Worktree, priority: Priority, result: AgentResult, run_id: str, remote: str
) -> None:
    trailers = commit_trailers(result, run_id)
    message = commit_message(priority, result, local_paths(worktree))
    git_ops.commit_all(worktree, message, trailers)
    git_ops.push_branch(worktree, worktree.branch, remote)


def open_pr(
    publisher: PullRequestPublisher,
    base_branch: str,
    worktree: git_ops.Worktree,
    content: PullRequestContent,
    attempt: int,
) -> str:
    """Open the PR for the branch, or update the open one; a draft unless it succeeded."""
    succeeded = content.status == Status.SUCCESS.value
    verdict = f"verdict: {content.verdict_text or content.verdict or content.status}"
    try:
        info = publisher.open_or_update(
            worktree.branch,
            base_branch,
            pr_title(content.priority_id, content.priority_title, content.local_paths),
            render_pr_body(content),
            draft=not succeeded,
            comment=f"coffee-maker pushed attempt {attempt} to this branch: {verdict}.",
        )
    finally:
        publisher.close()
    return info.url


def commit_message(priority: Priority, result: AgentResult, paths: LocalPaths | None = None) -> str:
    """Subject within 72 characters, a bounded body; nothing in it mentions anyone, closes
    an issue when merged, or shows a local path. Trailers are added after it (git_ops)."""
    subject = pr_title(priority.id, priority.title, paths)
    if len(subject) > SUBJECT_LIMIT:
        subject = subject[: SUBJECT_LIMIT - 1].rstrip() + "…"
    summary = plain(redact_text(strip_terminal(result.summary)), paths).strip()
    summary = summary or "The model left no summary."
    if len(summary) > COMMIT_BODY_LIMIT:
        cut = len(summary) - COMMIT_BODY_LIMIT
        summary = summary[:COMMIT_BODY_LIMIT].rstrip()
        summary += f"\n\n(summary cut: {cut:,} more characters)"
    return redact_text(f"{subject}\n\n{summary}")


def verdict_of(result: AgentResult) -> str:
    """The verdict word of a run (docs/VERIFICATION.md), for trailers, state and status."""
    return result.judgement.verdict.value if result.judgement else "not verified"


def verdict_text(result: AgentResult) -> str:
    return result.judgement.text if result.judgement else "not verified (no test run)"


def commit_trailers(result: AgentResult, run_id: str) -> dict[str, str]:
    """Who wrote the change and what it cost, as git trailers (``git log --format``)."""
    last = result.providers_used[-1] if result.providers_used else "none/unknown"
    provider, _, model = last.partition("/")
    return {
        "Verdict": verdict_of(result),
        "Provider": provider,
        "Model": model or "unknown",
        "Cost-USD": f"{result.cost:.4f}",
        "Providers-Used": ", ".join(result.providers_used) or "none",
        "Coffee-Maker-Run": run_id,
    }


def pr_content(
    priority: Priority,
    result: AgentResult,
    test_command: str | None,
    worktree: git_ops.Worktree,
    run_id: str | None = None,
    dropped: list[str] | None = None,
    notes: Sequence[str] = (),
) -> PullRequestContent:
    """What the PR says: the whole branch against the base, this run's tests and costs."""
    return PullRequestContent(
        priority_id=priority.id,
        priority_title=priority.title,
        priority_text=priority.section_text,
        summary=result.summary,
        files_changed=git_ops.changed_files(worktree),
        diff_stat=git_ops.diff_stat(worktree),
        test_command=test_command,
        test_passed=result.tests_passed,
        test_output_tail=result.test_output_tail,
        cost_usd=result.cost,
        tokens={k: v for k, v in result.usage.items() if v},
        providers_used=result.providers_used,
        fallback_events=[e for e in result.fallback_events if e.get("kind") not in _ROUTINE_EVENTS],
        run_id=run_id,
        status=result.status.value,
        verdict=verdict_of(result),
        verdict_text=verdict_text(result),
        notes=list(notes),
        dropped_paths=list(dropped or []),
        local_paths=local_paths(worktree),
    )


# -- how a run ended, in words for the state, the log and the user -------------------------


def waits_for_budget(result: AgentResult) -> bool:
    """Out of daily or monthly budget: wait for the reset. A task over its own limit failed."""
    return result.status is Status.LIMIT_REACHED and result.limit == "budget"


def failure_reason(result: AgentResult) -> str:
    if result.status is Status.TESTS_FAILING:
        return verdict_text(result)
    if result.status is Status.LIMIT_REACHED:
        return f"the model hit a limit ({result.limit}): {result.error}"
    if result.status is Status.NO_CHANGES or not result.files_changed:
        return "the model finished without changing any file"
    return result.error or result.status.value


def unavailable_reason(result: AgentResult) -> str:
    """Why no provider answered, per provider, from the fallback events of the run."""
    last: dict[str, str] = {}
    for event in result.fallback_events:
        if event.get("kind") in ("skip", "failure", "cooldown", "disable") and event["message"]:
            last[event["provider"]] = event["message"]
    detail = "; ".join(f"{name}: {why}" for name, why in last.items()) or result.error
    what = "the budget is exhausted" if result.limit == "budget" else "no provider is available"
    return redact_text(f"{what} ({detail})")


def review_notes(result: AgentResult, bench: Bench, sandbox_note: str | None) -> list[str]:
    """What a reviewer must know to read the verdict right, one line each."""
    notes = [sandbox_note]
    if bench.suite is not None and bench.baseline is None:
        notes.append(
            "No baseline: the branch continues an earlier push, so failures are not compared."
        )
    judged = result.judgement
    offline = bench.sandbox is not None and not bench.sandbox.network
    if offline and judged is not None and judged.verdict.value in ("new failures", "0 tests ran"):
        notes.append(
            "The tests ran without network access (agent.sandbox.network: false); if the "
            "suite needs the network, set it to true."
        )
    if result.verification_reused:
        notes.append(
            "The verdict is the model's last run_tests: no file changed after it, so the "
            "suite was not run a second time."
        )
    return [note for note in notes if note]
