"""The JSONL record of an agent run: what the model saw, did and cost, secrets removed.

One JSON object a line, flushed as it is written, so a crash mid-task leaves everything
up to the crash readable. Every record goes through :func:`coffee_maker.secrets.redact`
first: a key the model printed or a test leaked never reaches the disk.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import time
from pathlib import Path
from typing import Any

from coffee_maker.secrets import redact


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


class Transcript:
    """Appends redacted records to ``path`` (created with its folders)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> None:
        record = redact(jsonable({"type": kind, "time": round(time.time(), 3), **fields}))
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
