"""The ledger's file and what its records add up to.

The file is append-only JSON lines that several processes write at once and read
incrementally. Writers take an exclusive ``flock`` on a separate lock file, append whole
lines with one ``O_APPEND`` write and fsync before letting go, so lines never interleave
and a line that was acknowledged survives a crash. Readers remember the byte offset they
have parsed up to and read only what was appended since. A crash mid-write can leave a
torn last line: it is skipped with one warning, and the next append starts on a fresh line
so every later record still parses. A line that is not a well-formed record (see
:mod:`~coffee_maker.ai_providers.ledger_records`: a negative or absurd cost, an unknown
kind...) is skipped the same way, with one warning per process naming its line.
POSIX only (``fcntl``): the daemon targets Linux and macOS. :class:`Totals` folds records
into running totals one at a time; money is summed in integer nano-dollars so totals are
exact, and days are UTC dates.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.atomic_files import locked
from coffee_maker.ai_providers.base import USAGE_KEYS
from coffee_maker.ai_providers.ledger_records import record_problem

log = logging.getLogger(__name__)

#: (ledger path, line) pairs already warned about by this process: several trackers may
#: read the same ledger in one command, and a bad line deserves one warning, not one each.
_WARNED: set[tuple[str, int]] = set()

NANOS = 1_000_000_000
#: Bytes read at a time: the ledger is never read whole, so memory stays flat as it grows.
CHUNK = 1 << 20
#: A line longer than this is skipped unread: a real record is well under 20 KiB.
MAX_LINE = 1 << 20


def to_nanos(usd: float | int | str | None) -> int:
    """USD to integer nano-dollars: what every total is summed in."""
    return round(float(usd or 0) * NANOS)


def usd(nanos: int) -> float:
    return nanos / NANOS


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def timestamp(ts: float) -> str:
    """The ledger's ``ts``: ISO 8601 in UTC, microseconds, ``Z``."""
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day_key(ts: float) -> str:
    return utc(ts).strftime("%Y-%m-%d")


def month_key(ts: float) -> str:
    return utc(ts).strftime("%Y-%m")


