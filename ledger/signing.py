"""Agencies' Ed25519 keys and signed commands: what a client needs to sign what it records.

:func:`sign_command` builds, from a command, exactly the event the ledger will store
(the same route and fact-building as :meth:`ledger.application.Ledger.execute`), less the
``recorded_at`` the ledger stamps, and returns the ``Ledger-Signature`` header value over
it (docs/proofs.md, "Signatures"). The ledger recomputes the payload when it records the
command and refuses a signature that does not verify over it.

A private key file is PEM (PKCS#8, unencrypted, as ``openssl genpkey -algorithm ed25519``
writes it) and must be readable by its owner only; :func:`public_key_text` is the public
key as ``AgencyKeyRegistered.public_key`` takes it.
"""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import schemas
from ledger._commands._base import RecordedByInput, build_fact, or_recorder
from ledger._commands._unpack import unpack
from ledger.errors import InvalidCommand
from ledger.proofs.entry import b64, sign_assertion
from ledger.proofs.errors import KeyFileInvalid
from schemas import Command
from schemas.wire import aggregate_id

__all__ = [
    "DEFAULT_PREFIX",
    "SIGNED_NEEDS_OCCURRED_AT",
    "command_payload",
    "generate_key",
    "load_private_key",
    "private_key_pem",
    "public_key_text",
    "sign_command",
]

#: The subject prefix a ledger uses unless configured otherwise (``NATS_SUBJECT_PREFIX``).
DEFAULT_PREFIX: Final = "ledger"
SIGNED_NEEDS_OCCURRED_AT: Final = (
    "occurred_at: a signed command must state when it happened (rule: the ledger's default, "
    "its own clock at recording, cannot be signed in advance)"
)


def generate_key() -> Ed25519PrivateKey:
    """A new Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """``key`` as an unencrypted PKCS#8 PEM file's bytes."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The public key of ``key``: 32 raw bytes, standard base64 (``AgencyKeyRegistered``)."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64(raw)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path``; :class:`KeyFileInvalid` naming the
    file and the rule if it is missing, readable by group or others, or not such a key."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as error:
        msg = f"key file {str(path)!r}: cannot be read ({error.strerror})"
        raise KeyFileInvalid(msg) from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        msg = (
            f"key file {str(path)!r}: is open to group or others (mode {mode & 0o777:o}); "
            "rule: a private key file is readable by its owner only (chmod 600)"
        )
        raise KeyFileInvalid(msg)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        msg = f"key file {str(path)!r}: is not an unencrypted PEM private key"
        raise KeyFileInvalid(msg) from error
    if not isinstance(key, Ed25519PrivateKey):
        msg = f"key file {str(path)!r}: holds a {type(key).__name__}, not an Ed25519 key"
        raise KeyFileInvalid(msg)
    return key


def command_payload(
    command: Command,
    recorded_by: RecordedByInput,
    *,
    prefix: str = DEFAULT_PREFIX,
    recorded_at: datetime | None = None,
) -> tuple[str, bytes]:
    """The subject and the payload the ledger would store for ``command`` recorded by
    ``recorded_by`` at ``recorded_at`` (now by default; an agency's assertion leaves it out).

    :class:`InvalidCommand` if the command is not valid, or does not state ``occurred_at``.
    """
    found = unpack(command, recorded_by)
    if found.occurred_at is None:
        raise InvalidCommand(SIGNED_NEEDS_OCCURRED_AT, field="occurred_at")
    fact = build_fact(
        found.event,
        recorded_at=recorded_at or datetime.now(UTC),
        occurred_at=found.occurred_at,
        recorded_by=recorded_by,
        source=found.source,
        fields=found.fields,
    )
    kind = found.event.aggregate_kind
    subject = f"{prefix}.{aggregate_id(found.partnership, kind, found.ident)}"
    return subject, schemas.encode_event(fact)


def sign_command(
    command: Command,
    recorded_by: RecordedByInput,
    key: Ed25519PrivateKey,
    key_id: str,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> str:
    """The ``Ledger-Signature`` header value by ``key`` (id ``key_id``) of the recording
    agency over what ``command`` asserts, recorded by ``recorded_by``."""
    subject, payload = command_payload(command, recorded_by, prefix=prefix)
    agency = or_recorder(None, recorded_by)
    if not isinstance(agency, str):
        raise InvalidCommand("recorded_by names no agency to sign as", field="recorded_by")
    return sign_assertion(key, agency, key_id, subject, payload).format()
