"""The fleet's activity: one iteration of the daemon for one priority, on this host.

The step is :class:`~coffee_maker.autonomous.iteration.Iteration` with ``--priority`` and
``--once``, in this worker's clone of the repository, under the repository's lock (so a
single-machine daemon on the same clone and this worker never work at once). It
heartbeats from a thread every third of the heartbeat timeout, and with each step the
iteration reports: a worker that dies stops heartbeating, and Temporal gives the step to
another worker, where the iteration continues from what was pushed (it fetches the
branch and publishes it; the PR publisher finds the PR the branch already has).

The error taxonomy, as Temporal sees it: a :class:`~coffee_maker.errors.UserError`
(config, preflight, auth, an unknown priority) is a non-retryable ``UserError``; no
provider available or the budget spent is retried after the provider's reset; a stop
(the worker shutting down) is retried at once elsewhere; a run that failed is retried
as the daemon retries it, until ``daemon.max_attempts`` blocks the priority in the clone's
state (or ``orchestrator.max_step_attempts`` runs out); then it is the step's result.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.providers._bounded import cancel_calls
from coffee_maker.autonomous.iteration import Iteration
from coffee_maker.autonomous.repo_lock import RepoLock
from coffee_maker.autonomous.run_endings import Ending, IterationResult, RunOptions
from coffee_maker.autonomous.state import RepoState
from coffee_maker.config import AppConfig
from coffee_maker.errors import UserError
from coffee_maker.fleet.temporal import REVIEW_STEP, RUN_STEP
from coffee_maker.fleet.workflows import NON_RETRYABLE, Job, ReviewJob, ReviewResult, StepResult
from coffee_maker.logging import get_logger

log = get_logger(__name__)

PREFLIGHT_VALID = 300.0  # seconds a passed preflight holds for the next steps of a clone


@dataclass
class Served:
    """One repository this worker serves: its id, this host's clone, the clone's config."""

    repository: str
    path: Path
    config: AppConfig


class Heartbeat:
    """Heartbeats from a thread while the step runs; notices a cancel or a shutdown."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.detail = "starting"
        self.stopping = threading.Event()
        self._done = threading.Event()
        context = contextvars.copy_context()  # the activity's context, for the thread
        self._thread = threading.Thread(target=context.run, args=(self._beat,), daemon=True)

    def _beat(self) -> None:
        while True:
            activity.heartbeat(self.detail)
            if activity.is_cancelled() or activity.is_worker_shutdown():
                self.stopping.set()
            if self._done.wait(self.interval):
                return

    def step(self, text: str) -> None:
        self.detail = text
        log.info(text)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)


