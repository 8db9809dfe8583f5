"""What a ledger record may hold: the check every line passes before it counts.

The ledger is a plain file in the user's state directory, and anything that can append a
line to it can move every budget: one ``"cost": -1999.98`` lifts the daily limit, one
``"cost": 1e300`` overflows the integer conversion and stops every command. So a record
is applied only when each field has the type and range a real record has; anything else
is skipped (with one warning naming its line) and never fatal. The caps are far above
any real call and far below what could overflow or distort a total: with at most
:data:`MAX_RECORD_COST` per record, summed in integer nano-dollars, even billions of
records add up exactly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from coffee_maker.ai_providers.base import USAGE_KEYS

#: USD. No single model call costs this much; a record claiming more is not believed.
MAX_RECORD_COST = 10_000.0
#: Per token count of one record: a billion tokens is far past any context window.
MAX_RECORD_TOKENS = 10**9
#: A process id as the kernel hands them out (``os.kill`` overflows above this).
MAX_PID = 2**31 - 1
#: Cap on the free-text fields (provider, model, task id...), so a line cannot bloat memory.
MAX_TEXT = 1000

KINDS = ("call", "reserve", "release")

log = logging.getLogger(__name__)


def bounded_cost(usd: Any, what: str = "cost") -> float:
    """A cost we are about to write, made valid: what a server or CLI reports is untrusted.

    Too much or not a number counts as the cap (it must use up a budget, not slip past
    it); below zero counts as zero. Either way it is said, since it means a broken
    price, usage report or vendor.
    """
    try:
        value = float(usd or 0)
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if 0 <= value <= MAX_RECORD_COST:
        return value
    bounded = 0.0 if value < 0 else MAX_RECORD_COST
    log.warning("%s %r is out of range; recorded as %s", what, usd, bounded)
    return bounded


def bounded_tokens(count: Any) -> int:
    """A token count we are about to write, clamped to ``[0, MAX_RECORD_TOKENS]``."""
    try:
        value = int(count or 0)
    except (TypeError, ValueError, OverflowError):
        value = 0
    return min(max(value, 0), MAX_RECORD_TOKENS)


def _number(value: Any, name: str, high: float) -> str | None:
    """A finite number in ``[0, high]``; bools are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} is not a number ({type(value).__name__})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} {value} is not finite"
    if value < 0:
        return f"{name} {value:g} is negative"
    if value > high:
        return f"{name} {value:g} is above the cap of {high:g}"
    return None


def _text(value: Any, name: str, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value):
        return f"{name} is not text ({type(value).__name__})"
    if len(value) > MAX_TEXT:
        return f"{name} is longer than {MAX_TEXT} characters"
    return None


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"ts is not text ({type(value).__name__})"
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return f"ts {value[:40]!r} is not an ISO date"
    return None


def _first(*problems: str | None) -> str | None:
    return next((p for p in problems if p), None)


def record_problem(rec: Mapping[str, Any]) -> str | None:
    """Why ``rec`` must not be applied, or None when it is a well-formed record."""
    kind = rec.get("kind", "call")
    if kind not in KINDS:
        return f"unknown kind {str(kind)[:40]!r} (expected one of {', '.join(KINDS)})"
    if kind == "release":
        return _text(rec.get("id"), "id", optional=False)
    if kind == "reserve":
        expires = rec.get("expires")
        return _first(
            _text(rec.get("id"), "id", optional=False),
            _text(rec.get("provider"), "provider", optional=True),
            _text(rec.get("model"), "model", optional=True),
            _text(rec.get("task_id"), "task_id", optional=True),
            _text(rec.get("host"), "host", optional=True),
            _number(rec.get("amount"), "amount", MAX_RECORD_COST),
            _number(expires, "expires", 1e12),  # seconds since 1970: year 33658
            _number(rec.get("pid", 0), "pid", MAX_PID) if rec.get("pid") is not None else None,
        )
    return _first(
        _timestamp(rec.get("ts")),
        _text(rec.get("provider"), "provider", optional=False),
        _text(rec.get("model"), "model", optional=True),
        _text(rec.get("task_id"), "task_id", optional=True),
        _text(rec.get("outcome", "ok"), "outcome", optional=False),
        _text(rec.get("reservation"), "reservation", optional=True),
        _number(rec.get("cost") or 0, "cost", MAX_RECORD_COST),
        *(_number(rec.get(key) or 0, key, MAX_RECORD_TOKENS) for key in USAGE_KEYS),
    )
