"""API tokens: who calls the HTTP API, in which role, for which partnership and agency.

A token is ``ldg_<id>_<secret>``: ``<id>`` (8 hex digits) names its record, ``<secret>``
is ``secrets.token_urlsafe(32)`` (256 random bits). It is shown once, when issued; the
store ``<data_dir>/tokens.json`` (mode 0600) keeps only its SHA-256 hash. A slow,
salted hash (bcrypt, as :mod:`runtime.access` uses for passwords) protects secrets a
person chose; a 256-bit random secret cannot be guessed from its hash whatever the
hash's speed, and SHA-256 keeps each request's check at a microsecond. Hashes are
compared with :func:`hmac.compare_digest`.

Each token is bound to a :class:`Role`, a partnership and, for every role that writes
(agency, board, admin), the agency and actor it records as (``recorded_by``). A revoked
token is refused. A running service sees tokens issued or revoked by another process:
the store reloads the file when it changes.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import msgspec

from ledger.private_files import write_private
from schemas import ActorRef, AgencyId, PartnershipId
from schemas.errors import LedgerError

__all__ = [
    "InvalidToken",
    "InvalidTokenRequest",
    "Role",
    "TokenRecord",
    "TokenStore",
]

TOKENS_FILE: Final = "tokens.json"
_PREFIX: Final = "ldg"
_ID: Final = re.compile(r"[0-9a-f]{8}")


class Role(enum.StrEnum):
    """What a token's holder may do (see ``interfaces.http`` for each role's commands)."""

    AGENCY = "agency"
    BOARD = "board"
    INSPECTOR = "inspector"
    ADMIN = "admin"


class InvalidToken(LedgerError, PermissionError):
    """Raised when a presented token is missing, malformed, unknown or revoked."""


class InvalidTokenRequest(LedgerError, ValueError):
    """Raised when a token is issued with a bad partnership, agency or actor, or revoked twice."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class TokenRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One issued token: its id, its secret's SHA-256 hash and what it is bound to."""

    id: str
    sha256: str
    role: Role
    partnership: str
    agency: str | None = None
    actor: str | None = None
    issued_at: datetime
    revoked_at: datetime | None = None


class _File(msgspec.Struct, kw_only=True):
    version: int = 1
    tokens: list[TokenRecord] = msgspec.field(default_factory=list)


_decoder: Final = msgspec.json.Decoder(_File)
_encoder: Final = msgspec.json.Encoder()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The tokens of one data dir: issue, list, revoke, and authenticate a presented token."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / TOKENS_FILE
        self._seen: tuple[int, int, int] | None = None
        self._by_id: dict[str, TokenRecord] = {}

    def issue(
        self,
        role: Role,
        partnership: str,
        *,
        agency: str | None = None,
        actor: str | None = None,
        now: datetime | None = None,
    ) -> tuple[str, TokenRecord]:
        """A new token and its record; the token itself is returned here and nowhere else."""
        _check("partnership", partnership)
        if role is Role.INSPECTOR:
            if agency is not None or actor is not None:
                msg = "an inspector's token records nothing: give no agency or actor"
                raise InvalidTokenRequest(msg, field="agency")
        else:
            _check("agency", agency)
            _check("actor", actor)
        with self._locked() as file:
            ident = secrets.token_hex(4)
            while any(t.id == ident for t in file.tokens):
                ident = secrets.token_hex(4)
            token = f"{_PREFIX}_{ident}_{secrets.token_urlsafe(32)}"
            record = TokenRecord(
                id=ident,
                sha256=_digest(token),
                role=role,
                partnership=partnership,
                agency=agency,
                actor=actor,
                issued_at=now or datetime.now(UTC),
            )
            file.tokens.append(record)
        return token, record

    def list(self) -> list[TokenRecord]:
        """Every token ever issued, revoked ones included, in the order issued."""
        self._refresh()
        return list(self._by_id.values())

    def revoke(self, ident: str, *, now: datetime | None = None) -> TokenRecord:
        """Revoke token ``ident``; it is refused from then on, by a running service too."""
        with self._locked() as file:
            for i, record in enumerate(file.tokens):
                if record.id == ident:
                    if record.revoked_at is not None:
                        raise InvalidTokenRequest(
                            f"token {ident} is already revoked", field="token"
                        )
                    revoked = msgspec.structs.replace(record, revoked_at=now or datetime.now(UTC))
                    file.tokens[i] = revoked
                    return revoked
        raise InvalidTokenRequest(f"token {ident} does not exist", field="token")

    def authenticate(self, token: str) -> TokenRecord:
        """The record of a valid, unrevoked ``token``, else :class:`InvalidToken`."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != _PREFIX or not _ID.fullmatch(parts[1]):
            raise InvalidToken("the token is malformed")
        self._refresh()
        record = self._by_id.get(parts[1])
        if record is None or not hmac.compare_digest(record.sha256, _digest(token)):
            raise InvalidToken("the token is unknown")
        if record.revoked_at is not None:
            raise InvalidToken("the token is revoked")
        return record

    def _refresh(self) -> None:
        """Reload the file if it changed since it was read (another process issued or revoked)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._by_id = None, {}
            return
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # written by replace: new inode
        if seen != self._seen:
            file = _read(self.path)
            self._by_id = {t.id: t for t in file.tokens}
            self._seen = seen

    @contextlib.contextmanager
    def _locked(self) -> Iterator[_File]:
        """The file's contents under an exclusive lock, written back (mode 0600) after."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name("tokens.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            file = _read(self.path) if self.path.exists() else _File()
            yield file
            write_private(self.path, _encoder.encode(file))
        finally:
            os.close(fd)
        self._seen = None  # read again on next use


#: What each bound field must pass as: the schema type the token stands in for.
_TYPES: Final = {"partnership": PartnershipId, "agency": AgencyId, "actor": ActorRef}


def _check(field: str, value: str | None) -> None:
    """Refuse a value that would not pass as the schema type the token stands in for; the
    message gives the type's own rule (its JSON Schema description)."""
    kind = _TYPES[field]
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        (meta,) = typing.get_args(kind)[1:]
        msg = f"{field} is not valid (rule: {meta.description})"
        raise InvalidTokenRequest(msg, field=field) from None


def _read(path: Path) -> _File:
    try:
        return _decoder.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError) as e:
        raise InvalidTokenRequest(f"token file {path} cannot be read: {e}", field="file") from e
