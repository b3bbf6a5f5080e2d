"""Sending a command as a signed-in caller: what the API's ``POST /commands/{Tag}`` and
the pages' forms both do, so that a form records exactly what the API would.

:func:`send` checks, in this order, and writes nothing on any refusal: the role may send
the command (:data:`MAY_SEND`, :class:`Refused` 403), the body decodes as the command type
(:class:`~ledger.errors.InvalidCommand`, naming the field and the rule), it is for the
caller's partnership and names no other agency where it names the recording one
(``by_agency``, ``from_agency``, ``lead_agency``: 403); then the ledger's own checks.
``recorded_by`` is the caller's agency and actor, never the body's.
"""

from __future__ import annotations

import msgspec

import schemas
from interfaces.http._permissions import MAY_SEND
from interfaces.http._problems import Refused
from ledger.application import Ledger, Receipt
from ledger.errors import InvalidCommand
from runtime.tokens import TokenRecord
from schemas.commands import BaseCommand

__all__ = ["article", "send"]


def send(
    ledger: Ledger,
    caller: TokenRecord,
    tag: str,
    cls: type[BaseCommand],
    data: bytes,
    *,
    actor: str | None = None,
    signature: str | None = None,
) -> Receipt:
    """Record the JSON command ``data`` of type ``cls`` (tagged ``tag``) as ``caller``.

    ``actor`` (a page's pseudonymous practitioner reference) stands for the token's
    actor when given, checked against the :data:`schemas.ActorRef` rule. ``signature`` is
    the request's detached ``Ledger-Signature`` header, checked and stored by the ledger.
    """
    if tag not in MAY_SEND[caller.role]:
        raise Refused(403, f"{article(caller.role.value)} token may not send {tag}")
    command = schemas.decode_command_as(data, cls)
    _check_acting_as_itself(caller, command)
    if caller.agency is None or caller.actor is None:  # issue() gives writers both
        raise Refused(403, "the token names no agency and actor to record as")
    return ledger.execute(
        command,  # type: ignore[arg-type]  # every COMMAND_TYPES value is a Command
        recorded_by=_recorded_by(caller.agency, actor or caller.actor),
        signature=signature,
    )


def article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _recorded_by(agency: str, actor: str) -> schemas.RecordedBy:
    try:
        return msgspec.convert({"agency": agency, "actor": actor}, schemas.RecordedBy)
    except msgspec.ValidationError:
        raise InvalidCommand(
            "invalid actor: not a pseudonymous practitioner reference; rule: 'act_' and"
            " 6-64 letters, digits, '-' or '_' (never a name)",
            field="actor",
        ) from None


def _check_acting_as_itself(caller: TokenRecord, command: BaseCommand) -> None:
    """403 unless the command is for the caller's partnership and names no other agency
    as the one acting (the fields that default to the recording agency)."""
    if command.partnership != caller.partnership:
        raise Refused(
            403,
            f"the token is for partnership '{caller.partnership}', not '{command.partnership}'",
        )
    for name in type(command).by_recorder:
        value = getattr(command, name)
        if value is not msgspec.UNSET and value != caller.agency:
            raise Refused(
                403,
                f"{name} '{value}' is not the token's agency '{caller.agency}' "
                "(an agency acts only as itself)",
            )
