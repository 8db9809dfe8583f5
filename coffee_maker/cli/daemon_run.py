"""``code-developer [flags]``: validate everything up front, then run the daemon.

A mistake the user can fix (config, flag, roadmap, repository, GitHub token) is one line
on stderr and exit code 2 before any money is spent; a provider or budget outage, or
another daemon holding the repository, is exit code 75.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from coffee_maker.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
    UsageError,
    error_line,
    load_app_config,
)

PROG = "code-developer"
NO_SANDBOX_WARNING = (
    "agent.sandbox: none - code the model writes (its tests) runs with all of your rights"
)


class ProgressLine:
    """One self-rewriting line on a terminal: the current step and the iteration's time."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self._status: Any = None

    def __call__(self, step: str) -> None:
        if not self.enabled:
            return
        from rich.markup import escape

        if self._status is None:  # a new iteration: its own clock
            self.started = time.monotonic()
        elapsed = time.monotonic() - self.started
        text = escape(f"[{int(elapsed // 60)}m{int(elapsed % 60):02d}s] {step}")
        if self._status is None:
            from coffee_maker.cli.common import make_console

            self._status = make_console(stderr=True).status(text)
            self._status.start()
        else:
            self._status.update(text)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def run_daemon(args: argparse.Namespace) -> int:
    from coffee_maker.autonomous.daemon import DevDaemon
    from coffee_maker.autonomous.run_endings import IterationResult, RunOptions
    from coffee_maker.logging import configure_logging

    configure_logging(verbose=args.verbose)
    repo = Path(args.repo).expanduser().resolve()
    if not repo.is_dir():
        raise UsageError(f"--repo {repo}: no such directory")
    config = load_app_config(args.config, str(repo))
    from coffee_maker.ai_providers.pricing import get_price_table

    get_price_table()  # a bad price file is the user's to fix: exit 2 now, not mid-run
    if args.provider and args.provider not in config.providers:
        names = ", ".join(config.providers) or "none"
        raise UsageError(f"--provider {args.provider}: not a configured provider ({names})")
    _check_sandbox(config, dry_run=args.dry_run)
    options = RunOptions(
        repo=repo,
        provider=args.provider,
        no_fallback=args.no_fallback,
        dry_run=args.dry_run,
        priority=_priority_id(args.priority),
        no_pr=args.no_pr,
        once=args.once,
    )
    progress = ProgressLine(sys.stderr.isatty() and not args.verbose)
    if progress.enabled:  # the progress line tells the steps; logs would tear it apart
        logging.getLogger().setLevel(logging.WARNING)

    def report(result: IterationResult) -> None:
        progress.close()
        print(result.message, flush=True)

    single = args.once or args.dry_run
    printed = single or progress.enabled  # else a service: results go to the log (journald)
    daemon = DevDaemon(
        config,
        options,
        interval=args.interval,
        on_step=progress,
        report=report if printed else _log,
        on_stop=_acknowledge_stop,
    )
    try:
        code = _run(daemon, single)
    finally:
        progress.close()
    if daemon.abandoned:  # its thread is stuck in a model call: exit without waiting for it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _acknowledge_stop() -> None:
    """Ctrl-C or SIGTERM was heard: say so at once (the run then ends within seconds).

    Called from the signal handler, so ``os.write``: ``print`` could be interrupted
    in the middle of another ``print`` to stderr and raise."""
    os.write(sys.stderr.fileno(), f"{PROG}: stopping...\n".encode())


def _check_sandbox(config: Any, *, dry_run: bool) -> None:
    """No model-written code may run unsandboxed by accident: without a working bwrap the
    daemon refuses to start (exit 2) unless the config says ``agent.sandbox: none``."""
    if config.agent.sandbox.mode == "none":
        if not dry_run:
            error_line(f"{PROG}: warning: {NO_SANDBOX_WARNING}")
        return
    from coffee_maker.agent.sandbox import sandbox_problem

    problem = sandbox_problem()
    if problem is not None and not dry_run:  # --dry-run prints it as a bad preflight check
        raise UsageError(f"agent.sandbox: {problem}")


def _run(daemon: Any, single: bool) -> int:
    from coffee_maker.autonomous.repo_lock import AlreadyRunningError

    try:
        return exit_code(daemon.once()) if single else daemon.serve()
    except AlreadyRunningError as exc:  # a busy repository, not a mistake: exit 75
        error_line(f"{PROG}: {exc}")
        return EXIT_TEMPFAIL


def exit_code(result: Any) -> int:
    """The exit code for how an iteration ended (README, "Exit codes")."""
    from coffee_maker.autonomous.run_endings import Ending

    codes = {
        Ending.FAILED: EXIT_FAILED,
        Ending.ENVIRONMENT_BROKEN: EXIT_FAILED,
        Ending.UNAVAILABLE: EXIT_TEMPFAIL,
        Ending.INTERRUPTED: EXIT_INTERRUPTED,
        Ending.NOT_READY: EXIT_USAGE,
    }
    return codes.get(result.ending, EXIT_OK)


def _priority_id(text: str | None) -> str | None:
    """``--priority`` in its canonical spelling: an id, ``ID@LINE`` or ``@LINE``."""
    from coffee_maker.autonomous.roadmap import normalize_ref

    if text is None:
        return None
    try:
        return normalize_ref(text)
    except ValueError as exc:
        raise UsageError(f"--priority: {exc}") from None


def _log(result: Any) -> None:
    from coffee_maker.logging import get_logger

    get_logger(__name__).info(result.message, ending=result.ending.value)
