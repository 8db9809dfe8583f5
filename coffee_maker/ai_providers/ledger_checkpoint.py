"""The ledger's running totals saved with the byte offset they cover, so opening is cheap.

Without it every process that opens a :class:`~coffee_maker.ai_providers.cost_tracker.CostTracker`
(each ``code-developer status``, each report) would parse the whole ledger, which grows by
two lines a model call for years. ``ledger.checkpoint.json`` next to the ledger holds what
the budget checks and reports need (per day/provider/model usage, per task spend, live
reservations) and how far into the ledger they reach; opening loads it and reads only the
lines after. It is a cache, never a source of truth: it is used only while the ledger is
the same file (device and inode), at least as long as the offset, and its 4 KiB before the
offset still hash the same; otherwise (rotated, truncated, edited, replaced, or the
checkpoint unreadable or out of range) the totals are rebuilt from the ledger. Deleting it
is always safe. Daily and monthly totals are not stored: they are sums of the per-day
usage, so the file cannot disagree with itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.atomic_files import atomic_write
from coffee_maker.ai_providers.ledger import LedgerFile, Reservation, Totals, UsageStats
from coffee_maker.ai_providers.ledger_records import MAX_TEXT, record_problem

log = logging.getLogger(__name__)

VERSION = 1
#: Bytes before the offset whose hash must still match: an edit, truncation and regrowth,
#: or another file at the same inode shows up there.
TAIL = 4096
#: Above any real total (nano-dollars, tokens, requests), below what a signed 64-bit holds.
MAX_VALUE = 2**62
FIELDS = list(UsageStats.__dataclass_fields__)


def checkpoint_path(ledger: Path) -> Path:
    return ledger.with_name("ledger.checkpoint.json")


class Checkpointer:
    """One tracker's use of the checkpoint: where to start, and when to write a new one
    (``every`` ledger bytes read or written past the one it last loaded or wrote)."""

    def __init__(self, ledger: Path, every: int) -> None:
        self.path = checkpoint_path(ledger)
        self.every = every
        self.covered = -1  # the offset the last checkpoint covers; -1: not started

    @property
    def started(self) -> bool:
        return self.covered >= 0

    def start(self, file: LedgerFile) -> Totals:
        """The totals to begin with; ``file`` is moved to the offset they cover (or 0)."""
        offset, lines, totals = load(self.path, file.fd) or (0, 0, Totals())
        file.seek(offset, lines)
        self.covered = offset
        return totals

    def maybe_save(self, file: LedgerFile, totals: Totals, clock: Callable[[], float]) -> None:
        """Write a checkpoint if ``file`` is far enough past the last one; a failure costs
        speed (the next open reads more), never money, so it is a warning."""
        if file.offset - self.covered < self.every:
            return
        try:
            save(self.path, file.fd, file.offset, file.lines, totals, clock())
        except OSError as exc:
            log.warning("%s: could not write (%s); the next open reads more", self.path, exc)
        self.covered = file.offset


def tail_digest(fd: int, offset: int) -> str:
    """SHA-256 of the (up to) :data:`TAIL` bytes of ``fd`` before ``offset``."""
    start = max(0, offset - TAIL)
    return hashlib.sha256(os.pread(fd, offset - start, start)).hexdigest()


def save(path: Path, fd: int, offset: int, lines: int, totals: Totals, now: float) -> None:
    """Write the checkpoint for the first ``offset`` bytes (``lines`` lines) of ``fd``.

    Bytes before ``offset`` never change in an append-only file, so this needs the
    tracker's consistency (its mutex), not the ledger's lock.
    """
    info = os.fstat(fd)
    data = {
        "version": VERSION,
        "offset": offset,
        "lines": lines,
        "dev": info.st_dev,
        "ino": info.st_ino,
        "tail_sha256": tail_digest(fd, offset),
        "fields": FIELDS,
        "stats": [
            [day, provider, model, [getattr(stat, name) for name in FIELDS]]
            for (day, provider, model), stat in totals.stats.items()
        ],
        "tasks": dict(totals.tasks),
        "reservations": [r.to_record(now) for r in totals.reservations.values() if r.expires > now],
    }
    atomic_write(path, json.dumps(data, separators=(",", ":")).encode())


def load(path: Path, fd: int) -> tuple[int, int, Totals] | None:
    """(offset, lines, totals) from the checkpoint if it still describes ``fd``, else None."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("%s: unreadable (%s); rebuilding the totals from the ledger", path, exc)
        return None
    try:
        data = json.loads(raw)
        offset, lines = _count(data["offset"]), _count(data["lines"])
        info = os.fstat(fd)
        if data["version"] != VERSION or data["fields"] != FIELDS:
            reason = "written by another version"
        elif [data["dev"], data["ino"]] != [info.st_dev, info.st_ino]:
            reason = "the ledger is another file now (rotated or replaced)"
        elif info.st_size < offset:
            reason = "the ledger is shorter than the checkpoint (truncated)"
        elif tail_digest(fd, offset) != data["tail_sha256"]:
            reason = "the ledger's bytes before the checkpoint changed"
        else:
            return offset, lines, _totals(data)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        log.warning("%s: not a valid checkpoint (%s); rebuilding the totals", path, exc)
        return None
    log.info("%s: %s; rebuilding the totals from the ledger", path, reason)
    return None


def _count(value: Any) -> int:
    if type(value) is not int or not 0 <= value < MAX_VALUE:
        raise ValueError(f"{str(value)[:40]!r} is not a count")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"{str(value)[:40]!r} is not a name")
    return value


def _totals(data: dict[str, Any]) -> Totals:
    """The totals in ``data``, every value checked: the file is as untrusted as the ledger."""
    totals = Totals()
    for day, provider, model, values in data["stats"]:
        date.fromisoformat(_name(day))
        if len(day) != 10 or len(values) != len(FIELDS):
            raise ValueError(f"malformed usage for {day[:40]!r}")
        stat = UsageStats(*(_count(v) for v in values))
        totals.stats[(day, _name(provider), _name(model))] = stat
        totals.days[day] += stat.cost_nanos
        totals.months[day[:7]] += stat.cost_nanos
    for task, nanos in data["tasks"].items():
        totals.tasks[_name(task)] = _count(nanos)
    for rec in data["reservations"]:
        problem = record_problem(rec) if isinstance(rec, dict) else "not a record"
        if problem or rec.get("kind") != "reserve":
            raise ValueError(f"bad reservation ({problem or 'not a reserve record'})")
        reservation = Reservation.from_record(rec)
        totals.reservations[reservation.id] = reservation
    return totals
