"""The worktree's test bench: an environment of its own, the test command, a baseline.

Before the model starts, the worktree gets a test environment in which the code under
test is the worktree's (environment.py), the test command is chosen (the config's, else
detection.py's), and the suite runs once on the untouched worktree: the baseline, cached
per base commit, environment and command. If the tests cannot run at all there, the run
stops before any model call: that is the repository's or the machine's problem, never the
model's, and no attempt is counted (:class:`BenchProblem`).

Every command runs in the sandbox: setup with the network (it downloads packages), the
tests without it unless ``agent.sandbox.network`` says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.agent.commands import CommandResult, run_command, scrubbed_env
from coffee_maker.agent.result import Interrupted
from coffee_maker.agent.sandbox import Sandbox
from coffee_maker.agent.test_report import TestReport
from coffee_maker.agent.verification import TestSuite, Verifier
from coffee_maker.autonomous.detection import choose_tests
from coffee_maker.autonomous.environment import (
    EnvironmentBroken,
    TestEnvironment,
    environments_dir,
    prepare_environment,
)
from coffee_maker.autonomous.sandboxing import make_sandbox
from coffee_maker.autonomous.state import atomic_write_json, state_dir
from coffee_maker.config import AppConfig
from coffee_maker.paths import package_cache_dir, user_state_dir
from coffee_maker.secrets import redact_text

if TYPE_CHECKING:
    from coffee_maker.agent.workspace import Workspace

BASELINES_KEPT = 50


class BenchProblem(Exception):
    """The tests cannot run on the untouched worktree; ``str()`` is one line saying why."""


@dataclass
class Bench:
    suite: TestSuite | None
    reason: str
    environment: TestEnvironment | None
    baseline: TestReport | None
    baseline_cached: bool
    sandbox: Sandbox | None
    reports_dir: Path

    def verifier(self, workspace: Workspace, ready_on_preexisting: bool) -> Verifier:
        return Verifier(
            self.suite, workspace, self.baseline, ready_on_preexisting=ready_on_preexisting
        )

    def close(self) -> None:
        shutil.rmtree(self.reports_dir, ignore_errors=True)


def build_bench(
    config: AppConfig,
    repo: Path,
    worktree: Path,
    base_sha: str,
    *,
    run_id: str,
    baseline_wanted: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    on_step: Callable[[str], None] = lambda step: None,
) -> Bench:
    """Environment, command and baseline for ``worktree``; BenchProblem when tests cannot run."""
    settings = config.agent
    reports = user_state_dir() / "reports" / run_id
    reports.mkdir(parents=True, exist_ok=True)
    choice = choose_tests(config, worktree)

    def sandbox(*writable: Path, network: bool) -> Sandbox | None:
        box = make_sandbox(settings, repo=repo, worktree=worktree, extra_writable=writable)
        return dataclasses.replace(box, network=network) if box and network else box

    setup_box = sandbox(environments_dir(repo), package_cache_dir(), network=True)
    offline_setup_box = dataclasses.replace(setup_box, network=False) if setup_box else None

    def runner(
        command: str | Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        timeout: float,
        network: bool = True,
    ) -> CommandResult:
        result = run_command(
            command,
            cwd=cwd,
            timeout=timeout,
            output_limit=settings.output_limit,
            env=_without_secrets(env, settings.secret_env),
            sandbox=setup_box if network or setup_box is None else offline_setup_box,
            should_stop=should_stop,
        )
        if result.interrupted:
            raise Interrupted("stop requested while the test environment was prepared")
        return result

    on_step("preparing the test environment")
    try:
        environment = prepare_environment(
            repo,
            worktree,
            runner=runner,
            setup_command=config.daemon.setup_command,
            timeout=settings.test_timeout,
        )
    except EnvironmentBroken as exc:
        raise BenchProblem(f"environment broken: {_public(str(exc), repo, worktree)}") from None
    suite = None
    if choice.command:
        suite = TestSuite(
            choice.command,
            runner=choice.runner,
            variables=environment.variables,
            timeout=settings.test_timeout,
            reports_dir=reports,
            reason=choice.reason,
        )
    test_box = sandbox(*environment.writable, reports, network=settings.sandbox.network)
    bench = Bench(suite, choice.reason, environment, None, False, test_box, reports)
    if suite is not None and baseline_wanted:
        bench.baseline, bench.baseline_cached = _baseline(
            bench, repo, worktree, base_sha, settings, should_stop, on_step
        )
    return bench


def _baseline(
    bench: Bench,
    repo: Path,
    worktree: Path,
    base_sha: str,
    settings: Any,
    should_stop: Callable[[], bool],
    on_step: Callable[[str], None],
) -> tuple[TestReport, bool]:
    """The suite on the untouched worktree, from the cache when this base ran before."""
    assert bench.suite is not None and bench.environment is not None
    key = hashlib.sha256(
        json.dumps(
            [base_sha, bench.environment.key, bench.suite.command, bench.suite.runner]
        ).encode()
    ).hexdigest()[:32]
    cache = state_dir(repo) / "baselines" / f"{key}.json"
    report = _load_report(cache)
    cached = report is not None
    if report is None:
        on_step(f"running the tests once before any change: {bench.suite.command}")
        from coffee_maker.agent.workspace import Workspace  # its path matchers: when used

        workspace = Workspace(
            worktree,
            secret_env_names=settings.secret_env,
            output_limit=settings.output_limit,
            sandbox=bench.sandbox,
            should_stop=should_stop,
        )
        run = bench.verifier(workspace, False).run()
        assert run is not None
        if run.interrupted:
            raise Interrupted("stop requested while the baseline ran")
        report = run.report
    if report.broken or report.timed_out:
        why = report.broken or f"timed out after {bench.suite.timeout:g} s (agent.test_timeout)"
        raise BenchProblem(
            f"environment broken: the tests cannot run before any change "
            f"(`{bench.suite.command}`): {_public(why, repo, worktree)}"
        )
    if not cached:
        _store_report(cache, report)
    return report, cached


def _load_report(path: Path) -> TestReport | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fields = {f.name for f in dataclasses.fields(TestReport)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return TestReport(**{k: v for k, v in values.items() if k in fields})
    except (OSError, ValueError, TypeError):
        return None


def _store_report(path: Path, report: TestReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, dataclasses.asdict(report))
    kept = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[BASELINES_KEPT:]:
        old.unlink(missing_ok=True)


def _without_secrets(env: Mapping[str, str], secret_names: Sequence[str]) -> dict[str, str]:
    """The setup's environment minus every secret the daemon's own environment holds."""
    clean = scrubbed_env(secret_names)
    return {k: v for k, v in env.items() if k in clean or k not in os.environ}


def _public(text: str, repo: Path, worktree: Path) -> str:
    """A message that may reach a PR or a log: no local absolute paths, no secrets."""
    for path, name in ((worktree, "<worktree>"), (repo, "<repo>"), (Path.home(), "~")):
        text = text.replace(str(path), name)
    return redact_text(text)
