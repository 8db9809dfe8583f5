"""``project-manager mcp install --client claude``: how Claude Code starts this server.

Prints the ``claude mcp add`` line and the JSON ``claude --mcp-config FILE`` reads; with
``--write``, merges the server into the repository's ``.mcp.json`` (Claude Code's
project-scope file), keeping every other server in it. No secret is written: the server
reads the keys as every coffee-maker command does (the environment, the env file).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from coffee_maker.cli.common import EXIT_OK, UsageError

SERVER_NAME = "coffee-maker"
CLIENTS = ("claude",)


def server_command(repo: Path, config: str | None) -> list[str]:
    """The command line that starts the server for ``repo``, with absolute paths."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "project-manager" and script.is_file():
        head = [str(script)]
    else:
        head = [sys.executable, "-m", "coffee_maker.cli.project_manager"]
    tail = ["--config", str(Path(config).expanduser().resolve())] if config else []
    return [*head, "mcp", "--repo", str(repo), *tail]


def client_config(command: list[str]) -> dict[str, Any]:
    server = {"type": "stdio", "command": command[0], "args": command[1:]}
    return {"mcpServers": {SERVER_NAME: server}}


def install(args: argparse.Namespace) -> int:
    from coffee_maker.ai_providers.atomic_files import atomic_write
    from coffee_maker.cli.mcp_tools import repository_root

    if args.client not in CLIENTS:
        raise UsageError(f"--client {args.client}: one of {', '.join(CLIENTS)}")
    repo = repository_root(args.repo)
    command = server_command(repo, args.config)
    config = client_config(command)
    add = ["claude", "mcp", "add", "--scope", "project", SERVER_NAME, "--", *command]
    if not args.write:
        print("# Claude Code: add the server (run in the repository)")
        print(shlex.join(add))
        print("# or pass this file to `claude --mcp-config FILE`:")
        print(json.dumps(config, indent=2))
        return EXIT_OK
    path = repo / ".mcp.json"
    existing: dict[str, Any] = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: not JSON ({exc}); fix or remove it first") from None
        if not isinstance(existing, dict) or not isinstance(existing.get("mcpServers", {}), dict):
            raise UsageError(f"{path}: expected an object with an mcpServers object")
    servers = {**existing.get("mcpServers", {}), **config["mcpServers"]}
    text = json.dumps({**existing, "mcpServers": servers}, indent=2) + "\n"
    atomic_write(path, text.encode("utf-8"), mode=0o644)
    print(f"wrote the {SERVER_NAME} server into {path}; Claude Code started in {repo} uses it")
    return EXIT_OK
