"""``project-manager provider status|switch|compare|costs``.

Everything shown comes from the user's config, the price table, the providers' own
classes and the vendors' APIs, so the output stays true as those change; nothing here
describes a provider in words of its own.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from coffee_maker.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    error_line,
    load_app_config,
    make_console,
)
from coffee_maker.secrets import redact

if TYPE_CHECKING:
    from coffee_maker.ai_providers.base import BaseAIProvider
    from coffee_maker.ai_providers.pricing import Price
    from coffee_maker.config import AppConfig

_STYLE = {"ok": "green", "unchecked": "yellow", "skipped": "dim", "error": "red"}


def escape(text: str) -> str:
    """rich's markup escaping; rich is imported only when something is printed through it."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


# -- status --------------------------------------------------------------------------------


def _provider_rows(config: AppConfig, timeout: float) -> list[dict[str, Any]]:
    """One row per configured provider, from the fallback layer's answer (``usability.py``):
    the same verdict and reason as the chain's skip and ``code-developer --dry-run``."""
    from dataclasses import asdict

    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.ai_providers.fallback_strategy import FallbackStrategy
    from coffee_maker.ai_providers.probe import with_timeout
    from coffee_maker.ai_providers.provider_factory import ProviderFactory

    factory = ProviderFactory(config=with_timeout(config, timeout))
    strategy = FallbackStrategy(None, factory, CostTracker(config.cost_controls))
    verdicts = strategy.usability_all(list(config.providers), probe_timeout=timeout)
    rows = []
    for name, verdict in verdicts.items():
        settings = config.providers[name]
        until = verdict.cooldown_until
        rows.append(
            {
                "name": name,
                "default": name == config.default_provider,
                "enabled": settings.enabled,
                "type": settings.type,
                "model": factory.built(name).model,
                "fallback_models": list(settings.fallback_models),
                "key": asdict(verdict.key) if verdict.key else None,
                "reachable": verdict.reach.to_dict() if verdict.reach else None,
                "cooldown": {
                    "until": until.isoformat(timespec="seconds"),
                    "reason": verdict.cooldown,
                }
                if until
                else None,
                "requests": asdict(verdict.requests) if verdict.requests else None,
                "usable": verdict.usable,
                "usability": verdict.to_dict(),
            }
        )
    return rows


def _quota_text(row: dict[str, Any]) -> str:
    from coffee_maker.ai_providers.usability import when

    parts = []
    if row["cooldown"]:
        from datetime import datetime

        until = when(datetime.fromisoformat(row["cooldown"]["until"]))
        parts.append(f"[red]cooling down until {until}: {escape(row['cooldown']['reason'])}[/]")
    requests = row["requests"]
    if requests and requests["daily_limit"]:
        parts.append(f"{requests['today']}/{requests['daily_limit']} requests today")
    if requests and requests["monthly_limit"]:
        parts.append(f"{requests['this_month']}/{requests['monthly_limit']} this month")
    if requests and requests["rpm"]:
        parts.append(f"at most {requests['rpm']} a minute")
    return "; ".join(parts) or "-"


def status_report(config: AppConfig, timeout: float) -> dict[str, Any]:
    """What ``provider status --json`` prints (and the MCP tool ``provider_status`` returns)."""
    rows = redact(_provider_rows(config, timeout))  # a base_url may carry credentials
    default_row = next((r for r in rows if r["default"]), None)
    return {
        "config": config.source,
        "default_provider": config.default_provider,
        "usable": bool(default_row and default_row["usable"]),
        "providers": rows,
    }


def status(args: argparse.Namespace) -> int:
    """Exit 0 when the default provider can be used right now, else 1."""
    config = load_app_config(args.config, args.repo)
    report = status_report(config, args.timeout)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_status(config, report["providers"], report["usable"])
    return EXIT_OK if report["usable"] else EXIT_FAILED


def _reach_cell(reach: dict[str, Any] | None) -> str:
    """A short cell; the details go in the notes under the table, where they fit."""
    from coffee_maker.wording import count_of

    if reach is None:
        return "-"
    outcome = reach["outcome"]
    text = {
        "ok": f"yes ({count_of(reach['model_count'], 'model')})",
        "unchecked": "not checked",
        "skipped": "skipped",
        "error": f"no: {reach['error_kind']}",
    }[outcome]
    return f"[{_STYLE[outcome]}]{escape(text)}[/]"


