"""What an agent run produced, in the terms the daemon and the user care about."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.ai_providers.base import make_usage

if TYPE_CHECKING:
    from coffee_maker.agent.test_report import TestReport
    from coffee_maker.agent.verdict import Judgement


class Interrupted(Exception):
    """A stop was requested (SIGTERM): what would have started next (a model call, a
    test run) did not, or a running test command was killed.

    It ends the run without a result, for the caller to record as not the model's fault.
    """


class Status(enum.StrEnum):
    SUCCESS = "success"  # files changed, the verdict is "passed" (or pre-existing only, if allowed)
    TESTS_FAILING = "tests_failing"  # files changed, new failures after the repairs
    UNVERIFIED = "unverified"  # files changed, nothing could tell whether they work
    NO_CHANGES = "no_changes"  # the model finished without changing a file
    LIMIT_REACHED = "limit_reached"  # steps, wall time, budget, format errors, or stuck
    PROVIDER_FAILURE = "provider_failure"  # no provider could answer


@dataclass
class AgentResult:
    """The outcome of :meth:`coffee_maker.agent.loop.Agent.run`.

    ``judgement`` is the harness's verdict on the last state of the workspace (None when
    nothing changed); ``tests_passed`` is its ``ok``; ``report`` the test run it judged;
    ``usage`` has the normalised keys of ``make_usage``; ``providers_used`` lists each
    ``provider/model`` that answered, in order; ``limit`` names the limit that stopped the
    run (``max_steps``, ``max_wall_time``, ``per_task_limit``, ``max_format_errors``,
    ``stuck`` or ``budget``); ``retry_at`` (epoch seconds) is when a provider may be
    available again.
    """

    status: Status
    summary: str = ""
    files_changed: list[str] = field(default_factory=list)
    tests_passed: bool | None = None
    test_output_tail: str = ""
    turns: int = 0
    usage: dict[str, int] = field(default_factory=make_usage)
    cost: float = 0.0
    providers_used: list[str] = field(default_factory=list)
    fallback_events: list[dict[str, Any]] = field(default_factory=list)
    transcript_path: Path | None = None
    error: str | None = None
    limit: str | None = None
    retry_at: float | None = None  # epoch seconds
    report: TestReport | None = None
    judgement: Judgement | None = None
    verification_reused: bool = False  # the model's last run_tests stood for the verification

    @property
    def success(self) -> bool:
        return self.status is Status.SUCCESS
