"""The JSONL record of an agent run: what the model saw, did and cost, secrets removed.

One JSON object a line, flushed as it is written, so a crash mid-task leaves everything
up to the crash readable. Every record goes through :func:`coffee_maker.secrets.redact`
first: a key the model printed or a test leaked never reaches the disk. A record is
bounded (:data:`MAX_RECORD_CHARS`): its longest strings are cut, with a marker saying
how much, so one huge reply cannot fill the disk or the memory of whoever reads it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import time
from pathlib import Path
from typing import Any

from coffee_maker.secrets import redact

#: The longest line one record may take in the transcript.
MAX_RECORD_CHARS = 1_000_000
_SHORTEST_CUT = 200  # strings are never cut below this; past that the record is replaced


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, paths and datetimes as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def bounded_line(record: dict[str, Any], limit: int = MAX_RECORD_CHARS) -> str:
    """``record`` as one JSON line of at most ``limit`` characters, still valid JSON.

    Strings are cut to ever shorter lengths until the line fits; a record that is too
    big even so (a great many small values) keeps only its type and time, and says so.
    """
    line = json.dumps(record, ensure_ascii=False)
    keep = limit // 2
    while len(line) > limit and keep >= _SHORTEST_CUT:
        line = json.dumps(_cut_strings(record, keep), ensure_ascii=False)
        keep //= 2
    if len(line) > limit:
        size = len(line)
        line = json.dumps(
            {
                "type": record.get("type"),
                "time": record.get("time"),
                "truncated": f"[record of {size} characters not kept: over {limit}]",
            }
        )
    return line


def _cut_strings(value: Any, keep: int) -> Any:
    if isinstance(value, str) and len(value) > keep:
        return value[:keep] + f"[... {len(value) - keep} characters cut by the transcript ...]"
    if isinstance(value, dict):
        return {k: _cut_strings(v, keep) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, keep) for v in value]
    return value


class Transcript:
    """Appends redacted records to ``path`` (created with its folders)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> None:
        record = redact(jsonable({"type": kind, "time": round(time.time(), 3), **fields}))
        self._file.write(bounded_line(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
