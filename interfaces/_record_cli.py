"""``ledger record <Tag>``: one subcommand per command type of :data:`schemas.COMMAND_TYPES`.

Its options are the command's fields (:mod:`interfaces._options`; a list or nested
field takes JSON text), or the whole command comes from ``--json FILE`` (``-`` reads
stdin), options overriding the file's fields. The command is recorded

* by a service (``--url``/``LEDGER_URL``, or the ``ledger serve`` running on the data
  dir) as ``POST /commands/<Tag>`` with ``LEDGER_TOKEN``: the token says who records it;
* else on the data dir, as ``--as-agency`` and ``--as-actor`` (``LEDGER_AGENCY``,
  ``LEDGER_ACTOR``): ``Ledger.execute`` with that ``recorded_by``.

With ``--key FILE --key-id ID`` the command is signed with the agency's private key
(:func:`ledger.signing.sign_command`) and sent with its signature. A service records as
its token's agency and actor under its own subject prefix, and the signature covers both,
so they are asked of it (``GET /token``); an ``--as-agency``/``--as-actor`` given must be
the token's.
A command with a ``key_id`` field of its own (registering or revoking a key) is signed
by that very key: its ``--key-id`` names both. That suits an agency's first key (signed by
itself) and a key revoking itself; a later key, or a key revoked under another, is signed by
one of the agency's live keys with ``ledger keys register`` / ``ledger keys revoke``
(:func:`record_command`).

The receipt (sequence, ``recorded_at`` ...) is printed on stdout as JSON.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

import schemas
from interfaces._client import Client, identity_recorded_by
from interfaces._options import Field, InvalidOption, fields_of, parameters, values
from interfaces._query_cli import TokenOption, UrlOption, remote_client
from interfaces._shell import fail, say
from ledger.application import Receipt
from ledger.errors import LedgerError
from ledger.signing import load_private_key, sign_command
from runtime.settings import Settings
from schemas.commands import BaseCommand

__all__ = [
    "ActorOption",
    "AgencyOption",
    "KeyIdOption",
    "KeyOption",
    "record_app",
    "record_command",
]

record_app = typer.Typer(
    help="Record one command: its fields as options, or the whole command as JSON (--json).",
    no_args_is_help=True,
)

JsonOption = Annotated[
    str | None,
    typer.Option(
        "--json",
        metavar="FILE",
        help="Read the command from this JSON file ('-' reads stdin); options override its fields.",
        show_default=False,
    ),
]
AgencyOption = Annotated[
    str | None,
    typer.Option(
        "--as-agency",
        envvar="LEDGER_AGENCY",
        help="The agency recording it, on the data dir (or LEDGER_AGENCY); a service"
        " takes it from the token.",
        show_default=False,
    ),
]
ActorOption = Annotated[
    str | None,
    typer.Option(
        "--as-actor",
        envvar="LEDGER_ACTOR",
        help="The pseudonymous actor recording it, act_... (or LEDGER_ACTOR).",
        show_default=False,
    ),
]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        metavar="FILE",
        help="Sign with the agency's Ed25519 private key in this PEM file (0600).",
        show_default=False,
    ),
]
KeyIdOption = Annotated[
    str | None,
    typer.Option(
        "--key-id",
        metavar="ID",
        help="The id under which the key is registered (AgencyKeyRegistered.key_id).",
        show_default=False,
    ),
]
_encode = msgspec.json.Encoder().encode
_MARKUP = re.compile(r"``(.+?)``|:[a-z]+:`~?(.+?)`")


def plain(text: str) -> str:
    """A docstring's reST markup as plain words (``case`` -> case, :class:`X` -> X)."""
    return _MARKUP.sub(lambda m: m.group(1) or m.group(2).rsplit(".", 1)[-1], text)


