"""A msgspec transcoder for the library's generic event state.

Ledger events never pass through a transcoder: :class:`ledger._aggregate.LedgerMapper`
encodes their msgspec structs directly, so the stream holds the schema JSON.
This transcoder serves any other domain event stored through the module (the
library's own tests, snapshots): it keeps the library's JSON layout — custom
types tagged as ``{"_type_": name, "_data_": ...}`` — but lets msgspec do the
parsing and writing, and knows UUID, datetime and Decimal out of the box. The
library's own transcoder test cases pass against it (tests/unit/test_transcoder.py).

It is a :class:`~eventsourcing.persistence.JSONTranscoder` by type, because that is
how eventsourcing decides to call an application's ``register_transcodings``: an
application that registers its own value objects (the library's ``BankAccounts``
registers an ``EmailAddress``) gets them registered here, and the module stays a
drop-in. Only the type and the two registries are inherited; encoding and decoding
remain msgspec's.
"""

from __future__ import annotations

from typing import Any

import msgspec
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

__all__ = ["MsgspecTranscoder"]


class MsgspecTranscoder(JSONTranscoder):
    """Encodes dicts of event state as JSON with msgspec, tagging registered types.

    ``register`` (inherited) fills ``types`` and ``names``, which both directions read.
    """

    def __init__(self) -> None:
        super().__init__()
        for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            self.register(t)
        self._encoder = msgspec.json.Encoder()

    def encode(self, obj: Any) -> bytes:
        return self._encoder.encode(self._tag(obj))

    def decode(self, data: bytes) -> Any:
        return self._untag(msgspec.json.decode(data))

    def _tag(self, o: Any) -> Any:
        """What ``json`` would make of ``o``, with registered types tagged as the library does."""
        t = type(o)
        if t is str or t is int or t is float or t is bool or o is None:
            return o
        if t is dict:
            return {k: self._tag(v) for k, v in o.items()}
        if t is list:
            return [self._tag(v) for v in o]
        transcoding = self.types.get(t)  # a registered type goes first (tuples, subclasses)
        if transcoding is not None:
            return {"_type_": transcoding.name, "_data_": self._tag(transcoding.encode(o))}
        if isinstance(o, bool):
            return bool(o)
        for base in (str, int, float):  # subclasses encode as their base, as with json
            if isinstance(o, base):
                return base(o)
        if isinstance(o, dict):
            return {k: self._tag(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [self._tag(v) for v in o]
        msg = (
            f"Object of type {t} is not serializable. Please define and register "
            "a custom transcoding for this type."
        )
        raise TranscodingNotRegisteredError(msg)

    def _untag(self, o: Any) -> Any:
        if type(o) is dict:
            if len(o) == 2 and "_type_" in o and "_data_" in o:
                transcoding = self.names.get(o["_type_"])
                if transcoding is None:
                    msg = (
                        f"Data serialized with name '{o['_type_']}' is not deserializable. "
                        "Please register a custom transcoding for this type."
                    )
                    raise TranscodingNotRegisteredError(msg)
                return transcoding.decode(self._untag(o["_data_"]))
            return {k: self._untag(v) for k, v in o.items()}
        if type(o) is list:
            return [self._untag(v) for v in o]
        return o
