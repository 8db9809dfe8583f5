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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coffee_maker.agent import AgentResult, Interrupted, Status
from coffee_maker.agent.sandbox import NO_SANDBOX_NOTE
from coffee_maker.agent.verification import Verifier, result_fields
from coffee_maker.ai_providers.cost_tracker import CostTracker, money
from coffee_maker.ai_providers.fallback_strategy import FallbackConfig, FallbackStrategy
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.autonomous import (
    git_ops,
    preflight,
    publishing,
    run_requests,
    second_opinion,
    task_ids,
)
from coffee_maker.autonomous.cascade import Cascade
from coffee_maker.autonomous.detection import TestPlanChoice, choose_tests
from coffee_maker.autonomous.planning import (
    NOTHING_TO_DO,
    dry_run,
    load_base_roadmap,
    resolve_base_branch,
    task_text,
)
from coffee_maker.autonomous.pull_requests import PullRequestError, PullRequestPublisher
from coffee_maker.autonomous.roadmap import Priority, PriorityLookupError, Roadmap
from coffee_maker.autonomous.routing import RouteDecision
from coffee_maker.autonomous.routing_history import route_for
from coffee_maker.autonomous.run_endings import (
    Ending,
    IterationResult,
    RunOptions,
    UnknownPriorityError,
    end_interrupted_run,
    record_bench_problem,
    record_failure,
    record_unavailable,
    recover_interrupted_run,
)
from coffee_maker.autonomous.state import Outcome, RepoState, state_dir
from coffee_maker.autonomous.test_bench import BenchProblem, build_bench
from coffee_maker.config import AppConfig
from coffee_maker.logging import bind_context, get_logger

log = get_logger(__name__)


#: Roadmap warnings this process has logged: a daemon re-reads the roadmap every
#: iteration, and the same doubt said every 30 seconds would bury everything else.
_REPORTED: set[str] = set()


