"""``project-manager mcp``: the daemon's view and controls as a Model Context Protocol server.

Built on the official ``mcp`` SDK (imported here only, so ``--help`` and every other
command never load it), over stdio, or streamable HTTP on 127.0.0.1 with ``--http PORT``.
The tools are :mod:`coffee_maker.cli.mcp_tools`' functions (and ``review_diff`` from
:mod:`coffee_maker.cli.mcp_review`); this module declares their arguments (the SDK checks
them against the schema and answers a bad call with an error result), turns every failure
into one line (a tool error the client shows, never a traceback) and redacts every answer.
See docs/MCP.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from coffee_maker.cli import mcp_review, mcp_tools
from coffee_maker.cli.common import EXIT_OK
from coffee_maker.cli.mcp_tools import Repo
from coffee_maker.errors import UserError
from coffee_maker.logging import get_logger
from coffee_maker.secrets import redact, redact_text

log = get_logger(__name__)
SERVER_NAME = "coffee-maker"
T = TypeVar("T")

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)

Ref = Annotated[
    str,
    Field(
        description="a priority: 'PRIORITY 3', '3', 'US-12', or 'PRIORITY 7@120' (ID@LINE)",
        min_length=1,
        max_length=80,
    ),
]


def guarded(what: str, call: Callable[[], T], error: type[Exception] = ToolError) -> T:
    """Run one tool or resource: a redacted answer, or one redacted line as its error."""
    try:
        return redact(call())
    except (ToolError, ResourceError):
        raise
    except UserError as exc:
        raise error(redact_text(exc.one_line())) from None
    except Exception as exc:  # the git, GitHub or provider failure, said on one line
        log.warning("tool failed", tool=what, error=f"{type(exc).__name__}: {exc}")
        said = " ".join(str(exc).split())[:1000] or type(exc).__name__
        raise error(redact_text(f"{what} failed: {said}")) from None


def build_server(repo: Repo) -> MCPServer:
    server = MCPServer(
        SERVER_NAME,
        instructions=(
            "coffee-maker's daemon for the repository at "
            f"{repo.path.name}: its roadmap, status, providers and costs; roadmap changes "
            "are proposed as pull requests, never written to the checkout."
        ),
        log_level="WARNING",
    )

    @server.tool(annotations=READ_ONLY)
    def roadmap_list() -> dict[str, Any]:
        """Every roadmap priority as the daemon sees it (from the base branch), with its
        note: running, blocked, awaiting review, next, held or waiting."""
        return guarded("roadmap_list", lambda: mcp_tools.roadmap_list(repo))

    @server.tool(annotations=WRITES)
    def roadmap_add_priority(
        title: Annotated[str, Field(description="the heading's words", max_length=200)],
        description: Annotated[
            str, Field(description="the task: what to build, in markdown", max_length=20_000)
        ],
        dependencies: Annotated[
            list[str] | None, Field(description="priorities it waits for", max_length=20)
        ] = None,
        priority_id: Annotated[
            str | None,
            Field(description="its id (default: the next PRIORITY N)", max_length=40),
        ] = None,
    ) -> dict[str, Any]:
        """Append a Planned priority to the roadmap: committed on a new branch, pushed, and
        proposed as a pull request (the user's checkout is not written). The daemon takes
        it once the pull request is merged."""
        return guarded(
            "roadmap_add_priority",
            lambda: mcp_tools.roadmap_add_priority(
                repo, title, description, dependencies, priority_id
            ),
        )

    @server.tool(annotations=WRITES)
    def roadmap_set_status(
        priority: Ref,
        status: Literal["Planned", "In Progress", "Complete", "Blocked"],
    ) -> dict[str, Any]:
        """Change one priority's status, as a pull request on a new branch (like
        roadmap_add_priority); it counts once merged."""
        return guarded(
            "roadmap_set_status", lambda: mcp_tools.roadmap_set_status(repo, priority, status)
        )

    @server.tool(annotations=READ_ONLY)
    def daemon_status() -> dict[str, Any]:
        """What the daemon is doing: the same data as `code-developer status --json`."""
        return guarded("daemon_status", lambda: mcp_tools.daemon_status(repo))

    @server.tool(annotations=WRITES)
    def run_priority(priority: Ref) -> dict[str, Any]:
        """Ask the running daemon to take this priority at its next iteration (as
        `--priority` does for one run). The model does not run inside this call."""
        return guarded("run_priority", lambda: mcp_tools.run_priority(repo, priority))

    @server.tool(annotations=READ_ONLY)
    def route_explain(priority: Ref | None = None) -> dict[str, Any]:
        """Which tier of providers a priority (default: the next ready one) starts on and
        may escalate to, and every rule that decided it (`project-manager route explain`)."""
        return guarded("route_explain", lambda: mcp_tools.route_explain(repo, priority))

    @server.tool(annotations=READ_ONLY)
    def provider_status(
        timeout: Annotated[float, Field(gt=0, le=60, description="seconds per check")] = 10.0,
    ) -> dict[str, Any]:
        """Each provider: usable or why not (key, reachability, cooldown, quota): the same
        data as `project-manager provider status --json`."""
        return guarded("provider_status", lambda: mcp_tools.provider_status(repo, timeout))

    @server.tool(annotations=READ_ONLY)
    def costs(
        days: Annotated[int, Field(ge=1, le=mcp_tools.MAX_DAYS)] = 7,
        by: Literal["provider", "model", "priority", "day"] = "provider",
    ) -> dict[str, Any]:
        """Spend against the budgets, and the last DAYS days' calls grouped by provider,
        model, priority or day (`project-manager provider costs`)."""
        return guarded("costs", lambda: mcp_tools.costs(repo, days, by))

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True))
    def review_diff(
        provider: Annotated[str, Field(description="a configured provider", max_length=100)],
        diff: Annotated[str | None, Field(description="a unified diff")] = None,
        branch: Annotated[
            str | None, Field(description="a branch: its diff from the base", max_length=250)
        ] = None,
        question: Annotated[str | None, Field(max_length=mcp_review.QUESTION_LIMIT)] = None,
        max_tokens: Annotated[int, Field(ge=100, le=16_000)] = 2000,
    ) -> dict[str, Any]:
        """A second opinion on a diff (or a branch's diff) from the provider named: one
        model call, its cost reserved against the budgets and recorded in the ledger."""
        return guarded(
            "review_diff",
            lambda: mcp_review.review_diff(repo, provider, diff, branch, question, max_tokens),
        )

    _resources(server, repo)
    return server


def _resources(server: MCPServer, repo: Repo) -> None:
    @server.resource("coffee-maker://roadmap", mime_type="application/json")
    def roadmap() -> str:
        """The roadmap as the daemon sees it (roadmap_list's answer)."""
        data = guarded("roadmap", lambda: mcp_tools.roadmap_list(repo), ResourceError)
        return json.dumps(data, indent=2, default=str)

    @server.resource("coffee-maker://costs", mime_type="application/json")
    def cost_report() -> str:
        """The last 30 days' spend, by provider, priority and day."""

        def report() -> dict[str, Any]:
            data = mcp_tools.costs(repo, 30, "provider")
            data["by_provider"] = data.pop("groups")
            data["by_priority"] = mcp_tools.costs(repo, 30, "priority")["groups"]
            data.pop("by")
            return data

        return json.dumps(guarded("costs", report, ResourceError), indent=2, default=str)

    @server.resource("coffee-maker://transcripts/{priority}", mime_type="application/x-ndjson")
    def transcript(priority: str) -> str:
        """The latest run record (JSONL, secrets removed) of a priority, e.g.
        coffee-maker://transcripts/3 or coffee-maker://transcripts/US-12."""
        ref = unquote(priority)
        return guarded("transcript", lambda: mcp_tools.latest_transcript(repo, ref), ResourceError)


def serve(args: argparse.Namespace) -> int:
    """``project-manager mcp``: serve until the client goes away (or Ctrl-C with --http)."""
    repo = Repo(mcp_tools.repository_root(args.repo), args.config)
    repo.config()  # a config error is one line now, not a failing tool later
    server = build_server(repo)
    if args.http is None:
        server.run("stdio")
    else:
        print(f"MCP over HTTP: http://127.0.0.1:{args.http}/mcp", file=sys.stderr, flush=True)
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    return EXIT_OK
