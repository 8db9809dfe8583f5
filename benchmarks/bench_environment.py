"""Time to the first model call on a real Python project, with a cold and a warm test environment.

Before the model is called, the daemon gives the worktree a test environment of its own
(a venv per repository and dependency hash, the worktree installed editable, an import
check) and runs the suite once on the untouched worktree (the baseline), all in the
sandbox. That is the price of a verdict that tests the worktree; this measures it against
what a developer would do by hand: ``git worktree add`` + ``uv venv`` +
``uv pip install -e .``.

The project is real: an sdist from PyPI (structlog by default: hatch-vcs versioning,
PEP 735 dependency groups, ~950 tests), unpacked, committed and tagged in a git repository
with a bare ``origin``. The package cache (``COFFEE_MAKER_CACHE``) is shared and warmed by
one untimed run first; every cold run gets a new ``COFFEE_MAKER_HOME`` and a new clone,
so no venv and no cached baseline exist yet; the warm runs reuse the last cold run's venv
and baseline on a new worktree each. Every figure is taken in the sandbox (bwrap) and
without it (``agent.sandbox: none``), alternately. Needs PyPI; measures, and checks only
that cold runs built and warm runs reused what they should.

    .venv/bin/python benchmarks/bench_environment.py [--runs 3] [--cold-runs 2]
        [--package structlog==26.1.0] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from coffee_maker.ai_providers.provider_config import parse_config
from coffee_maker.autonomous import git_ops
from coffee_maker.autonomous.environment_python import find_uv, install_arguments
from coffee_maker.autonomous.test_bench import Bench, build_bench
from coffee_maker.config import AppConfig

GIT_ID = ("-c", "user.name=bench", "-c", "user.email=bench@example.invalid")


def sh(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"bench: `{' '.join(map(str, command))}` failed: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def fetch_sdist(requirement: str, into: Path) -> Path:
    """The project's sdist, downloaded once by pip (the ordinary PyPI client) and kept."""
    name, _, version = requirement.partition("==")
    found = sorted(into.glob(f"{name.replace('-', '_')}-{version or '*'}.tar.gz"))
    found = found or sorted(into.glob(f"{name}-{version or '*'}.tar.gz"))
    if not found:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", name]
        sh(*pip, "--quiet", "-d", into, requirement)
        found = sorted(into.glob(f"{name.replace('-', '_')}-*.tar.gz")) or sorted(
            into.glob(f"{name}-*.tar.gz")
        )
    return found[-1]


def make_origin(sdist: Path, root: Path) -> Path:
    """A bare ``origin`` holding the sdist as one tagged commit on ``main``."""
    with tarfile.open(sdist) as archive:
        archive.extractall(root / "unpacked", filter="data")
    (source,) = (root / "unpacked").iterdir()
    version = source.name.rpartition("-")[2]
    sh("git", "init", "-q", "-b", "main", cwd=source)
    sh("git", "add", "-A", cwd=source)
    sh("git", *GIT_ID, "commit", "-q", "-m", f"{source.name} from its sdist", cwd=source)
    sh("git", "tag", version, cwd=source)  # hatch-vcs / setuptools-scm read the version here
    origin = root / "origin.git"
    sh("git", "clone", "-q", "--bare", source, origin)
    return origin


def clone(origin: Path, path: Path) -> Path:
    sh("git", "clone", "-q", origin, path)
    return path


def until_first_call(config: AppConfig, repo: Path, name: str) -> tuple[float, float, Bench]:
    """What the daemon does before the agent starts; (total s, baseline run s, bench)."""
    marks: dict[str, float] = {}

    def on_step(step: str) -> None:
        marks.setdefault(step.split(":")[0], time.perf_counter())

    started = time.perf_counter()
    git_ops.fetch_base(repo, "main")
    branch = git_ops.branch_name(name, "bench")
    pushed = git_ops.fetch_remote_branch(repo, branch)
    worktree = git_ops.create_worktree(repo, name, "bench", start_point=pushed)
    bench = build_bench(
        config, repo, worktree.path, worktree.base_sha, run_id=name, on_step=on_step
    )
    git_ops.untracked_files(worktree)
    ended = time.perf_counter()
    baseline_from = marks.get("running the tests once before any change", ended)
    bench.close()
    git_ops.remove_worktree(repo, worktree)
    return ended - started, ended - baseline_from, bench


def plain(repo: Path, path: Path, install: Callable[[Path], list[str]]) -> float:
    """``git worktree add`` + ``uv venv`` + ``uv pip install <install(worktree)>``."""
    uv = find_uv() or sys.exit("bench: uv is not installed")
    started = time.perf_counter()
    sh("git", "worktree", "add", "-q", "--detach", path, "origin/main", cwd=repo)
    sh(uv, "venv", "--quiet", path / ".venv", cwd=path)
    python = path / ".venv" / "bin" / "python"
    sh(uv, "pip", "install", "--quiet", "--python", python, *install(path), cwd=path)
    elapsed = time.perf_counter() - started
    sh("git", "worktree", "remove", "--force", path, cwd=repo)
    return elapsed


