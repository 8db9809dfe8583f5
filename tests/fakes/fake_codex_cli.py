"""A stand-in for the ``codex`` CLI, to see exactly what it is started with.

It prints the JSONL events ``codex exec --json`` prints (the shapes are copied from Codex
CLI 0.171.0). With ``FAKE_CODEX_RECORD`` set it first writes its argv, stdin, cwd and
environment there; ``FAKE_CODEX_MODE=bad_flag`` ends as Codex does on an unknown option.
"""

from __future__ import annotations

import json
import os
import sys


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main() -> int:
    stdin = sys.stdin.read()
    record = os.environ.get("FAKE_CODEX_RECORD")
    if record:
        seen = {"argv": sys.argv[1:], "stdin": stdin, "cwd": os.getcwd(), "env": dict(os.environ)}
        with open(record, "w", encoding="utf-8") as f:
            json.dump(seen, f)
    if os.environ.get("FAKE_CODEX_MODE") == "bad_flag":
        key = os.environ.get("CODEX_API_KEY", "")
        print(f"error: unexpected argument '--nope' found (key {key})", file=sys.stderr)
        return 2
    emit(type="thread.started", thread_id="01a2370d-0000-7000-8000-000000000001")
    emit(type="turn.started")
    emit(type="item.completed", item={"id": "item_0", "type": "agent_message", "text": "Done."})
    usage = {"input_tokens": 5000, "cached_input_tokens": 4000, "cache_write_input_tokens": 0,
             "output_tokens": 300, "reasoning_output_tokens": 100}  # fmt: skip
    emit(type="turn.completed", usage=usage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
