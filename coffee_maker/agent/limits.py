"""How an agent run ends early: the limits it keeps and the exits that end it.

Every limit of ``agent.*`` (model turns, wall time, the task's budget, unusable replies
in a row, the same failing action repeated) is checked here and raises one of the small
exceptions below; :meth:`~coffee_maker.agent.loop.Agent.run` turns each into the
result's status and ``limit``. A stop request is checked in the same place, before
every model call, as :class:`~coffee_maker.agent.result.Interrupted`.
"""

from __future__ import annotations

from collections.abc import Callable

from coffee_maker.agent.protocol import TurnOutcome
from coffee_maker.agent.result import Interrupted, Status
from coffee_maker.agent.settings import AgentSettings
from coffee_maker.ai_providers.errors import ErrorKind

#: How a run ended early: status, the limit hit, the error text, when to retry.
Ending = tuple[Status | None, str | None, str | None, float | None]


class AgentExit(Exception):
    """Ends the work early; :meth:`Agent.run` turns it into the result."""


class Finished(AgentExit):
    def __init__(self, summary: str) -> None:
        super().__init__("the model finished")
        self.summary = summary


class LimitReached(AgentExit):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Stuck(AgentExit):
    """The model repeated the same failing action (or the same toolless reply)."""


class ProviderGaveUp(AgentExit):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class Limits:
    """The limits of one run, from :meth:`start` on."""

    def __init__(
        self,
        settings: AgentSettings,
        per_task_limit: float | None,
        clock: Callable[[], float],
        should_stop: Callable[[], bool],
    ) -> None:
        self.settings = settings
        self.per_task_limit = per_task_limit
        self.clock = clock
        self.should_stop = should_stop
        self.started = 0.0
        self._repeat: tuple[str | None, int] = (None, 0)
        self._format_errors = 0

    def start(self) -> None:
        self.started = self.clock()

    def time_left(self) -> float:
        """Seconds of ``agent.max_wall_time`` left (at least one: a call needs a timeout)."""
        return max(1.0, self.settings.max_wall_time - (self.clock() - self.started))

    def check(self, turns: int, cost: float) -> None:
        """Runs before every model call: the place where a run may stop early."""
        if self.should_stop():
            raise Interrupted("stop requested; the next model call was not started")
        if turns >= self.settings.max_steps:
            raise LimitReached("max_steps", f"stopped after {turns} model turns (agent.max_steps)")
        elapsed = self.clock() - self.started
        if elapsed >= self.settings.max_wall_time:
            raise LimitReached(
                "max_wall_time", f"stopped after {elapsed:.0f} s (agent.max_wall_time)"
            )
        if self.per_task_limit is not None and cost >= self.per_task_limit:
            raise LimitReached(
                "per_task_limit",
                f"spent ${cost:.4f} of the ${self.per_task_limit:.2f} task budget "
                "(cost_controls.per_task_limit)",
            )

    def watch(self, outcome: TurnOutcome) -> None:
        """Raise the early exit this turn calls for, if any."""
        if outcome.summary is not None:
            raise Finished(outcome.summary)
        for key, failed in outcome.attempts:
            last, count = self._repeat
            self._repeat = (key, count + 1 if key == last else 1) if failed else (None, 0)
            if self._repeat[1] >= self.settings.stuck_threshold:
                raise Stuck(
                    f"stuck: the same failing action was repeated {self._repeat[1]} times "
                    f"(agent.stuck_threshold): {key[:200]}"
                )
        self._format_errors = self._format_errors + 1 if outcome.format_error else 0
        if self._format_errors > self.settings.max_format_errors:
            raise LimitReached(
                "max_format_errors",
                f"{self._format_errors} unusable replies in a row (agent.max_format_errors)",
            )


def gave_up(error: Exception) -> Ending:
    """No provider answered. Out of budget is a limit: ``per_task_limit`` when only the
    task's own budget refused (waiting will not help), else ``budget`` (it resets)."""
    budget = getattr(error, "budget_exhausted", False) or (
        getattr(error, "kind", None) == ErrorKind.BUDGET_EXCEEDED
    )
    limits = getattr(error, "budget_limits", None) or {getattr(error, "limit", None)}
    limit = None
    if budget:
        limit = "per_task_limit" if limits == {"per_task"} else "budget"
    status = Status.LIMIT_REACHED if budget else Status.PROVIDER_FAILURE
    return (status, limit, str(error), getattr(error, "next_retry_at", None))
