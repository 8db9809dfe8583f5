"""Reading a long-lived roadmap: parse time, and `project-manager roadmap` end to end.

The roadmap is the test suite's 33,075-line one (forty priorities, twenty stories, long
bodies with fences and tables, an archive repeating twelve ids). Parsing is one pass
over the lines; this measures it in-process (best of REPEAT) and the whole command as a
user runs it (a throw-away git repository, the roadmap committed on main).

    python benchmarks/bench_roadmap.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from big_roadmap import big_roadmap

from coffee_maker.autonomous.roadmap import Roadmap

REPEAT = 5


def main() -> None:
    big = big_roadmap()
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        roadmap = Roadmap.parse(big.text)
        times.append(time.perf_counter() - started)
    print(
        f"parse: {big.lines:,} lines, {len(roadmap)} priorities, {len(roadmap.warnings)} "
        f"warnings: best {min(times) * 1000:.0f} ms of {REPEAT} "
        f"({min(times) / big.lines * 1e6:.1f} µs a line)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        git = ["git", "-c", "user.name=b", "-c", "user.email=b@example.com", "-C", tmp]
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        (repo / "ROADMAP.md").write_text(big.text)
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-qm", "roadmap"], check=True)
        command = [str(Path(sys.executable).with_name("project-manager")), "roadmap"]
        started = time.perf_counter()
        done = subprocess.run([*command, "--repo", tmp], capture_output=True, text=True)
        took = time.perf_counter() - started
    print(f"project-manager roadmap: exit {done.returncode} in {took:.2f} s (process included)")


if __name__ == "__main__":
    main()
