"""The MCP server beside a running daemon: ``run_priority`` hands it work, safely.

A real ``code-developer`` runs on an interval with nothing it would pick by itself
(PRIORITY 1 and 3 blocked, PRIORITY 2 waiting for 1). Through the ``mcp`` SDK's client
the server adds a priority (a branch and a PR of its own while the daemon works in the
same repository) and asks for PRIORITY 3; the daemon's next iteration takes it, the
scripted model writes USAGE.md, and the PR for it is opened: the request was the only
way that priority could have run.
"""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import pytest
from daemon_support import (
    USAGE_BRANCH,
    fakes_running,
    isolate_git,
    make_project,
    snapshot,
    write_usage_note,
)
from mcp_support import data_of, session, text_of

from coffee_maker.autonomous.state import RepoState


@pytest.mark.timeout(180)
def test_a_running_daemon_takes_the_priority_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    state = RepoState.load(project.checkout)
    state.block("PRIORITY 1", "held for the test")
    state.block("PRIORITY 3", "held for the test")
    before = snapshot(project.checkout)
    with fakes_running(project) as setup:
        setup.model.script(write_usage_note())
        daemon = project.start("--interval", "1")
        try:

            async def drive() -> tuple[dict, dict, dict]:
                async with session(project, project.env()) as s:
                    status: dict = {}
                    for _ in range(300):  # up to 30 s for the daemon's first idle look
                        status = data_of(await s.call_tool("daemon_status", {}))
                        if status["running"] and (status["daemon"] or {}).get("last_iteration_at"):
                            break
                        await anyio.sleep(0.1)
                    assert status["running"], status
                    added = await s.call_tool(
                        "roadmap_add_priority",
                        {"title": "Add divide", "description": "Add divide(a, b)."},
                    )
                    asked = await s.call_tool("run_priority", {"priority": "PRIORITY 3"})
                    assert not asked.is_error, text_of(asked)
                    for _ in range(600):  # up to 60 s for the run
                        status = data_of(await s.call_tool("daemon_status", {}))
                        row = next(p for p in status["priorities"] if p["id"] == "PRIORITY 3")
                        if row["pr_url"]:
                            break
                        await anyio.sleep(0.1)
                    return data_of(added), data_of(asked), status

            added, asked, status = anyio.run(drive)
        finally:
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=60)
        heads = sorted(p.head for p in setup.github.pulls)

    assert asked["requested"] == "PRIORITY 3", out + err
    row = next(p for p in status["priorities"] if p["id"] == "PRIORITY 3")
    assert row["last_outcome"] == "success" and not row["blocked"], out + err
    assert row["branch"] == USAGE_BRANCH
    assert heads == sorted([added["branch"], USAGE_BRANCH])
    blocked = next(p for p in status["priorities"] if p["id"] == "PRIORITY 1")
    assert blocked["blocked"]  # nothing else ran
    assert not (project.checkout / ".git" / "coffee-maker" / "run-request.json").exists()
    assert snapshot(project.checkout) == before
