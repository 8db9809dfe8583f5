"""What a newcomer sees on every command: the built-in defaults and the wizard's output
are quiet; a warning appears only for what the user's own file sets; a config that
YAML would silently misread (a key written twice, nothing in it) is one line, exit 2.

Driven through the real commands (``project-manager setup`` with piped answers, then
``project-manager provider status``) with HOME and the config dirs in a temporary place.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PM = str(Path(sys.executable).with_name("project-manager"))
CD = str(Path(sys.executable).with_name("code-developer"))
ANTHROPIC_KEY = "sk-ant-" + "a" * 40


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    environ.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        COFFEE_MAKER_HOME=str(tmp_path / "state"),
        ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        ANTHROPIC_BASE_URL="http://127.0.0.1:9",  # nothing listens: fail fast, offline
        COLUMNS="200",
    )
    environ.pop("CODE_DEVELOPER_CONFIG", None)
    return environ


def pm(env: dict[str, str], cwd: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess:
    return run([PM, *argv], env, cwd, stdin)


def run(argv: list[str], env: dict[str, str], cwd: Path, stdin: str = ""):
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


def test_built_in_defaults_do_not_warn(tmp_path, env):
    done = pm(env, tmp_path, "provider", "status")
    assert done.returncode == 1, done.stderr  # the default provider is unreachable here
    assert "built-in defaults" in done.stdout and "claude" in done.stdout
    assert "warning" not in done.stderr.lower() and "temperature" not in done.stderr


def test_the_wizards_config_does_not_warn(tmp_path, env):
    answers = ["claude", "", "", "", "", "", ""]  # Claude, its defaults, no GitHub token
    done = pm(env, tmp_path, "setup", stdin="".join(f"{a}\n" for a in answers))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "xdg" / "coffee-maker" / "ai_providers.yaml").is_file()
    assert "temperature" not in done.stdout + done.stderr
    status = pm(env, tmp_path, "provider", "status")
    assert status.returncode == 1, status.stderr  # claude is unreachable here
    assert "ai_providers.yaml" in status.stdout
    assert "warning" not in status.stderr.lower() and "temperature" not in status.stderr


def test_a_temperature_the_user_sets_for_claude_is_reported_once(tmp_path, env):
    config = tmp_path / "mine.yaml"
    config.write_text("providers:\n  claude:\n    temperature: 0.7\n  second:\n    type: openai\n")
    done = pm(env, tmp_path, "provider", "status", "--config", str(config))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("providers.claude.temperature is ignored") == 1


DUPLICATES = {
    "top": (
        "providers:\n  ollama: {}\nfallback: {}\nproviders:\n  claude: {}\n",
        4,
        "providers",
        1,
    ),
    "nested": (
        "providers:\n  claude:\n    model: a\n    max_tokens: 9\n    model: b\n",
        5,
        "providers.claude.model",
        3,
    ),
    "flow": (
        "providers: {ollama: {}}\nagent: {max_steps: 3, max_steps: 4}\n",
        2,
        "agent.max_steps",
        2,
    ),
}


@pytest.mark.parametrize("case", DUPLICATES)
@pytest.mark.parametrize("program", [CD, PM])
def test_a_key_written_twice_is_an_error_naming_it_and_its_lines(tmp_path, env, case, program):
    text, line, key, first = DUPLICATES[case]
    config = tmp_path / "dup.yaml"
    config.write_text(text)
    argv = [program, "--dry-run"] if program == CD else [program, "provider", "status"]
    done = run([*argv, "--config", str(config)], env, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{Path(program).name}: {config}:{line}: duplicate key {key} (first at line {first}); "
        "YAML would keep only the last, so write it once"
    ]


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "providers:\n", "daemon: {interval: 5}\n"]
)
@pytest.mark.parametrize("program", [CD, PM])
def test_a_config_without_providers_is_an_error(tmp_path, env, text, program):
    config = tmp_path / "empty.yaml"
    config.write_text(text)
    argv = [program, "--dry-run"] if program == CD else [program, "provider", "status"]
    done = run([*argv, "--config", str(config)], env, tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{config}: defines no providers" in lines[0], done.stderr
