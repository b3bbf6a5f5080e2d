"""The ledger's commands as data: one imperative, frozen struct per event a caller records.

A command (``RecordAction``, ``EscalateChallenge`` ...) carries the fields of the event
it records, with the same types and constraints, less what the ledger stamps itself
(``recorded_at``, ``recorded_by``, ``schema_version``). ``recorded_by`` always comes
from the caller's identity, never from a command's body. ``Ledger.execute`` runs any
of them; the keyword methods of ``ledger.Ledger`` build them.

* :data:`Command` is the union of every command type, tagged by ``type``;
* :data:`COMMAND_TYPES` maps each tag to its class;
* :func:`decode_command` / :func:`decode_command_as` turn JSON into a command, raising
  :class:`~schemas.errors.InvalidCommand` with the path and rule of the offending value;
* :func:`command_schemas` publishes the JSON Schema of every command type.
"""

from __future__ import annotations

import typing
from typing import Any, Final, TypeAlias, TypeVar, cast

import msgspec

from schemas._base import Event
from schemas._codec import describe_decode_error, payload_tag
from schemas._introspect import JSON_SCHEMA_DIALECT
from schemas.commands._base import DEFAULT_SOURCE, BaseCommand
from schemas.commands.case import (
    CloseCase,
    ExplainLateRecording,
    JoinCase,
    LeaveCase,
    LinkChildIdentifier,
    OpenCase,
    ProvideInformation,
    RaiseConcern,
    RecordAction,
    RecordUnknownIdentifier,
    RefuseCooperation,
    RequestInformation,
    UnlinkChildIdentifier,
)
from schemas.commands.challenge import (
    EscalateChallenge,
    RaiseChallenge,
    ResolveChallenge,
    RespondToChallenge,
    WithdrawChallenge,
)
from schemas.commands.partnership import (
    EstablishPartnership,
    RegisterAgency,
    RegisterAgencyKey,
    RequireSignatures,
    RevokeAgencyKey,
)
from schemas.commands.review import (
    AcceptRecommendation,
    CommissionReview,
    CompleteRapidReview,
    ImplementRecommendation,
    IssueRecommendation,
    NotifySeriousIncident,
    PublishReview,
    RejectRecommendation,
    ReportRecommendationProgress,
)
from schemas.errors import InvalidCommand

__all__ = [
    "COMMAND_TYPES",
    "DEFAULT_SOURCE",
    "AcceptRecommendation",
    "BaseCommand",
    "CloseCase",
    "Command",
    "CommissionReview",
    "CompleteRapidReview",
    "EscalateChallenge",
    "EstablishPartnership",
    "ExplainLateRecording",
    "ImplementRecommendation",
    "IssueRecommendation",
    "JoinCase",
    "LeaveCase",
    "LinkChildIdentifier",
    "NotifySeriousIncident",
    "OpenCase",
    "ProvideInformation",
    "PublishReview",
    "RaiseChallenge",
    "RaiseConcern",
    "RecordAction",
    "RecordUnknownIdentifier",
    "RefuseCooperation",
    "RegisterAgency",
    "RegisterAgencyKey",
    "RejectRecommendation",
    "ReportRecommendationProgress",
    "RequestInformation",
    "RequireSignatures",
    "ResolveChallenge",
    "RespondToChallenge",
    "RevokeAgencyKey",
    "UnlinkChildIdentifier",
    "WithdrawChallenge",
    "command_schemas",
    "decode_command",
    "decode_command_as",
]

C = TypeVar("C", bound=BaseCommand)