def _body(fields: list[Field], given: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    source = given["json_file"]
    if source is not None:
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
            loaded = json.loads(text)
        except (OSError, ValueError) as error:
            raise InvalidOption(f"--json {source}: {error}") from None
        if not isinstance(loaded, dict):
            raise InvalidOption(f"--json {source}: not a JSON object")
        body.update(loaded)
    body.update(values(fields, given))
    missing = [f.flag for f in fields if f.required and f.name not in body]
    if missing:
        raise InvalidOption(f"missing {', '.join(missing)} (or give them in --json FILE)")
    return body


def _record(tag: str, cls: type[BaseCommand], fields: list[Field], given: dict[str, Any]) -> None:
    settings = Settings.from_env()
    data = _encode(_body(fields, given))
    client = remote_client(settings, given["url"], given["token"])
    if client is not None:
        with client:
            signer = _remote_signer(client, given, settings) if _signs(cls, given) else None
            signature = _signature(cls, data, given, signer) if signer else None
            receipt = client.record(tag, data, signature=signature)
    else:
        signer = (_recorded_by(given), settings.subject_prefix) if _signs(cls, given) else None
        signature = _signature(cls, data, given, signer) if signer else None
        command = schemas.decode_command_as(data, cls)
        receipt = _execute(settings, command, _recorded_by(given), signature)
    sys.stdout.buffer.write(_encode(receipt) + b"\n")
    sys.stdout.flush()
    say(f"recorded {receipt.event_type} at sequence {receipt.sequence}")


def _recorded_by(given: dict[str, Any]) -> schemas.RecordedBy:
    agency, actor = given["as_agency"], given["as_actor"]
    if not agency or not actor:
        raise InvalidOption(
            "who records it: give --as-agency and --as-actor (or LEDGER_AGENCY and LEDGER_ACTOR)"
        )
    return schemas.RecordedBy(agency=agency, actor=actor)


def _signs(cls: type[BaseCommand], given: dict[str, Any]) -> bool:
    """Whether the command is to be signed (``--key``, or a ``--key-id`` of signing's own)."""
    own_id = "key_id" in cls.__struct_fields__  # the command's own key_id names the key
    return given["key"] is not None or (not own_id and given["key_id"] is not None)


def _remote_signer(
    client: Client, given: dict[str, Any], settings: Settings
) -> tuple[schemas.RecordedBy, str]:
    """Who a remote service records the command as (its token's agency and actor) and its
    subject prefix: what the signature must cover. ``--as-agency``/``--as-actor``, when
    given, must be the token's; so must the prefix be ``NATS_SUBJECT_PREFIX``, when set (the
    agency pins the ledger it signs for: a hostile service could otherwise name another)."""
    identity = client.whoami()
    recorded_by = identity_recorded_by(identity)
    for option, value, token_value in (
        ("--as-agency", given["as_agency"], recorded_by.agency),
        ("--as-actor", given["as_actor"], recorded_by.actor),
    ):
        if value and value != token_value:
            msg = (
                f"{option} {value!r} is not the token's ({token_value!r}): the service records"
                " as the token's agency and actor, and the signature must cover them"
            )
            raise InvalidOption(msg)
    pinned = settings.subject_prefix if settings.subject_prefix_given else None
    if pinned is not None and identity.subject_prefix != pinned:
        msg = (
            f"the service at {client.url} records under subject prefix"
            f" {identity.subject_prefix!r}, not NATS_SUBJECT_PREFIX {pinned!r}: a signature is"
            " good on any ledger of the prefix it names, so nothing is signed for another"
        )
        raise InvalidOption(msg)
    return recorded_by, identity.subject_prefix


def _signature(
    cls: type[BaseCommand],
    data: bytes,
    given: dict[str, Any],
    signer: tuple[schemas.RecordedBy, str],
) -> str:
    """The command's signature with ``--key``/``--key-id``, as ``signer`` (who records
    it, under which subject prefix)."""
    key_file = given["key"]
    own_id = "key_id" in cls.__struct_fields__  # the command's own key_id names the key
    key_id = None if own_id else given["key_id"]
    if key_file is None:
        raise InvalidOption("--key-id needs --key FILE, the private key to sign with")
    command = schemas.decode_command_as(data, cls)
    key_id = getattr(command, "key_id") if own_id else key_id  # noqa: B009 - not on every type
    if key_id is None:
        raise InvalidOption("signing needs both --key FILE and --key-id ID")
    key = load_private_key(key_file)
    recorded_by, prefix = signer
    return sign_command(
        command,  # type: ignore[arg-type]  # every COMMAND_TYPES value is a Command
        recorded_by,
        key,
        key_id,
        prefix=prefix,
    )


def record_command(
    tag: str,
    fields: dict[str, Any],
    given: dict[str, Any],
    *,
    key_file: Path | None,
    key_id: str | None,
) -> Receipt:
    """Record the command ``tag`` of ``fields``, signed with the private key in ``key_file``
    as ``key_id`` when given, by a service (``given``'s ``url``/``token``) or on the data dir
    (``as_agency``/``as_actor``); :class:`InvalidOption` for a usage error."""
    settings = Settings.from_env()
    cls = schemas.COMMAND_TYPES[tag]
    data = _encode(fields)
    command = schemas.decode_command_as(data, cls)
    signs = key_file is not None or key_id is not None
    if signs and (key_file is None or key_id is None):
        raise InvalidOption("signing needs both --key FILE and --key-id ID")

    def signed(signer: tuple[schemas.RecordedBy, str]) -> str | None:
        if key_file is None or key_id is None:
            return None
        recorded_by, prefix = signer
        return sign_command(
            command,  # type: ignore[arg-type]  # every COMMAND_TYPES value is a Command
            recorded_by,
            load_private_key(key_file),
            key_id,
            prefix=prefix,
        )

    client = remote_client(settings, given["url"], given["token"])
    if client is not None:
        with client:
            signature = signed(_remote_signer(client, given, settings)) if signs else None
            return client.record(tag, data, signature=signature)
    recorded_by = _recorded_by(given)
    signature = signed((recorded_by, settings.subject_prefix))
    return _execute(settings, command, recorded_by, signature)


def _execute(
    settings: Settings, command: Any, recorded_by: schemas.RecordedBy, signature: str | None
) -> Receipt:
    from runtime.service import open_service

    with open_service(settings) as service:
        return service.ledger.execute(command, recorded_by=recorded_by, signature=signature)


def _command(tag: str, cls: type[BaseCommand]) -> Callable[..., None]:
    fields = fields_of(cls)

    def run(**given: Any) -> None:
        try:
            _record(tag, cls, fields, given)
        except InvalidOption as error:
            fail(str(error), 2)
        except LedgerError as error:
            fail(str(error))

    envvars = {"partnership": "LEDGER_PARTNERSHIP"}
    params = parameters(fields, envvars)
    for name, annotation in (
        ("json_file", JsonOption),
        ("as_agency", AgencyOption),
        ("as_actor", ActorOption),
        ("url", UrlOption),
        ("token", TokenOption),
        ("key", KeyOption),
        ("key_id", KeyIdOption),
    ):
        if name in cls.__struct_fields__:  # RegisterAgencyKey's own key_id: it names both
            continue
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
            )
        )
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    run.__name__ = f"record_{tag}"
    first = (cls.__doc__ or tag).strip().split("\n\n")[0]
    run.__doc__ = plain(" ".join(line.strip() for line in first.splitlines()))
    return run


for _tag, _cls in schemas.COMMAND_TYPES.items():
    record_app.command(_tag)(_command(_tag, _cls))
