"""Bounded I/O for model calls: a wall-clock deadline and a size cap that a server cannot stretch.

The SDKs' timeouts are per socket operation: a server that sends one byte a second never
trips them, and a reply is buffered whole however large it is. So every API provider
builds its HTTP client through :func:`bound_client`, which wraps the network backend
under each of the client's transports (env proxies included). Inside
:func:`bounded_call`, every connect, write and read on those sockets is given at most the
time left before the call's deadline (the provider's ``timeout``), and the bytes read are
counted against the provider's ``max_reply_mib`` (16 MiB by default). The socket is
really abandoned: the read that would pass the deadline times out in the HTTP library
itself, and the connection is dropped.

Replies are asked for uncompressed (``Accept-Encoding: identity``) and a compressed one
is refused, so that the cap bounds the decoded size too (16 MiB of gzip can inflate to
gigabytes). The deadline is carried in a context variable: the SDKs read the socket in
the calling thread, so a call's deadline never leaks into another thread's call.

A stop (Ctrl-C, SIGTERM) need not wait for the deadline: :func:`cancel_calls` moves every
call in flight's deadline to now and shuts its sockets down, so the blocked read returns at
once (in whichever thread it runs) and the call raises :class:`CallCancelled`.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coffee_maker.ai_providers.errors import (
    BadResponseError,
    ProviderError,
    ProviderTimeoutError,
)

if TYPE_CHECKING:
    from coffee_maker.ai_providers.base import BaseAIProvider

MIB = 1024 * 1024


@dataclass
class CallLimits:
    """One model call's budget: a monotonic deadline and the bytes it may still read."""

    seconds: float
    deadline: float
    max_bytes: int
    received: int = 0
    problem: ProviderError | CallCancelled | None = None  # set when a limit stopped the call
    #: The connections this call has used: what a cancel shuts down.
    streams: list[_BoundedStream] = field(default_factory=list)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def uses(self, stream: _BoundedStream) -> None:
        if stream not in self.streams:
            self.streams.append(stream)


class CallCancelled(KeyboardInterrupt):
    """A model call cut short because a stop was asked for (Ctrl-C, SIGTERM).

    A ``KeyboardInterrupt`` on purpose: every ``except Exception`` between the socket and
    the run (the SDK's, the fallback chain's) lets it through, so no retry or next provider
    is tried, and the run ends as interrupted, not as a provider failure.
    """


#: Every call in flight, whatever its thread: a signal handler runs in the main thread
#: while the call may run in a worker. A plain set (no lock): the handler can interrupt
#: the main thread anywhere, and a lock held there would deadlock it.
_live_calls: dict[int, CallLimits] = {}


#: Calls that are not sockets (an agent CLI's process): each is told to stop by a hook.
_cancel_hooks: dict[int, Callable[[str], None]] = {}


def cancel_calls(reason: str = "stop requested; the model call in flight was cancelled") -> int:
    """Cut every call in flight short at once; how many there were.

    Safe in a signal handler. Each call's deadline becomes now (so no further connect,
    write or retry starts) and its sockets are shut down (so a read blocked on them returns
    now); the call then raises :class:`CallCancelled` with ``reason``. A call registered
    with :func:`on_cancel` has its hook called instead.
    """
    calls = list(_live_calls.values())
    for limits in calls:
        limits.problem = CallCancelled(reason)
        limits.deadline = time.monotonic()
        for stream in list(limits.streams):
            stream.shut_down()
    hooks = list(_cancel_hooks.values())
    for hook in hooks:
        hook(reason)
    return len(calls) + len(hooks)


@contextlib.contextmanager
def on_cancel(hook: Callable[[str], None]) -> Iterator[None]:
    """Within the block, :func:`cancel_calls` calls ``hook(reason)`` (it must only set a
    flag: it runs in a signal handler)."""
    key = id(hook)
    _cancel_hooks[key] = hook
    try:
        yield
    finally:
        _cancel_hooks.pop(key, None)


_current: contextvars.ContextVar[CallLimits | None] = contextvars.ContextVar(
    "coffee_maker_call_limits", default=None
)


@contextlib.contextmanager
def bounded_call(provider: BaseAIProvider, seconds: float | None = None) -> Iterator[CallLimits]:
    """Run one call of ``provider`` under a total deadline and its reply size cap.

    ``seconds`` defaults to the provider's ``timeout``; the cap is its ``max_reply_mib``.
    Whatever the SDK raises once a limit has stopped the call (its timeout, a connection
    error, a half-parsed body), the caller gets the limit's own error: a
    :class:`ProviderTimeoutError` (retried) or a :class:`BadResponseError` (not retried).
    """
    seconds = seconds or provider.settings.timeout
    max_bytes = provider.settings.max_reply_mib * MIB
    limits = CallLimits(seconds, time.monotonic() + seconds, max_bytes)
    token = _current.set(limits)
    _live_calls[id(limits)] = limits
    try:
        yield limits
    except Exception as exc:
        if limits.problem is None and limits.remaining() <= 0:
            limits.problem = _timeout(limits)
        if limits.problem is not None:
            if isinstance(limits.problem, ProviderError):
                limits.problem.provider = limits.problem.provider or provider.name
                limits.problem.model = limits.problem.model or provider.model
            if exc is limits.problem:
                raise
            if isinstance(limits.problem, ProviderError):
                limits.problem.cause = exc
            raise limits.problem from exc
        raise
    finally:
        _live_calls.pop(id(limits), None)
        _current.reset(token)


