"""A command struct taken apart the one way both the ledger and a signing client need.

``Ledger.execute`` and :func:`ledger.signing.sign_command` must build the very same
event from a command, or an agency's signature would not match what the ledger
stores: both unpack it here, then build the fact with
:func:`~ledger._commands._base.build_fact`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from msgspec import UNSET
from msgspec.structs import asdict

from ledger._commands._base import RecordedByInput, listed, or_recorder
from ledger._commands._routes import ROUTES
from ledger.errors import InvalidCommand
from schemas import Command
from schemas import Event as Fact

__all__ = ["Unpacked", "unpack"]


class Unpacked(NamedTuple):
    """What a command says: the event it records, where, and the event's fields."""

    event: type[Fact]
    partnership: str
    #: The aggregate's own id (the partnership's id for a partnership command).
    ident: str
    source: Any
    #: ``None`` when the command does not say when it happened (the ledger's clock then).
    occurred_at: datetime | None
    fields: dict[str, Any]


def unpack(command: Command, recorded_by: RecordedByInput) -> Unpacked:
    """``command`` routed by its type; :class:`InvalidCommand` if it is no ledger command."""
    route = ROUTES.get(type(command))
    if route is None:
        msg = (
            f"command is a {type(command).__name__}, not a ledger command "
            "(rule: a command is one of schemas.Command)"
        )
        raise InvalidCommand(msg, field="type")
    event, ident, _, lists, by_recorder = route
    fields = asdict(command)  # in C: the event's fields and the four routing ones
    partnership = fields.pop("partnership")
    source = fields.pop("source")
    occurred_at = fields.pop("occurred_at")
    target = partnership if ident == "partnership" else fields.pop(ident)
    for name in lists:
        fields[name] = listed(name, fields[name])
    for name in by_recorder:
        fields[name] = or_recorder(fields[name], recorded_by)
    return Unpacked(
        event, partnership, target, source, None if occurred_at is UNSET else occurred_at, fields
    )
