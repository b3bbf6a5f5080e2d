"""The agency client's connection: checking what it is asked for, connecting as the agency,
and finding the agency's durable pull consumer on the delivery stream.

Driver errors are translated here, at the boundary: a server that cannot be reached (or
does not answer) is :class:`DeliveryUnavailable`, a missing consumer or stream
:class:`ConsumerNotFound`, an unusable agency id, batch or poll time
:class:`InvalidSubscription`. Error messages and logs name the server by host and port
only, never by a URL that may carry credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client

from consumers._delivery_types import ConsumerNotFound, DeliveryUnavailable, InvalidSubscription
from schemas import AgencyId
from schemas.wire import consumer_name

__all__ = ["bind_consumer", "check_options", "close_quietly", "open_connection", "where"]

log = structlog.get_logger()


async def open_connection(
    url: str,
    agency: str,
    user: str | None,
    password: str | None,
    inbox: str,
    timeout: float,
) -> Client:
    """A connection as ``agency`` that reconnects for good once made; the first attempt
    gives up after ``timeout`` seconds with :class:`DeliveryUnavailable`."""
    server, agency_log = where(url), log.bind(agency=agency)
    last_error: list[BaseException] = []

    async def on_error(error: Exception) -> None:
        last_error[:] = [error]
        agency_log.warning("nats_error", error_type=type(error).__name__)

    async def on_disconnected() -> None:
        if not nc.is_closed:  # closing disconnects too
            agency_log.warning("nats_disconnected", server=server)

    async def on_reconnected() -> None:
        agency_log.info("nats_reconnected", server=server)

    nc = Client()
    try:
        # With max_reconnect_attempts=-1 nats-py also retries the first connection
        # forever: the deadline bounds that one; later reconnects go on for good.
        await asyncio.wait_for(
            nc.connect(
                servers=[url],
                user=user,
                password=password,
                inbox_prefix=inbox,
                name=f"ledger-{consumer_name(agency)}",
                max_reconnect_attempts=-1,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
            ),
            timeout=timeout,
        )
    except (TimeoutError, OSError, nats.errors.Error) as e:
        await close_quietly(nc)
        cause = type(last_error[0] if last_error else e).__name__
        msg = f"cannot connect to {server} as agency {agency!r} within {timeout}s"
        raise DeliveryUnavailable(f"{msg} (last error: {cause})") from None
    return nc


async def bind_consumer(nc: Client, agency: str, dstream: str, server: str) -> Any:
    """The configuration of the agency's consumer (which :class:`~consumers._pulling.Puller`
    then pulls from)."""
    name = consumer_name(agency)
    js = nc.jetstream()
    try:
        info = await js.consumer_info(dstream, name)
        return info.config
    except nats.js.errors.NotFoundError:
        msg = (
            f"agency {agency!r} has no consumer {name} on stream {dstream} (rule: the ledger"
            " service creates it when the agency is first party to a case; an agency"
            " cannot create consumers)"
        )
        raise ConsumerNotFound(msg) from None
    except (TimeoutError, nats.errors.Error) as e:
        msg = f"{server} did not describe consumer {name} on {dstream} ({type(e).__name__})"
        raise DeliveryUnavailable(msg) from None


def check_options(agency: str, batch: int, poll: float) -> None:
    """Raise :class:`InvalidSubscription` for an unusable agency id, batch or poll time."""
    try:
        msgspec.convert(agency, type=AgencyId)
    except msgspec.ValidationError:
        msg = (
            f"agency {agency!r} is not a valid agency id (rule: 1-64 lower-case letters,"
            " digits, '-' and '_', starting with a letter or digit)"
        )
        raise InvalidSubscription(msg, field="agency") from None
    if batch < 1:
        raise InvalidSubscription(f"batch {batch} must be at least 1", field="batch")
    if not poll > 0:
        raise InvalidSubscription(f"poll {poll} must be a positive number of seconds", field="poll")


def where(url: str) -> str:
    """The server's host and port, never the credentials a URL may carry."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    return f"{parts.hostname}:{parts.port or 4222}"


async def close_quietly(nc: Client) -> None:
    """Close ``nc``, ignoring a connection already gone."""
    with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
        await nc.close()
