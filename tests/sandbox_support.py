"""What the sandbox tests share: a place outside /tmp, process hunting, encoded secrets.

The sandbox gives every command a private /tmp, so a secret planted under pytest's
``tmp_path`` would be out of reach for that reason alone and prove nothing about the
hiding of homes, state and checkouts. These tests plant theirs under /var/tmp.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def outside_tmp() -> Iterator[Path]:
    """A fresh directory that is not under /tmp (removed afterwards)."""
    base = Path(tempfile.mkdtemp(prefix="cm-sandbox-test-", dir="/var/tmp")).resolve()
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def unique_sleep() -> str:
    """A ``sleep`` duration no other process uses: how a test finds its own sleeper."""
    return f"600.{uuid.uuid4().int % 10**9:09d}"


def processes_with(marker: str) -> list[int]:
    """Host PIDs whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline.replace(b"\0", b" "):
            found.append(int(entry))
    return found


def kill_all_with(marker: str) -> None:
    """Clean up after a test, whatever it asserted: real processes must not linger."""
    for pid in processes_with(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def leaked_forms(secret: str, text: str) -> list[str]:
    """How ``secret`` shows in ``text``: raw, or inside any standard/urlsafe base64 run.

    A secret base64-encoded as part of a larger blob is not ``b64encode(secret)``: its
    characters depend on its offset modulo 3. So for each offset the characters fully
    determined by the secret's bytes are looked for.
    """
    forms = []
    if secret in text:
        forms.append("raw")
    data = secret.encode()
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + data).decode()
            core = encoded[(8 * shift + 5) // 6 : len(encoded) - 4]
            if len(core) >= 12 and core in text:
                forms.append(f"base64 (offset {shift})")
    return forms
