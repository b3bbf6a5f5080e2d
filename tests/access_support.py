"""The embedded server with authentication, as the access tests use it: one server with the
admin's stream, agencies a and b, and clients that collect what the server refuses."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig

from ledger.nats import ensure_stream
from runtime.access import (
    Credentials,
    ServiceCredentials,
    add_agency,
    ensure_admin_user,
    ensure_service_users,
    load_credentials,
)
from runtime.embedded import EmbeddedNats
from runtime.settings import Settings

STREAM = "LEDGER"
PREFIX = "ledger"
CASE_A = f"{PREFIX}.p.case.c1"  # agency a is party to c1
CASE_B = f"{PREFIX}.p.case.c2"  # agency b is party to c2
CASE_C = f"{PREFIX}.p.case.c3"  # no agency's: the service's writes in these tests
REFUSAL_WAIT = 0.5  # seconds a refused request waits for the reply that never comes


@dataclass
class Client:
    """A connection and the errors the server sent it (nats-py hands them to error_cb)."""

    nc: Any
    js: Any
    errors: list[str] = field(default_factory=list)

    async def refusals(self, count: int) -> list[str]:
        """The errors so far, once ``count`` have come or a second has passed (a -ERR
        usually comes before the flush's PONG, but not always)."""
        await self.nc.flush(timeout=2)
        for _ in range(50):
            if len(self.errors) >= count:
                break
            await asyncio.sleep(0.02)
        return self.errors


@asynccontextmanager
async def connect(url: str, credentials: Credentials | None = None) -> AsyncIterator[Client]:
    client = Client(nc=None, js=None)

    async def on_error(e: Exception) -> None:
        client.errors.append(str(e))

    options = credentials.connect_options() if credentials is not None else {}
    client.nc = await nats.connect(
        url, error_cb=on_error, allow_reconnect=False, connect_timeout=2, **options
    )
    client.js = client.nc.jetstream(timeout=REFUSAL_WAIT)
    try:
        yield client
    finally:
        await client.nc.close()


async def login_refused(url: str, **options: Any) -> str:
    """The error of a refused login (the half-made connection closed, so nothing leaks)."""
    nc = NatsClient()

    async def quiet(e: Exception) -> None:  # the refusal is raised; don't log it too
        pass

    with pytest.raises(nats.errors.Error) as refused:
        await nc.connect(url, allow_reconnect=False, connect_timeout=2, error_cb=quiet, **options)
    await nc.close()
    return str(refused.value)


def publish_refused(subject: str) -> str:
    return f'nats: permissions violation for publish to "{subject.lower()}"'


def subscription_refused(subject: str) -> str:
    return f'nats: permissions violation for subscription to "{subject.lower()}"'


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@dataclass
class Secured:
    server: EmbeddedNats
    settings: Settings
    service: ServiceCredentials
    admin: Credentials
    agencies: dict[str, Credentials]

    @property
    def url(self) -> str:
        return self.server.url


async def prepare(url: str, admin: Credentials) -> None:
    """As the admin: the stream, three events, and each agency's consumer."""
    async with connect(url, admin) as adm:
        js = adm.nc.jetstream(timeout=5)
        await ensure_stream(  # the ledger stream, as `ledger admin init` makes it
            adm.nc,
            name=STREAM,
            subjects=[f"{PREFIX}.>"],
            replicas=1,
            duplicate_window_s=120,
            create=True,
            timeout=5,
        )
        for subject, data in [(CASE_A, b"a1"), (CASE_B, b"b1"), (CASE_A, b"a2")]:
            await js.publish(subject, data)
        for agency, case in [("a", CASE_A), ("b", CASE_B)]:
            config = ConsumerConfig(
                durable_name=f"agency_{agency}",
                filter_subject=case,
                ack_policy=AckPolicy.EXPLICIT,
            )
            await js.add_consumer(STREAM, config)
        assert adm.errors == []


@contextmanager
def secured_server(data_dir: Path) -> Iterator[Secured]:
    """A server with authentication: agencies a and b, each with a durable consumer on the
    stream the admin made (each test module runs one, as its ``secured`` fixture)."""
    settings = Settings(data_dir=data_dir, stream=STREAM, subject_prefix=PREFIX)
    service = ensure_service_users(data_dir, settings)
    admin = ensure_admin_user(data_dir, settings)
    assert admin is not None
    agencies = {a: load_credentials(add_agency(data_dir, settings, a)) for a in ("a", "b")}
    with EmbeddedNats(data_dir, auth=True) as server:
        asyncio.run(prepare(server.url, admin))
        yield Secured(
            server=server, settings=settings, service=service, admin=admin, agencies=agencies
        )


async def stored(secured: Secured) -> int:
    async with connect(secured.url, secured.service.ledger) as svc:
        info = await svc.nc.jetstream(timeout=5).stream_info(STREAM)
    return int(info.state.messages)


async def ledger_still_works(secured: Secured) -> None:
    """The service writes, reads and checks the stream, untouched by what was refused."""
    async with connect(secured.url, secured.service.ledger) as svc:
        js = svc.nc.jetstream(timeout=5)
        before = await js.stream_info(STREAM)
        ack = await js.publish(CASE_C, b"after", stream=STREAM)
        assert (await js.get_msg(STREAM, seq=ack.seq, direct=True)).data == b"after"
        after = await js.stream_info(STREAM)
        assert after.state.messages == before.state.messages + 1
        assert after.config.max_msgs_per_subject == -1
        assert (after.config.deny_delete, after.config.deny_purge) == (True, True)
        assert (await js.get_msg(STREAM, seq=1, direct=True)).data == b"a1"  # history intact
        assert await svc.refusals(0) == []
