"""Wiring in one place: settings in, a running ledger out.

``open_ledger(settings)`` configures logging, starts the embedded nats-server
when no ``NATS_URL`` is given (or shares the one another ledger process runs on the
data dir), and builds the :class:`~ledger.application.Ledger`
on the NATS persistence module. Leaving the ``with`` block closes the
connections and stops the embedded server.

With ``LEDGER_AUTH`` on, the embedded server runs with the users of
:mod:`runtime.access` and the ledger logs in as its own ``ledger`` user (created on
first use); a ``NATS_URL`` server is logged in to with ``NATS_CREDENTIALS`` when given.
The password travels only inside the URL handed to the persistence module.

The ``ledger`` user may not create or configure streams. The streams (the ledger's, its
access log's, its Merkle log's and the delivery stream) are made by the admin
(:func:`initialise_streams`, which ``ledger admin init`` runs, and which the embedded
server's start runs while the admin's credentials file is in the data dir); the service
only checks, at start, that the ledger, access and log streams cannot lose history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import nats
import nats.errors
import structlog
from nats.aio.client import Client

from consumers.manager import delivery_admin_step
from ledger.application import Ledger
from ledger.errors import LedgerUnavailable
from ledger.nats import ensure_stream
from runtime.access import (
    Credentials,
    ensure_admin_user,
    ensure_service_users,
    load_credentials,
)
from runtime.access_log import ensure_access_stream
from runtime.embedded import EmbeddedNats, running_url
from runtime.log_stream import ensure_log_stream
from runtime.logging import configure_logging
from runtime.settings import Settings

__all__ = ["AdminStep", "Running", "delivery_step", "initialise_streams", "open_ledger"]

#: The ledger stream's duplicate window, as the persistence module creates it.
_DUPLICATE_WINDOW_S = 120.0

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
    admin_steps: Sequence[AdminStep] = (),
) -> Iterator[Running]:
    """Start (or connect to) NATS and yield a ready :class:`Running` ledger.

    ``role="projector"`` logs in to the embedded server as the projection workers' user,
    which may read the ledger stream but never write to it (nor create it).
    ``admin_steps`` are further streams the admin makes at the embedded server's start
    (see :func:`initialise_streams`).
    """
    if configure_logs:
        configure_logging(json=settings.log_json, level=settings.log_level)
    server: EmbeddedNats | None = None
    credentials: Credentials | None = None
    url = settings.nats_url
    if url is None and (shared := running_url(settings.data_dir)) is not None:
        # Another ledger process runs the data dir's embedded server (ledger views follow,
        # ledger demo ...): share it, logged in as this role's user, rather than fail on
        # the data dir's lock. It stops when that process ends.
        url = shared
        if settings.auth:
            users = ensure_service_users(settings.data_dir, settings)
            credentials = users.projections if role == "projector" else users.ledger
        log.info("nats_server_shared", data_dir=str(settings.data_dir))
    elif url is None:
        server = EmbeddedNats(settings.data_dir, auth=settings.auth)
        admin: Credentials | None = None
        if settings.auth:
            users = ensure_service_users(settings.data_dir, settings)
            admin = ensure_admin_user(settings.data_dir, settings)
            credentials = users.projections if role == "projector" else users.ledger
        server.start()
        url = server.url
        if admin is not None:  # first start, or the admin's file is still here
            try:
                initialise_streams(settings, url, admin, steps=admin_steps)
            except BaseException:
                server.stop()
                raise
    elif settings.nats_credentials is not None:
        credentials = load_credentials(settings.nats_credentials)
    login_url = url if credentials is None else credentials.url(url)
    try:
        reader = role == "projector" and credentials is not None
        ledger = Ledger(
            env=settings.persistence_env(
                login_url,
                inbox_prefix=credentials.inbox_prefix if reader and credentials else None,
                # With a login, the admin made the stream; the service only checks it.
                create_stream=credentials is None,
            )
        )
        try:
            yield Running(ledger=ledger, nats_url=url, server=server, credentials=credentials)
        finally:
            ledger.close()
    finally:
        if server is not None:
            server.stop()


#: A further stream the admin makes (the delivery stream: :func:`delivery_step`): given
#: the admin's connection, returns the stream's name.
AdminStep = Callable[[Client], Awaitable[str]]


def delivery_step(settings: Settings) -> AdminStep:
    """The admin's step that makes ``settings``' delivery stream."""
    return delivery_admin_step(
        stream=settings.stream, subject_prefix=settings.subject_prefix, replicas=settings.replicas
    )


def initialise_streams(
    settings: Settings,
    url: str,
    admin: Credentials | None,
    *,
    steps: Sequence[AdminStep] = (),
    timeout: float = 10.0,
) -> list[str]:
    """As the admin: create the ledger stream, its access log's stream
    (:mod:`runtime.access_log`) and its Merkle log's stream (:mod:`runtime.log_stream`) if
    missing and check them; then each of ``steps``
    (``ledger admin init`` passes the delivery stream's).

    Idempotent. Raises :class:`~ledger.errors.StreamMisconfigured` when the ledger or
    access stream exists with a setting that could lose history. Returns the streams' names.
    """

    async def run() -> list[str]:
        options = {} if admin is None else admin.connect_options()
        try:
            nc = await nats.connect(url, allow_reconnect=False, connect_timeout=timeout, **options)
        except (nats.errors.Error, OSError) as e:
            raise LedgerUnavailable(f"cannot connect to NATS to create the streams: {e!r}") from e
        try:
            await ensure_stream(
                nc,
                name=settings.stream,
                subjects=[f"{settings.subject_prefix}.>"],
                replicas=settings.replicas,
                duplicate_window_s=_DUPLICATE_WINDOW_S,
                create=True,
                timeout=timeout,
            )
            access = await ensure_access_stream(
                nc,
                stream=settings.stream,
                subject_prefix=settings.subject_prefix,
                replicas=settings.replicas,
                create=True,
                timeout=timeout,
            )
            merkle_log = await ensure_log_stream(
                nc,
                stream=settings.stream,
                subject_prefix=settings.subject_prefix,
                replicas=settings.replicas,
                create=True,
                timeout=timeout,
            )
            names = [settings.stream, access, merkle_log] + [await step(nc) for step in steps]
        finally:
            await nc.close()
        log.info("streams_initialised", streams=names)
        return names

    return asyncio.run(run())
