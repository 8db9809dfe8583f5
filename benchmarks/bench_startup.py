"""How fast the CLIs answer ``--help``, and proof that no vendor SDK is imported for it.

A daemon's CLI is run by hand far more often than it runs a model: ``--help``, ``status``
and typos must answer at once. Vendor SDKs (anthropic, openai, google-genai, ollama) take
hundreds of milliseconds to import, so they are imported lazily, by the provider that
needs them. This measures it; it asserts nothing.

    .venv/bin/python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

VENDOR_SDKS = ("anthropic", "openai", "google.genai", "ollama")
#: Not vendor SDKs, but heavy enough to be worth knowing about.
HEAVY = ("pydantic", "rich", "github", "git", "apscheduler", "structlog", "tiktoken", "yaml")

PROBE = """
import json, sys
from coffee_maker.cli.{module} import main
try:
    main(["--help"])
except SystemExit:
    pass
names = {names!r}
print(json.dumps(sorted(n for n in names if n in sys.modules)), file=sys.stderr)
"""


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def imported(module: str, names: tuple[str, ...]) -> list[str]:
    code = PROBE.format(module=module, names=names)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stderr.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per command (default 10)")
    runs = parser.parse_args().runs
    bindir = Path(sys.executable).parent
    commands = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "code-developer --help": [str(bindir / "code-developer"), "--help"],
        "project-manager --help": [str(bindir / "project-manager"), "--help"],
    }
    print(f"median wall time of {runs} runs:")
    for label, command in commands.items():
        print(f"  {label:<28} {median_seconds(command, runs) * 1000:7.1f} ms")
    for module, program in (
        ("code_developer", "code-developer"),
        ("project_manager", "project-manager"),
    ):
        vendors = imported(module, VENDOR_SDKS)
        heavy = imported(module, HEAVY)
        print(f"{program} --help imports vendor SDKs: {', '.join(vendors) or 'none'}")
        print(f"{program} --help imports heavy libraries: {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
