"""One place that decides how the ledger logs.

JSON lines on stderr when nobody is watching (a service, CI, a pipe), a readable
console when a person is: the same events either way, with ISO UTC timestamps and
whatever context the caller bound with :func:`bound`.

Modules only ever do ``log = structlog.get_logger()`` and log snake_case events
with key/value data; they never configure anything themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

import msgspec
import structlog
from structlog.contextvars import bound_contextvars
from structlog.typing import Processor

from schemas.errors import LedgerError

__all__ = ["InvalidLogLevel", "bound", "configure_logging"]


class InvalidLogLevel(LedgerError, ValueError):
    """Raised when ``configure_logging`` is given a level name the logging module does not know."""


#: Bind key/values to every log event in this context (a ``with`` block, or a decorator):
#: ``with bound(stream=..., seq=..., subject=..., event_type=...): ...``
bound = bound_contextvars

# Unknown types (paths, exceptions, ...) become their str(); msgspec already encodes
# datetimes, UUIDs, decimals, enums and structs natively. Reused, per msgspec's perf tips.
_encoder = msgspec.json.Encoder(enc_hook=str)

# structlog's ready-made ``dict_tracebacks`` and rich console tracebacks both print every
# frame's local variables, which would put event payloads (personal data) into the logs.
# These are the same renderers with locals switched off.
_dict_tracebacks = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def _dumps(obj: Any, default: Callable[[Any], Any] | None = None, **_: Any) -> bytes:
    """Serialise one event dict for ``JSONRenderer``, which calls ``serializer(obj, default=...)``.

    structlog's ``default`` (repr of unknown objects) is ignored in favour of the encoder's
    ``str`` hook, so the JSON stays the same whichever serialiser structlog hands us.
    """
    return _encoder.encode(obj)


def _dumps_str(obj: Any, default: Callable[[Any], Any] | None = None, **_: Any) -> str:
    """As :func:`_dumps`, for a text-only sink (no ``.buffer``)."""
    return _encoder.encode(obj).decode()


def _filtering_logger(level: str) -> type[structlog.typing.FilteringBoundLogger]:
    try:
        return structlog.make_filtering_bound_logger(level.lower())
    except KeyError:
        raise InvalidLogLevel(f"unknown log level {level!r}") from None


def configure_logging(
    *, json: bool | None = None, level: str = "INFO", file: TextIO | None = None
) -> None:
    """Configure structlog for the whole process; calling it again simply reconfigures.

    ``json=None`` renders JSON lines unless stderr is a terminal. ``level`` is a standard
    level name (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``); events below it
    are dropped before any processor runs. ``file`` is where lines go (stderr by default).
    """
    out = sys.stderr if file is None else file
    as_json = not out.isatty() if json is None else json
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[Processor]
    binary = as_json and hasattr(out, "buffer")
    if as_json:
        renderer = [
            _dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=_dumps if binary else _dumps_str),
        ]
    else:
        console = structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False)
        )
        renderer = [console]
    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=_filtering_logger(level),
        # JSON lines are written as the bytes msgspec made (no str round trip): one
        # log line a command is on the write path, and this halves what it costs.
        logger_factory=(
            structlog.BytesLoggerFactory(file=out.buffer)
            if binary
            else structlog.PrintLoggerFactory(file=out)
        ),
        context_class=dict,
        cache_logger_on_first_use=True,
    )
