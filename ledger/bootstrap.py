"""Wiring in one place: settings in, a running ledger out.

``open_ledger(settings)`` configures logging, starts the embedded nats-server
when no ``NATS_URL`` is given, and builds the :class:`~ledger.application.Ledger`
on the NATS persistence module. Leaving the ``with`` block closes the
connections and stops the embedded server.

With ``LEDGER_AUTH`` on, the embedded server runs with the users of
:mod:`ledger.access` and the ledger logs in as its own ``ledger`` user (created on
first use); a ``NATS_URL`` server is logged in to with ``NATS_CREDENTIALS`` when given.
The password travels only inside the URL handed to the persistence module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import structlog

from ledger.access import Credentials, ensure_service_users, load_credentials
from ledger.application import Ledger
from ledger.embedded import EmbeddedNats
from ledger.logging import configure_logging
from ledger.settings import Settings

__all__ = ["Running", "open_ledger"]

log = structlog.get_logger()


@dataclass(frozen=True)
class Running:
    """A ledger and, when it was started here, its embedded server.

    ``nats_url`` never holds a password; ``credentials`` are the ledger's own login,
    if it needed one.
    """

    ledger: Ledger
    nats_url: str
    server: EmbeddedNats | None
    credentials: Credentials | None = None


@contextmanager
def open_ledger(
    settings: Settings,
    *,
    configure_logs: bool = True,
    role: Literal["service", "projector"] = "service",
) -> Iterator[Running]:
    """Start (or connect to) NATS and yield a ready :class:`Running` ledger.

    ``role="projector"`` logs in to the embedded server as the projection workers' user,
    which may read the ledger stream but never write to it (nor create it).
    """
    if configure_logs:
        configure_logging(json=settings.log_json, level=settings.log_level)
    server: EmbeddedNats | None = None
    credentials: Credentials | None = None
    url = settings.nats_url
    if url is None:
        server = EmbeddedNats(settings.data_dir, auth=settings.auth)
        if settings.auth:
            users = ensure_service_users(settings.data_dir, settings)
            credentials = users.projections if role == "projector" else users.ledger
        server.start()
        url = server.url
    elif settings.nats_credentials is not None:
        credentials = load_credentials(settings.nats_credentials)
    login_url = url if credentials is None else credentials.url(url)
    try:
        reader = role == "projector" and credentials is not None
        ledger = Ledger(
            env=settings.persistence_env(
                login_url,
                inbox_prefix=credentials.inbox_prefix if reader and credentials else None,
                create_stream=not reader,
            )
        )
        try:
            yield Running(ledger=ledger, nats_url=url, server=server, credentials=credentials)
        finally:
            ledger.close()
    finally:
        if server is not None:
            server.stop()