def use_home(path: Path) -> None:
    os.environ["COFFEE_MAKER_HOME"] = str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="warm and plain runs (default 5)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold runs (default 3)")
    parser.add_argument("--package", default="structlog==26.1.0", help="the PyPI sdist to use")
    parser.add_argument("--cache", type=Path, help="package cache to keep (default: temporary)")
    args = parser.parse_args()
    if not find_uv():
        sys.exit("bench: uv is not installed")
    with tempfile.TemporaryDirectory(prefix="bench-environment-") as tmp:
        root = Path(tmp)
        cache = (args.cache or root / "cache").resolve()
        cache.mkdir(parents=True, exist_ok=True)
        os.environ["COFFEE_MAKER_CACHE"] = str(cache)
        # The plain runs use the same uv cache as the daemon's environments.
        os.environ["UV_CACHE_DIR"] = str(cache / "uv")
        for leak in ("VIRTUAL_ENV", "PYTHONPATH"):
            os.environ.pop(leak, None)
        sdist = fetch_sdist(args.package, cache / "sdists")
        print(f"project: {sdist.name}; {args.runs} warm and plain runs, {args.cold_runs} cold")
        times = measure(make_origin(sdist, root), root, args.runs, args.cold_runs)
    report(times)
    return 0


def measure(origin: Path, root: Path, runs: int, cold_runs: int) -> dict[str, list[float]]:
    """Every figure, in seconds, by row label."""
    configs = {
        "bwrap": parse_config({"agent": {"sandbox": "bwrap"}}, "bench", environ={}),
        "none": parse_config({"agent": {"sandbox": "none"}}, "bench", environ={}),
    }
    use_home(root / "home-warmup")  # fills the package cache; not timed
    _, _, warmup = until_first_call(configs["bwrap"], clone(origin, root / "repo-warmup"), "0")
    baseline = warmup.baseline
    assert warmup.suite is not None and baseline is not None
    print(f"test command: {warmup.suite.command} ({warmup.reason})")
    print(f"baseline: {baseline.passed} passed, {baseline.skipped} skipped")

    times: dict[str, list[float]] = {}
    repo = clone(origin, root / "repo-plain")
    times["a"] = [plain(repo, root / f"a-{i}", lambda _w: ["-e", "."]) for i in range(runs)]
    times["a+"] = [plain(repo, root / f"a+-{i}", install_arguments) for i in range(runs)]
    # The two sandbox modes alternate, so a load change on the machine hits both alike.
    warm_repos: dict[str, tuple[Path, Path]] = {}
    for i in range(cold_runs):
        for mode, config in configs.items():
            home, repo = root / f"home-{mode}-{i}", root / f"repo-{mode}-{i}"
            use_home(home)
            total, suite, bench = until_first_call(config, clone(origin, repo), f"cold-{i}")
            environment = bench.environment
            assert environment and not environment.reused and not bench.baseline_cached
            times.setdefault(f"b {mode}", []).append(total)
            times.setdefault(f"env {mode}", []).append(environment.duration)
            times.setdefault(f"d {mode}", []).append(suite)
            times.setdefault(f"rest {mode}", []).append(total - environment.duration - suite)
            warm_repos[mode] = home, repo
            if "Failed to hardlink" in environment.log_tail and i == 0:
                print(f"note ({mode}): uv could not hardlink from its cache; it copied instead")
    for i in range(runs):  # the last cold repository of each mode, now warm
        for mode, config in configs.items():
            home, repo = warm_repos[mode]
            use_home(home)
            total, _, bench = until_first_call(config, repo, f"warm-{i}")
            assert bench.environment and bench.environment.reused and bench.baseline_cached
            times.setdefault(f"c {mode}", []).append(total)
    return times


def report(times: dict[str, list[float]]) -> None:
    med = {key: statistics.median(values) for key, values in times.items()}
    base = med["a"]
    print("\nmedian wall time [min .. max]; ratio against (a)")
    for key, label in (
        ("a", "(a) git worktree add + uv venv + uv pip install -e ."),
        ("a+", "    same, -e with the test extras/groups + pytest"),
        ("b bwrap", "(b) to first model call, cold environment"),
        ("env bwrap", "      of which: the environment (venv, install, check)"),
        ("d bwrap", "      of which: (d) the baseline test run"),
        ("rest bwrap", "      of which: git fetch, worktree add, the rest"),
        ("c bwrap", "(c) to first model call, warm (venv reused, baseline cached)"),
        ("b none", "    (b) with agent.sandbox: none"),
        ("env none", "      of which: the environment (venv, install, check)"),
        ("d none", "      of which: (d) the baseline test run"),
        ("c none", "    (c) with agent.sandbox: none"),
    ):
        values = times[key]
        ratio = f"{med[key] / base:6.2f}x" if key[0] in "abc" else ""
        spread = f"[{min(values):5.2f} .. {max(values):5.2f}]" if len(values) > 1 else ""
        print(f"  {label:<62} {med[key]:6.2f} s {spread:>16} {ratio}")
    print(f"\n(b)/(a) = {med['b bwrap'] / base:.2f}    (c)/(a) = {med['c bwrap'] / base:.2f}")
    for key in ("b", "c"):
        share = 1 - med[f"{key} none"] / med[f"{key} bwrap"]
        print(f"the sandbox's share of ({key}): {share:.0%}")


if __name__ == "__main__":
    sys.exit(main())
