"""Knowing what a secret is, so it can be kept out of logs, transcripts, commits and tools.

Three sources:

- *configured* secrets: the values of environment variables the config names (each
  provider's ``api_key_env``, ``github.token_env``, ``agent.secret_env``) and values
  registered directly (a key typed into the wizard). These are redacted at any length;
- *guessed* secrets: values of variables whose name looks secret (``*_API_KEY``,
  ``*_TOKEN``, ``*_SECRET``, ...), from :data:`MIN_SECRET_LENGTH` characters on (shorter
  values like ``1`` or ``true`` would blank out half a log);
- *shapes*: what looks like a credential even when we were never told about it (vendor
  token formats, private key blocks, credentials inside URLs).

Output that may come from code the model wrote is hostile: a test can print a key
base64-encoded, hex-encoded or percent-encoded to slip past a plain search. So every known
value is also searched in those encodings, base64 at each of the three byte alignments (a
key inside a longer base64 stream encodes differently depending on where it starts). Every
layer uses this one module, so "what counts as a secret" has one answer.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"

#: Environment variable names whose values are secrets.
SECRET_NAME_RE = re.compile(
    r"(_API_KEY|_APIKEY|_KEY|_TOKEN|_PAT|_SECRET|_SECRET_KEY|_PASSWORD|_ACCESS_KEY|_PRIVATE_KEY)$"
    r"|^(API_KEY|TOKEN|SECRET|PASSWORD)$",
    re.IGNORECASE,
)

#: Guessed values shorter than this are not treated as secrets (too many false hits:
#: "1", "true"). Configured keys are redacted whatever their length.
MIN_SECRET_LENGTH = 8
#: An encoded form shorter than this is not searched: a 4-character base64 fragment of a
#: 3-character key would match ordinary words. The key itself still is.
MIN_ENCODED_LENGTH = 8

#: Shapes of well-known credentials, redacted wherever they appear. A pattern with a
#: group named ``s`` has only that group replaced (the words around it stay readable).
SECRET_VALUE_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Private key blocks, whole; a block cut off by truncation is redacted to the end.
    re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r".*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        re.DOTALL,
    ),
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{16,}"),  # Anthropic (api03, admin01, oat01)
    re.compile(r"sk-(?:proj-|svcacct-|admin-|or-v1-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI & co
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"glpat-[A-Za-z0-9_\-]{20,}"),  # GitLab personal access tokens
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),  # Google API keys
    re.compile(r"ya29\.[0-9A-Za-z_\-]{20,}"),  # Google OAuth access tokens
    re.compile(r"1//0[0-9A-Za-z_\-]{30,}"),  # Google OAuth refresh tokens
    re.compile(r"xai-[A-Za-z0-9]{20,}"),  # xAI
    re.compile(r"gsk_[A-Za-z0-9]{20,}"),  # Groq
    re.compile(r"fw_[A-Za-z0-9]{20,}"),  # Fireworks
    re.compile(r"hf_[A-Za-z0-9]{30,}"),  # Hugging Face
    re.compile(r"npm_[A-Za-z0-9]{36,}"),  # npm
    re.compile(r"xox[abposre]-[A-Za-z0-9\-]{10,}"),  # Slack bot/user/app tokens
    re.compile(r"xapp-[0-9]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
    re.compile(r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"),  # Stripe
    re.compile(r"whsec_[0-9A-Za-z]{24,}"),  # Stripe webhook secrets
    re.compile(r"SG\.[0-9A-Za-z_\-]{16,}\.[0-9A-Za-z_\-]{16,}"),  # SendGrid
    re.compile(r"dop_v1_[0-9a-f]{64}"),  # DigitalOcean
    re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),  # AWS key id
    # AWS secret access keys have no prefix: recognised by the name next to them.
    re.compile(r"(?i)aws.{0,20}?secret.{0,20}?[\"'\s:=]+(?P<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"),
    # Azure: storage connection strings, shared access signatures, Entra client secrets.
    re.compile(r"(?i)(?:AccountKey|SharedAccessKey)=(?P<s>[A-Za-z0-9+/=]{20,})"),
    re.compile(r"(?<![A-Za-z0-9_~.])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}"),
    # JSON Web Tokens (header.payload.signature, the signature may be empty).
    re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-+/=]{16,}"),
    re.compile(r"(?i)\bbasic\s+(?P<s>[A-Za-z0-9+/]{12,}={0,2})"),
    # Credentials in a URL: https://user:pass@host, or a bare token as an http(s) user
    # (see _replace_userinfo: ssh://git@host keeps its plain user name).
    re.compile(r"://(?P<userinfo>[^/\s@'\"<>]+)@"),
    # ... and in its query string (?token=, &access_token=, &key=, &sig=, ...).
    re.compile(
        r"(?i)[?&;](?:access_token|refresh_token|id_token|token|private_token|auth|"
        r"api[_\-]?key|key|secret|client_secret|password|passwd|pwd|sig|signature|"
        r"x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
        r"x-goog-credential)=(?P<s>[^&#\s'\"<>]+)"
    ),
)

_lock = threading.Lock()
_extra_names: set[str] = set()  # configured: redacted at any length
_floored_names: set[str] = set()  # declared but not necessarily keys: the length floor applies
_extra_values: set[str] = set()


def register_secret_names(names: Iterable[str], *, any_length: bool = True) -> None:
    """Mark environment variable names as secret (e.g. each provider's ``api_key_env``).

    Their values are redacted whatever their length: the config says they are keys.
    ``any_length=False`` is for names of a mixed bag (an env file also holds
    ``LOG_LEVEL=info``): kept out of commands' environments, but their values are
    redacted only from :data:`MIN_SECRET_LENGTH` characters on.
    """
    with _lock:
        (_extra_names if any_length else _floored_names).update(n for n in names if n)


def register_secret_value(value: str | None, *, any_length: bool = True) -> None:
    """Mark a literal value as secret (e.g. a key typed into the setup wizard)."""
    value = (value or "").strip()
    if value and (any_length or len(value) >= MIN_SECRET_LENGTH):
        with _lock:
            _extra_values.add(value)


def is_secret_name(name: str) -> bool:
    return name in _extra_names or name in _floored_names or bool(SECRET_NAME_RE.search(name))


def secret_env_names(environ: Mapping[str, str] | None = None) -> set[str]:
    """Names in ``environ`` (default: os.environ) whose values must never leak."""
    env = os.environ if environ is None else environ
    return {name for name in env if is_secret_name(name)}


def secret_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """Every value to redact: configured keys at any length, guessed ones from 8 characters."""
    env = os.environ if environ is None else environ
    with _lock:
        values = set(_extra_values)
        configured = set(_extra_names)
    for name, value in env.items():
        value = value.strip()
        if not value:
            continue
        if name in configured or (len(value) >= MIN_SECRET_LENGTH and is_secret_name(name)):
            values.add(value)
    return values


def scrubbed_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment without any secret, for commands the model can trigger."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if not is_secret_name(k)}


# -- the forms a value can take ------------------------------------------------------------


def _base64_cores(data: bytes) -> set[str]:
    """The base64 text of ``data`` that is the same wherever it sits in a longer stream.

    ``data`` preceded by 0, 1 or 2 other bytes starts at a different place in a 3-byte
    group: for each alignment, keep only the characters that depend on ``data`` alone.
    """
    cores = set()
    for offset, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        core = encoded[skip : 4 * ((offset + len(data)) // 3)]
        if len(core) >= MIN_ENCODED_LENGTH:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))  # URL-safe alphabet
    return cores


def encoded_forms(value: str) -> set[str]:
    """``value`` as itself and as base64 (standard, URL-safe), hex and percent-encoding."""
    data = value.encode("utf-8")
    forms = {value}
    forms |= _base64_cores(data)
    hexed = binascii.hexlify(data).decode("ascii")
    forms |= {hexed, hexed.upper()}
    for quoted in (quote(value, safe=""), quote_plus(value, safe="")):
        forms |= {quoted, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)}
    return {f for f in forms if f == value or len(f) >= MIN_ENCODED_LENGTH}


@functools.lru_cache(maxsize=64)
def _literals(values: frozenset[str]) -> tuple[str, ...]:
    """All forms of all values, longest first, so one containing another goes whole."""
    forms: set[str] = set()
    for value in values:
        forms |= encoded_forms(value)
    return tuple(sorted(forms, key=lambda f: (-len(f), f)))


def _replace_group(match: re.Match[str]) -> str:
    start, end = match.span("s")
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + REDACTED + whole[end - offset :]


def _replace_userinfo(match: re.Match[str]) -> str:
    """``user:password@`` in any URL; a lone ``user@`` only after http(s), where a lone
    user name is how tokens travel (``https://TOKEN@github.com``)."""
    userinfo = match.group("userinfo")
    scheme = match.string[max(0, match.start() - 5) : match.start()].lower()
    if ":" in userinfo or scheme.endswith("http") or scheme.endswith("https"):
        return f"://{REDACTED}@"
    return match.group(0)


def _replacer(pattern: re.Pattern[str]) -> str | Callable[[re.Match[str]], str]:
    if "userinfo" in pattern.groupindex:
        return _replace_userinfo
    return _replace_group if "s" in pattern.groupindex else REDACTED


#: Patterns without a literal start scan every position of the text, which costs ten times
#: more than the rest: they run only when one of these (lower-case) words is in the text.
_HINTS: dict[str, tuple[str, ...]] = {
    "(?:sk|rk|pk)_(?:live|test)_": ("_live_", "_test_"),
    "(?:AKIA|ASIA|ABIA|ACCA)": ("akia", "asia", "abia", "acca"),
    "(?i)aws": ("aws",),
    "AccountKey|SharedAccessKey": ("accountkey=", "sharedaccesskey="),
    "Q~": ("q~",),
    "(?i)bearer": ("bearer",),
    "(?i)\\bbasic": ("basic",),
    "(?i)[?&;](?:access_token": (
        *("token=", "auth=", "key=", "secret=", "password=", "passwd=", "pwd="),
        *("sig=", "signature=", "credential="),
    ),
}


def _hints(pattern: re.Pattern[str]) -> tuple[str, ...]:
    return next((h for key, h in _HINTS.items() if key in pattern.pattern), ())


_REPLACERS = tuple((p, _replacer(p), _hints(p)) for p in SECRET_VALUE_PATTERNS)


def redact_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every known secret (in any of its encodings) and every credential-shaped
    string with ``[REDACTED]``."""
    if not text:
        return text
    for literal in _literals(frozenset(secret_values(environ))):
        if literal in text:
            text = text.replace(literal, REDACTED)
    lowered = text.lower()
    for pattern, replacement, hints in _REPLACERS:
        if not hints or any(h in lowered for h in hints):
            text = pattern.sub(replacement, text)
    return text


#: A value this long or longer is looked for in the content of a change (a shorter one, a
#: configured key of any length, would match ordinary code).
LEAK_MIN_LENGTH = 12


def leaked_secret(text: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``text`` holds one of this machine's secret values as it is (a configured
    key, a token from the environment), so it must not be committed or pushed."""
    values = (v for v in secret_values(environ) if len(v) >= LEAK_MIN_LENGTH)
    return any(value in text for value in values)


def redact(obj: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Redact strings anywhere inside nested dicts, lists and tuples (for JSON records)."""
    if isinstance(obj, str):
        return redact_text(obj, environ)
    if isinstance(obj, Mapping):
        return {k: redact(v, environ) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact(v, environ) for v in obj)
    return obj
