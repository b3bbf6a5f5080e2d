"""Wiring in one place: settings in, a running ledger out.

``open_ledger(settings)`` configures logging, starts the embedded nats-server
when no ``NATS_URL`` is given, and builds the :class:`~ledger.application.Ledger`
on the NATS persistence module. Leaving the ``with`` block closes the
connections and stops the embedded server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog

from ledger.application import Ledger
from ledger.embedded import EmbeddedNats
from ledger.logging import configure_logging
from ledger.settings import Settings

__all__ = ["Running", "open_ledger"]

log = structlog.get_logger()


@dataclass(frozen=True)
class Running:
    """A ledger and, when it was started here, its embedded server."""

    ledger: Ledger
    nats_url: str
    server: EmbeddedNats | None


@contextmanager
def open_ledger(settings: Settings, *, configure_logs: bool = True) -> Iterator[Running]:
    """Start (or connect to) NATS and yield a ready :class:`Running` ledger."""
    if configure_logs:
        configure_logging(json=settings.log_json, level=settings.log_level)
    server: EmbeddedNats | None = None
    url = settings.nats_url
    if url is None:
        server = EmbeddedNats(settings.data_dir)
        server.start()
        url = server.url
    try:
        ledger = Ledger(env=settings.persistence_env(url))
        try:
            yield Running(ledger=ledger, nats_url=url, server=server)
        finally:
            ledger.close()
    finally:
        if server is not None:
            server.stop()
