"""How long redacting 1 MB of test output takes, against what it replaced.

Test output is the largest text that goes through :func:`coffee_maker.secrets.redact_text`
(every ``run_tests`` result, the harness's verification, the PR body). Three numbers on the
same 1 MB of pytest-like output holding a few secrets in several encodings, measured in the
same run:

- ``str.replace``: a plain replace of each configured value, the floor for any redaction;
- the first implementation (the raw values plus nine vendor shapes), kept below verbatim;
- today's ``redact_text`` (every value in seven encodings, private key blocks, ~35 shapes,
  URL credentials).

    python benchmarks/bench_redaction.py
"""

from __future__ import annotations

import base64
import os
import re
import statistics
import time
from collections.abc import Callable

from coffee_maker import secrets

SIZE = 1_000_000
ROUNDS = 7
KEYS = {
    "OPENAI_API_KEY": "sk-bench-0123456789abcdefghijklmnopqrstuv",
    "GITHUB_TOKEN": "ghp_benchmarkTOKEN0123456789abcdefghij",
    "VENDOR_CREDENTIAL": "plain-vendor-secret-42",
}

# -- the first implementation, for comparison ------------------------------------------------
_OLD_PATTERNS = (
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"xai-[A-Za-z0-9]{20,}"),
    re.compile(r"gsk_[A-Za-z0-9]{20,}"),
    re.compile(r"fw_[A-Za-z0-9]{20,}"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-]{16,}"),
)


def old_redact_text(text: str, values: list[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, "[REDACTED]")
    for pattern in _OLD_PATTERNS:
        text = pattern.sub("[REDACTED]", text)
    return text


def plain_replace(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(value, "[REDACTED]")
    return text


def test_output(size: int) -> str:
    """pytest-like lines, with a key raw, base64-encoded, hex-encoded and in a URL."""
    key = KEYS["VENDOR_CREDENTIAL"]
    lines = []
    i = 0
    while sum(map(len, lines)) < size:
        i += 1
        lines.append(
            f"tests/test_module_{i % 40}.py::test_case_{i} PASSED{' ' * (i % 7)}[ {i % 100}%]"
        )
        if i % 500 == 0:
            lines.append("E       AssertionError: assert {'a': 1, 'b': [1, 2, 3]} == {'a': 2}")
            lines.append(f"  leaked: {key} {base64.b64encode(b'x' + key.encode()).decode()}")
            lines.append(
                f"  hex {key.encode().hex()} url https://user:hunter2@example.com/x?token=abc"
            )
    return "\n".join(lines)[:size]


def best_of(fn: Callable[[], str]) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    os.environ.update(KEYS)
    secrets.register_secret_names(KEYS)
    text = test_output(SIZE)
    values = list(KEYS.values())
    secrets.redact_text("warm the cache of encoded forms")
    results = {
        "str.replace of each value": best_of(lambda: plain_replace(text, values)),
        "first implementation": best_of(lambda: old_redact_text(text, values)),
        "redact_text today": best_of(lambda: secrets.redact_text(text)),
    }
    floor = results["str.replace of each value"][0]
    old = results["first implementation"][0]
    print(f"redacting {len(text) / 1e6:.1f} MB of test output, best and median of {ROUNDS}:")
    for name, (best, median) in results.items():
        print(
            f"  {name:28} {best * 1000:8.1f} ms  (median {median * 1000:7.1f} ms)  "
            f"x{best / floor:6.1f} str.replace  x{best / old:5.2f} first"
        )
    redacted = secrets.redact_text(text)
    assert KEYS["VENDOR_CREDENTIAL"] not in redacted and "hunter2" not in redacted


if __name__ == "__main__":
    main()
