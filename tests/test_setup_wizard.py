"""``project-manager setup`` driven through its prompts by a real process with piped stdin,
as a user (or a provisioning script) would, with HOME and XDG dirs in a temporary place."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from coffee_maker.ai_providers.provider_config import load_config
from coffee_maker.fakes.openai import FakeOpenAI

KEY = "sk-acme-" + "a" * 32
PM = str(Path(sys.executable).with_name("project-manager"))


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment with its own HOME, config and state dirs, and no provider keys."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        COFFEE_MAKER_HOME=str(tmp_path / "state"),
        COLUMNS="200",
    )
    return env


@pytest.fixture
def acme():
    with FakeOpenAI(api_key=KEY, models=["acme-coder", "acme-large"]) as fake:
        yield fake


def pm(env: dict[str, str], cwd: Path, *argv: str, answers: list[str] | None = None):
    stdin = "".join(f"{line}\n" for line in answers) if answers is not None else ""
    return subprocess.run(
        [PM, *argv], input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


def acme_answers(url: str) -> list[str]:
    return [
        "compatible, ollama",  # providers, most preferred first
        "acme",  # vendor name
        f"{url}/v1",  # base URL
        "acme-coder",  # model
        "",  # key variable: ACME_API_KEY
        KEY,  # the key (hidden)
        "",  # ollama model: the example's
        "http://127.0.0.1:9",  # ollama host: nothing listens there
        "",  # fallback order: as chosen
        "12.5",  # daily budget
        "none",  # per-task budget
        "",  # GitHub token: add it later
    ]


def test_setup_writes_a_config_status_accepts_and_a_private_env_file(tmp_path, home, acme):
    done = pm(home, tmp_path, "setup", answers=acme_answers(acme.url))
    assert done.returncode == 0, done.stderr
    config_path = tmp_path / "xdg" / "coffee-maker" / "ai_providers.yaml"
    env_path = tmp_path / "xdg" / "coffee-maker" / "env"
    assert "acme: ready (2 models listed)" in done.stdout
    assert "ollama: NOT reachable: connection" in done.stdout
    assert "code-developer --dry-run" in done.stdout
    assert "code-developer install-service" in done.stdout

    text = config_path.read_text()
    assert KEY not in text and KEY not in done.stdout + done.stderr
    assert "# local models, free and private" in text  # the example's comments are kept
    data = yaml.safe_load(text)
    assert data["default_provider"] == "acme"
    assert data["providers"]["acme"]["api_key_env"] == "ACME_API_KEY"
    assert set(data["providers"]) == {"acme", "ollama"}
    config = load_config(config_path, environ={})
    assert config.fallback.fallback_order == ["acme", "ollama"]
    assert config.cost_controls.daily_limit == 12.5
    assert config.cost_controls.per_task_limit is None

    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    assert env_path.read_text() == f"ACME_API_KEY={KEY}\n"

    status = pm(home, tmp_path, "provider", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert KEY not in status.stdout + status.stderr
    rows = {row["name"]: row for row in json.loads(status.stdout)["providers"]}
    assert rows["acme"]["key"]["source"] == "env file"
    assert rows["acme"]["reachable"]["outcome"] == "ok"  # the fake demands the key
    assert rows["ollama"]["reachable"]["error_kind"] == "connection"


def test_setup_refuses_to_overwrite_without_reconfigure(tmp_path, home):
    config_path = tmp_path / "mine.yaml"
    config_path.write_text("default_provider: ollama\nproviders:\n  ollama: {}\n")
    done = pm(home, tmp_path, "setup", "--config", str(config_path), answers=["ollama"])
    assert done.returncode == 2
    assert "--reconfigure" in done.stderr and str(config_path) in done.stderr
    assert config_path.read_text() == "default_provider: ollama\nproviders:\n  ollama: {}\n"


def test_reconfigure_keeps_the_users_file_and_other_env_lines(tmp_path, home, acme):
    config_path = tmp_path / "mine.yaml"
    config_path.write_text(
        "# my settings\ndefault_provider: acme\nproviders:\n"
        f"  acme:   # my vendor\n    type: openai\n    base_url: {acme.url}/v1\n"
        "    model: acme-coder\n    api_key_env: ACME_API_KEY\n"
        "  ollama:\n    model: qwen2.5-coder:14b\n"
        "daemon:\n  test_command: make check   # ours\n"
    )
    env_path = tmp_path / "xdg" / "coffee-maker" / "env"
    env_path.parent.mkdir(parents=True)
    env_path.write_text(f"# service keys\nGITHUB_TOKEN=ghp_{'t' * 36}\nACME_API_KEY={KEY}\n")
    env_path.chmod(0o600)
    answers = ["acme", "", "", "", "", "", ""]  # keep model, key, order, budgets, token
    done = pm(
        home, tmp_path, "setup", "--reconfigure", "--config", str(config_path), answers=answers
    )
    assert done.returncode == 0, done.stderr
    assert "Enter keeps the one in" in done.stdout
    assert "GITHUB_TOKEN (input hidden; Enter keeps the one in" in done.stdout
    text = config_path.read_text()
    assert "# my settings" in text and "# my vendor" in text and "make check   # ours" in text
    assert yaml.safe_load(text)["providers"]["ollama"]["enabled"] is False
    assert (
        env_path.read_text() == f"# service keys\nGITHUB_TOKEN=ghp_{'t' * 36}\nACME_API_KEY={KEY}\n"
    )
    assert f"--config {config_path}" in done.stdout
    assert f"CODE_DEVELOPER_CONFIG={config_path}" in done.stdout


def test_a_wrong_answer_is_asked_again_and_eof_writes_nothing(tmp_path, home):
    done = pm(home, tmp_path, "setup", answers=["9", "nonsense", "ollama", ""])
    assert done.returncode == 2
    assert "'9' is not one of" in done.stdout and "'nonsense' is not one of" in done.stdout
    assert "input ended" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "xdg" / "coffee-maker" / "ai_providers.yaml").exists()


def test_a_key_from_the_shell_is_stored_when_enter_is_pressed(tmp_path, home):
    home["OPENAI_API_KEY"] = "sk-shell-" + "s" * 30
    home["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"  # fail fast: nothing listens
    token = "ghp_" + "g" * 36
    answers = ["openai", "", "", "", "", "", token]
    done = pm(home, tmp_path, "setup", answers=answers)
    assert done.returncode == 0, done.stderr
    assert "Enter stores the one set in your environment" in done.stdout
    env_text = (tmp_path / "xdg" / "coffee-maker" / "env").read_text()
    assert env_text == f"OPENAI_API_KEY={home['OPENAI_API_KEY']}\nGITHUB_TOKEN={token}\n"
    assert home["OPENAI_API_KEY"] not in done.stdout + done.stderr
    assert token not in done.stdout + done.stderr
    assert token not in (tmp_path / "xdg" / "coffee-maker" / "ai_providers.yaml").read_text()
