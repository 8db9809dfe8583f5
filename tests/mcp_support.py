"""What the MCP server's tests share: the server started by the ``mcp`` SDK's own client.

``project-manager mcp`` runs as a subprocess over stdio, exactly as an assistant starts
it; the project is daemon_support's (a real repository with a bare origin, the fake
OpenAI and the fake GitHub), with secrets planted where a careless answer would show them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from daemon_support import GITHUB_TOKEN, MODEL_KEY, Project, git
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

PROJECT_MANAGER = str(Path(sys.executable).with_name("project-manager"))
#: A secret only the environment knows: no answer may show it.
PLANTED = "sk-proj-plantedSecret0123456789abcdefXYZ"
SECRETS = (MODEL_KEY, GITHUB_TOKEN, PLANTED)

TOOLS = {
    "route_explain",
    "roadmap_list",
    "roadmap_add_priority",
    "roadmap_set_status",
    "daemon_status",
    "run_priority",
    "provider_status",
    "costs",
    "review_diff",
}


def server_command(project: Project) -> list[str]:
    return [
        PROJECT_MANAGER,
        "mcp",
        "--repo",
        str(project.checkout),
        "--config",
        str(project.config),
    ]


def plant_secrets(project: Project) -> None:
    """The secrets where the server reads: the state (an error quoting a key) and a run's
    transcript written raw, as an older version or a crash might have left them."""
    state_dir = project.checkout / ".git" / "coffee-maker"
    (state_dir / "runs").mkdir(parents=True, exist_ok=True)
    said = f"provider said: bad key {MODEL_KEY}; token {GITHUB_TOKEN}; {PLANTED}"
    record = {
        "attempts": 1,
        "failures": 1,
        "last_outcome": "failure",
        "last_error": said,
        "last_run_at": "2026-01-01T00:00:00+00:00",
        "blocked": False,
        "history": [],
    }
    state = {"version": 1, "priorities": {"PRIORITY 2": record}, "current": None}
    (state_dir / "state.json").write_text(json.dumps(state | {"daemon": None, "pulls": {}}))
    task = f"{project.checkout.name}:PRIORITY 2:20260101T000000-abcdef"
    lines = [
        {"type": "start", "task_id": task, "task": "Add multiply"},
        {"type": "tool_result", "content": f"env says OPENAI_API_KEY={MODEL_KEY} {PLANTED}"},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (state_dir / "runs" / "20260101T000000-abcdef.jsonl").write_text(text)


def origin_refs(project: Project) -> str:
    return git(project.origin, "for-each-ref", "--format=%(refname) %(objectname)")


@asynccontextmanager
async def session(project: Project, env: dict[str, str]) -> AsyncIterator[ClientSession]:
    command = server_command(project)
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    with open(project.root / "server.log", "a") as errlog:
        async with stdio_client(params, errlog=errlog) as streams, ClientSession(*streams) as s:
            await s.initialize()
            yield s


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def data_of(result: Any) -> Any:
    assert not result.is_error, text_of(result)
    if result.structured_content is not None:
        data = result.structured_content
        return data.get("result", data) if set(data) == {"result"} else data
    return json.loads(text_of(result))
