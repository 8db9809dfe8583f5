"""The workflow of one (repository, priority): its step, then the review loop of its PR.

Deterministic code only (Temporal replays it): the step itself, one iteration of the
daemon for that priority, is an activity (:mod:`coffee_maker.fleet.steps`) run on a
worker that has a clone of the repository (its own task queue). The step heartbeats;
a worker that dies is noticed within ``orchestrator.heartbeat_timeout`` and the step is
retried elsewhere, where the iteration continues the branch the dead one pushed. A
config or auth error is not retried (``UserError``); a run that failed is retried as the
daemon retries it, and once the priority is blocked it fails the workflow (unless it left
a draft PR, whose review the workflow then follows).

Once the step opened a pull request, the workflow waits on a timer
(``daemon.review_poll_interval``) and runs the review step as an activity, on a worker
with a clone, until the PR is merged or closed. The PR's record (the remarks already
handled, the follow-ups counted) travels in the workflow, so the worker that looks next
knows what an earlier one did on another host.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

NON_RETRYABLE = "UserError"  # the ApplicationError type of a mistake the user must fix
FAILED_ENDINGS = ("failed", "environment_broken")

REPOSITORY = SearchAttributeKey.for_keyword("CoffeeMakerRepository")
PRIORITY = SearchAttributeKey.for_keyword("CoffeeMakerPriority")
PROVIDER = SearchAttributeKey.for_keyword("CoffeeMakerProvider")
COST = SearchAttributeKey.for_float("CoffeeMakerCost")
VERDICT = SearchAttributeKey.for_keyword("CoffeeMakerVerdict")


@dataclass
class StepResult:
    ending: str
    message: str
    priority: str | None = None
    branch: str | None = None
    pr_url: str | None = None
    provider: str | None = None
    cost: float = 0.0
    verdict: str | None = None
    host: str | None = None
    clone: str | None = None  # the worker's clone the step ended in
    attempt: int = 1  # of the step (a retry after a dead worker is the 2nd)
    pull_state: str | None = None  # merged | closed, when the review loop ended
    followups: int = 0


@dataclass
class Job:
    repository: str
    priority: str
    activity_queue: str
    heartbeat_timeout: float = 30.0
    step_timeout: float = 4 * 3600.0
    max_attempts: int = 5
    review_poll_interval: float = 120.0  # 0: the workflow ends when the PR is opened
    #: Carried over a continue-as-new: the step's result and the PR's record.
    result: StepResult | None = None
    pull: dict[str, Any] | None = None


@dataclass
class ReviewJob:
    job: Job
    pr_url: str
    branch: str
    pull: dict[str, Any] | None = None  # the PR's record as the last look left it


@dataclass
class ReviewResult:
    ended: bool
    ending: str | None
    message: str
    pull: dict[str, Any]


@workflow.defn(name="CoffeeMakerPriority")
class PriorityWorkflow:
    def __init__(self) -> None:
        self.result: StepResult | None = None

    @workflow.query
    def outcome(self) -> StepResult | None:
        return self.result

    @workflow.run
    async def run(self, job: Job) -> StepResult:
        result = job.result or await self._step(job)
        self.result = result
        if not result.pr_url or job.review_poll_interval <= 0:
            return result
        pull = job.pull
        while True:
            await workflow.sleep(timedelta(seconds=job.review_poll_interval))
            review = await workflow.execute_activity(
                "coffee_maker.review_pull",
                ReviewJob(job, result.pr_url, result.branch or "", pull),
                result_type=ReviewResult,
                **_options(job),
            )
            pull = review.pull
            result.followups = int(pull.get("followups") or 0)
            if review.ended:
                result.pull_state = str(pull.get("state"))
                workflow.upsert_memo({"pull_state": result.pull_state, "review": review.message})
                return result
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(dataclasses.replace(job, result=result, pull=pull))

    async def _step(self, job: Job) -> StepResult:
        try:
            result = await workflow.execute_activity(
                "coffee_maker.run_priority", job, result_type=StepResult, **_options(job)
            )
        except ActivityError as exc:
            cause = exc.cause
            kind = cause.type if isinstance(cause, ApplicationError) else None
            verdict = "config error" if kind == NON_RETRYABLE else "error"
            workflow.upsert_search_attributes([VERDICT.value_set(verdict)])
            workflow.upsert_memo({"ending": "error", "message": str(cause or exc)})
            raise
        self.result = result
        updates = [
            COST.value_set(float(result.cost)),
            VERDICT.value_set(result.verdict or result.ending),
        ]
        if result.provider:
            updates.append(PROVIDER.value_set(result.provider))
        workflow.upsert_search_attributes(updates)
        workflow.upsert_memo(
            {"ending": result.ending, "message": result.message, "pr_url": result.pr_url,
             "host": result.host}
        )  # fmt: skip
        if result.ending in FAILED_ENDINGS and not result.pr_url:  # a draft PR is reviewed
            raise ApplicationError(result.message, type="PriorityFailed", non_retryable=True)
        return result


def _options(job: Job) -> dict[str, Any]:
    """Where and how long a step may run, and which failures are retried."""
    return {
        "task_queue": job.activity_queue,
        "start_to_close_timeout": timedelta(seconds=job.step_timeout),
        "heartbeat_timeout": timedelta(seconds=job.heartbeat_timeout),
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=1),
            maximum_interval=timedelta(minutes=10),
            maximum_attempts=job.max_attempts,
            non_retryable_error_types=[NON_RETRYABLE],
        ),
    }
