"""How fast the commands people type answer, what they import, and what an idle daemon holds.

A daemon's CLI is run by hand far more often than it runs a model: ``--help``, ``status``
and ``provider status`` must answer at once, and a daemon that waits for hours between
iterations should not hold memory it does not use. This builds a throw-away repository
(a bare origin, a clone, a roadmap, a config), then measures, in the same run:

- each command's wall time (median and minimum of N runs) and CPU time, and its ratio to
  ``python -c pass`` (the ratio is what to compare across machines and loads);
- which heavy libraries each command imports (vendor SDKs, GitPython, pydantic, rich...);
- the resident memory (VmRSS) of ``code-developer`` idling on that repository (all
  priorities complete, a long interval, GitHub served by the local fake, so the
  preflight's push check really runs), and its ratio to a sleeping
  ``python -c "import time; time.sleep(9)"`` measured the same way.

It asserts nothing (``tests/test_startup_imports.py`` holds the structural checks).

    .venv/bin/python benchmarks/bench_startup.py [--runs N] [--no-daemon]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

VENDOR_SDKS = ("anthropic", "openai", "google.genai", "ollama")
#: Not vendor SDKs, but heavy enough to be worth knowing about.
HEAVY = ("pydantic", "rich", "github", "git", "apscheduler", "structlog", "tiktoken", "yaml")
KEY_ENV = "BENCH_OPENAI_KEY"  # named by the config, never set: nothing to probe
ROADMAP = "# Roadmap\n\n## PRIORITY 1: Done already\n\n**Status**: ✅ Complete\n\nDone.\n"

#: Runs a program's ``main`` in-process, then prints which of ``names`` it imported.
PROBE = """
import json, sys
from coffee_maker.cli.{module} import main
try:
    main({argv!r})
except SystemExit:
    pass
