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

_structlog_module: Any = None
#: ``configure_logging`` ran before structlog was imported: configure it on import.
_configure_pending = False


def _structlog() -> Any:
    """structlog, imported on first use and without the rich tracebacks of its ``dev`` module.

    Importing structlog costs ~50 ms, so a command that logs nothing (``status``,
    ``--help``) never pays it. We render tracebacks with ``plain_traceback``; rich's (with
    pygments) would cost ~10 MB and ~40 ms more for nothing: ``None`` in ``sys.modules``
    makes that optional import fail, and rich stays importable for the CLI's tables.
    """
    global _structlog_module, _configure_pending
    if _structlog_module is None:
        if "rich" in sys.modules or "structlog" in sys.modules:
            import structlog
        else:
            sys.modules["rich"] = None  # type: ignore[assignment]
            try:
                import structlog
            finally:
                del sys.modules["rich"]
        _structlog_module = structlog
        if _configure_pending:
            _configure_pending = False
            _configure_structlog()
    return _structlog_module


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


def _structlog_chain() -> list[Any]:
    """What our loggers' events go through before the handler's formatter."""
    structlog = _structlog()
    return [
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


def _foreign_chain() -> list[Any]:
    """What a standard-library record gets before the common rendering steps."""
    structlog = _structlog()
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _formatter(json: bool, colors: bool) -> logging.Formatter:
    """structlog's formatter: the common chain, redaction last, then the renderer."""
    structlog = _structlog()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
    )
    formatter: logging.Formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_foreign_chain(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,  # last before rendering
            renderer,
        ],
    )
    return formatter


class _DeferredFormatter(logging.Formatter):
    """Builds the structlog formatter for the first record, so setting up costs nothing."""

    def __init__(self, json: bool, colors: bool) -> None:
        super().__init__()
        self._options = (json, colors)
        self._built: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._built is None:
            self._built = _formatter(*self._options)
        return self._built.format(record)


def _configure_structlog() -> None:
    """For code that calls ``structlog.get_logger()`` directly rather than ours."""
    structlog = _structlog()
    structlog.configure(
        processors=_structlog_chain(),
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


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
    formatter = _DeferredFormatter(json, colors=_is_tty(stream))
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

    global _configure_pending
    if _structlog_module is None and "structlog" not in sys.modules:
        _configure_pending = True
    else:
        _configure_structlog()


def get_logger(name: str | None = None) -> Any:
    """A structlog logger on the standard-library logger ``name`` (default: caller's module).

    It carries its own processor chain, so it redacts even before :func:`configure_logging`.
    """
    if name is None:
        name = sys._getframe(1).f_globals.get("__name__", "coffee_maker")
    return _Logger(name)


class _Logger:
    """A structlog logger on a standard-library one, made on first use (see ``_structlog``)."""

    __slots__ = ("_name", "_wrapped")

    def __init__(self, name: str) -> None:
        self._name = name
        self._wrapped: Any = None

    def __getattr__(self, attribute: str) -> Any:
        if self._wrapped is None:
            structlog = _structlog()
            self._wrapped = structlog.wrap_logger(
                logging.getLogger(self._name),
                processors=_structlog_chain(),
                wrapper_class=structlog.stdlib.BoundLogger,
            )
        return getattr(self._wrapped, attribute)


def bind_context(**values: Any) -> None:
    """Add fields (``priority=``, ``provider=``) to every following line; ``None`` removes one."""
    structlog = _structlog()
    unset = [key for key, value in values.items() if value is None]
    structlog.contextvars.unbind_contextvars(*unset)
    structlog.contextvars.bind_contextvars(
        **{key: value for key, value in values.items() if value is not None}
    )


def clear_context() -> None:
    _structlog().contextvars.clear_contextvars()


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False
