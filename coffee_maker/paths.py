"""Where user-level files live. Per-repository state lives in ``<repo>/.git/coffee-maker``."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_path, user_state_path

APP = "coffee-maker"


def user_state_dir() -> Path:
    """``$COFFEE_MAKER_HOME`` or the platform's user state dir: the ledger, quotas, caches."""
    home = os.environ.get("COFFEE_MAKER_HOME")
    path = Path(home).expanduser() if home else user_state_path(APP)
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_config_dir() -> Path:
    """``~/.config/coffee-maker``: the user's config, price overrides and env file."""
    return user_config_path(APP)


def package_cache_dir() -> Path:
    """``$COFFEE_MAKER_CACHE`` or ``<user state dir>/cache``: downloads of uv, npm, ...

    Shared by every repository (the same wheel is fetched once); a separate setting so a
    fleet of daemons, or a test suite, can share one cache while keeping its own state.
    """
    cache = os.environ.get("COFFEE_MAKER_CACHE")
    path = Path(cache).expanduser() if cache else user_state_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
