"""The fleet's settings: the ``orchestrator:`` section of the config file.

Absent, the single-machine daemon runs as it always did; ``kind: temporal`` lets
``code-developer worker --temporal`` and ``code-developer submit`` talk to a Temporal
server (docs/FLEET.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OrchestratorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: Literal["temporal"] = "temporal"
    address: str = Field("localhost:7233", min_length=1)
    namespace: str = Field("default", min_length=1)
    task_queue: str = Field("coffee-maker", min_length=1)
    #: The budget every worker of the scope shares (one Temporal workflow holds it); give
    #: each host of a scope the same cost_controls (docs/FLEET.md, "One budget").
    budget_scope: str = Field("default", min_length=1, max_length=200)
    #: The clones this worker may work in; each is served on its own activity queue.
    repositories: list[str] = Field(default_factory=list)
    #: Runs at once on this worker, across its repositories (one at a time per clone).
    concurrency: int = Field(1, ge=1)
    #: A worker silent this long (seconds) is taken for dead; its step moves elsewhere.
    heartbeat_timeout: float = Field(30.0, gt=0)
    #: The longest one step (a whole iteration for one priority) may take, in seconds.
    step_timeout: float = Field(4 * 3600.0, gt=0)
    #: After the PR is opened, the workflow follows its review (daemon.review_poll_interval)
    #: until it is merged or closed; false: the workflow ends with the PR.
    follow_reviews: bool = True
    #: Attempts of a step that failed for a reason worth retrying (a dead worker, a crash).
    max_step_attempts: int = Field(5, ge=1)
