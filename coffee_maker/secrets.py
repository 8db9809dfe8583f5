"""Knowing what a secret is, so it can be kept out of logs, transcripts, commits and tools.

Two sources: the *values* of environment variables that hold keys (named by the config,
or matching ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ...), and *shapes* that look like
a vendor key even when we were never told about it (``sk-...``, ``ghp_...``, ``AIza...``).
Every layer uses this one module, so "what counts as a secret" has one answer.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"

#: Environment variable names whose values are secrets.
SECRET_NAME_RE = re.compile(
    r"(_API_KEY|_APIKEY|_TOKEN|_SECRET|_SECRET_KEY|_PASSWORD|_ACCESS_KEY|_PRIVATE_KEY)$"
    r"|^(API_KEY|TOKEN|SECRET|PASSWORD)$",
    re.IGNORECASE,
)

#: Shapes of well-known credentials, redacted wherever they appear.
SECRET_VALUE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{16,}"),  # Anthropic
    re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI & compatibles
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),  # Google API keys
    re.compile(r"xai-[A-Za-z0-9]{20,}"),  # xAI
    re.compile(r"gsk_[A-Za-z0-9]{20,}"),  # Groq
    re.compile(r"fw_[A-Za-z0-9]{20,}"),  # Fireworks
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-]{16,}"),
)

#: Values shorter than this are not treated as secrets (too many false hits: "1", "true").
MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_extra_names: set[str] = set()
_extra_values: set[str] = set()


def register_secret_names(names: Iterable[str]) -> None:
    """Mark environment variable names as secret (e.g. each provider's ``api_key_env``)."""
    with _lock:
        _extra_names.update(n for n in names if n)


def register_secret_value(value: str | None) -> None:
    """Mark a literal value as secret (e.g. a key typed into the setup wizard)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _extra_values.add(value)


def is_secret_name(name: str) -> bool:
    return name in _extra_names or bool(SECRET_NAME_RE.search(name))


def secret_env_names(environ: Mapping[str, str] | None = None) -> set[str]:
    """Names in ``environ`` (default: os.environ) whose values must never leak."""
    env = os.environ if environ is None else environ
    return {name for name in env if is_secret_name(name)}


def secret_values(environ: Mapping[str, str] | None = None) -> set[str]:
    env = os.environ if environ is None else environ
    values = {env[n] for n in secret_env_names(env) if len(env.get(n, "")) >= MIN_SECRET_LENGTH}
    with _lock:
        values |= _extra_values
    return values


def scrubbed_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment without any secret, for commands the model can trigger."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if not is_secret_name(k)}


def redact_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every known secret value and every key-shaped string with ``[REDACTED]``."""
    if not text:
        return text
    # Longest first, so a secret that contains another is removed whole.
    for value in sorted(secret_values(environ), key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern in SECRET_VALUE_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def redact(obj: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Redact strings anywhere inside nested dicts, lists and tuples (for JSON records)."""
    if isinstance(obj, str):
        return redact_text(obj, environ)
    if isinstance(obj, Mapping):
        return {k: redact(v, environ) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact(v, environ) for v in obj)
    return obj