class LedgerFile:
    """The file side of the ledger: locking, appending, reading what is new."""

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path
        self.offset = 0
        self.lines = 0  # complete lines before ``offset``, for messages that point
        self._fd = -1
        self._pid = -1
        self._torn = False  # the file does not end with a newline
        self._size = -1  # the file's size when last looked at under the lock
        #: Bytes read from the file by this object: what tests and benchmarks count.
        self.bytes_read = 0

    # -- descriptors ---------------------------------------------------------------------
    def _open(self) -> None:
        """(Re)open the data descriptor: after a fork the child needs an offset of its own.
        The lock is taken on a fresh descriptor each time (:func:`locked`), so a child
        never shares the parent's lock description."""
        self.close()
        self._open_data()
        self._pid = os.getpid()

    def _open_data(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = self._pid = -1

    def __del__(self) -> None:
        self.close()

    @contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        if self._pid != os.getpid():
            self._open()
        with locked(self.lock_path, exclusive=exclusive):
            yield

    def reset_if_replaced(self) -> bool:
        """True (and start over from byte 0) if the file was deleted, replaced or truncated.

        Call while holding the lock; only the data descriptor is reopened.
        """
        mine = os.fstat(self._fd)
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            on_disk = None
        unchanged = on_disk is not None and os.path.samestat(on_disk, mine)
        if unchanged and mine.st_size >= self.offset:
            self._size = mine.st_size
            return False
        self._open_data()
        self.seek(0, 0)
        stale = {key for key in _WARNED if key[0] == str(self.path)}
        _WARNED.difference_update(stale)
        return True

    def seek(self, offset: int, lines: int) -> None:
        """Continue from ``offset`` (a line boundary, ``lines`` lines in): a checkpoint's."""
        self.offset, self.lines, self._torn, self._size = offset, lines, False, -1

    @property
    def fd(self) -> int:
        """The data descriptor (opened by :meth:`locked`)."""
        return self._fd

    # -- reading -------------------------------------------------------------------------
    def read_new(self) -> Iterator[dict[str, Any]]:
        """Records appended since the last read, in bounded chunks. Call while holding the lock."""
        size = os.fstat(self._fd).st_size
        self._size = size
        for end, line in self._lines(self._fd, self.offset, size):
            self.offset, self.lines = end, self.lines + 1
            record = None
            if line is None:
                self._warn(self.lines, f"a line longer than {MAX_LINE:,} bytes")
            else:
                record = self._parse(line, self.lines)
            if record is not None:
                yield record
        self._torn = self.offset < size
        if self._torn:
            self._warn(self.lines + 1, "an incomplete last line (a write interrupted by a crash?)")

    def _lines(self, fd: int, start: int, stop: int) -> Iterator[tuple[int, bytes | None]]:
        """(offset after the line, the line) for each complete line in ``[start, stop)``.

        Reads :data:`CHUNK` bytes at a time, so memory stays bounded however large the
        file is; a line longer than :data:`MAX_LINE` (no record is) comes back as None.
        An unfinished last line is not returned.
        """
        base, rest, skipping = start, b"", False  # base: the file offset of rest[0]
        while base + len(rest) < stop:
            at = base + len(rest)
            chunk = os.pread(fd, min(CHUNK, stop - at), at)
            if not chunk:
                return
            self.bytes_read += len(chunk)
            data = rest + chunk if rest else chunk
            if skipping:
                newline = data.find(b"\n")
                if newline < 0:
                    base, rest = base + len(data), b""
                    continue
                base, data, skipping = base + newline + 1, data[newline + 1 :], False
                yield base, None
            end = data.rfind(b"\n") + 1
            lines = data[:end].split(b"\n")
            lines.pop()
            position = base
            for line in lines:
                position += len(line) + 1
                yield position, line
            base, rest = base + end, data[end:]
            if len(rest) > MAX_LINE:
                base, rest, skipping = base + len(rest), b"", True

    def read_all(self, fd: int, stop: int) -> Iterator[dict[str, Any]]:
        """Every valid record in the first ``stop`` bytes of ``fd`` (for exports), streamed
        in chunks; invalid lines are skipped quietly (reading the ledger warned once)."""
        for number, (_, line) in enumerate(self._lines(fd, 0, stop), start=1):
            record = None if line is None else self._parse(line, number, quiet=True)
            if record is not None:
                yield record

    def _parse(self, line: bytes, number: int, *, quiet: bool = False) -> dict[str, Any] | None:
        """The record on line ``number``, or None (with a warning) when it must not count."""
        if not line.strip():
            return None
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            record = None
        if not isinstance(record, dict):
            problem: str | None = "a line that is not a JSON record"
        else:
            problem = record_problem(record)
            problem = problem and f"an invalid record ({problem})"
        if problem is None:
            return record
        if not quiet:
            self._warn(number, problem)
        return None

    def _warn(self, number: int, what: str) -> None:
        if (str(self.path), number) in _WARNED:
            return
        _WARNED.add((str(self.path), number))
        log.warning("%s:%d: skipping %s; it is not counted", self.path, number, what)

    # -- writing -------------------------------------------------------------------------
    def append(
        self, records: list[dict[str, Any]], *, durable: bool = True, adopt: bool = True
    ) -> bool:
        """Append whole lines (and fsync if ``durable``) while holding the exclusive lock.

        Other processes see the lines at once either way; fsync is what makes them outlive
        a power cut, which only records of money spent need. With ``adopt``, True when
        the file held exactly what was read before and these lines after: the offset
        then moves past them and the caller applies ``records`` itself, without reading
        back what it just wrote. False: read them back with :meth:`read_new`.
        """
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        payload = (("\n" if self._torn else "") + lines).encode()
        view = memoryview(payload)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if durable:
            os.fsync(self._fd)
        caught_up = adopt and not self._torn and self._size == self.offset
        if not caught_up or os.fstat(self._fd).st_size != self.offset + len(payload):
            return False  # a torn line before ours, or a writer that ignores the lock
        self.offset += len(payload)
        self.lines += len(records)
        self._size = self.offset
        return True


@dataclass
class Reservation:
    """Money set aside for one call; settle or release it when the call is over."""

    id: str
    provider: str
    model: str | None
    task_id: str | None
    nanos: int
    expires: float
    pid: int
    host: str

    @property
    def amount(self) -> float:
        return usd(self.nanos)

    def to_record(self, ts: float) -> dict[str, Any]:
        return {
            "kind": "reserve",
            "ts": timestamp(ts),
            "id": self.id,
            "provider": self.provider,
            "model": self.model,
            "task_id": self.task_id,
            "amount": self.amount,
            "expires": self.expires,
            "pid": self.pid,
            "host": self.host,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Reservation:
        return cls(
            id=str(rec["id"]),
            provider=str(rec.get("provider") or ""),
            model=rec.get("model"),
            task_id=rec.get("task_id"),
            nanos=to_nanos(rec["amount"]),
            expires=float(rec["expires"]),
            pid=int(rec.get("pid") or 0),
            host=str(rec.get("host") or ""),
        )

    def is_live(self, now: float) -> bool:
        """Still holding money: not expired and, if it is from this host, its process runs."""
        if now >= self.expires:
            return False
        if self.host != socket.gethostname() or self.pid == os.getpid():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


@dataclass
class UsageStats:
    """Requests, tokens and money for one provider or model over a date range."""

    requests: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_nanos: int = 0

    @property
    def cost(self) -> float:
        return usd(self.cost_nanos)

    @property
    def average_cost(self) -> float:
        return usd(self.cost_nanos // self.requests) if self.requests else 0.0

    @property
    def tokens(self) -> int:
        return sum(getattr(self, k) for k in USAGE_KEYS)

    def add_call(self, rec: Mapping[str, Any]) -> None:
        """Count one call record in these stats; a bad record raises and changes nothing."""
        tokens = {key: int(rec.get(key) or 0) for key in USAGE_KEYS}
        nanos = to_nanos(rec.get("cost"))
        self.requests += 1
        self.failures += rec.get("outcome", "ok") != "ok"
        for key, count in tokens.items():
            setattr(self, key, getattr(self, key) + count)
        self.cost_nanos += nanos

    def add(self, other: UsageStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        del data["cost_nanos"]
        return {**data, "tokens": self.tokens, "cost": self.cost, "average_cost": self.average_cost}


@dataclass
class Totals:
    """What the ledger adds up to: kept in memory, updated one record at a time."""

    days: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    months: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tasks: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stats: dict[tuple[str, str, str], UsageStats] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)

    def apply(self, rec: Mapping[str, Any]) -> bool:
        """Add one record; True when it was a call (totals changed). Raises on bad records."""
        kind = rec.get("kind", "call")
        if kind == "reserve":
            reservation = Reservation.from_record(rec)
            self.reservations[reservation.id] = reservation
            return False
        if kind == "release":
            self.reservations.pop(str(rec["id"]), None)
            return False
        if kind != "call":
            raise ValueError(f"unknown record kind {kind!r}")
        ts, nanos = str(rec["ts"]), to_nanos(rec.get("cost"))
        day, provider, model = ts[:10], str(rec["provider"]), str(rec.get("model") or "")
        date.fromisoformat(day)
        stat = UsageStats()
        stat.add_call(rec)  # raises on a bad record before any total changed
        self.stats.setdefault((day, provider, model), UsageStats()).add(stat)
        self.days[day] += nanos
        self.months[ts[:7]] += nanos
        if rec.get("task_id"):
            self.tasks[str(rec["task_id"])] += nanos
        if rec.get("reservation"):
            self.reservations.pop(str(rec["reservation"]), None)
        return True
