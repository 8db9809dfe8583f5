"""Model prices: what a call costs, and what the worst case of a call would cost.

The table lives in ``config/model_prices.yaml`` (its header documents the lookup rule);
users override rows in ``~/.config/coffee-maker/model_prices.yaml``, in the file named by
``$COFFEE_MAKER_PRICES``, or per provider with ``pricing:`` in the config. A model missing
from the table is priced by a documented rule and a warning is logged once: it is never
silently free for a paid vendor.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.yaml_files import read_yaml_file

log = logging.getLogger(__name__)

#: Which price section a provider type reads when no section has the provider's own name.
TYPE_SECTIONS: dict[str, str] = {
    "claude": "anthropic",
    "claude-cli": "anthropic",
    "codex-cli": "openai",
    "gemini-cli": "gemini",
    "openai": "openai",
    "gemini": "gemini",
    "ollama": "ollama",
}

PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0
    free: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> Price:
        unknown = set(data) - {"input", "output", "cache_read", "cache_write", "free"}
        if unknown:
            raise ValueError(f"{where}: unknown price field(s) {', '.join(sorted(unknown))}")
        if data.get("free"):
            return cls(free=True)
        try:
            values = {
                k: float(data.get(k, 0.0)) for k in ("input", "output", "cache_read", "cache_write")
            }
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: prices must be numbers ({exc})") from None
        if any(v < 0 for v in values.values()):
            raise ValueError(f"{where}: prices must not be negative")
        return cls(**values)

    def cost(self, usage: Mapping[str, int]) -> float:
        if self.free:
            return 0.0
        return (
            usage.get("input_tokens", 0) * self.input
            + usage.get("output_tokens", 0) * self.output
            + usage.get("cache_read_tokens", 0) * self.cache_read
            + usage.get("cache_write_tokens", 0) * self.cache_write
        ) / PER_MILLION

    @property
    def is_free(self) -> bool:
        return self.free or (self.input == 0 and self.output == 0)


DEFAULT_FALLBACK = Price(input=15.0, output=75.0, cache_read=1.5, cache_write=18.75)


class PriceTable:
    def __init__(self, sections: dict[str, dict[str, Price]], default: Price = DEFAULT_FALLBACK):
        self.sections = sections
        self.default = default
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> PriceTable:
        """Later files override earlier ones row by row."""
        sections: dict[str, dict[str, Price]] = {}
        default = DEFAULT_FALLBACK
        for path in paths:
            data = read_yaml_file(path) or {}  # bounded: size, UTF-8, depth, no aliases
            if not isinstance(data, dict):
                raise ValueError(f"{path}: expected a mapping of vendor sections")
            for section, rows in data.items():
                where = f"{path}: {section}"
                if section == "default":
                    default = Price.from_mapping(rows or {}, where)
                    continue
                if not isinstance(rows, dict):
                    raise ValueError(f"{where}: expected a mapping of model -> prices")
                target = sections.setdefault(str(section), {})
                if rows.get("free") is True:
                    target["*"] = Price(free=True)
                    continue
                for model, row in rows.items():
                    if not isinstance(row, dict):
                        raise ValueError(f"{where}.{model}: expected {{input:, output:, ...}}")
                    target[str(model)] = Price.from_mapping(row, f"{where}.{model}")
        return cls(sections, default)

    def lookup(self, sections: Sequence[str], model: str) -> tuple[Price, str]:
        """The price of ``model`` and how it was found (``exact``, ``prefix:X``, ...)."""
        present = [self.sections[s] for s in sections if s in self.sections]
        for rows in present:
            if model in rows:
                return rows[model], "exact"
        for rows in present:
            prefixes = [k for k in rows if "*" not in k and k != "default" and model.startswith(k)]
            if prefixes:
                best = max(prefixes, key=len)
                return rows[best], f"prefix:{best}"
        for rows in present:
            for pattern, price in rows.items():
                if "*" in pattern and fnmatch.fnmatchcase(model, pattern):
                    return price, f"pattern:{pattern}"
        for rows in present:
            if "default" in rows:
                return rows["default"], "section-default"
        return self.default, "global-default"

    def price_for(
        self, provider_name: str, provider_type: str, model: str, override: Price | None = None
    ) -> Price:
        if override is not None:
            return override
        sections = [provider_name, TYPE_SECTIONS.get(provider_type, provider_type)]
        price, how = self.lookup(sections, model)
        if how in ("section-default", "global-default") and not price.free:
            self._warn_once(provider_name, model, price, how)
        return price

    def _warn_once(self, provider: str, model: str, price: Price, how: str) -> None:
        with self._lock:
            if (provider, model) in self._warned:
                return
            self._warned.add((provider, model))
        log.warning(
            "model %r of provider %r is not in the price table; priced at the %s rate "
            "(input $%.2f, output $%.2f per million tokens). Add it to model_prices.yaml "
            "to budget it exactly.",
            model,
            provider,
            "vendor's default" if how == "section-default" else "fallback",
            price.input,
            price.output,
        )


BUILTIN_PRICES = Path(__file__).resolve().parents[2] / "config" / "model_prices.yaml"
PACKAGED_PRICES = Path(__file__).resolve().parents[1] / "data" / "model_prices.yaml"

_table: PriceTable | None = None
_table_lock = threading.Lock()


def price_files() -> list[Path]:
    from platformdirs import user_config_path

    builtin = BUILTIN_PRICES if BUILTIN_PRICES.exists() else PACKAGED_PRICES
    files = [builtin, user_config_path("coffee-maker") / "model_prices.yaml"]
    if os.environ.get("COFFEE_MAKER_PRICES"):
        files.append(Path(os.environ["COFFEE_MAKER_PRICES"]))
    return [p for p in files if p.is_file()]


def get_price_table() -> PriceTable:
    global _table
    with _table_lock:
        if _table is None:
            _table = PriceTable.from_files(price_files())
        return _table


def reset_price_table() -> None:
    """Forget the loaded table (tests, or after the user edited a price file)."""
    global _table
    with _table_lock:
        _table = None
