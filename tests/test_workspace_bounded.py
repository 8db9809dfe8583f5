"""The workspace's bounded operations: a search that cannot run for ever, a write that
cannot leave a truncated file."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from coffee_maker.agent.workspace import MAX_PATTERN_CHARS, SEARCH_SECONDS, ToolError, Workspace

#: Backtracks exponentially on a long run of x with no y (the stdlib ``re`` never returns).
BOMB = r"(x+x+)+y"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "src" / "long.txt").write_text("x" * 5000 + "\n")
    return Workspace(root)


def test_a_catastrophic_pattern_is_a_tool_error_within_the_budget(ws: Workspace) -> None:
    """The budget is matching (CPU) time: on a machine shared by other work the wall
    clock runs longer, so that is bounded only loosely here."""
    started, cpu = time.monotonic(), time.process_time()
    with pytest.raises(ToolError, match=r"search timed out .*simplify the pattern"):
        ws.search(BOMB)
    assert time.process_time() - cpu < SEARCH_SECONDS + 1
    assert time.monotonic() - started < 6 * SEARCH_SECONDS


def test_the_budget_is_for_the_whole_search_not_per_file(ws: Workspace) -> None:
    for index in range(4):
        (ws.root / f"long{index}.txt").write_text("x" * 5000 + "\n")
    cpu = time.process_time()
    with pytest.raises(ToolError, match="timed out"):
        ws.search(BOMB)
    assert time.process_time() - cpu < SEARCH_SECONDS + 1


def test_searches_that_behave_still_work_and_bad_patterns_are_explained(ws: Workspace) -> None:
    assert ws.search(r"def \w+\(") == ["src/app.py:1: def add(a, b):"]
    assert ws.search(r"(a+)+$") == []
    with pytest.raises(ToolError, match="not a valid regular expression"):
        ws.search("(unclosed")
    with pytest.raises(ToolError, match=f"at most {MAX_PATTERN_CHARS} characters"):
        ws.search("a" * (MAX_PATTERN_CHARS + 1))


def test_one_sigterm_stops_a_process_stuck_in_a_search(ws: Workspace) -> None:
    """The stdlib engine holds the signal off until the match ends; ``regex`` lets it in."""
    code = textwrap.dedent(
        f"""
        import signal, sys
        from coffee_maker.agent.workspace import Workspace
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
        print("searching", flush=True)
        Workspace({str(ws.root)!r}).search({BOMB!r})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "searching\n"
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=SEARCH_SECONDS + 5) == 143
    assert time.monotonic() - started < 2


def test_write_text_replaces_content_and_keeps_the_mode(ws: Workspace) -> None:
    script = ws.root / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o755)
    assert ws.write_text("run.sh", "echo new\n") == 9
    assert script.read_text() == "echo new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert ws.write_text("deep/new/file.txt", "hi") == 2
    assert (ws.root / "deep" / "new" / "file.txt").read_text() == "hi"
    assert sorted(p.name for p in ws.root.iterdir()) == ["deep", "run.sh", "src"]


def test_a_write_to_a_name_at_the_length_limit_works_and_a_longer_one_is_a_tool_error(
    ws: Workspace,
) -> None:
    assert ws.write_text("n" * 255, "ok") == 2
    assert (ws.root / ("n" * 255)).read_text() == "ok"
    with pytest.raises(ToolError, match="File name too long"):
        ws.write_text("n" * 256, "no")


def test_write_text_does_not_write_through_links(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("theirs\n")
    os.link(outside, ws.root / "hard.txt")  # a hard link the jail cannot see
    ws.write_text("hard.txt", "mine\n")
    assert outside.read_text() == "theirs\n"
    assert (ws.root / "hard.txt").read_text() == "mine\n"


_FULL_DISK = """
import resource, sys
from coffee_maker.agent.workspace import ToolError, Workspace
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # writing past it: EFBIG
try:
    Workspace(sys.argv[1]).write_text("src/app.py", "y = 1\\n" * 10_000)
except ToolError as exc:
    print(exc)
else:
    print("no error")
"""


def test_a_write_that_fails_half_way_leaves_the_old_file_intact(ws: Workspace) -> None:
    before = (ws.root / "src" / "app.py").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(ws.root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "src/app.py: writing failed (File too large); the file is unchanged" in proc.stdout
    assert (ws.root / "src" / "app.py").read_bytes() == before
    assert sorted(os.listdir(ws.root / "src")) == ["app.py", "long.txt"]  # no temp left


def test_replace_at_refuses_what_an_o_nofollow_open_would(tmp_path: Path) -> None:
    from coffee_maker.agent.replace_file import replace_at

    (tmp_path / "target.txt").write_text("outside\n")
    (tmp_path / "link").symlink_to(tmp_path / "target.txt")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name, error in (("link", "symbolic link"), ("dir", "directory"), ("fifo", "regular")):
            with pytest.raises(OSError, match=error):
                replace_at(fd, name, b"new")
    finally:
        os.close(fd)
    assert (tmp_path / "target.txt").read_text() == "outside\n"
    assert (tmp_path / "link").is_symlink()
