"""nats-py's client with a header parser that keeps its rules at half the cost.

Every ledger message carries five headers, and nats-py 2.16 checks each header
name for whitespace one character at a time with a generator: about 11 us of a
message's 40 us when a rebuild reads the stream. :class:`FastHeaderClient` parses by the
same rules (``Name: Value`` lines; names ASCII and without whitespace; values
stripped and decoded as UTF-8 with replacement) with one regular-expression
search per name instead, about 5.5 us a message (``python -m bench.crossings``
measures both parsers; docs/architecture.md has the figures and the note to upstream).

It overrides nats-py's ``Client._parse_header_lines``, a private static method. If a later
nats-py renames it, the override is dead code and the stock parser runs (slower,
not wrong); ``tests/unit/test_nats_headers.py`` fails then, and checks that both
parsers agree on generated header blocks.
"""

from __future__ import annotations

import re

from nats.aio.client import Client as _NatsClient

__all__ = ["FastHeaderClient", "parse_header_lines"]

_CRLF = b"\r\n"
#: What ``str.isspace`` calls whitespace (``re``'s ``\s`` on str uses the same table).
_SPACE = re.compile(r"\s")


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """The headers of a block of ``Name: Value`` lines, as nats-py 2.16 reads them."""
    out: dict[str, str] = {}
    for line in raw.split(_CRLF):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = name.strip().decode("ascii")
        except UnicodeDecodeError:
            continue  # a name must be ASCII
        if _SPACE.search(key) is not None:
            continue  # and a token: no whitespace inside
        out[key] = value.strip().decode("utf-8", "replace")
    return out


class FastHeaderClient(_NatsClient):
    """``nats.aio.client.Client`` with :func:`parse_header_lines`."""

    _parse_header_lines = staticmethod(parse_header_lines)