def _print_status(config: AppConfig, rows: list[dict[str, Any]], usable: bool) -> None:
    from rich.table import Table

    title = f"Providers ({config.source or 'built-in defaults'})"
    table = Table(title=escape(title), title_justify="left")
    columns = ("provider", "usable", "type", "model", "key", "reachable", "cooldown / quota")
    for column in columns:
        table.add_column(column, overflow="fold")
    notes = []
    for row in rows:
        key = row["key"] or {"env": None, "present": False}
        key_text = "not needed"
        if key["env"]:
            key_text = f"{key['env']} " + (f"({key['source']})" if key["present"] else "unset")
        verdict = row["usability"]
        if not verdict["usable"]:  # the fallback layer's one line: what to fix, or until when
            notes.append(f"{row['name']}: not usable: {verdict['reason']}")
        table.add_row(
            escape(row["name"]) + (" (default)" if row["default"] else ""),
            "[green]yes[/]" if verdict["usable"] else f"[red]no: {escape(verdict['kind'])}[/]",
            escape(row["type"]),
            escape(row["model"] or "-"),
            f"[green]{key_text}[/]" if key["present"] else key_text,
            _reach_cell(row["reachable"]),
            _quota_text(row),
        )
    console = make_console()
    console.print(table)
    for note in notes:
        console.print(escape(note), soft_wrap=True)  # one line each, whatever the width
    verdict = "[green]usable[/]" if usable else "[red]not usable[/]"
    console.print(f"Default provider {escape(config.default_provider or '(none)')}: {verdict}")


# -- switch --------------------------------------------------------------------------------


def switch(args: argparse.Namespace) -> int:
    """Point ``default_provider`` at NAME in the file ``load_config`` would read."""
    from coffee_maker.ai_providers.provider_config import find_config, load_config
    from coffee_maker.cli.config_edit import replace_file_text, set_top_level_scalar

    path = find_config(args.config, args.repo)
    if path is None:
        raise UsageError(
            "no configuration file found (--config, $CODE_DEVELOPER_CONFIG, "
            "config/ai_providers.yaml, ~/.config/coffee-maker/ai_providers.yaml); "
            "create one with `project-manager setup`"
        )
    config = load_config(path)
    name = args.name
    if name not in config.providers:
        configured = ", ".join(config.providers) or "none"
        raise UsageError(
            f"{path}: providers: no provider named {name!r} (configured: {configured})"
        )
    if not config.providers[name].enabled:
        raise UsageError(f"{path}: providers.{name}.enabled is false; enable it first")
    text = path.read_bytes().decode("utf-8")
    new_text = set_top_level_scalar(text, "default_provider", name, str(path))
    _check_switched(new_text, name, path)
    previous = _file_default(text)
    if new_text != text:
        replace_file_text(path, new_text)
    print(f"default_provider: {previous or '(unset)'} -> {name}   ({path})")
    override = os.environ.get("DEFAULT_AI_PROVIDER")
    if override and override != name:
        error_line(f"note: DEFAULT_AI_PROVIDER={override} in the environment overrides the file")
    return EXIT_OK


def _file_default(text: str) -> str | None:
    from coffee_maker.ai_providers.yaml_files import parse_yaml_text

    data = parse_yaml_text(text, "config")  # already checked by load_config: cannot fail
    return data.get("default_provider") if isinstance(data, dict) else None


def _check_switched(text: str, name: str, path: os.PathLike[str]) -> None:
    """The edited text must still be a valid config whose default is ``name``."""
    from coffee_maker.ai_providers.provider_config import ConfigError, parse_config
    from coffee_maker.ai_providers.yaml_files import YamlFileError, parse_yaml_text

    environ = {k: v for k, v in os.environ.items() if k != "DEFAULT_AI_PROVIDER"}
    try:
        data = parse_yaml_text(text, str(path))
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from None
    config = parse_config(data, str(path), environ)
    if config.default_provider != name:
        raise RuntimeError(
            f"{path}: the edit did not take (default_provider is still "
            f"{config.default_provider!r}); the file was left unchanged"
        )


