"""A user's credentials file: what the service writes and a client reads to connect.

The file is part of the contract between the ledger service (``ledger agency add``
writes one per agency) and an agency's client (:mod:`consumers.client` reads it), so it
lives here, beside the wire contract, where both can import it without the other's code.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

import msgspec
import structlog

from schemas.errors import LedgerError

__all__ = ["Credentials", "CredentialsNotFound", "InvalidCredentials", "load_credentials"]

log = structlog.get_logger()


class CredentialsNotFound(LedgerError, FileNotFoundError):
    """Raised when a credentials file or the access registry does not exist."""


class InvalidCredentials(LedgerError, ValueError):
    """Raised when a credentials file or the access registry cannot be read as one."""


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """What a client needs to connect as one user (the content of a credentials file)."""

    user: str
    password: str
    inbox_prefix: str
    stream: str
    subject_prefix: str
    consumer: str | None = None  # an agency's durable pull consumer

    def __repr__(self) -> str:  # never the password, whoever prints this
        return f"Credentials(user={self.user!r}, stream={self.stream!r}, password='***')"

    def __rich_repr__(self) -> list[tuple[str, Any]]:  # rich's pretty printing, likewise
        return [("user", self.user), ("stream", self.stream), ("password", "***")]

    def url(self, server_url: str) -> str:
        """``server_url`` with this user and password in it (``nats://user:pass@host:port``).

        Both nats-py and the ledger's synchronous publisher read credentials from the URL.
        The result holds the password: pass it on, never log or print it.
        """
        parts = urlsplit(server_url if "://" in server_url else f"nats://{server_url}")
        host = parts.netloc.rpartition("@")[2]
        userinfo = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))

    def connect_options(self) -> dict[str, str]:
        """Keyword arguments for ``nats.connect``: user, password and the inbox prefix."""
        return {"user": self.user, "password": self.password, "inbox_prefix": self.inbox_prefix}


_credentials_decoder: Final = msgspec.json.Decoder(Credentials)


def load_credentials(path: Path) -> Credentials:
    """Read a credentials file written by ``ledger agency add`` or the service's set-up."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CredentialsNotFound(f"credentials file {path} does not exist") from None
    except OSError as e:
        raise InvalidCredentials(f"credentials file {path} cannot be read: {e}") from e
    try:
        credentials = _credentials_decoder.decode(data)
    except msgspec.DecodeError as e:
        msg = f"credentials file {path} is not a ledger credentials file: {e}"
        raise InvalidCredentials(msg) from None
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        log.warning("credentials_file_readable_by_others", path=str(path), mode=oct(mode))
    return credentials
