"""The dispatch table of ``Ledger.execute``: each command type, the event it records and where.

Built once from the command types themselves (:data:`schemas.COMMAND_TYPES`): a new
command is routed without a change here. A route says which event type the command
records, which of its fields names the aggregate, which fields become the event's,
which of those are lists (accepted from Python as any sequence) and which default to
the recording agency when not given.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import msgspec.inspect as mi

from schemas import COMMAND_TYPES
from schemas import Event as Fact
from schemas.commands import BaseCommand

__all__ = ["ROUTES", "Route"]

#: The fields every command has that are not fields of the event as such: they route it
#: (``partnership``) or are given to the pipeline separately (``source``, ``occurred_at``).
_COMMON: Final = frozenset(BaseCommand.__struct_fields__)


class Route(NamedTuple):
    """Where a command type goes: its event, its aggregate's id field, its fields."""

    event: type[Fact]
    #: The command field holding the aggregate's id (``case`` ...; ``partnership`` for one).
    ident: str
    #: The command fields that become the event's fields.
    fields: tuple[str, ...]
    #: The list fields among them.
    lists: tuple[str, ...]
    #: The fields that default to the recording agency.
    by_recorder: tuple[str, ...]


def _route(cls: type[BaseCommand]) -> Route:
    ident = cls.records.aggregate_kind
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):  # pragma: no cover - a command is a struct
        raise TypeError(f"{cls.__qualname__} is not a struct")
    fields = tuple(f.name for f in info.fields if f.name not in _COMMON and f.name != ident)
    lists = tuple(f.name for f in info.fields if f.name in fields and _is_list(f.type))
    return Route(cls.records, ident, fields, lists, cls.by_recorder)


def _is_list(t: mi.Type) -> bool:
    while isinstance(t, mi.Metadata):
        t = t.type
    return isinstance(t, mi.ListType)


#: Command type -> route, for every member of :data:`schemas.Command`.
ROUTES: Final[dict[type[BaseCommand], Route]] = {cls: _route(cls) for cls in COMMAND_TYPES.values()}