class Steps:
    """The activities a worker runs, for the repositories it serves."""

    def __init__(self, served: list[Served], concurrency: int) -> None:
        self.served = {s.repository: s for s in served}
        self.slots = threading.BoundedSemaphore(concurrency)
        #: When each clone last passed its preflight checks (time.monotonic()).
        self._passed: dict[str, float] = {}
        #: The worker is stopping: every step stops at its next safe point.
        self.stopping = threading.Event()

    def stop(self) -> None:
        """SIGTERM: steps stop at a safe point (recorded as interrupted, retried on another
        worker); a model call in flight is cut now rather than at its timeout."""
        self.stopping.set()
        cancel_calls("the worker is stopping; the model call in flight was cancelled")

    def preflight(self, served: Served, iteration: Iteration) -> None:
        """The daemon's preflight (config, keys, token, repository), as the daemon does it
        once at its start: a pass holds for PREFLIGHT_VALID seconds; a failure is raised
        every time, so a config error fails each step that meets it, at once."""
        passed = self._passed.get(served.repository)
        if passed is not None and time.monotonic() - passed < PREFLIGHT_VALID:
            return
        iteration.preflight()
        self._passed[served.repository] = time.monotonic()

    @contextlib.contextmanager
    def _working(self, job: Job) -> Iterator[tuple[Served, Heartbeat]]:
        """Heartbeating: a slot of this worker, the clone's lock, a UserError not retried."""
        served = self.served.get(job.repository)
        if served is None:  # the queue is per repository: a worker never polls another's
            raise ApplicationError(f"this worker serves no clone of {job.repository}")
        with Heartbeat(max(0.5, job.heartbeat_timeout / 3)) as beat:
            while not self.slots.acquire(timeout=beat.interval):
                beat.step(f"{job.priority}: waiting for a free slot on this worker")
            try:
                with RepoLock(served.path):
                    yield served, beat
            except UserError as exc:
                message = exc.one_line()
                raise ApplicationError(message, type=NON_RETRYABLE, non_retryable=True) from None
            finally:
                self.slots.release()

    @activity.defn(name=RUN_STEP)
    def run_priority(self, job: Job) -> StepResult:
        with self._working(job) as (served, beat):
            return self._run(served, job, beat)

    @activity.defn(name=REVIEW_STEP)
    def review_pull(self, review: ReviewJob) -> ReviewResult:
        with self._working(review.job) as (served, beat):
            return self._review(served, review, beat)

    def _review(self, served: Served, review: ReviewJob, beat: Heartbeat) -> ReviewResult:
        """One look at the PR, and at most one follow-up or its ending recorded."""
        from coffee_maker.autonomous.planning import resolve_base_branch
        from coffee_maker.autonomous.pr_watch import pull_number
        from coffee_maker.autonomous.review_step import take_review_work

        number = pull_number(review.pr_url)
        if number is None:
            message = f"not a pull request URL: {review.pr_url}"
            raise ApplicationError(message, type=NON_RETRYABLE, non_retryable=True)
        options = RunOptions(repo=served.path, once=True)
        iteration = Iteration(
            served.config,
            options,
            tracker=CostTracker(served.config.cost_controls),
            on_step=beat.step,
            should_stop=lambda: beat.stopping.is_set() or self.stopping.is_set(),
        )
        state = iteration.state
        base = resolve_base_branch(served.config, served.path)
        state.track_pull(number, review.job.priority, review.branch, base, review.pr_url)
        if review.pull:  # what the looks on other hosts did
            with state.change_pull(number) as record:
                merge_pull_record(record, review.pull)
        result = take_review_work(iteration, only=number)
        if result is not None and result.ending is Ending.INTERRUPTED:
            raise ApplicationError(result.message, type="Interrupted")
        record = RepoState.load(served.path).pulls()[str(number)]
        return ReviewResult(
            ended=record["state"] != "open",
            ending=result.ending.value if result else None,
            message=result.message if result else "nothing to do",
            pull=record,
        )

    def _run(self, served: Served, job: Job, beat: Heartbeat) -> StepResult:
        attempt = activity.info().attempt
        beat.step(f"{job.repository} {job.priority}: attempt {attempt} on {socket.gethostname()}")
        options = RunOptions(repo=served.path, priority=job.priority, once=True)
        iteration = Iteration(
            served.config,
            options,
            tracker=CostTracker(served.config.cost_controls),
            on_step=beat.step,
            should_stop=lambda: beat.stopping.is_set() or self.stopping.is_set(),
        )
        provider: list[str] = []

        def on_step(text: str) -> None:
            beat.step(text)
            current = iteration.state.current or {}
            if current.get("provider"):
                provider[:] = [str(current["provider"])]

        iteration.on_step = on_step
        self.preflight(served, iteration)
        result = iteration.run()
        return self._judge(served, job, result, provider[0] if provider else None)

    def _judge(
        self, served: Served, job: Job, result: IterationResult, provider: str | None
    ) -> StepResult:
        if result.ending is Ending.INTERRUPTED:
            raise ApplicationError(result.message, type="Interrupted")  # another worker retries
        if result.ending is Ending.UNAVAILABLE:
            delay = None
            if result.next_retry_at is not None:
                delay = max(timedelta(seconds=1), result.next_retry_at - datetime.now(UTC))
            raise ApplicationError(result.message, type="Unavailable", next_retry_delay=delay)
        record = RepoState.load(served.path).record(result.priority or job.priority)
        if result.ending is Ending.FAILED and not record.get("blocked"):
            # As the daemon would: the attempt is recorded, and the priority tried again
            # (its pushed branch continued) until daemon.max_attempts blocks it.
            raise ApplicationError(result.message, type="PriorityFailed")
        last = (record.get("history") or [{}])[-1]
        return StepResult(
            ending=result.ending.value,
            message=result.message,
            priority=result.priority,
            branch=result.branch,
            pr_url=result.pr_url or record.get("pr_url"),
            provider=provider,
            cost=float(last.get("cost") or 0.0),
            verdict=last.get("verdict") or record.get("verdict"),
            host=socket.gethostname(),
            clone=str(served.path),
            attempt=activity.info().attempt,
        )


def merge_pull_record(record: dict[str, Any], carried: dict[str, Any]) -> None:
    """Fold the record another host left into this clone's: remarks handled or ignored
    there are not work here, counts never go down, an ended PR stays ended."""
    for key in ("handled", "ignored", "notes"):
        mine = list(record.get(key) or [])
        record[key] = mine + [k for k in carried.get(key) or [] if k not in mine]
    for key in ("followups", "ci_repairs"):
        record[key] = max(int(record.get(key) or 0), int(carried.get(key) or 0))
    for key in ("last_followup", "review_state", "ci_state", "checked_at", "finished"):
        if record.get(key) is None and carried.get(key) is not None:
            record[key] = carried[key]
    if carried.get("state") in ("merged", "closed"):
        record["state"] = carried["state"]
