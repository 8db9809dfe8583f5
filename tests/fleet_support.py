"""What the fleet's tests share: a model that answers by priority, configs, workers.

The model is FakeOpenAI driven through the real SDK; each worker is a real
``code-developer worker --temporal`` process with its own home and clones (a host, as far
as it can tell); the server is a real Temporal dev server (coffee_maker.fleet.devserver).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from daemon_support import CODE_DEVELOPER, GITHUB_TOKEN, MODEL, MODEL_KEY, TEST_COMMAND, turn

from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fakes.server import RecordedRequest, Reply
from coffee_maker.fleet.devserver import DevServer

REPOS = {"octo/alpha": ["A1", "A2", "A3"], "octo/beta": ["B1", "B2"]}
SLOW = "B1"  # the priority whose first model call hangs until its worker is killed


def roadmap(names: list[str]) -> str:
    sections = [
        f"## PRIORITY {i}: Write {name} 📝\n\n**Status**: 📝 Planned\n\n"
        f"Write {name}.md saying marker-{name}.\n"
        for i, name in enumerate(names, 1)
    ]
    return "# Roadmap\n\n" + "\n".join(sections)


class Model:
    """Answers by the priority in the request: write its note, then finish."""

    def __init__(self, fake: FakeOpenAI, slow: str = SLOW) -> None:
        self.fake = fake
        self.slow = slow  # this priority's first model call hangs (40 s)
        self.slowed = False
        fake.enqueue(*[self.answer] * 500)

    def answer(self, request: RecordedRequest) -> Reply:
        body = request.body.decode(errors="replace")
        names = [n for names in REPOS.values() for n in names if f"marker-{n}." in body]
        if not names:
            return self.fake.render_turn(turn(text="ok"), request)
        name = names[0]
        if f"content-{name}" in body:
            return self.fake.render_turn(turn(("finish", {"summary": f"Wrote {name}."})), request)
        write = ("write_file", {"path": f"{name}.md", "content": f"content-{name}\n"})
        reply = self.fake.render_turn(turn(write), request)
        if name == self.slow and not self.slowed:
            self.slowed = True
            reply.delay = 40.0
        return reply


def clone_config(model_url: str, github_url: str, repo: str, **github: str) -> dict[str, Any]:
    return {
        "default_provider": "openai",
        "providers": {
            "openai": {
                "model": MODEL,
                "base_url": f"{model_url}/v1",
                "api_key_env": "OPENAI_API_KEY",
                "timeout": 120,
                "pricing": {"input": 3.0, "output": 15.0},
            }
        },
        "fallback": {"retry_attempts": 1, "retry_delay": 0.0},
        "agent": {"max_repairs": 0},
        "daemon": {"test_command": TEST_COMMAND, "review_poll_interval": 1},
        "github": {"repo": repo, "api_url": github_url, "token_env": "GITHUB_TOKEN", **github},
    }


#: Short, so a killed worker's step moves on quickly; long enough that a loaded 2-core
#: machine running the suite in parallel never starves the heartbeat thread past it.
HEARTBEAT_TIMEOUT = 6


def worker_config(path: Path, server: DevServer, clones: list[Path], **base: Any) -> Path:
    """The orchestrator section over ``base`` (a clone's own config file wins over it)."""
    orchestrator = {
        "kind": "temporal",
        "address": server.address,
        "task_queue": base.pop("queue", "fleet-test"),
        "repositories": [str(c) for c in clones],
        "concurrency": 2,
        "heartbeat_timeout": HEARTBEAT_TIMEOUT,
        "max_step_attempts": 3,
        "follow_reviews": base.pop("follow_reviews", True),
        "budget_scope": base.pop("budget_scope", "default"),
    }
    path.write_text(yaml.safe_dump({**base, "orchestrator": orchestrator}))
    return path


def env(home: Path) -> dict[str, str]:

    return {
        **os.environ,
        "COFFEE_MAKER_HOME": str(home),
        "OPENAI_API_KEY": MODEL_KEY,
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "PYTHONUNBUFFERED": "1",
    }


def start_worker(config: Path, home: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [CODE_DEVELOPER, "worker", "--temporal", "--config", str(config)]
    out = log.open("wb")
    return subprocess.Popen(command, env=env(home), stdout=out, stderr=subprocess.STDOUT)


def code_developer(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    command = [CODE_DEVELOPER, *args]
    return subprocess.run(command, env=env(home), capture_output=True, text=True, timeout=60)


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def current_of(clone: Path) -> dict[str, Any]:
    path = clone / ".git" / "coffee-maker" / "state.json"
    try:
        return json.loads(path.read_text()).get("current") or {}
    except (OSError, ValueError):
        return {}


def results(server: DevServer, ids: list[str]) -> dict[str, Any]:
    from temporalio.client import Client

    async def fetch() -> dict[str, Any]:
        client = await Client.connect(server.address)
        found = {}
        for wid in ids:
            handle = client.get_workflow_handle(wid)
            try:
                found[wid] = await handle.result()
            except Exception as exc:  # a failed workflow: its cause
                found[wid] = exc
        return found

    return asyncio.run(fetch())


def fake_saw(fake: FakeOpenAI, name: str) -> bool:
    return any(f"marker-{name}." in r.body.decode(errors="replace") for r in fake.model_calls)


def ledger(home: Path) -> list[dict[str, Any]]:
    path = home / "ledger.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


class FollowUpModel(Model):
    """Writes the note (its first answer late: longer than the heartbeat timeout);
    asked on the PR for more, adds a line, once."""

    followup_calls = 0
    late = False

    def first_late(self, request: RecordedRequest, reply: Reply) -> Reply:
        if not self.late:
            self.late = True
            reply.delay = HEARTBEAT_TIMEOUT + 3.0
        return reply

    def answer(self, request: RecordedRequest) -> Reply:
        body = request.body.decode(errors="replace")
        if "please-more" not in body:
            return self.first_late(request, super().answer(request))
        self.followup_calls += 1
        if "more-D1" in body:
            return self.fake.render_turn(turn(("finish", {"summary": "Added more."})), request)
        write = ("write_file", {"path": "D1.md", "content": "content-D1\nmore-D1\n"})
        return self.fake.render_turn(turn(write), request)
