"""When the fallback chain calls the same model again, and how long it waits first.

Only transient errors are retried (``Action.RETRY``: rate limited, overloaded, 5xx,
timeout, connection), and not once their provider cools down (a Retry-After longer than
``max_retry_delay``). The wait is exponential backoff with jitter from ``retry_delay``,
at least the server's Retry-After, at most ``max_retry_delay``; ``retry_attempts`` counts
every call to the model, the first included. tenacity is imported on the first call
only, so a daemon that idles (or a command that never calls a model) never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from coffee_maker.ai_providers.errors import ProviderError

if TYPE_CHECKING:
    import tenacity

    from coffee_maker.ai_providers.fallback_events import FallbackConfig

#: Told before each wait: (the provider about to be called again, its error, seconds).
OnWait = Callable[[Any, ProviderError | None, float], None]


class RetryPolicy:
    """``policy(call, provider, *args)``: ``call(provider, *args)``, retried as above."""

    def __init__(
        self,
        config: FallbackConfig,
        sleep: Callable[[float], None],
        is_cooling: Callable[[str], bool],
        on_wait: OnWait,
    ) -> None:
        self.config = config
        self.sleep = sleep
        self.is_cooling = is_cooling
        self.on_wait = on_wait
        self._retrying: tenacity.Retrying | None = None  # built on the first call
        self._backoff: Callable[[tenacity.RetryCallState], float] = lambda state: 0.0

    def __call__(self, call: Callable[..., Any], *args: Any) -> Any:
        if self._retrying is None:
            import tenacity

            self._backoff = tenacity.wait_exponential_jitter(
                initial=self.config.retry_delay,
                max=self.config.max_retry_delay,
                jitter=self.config.retry_delay,
            )
            self._retrying = tenacity.Retrying(
                stop=tenacity.stop_after_attempt(self.config.retry_attempts),
                wait=self._wait,
                retry=tenacity.retry_if_exception(self._should_retry),
                sleep=self.sleep,
                before_sleep=self._before_sleep,
                reraise=True,
            )
        return self._retrying(call, *args)

    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, ProviderError) or not exc.retryable:
            return False
        return exc.provider is None or not self.is_cooling(exc.provider)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Backoff with jitter, at least the server's Retry-After, at most max_retry_delay."""
        err = state.outcome.exception() if state.outcome else None
        retry_after = getattr(err, "retry_after", None) or 0.0
        return min(max(retry_after, self._backoff(state)), self.config.max_retry_delay)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        self.on_wait(
            state.args[0], err if isinstance(err, ProviderError) else None, state.upcoming_sleep
        )
