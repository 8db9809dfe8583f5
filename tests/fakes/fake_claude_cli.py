"""A stand-in for the ``claude`` CLI, for failure modes the real one cannot be pushed into
against a fake server (a plan's usage limit, a crash, a hang).

It prints what Claude Code prints with ``--output-format json`` (the shapes are copied
from Claude Code 2.1.330). ``FAKE_CLAUDE_MODE`` picks the behaviour; with
``FAKE_CLAUDE_RECORD`` set it first writes its argv, stdin, cwd and environment there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 300,
    "cache_read_input_tokens": 4000,
    "output_tokens": 250,
}


def result(**fields: object) -> str:
    data = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "api_error_status": None,
        "result": "Done.",
        "stop_reason": "end_turn",
        "num_turns": 3,
        "session_id": "5f0c1a52-0000-4000-8000-000000000001",
        "total_cost_usd": 0.0123,
        "usage": USAGE,
        "modelUsage": {},
        "permission_denials": [],
        "terminal_reason": "completed",
        "duration_ms": 1234,
    }
    data.update(fields)
    return json.dumps(data)


def main() -> int:
    prompt = sys.stdin.read()
    record = os.environ.get("FAKE_CLAUDE_RECORD")
    if record:
        with open(record, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "argv": sys.argv[1:],
                    "stdin": prompt,
                    "cwd": os.getcwd(),
                    "env": dict(os.environ),
                },
                out,
            )
    mode = os.environ.get("FAKE_CLAUDE_MODE", "success")
    if mode == "success":
        print(result())
    elif mode == "orphan":
        # A tool process left running in the background, its output sent nowhere: the
        # CLI exits normally, and the harness must not leave that process behind.
        devnull = subprocess.DEVNULL
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            stdin=devnull, stdout=devnull, stderr=devnull,
        )  # fmt: skip
        with open(os.environ["FAKE_CLAUDE_CHILD_PID"], "w", encoding="utf-8") as out:
            out.write(str(child.pid))
        print(result())
    elif mode == "usage_limit":
        print(
            result(
                is_error=True,
                result="Claude AI usage limit reached|1893456000",
                total_cost_usd=0,
                terminal_reason="api_error",
            )
        )
        return 1
    elif mode == "not_json":
        print("Error: Raw mode is not supported on the current process.stdin")
        print(
            f"fatal: could not start (key {os.environ.get('ANTHROPIC_API_KEY')})", file=sys.stderr
        )
        return 1
    elif mode == "crash":
        print("Segmentation fault (core dumped)", file=sys.stderr)
        return 139
    elif mode == "hang":
        # A tool process of its own, as Claude Code's Bash tool would start: the timeout
        # must kill it too, so the child writes its pid where the test can check on it.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open(os.environ["FAKE_CLAUDE_CHILD_PID"], "w", encoding="utf-8") as out:
            out.write(str(child.pid))
        time.sleep(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