def report_roadmap_warnings(roadmap: Roadmap) -> None:
    for warning in roadmap.warnings:
        if warning not in _REPORTED:
            _REPORTED.add(warning)
            log.warning(warning)


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
        #: The routed run's tiers (cascade.py); without routing, the plain fallback chain.
        self.cascade = Cascade()
        self.opinion: second_opinion.Review | None = None  # routing.review's, before the PR

    # -- what to do -------------------------------------------------------------------------
    def select(self, roadmap: Roadmap) -> Priority | None:
        """``--priority``, else a requested one (``run_priority`` over MCP), else the first
        ready priority not blocked and not awaiting review.

        The roadmap's warnings are logged here, once per process; a priority they hold
        (a repeated id, an unreadable field) is never chosen without ``--priority``. A
        ``--priority`` that names nothing (or an ambiguous id) is the only line said."""
        if self.options.priority:
            try:
                chosen = roadmap.find(self.options.priority)
            except PriorityLookupError as exc:
                raise UnknownPriorityError(f"--priority {self.options.priority}: {exc}") from None
            report_roadmap_warnings(roadmap)
            return chosen
        report_roadmap_warnings(roadmap)
        consume = not self.options.dry_run  # a request (run_requests.py) is taken once
        requested = run_requests.take(self.repo, roadmap, self.state, consume=consume)
        return requested or roadmap.next_planned(skip=lambda p: self.state.is_skipped(p.id))

    def strategy(self, task_id: str | None = None) -> FallbackStrategy:
        fallback = FallbackConfig.from_settings(self.config.fallback)
        fallback.enabled = fallback.enabled and not self.options.no_fallback
        return FallbackStrategy(
            fallback, self.factory, self.tracker, first=self.options.provider, task_id=task_id
        )

    def tests(self, root: Path | None = None) -> TestPlanChoice:
        """The test command and why: ``daemon.test_command``, else detected in ``root``."""
        choice = choose_tests(self.config, root or self.repo)
        if choice.command is None:
            log.warning(
                "no test command configured or detected; set daemon.test_command so "
                "changes are verified before a PR is opened"
            )
        return choice

    def wants_pr(self) -> bool:
        return self.config.daemon.create_prs and not self.options.no_pr

    def publisher(self) -> PullRequestPublisher:
        return publishing.make_publisher(self.config, self.repo)

    def preflight_checks(self, stop_at_first_bad: bool = False) -> list[preflight.Check]:
        """What the user can fix, checked before any money is spent (preflight.py)."""
        return preflight.run_checks(
            self.config,
            self.repo,
            chain=self.strategy().chain(),
            factory=self.factory,
            pull_requests=self.wants_pr(),
            stop_at_first_bad=stop_at_first_bad,
        )

    def sandbox_note(self) -> str | None:
        """The line every PR body carries when model-written code ran unsandboxed."""
        return NO_SANDBOX_NOTE if self.config.agent.sandbox.mode == "none" else None

    def preflight(self) -> None:
        """Raise :class:`preflight.PreflightError` for the first check that fails."""
        preflight.require(self.preflight_checks(stop_at_first_bad=True))

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> IterationResult:
        if self.options.dry_run:
            return dry_run(self)
        recover_interrupted_run(self.repo, self.state)
        from coffee_maker.autonomous.review_step import take_review_work

        reviewed = take_review_work(self)
        if reviewed is not None:
            return reviewed
        self.on_step(f"fetching {resolve_base_branch(self.config, self.repo)}")
        priority = self.select(load_base_roadmap(self.repo, self.config, fetch=True))
        if priority is None:
            return IterationResult(Ending.NOTHING_TO_DO, NOTHING_TO_DO)
        if self.options.priority and self.state.is_blocked(priority.id):
            self.state.reset(priority.id)  # asking for it by id is how a user unblocks it
        if self.should_stop():
            return IterationResult(Ending.INTERRUPTED, "stop requested; nothing started")
        bind_context(priority=priority.id)
        try:
            return self._run_routed(priority)
        finally:
            bind_context(priority=None, provider=None)

    def route(self, priority: Priority) -> RouteDecision:
        """The priority's route now (routing.py): the run, --dry-run and route explain agree."""
        return route_for(self.config, self.state, self.tracker, priority, self.options.provider)

    def _run_routed(self, priority: Priority) -> IterationResult:
        """One attempt; with routing, tier by tier on fresh worktrees (cascade.py)."""
        decision = self.route(priority)
        if decision.refused:
            reason = f"routing refused it: {decision.refused}"
            return record_failure(self.state, 1, priority.id, None, "", reason)
        self.cascade = Cascade(decision, self.config.cost_controls.per_task_limit)
        while True:
            self.cascade.escalating = False  # only this attempt's verdict may escalate
            outcome = self._run_priority(priority)
            if not self.cascade.escalating:
                return outcome
            self.on_step(f"{priority.id}: escalating to tier {self.cascade.tier.index}")

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
            resolve_base_branch(self.config, self.repo),
            daemon.remote,
            start_point=pushed_before,
        )
        self.state.set_current(priority.id, "starting", worktree=worktree.path, branch=branch)
        try:
            return self._work(priority, worktree, run_id, pushed_before is not None)
        except BenchProblem as exc:
            return record_bench_problem(self.state, priority.id, worktree.branch, str(exc))
        except (Interrupted, KeyboardInterrupt) as exc:
            detail = str(exc) or "asked twice to stop, the model call was abandoned"
            why = end_interrupted_run(self.repo, self.state, f": {detail}", worktree.path)
            reason = why or f"interrupted: {detail}"
            return IterationResult(Ending.INTERRUPTED, f"{priority.id}: {reason}", priority.id)
        except (git_ops.GitError, PullRequestError) as exc:
            return self._record_failure(priority.id, None, branch, str(exc))
        except Exception as exc:
            self._record_failure(priority.id, None, branch, f"crashed: {type(exc).__name__}: {exc}")
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
        cascade = self.cascade
        task_id = cascade.claim(task_ids.task_id(self.repo.name, priority.id, run_id))
        base = self.strategy(task_id)
        strategy = cascade.strategy(base)
        transcript = state_dir(self.repo) / "runs" / f"{run_id}.jsonl"
        settings = self.config.agent
        if self.sandbox_note():
            log.warning(NO_SANDBOX_NOTE + ": the model's tests run with all of your rights")
        self._step("environment", f"{priority.id}: preparing the tests")
        bench = build_bench(
            self.config,
            self.repo,
            worktree.path,
            worktree.base_sha,
            run_id=run_id,
            baseline_wanted=not pushed_before,
            should_stop=self.should_stop,
            on_step=self.on_step,
        )
        # What the environment and the baseline left in the tree is not the model's change.
        worktree = dataclasses.replace(
            worktree, environment_files=git_ops.untracked_files(worktree)
        )
        from coffee_maker.agent.workspace import Workspace  # pathspec: only when working

        try:
            workspace = Workspace(
                worktree.path,
                sensitive_patterns=settings.sensitive_files,
                secret_env_names=settings.secret_env,
                output_limit=settings.output_limit,
                protected_patterns=publishing.protected_patterns(self.config),
                sandbox=bench.sandbox,
                should_stop=self.should_stop,
            )
            ready_on_preexisting = self.config.daemon.ready_on_preexisting_failures
            verifier = bench.verifier(workspace, ready_on_preexisting)
            limit = self.config.cost_controls.per_task_limit
            parts = (strategy, workspace, settings, verifier, limit, transcript, task_id)
            from coffee_maker.agent.loop import Agent  # the loop and tools: only when working

            agent = Agent(*parts, should_stop=self.should_stop)
            lead = next(iter(strategy.providers()), None)
            provider = lead.name if lead else None
            bind_context(provider=provider)
            self._step("agent", f"{priority.id}: the model is working", provider=provider)
            task = task_text(priority)
            result = agent.run(cascade.task(task))
            if cascade.after(result, worktree, self.tracker):
                said = "; ".join(cascade.lines())
                return IterationResult(Ending.FAILED, f"{priority.id}: {said}", priority.id)
            if result.status is Status.PROVIDER_FAILURE or publishing.waits_for_budget(result):
                reason = publishing.unavailable_reason(result)
                return record_unavailable(
                    self.state, priority.id, reason, result, cascade.details()
                )
            if not result.files_changed and pushed_before:
                result = self._resume(result, worktree, verifier)
            if not result.files_changed:
                reason = publishing.failure_reason(result)
                return self._record_failure(priority.id, result, worktree.branch, reason)
            if self.config.routing.review is not None:
                again = (*parts[:5], transcript.with_name(f"{run_id}-review.jsonl"), task_id)
                result, self.opinion = second_opinion.apply(
                    self.config.routing.review, base, task, result, worktree,
                    escalated=cascade.escalated, local_only=cascade.local_only,
                    repair=lambda text: Agent(*again, should_stop=self.should_stop).run(text),
                )  # fmt: skip
            notes = publishing.review_notes(result, bench, self.sandbox_note())
            return self._publish(priority, worktree, result, verifier.command, run_id, notes)
        finally:
            bench.close()

    def _publish(
        self,
        priority: Priority,
        worktree: git_ops.Worktree,
        result: AgentResult,
        test_command: str | None,
        run_id: str,
        notes: list[str],
    ) -> IterationResult:
        """Commit, push, PR. Only a verified pass is ready and marks the priority complete;
        new failures are a draft and count as a failed attempt; a change nobody could
        verify is a draft that waits for a person ("awaiting review (unverified)")."""
        daemon = self.config.daemon
        patterns = publishing.protected_patterns(self.config)
        dropped = publishing.drop_protected(worktree, patterns)
        if dropped and not git_ops.changed_files(worktree):
            reason = "the model changed only protected paths: " + ", ".join(dropped)
            return self._record_failure(priority.id, result, worktree.branch, reason)
        succeeded = result.status is Status.SUCCESS
        if succeeded:  # after the drop: the roadmap's status is the harness's own change
            publishing.mark_complete(worktree, daemon.roadmap, priority)
        self._step("pushing", f"{priority.id}: committing and pushing {worktree.branch}")
        publishing.commit_and_push(worktree, priority, result, run_id, daemon.remote)
        pr_url = None
        if self.wants_pr() and (succeeded or daemon.draft_on_test_failure):
            self._step("pull request", f"{priority.id}: opening the pull request")
            content = publishing.pr_content(
                priority, result, test_command, worktree, run_id, dropped, notes
            )
            content.routing = self.cascade.lines()
            content.review = self.opinion.lines() if self.opinion else []
            attempt = self.state.record(priority.id)["attempts"] + 1
            base_branch = resolve_base_branch(self.config, self.repo)
            pr_url = publishing.open_pr(self.publisher(), base_branch, worktree, content, attempt)
        verdict = publishing.verdict_of(result)
        if result.status is Status.TESTS_FAILING or result.status is Status.LIMIT_REACHED:
            pushed = f"; pushed {worktree.branch}" + (f" (draft PR {pr_url})" if pr_url else "")
            reason = publishing.failure_reason(result)
            return self._record_failure(
                priority.id, result, worktree.branch, reason + pushed, pr_url
            )
        outcome = Outcome.SUCCESS if succeeded else Outcome.UNVERIFIED
        self.state.record_attempt(
            priority.id,
            outcome,
            None if succeeded else publishing.verdict_text(result),
            daemon.max_attempts,
            branch=worktree.branch,
            pr_url=pr_url,
            verdict=verdict,
            cost=round(result.cost, 6),
            status=result.status.value,
            **self.cascade.details(),
        )
        said = f"verdict: {publishing.verdict_text(result)}; cost {money(result.cost)}"
        if self.cascade.tries:
            said += "; tiers: " + "; ".join(self.cascade.lines())
        if pr_url:
            kind = "pull request" if succeeded else "draft pull request"
            message = f"{priority.id}: opened {kind} {pr_url} ({said})"
            return IterationResult(Ending.PR_OPENED, message, priority.id, worktree.branch, pr_url)
        message = f"{priority.id}: pushed {worktree.branch} (no pull request; {said})"
        return IterationResult(Ending.PUSHED, message, priority.id, worktree.branch)

    def _resume(
        self, result: AgentResult, worktree: git_ops.Worktree, verifier: Verifier
    ) -> AgentResult:
        """The model changed nothing because an earlier run pushed the work (and was then
        killed, or GitHub failed): judge the branch as it is, so it can be published."""
        files = git_ops.changed_files(worktree)
        if not files or result.status not in (Status.NO_CHANGES, Status.SUCCESS):
            return result
        return dataclasses.replace(result, **result_fields(files, verifier.verify()))

    def _record_failure(
        self, priority_id: str, result: AgentResult | None, branch: str, reason: str, *rest: str
    ) -> IterationResult:
        attempts = self.config.daemon.max_attempts
        extra = self.cascade.details()
        return record_failure(
            self.state, attempts, priority_id, result, branch, reason, *rest, extra=extra
        )