names = {names!r}
print(json.dumps(sorted(n for n in names if n in sys.modules)), file=sys.stderr)
"""


@dataclass
class Timing:
    wall_median: float
    wall_min: float
    cpu_median: float


@dataclass
class Fixture:
    root: Path
    checkout: Path
    config: Path
    env: dict[str, str]


def git(cwd: Path, *args: str) -> None:
    identity = ("-c", "user.name=bench", "-c", "user.email=bench@example.com")
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


def make_fixture(root: Path) -> Fixture:
    """A repository whose roadmap is all done, on a local origin, and an isolated home."""
    seed, origin, checkout = root / "seed", root / "origin.git", root / "checkout"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "ROADMAP.md").write_text(ROADMAP)
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "roadmap")
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    git(seed, "push", "-q", str(origin), "main")
    git(root, "clone", "-q", str(origin), str(checkout))
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    env.update(
        COFFEE_MAKER_HOME=str(root / "home"),
        XDG_CONFIG_HOME=str(root / "xdg"),  # no user env file or config leaks in
        GIT_CONFIG_GLOBAL=str(root / "gitconfig"),
    )
    (root / "gitconfig").write_text("")
    return Fixture(root, checkout, root / "config.yaml", env)


def write_config(fixture: Fixture, github_url: str = "http://127.0.0.1:9") -> None:
    config = {
        "default_provider": "openai",
        "providers": {
            # Nothing listens there: a provider call (there is none to make) would fail.
            "openai": {"model": "gpt", "api_key_env": KEY_ENV, "base_url": "http://127.0.0.1:9/v1"}
        },
        "daemon": {"interval": 3600, "test_command": "true"},
        "github": {"repo": "bench/repo", "api_url": github_url, "token_env": "GITHUB_TOKEN"},
    }
    fixture.config.write_text(json.dumps(config))  # JSON is YAML


def measure(command: list[str], runs: int, env: dict[str, str], cwd: Path) -> Timing:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, env=env, cwd=cwd, check=False)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return Timing(statistics.median(walls), min(walls), statistics.median(cpus))


def imported(module: str, argv: list[str], fixture: Fixture) -> list[str]:
    code = PROBE.format(module=module, argv=argv, names=VENDOR_SDKS + HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=fixture.env,
        cwd=fixture.checkout,
        check=False,
    )
    return json.loads(proc.stderr.strip().splitlines()[-1])


def vm_rss(pid: int) -> int:
    """A running process's resident memory, in kB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def sleeping_python_rss() -> int:
    """VmRSS in kB of an interpreter that imports nothing and sleeps: the floor."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(9)"])
    try:
        time.sleep(1.0)
        return vm_rss(sleeper.pid)
    finally:
        sleeper.terminate()
        sleeper.wait(timeout=30)


def idle_daemon_rss(fixture: Fixture, program: str, wait: float = 60.0) -> tuple[int, str]:
    """VmRSS in kB of ``code-developer`` once it says it is idle, and that line."""
    from coffee_maker.fakes.github import FakeGitHub

    with FakeGitHub(repos=("bench/repo",), token="ghp_bench") as github:
        write_config(fixture, github.url)
        env = {**fixture.env, "GITHUB_TOKEN": "ghp_bench", KEY_ENV: "sk-bench-unused"}
        log = fixture.root / "daemon.log"
        with log.open("w") as sink:
            daemon = subprocess.Popen(
                [program, "--repo", str(fixture.checkout), "--config", str(fixture.config)],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and daemon.poll() is None:
                idle = [line for line in log.read_text().splitlines() if '"idle: ' in line]
                if idle:
                    time.sleep(1.0)  # let it settle into its sleep
                    return vm_rss(daemon.pid), json.loads(idle[0])["event"]
                time.sleep(0.2)
            raise RuntimeError(f"the daemon never went idle; its log:\n{log.read_text()}")
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
            write_config(fixture)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per command (default 10)")
    parser.add_argument("--no-daemon", action="store_true", help="skip the idle daemon's RSS")
    options = parser.parse_args()
    bindir = Path(sys.executable).parent
    code_developer, project_manager = (
        str(bindir / "code-developer"),
        str(bindir / "project-manager"),
    )
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        fixture = make_fixture(Path(tmp))
        write_config(fixture)
        repo = ["--repo", str(fixture.checkout), "--config", str(fixture.config)]
        commands = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "code-developer --help": [code_developer, "--help"],
            "project-manager --help": [project_manager, "--help"],
            "code-developer status": [code_developer, "status", *repo],
            "project-manager provider status": [project_manager, "provider", "status", *repo],
        }
        print(f"{options.runs} runs each; wall median / min, CPU median, ratio of medians")
        baseline: Timing | None = None
        for label, command in commands.items():
            timing = measure(command, options.runs, fixture.env, fixture.checkout)
            baseline = baseline or timing
            print(
                f"  {label:<34} {timing.wall_median * 1000:7.1f} / {timing.wall_min * 1000:6.1f} ms"
                f"  cpu {timing.cpu_median * 1000:6.1f} ms"
                f"  x{timing.wall_median / baseline.wall_median:5.1f}"
            )
        print("(provider status: the provider's key is unset, so no vendor is probed)")
        for module, program, argv in (
            ("code_developer", "code-developer", ["--help"]),
            ("project_manager", "project-manager", ["--help"]),
            ("code_developer", "code-developer", ["status", *repo]),
            ("project_manager", "project-manager", ["provider", "status", *repo]),
        ):
            found = imported(module, argv, fixture)
            shown = " ".join(a for a in argv if not a.startswith(("/", "--repo", "--config")))
            print(f"{program} {shown} imports: {', '.join(found) or 'none of them'}")
        if not options.no_daemon:
            rss, line = idle_daemon_rss(fixture, code_developer)
            floor = sleeping_python_rss()
            print(
                f"idle daemon VmRSS: {rss / 1024:.1f} MB, x{rss / floor:.1f} a sleeping "
                f"python ({floor / 1024:.1f} MB); {line}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