# -- compare -------------------------------------------------------------------------------


def _price(config: AppConfig, name: str, model: str) -> tuple[Price, bool]:
    """The price of one model, and whether the table had to guess it (no row for it).

    Looked up directly rather than through ``provider.price()``, which would also log a
    warning per unknown model: here the guess is marked in the table instead.
    """
    from coffee_maker.ai_providers.pricing import TYPE_SECTIONS, get_price_table

    settings = config.providers[name]
    override = settings.price_override()
    if override is not None:
        return override, False
    sections = [name, TYPE_SECTIONS.get(settings.type, settings.type)]
    price, how = get_price_table().lookup(sections, model)
    return price, how in ("section-default", "global-default") and not price.free


def _price_cells(price: Price, guessed: bool) -> list[str]:
    """Input, output, cache read and cache write, per million tokens."""
    if price.is_free:
        return ["free"] * 4
    mark = "*" if guessed else ""
    values = (price.input, price.output, price.cache_read, price.cache_write)
    return [f"{_usd(v)}{mark}" for v in values]


def _usd(value: float) -> str:
    """Two decimals, more only when the price has them (0.075 stays 0.075)."""
    text = f"{value:.4f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.partition(".")[2]))


def capability_names(provider: BaseAIProvider, free: bool) -> list[str]:
    """What this configured provider can do (its class's abilities, narrowed by the config)."""
    from coffee_maker.ai_providers.base import ProviderCapability

    names = {c.value for c in provider.capabilities if c is not ProviderCapability.TEXT}
    if free:
        names.add(ProviderCapability.FREE.value)
    return sorted(names)


def compare(args: argparse.Namespace) -> int:
    from rich.table import Table

    from coffee_maker.ai_providers.provider_factory import ProviderFactory

    config = load_app_config(args.config, args.repo)
    factory = ProviderFactory(config=config)
    table = Table(title="Providers compared (USD per million tokens)", title_justify="left")
    for column in ("provider", "type", "model", "input", "output", "cache read", "cache write"):
        table.add_column(
            column,
            justify="left" if column in ("provider", "type", "model") else "right",
            overflow="fold",
        )
    for column in ("capabilities", "key", "enabled"):
        table.add_column(column, overflow="fold")
    any_guess = False
    for name, settings in config.providers.items():
        provider = factory.create(name)
        models = settings.models or [provider.model or "-"]
        prices = [_price(config, name, model) for model in models]
        any_guess |= any(guessed for _, guessed in prices)
        first_row = [
            escape(name) + (" (default)" if name == config.default_provider else ""),
            escape(settings.type),
            escape(models[0]),
            *_price_cells(*prices[0]),
            ", ".join(capability_names(provider, prices[0][0].is_free)),
            provider.api_key_env or "-",
            "yes" if settings.enabled else "no",
        ]
        table.add_row(*first_row, end_section=len(models) == 1)
        for i, model in enumerate(models[1:], 1):
            cells = ["", "", escape(f"fallback: {model}"), *_price_cells(*prices[i]), "", "", ""]
            table.add_row(*cells, end_section=i == len(models) - 1)
    if any_guess:
        table.caption = "* not in the price table: priced at its vendor's default or fallback rate"
    make_console().print(table)
    return EXIT_OK


# -- costs ---------------------------------------------------------------------------------


def costs(args: argparse.Namespace) -> int:
    """Spend against the budgets; the report itself lives with the ledger's other views."""
    from pathlib import Path

    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.cli.costs_report import render_costs

    config = load_app_config(args.config, args.repo)
    if args.csv and not Path(args.csv).expanduser().parent.is_dir():
        raise UsageError(f"--csv {args.csv}: its directory does not exist")
    csv_path = Path(args.csv).expanduser() if args.csv else None
    tracker = CostTracker(config.cost_controls)
    render_costs(
        tracker,
        config.cost_controls,
        days=args.days,
        csv_path=csv_path,
        console=make_console(),
        by=args.by,
    )
    return EXIT_OK
