"""The MCP server's smaller parts: the run request file, the client set-up, HTTP, startup."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from daemon_support import (
    MODEL_KEY,
    ROADMAP,
    Project,
    fakes_running,
    git,
    isolate_git,
    make_project,
)
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_support import PROJECT_MANAGER, TOOLS

from coffee_maker.autonomous import run_requests
from coffee_maker.autonomous.roadmap import Roadmap
from coffee_maker.autonomous.roadmap_changes import appended, priority_section
from coffee_maker.autonomous.state import RepoState, state_dir


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    isolate_git(tmp_path, monkeypatch)
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(tmp_path / "home"))
    return make_project(tmp_path, dirty=False)


# -- the run request -------------------------------------------------------------------------


def test_a_request_is_taken_once_and_unblocks_its_priority(project: Project) -> None:
    roadmap, state = Roadmap.parse(ROADMAP), RepoState.load(project.checkout)
    state.block("PRIORITY 3", "three failures")
    run_requests.request_run(project.checkout, "3")
    assert run_requests.pending(project.checkout)["priority"] == "3"
    looked = run_requests.take(project.checkout, roadmap, state, consume=False)
    assert looked.id == "PRIORITY 3" and state.is_blocked("PRIORITY 3")  # a look changes nothing
    taken = run_requests.take(project.checkout, roadmap, state, consume=True)
    assert taken.id == "PRIORITY 3" and not state.is_blocked("PRIORITY 3")
    assert run_requests.take(project.checkout, roadmap, state, consume=True) is None


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b'{"priority": 3}', b'{"priority": "' + b"9" * 5000 + b'"}'],
)
def test_an_unreadable_request_is_dropped(project: Project, content: bytes) -> None:
    path = state_dir(project.checkout) / "run-request.json"
    path.write_bytes(content)
    state = RepoState.load(project.checkout)
    assert run_requests.take(project.checkout, Roadmap.parse(ROADMAP), state, consume=True) is None
    assert not path.exists()


def test_a_request_for_a_priority_the_roadmap_lost_is_ignored(project: Project) -> None:
    run_requests.request_run(project.checkout, "PRIORITY 9")
    state = RepoState.load(project.checkout)
    assert run_requests.take(project.checkout, Roadmap.parse(ROADMAP), state, consume=True) is None
    assert run_requests.pending(project.checkout) is None


# -- the roadmap text ------------------------------------------------------------------------


def test_an_appended_priority_keeps_the_files_line_endings() -> None:
    crlf = ROADMAP.replace("\n", "\r\n")
    section = priority_section("PRIORITY 4", "Add divide", "Add divide.", ["PRIORITY 1"])
    text = appended(crlf, section)
    assert text.startswith(crlf.rstrip("\r\n")) and "\n" not in text.replace("\r\n", "")
    added = Roadmap.parse(text).find("4")
    assert (added.title, added.dependencies) == ("Add divide", ["PRIORITY 1"])


# -- the client set-up -----------------------------------------------------------------------


def _install(project: Project, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROJECT_MANAGER, "mcp", "install", "--client", "claude", "--repo", str(project.checkout),
         *flags],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_install_write_merges_into_the_projects_mcp_json(project: Project) -> None:
    path = project.checkout / ".mcp.json"
    path.write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}, "keep": 1}))
    done = _install(project, "--write")
    assert done.returncode == 0, done.stderr
    data = json.loads(path.read_text())
    assert data["keep"] == 1 and data["mcpServers"]["other"] == {"command": "x"}
    server = data["mcpServers"]["coffee-maker"]
    assert server["command"] == PROJECT_MANAGER
    assert server["args"] == ["mcp", "--repo", str(project.checkout.resolve())]
    path.write_text("{broken")
    bad = _install(project, "--write")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not JSON" in bad.stderr
    assert path.read_text() == "{broken"


def test_a_repo_that_is_not_one_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [PROJECT_MANAGER, "mcp", "--repo", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "not a git repository" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


# -- streamable HTTP -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(60)
def test_the_server_speaks_streamable_http_on_localhost(project: Project) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [PROJECT_MANAGER, "mcp", "--repo", str(project.checkout), "--http", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)

        async def listed() -> set[str]:
            url = f"http://127.0.0.1:{port}/mcp"
            async with streamable_http_client(url) as streams, ClientSession(*streams) as s:
                await s.initialize()
                return {tool.name for tool in (await s.list_tools()).tools}

        assert anyio.run(listed) == TOOLS
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_other_commands_never_import_the_mcp_sdk(project: Project) -> None:
    code = (
        "import sys\n"
        "from coffee_maker.cli import project_manager\n"
        "for argv in (['roadmap', '--repo', sys.argv[1]], ['mcp', 'install', '--client', "
        "'claude', '--repo', sys.argv[1]]):\n"
        "    project_manager.main(argv)\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))\n"
    )
    git(project.checkout, "status")  # a repository the commands can read
    done = subprocess.run(
        [sys.executable, "-c", code, str(project.checkout)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


# -- review_diff respects the budgets ----------------------------------------------------------


def test_a_review_the_budget_cannot_pay_for_is_not_made(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coffee_maker.cli.mcp_review import review_diff
    from coffee_maker.cli.mcp_tools import Repo, ToolInputError

    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)

    with fakes_running(project, cost_controls={"daily_limit": 0.0001}) as setup:
        setup.model.reply_text("never sent")
        repo = Repo(project.checkout.resolve(), str(project.config))
        with pytest.raises(ToolInputError, match=r"openai gave no review: openai: .*daily"):
            review_diff(repo, "openai", diff="+def divide(a, b): ...")
        assert setup.model.model_calls == []
    assert project.calls() == []
