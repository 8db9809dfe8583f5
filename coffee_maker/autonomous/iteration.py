"""One iteration of the daemon: select → worktree → agent → verify → commit/push → PR → record.

Everything an iteration touches is either its own (a worktree on a branch it created) or
append-only (the ledger, the state's history); the user's checkout is never touched. The
roadmap is read from the base branch as last fetched, not from the checkout, which may be
stale or on another branch. Whatever happens, the worktree is removed and the state says
how the run ended, so a crash or a kill at any point leaves nothing a restart cannot
finish or clean up.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from coffee_maker.agent import Agent, AgentResult, Interrupted, Status, Workspace
from coffee_maker.agent.sandbox import NO_SANDBOX_NOTE
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.fallback_strategy import FallbackConfig, FallbackStrategy
from coffee_maker.ai_providers.provider_config import AppConfig
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.autonomous import git_ops, publishing
from coffee_maker.autonomous.planning import (
    describe_plan,
    detect_test_command,
    load_base_roadmap,
    task_text,
)
from coffee_maker.autonomous.pull_requests import PullRequestError, PullRequestPublisher
from coffee_maker.autonomous.roadmap import Priority, Roadmap
from coffee_maker.autonomous.sandboxing import make_sandbox
from coffee_maker.autonomous.state import Outcome, RepoState, state_dir
from coffee_maker.logging import bind_context, get_logger

log = get_logger(__name__)


class Ending(StrEnum):
    """How an iteration ended (the command line maps each to an exit code of CONTRACT.md)."""

    PR_OPENED = "pr_opened"
    PUSHED = "pushed"  # --no-pr or create_prs: false
    NOTHING_TO_DO = "nothing_to_do"
    DRY_RUN = "dry_run"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"  # every provider unavailable, or the budget spent
    INTERRUPTED = "interrupted"  # a stop was requested


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
    """The command line's choices for one daemon (CONTRACT.md flags)."""

    repo: Path
    provider: str | None = None
    no_fallback: bool = False
    dry_run: bool = False
    priority: str | None = None
    no_pr: bool = False


class UnknownPriorityError(Exception):
    """``--priority ID`` names no priority of the roadmap."""


