"""The real Claude Code CLI uses ``project-manager mcp`` as its MCP server.

``claude -p --mcp-config FILE`` (the file ``project-manager mcp install --client claude``
prints) runs against FakeAnthropic, scripted to load the server's tools with ToolSearch
(Claude Code defers MCP tools), call ``daemon_status``, then ``roadmap_add_priority``.
Then what the server did is checked where it shows: the branch on the bare origin, the
pull request on the fake GitHub, the tool results the model was sent, the user's
checkout untouched.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from daemon_support import GITHUB_TOKEN, Project, fakes_running, isolate_git, make_project, snapshot
from fakes.anthropic import FakeAnthropic
from mcp_support import PROJECT_MANAGER

from coffee_maker.autonomous.roadmap import Roadmap, Status

CLAUDE = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "claude"
KEY = "sk-ant-mcpClaudeCliKey0123456789abcdef"
SERVER = "coffee-maker"
STATUS_TOOL = f"mcp__{SERVER}__daemon_status"
ADD_TOOL = f"mcp__{SERVER}__roadmap_add_priority"
BRANCH = "coffee-maker/roadmap/add-priority-4-add-divide"


def install_config(project: Project) -> dict:
    """What ``project-manager mcp install --client claude`` prints, its JSON part."""
    where = ["--repo", str(project.checkout), "--config", str(project.config)]
    done = subprocess.run(
        [PROJECT_MANAGER, "mcp", "install", "--client", "claude", *where],
        env=project.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"claude mcp add --scope project {SERVER} -- {PROJECT_MANAGER} mcp" in done.stdout
    return json.loads(done.stdout[done.stdout.index("\n{") :])


def tool_results(body: dict) -> list[str]:
    """The text of every tool result in a request's conversation, in order."""
    found = []
    for message in body["messages"]:
        content = message["content"] if isinstance(message["content"], list) else []
        for block in content:
            if block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    inner = "".join(part.get("text", "") for part in inner)
                found.append(inner or "")
    return found


@pytest.mark.timeout(240)
def test_claude_code_adds_a_priority_through_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CLAUDE.exists(), f"{CLAUDE} is missing: run `npm ci` in the repository"
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    before = snapshot(project.checkout)
    home = tmp_path / "cli-home"
    home.mkdir()
    with (
        fakes_running(project) as setup,
        FakeAnthropic(api_key=KEY, tool_requests_only=True) as model,
    ):
        model.reply_tool_calls([("ToolSearch", {"query": f"select:{STATUS_TOOL},{ADD_TOOL}"})])
        model.reply_tool_calls([(STATUS_TOOL, {})])
        model.reply_tool_calls(
            [(ADD_TOOL, {"title": "Add divide", "dependencies": ["PRIORITY 1"],
                         "description": "Add `divide(a, b)` to calc.py, with a test."})]
        )  # fmt: skip
        model.reply_text("Proposed PRIORITY 4 as a pull request.")
        mcp_config = tmp_path / "mcp.json"
        mcp_config.write_text(json.dumps(install_config(project)))
        env = project.env(
            ANTHROPIC_API_KEY=KEY,
            ANTHROPIC_BASE_URL=model.url,
            HOME=str(home),
            DISABLE_AUTOUPDATER="1",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            CLAUDE_CODE_MAX_RETRIES="0",
        )
        done = subprocess.run(
            [str(CLAUDE), "-p", "Add a priority for a divide function.",
             "--output-format", "json", "--model", "sonnet",
             "--mcp-config", str(mcp_config), "--strict-mcp-config",
             f"--allowedTools={STATUS_TOOL},{ADD_TOOL}"],
            cwd=project.checkout, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        pulls = list(setup.github.pulls)
        sent = [json.dumps(r.json) for r in model.model_calls]
        results = tool_results(model.model_calls[-1].json)

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["result"] == "Proposed PRIORITY 4 as a pull request."
    # The tool results Claude Code sent back: the daemon's status, then the proposal.
    status = json.loads(results[1])
    assert status.get("result", status)["running"] is False
    proposal = json.loads(results[2])
    proposal = proposal.get("result", proposal)
    assert proposal["branch"] == BRANCH and proposal["pr_url"].endswith("/pull/1")
    heads = subprocess.run(
        ["git", "ls-remote", str(project.origin), f"refs/heads/{BRANCH}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert heads.strip(), "the branch was not pushed"
    assert [(p.head, p.base, p.title) for p in pulls] == [
        (BRANCH, "main", "Roadmap: add PRIORITY 4: Add divide")
    ]
    clone = project.clone_branch(BRANCH, tmp_path / "proposed")
    added = Roadmap.load(clone / "ROADMAP.md").find("PRIORITY 4")
    assert (added.status, added.dependencies) == (Status.PLANNED, ["PRIORITY 1"])
    assert snapshot(project.checkout) == before
    assert GITHUB_TOKEN not in "\n".join(sent)
