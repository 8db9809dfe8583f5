"""``code-developer worker --temporal``, ``submit`` and ``status --fleet`` (docs/FLEET.md).

The fleet's modules import temporalio, an optional dependency: each command checks for
it first and, without it, says what to install in one line (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from coffee_maker.cli.common import EXIT_OK, UsageError, load_app_config

PROG = "code-developer"


def _config(args: argparse.Namespace, repo: str | None = None):  # -> AppConfig
    from coffee_maker.fleet.temporal import require, settings_of

    require()
    config = load_app_config(args.config, repo)
    settings_of(config)  # no orchestrator: section -> one line
    return config


def run_worker(args: argparse.Namespace) -> int:
    from coffee_maker.fleet.temporal import require

    require()
    if not args.temporal:
        raise UsageError("worker: only --temporal is supported (the fleet on Temporal)")
    from coffee_maker.logging import configure_logging

    configure_logging(verbose=args.verbose)
    config = _config(args)
    settings = config.orchestrator
    assert settings is not None
    from coffee_maker.ai_providers.provider_config import REPO_CONFIG
    from coffee_maker.fleet.budget_client import install_fleet_budget
    from coffee_maker.fleet.worker import serve, served_repositories

    def load(path: Path):  # the clone's own config file, else the worker's
        own = path / REPO_CONFIG
        return load_app_config(str(own), str(path)) if own.is_file() else config

    served = served_repositories(settings, load)
    # Every tracker this worker makes reserves in the fleet's one budget before a paid call
    # (and fails closed when it cannot ask): two hosts never together overspend a limit.
    install_fleet_budget(config)
    asyncio.run(serve(settings, served, args.task_queue or settings.task_queue))
    return EXIT_OK


def run_submit(args: argparse.Namespace) -> int:
    repo = Path(args.repo).expanduser().resolve()
    if not (repo / ".git").exists():
        raise UsageError(f"--repo {repo}: not a git repository")
    config = _config(args, str(repo))
    from coffee_maker.fleet.client import submit

    submitted = asyncio.run(submit(config, repo, args.priority))
    if not submitted:
        print("nothing to submit: no priority is ready")
    for item in submitted:
        print(f"{item.priority}: {item.note} ({item.workflow_id})")
    return EXIT_OK


def show_fleet(args: argparse.Namespace) -> int:
    config = _config(args, str(Path(args.repo).expanduser().resolve()))
    from coffee_maker.fleet.client import fleet_runs

    runs = asyncio.run(fleet_runs(config))
    if args.json:
        print(json.dumps(runs, indent=2))
        return EXIT_OK
    if not runs:
        print("no runs in the fleet yet")
    for run in runs:
        cost = f"${run['cost']:.4f}" if run["cost"] is not None else "-"
        print(
            f"{run['status']:<11} {run['repository'] or '-'}  {run['priority'] or '-'}  "
            f"provider {run['provider'] or '-'}  cost {cost}  verdict {run['verdict'] or '-'}"
        )
    return EXIT_OK
