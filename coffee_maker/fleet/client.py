"""``code-developer submit`` and ``code-developer status --fleet``: the fleet's client.

``submit`` starts one workflow per ready priority of a repository's roadmap (as the
daemon would pick them: Planned, dependencies Complete, not held, not blocked, no PR
awaiting review), or the one ``--priority`` names. A workflow whose id is running is
refused (the same priority never runs twice at once); one that completed is not started
again, one that failed may be. ``status --fleet`` lists the runs through Temporal's
visibility API, with the search attributes the workflows set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from coffee_maker.autonomous.planning import load_base_roadmap
from coffee_maker.autonomous.roadmap import Priority, PriorityLookupError, Roadmap
from coffee_maker.autonomous.run_endings import UnknownPriorityError
from coffee_maker.autonomous.state import RepoState
from coffee_maker.config import AppConfig
from coffee_maker.errors import UserError
from coffee_maker.fleet.temporal import WORKFLOW, activity_queue, repo_id, settings_of, workflow_id
from coffee_maker.fleet.worker import connect
from coffee_maker.fleet.workflows import COST, PRIORITY, PROVIDER, REPOSITORY, VERDICT, Job


class FleetServerError(UserError):
    """The Temporal server refused: most often, search attributes not registered in the
    namespace (docs/FLEET.md, "Seeing it")."""


@dataclass
class Submitted:
    priority: str
    workflow_id: str
    started: bool
    note: str


def ready_priorities(roadmap: Roadmap, state: RepoState) -> list[Priority]:
    """Every priority the daemon would take, in order (its next one, again and again)."""
    taken: set[str] = set()
    ready: list[Priority] = []
    while True:
        found = roadmap.next_planned(skip=lambda p: p.id in taken or state.is_skipped(p.id))
        if found is None:
            return ready
        taken.add(found.id)
        ready.append(found)


async def submit(config: AppConfig, repo: Path, ref: str | None) -> list[Submitted]:
    settings = settings_of(config)
    roadmap = load_base_roadmap(repo, config, fetch=True)
    if ref:
        try:
            chosen = [roadmap.find(ref)]
        except PriorityLookupError as exc:
            raise UnknownPriorityError(f"--priority {ref}: {exc}") from None
    else:
        chosen = ready_priorities(roadmap, RepoState.load(repo))
    repository = repo_id(config, repo)
    client = await connect(settings)
    done: list[Submitted] = []
    poll = config.daemon.review_poll_interval if settings.follow_reviews else 0.0
    for priority in chosen:
        job = Job(
            repository=repository,
            priority=priority.id,
            activity_queue=activity_queue(settings.task_queue, repository),
            heartbeat_timeout=settings.heartbeat_timeout,
            step_timeout=settings.step_timeout,
            max_attempts=settings.max_step_attempts,
            review_poll_interval=poll,
        )
        wid = workflow_id(repository, priority.id)
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(REPOSITORY, repository),
                SearchAttributePair(PRIORITY, priority.id),
            ]
        )
        try:
            await client.start_workflow(
                WORKFLOW,
                job,
                id=wid,
                task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                search_attributes=attributes,
                memo={"title": priority.title, "repository": repository},
            )
        except WorkflowAlreadyStartedError:
            done.append(Submitted(priority.id, wid, False, "already running or done"))
        except RPCError as exc:
            raise FleetServerError(f"orchestrator ({settings.address}): {exc.message}") from None
        else:
            done.append(Submitted(priority.id, wid, True, "started"))
    return done


async def fleet_runs(config: AppConfig, query: str | None = None) -> list[dict[str, Any]]:
    """The fleet's runs, newest first, as the visibility API reports them."""
    settings = settings_of(config)
    client = await connect(settings)
    wanted = f'WorkflowType="{WORKFLOW}"' + (f" AND ({query})" if query else "")
    runs: list[dict[str, Any]] = []
    try:
        executions = [e async for e in client.list_workflows(wanted)]
    except RPCError as exc:
        raise FleetServerError(f"orchestrator ({settings.address}): {exc.message}") from None
    for execution in executions:
        found = execution.typed_search_attributes
        cost = found.get(COST)
        runs.append(
            {
                "workflow_id": execution.id,
                "status": execution.status.name.lower() if execution.status else "unknown",
                "repository": found.get(REPOSITORY),
                "priority": found.get(PRIORITY),
                "provider": found.get(PROVIDER),
                "cost": cost,
                "verdict": found.get(VERDICT),
                "started_at": execution.start_time.isoformat() if execution.start_time else None,
                "closed_at": execution.close_time.isoformat() if execution.close_time else None,
            }
        )
    return runs
