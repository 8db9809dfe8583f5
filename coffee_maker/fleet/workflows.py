"""The workflow of one (repository, priority): its step, then what the run said.

Deterministic code only (Temporal replays it): the step itself, one iteration of the
daemon for that priority, is an activity (:mod:`coffee_maker.fleet.steps`) run on a
worker that has a clone of the repository (its own task queue). The step heartbeats;
a worker that dies is noticed within ``orchestrator.heartbeat_timeout`` and the step is
retried elsewhere, where the iteration continues the branch the dead one pushed. A
config or auth error is not retried (``UserError``); a run that failed (new failures,
a broken environment) fails the workflow without a retry, as the daemon records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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
class Job:
    repository: str
    priority: str
    activity_queue: str
    heartbeat_timeout: float = 30.0
    step_timeout: float = 4 * 3600.0
    max_attempts: int = 5


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


@workflow.defn(name="CoffeeMakerPriority")
class PriorityWorkflow:
    def __init__(self) -> None:
        self.result: StepResult | None = None

    @workflow.query
    def outcome(self) -> StepResult | None:
        return self.result

    @workflow.run
    async def run(self, job: Job) -> StepResult:
        try:
            result = await workflow.execute_activity(
                "coffee_maker.run_priority",
                job,
                result_type=StepResult,
                task_queue=job.activity_queue,
                start_to_close_timeout=timedelta(seconds=job.step_timeout),
                heartbeat_timeout=timedelta(seconds=job.heartbeat_timeout),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    maximum_interval=timedelta(minutes=10),
                    maximum_attempts=job.max_attempts,
                    non_retryable_error_types=[NON_RETRYABLE],
                ),
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
        if result.ending in FAILED_ENDINGS:
            raise ApplicationError(result.message, type="PriorityFailed", non_retryable=True)
        return result
