"""Shared fixtures: every test runs with its own user state and no real credentials."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coffee_maker.secrets import is_secret_name


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory, monkeypatch):
    """No real key, config or user state from the developer's machine leaks into a test."""
    for name in list(os.environ):
        if is_secret_name(name) or name in (
            "CODE_DEVELOPER_CONFIG",
            "DEFAULT_AI_PROVIDER",
            "AI_PROVIDER_FALLBACK",
            "AI_COST_DAILY_LIMIT",
            "AI_COST_PER_TASK_LIMIT",
            "ANTHROPIC_BASE_URL",
            "OPENAI_BASE_URL",
            "GOOGLE_GEMINI_BASE_URL",
            "OLLAMA_HOST",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "COFFEE_MAKER_PRICES",
            "CODEX_HOME",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: same width on a terminal and in CI
    home = tmp_path_factory.mktemp("coffee-maker-home")
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "xdg-state"))
    from coffee_maker.ai_providers.pricing import reset_price_table

    reset_price_table()
    saved = dict(os.environ)  # reading a config loads the env file into os.environ: undo it
    yield
    os.environ.clear()
    os.environ.update(saved)
    reset_price_table()


@pytest.fixture(scope="session")
def package_cache() -> Path:
    """Downloads from PyPI and npm shared by every test (and kept for the next session):
    ``$COFFEE_MAKER_TEST_CACHE`` or ``~/.cache/coffee-maker-tests``."""
    default = Path.home() / ".cache" / "coffee-maker-tests"
    path = Path(os.environ.get("COFFEE_MAKER_TEST_CACHE") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path
