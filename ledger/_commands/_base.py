"""What every command shares: its inputs, how a fact is built from them, and its receipt.

A command builds one schema fact, validates it once against the constraints in
its type (:func:`schemas.validate`) and hands it to the application service.
msgspec's and the schema layer's errors become :class:`~ledger.errors.InvalidCommand`
naming the field and the rule, raised ``from`` the original.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeAlias, TypeVar, cast

import msgspec

import schemas
from ledger._commands._dates import check_dates, check_offsets
from ledger.errors import InvalidCommand
from schemas import Event as Fact
from schemas import InvalidEvent, RecordedBy, Source
from schemas.commands import DEFAULT_SOURCE, BaseCommand, Command

__all__ = [
    "DEFAULT_SOURCE",
    "CommandBase",
    "Opt",
    "Receipt",
    "RecordedByInput",
    "SourceInput",
    "build_fact",
    "check_identifier",
    "listed",
    "or_recorder",
    "plain",
]

T = TypeVar("T")

#: An optional command argument: ``UNSET`` or ``None`` both mean "not given".
Opt: TypeAlias = T | msgspec.UnsetType | None

#: Who records: a :class:`schemas.RecordedBy` or a dict ``{"agency": ..., "actor": ...}``.
RecordedByInput: TypeAlias = RecordedBy | Mapping[str, str]
#: Where the information comes from: a :class:`schemas.Source` or a dict ``{"kind": ...}``.
SourceInput: TypeAlias = Source | Mapping[str, str]

#: The identifier pattern of the schemas (anchored at the true end: no final newline).
_ID: Final = re.compile(schemas.ID_PATTERN)
_ID_RULE: Final = (
    "identifiers are 1-64 lower-case letters, digits, '-' and '_', starting with a letter or "
    "digit, as they become NATS subject tokens"
)
_MISSING: Final = re.compile(r"Missing required argument '(?P<name>[^']+)'")


class Receipt(msgspec.Struct, frozen=True, kw_only=True):
    """What the ledger returns for an accepted command."""

    #: ``<partnership>.<kind>.<id>``: the aggregate the event was appended to.
    aggregate_id: str
    #: The aggregate's version after the event (1 for the event that opened it).
    version: int
    #: The event's position in the ledger's one global order (the stream sequence).
    sequence: int
    #: The event's ``type`` tag, such as ``CaseOpened``.
    event_type: str
    #: When the ledger accepted the event.
    recorded_at: datetime


class CommandBase:
    """Base of the command mixins; the application service implements :meth:`execute`.

    Each keyword method builds its command struct (:mod:`schemas.commands`) from its
    arguments as given, unchecked, and hands it to :meth:`execute`, which checks it
    exactly as a command decoded from JSON is checked.
    """

    def execute(self, command: Command, *, recorded_by: RecordedByInput) -> Receipt:
        """Record the event ``command`` asks for, as ``recorded_by``; its :class:`Receipt`."""
        raise NotImplementedError

    def _run(
        self, command: type[BaseCommand], recorded_by: RecordedByInput, /, **arguments: Any
    ) -> Receipt:
        """:meth:`execute` the ``command`` built from a keyword method's ``arguments``."""
        return self.execute(cast(Command, command(**arguments)), recorded_by=recorded_by)

    def _submit(
        self,
        event_type: type[Fact],
        partnership: str,
        ident: str,
        recorded_by: RecordedByInput,
        source: SourceInput,
        occurred_at: datetime | None,
        /,
        **fields: Any,
    ) -> Receipt:
        """Build, validate, check and record one fact of ``event_type`` on aggregate ``ident``."""
        raise NotImplementedError


def check_identifier(field: str, value: object) -> str:
    """``value`` if it is a safe identifier, else :class:`InvalidCommand` naming ``field``."""
    if isinstance(value, str) and _ID.match(value):
        return value
    problem = "is not a string" if not isinstance(value, str) else "is not a valid identifier"
    raise InvalidCommand(f"{field} {problem} ({_ID_RULE})", field=field)


def listed(field: str, value: object) -> list[object]:
    """The items of a list argument as plain data; :class:`InvalidCommand` if it is no list.

    ``None``, a string, a mapping or a number where a list belongs is refused naming
    ``field``, rather than failing later with an untyped ``TypeError``.
    """
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        return [plain(item) for item in value]
    given = "missing" if value is None else f"a {type(value).__name__}, not a list"
    raise InvalidCommand(f"{field} is {given} (rule: {field} is a list of objects)", field=field)


def or_recorder(value: Opt[str], recorded_by: RecordedByInput) -> Opt[str]:
    """``value``, or when it is not given the agency of ``recorded_by`` (if it names one)."""
    if value is not None and value is not msgspec.UNSET:
        return value
    if isinstance(recorded_by, RecordedBy):
        return recorded_by.agency
    if isinstance(recorded_by, Mapping):
        agency = recorded_by.get("agency")
        return agency if isinstance(agency, str) else None
    return None


def build_fact(
    event_type: type[Fact],
    *,
    recorded_at: datetime,
    occurred_at: datetime,
    recorded_by: RecordedByInput,
    source: SourceInput,
    fields: Mapping[str, Any],
) -> Fact:
    """The validated fact of ``event_type``; :class:`InvalidCommand` if it breaks its schema.

    Then its dates are checked against ``recorded_at`` and each other (write path only:
    :func:`~ledger._commands._dates.check_dates`).
    """
    given: dict[str, Any] = {
        k: v for k, v in fields.items() if v is not None and v is not msgspec.UNSET
    }
    # Dicts go in as they are: validation below turns them into the nested structs.
    given.update(recorded_by=plain(recorded_by), source=plain(source))
    try:
        draft = event_type(occurred_at=occurred_at, recorded_at=recorded_at, **given)
    except (TypeError, msgspec.ValidationError) as error:
        missing = _MISSING.search(str(error))
        field = missing["name"] if missing else None
        problem = "required field is missing" if missing else str(error)
        message = f"invalid {event_type.__name__} command: {field or '$'}: {problem}"
        raise InvalidCommand(message, field=field) from error
    check_offsets(draft)  # before encoding, which would drop an offset's seconds
    try:
        fact = schemas.validate(draft)
    except InvalidEvent as error:
        field = error.field.removeprefix("$.") if error.field else None
        raise InvalidCommand(str(error), field=field) from error
    check_dates(fact)
    return fact


def plain(value: object) -> object:
    """A mapping as a dict (which msgspec encodes); anything else unchanged."""
    return dict(value) if isinstance(value, Mapping) else value