class Iteration:
    """Runs one priority end to end. Collaborators are injectable for tests and the demo."""

    def __init__(
        self,
        config: AppConfig,
        options: RunOptions,
        *,
        factory: ProviderFactory | None = None,
        tracker: CostTracker | None = None,
        on_step: Callable[[str], None] = lambda step: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self.options = options
        self.repo = options.repo.resolve()
        self.factory = factory or ProviderFactory(config=config)
        self.tracker = tracker or CostTracker(config.cost_controls)
        self.on_step = on_step
        self.should_stop = should_stop
        self.state = RepoState.load(self.repo)

    # -- what to do -------------------------------------------------------------------------
    def select(self, roadmap: Roadmap) -> Priority | None:
        """``--priority``, else the first ready priority not blocked and not awaiting review."""
        if self.options.priority:
            wanted = roadmap.get(self.options.priority)
            if wanted is None:
                raise UnknownPriorityError(
                    f"--priority {self.options.priority}: no such priority in {roadmap.path}"
                )
            return wanted
        return roadmap.next_planned(skip=lambda p: self.state.is_skipped(p.id))

    def strategy(self, task_id: str | None = None) -> FallbackStrategy:
        fallback = FallbackConfig.from_settings(self.config.fallback)
        fallback.enabled = fallback.enabled and not self.options.no_fallback
        return FallbackStrategy(
            fallback, self.factory, self.tracker, first=self.options.provider, task_id=task_id
        )

    def test_command(self, root: Path | None = None) -> str | None:
        """``daemon.test_command``, else a guess from the files in ``root`` (the worktree)."""
        command = self.config.daemon.test_command or detect_test_command(
            root or self.repo, venv_home=self.repo
        )
        if command is None:
            log.warning(
                "no test command configured or detected; set daemon.test_command so "
                "changes are verified before a PR is opened"
            )
        return command

    def wants_pr(self) -> bool:
        return self.config.daemon.create_prs and not self.options.no_pr

    def publisher(self) -> PullRequestPublisher:
        return publishing.make_publisher(self.config, self.repo)

    def sandbox_note(self) -> str | None:
        """The line every PR body carries when model-written code ran unsandboxed."""
        return NO_SANDBOX_NOTE if self.config.agent.sandbox.mode == "none" else None

    def preflight(self) -> None:
        """Fail before any money is spent on what would fail after: the PR's prerequisites."""
        if self.wants_pr() and not self.options.dry_run:
            self.publisher().close()

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> IterationResult:
        if self.options.dry_run:
            roadmap = load_base_roadmap(self.repo, self.config)
            priority = self.select(roadmap)
            if priority is None:
                return IterationResult(Ending.NOTHING_TO_DO, self._nothing_to_do())
            plan = describe_plan(self, priority)
            return IterationResult(Ending.DRY_RUN, plan["text"], priority.id, details=plan)
        self._recover_interrupted_run()
        self.on_step(f"fetching {self.config.daemon.base_branch}")
        priority = self.select(load_base_roadmap(self.repo, self.config, fetch=True))
        if priority is None:
            return IterationResult(Ending.NOTHING_TO_DO, self._nothing_to_do())
        if self.options.priority and self.state.is_blocked(priority.id):
            self.state.reset(priority.id)  # asking for it by id is how a user unblocks it
        if self.should_stop():
            return IterationResult(Ending.INTERRUPTED, "stop requested; nothing started")
        bind_context(priority=priority.id)
        try:
            return self._run_priority(priority)
        finally:
            bind_context(priority=None, provider=None)

    def _nothing_to_do(self) -> str:
        return (
            "nothing to do: no planned priority is ready (all complete, awaiting review, "
            "blocked or waiting on dependencies)"
        )

    def _run_priority(self, priority: Priority) -> IterationResult:
        daemon = self.config.daemon
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
        branch = git_ops.branch_name(priority.id, priority.slug, daemon.branch_prefix)
        pushed_before = git_ops.fetch_remote_branch(self.repo, branch, daemon.remote)
        worktree = git_ops.create_worktree(
            self.repo,
            priority.id,
            priority.slug,
            daemon.branch_prefix,
            daemon.base_branch,
            daemon.remote,
            start_point=pushed_before,
        )
        self.state.set_current(priority.id, "starting", worktree=worktree.path, branch=branch)
        try:
            return self._work(priority, worktree, run_id, pushed_before is not None)
        except (Interrupted, KeyboardInterrupt) as exc:
            step = (self.state.current or {}).get("step")
            detail = str(exc) or "asked twice to stop, the model call was abandoned"
            reason = f"interrupted during {step}: {detail}"
            self.state.record_attempt(priority.id, Outcome.DEFERRED, reason, branch=branch)
            return IterationResult(Ending.INTERRUPTED, f"{priority.id}: {reason}", priority.id)
        except (git_ops.GitError, PullRequestError) as exc:
            return self._record_failure(priority, None, branch, str(exc))
        except Exception as exc:
            self._record_failure(priority, None, branch, f"crashed: {type(exc).__name__}: {exc}")
            raise
        finally:
            git_ops.remove_worktree(self.repo, worktree)
            self.state.clear_current()

    def _step(self, step: str, text: str, **fields: Any) -> None:
        self.state.update_current(step=step, **fields)
        self.on_step(text)

    def _work(
        self, priority: Priority, worktree: git_ops.Worktree, run_id: str, pushed_before: bool
    ) -> IterationResult:
        task_id = f"{self.repo.name}:{priority.id}:{run_id}"
        strategy = self.strategy(task_id)
        transcript = state_dir(self.repo) / "runs" / f"{run_id}.jsonl"
        settings = self.config.agent
        sandbox = make_sandbox(settings, repo=self.repo, worktree=worktree.path)
        if sandbox is None:
            log.warning(NO_SANDBOX_NOTE + ": the model's tests run with all of your rights")
        workspace = Workspace(
            worktree.path,
            sensitive_patterns=settings.sensitive_files,
            secret_env_names=settings.secret_env,
            output_limit=settings.output_limit,
            sandbox=sandbox,
            should_stop=self.should_stop,
        )
        test_command = self.test_command(worktree.path)
        limit = self.config.cost_controls.per_task_limit
        parts = (strategy, workspace, settings, test_command, limit, transcript, task_id)
        agent = Agent(*parts, should_stop=self.should_stop)
        lead = next(iter(strategy.providers()), None)
        provider = lead.name if lead else None
        bind_context(provider=provider)
        self._step("agent", f"{priority.id}: the model is working", provider=provider)
        result = agent.run(task_text(priority))
        if result.status is Status.PROVIDER_FAILURE or publishing.waits_for_budget(result):
            return self._unavailable(priority, result)
        if not result.files_changed and pushed_before:
            result = self._resume(result, worktree, workspace, test_command)
        if not result.files_changed:
            reason = publishing.failure_reason(result)
            return self._record_failure(priority, result, worktree.branch, reason)
        return self._publish(priority, worktree, result, test_command, run_id)

    def _publish(
        self,
        priority: Priority,
        worktree: git_ops.Worktree,
        result: AgentResult,
        test_command: str | None,
        run_id: str,
    ) -> IterationResult:
        daemon = self.config.daemon
        succeeded = result.status is Status.SUCCESS
        if succeeded:
            publishing.mark_complete(worktree, daemon.roadmap, priority)
        self._step("pushing", f"{priority.id}: committing and pushing {worktree.branch}")
        publishing.commit_and_push(worktree, priority, result, run_id, daemon.remote)
        pr_url = None
        if self.wants_pr() and (succeeded or daemon.draft_on_test_failure):
            self._step("pull request", f"{priority.id}: opening the pull request")
            content = publishing.pr_content(priority, result, test_command, worktree)
            attempt = self.state.record(priority.id)["attempts"] + 1
            pr_url = publishing.open_pr(
                self.publisher(), daemon.base_branch, worktree, content, attempt
            )
        if not succeeded:
            pushed = f"; pushed {worktree.branch}" + (f" (draft PR {pr_url})" if pr_url else "")
            reason = publishing.failure_reason(result)
            return self._record_failure(priority, result, worktree.branch, reason + pushed, pr_url)
        self.state.record_attempt(
            priority.id,
            Outcome.SUCCESS,
            None,
            daemon.max_attempts,
            branch=worktree.branch,
            pr_url=pr_url,
            cost=round(result.cost, 6),
            status=result.status.value,
        )
        if pr_url:
            message = f"{priority.id}: opened pull request {pr_url}"
            return IterationResult(Ending.PR_OPENED, message, priority.id, worktree.branch, pr_url)
        message = f"{priority.id}: pushed {worktree.branch} (no pull request)"
        return IterationResult(Ending.PUSHED, message, priority.id, worktree.branch)

    def _resume(
        self,
        result: AgentResult,
        worktree: git_ops.Worktree,
        workspace: Workspace,
        test_command: str | None,
    ) -> AgentResult:
        """The model changed nothing because an earlier run pushed the work (and was then
        killed, or GitHub failed): judge the branch as it is, so it can be published."""
        files = git_ops.changed_files(worktree)
        if not files or result.status not in (Status.NO_CHANGES, Status.SUCCESS):
            return result
        tests = (
            workspace.run(test_command, self.config.agent.test_timeout) if test_command else None
        )
        if tests is not None and tests.interrupted:
            raise Interrupted("stop requested; the test run was killed")
        passed = tests is None or tests.passed
        return dataclasses.replace(
            result,
            status=Status.SUCCESS if passed else Status.TESTS_FAILING,
            files_changed=files,
            tests_passed=None if tests is None else tests.passed,
            test_output_tail=tests.output[-4000:] if tests else "",
        )

    # -- endings ----------------------------------------------------------------------------
    def _record_failure(
        self,
        priority: Priority,
        result: AgentResult | None,
        branch: str,
        reason: str,
        pr_url: str | None = None,
    ) -> IterationResult:
        details: dict[str, Any] = {"branch": branch, "pr_url": pr_url}
        if result is not None:
            details.update(status=result.status.value, cost=round(result.cost, 6))
        record = self.state.record_attempt(
            priority.id, Outcome.FAILURE, reason, self.config.daemon.max_attempts, **details
        )
        blocked = "; now blocked (use --priority to retry it)" if record["blocked"] else ""
        message = f"{priority.id}: {reason}{blocked}"
        return IterationResult(Ending.FAILED, message, priority.id, branch, pr_url)

    def _unavailable(self, priority: Priority, result: AgentResult) -> IterationResult:
        reason = publishing.unavailable_reason(result)
        self.state.record_attempt(priority.id, Outcome.DEFERRED, reason, cost=result.cost)
        retry = datetime.fromtimestamp(result.retry_at, UTC) if result.retry_at else None
        message = f"{priority.id}: {reason}"
        return IterationResult(Ending.UNAVAILABLE, message, priority.id, next_retry_at=retry)

    def _recover_interrupted_run(self) -> None:
        """A run the state still calls current was killed (we hold the lock): record it and
        remove what it left behind."""
        current = self.state.current
        if current:
            log.warning(
                "the previous run was interrupted; starting again",
                priority=current.get("priority"),
                step=current.get("step"),
            )
            why = f"interrupted during {current.get('step')} (process {current.get('pid')} ended)"
            self.state.record_attempt(current["priority"], Outcome.DEFERRED, why)
            self.state.clear_current()
        for cleaned in git_ops.clean_stale_worktrees(self.repo):
            log.info("removed a worktree left by an earlier run", path=cleaned)
