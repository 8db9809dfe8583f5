"""The commands people type import only what they use (structural, not timed).

``--help``, ``status`` and ``provider status`` must answer at once: a vendor SDK, GitPython,
PyGithub or the scheduler costs tens to hundreds of milliseconds to import, and rich and
pydantic are only worth loading where a table is printed or a config validated. Each
command runs in a fresh interpreter, as the program would, and reports what it imported;
``benchmarks/bench_startup.py`` measures the time these imports would have cost.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_support import GITHUB_REPO, GITHUB_TOKEN, Project, make_project

from coffee_maker.fakes.github import FakeGitHub

VENDOR_SDKS = ("anthropic", "openai", "google.genai", "ollama")
#: Never needed to show help or status: the daemon's own machinery.
DAEMON_ONLY = ("git", "github", "apscheduler", "tenacity", "tiktoken", "structlog", "httpx")
#: Worth their cost only where a config is validated or a table printed.
FOR_OUTPUT = ("pydantic", "rich", "yaml")

#: Runs a program's ``main`` as its console script would, then lists the modules loaded.
WRAPPER = """
import json, sys
from coffee_maker.cli.{module} import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "modules": sorted(sys.modules)}}), file=sys.stderr)
"""


def loaded(module: str, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level names and dotted modules a program imported to run ``args``."""
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER.format(module=module), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, 1, 2, None), proc.stdout + proc.stderr  # ran, no crash
    modules = set(report["modules"])
    return modules | {m.split(".")[0] for m in modules}


def offending(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in modules]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    project = make_project(tmp_path)
    project.write_config("http://127.0.0.1:9", "http://127.0.0.1:9")
    return project


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("code_developer", ["--help"]),
        ("code_developer", ["status", "--help"]),
        ("code_developer", ["--bogus"]),
        ("project_manager", ["--help"]),
        ("project_manager", ["provider", "status", "--help"]),
    ],
)
def test_help_imports_nothing_heavy(module: str, args: list[str]) -> None:
    modules = loaded(module, *args)
    assert offending(modules, VENDOR_SDKS + DAEMON_ONLY + FOR_OUTPUT) == []
    assert "coffee_maker.ai_providers.provider_config" not in modules


def test_status_imports_no_sdk_no_gitpython_no_github(project: Project) -> None:
    repo = ["--repo", str(project.checkout), "--config", str(project.config)]
    env = project.env()
    table = loaded("code_developer", "status", *repo, env=env)
    assert offending(table, VENDOR_SDKS + DAEMON_ONLY) == []
    assert {"pydantic", "rich"} <= table  # the config is validated; the table printed
    as_json = loaded("code_developer", "status", "--json", *repo, env=env)
    assert offending(as_json, VENDOR_SDKS + DAEMON_ONLY + ("rich",)) == []


def test_provider_status_imports_no_sdk_when_nothing_is_probed(project: Project) -> None:
    """With the provider's key unset nothing is probed, so no vendor SDK is needed."""
    env = {k: v for k, v in project.env().items() if k != "OPENAI_API_KEY"}
    repo = ["--repo", str(project.checkout), "--config", str(project.config)]
    table = loaded("project_manager", "provider", "status", *repo, env=env)
    assert offending(table, VENDOR_SDKS + DAEMON_ONLY) == []
    as_json = loaded("project_manager", "provider", "status", "--json", *repo, env=env)
    assert offending(as_json, VENDOR_SDKS + DAEMON_ONLY + ("rich",)) == []


def test_the_wrapper_sees_what_a_command_imports(project: Project) -> None:
    """The check above is not vacuous: probing a provider does import its SDK."""
    repo = ["--repo", str(project.checkout), "--config", str(project.config)]
    env = {**project.env(), "OPENAI_API_KEY": "sk-test-key-0123456789abcdefghij"}
    probed = loaded("project_manager", "provider", "status", "--timeout", "1", *repo, env=env)
    assert "openai" in probed


def test_the_daemon_loads_no_retry_or_path_matching_machinery_before_it_works() -> None:
    """An idle daemon holds its imports for hours: tenacity (retries) and pathspec/regex
    (the agent's file rules and search) load with the first model call or workspace."""
    code = (
        "import json, sys\n"
        "import coffee_maker.autonomous.daemon, coffee_maker.ai_providers.fallback_strategy\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    modules = {m.split(".")[0] for m in json.loads(proc.stdout)}
    assert offending(modules, ("tenacity", "pathspec", "regex")) == []


def test_the_preflight_asks_github_without_loading_pygithub_into_the_daemon(
    project: Project,
) -> None:
    """A daemon waits for hours after its preflight, and Python never gives back the ~20 MB
    of PyGithub, requests and cryptography: the push check runs them in a child process,
    which still asks GitHub (and says what it answered); the daemon loads none of them."""
    repo = ["--repo", str(project.checkout), "--config", str(project.config)]
    with FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN) as github:
        project.write_config("http://127.0.0.1:9", github.url)
        modules = loaded("code_developer", "--dry-run", *repo, env=project.env())
        asked = [(r.method, r.path) for r in github.requests]
    assert ("GET", f"/repos/{GITHUB_REPO}") in asked
    assert offending(modules, ("github", "requests", "jwt", "cryptography")) == []
