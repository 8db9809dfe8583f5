"""``project-manager``: the companion CLI to the daemon (docs/ARCHITECTURE.md, "cli").

Only argparse is imported here. Each command's module is imported when that command
runs, so ``project-manager --help`` answers before any SDK, pydantic or rich is loaded.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from coffee_maker.cli.common import ArgumentParser, add_common_flags, run_guarded

PROG = "project-manager"
_PROVIDERS = "coffee_maker.cli.provider_commands"


def _provider_parsers(commands: argparse._SubParsersAction) -> None:
    provider = commands.add_parser("provider", help="the configured AI providers")
    sub = provider.add_subparsers(dest="provider_command", metavar="COMMAND", required=True)

    status = sub.add_parser("status", help="each provider: enabled, key, reachable, cooldown")
    add_common_flags(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per reachability check"
    )
    status.set_defaults(handler=f"{_PROVIDERS}:status")

    switch = sub.add_parser("switch", help="set default_provider in the config file")
    switch.add_argument("name", metavar="NAME", help="a provider configured in the file")
    add_common_flags(switch)
    switch.set_defaults(handler=f"{_PROVIDERS}:switch")

    compare = sub.add_parser("compare", help="providers side by side: models, prices, abilities")
    add_common_flags(compare)
    compare.set_defaults(handler=f"{_PROVIDERS}:compare")

    models = sub.add_parser("models", help="models the vendor's API lists (cached for a day)")
    models.add_argument("name", nargs="?", metavar="NAME", help="one provider (default: all)")
    models.add_argument("--refresh", action="store_true", help="ignore the cache")
    models.add_argument("--timeout", type=float, default=15.0, metavar="SECONDS")
    add_common_flags(models)
    models.set_defaults(handler="coffee_maker.cli.models_command:models")

    costs = sub.add_parser("costs", help="spend against the budgets, per provider and per day")
    costs.add_argument("--days", type=_positive_int, default=7, metavar="N", help="default: 7")
    costs.add_argument("--csv", metavar="FILE", help="also write the ledger's records as CSV")
    costs.add_argument(
        "--by",
        choices=("provider", "model", "priority", "day"),
        default="provider",
        help="what the table groups the calls by (default: provider)",
    )
    add_common_flags(costs)
    costs.set_defaults(handler=f"{_PROVIDERS}:costs")


def _mcp_parsers(commands: argparse._SubParsersAction) -> None:
    mcp = commands.add_parser(
        "mcp", help="an MCP server for coding assistants (stdio; see docs/MCP.md)"
    )
    add_common_flags(mcp)
    mcp.add_argument(
        "--http", type=_port, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT"
    )
    mcp.set_defaults(handler="coffee_maker.cli.mcp_server:serve", mcp_command=None)
    sub = mcp.add_subparsers(dest="mcp_command", metavar="COMMAND")
    install = sub.add_parser("install", help="print (or --write) a client's configuration")
    install.add_argument("--client", required=True, choices=("claude",), help="the MCP client")
    install.add_argument("--write", action="store_true", help="merge it into REPO/.mcp.json")
    add_common_flags(install)
    install.set_defaults(handler="coffee_maker.cli.mcp_install:install")


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port (1-65535), got {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _route_parsers(commands: argparse._SubParsersAction) -> None:
    route = commands.add_parser(
        "route", help="routing: which tier a priority gets, and how tiers do"
    )
    sub = route.add_subparsers(dest="route_command", metavar="COMMAND", required=True)
    explain = sub.add_parser("explain", help="the tiers a priority would try, and every reason")
    explain.add_argument("id", nargs="?", metavar="ID", help="a priority (default: the next one)")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    add_common_flags(explain)
    explain.set_defaults(handler="coffee_maker.cli.route_command:explain")
    stats = sub.add_parser("stats", help="success rate and cost per tier and task type")
    add_common_flags(stats)
    stats.set_defaults(handler="coffee_maker.cli.route_command:stats")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Manage coffee-maker: providers, costs, the roadmap, first-time setup.",
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _provider_parsers(commands)

    roadmap = commands.add_parser("roadmap", help="the roadmap's priorities, as the daemon sees")
    add_common_flags(roadmap)
    roadmap.set_defaults(handler="coffee_maker.cli.roadmap_command:roadmap")

    _mcp_parsers(commands)
    _route_parsers(commands)

    setup = commands.add_parser("setup", help="interactive wizard: providers, keys, budgets")
    setup.add_argument(
        "--reconfigure", action="store_true", help="replace an existing configuration"
    )
    setup.add_argument(
        "--config", metavar="PATH", help="where to write (default: ~/.config/coffee-maker/)"
    )
    setup.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS)
    setup.set_defaults(handler="coffee_maker.cli.setup_wizard:run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, then run the chosen command behind the error guard; returns the exit code."""
    args = build_parser().parse_args(argv)
    module_name, _, function = args.handler.partition(":")

    def command() -> int:
        from coffee_maker.logging import configure_logging

        configure_logging(verbose=args.verbose)
        return getattr(importlib.import_module(module_name), function)(args)

    return run_guarded(command, prog=PROG, verbose=args.verbose)


if __name__ == "__main__":
    raise SystemExit(main())