def _timeout(limits: CallLimits) -> ProviderTimeoutError:
    return ProviderTimeoutError(
        f"no complete reply within the call's deadline of {limits.seconds:g} s "
        "(the provider's `timeout`)"
    )


def _too_large(limits: CallLimits) -> BadResponseError:
    return BadResponseError(
        f"the reply is larger than {limits.max_bytes / MIB:g} MiB (the provider's "
        "`max_reply_mib`); refused while reading it"
    )


def _clamp(
    timeout: float | None, timeout_error: type[Exception], stream: _BoundedStream | None = None
) -> float | None:
    """``timeout`` cut to the time left in the current call; past its deadline, a timeout."""
    limits = _current.get()
    if limits is None:
        return timeout
    if stream is not None:
        limits.uses(stream)
    left = limits.remaining()
    if left <= 0:
        limits.problem = limits.problem or _timeout(limits)
        raise timeout_error(str(limits.problem))
    return left if timeout is None else min(timeout, left)


class _BoundedStream:
    """A network stream whose every operation ends by the current call's deadline."""

    def __init__(self, inner: Any, timeout_error: type[Exception]) -> None:
        self._inner = inner
        self._timeout_error = timeout_error

    def _clamp(self, timeout: float | None) -> float | None:
        return _clamp(timeout, self._timeout_error, self)

    def shut_down(self) -> None:
        """End the connection both ways now: a read blocked on it (any thread) returns."""
        sock = self._inner.get_extra_info("socket")
        if sock is None:
            return
        with contextlib.suppress(OSError):  # already closed: nothing is blocked on it
            sock.shutdown(socket.SHUT_RDWR)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, self._clamp(timeout))
        limits = _current.get()
        if limits is not None:
            limits.received += len(data)
            if limits.received > limits.max_bytes:
                limits.problem = limits.problem or _too_large(limits)
                self._inner.close()  # the rest of the body is never read
                raise limits.problem
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> _BoundedStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._clamp(timeout))
        return _BoundedStream(inner, self._timeout_error)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BoundedBackend:
    """A network backend handing out :class:`_BoundedStream` connections."""

    def __init__(self, inner: Any, timeout_error: type[Exception]) -> None:
        self._inner = inner
        self._timeout_error = timeout_error

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, **kwargs: Any
    ) -> _BoundedStream:
        stream = self._inner.connect_tcp(host, port, self._clamp(timeout), **kwargs)
        return self._track(_BoundedStream(stream, self._timeout_error))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, **kwargs: Any
    ) -> _BoundedStream:
        stream = self._inner.connect_unix_socket(path, self._clamp(timeout), **kwargs)
        return self._track(_BoundedStream(stream, self._timeout_error))

    @staticmethod
    def _track(stream: _BoundedStream) -> _BoundedStream:
        limits = _current.get()
        if limits is not None:
            limits.uses(stream)
        return stream

    def _clamp(self, timeout: float | None) -> float | None:
        return _clamp(timeout, self._timeout_error)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _refuse_compressed(response: Any) -> None:
    """A response hook: a compressed body could inflate far past the cap, so refuse it."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    limits = _current.get()
    if encoding not in ("", "identity") and limits is not None:
        limits.problem = limits.problem or BadResponseError(
            f"the reply is compressed ({encoding}) although an uncompressed one was asked for"
        )
        raise limits.problem


def bound_client(client: Any, httpcore_module: Any) -> Any:
    """``client`` (an httpx or httpx2 ``Client``) with every transport's sockets bounded.

    ``httpcore_module`` is the ``httpcore`` of that httpx (``httpcore2`` for httpx2): its
    ``ReadTimeout`` is what a passed deadline raises, so each SDK reports its own timeout.
    Raises TypeError when a transport has no connection pool to bound (an SDK that changed
    its HTTP stack must fail loudly here, not run unbounded).
    """
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if transport is None:
            continue  # a mount that disables a URL pattern
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            raise TypeError(f"cannot bound the I/O of {type(transport).__name__}")
        if not isinstance(backend, _BoundedBackend):
            pool._network_backend = _BoundedBackend(backend, httpcore_module.ReadTimeout)
    client.headers["accept-encoding"] = "identity"
    hooks = client.event_hooks
    hooks["response"] = [*hooks.get("response", []), _refuse_compressed]
    client.event_hooks = hooks
    return client
