"""What the daemon remembers about one repository: attempts, the run in progress, itself.

It lives in ``<git common dir>/coffee-maker/`` so it is never committed, never shows in
``git status``, and is the same for every worktree of the repository. Each change is
re-read, applied and written atomically under a short file lock, so a crash leaves the old
file or the new one (never half), and a ``reset`` from another process is not overwritten
by the daemon's stale copy. A corrupt file is set aside, not fatal: losing a retry count
is better than a daemon that cannot start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.atomic_files import atomic_write, locked, rename_aside
from coffee_maker.errors import UserError
from coffee_maker.secrets import redact, redact_text
from coffee_maker.wording import count_of

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
LOCK_FILE = "daemon.lock"
HISTORY_LIMIT = 20  # entries kept per priority
ERROR_LIMIT = 2000  # characters of an error message kept
_CURRENT_KEYS = ("priority", "step", "provider", "started_at", "pid", "worktree", "branch", "pull")
HANDLED_LIMIT = 500  # remark keys kept per pull request
_DAEMON_KEYS = ("pid", "started_at", "next_run_at", "last_iteration_at")


class StateError(UserError):
    """The state cannot be found or used (e.g. the path is not a git repository)."""


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"  # counts toward max_attempts
    DEFERRED = "deferred"  # providers, budget or environment unavailable: not the priority's fault
    UNVERIFIED = "unverified"  # a draft PR nothing could verify: waits for a person, no retry


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def state_dir(repo: str | os.PathLike[str]) -> Path:
    """``<git common dir>/coffee-maker/``, created if needed; works from any worktree."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
    except (FileNotFoundError, NotADirectoryError):
        proc = None
    if proc is None or proc.returncode != 0:
        raise StateError(f"{repo}: not a git repository (use --repo PATH)")
    path = Path(proc.stdout.strip()) / "coffee-maker"
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON so that readers and crashes see the old file or the new one, never half."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    atomic_write(path, text.encode("utf-8"))


def process_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists (ours or another user's)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _empty() -> dict[str, Any]:
    return {"version": 1, "priorities": {}, "current": None, "daemon": None, "pulls": {}}


def _new_record() -> dict[str, Any]:
    return {
        "attempts": 0,
        "failures": 0,
        "last_outcome": None,
        "last_error": None,
        "last_run_at": None,
        "blocked": False,
        "blocked_reason": None,
        "branch": None,
        "pr_url": None,
        "verdict": None,
        "history": [],
    }


def _new_pull(number: int, priority: str, branch: str, base: str, url: str) -> dict[str, Any]:
    return {
        "number": number,
        "priority": priority,
        "branch": branch,
        "base": base,
        "url": url,
        "state": "open",  # open | merged | closed
        "handled": [],  # remark keys a follow-up took (or ci:<sha> for a repaired head)
        "ignored": [],  # remark keys that were not work (no permission, over the limit)
        "followups": 0,
        "ci_repairs": 0,
        "last_followup": None,
        "review_state": None,
        "ci_state": None,
        "unresolved": 0,
        "checked_at": None,
        "notes": [],  # what the loop said on the PR once (limits reached)
        "finished": None,  # what was recorded when the PR was merged or closed
    }


def _well_formed(data: Any) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("priorities", {}), dict):
        return False
    if not isinstance(data.get("pulls", {}), dict):
        return False
    if not all(isinstance(data.get(k), dict | None) for k in ("current", "daemon")):
        return False
    for record in data.get("priorities", {}).values():
        if not isinstance(record, dict):
            return False
        full = _new_record() | record
        counters_ok = all(type(full[k]) is int for k in ("attempts", "failures"))
        if not (counters_ok and isinstance(full["blocked"], bool)):
            return False
        if not isinstance(full["history"], list):
            return False
    return True


