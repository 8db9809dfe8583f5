"""A transcript record is bounded: one huge reply cannot make a huge line."""

from __future__ import annotations

import json
from pathlib import Path

from coffee_maker.agent.transcript import MAX_RECORD_CHARS, Transcript


def test_a_huge_record_is_cut_with_a_marker_and_stays_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Transcript(path) as transcript:
        transcript.write("model_reply", content="a" * (5 * MAX_RECORD_CHARS), model="m")
        transcript.write("note", text="small")
    lines = path.read_text().splitlines()
    assert all(len(line) <= MAX_RECORD_CHARS for line in lines)
    first, second = (json.loads(line) for line in lines)
    assert first["type"] == "model_reply" and first["model"] == "m"
    assert first["content"].startswith("aaaa")
    assert "characters cut by the transcript" in first["content"]
    assert second["text"] == "small"


def test_a_record_of_countless_small_values_is_replaced_by_a_note(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Transcript(path) as transcript:
        transcript.write("tool_result", items=["x" * 50] * (MAX_RECORD_CHARS // 10))
    (line,) = path.read_text().splitlines()
    record = json.loads(line)
    assert record["type"] == "tool_result" and "not kept" in record["truncated"]
