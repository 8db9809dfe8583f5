"""Config is data, bounded: hostile YAML gets one line and exit 2, fast, in little memory.

A 342-byte "billion laughs" file once ate 6.5 GB and never finished. Each hostile file
goes through every command that reads a YAML file the user supplies — the daemon's config,
``provider switch`` (which edits the file with ruamel) and the price override file — in a
subprocess with a 20-second timeout and its address space capped at 512 MiB, so that
expanding a bomb or recursing into a deep file fails the test instead of the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coffee_maker.ai_providers.yaml_files import MAX_YAML_BYTES, MAX_YAML_NODES

BIN = Path(sys.executable).parent
MEMORY_LIMIT = 512 * 1024 * 1024
GOOD = "default_provider: openai\nproviders:\n  openai:\n    model: gpt-5.4-mini\n"


def billion_laughs() -> bytes:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    return ("\n".join(lines) + "\n").encode()


#: name -> (the file's bytes, what the one-line error must say)
HOSTILE = {
    "alias bomb": (billion_laughs(), ":2: YAML alias *a is not allowed"),
    "merge key": (
        (GOOD + "base: &base {model: x}\nother:\n  <<: *base\n").encode(),
        ":7: YAML alias *base is not allowed",
    ),
    "huge file": (
        GOOD.encode() + b"#" + b"x" * MAX_YAML_BYTES + b"\n",
        ": 1,048,648 bytes, over the 1 MiB limit",
    ),
    "not UTF-8": (b"default_provider: caf\xe9\n", ": not UTF-8 text (byte 21)"),
    "deep nesting": (b"x: " + b"[" * 200_000 + b"]" * 200_000 + b"\n", ":1: nested deeper than 40"),
    "deep blocks": (
        "".join("  " * i + f"k{i}:\n" for i in range(60)).encode(),
        ":40: nested deeper than 40",
    ),
    "too many values": (
        b"x: [" + b"1," * (MAX_YAML_NODES + 10) + b"1]\n",
        f":1: more than {MAX_YAML_NODES:,} values",
    ),
}


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(
    tmp_path: Path, *args: str | Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    environ = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "COFFEE_MAKER_HOME": str(tmp_path / "state"),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        **env,
    }
    started = time.monotonic()
    proc = subprocess.run(
        [str(BIN / args[0]), *map(str, args[1:])],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=20,
        preexec_fn=limited,
    )
    return proc, time.monotonic() - started


def refused(proc: subprocess.CompletedProcess[str], path: Path, why: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{path}{why}" in proc.stderr, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("name", HOSTILE)
def test_every_yaml_the_user_supplies_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    content, why = HOSTILE[name]
    hostile = tmp_path / "hostile.yaml"
    hostile.write_bytes(content)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)

    daemon, took = run(tmp_path, "code-developer", "--config", str(hostile), "--once")
    refused(daemon, hostile, why)
    assert took < 15

    switch, _ = run(
        tmp_path, "project-manager", "provider", "switch", "openai", "--config", str(hostile)
    )
    refused(switch, hostile, why)
    assert hostile.read_bytes() == content  # refused before the ruamel edit: untouched

    prices, _ = run(
        tmp_path, "project-manager", "provider", "compare", "--config", str(good),
        COFFEE_MAKER_PRICES=str(hostile),
    )  # fmt: skip
    refused(prices, hostile, why)


def test_a_good_file_still_loads_and_switches_under_the_same_limits(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD + "  ollama:\n    model: qwen2.5-coder:14b\n")
    switch, _ = run(
        tmp_path, "project-manager", "provider", "switch", "ollama", "--config", str(good)
    )
    assert switch.returncode == 0, switch.stderr
    assert "default_provider: openai -> ollama" in switch.stdout
    assert good.read_text().startswith("default_provider: ollama\n")
