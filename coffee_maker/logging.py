"""Logging for every layer: structlog, one line per event, secrets redacted last.

A daemon's log is read by journald and by people: JSON lines when the output is not a
terminal (``journalctl -o cat | jq``), a readable coloured line on a terminal. Third-party
libraries log through the standard library; their records go through the same processors,
so an SDK that prints a request header is redacted like our own lines. Redaction runs
right before rendering, after exceptions are formatted, so a key inside a traceback is
caught too. Every line carries the priority and provider bound with :func:`bind_context`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

from coffee_maker.secrets import redact


def _import_structlog() -> Any:
    """structlog, without the rich tracebacks its ``dev`` module loads when it can.

    We render tracebacks with ``plain_traceback``; rich's (with pygments) would cost every
    process ~10 MB and ~40 ms for nothing. ``None`` in ``sys.modules`` makes that optional
    import fail; rich itself stays importable for the CLI's tables once structlog is in.
    """
    if "rich" in sys.modules or "structlog" in sys.modules:
        import structlog
    else:
        sys.modules["rich"] = None  # type: ignore[assignment]
        try:
            import structlog
        finally:
            del sys.modules["rich"]
    return structlog


structlog = _import_structlog()

#: Libraries that log every request at INFO/DEBUG; WARNING and up still show.
NOISY_LOGGERS = ("httpx", "httpx2", "httpcore", "urllib3", "github", "git", "apscheduler")
_HANDLER_NAME = "coffee-maker"
#: Left as they are until exceptions are rendered (the formatter redacts the rendered text).
_UNRENDERED_KEYS = frozenset({"exc_info", "stack_info"})


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Processor: every value, however nested, through :func:`coffee_maker.secrets.redact`.

    Objects the renderers would ``repr`` (exceptions, paths, ...) are turned into that text
    first, so a secret inside them cannot slip past as a non-string.
    """
    return {
        key: value if key in _UNRENDERED_KEYS else redact(_plain(value))
        for key, value in event_dict.items()
    }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return repr(value)


_STRUCTLOG_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.filter_by_level,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    # Also here, so nothing unredacted reaches a handler we did not install.
    redact_secrets,
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]

#: What a standard-library record gets before the common rendering steps.
_FOREIGN_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(
    verbose: bool = False, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Route structlog and the standard library to ``stream`` (default stderr).

    ``json=None`` chooses JSON lines unless ``stream`` is a terminal. Calling it again
    replaces the earlier setup (the handler is ours by name), so tests can reconfigure.
    """
    stream = sys.stderr if stream is None else stream
    if json is None:
        json = not _is_tty(stream)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=_is_tty(stream), exception_formatter=structlog.dev.plain_traceback
        )
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_FOREIGN_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,  # last before rendering
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)

    # For code that calls structlog.get_logger() directly rather than ours.
    structlog.configure(
        processors=_STRUCTLOG_CHAIN,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None) -> Any:
    """A structlog logger on the standard-library logger ``name`` (default: caller's module).

    It carries its own processor chain, so it redacts even before :func:`configure_logging`.
    """
    if name is None:
        name = sys._getframe(1).f_globals.get("__name__", "coffee_maker")
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=_STRUCTLOG_CHAIN,
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def bind_context(**values: Any) -> None:
    """Add fields (``priority=``, ``provider=``) to every following line; ``None`` removes one."""
    unset = [key for key, value in values.items() if value is None]
    structlog.contextvars.unbind_contextvars(*unset)
    structlog.contextvars.bind_contextvars(
        **{key: value for key, value in values.items() if value is not None}
    )


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False