def _read(path: Path) -> dict[str, Any]:
    """The state on disk; a corrupt file is renamed aside with a warning, never a crash."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not _well_formed(data):
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        rename_aside(path, aside)
        log.warning("%s was unreadable; moved it to %s and started afresh", path, aside.name)
        return _empty()
    data = _empty() | data
    data["priorities"] = {k: _new_record() | v for k, v in data["priorities"].items()}
    data["pulls"] = {
        k: _new_pull(0, "", "", "", "") | v
        for k, v in (data.get("pulls") or {}).items()
        if isinstance(v, dict)
    }
    return data


def review_note(record: dict[str, Any]) -> str | None:
    """ "awaiting review (...)" for a priority whose PR waits for a person, else None."""
    where = record.get("pr_url") or record.get("branch") or "its branch"
    if record.get("last_outcome") == Outcome.SUCCESS.value:
        return f"awaiting review ({record.get('verdict') or 'passed'}): {where}"
    if record.get("last_outcome") == Outcome.UNVERIFIED.value:
        return f"awaiting review (unverified: {record.get('verdict') or 'not verified'}): {where}"
    return None


class RepoState:
    """The state of one repository; every change is saved before the method returns."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE
        self._lock_path = directory / f".{STATE_FILE}.lock"
        self._data = _read(self.path)

    @classmethod
    def load(cls, repo_path: str | os.PathLike[str]) -> RepoState:
        return cls(state_dir(repo_path))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._data))

    def save(self) -> None:
        with locked(self._lock_path):
            atomic_write_json(self.path, redact(self._data))

    @contextlib.contextmanager
    def _change(self) -> Iterator[dict[str, Any]]:
        """Re-read, change, write: another process's change since our last read survives."""
        with locked(self._lock_path):
            self._data = _read(self.path)
            yield self._data
            # Everything written is redacted: a URL with credentials, a key quoted by a vendor.
            atomic_write_json(self.path, redact(self._data))

    # -- priorities ---------------------------------------------------------------------

    def record(self, priority_id: str) -> dict[str, Any]:
        """A copy of one priority's record (a fresh one if it never ran)."""
        return json.loads(json.dumps(self._data["priorities"].get(priority_id, _new_record())))

    def is_blocked(self, priority_id: str) -> bool:
        return bool(self._data["priorities"].get(priority_id, {}).get("blocked"))

    def is_skipped(self, priority_id: str) -> bool:
        """The daemon passes it over: blocked, or its PR awaits review (verified or not).

        ``--priority ID`` still runs it; merging the PR marks it complete in the roadmap.
        """
        record = self._data["priorities"].get(priority_id, {})
        waiting = (Outcome.SUCCESS.value, Outcome.UNVERIFIED.value)
        return bool(record.get("blocked")) or record.get("last_outcome") in waiting

    def record_attempt(
        self,
        priority_id: str,
        outcome: Outcome | str,
        error: str | None = None,
        max_attempts: int = 3,
        **details: Any,
    ) -> dict[str, Any]:
        """Note how a run ended; the ``max_attempts``-th failure blocks the priority.

        A deferred run leaves an "awaiting review" record as it was (only its history grows).
        """
        outcome = Outcome(outcome)
        error = redact_text(error)[:ERROR_LIMIT] if error else None
        details = json.loads(json.dumps(redact(details), default=str))
        with self._change() as data:
            record = data["priorities"].setdefault(priority_id, _new_record())
            # A PR awaiting review stays so when a later run is deferred (no provider, the
            # budget, a stop): else the daemon would redo the priority and pay for it twice.
            keep = outcome is Outcome.DEFERRED and review_note(record) is not None
            if keep:
                record["last_run_at"] = now_iso()
            else:
                record.update(last_outcome=outcome.value, last_error=error, last_run_at=now_iso())
                record.update(
                    {k: details[k] for k in ("branch", "pr_url", "verdict") if k in details}
                )
            if outcome is not Outcome.DEFERRED:
                record["attempts"] += 1
            if outcome is Outcome.FAILURE:
                record["failures"] += 1
                if record["failures"] >= max_attempts and not record["blocked"]:
                    record["blocked"] = True
                    reason = f"failed {count_of(record['failures'], 'time')}"
                    record["blocked_reason"] = f"{reason}; last error: {error}" if error else reason
            entry = {"at": record["last_run_at"], "outcome": outcome.value, "error": error}
            record["history"] = [*record["history"], entry | details][-HISTORY_LIMIT:]
        return self.record(priority_id)

    def block(self, priority_id: str, reason: str) -> None:
        """Block a priority for a reason that is not a count of failures (a closed PR)."""
        with self._change() as data:
            record = data["priorities"].setdefault(priority_id, _new_record())
            record.update(blocked=True, blocked_reason=redact_text(reason)[:ERROR_LIMIT])

    def reset(self, priority_id: str) -> None:
        """Unblock a priority and forget its attempts (its history stays, for the record)."""
        with self._change() as data:
            record = data["priorities"].setdefault(priority_id, _new_record())
            record.update(attempts=0, failures=0, blocked=False, blocked_reason=None)

    # -- the pull requests it opened (the review loop) ----------------------------------

    def pulls(self) -> dict[str, dict[str, Any]]:
        """A copy of every tracked PR's record, by number (as a string)."""
        return json.loads(json.dumps(self._data.get("pulls") or {}))

    def track_pull(self, number: int, priority: str, branch: str, base: str, url: str) -> None:
        """Start watching a PR the daemon opened (a no-op when it is watched already)."""
        with self._change() as data:
            pulls = data.setdefault("pulls", {})
            if str(number) not in pulls:
                pulls[str(number)] = _new_pull(number, priority, branch, base, url)

    @contextlib.contextmanager
    def change_pull(self, number: int) -> Iterator[dict[str, Any]]:
        """Change one tracked PR's record in place, saved when the block ends."""
        with self._change() as data:
            record = data.setdefault("pulls", {}).get(str(number))
            if record is None:
                raise StateError(f"{self.path}: pull request #{number} is not tracked")
            yield record
            for key in ("handled", "ignored"):
                record[key] = record[key][-HANDLED_LIMIT:]

    # -- the run in progress ------------------------------------------------------------

    @property
    def current(self) -> dict[str, Any] | None:
        return dict(self._data["current"]) if self._data["current"] else None

    def set_current(
        self,
        priority: str,
        step: str,
        provider: str | None = None,
        worktree: str | os.PathLike[str] | None = None,
        branch: str | None = None,
    ) -> None:
        with self._change() as data:
            data["current"] = {
                "priority": priority,
                "step": step,
                "provider": provider,
                "started_at": now_iso(),
                "pid": os.getpid(),
                "worktree": os.fspath(worktree) if worktree else None,
                "branch": branch,
            }

    def update_current(self, **fields: Any) -> None:
        """Change fields of the run in progress, e.g. ``step=`` or ``provider=``."""
        unknown = set(fields) - set(_CURRENT_KEYS)
        if unknown:
            raise TypeError(f"update_current: unknown field(s) {sorted(unknown)}")
        with self._change() as data:
            if not data["current"]:
                raise StateError(f"{self.path}: no run in progress to update")
            if fields.get("worktree"):
                fields["worktree"] = os.fspath(fields["worktree"])
            data["current"].update(fields)

    def clear_current(self) -> None:
        with self._change() as data:
            data["current"] = None

    # -- the daemon itself --------------------------------------------------------------

    @property
    def daemon(self) -> dict[str, Any] | None:
        return dict(self._data["daemon"]) if self._data["daemon"] else None

    def update_daemon(self, **fields: Any) -> None:
        """Record ``pid``, ``started_at``, ``next_run_at``, ``last_iteration_at``."""
        unknown = set(fields) - set(_DAEMON_KEYS)
        if unknown:
            raise TypeError(f"update_daemon: unknown field(s) {sorted(unknown)}")
        values = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}
        with self._change() as data:
            data["daemon"] = (data["daemon"] or {}) | values

    def clear_daemon(self) -> None:
        with self._change() as data:
            data["daemon"] = None
