"""One way to replace a file and one way to lock one: the helpers, and nobody else's."""

from __future__ import annotations

import ast
import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from coffee_maker.ai_providers.atomic_files import atomic_write, locked

PACKAGE = Path(__file__).resolve().parents[1] / "coffee_maker"
HOME = PACKAGE / "ai_providers" / "atomic_files.py"
#: Writes the model's edits relative to a directory fd opened without following links
#: (the workspace's jail): a path-based helper cannot keep that guarantee.
JAILED = PACKAGE / "agent" / "replace_file.py"
#: One daemon per repository: a non-blocking lock held for the process's life, not a block.
REPO_LOCK = PACKAGE / "autonomous" / "repo_lock.py"  # the daemon's lifelong lock
FAKES = PACKAGE / "fakes"


def _calls(path: Path) -> set[str]:
    """Dotted names called in ``path``: ``os.replace``, ``tempfile.mkstemp``, ``fcntl.flock``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if isinstance(target, ast.Name):
                names.add(f"{target.id}.{node.func.attr}")
            else:
                names.add(f"?.{node.func.attr}")
        if isinstance(node, ast.ImportFrom) and node.module in {"tempfile", "fcntl", "filelock"}:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        if isinstance(node, ast.Import):
            names.update(f"import {alias.name}" for alias in node.names)
    return names


def _modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p != HOME and not p.is_relative_to(FAKES)]


def test_nobody_else_replaces_files_by_hand() -> None:
    offenders = {}
    for path in _modules():
        found = _calls(path) & {"os.replace", "os.rename", "tempfile.mkstemp", "?.replace"}
        found.discard("?.replace")  # str.replace, dataclasses.replace...: not files
        if path == JAILED:
            found.discard("os.replace")
        if found:
            offenders[str(path.relative_to(PACKAGE))] = sorted(found)
    assert offenders == {}


def test_nobody_else_locks_files_by_hand() -> None:
    offenders = {}
    for path in _modules():
        found = _calls(path) & {"fcntl.flock", "import fcntl", "import filelock"}
        found |= {n for n in _calls(path) if n.startswith("filelock.")}
        if path == REPO_LOCK:
            found -= {"fcntl.flock", "import fcntl"}
        if found:
            offenders[str(path.relative_to(PACKAGE))] = sorted(found)
    assert offenders == {}


def test_repo_lock_is_the_only_flock_left_in_state() -> None:
    tree = ast.parse(REPO_LOCK.read_text(encoding="utf-8"))
    owners = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, ast.Attribute) and node.attr == "flock":
                owners.add(cls.name)
    assert owners == {"RepoLock"}


def test_atomic_write_sets_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "unit.service"
    target.write_text("old")
    atomic_write(target, b"new", mode=0o644)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    atomic_write(target, b"secret")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unit.service"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def _hold(lock: str, ready: multiprocessing.synchronize.Event, seconds: float) -> None:
    with locked(Path(lock)):
        ready.set()
        time.sleep(seconds)


def test_locked_excludes_another_process_and_times_out(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    child = ctx.Process(target=_hold, args=(str(lock), ready, 1.0))
    child.start()
    try:
        assert ready.wait(10)
        with pytest.raises(TimeoutError, match=r"x\.lock"), locked(lock, timeout=0):
            pass
        with pytest.raises(TimeoutError), locked(lock, exclusive=False, timeout=0.1):
            pass
        started = time.monotonic()
        with locked(lock, timeout=10):  # waits for the holder to let go
            waited = time.monotonic() - started
        assert waited > 0.2
    finally:
        child.join(10)
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600


def test_shared_locks_coexist(tmp_path: Path) -> None:
    """Two readers at once (timeout=0 would raise if the second had to wait); a writer
    meanwhile must wait for both."""
    lock = tmp_path / "y.lock"
    with (
        locked(lock, exclusive=False),
        locked(lock, exclusive=False, timeout=0),
        pytest.raises(TimeoutError),
        locked(lock, timeout=0),
    ):
        pass
