"""``project-manager provider models [NAME]``: what the vendors list, remembered for a day.

Model names change under a running daemon: vendors retire models on dates of their own.
The listing is cached per provider with a timestamp, and comparing each fetch with the
previous one shows which models disappeared ("deprecated, no longer listed since ...")
and which configured models the vendor does not know (a typo, or a retired model).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    error_line,
    load_app_config,
    make_console,
)

if TYPE_CHECKING:
    from rich.console import Console

    from coffee_maker.ai_providers.provider_config import ProviderSettings
    from coffee_maker.config import AppConfig

CACHE_FILE = "models_cache.json"
MAX_AGE = timedelta(days=1)


def cache_path() -> Path:
    from coffee_maker.paths import user_state_dir

    return user_state_dir() / CACHE_FILE


def read_cache(path: Path) -> dict[str, dict[str, Any]]:
    """Cached listings by provider name; an unreadable cache is simply refetched."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        error_line(f"note: {path} was unreadable; fetching afresh")
        return {}
    providers = data.get("providers") if isinstance(data, dict) else None
    return providers if isinstance(providers, dict) else {}


def write_cache(path: Path, providers: dict[str, dict[str, Any]]) -> None:
    from coffee_maker.autonomous.state import atomic_write_json

    atomic_write_json(path, {"version": 1, "providers": providers})


def endpoint_of(settings: ProviderSettings) -> str:
    """What a listing depends on besides the name: the same name may point elsewhere later."""
    return "|".join(str(p or "") for p in (settings.type, settings.base_url, settings.host))


def merge_listing(
    previous: dict[str, Any] | None, models: list[str], endpoint: str, now: datetime
) -> dict[str, Any]:
    """A new cache entry; models the previous listing had and this one lacks are deprecated."""
    deprecated: dict[str, str] = {}
    if previous and previous.get("endpoint") == endpoint:
        deprecated = dict(previous.get("deprecated") or {})
        for model in previous.get("models") or []:
            if model not in models:
                deprecated.setdefault(model, now.isoformat(timespec="seconds"))
    listed = sorted(dict.fromkeys(models))
    for model in listed:
        deprecated.pop(model, None)
    return {
        "endpoint": endpoint,
        "fetched_at": now.isoformat(timespec="seconds"),
        "models": listed,
        "deprecated": deprecated,
    }


def is_listed(model: str, listed: set[str]) -> bool:
    """Gemini lists ``models/NAME`` and Ollama ``NAME:latest``; both mean ``NAME``."""
    return bool({model, f"models/{model}", f"{model}:latest"} & listed)


def age_of(entry: dict[str, Any], now: datetime) -> timedelta | None:
    try:
        return now - datetime.fromisoformat(entry["fetched_at"])
    except (KeyError, TypeError, ValueError):
        return None


def _human(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h {minutes % 60}m"
    return f"{minutes // (24 * 60)}d"


def models(args: argparse.Namespace) -> int:
    """Exit 1 when a provider asked for could not be listed (its cache is shown, if any)."""
    config = load_app_config(args.config, args.repo)
    if args.name and args.name not in config.providers:
        configured = ", ".join(config.providers) or "none"
        raise UsageError(f"no provider named {args.name!r} (configured: {configured})")
    names = [args.name] if args.name else [n for n, s in config.providers.items() if s.enabled]
    path = cache_path()
    cache = read_cache(path)
    now = datetime.now(UTC)
    failed = _refresh(config, names, cache, now, args)
    write_cache(path, cache)
    console = make_console()
    for name in names:
        entry = cache.get(name)
        if entry and entry.get("endpoint") == endpoint_of(config.providers[name]):
            _print_listing(console, config, name, entry, now)
    return EXIT_FAILED if failed else EXIT_OK


def _refresh(
    config: AppConfig,
    names: list[str],
    cache: dict[str, dict[str, Any]],
    now: datetime,
    args: argparse.Namespace,
) -> bool:
    """Fetch the listings that are missing or stale; True if one that had to be fetched failed."""
    from coffee_maker.ai_providers.probe import can_list_models, probe_all, with_timeout
    from coffee_maker.ai_providers.provider_factory import ProviderFactory

    factory = ProviderFactory(config=with_timeout(config, args.timeout))
    due, failed = [], False
    for name in names:
        entry = cache.get(name)
        current = entry and entry.get("endpoint") == endpoint_of(config.providers[name])
        age = age_of(entry, now) if current and entry else None
        if not args.refresh and age is not None and age < MAX_AGE:
            continue
        provider = factory.create(name)
        if not can_list_models(provider):
            error_line(f"{name}: its type ({provider.provider_type}) has no model-listing API")
        elif not provider.check_available():
            error_line(f"{name}: cannot list models: {provider.describe_unavailable()}")
            failed |= bool(args.name)
        else:
            due.append(provider)
    for name, found in probe_all(due, args.timeout).items():
        previous = cache.get(name)
        if found.outcome == "ok":
            endpoint = endpoint_of(config.providers[name])
            cache[name] = merge_listing(previous, found.models, endpoint, now)
            continue
        failed = True
        kept = " (showing the cached list)" if previous else ""
        error_line(f"{name}: unreachable: {found.error_kind}: {found.detail}{kept}")
    return failed


def _print_listing(
    console: Console, config: AppConfig, name: str, entry: dict[str, Any], now: datetime
) -> None:
    from rich.markup import escape
    from rich.table import Table

    settings = config.providers[name]
    listed = set(entry.get("models") or [])
    age = age_of(entry, now)
    fetched = str(entry.get("fetched_at", "?"))[:16].replace("T", " ")
    ago = _human(age) if age is not None else "?"
    when = f"fetched {fetched} UTC ({ago}{'' if ago == 'just now' else ' ago'})"
    from coffee_maker.wording import count_of

    console.print(
        f"[bold]{escape(name)}[/] ({escape(settings.type)}): "
        f"{count_of(len(listed), 'model')}, {when}"
    )
    table = Table()
    table.add_column("model")
    table.add_column("note")
    configured = settings.models
    deprecated = entry.get("deprecated") or {}
    for model in configured:
        role = "configured model" if model == settings.model else "configured fallback"
        if is_listed(model, listed):
            table.add_row(f"[bold]{escape(model)}[/]", role)
            continue
        note = f"{role}, NOT listed by the vendor"
        if model in deprecated:
            note += f"; deprecated, no longer listed since {deprecated[model][:10]}"
        table.add_row(f"[red]{escape(model)}[/]", f"[red]{escape(note)}[/]")
    for model in sorted(listed):
        if not any(is_listed(c, {model}) for c in configured):
            table.add_row(escape(model), "")
    for model, since in sorted(deprecated.items()):
        if model not in configured:
            table.add_row(
                f"[dim]{escape(model)}[/]", f"deprecated (no longer listed since {since[:10]})"
            )
    console.print(table)