#: Every command type, discriminated by its ``type`` tag.
Command: TypeAlias = (
    # partnership
    EstablishPartnership
    | RegisterAgency
    | RegisterAgencyKey
    | RevokeAgencyKey
    | RequireSignatures
    # case
    | OpenCase
    | LinkChildIdentifier
    | UnlinkChildIdentifier
    | RecordUnknownIdentifier
    | JoinCase
    | LeaveCase
    | RecordAction
    | RequestInformation
    | ProvideInformation
    | RefuseCooperation
    | RaiseConcern
    | ExplainLateRecording
    | CloseCase
    # challenge
    | RaiseChallenge
    | RespondToChallenge
    | EscalateChallenge
    | ResolveChallenge
    | WithdrawChallenge
    # review
    | NotifySeriousIncident
    | CompleteRapidReview
    | CommissionReview
    | PublishReview
    | IssueRecommendation
    | AcceptRecommendation
    | RejectRecommendation
    | ReportRecommendationProgress
    | ImplementRecommendation
)


def _tag(cls: type[BaseCommand]) -> str:
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{cls.__qualname__} has no string tag")
    return tag


#: Tag -> command class, for every member of :data:`Command`.
COMMAND_TYPES: Final[dict[str, type[BaseCommand]]] = {
    _tag(cls): cls for cls in typing.get_args(Command)
}

_SCHEMA_ID_PREFIX: Final = "urn:accountability-ledger:schema:command:"
_DECODER: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder(Command)
_DECODERS: Final[dict[type[BaseCommand], msgspec.json.Decoder[Any]]] = {}


def decode_command(data: bytes) -> Command:
    """Decode and validate a JSON command as whichever command its ``type`` names.

    Raises :class:`InvalidCommand` naming the path of the offending value (an unknown
    field, a missing one, a value that breaks its type's rule) and the rule.
    """
    try:
        return cast(Command, _DECODER.decode(data))
    except msgspec.DecodeError as error:
        named = COMMAND_TYPES.get(payload_tag(data) or "")
        failure = _invalid(describe_decode_error(error, named, Command, "command"))
    except RecursionError:
        failure = InvalidCommand("invalid command payload: JSON nested too deeply")
    raise failure  # outside the handler: msgspec's message may quote the offending value


def decode_command_as(data: bytes, cls: type[C]) -> C:
    """Decode and validate a JSON payload as the command type ``cls``.

    Raises :class:`InvalidCommand` if it is not valid JSON or not a valid ``cls``.
    """
    decoder = _DECODERS.get(cls)
    if decoder is None:
        decoder = _DECODERS.setdefault(cls, msgspec.json.Decoder(cls))
    try:
        return cast(C, decoder.decode(data))
    except msgspec.DecodeError as error:
        failure = _invalid(describe_decode_error(error, cls, cls, "command"))
    except RecursionError:
        failure = InvalidCommand("invalid command payload: JSON nested too deeply")
    raise failure  # outside the handler: see decode_command


def command_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every command type by tag, and of the union as ``"Command"``.

    Each is a standalone 2020-12 document, like the events' (:func:`schemas.json_schemas`);
    its ``x-records`` names the event type the command records.
    """
    documents = {
        tag: _document(msgspec.json.schema(cls), tag, _first_line(cls.__doc__), cls.records)
        for tag, cls in COMMAND_TYPES.items()
    }
    documents["Command"] = _document(
        msgspec.json.schema(Command),
        "Command",
        "Any ledger command, discriminated by its `type` tag.",
        None,
    )
    return documents


def _document(
    schema: dict[str, Any], name: str, description: str, records: type[Event] | None
) -> dict[str, Any]:
    document = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{_SCHEMA_ID_PREFIX}{name}",
        "title": name,
        "description": description,
        **schema,
    }
    if records is not None:
        document["x-records"] = records.__struct_config__.tag
    return document


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


#: The event-worded rules of :func:`schemas._introspect.rule_at`, as they read for a command.
_WORDING: Final = (
    ("the event type tag: one of the ledger's event types", "the command tag: one of the commands"),
    ("see the event's JSON Schema", "see the command's JSON Schema"),
)


def _invalid(found: tuple[str, str | None]) -> InvalidCommand:
    message, path = found
    for event_words, command_words in _WORDING:
        message = message.replace(event_words, command_words)
    return InvalidCommand(message, field=path.removeprefix("$.") if path else None)
