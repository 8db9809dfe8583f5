"""``code-developer worker --temporal``: a fleet worker on this host.

It polls the fleet's task queue for workflows, and for each repository it serves (a
clone listed in ``orchestrator.repositories``) that repository's own activity queue, one
step at a time per clone (a clone has one state and one lock), at most
``orchestrator.concurrency`` steps at once in all. SIGTERM or SIGINT stop it: a running
step is told to stop (its iteration records the interruption and the step is retried on
another worker).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from coffee_maker.config import AppConfig
from coffee_maker.errors import UserError
from coffee_maker.fleet.budget import budget_queue
from coffee_maker.fleet.budget_client import budget_worker
from coffee_maker.fleet.settings import OrchestratorSettings
from coffee_maker.fleet.steps import Served, Steps
from coffee_maker.fleet.temporal import activity_queue, repo_id
from coffee_maker.fleet.workflows import PriorityWorkflow
from coffee_maker.logging import get_logger

log = get_logger(__name__)

STOP_GRACE = timedelta(seconds=20)


class WorkerConfigError(UserError):
    """``orchestrator.repositories`` names no usable clone."""


def served_repositories(
    settings: OrchestratorSettings, load: Callable[[Path], AppConfig]
) -> list[Served]:
    """Each listed clone with its id and its config (``load``: the usual lookup)."""
    if not settings.repositories:
        raise WorkerConfigError(
            "orchestrator.repositories: empty; list the clones this worker may work in"
        )
    served: list[Served] = []
    for entry in settings.repositories:
        path = Path(entry).expanduser().resolve()
        if not (path / ".git").exists():
            raise WorkerConfigError(f"orchestrator.repositories: {entry}: not a git clone")
        config = load(path)
        served.append(Served(repo_id(config, path), path, config))
    return served


async def connect(settings: OrchestratorSettings) -> Client:
    try:
        return await Client.connect(settings.address, namespace=settings.namespace)
    except RuntimeError as exc:
        raise UserError(f"orchestrator.address {settings.address}: {exc}") from None


async def serve(settings: OrchestratorSettings, served: list[Served], task_queue: str) -> None:
    client = await connect(settings)
    steps = Steps(served, settings.concurrency)
    executor = ThreadPoolExecutor(max_workers=len(served) + 1, thread_name_prefix="step")
    workers = [
        Worker(client, task_queue=task_queue, workflows=[PriorityWorkflow]),
        # Every worker of the scope serves its budget workflow, on the scope's own queue.
        budget_worker(client, budget_queue(settings.budget_scope)),
    ]
    for repo in served:
        queue = activity_queue(task_queue, repo.repository)
        workers.append(
            Worker(
                client,
                task_queue=queue,
                activities=[steps.run_priority, steps.review_pull],
                activity_executor=executor,
                max_concurrent_activities=1,
                graceful_shutdown_timeout=STOP_GRACE,
            )
        )
        log.info("serving", repository=repo.repository, clone=str(repo.path), queue=queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = [asyncio.create_task(w.run()) for w in workers]
    print(f"worker ready: {len(served)} repositories on {task_queue}", flush=True)
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait([waiting, *running], return_when=asyncio.FIRST_COMPLETED)
    log.info("stopping: running steps stop at a safe point and move to another worker")
    steps.stop()
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    for task in running:
        if task.done() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    executor.shutdown(wait=False, cancel_futures=True)
