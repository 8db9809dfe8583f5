"""A request, from outside the daemon, to take one priority next: ``run-request.json``.

``project-manager mcp``'s ``run_priority`` tool asks a running daemon to work on a
priority without running any model itself: it writes one small file in the state
directory (``.git/coffee-maker/run-request.json``), atomically and under its own lock, and
the daemon's next iteration takes it when it selects what to do (``Iteration.select``),
once, as if it had been started with ``--priority`` for that one run. A later request
replaces an earlier one that was not taken yet. A dry run only looks at it.

The file is untrusted input like the roadmap: a request that is unreadable, too large,
or names no priority of the roadmap (it changed since) is logged, removed and ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.atomic_files import atomic_write, locked
from coffee_maker.autonomous.roadmap import Priority, PriorityLookupError, Roadmap
from coffee_maker.autonomous.state import RepoState, now_iso, state_dir
from coffee_maker.logging import get_logger

log = get_logger(__name__)

REQUEST_FILE = "run-request.json"
_LOCK_FILE = ".run-request.lock"
_MAX_BYTES = 4096


def _paths(repo: str | Path) -> tuple[Path, Path]:
    directory = state_dir(repo)
    return directory / REQUEST_FILE, directory / _LOCK_FILE


def request_run(repo: str | Path, ref: str, *, by: str = "mcp") -> dict[str, Any]:
    """Ask the daemon of ``repo`` to take ``ref`` (a priority reference) next."""
    path, lock = _paths(repo)
    request = {"version": 1, "priority": ref, "requested_at": now_iso(), "by": by}
    with locked(lock, timeout=10):
        atomic_write(path, (json.dumps(request) + "\n").encode("utf-8"))
    return request


def pending(repo: str | Path) -> dict[str, Any] | None:
    """The request not taken yet, or None (an unreadable one is None too)."""
    path, lock = _paths(repo)
    with locked(lock, exclusive=False, timeout=10):
        return _read(path)


def take(repo: str | Path, roadmap: Roadmap, state: RepoState, *, consume: bool) -> Priority | None:
    """The priority the pending request names, removing the request when ``consume``.

    Taking a blocked priority unblocks it, as ``--priority`` does. A request that names
    nothing in ``roadmap`` is dropped with a warning and the daemon picks as usual.
    """
    path, lock = _paths(repo)
    with locked(lock, timeout=10):
        request = _read(path)
        if request is None:
            if consume:
                path.unlink(missing_ok=True)  # an unreadable request is not retried
            return None
        if consume:
            path.unlink(missing_ok=True)
    try:
        priority = roadmap.find(request["priority"])
    except (PriorityLookupError, ValueError) as exc:
        log.warning("ignored a run request", priority=request["priority"], error=str(exc))
        return None
    if consume:
        log.info("taking a requested priority", priority=priority.ref, by=request.get("by"))
        if state.is_blocked(priority.id):
            state.reset(priority.id)
    return priority


def _read(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    try:
        request = json.loads(data) if len(data) <= _MAX_BYTES else None
    except ValueError:
        request = None
    if not isinstance(request, dict) or not isinstance(request.get("priority"), str):
        log.warning("ignored an unreadable run request", path=str(path))
        return None
    return request
