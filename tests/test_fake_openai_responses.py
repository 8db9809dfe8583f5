"""FakeOpenAI's Responses API, read by the official openai SDK: the wire is OpenAI's."""

from __future__ import annotations

import json

import pytest

from coffee_maker.fakes.openai import FakeOpenAI

KEY = "sk-test-responses-0123456789abcdef"


@pytest.fixture
def client_and_fake():
    from openai import OpenAI

    with FakeOpenAI(api_key=KEY) as fake:
        client = OpenAI(api_key=KEY, base_url=fake.url + "/v1", max_retries=0)
        yield client, fake


def test_a_streamed_turn_with_a_function_call(client_and_fake):
    client, fake = client_and_fake
    fake.reply_tool_calls([("exec_command", {"cmd": "ls"})], text="Looking.", input_tokens=90,
                          cached_tokens=10, output_tokens=7, reasoning_tokens=2)  # fmt: skip

    stream = client.responses.create(model="gpt-5.4", input="list files", stream=True)
    events = list(stream)

    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert "response.function_call_arguments.delta" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Looking."
    final = events[-1].response
    call = final.output[1]
    assert call.type == "function_call" and call.name == "exec_command"
    assert json.loads(call.arguments) == {"cmd": "ls"}
    assert final.usage.input_tokens == 100
    assert final.usage.input_tokens_details.cached_tokens == 10
    assert final.usage.output_tokens_details.reasoning_tokens == 2
    assert fake.last_body["stream"] is True


def test_a_whole_response_and_a_failed_stream(client_and_fake):
    client, fake = client_and_fake
    fake.reply_text("Hello.")
    response = client.responses.create(model="gpt-5.4", input="hi")
    assert response.output_text == "Hello." and response.status == "completed"

    fake.fail_in_stream("rate_limit_exceeded", "Rate limit reached.")
    events = list(client.responses.create(model="gpt-5.4", input="hi", stream=True))
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.code == "rate_limit_exceeded"
