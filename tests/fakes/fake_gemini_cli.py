"""A stand-in for the ``gemini`` CLI, to see what it is started with and to end it with
each exit code the real one documents.

It prints the stream-json events ``gemini -p ... -o stream-json`` prints (the shapes are
copied from Gemini CLI 0.61.0). With ``FAKE_GEMINI_RECORD`` set it first writes its argv,
stdin, cwd and environment there; ``FAKE_GEMINI_EXIT=N`` prints an error and exits with N.
"""

from __future__ import annotations

import json
import os
import sys


def emit(**event: object) -> None:
    print(json.dumps({"timestamp": "2026-12-02T14:00:00.000Z", **event}), flush=True)


def main() -> int:
    stdin = sys.stdin.read()
    record = os.environ.get("FAKE_GEMINI_RECORD")
    if record:
        seen = {"argv": sys.argv[1:], "stdin": stdin, "cwd": os.getcwd(), "env": dict(os.environ)}
        with open(record, "w", encoding="utf-8") as f:
            json.dump(seen, f)
    code = int(os.environ.get("FAKE_GEMINI_EXIT") or 0)
    if code:
        print(f"Error: the CLI stopped (simulated exit code {code})", file=sys.stderr)
        return code
    emit(type="init", session_id="20bbb278-0000-4000-8000-000000000001", model="gemini-2.5-pro")
    emit(type="message", role="user", content=stdin)
    emit(type="message", role="assistant", content="Do", delta=True)
    emit(type="message", role="assistant", content="ne.", delta=True)
    stats = {"total_tokens": 5300, "input_tokens": 5000, "output_tokens": 300, "cached": 4000,
             "input": 1000, "duration_ms": 10, "tool_calls": 0}  # fmt: skip
    emit(type="result", status="success", stats=stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
