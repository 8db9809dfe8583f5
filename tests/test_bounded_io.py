"""Bounded model calls: a total deadline and a reply size cap, for every API provider.

Each provider runs its real SDK over real HTTP against its vendor's fake, which is told to
misbehave: a slow-loris reply (headers, then one byte a second, forever) or a 100 MB reply.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest
from provider_pairs import VENDORS as PAIRS

from coffee_maker.ai_providers.base import BaseAIProvider
from coffee_maker.ai_providers.errors import Action, ErrorKind, ProviderError
from coffee_maker.ai_providers.providers._bounded import MIB
from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fakes.scripted import ScriptedModelServer
from coffee_maker.fakes.server import Reply

KEY = "sk-test-bounded-0123456789abcdefghij"
TIMEOUT = 2.0
SLACK = 2.0  # the deadline may be overrun by one trickled byte and the error's way up


VENDORS: dict[str, tuple[type[ScriptedModelServer], Callable[..., BaseAIProvider]]] = {
    vendor.name: (vendor.fake, vendor.make) for vendor in PAIRS
}
_openai = VENDORS["openai"][1]


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.setenv(name, KEY)


def _call_fails(provider: BaseAIProvider) -> tuple[ProviderError, float]:
    assert provider.client is not None  # importing the SDK (seconds, cold) is not part of the call
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        provider.execute_prompt("hello")
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_trickling_server_cannot_stretch_the_call_past_its_timeout(vendor, stream):
    fake_cls, make = VENDORS[vendor]
    with fake_cls() as fake:
        fake.trickle().reply_text("after the slow one")
        provider = make(fake.url, timeout=TIMEOUT, stream=stream)
        error, elapsed = _call_fails(provider)
        assert fake.model_calls, "the call never reached the fake"
        # the timeout is retried by the fallback, and the next call works
        assert provider.execute_prompt("again").content == "after the slow one"

    assert error.kind is ErrorKind.TIMEOUT and error.action is Action.RETRY
    assert "deadline of 2 s" in str(error)
    assert TIMEOUT - 0.1 <= elapsed < TIMEOUT + SLACK


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_trickled_header_block_is_cut_at_the_deadline_too(vendor):
    fake_cls, make = VENDORS[vendor]
    with fake_cls() as fake:
        fake.trickle("headers", interval=0.2)
        error, elapsed = _call_fails(make(fake.url, timeout=TIMEOUT))
    assert error.kind is ErrorKind.TIMEOUT
    assert elapsed < TIMEOUT + SLACK


def test_a_server_that_never_answers_times_out_at_the_deadline_not_per_read():
    with FakeOpenAI() as fake:
        fake.enqueue(Reply(200, {}, delay=TIMEOUT + 3))
        error, elapsed = _call_fails(_openai(fake.url, timeout=TIMEOUT))
    assert error.kind is ErrorKind.TIMEOUT
    assert elapsed < TIMEOUT + SLACK


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_reply_over_the_cap_is_refused_while_reading(vendor):
    fake_cls, make = VENDORS[vendor]
    with fake_cls() as fake:
        fake.huge_reply(16 * MIB + 1024).huge_reply(4 * MIB)
        error, _ = _call_fails(make(fake.url, timeout=30))
        # a large reply under the cap is still read whole
        assert len(make(fake.url, timeout=30).execute_prompt("x").content) == 4 * MIB

    assert error.kind is ErrorKind.BAD_RESPONSE and error.action is Action.NEXT_PROVIDER
    assert "larger than 16 MiB" in str(error)


def test_the_cap_is_the_providers_max_reply_mib():
    with FakeOpenAI() as fake:
        fake.huge_reply(2 * MIB)
        error, _ = _call_fails(_openai(fake.url, timeout=30, max_reply_mib=1))
    assert error.kind is ErrorKind.BAD_RESPONSE
    assert "larger than 1 MiB (the provider's `max_reply_mib`)" in str(error)


_MEASURE = """
import json, resource, sys
from tests.test_bounded_io import VENDORS
from coffee_maker.ai_providers.errors import ProviderError

fake_cls, make = VENDORS[sys.argv[1]]
with fake_cls() as fake:
    fake.reply_text("warm up").huge_reply(100 * 1024 * 1024)
    provider = make(fake.url, timeout=60)
    provider.execute_prompt("warm up")  # SDK imported, client and connection made
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        provider.execute_prompt("huge")
        kind = "none"
    except ProviderError as exc:
        kind = exc.kind.value
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"kind": kind, "growth_kib": after - before}))
"""


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_100_mb_reply_leaves_memory_bounded(vendor):
    """In a fresh process, so that the peak RSS is this call's own."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.path.join(root, "tests")])}
    env.update(OPENAI_API_KEY=KEY)
    env.update(ANTHROPIC_API_KEY=KEY, GOOGLE_API_KEY=KEY)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_MEASURE), vendor],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    measured = json.loads(proc.stdout.strip().splitlines()[-1])
    assert measured["kind"] == "bad_response"
    # unbounded, the 100 MB body alone (plus its text and JSON copies) is several hundred
    assert measured["growth_kib"] < 60 * 1024, measured


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_a_compressed_reply_is_refused_so_the_cap_bounds_what_it_inflates_to(vendor):
    import gzip

    fake_cls, make = VENDORS[vendor]
    body = gzip.compress(b"{}" + b" " * 10_000_000)  # 10 kB on the wire, 10 MB inflated
    with fake_cls() as fake:
        fake.enqueue(Reply(200, body, {"content-encoding": "gzip"}))
        error, _ = _call_fails(make(fake.url, timeout=TIMEOUT))
        sent = fake.model_calls[-1].headers.get("accept-encoding")
    assert sent == "identity"
    assert error.kind is ErrorKind.BAD_RESPONSE and "compressed (gzip)" in str(error)


def test_clients_reaching_the_vendor_through_an_env_proxy_are_bounded_too(monkeypatch):
    import httpcore2
    import httpx2

    from coffee_maker.ai_providers.providers._bounded import bound_client

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    client = bound_client(httpx2.Client(), httpcore2)
    transports = [client._transport, *(t for t in client._mounts.values() if t is not None)]
    assert len(transports) >= 2  # the direct one and the proxy's
    assert all(type(t._pool._network_backend).__name__ == "_BoundedBackend" for t in transports)
