"""The broker refuses what the ledger service and the projection workers may not do: delete,
purge, reconfigure or re-create the streams; aim a consumer at an agency's inbox."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import nats
import pytest
from access_support import (
    CASE_A,
    CASE_B,
    CASE_C,
    PREFIX,
    REFUSAL_WAIT,
    STREAM,
    Secured,
    connect,
    ledger_still_works,
    publish_refused,
    secured_server,
    stored,
    subscription_refused,
)
from nats.js.api import ConsumerConfig
from nats.js.errors import APIError

from consumers import delivery_prefix, delivery_stream
from consumers.manager import DeliveryPolicy, ensure_delivery_stream
from ledger.errors import StreamMisconfigured
from runtime.log_stream import ensure_log_stream
from schemas.wire import checkpoint_subject, cosignature_subject


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("secured")) as server:
        yield server


class TestTheLedgerService:
    async def test_it_writes_reads_and_checks_the_stream(self, secured: Secured) -> None:
        await ledger_still_works(secured)

    @pytest.mark.parametrize(
        ("call", "subject"),
        [
            pytest.param(
                lambda js: js.delete_stream(STREAM),
                f"$JS.API.STREAM.DELETE.{STREAM}",
                id="delete the stream",
            ),
            pytest.param(
                lambda js: js.purge_stream(STREAM),
                f"$JS.API.STREAM.PURGE.{STREAM}",
                id="purge the stream",
            ),
            pytest.param(
                lambda js: js.purge_stream(STREAM, subject=CASE_A),
                f"$JS.API.STREAM.PURGE.{STREAM}",
                id="purge a case",
            ),
            pytest.param(
                lambda js: js.update_stream(
                    name=STREAM, subjects=[f"{PREFIX}.>"], max_msgs_per_subject=1
                ),
                f"$JS.API.STREAM.UPDATE.{STREAM}",
                id="update to max_msgs_per_subject=1",
            ),
            pytest.param(
                lambda js: js.add_stream(name=STREAM, subjects=[f"{PREFIX}.>"], max_age=60),
                f"$JS.API.STREAM.CREATE.{STREAM}",
                id="create the existing stream anew",
            ),
            pytest.param(
                lambda js: js.add_stream(name="LEDGER_COPY", subjects=["copy.>"]),
                "$JS.API.STREAM.CREATE.LEDGER_COPY",
                id="create another stream",
            ),
            pytest.param(
                lambda js: js.delete_msg(STREAM, 1),
                f"$JS.API.STREAM.MSG.DELETE.{STREAM}",
                id="delete a message",
            ),
            pytest.param(
                lambda js: js.delete_consumer(STREAM, "agency_a"),
                f"$JS.API.CONSUMER.DELETE.{STREAM}.agency_a",
                id="delete an agency's consumer",
            ),
            pytest.param(
                lambda js: js.add_consumer(
                    STREAM, ConsumerConfig(name="agency_a", filter_subject=CASE_B)
                ),
                f"$JS.API.CONSUMER.CREATE.{STREAM}.agency_a.{CASE_B}",
                id="re-aim an agency's consumer",
            ),
            pytest.param(
                lambda js: js.add_consumer(STREAM, durable_name="agency_a"),
                f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.agency_a",
                id="recreate an agency's consumer",
            ),
            pytest.param(
                lambda js: js.add_stream(
                    name=delivery_stream(STREAM), subjects=[f"{delivery_prefix(PREFIX)}.>"]
                ),
                f"$JS.API.STREAM.CREATE.{delivery_stream(STREAM)}",
                id="create the delivery stream",
            ),
            pytest.param(
                lambda js: js.delete_stream(delivery_stream(STREAM)),
                f"$JS.API.STREAM.DELETE.{delivery_stream(STREAM)}",
                id="delete the delivery stream",
            ),
        ],
    )
    async def test_changing_or_removing_history_is_a_permissions_violation(
        self, secured: Secured, call: Callable[[Any], Awaitable[Any]], subject: str
    ) -> None:
        before = await stored(secured)
        async with connect(secured.url, secured.service.ledger) as svc:
            with pytest.raises(TimeoutError):
                await call(svc.js)
            assert await svc.refusals(1) == [publish_refused(subject)]
        assert await stored(secured) == before
        await ledger_still_works(secured)

    async def test_deleting_and_recreating_the_stream_to_rewrite_a_fact_is_refused(
        self, secured: Secured
    ) -> None:
        async with connect(secured.url, secured.service.ledger) as svc:
            js = svc.js
            original = (await js.get_msg(STREAM, seq=1, direct=True)).data
            for attempt in (
                js.delete_stream(STREAM),
                js.add_stream(name=STREAM, subjects=[f"{PREFIX}.>"]),
                js.publish(CASE_C, b"altered", headers={"Nats-Expected-Last-Sequence": "0"}),
            ):
                with pytest.raises((TimeoutError, APIError)):
                    await attempt
            assert (await js.get_msg(STREAM, seq=1, direct=True)).data == original
            refused = await svc.refusals(2)
            assert refused == [
                publish_refused(f"$JS.API.STREAM.DELETE.{STREAM}"),
                publish_refused(f"$JS.API.STREAM.CREATE.{STREAM}"),
            ]
        await ledger_still_works(secured)

    async def test_a_missing_delivery_stream_is_reported_as_the_admins_to_create(
        self, secured: Secured
    ) -> None:
        async with connect(secured.url, secured.service.ledger) as svc:
            with pytest.raises(StreamMisconfigured, match="run `ledger admin init`"):
                await ensure_delivery_stream(
                    svc.nc,
                    DeliveryPolicy(),
                    stream=secured.settings.stream,
                    subject_prefix=secured.settings.subject_prefix,
                )
            assert await svc.refusals(1) == [
                publish_refused(f"$JS.API.STREAM.CREATE.{delivery_stream(STREAM)}")
            ]

    async def test_the_admin_may_create_and_delete_streams(self, secured: Secured) -> None:
        async with connect(secured.url, secured.admin) as adm:
            js = adm.nc.jetstream(timeout=5)
            await js.add_stream(name="SCRATCH", subjects=["scratch.>"])
            assert (await js.publish("scratch.x", b"x")).seq == 1
            assert await js.delete_stream("SCRATCH")
            assert await adm.refusals(0) == []


class TestTheProjector:
    async def test_it_reads_the_whole_stream_with_batched_direct_gets(
        self, secured: Secured
    ) -> None:
        async with connect(secured.url, secured.service.projections) as p:
            inbox = p.nc.new_inbox()
            sub = await p.nc.subscribe(inbox)
            request = {"seq": 1, "batch": 3, "next_by_subj": f"{PREFIX}.>"}
            await p.nc.publish(
                f"$JS.API.DIRECT.GET.{STREAM}", json.dumps(request).encode(), reply=inbox
            )
            seen = [(await sub.next_msg(timeout=2)).data for _ in range(3)]
            assert seen[:3] == [b"a1", b"b1", b"a2"]
            assert (await p.js.get_msg(STREAM, seq=2, direct=True)).data == b"b1"
            assert (await p.js.get_last_msg(STREAM, CASE_B, direct=True)).data == b"b1"
            assert (await p.js.stream_info(STREAM)).config.name == STREAM
            assert await p.refusals(0) == []

    async def test_publishing_into_the_stream_is_a_permissions_violation_and_stores_nothing(
        self, secured: Secured
    ) -> None:
        before = await stored(secured)
        async with connect(secured.url, secured.service.projections) as p:
            await p.nc.publish(CASE_A, b"forged")
            assert await p.refusals(1) == [publish_refused(CASE_A)]
        assert await stored(secured) == before

    @pytest.mark.parametrize("subject", [f"{PREFIX}.>", "_INBOX_agency_a.>", "_INBOX.>"])
    async def test_subscribing_outside_its_inbox_is_a_permissions_violation(
        self, secured: Secured, subject: str
    ) -> None:
        async with connect(secured.url, secured.service.projections) as p:
            await p.nc.subscribe(subject)
            assert await p.refusals(1) == [subscription_refused(subject)]


_CONSUMER_ATTEMPTS = [
    pytest.param(f"$JS.API.CONSUMER.CREATE.{STREAM}", {}, id="ephemeral"),
    pytest.param(
        f"$JS.API.CONSUMER.CREATE.{STREAM}",
        # The older create subject takes a ``name`` in the body, and a name that exists
        # updates that consumer: agency a's, re-aimed at agency b's case.
        {"name": "agency_a", "filter_subject": CASE_B, "ack_policy": "explicit"},
        id="agency a's consumer re-aimed by name",
    ),
    pytest.param(
        f"$JS.API.CONSUMER.CREATE.{STREAM}.leak.{CASE_A}",
        {"name": "leak", "filter_subject": CASE_A},
        id="named, with its filter",
    ),
    pytest.param(
        f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.leak",
        {"durable_name": "leak"},
        id="durable",
    ),
]


@pytest.mark.parametrize("user", ["ledger", "projections"])
@pytest.mark.parametrize(("subject", "config"), _CONSUMER_ATTEMPTS)
async def test_no_reader_of_the_ledger_stream_can_aim_a_consumer_at_an_agencys_inbox(
    secured: Secured, user: str, subject: str, config: dict[str, str]
) -> None:
    """nats-server does not check a push consumer's deliver subject against its creator's
    permissions (nats-io/nats-server#8274), so neither the service nor the projection
    workers may create a consumer on the ledger stream at all: both read by direct get."""
    credentials = secured.service.ledger if user == "ledger" else secured.service.projections
    inbox = "_INBOX_agency_b.waiting"  # agency b is waiting for its replies here
    async with (
        connect(secured.url, secured.agencies["b"]) as b,
        connect(secured.url, credentials) as reader,
    ):
        received = await b.nc.subscribe(inbox)
        await b.nc.flush()
        request = {
            "stream_name": STREAM,
            "config": {"deliver_subject": inbox, "ack_policy": "none", **config},
        }
        with pytest.raises(nats.errors.TimeoutError):
            await reader.nc.request(subject, json.dumps(request).encode(), timeout=REFUSAL_WAIT)
        assert await reader.refusals(1) == [publish_refused(subject)]
        with pytest.raises(nats.errors.TimeoutError):  # agency a's events never come
            await received.next_msg(timeout=REFUSAL_WAIT)
        assert await b.refusals(0) == []
    async with connect(secured.url, secured.admin) as adm:
        kept = await adm.nc.jetstream(timeout=5).consumer_info(STREAM, "agency_a")
        assert kept.config.filter_subject == CASE_A
        assert kept.config.durable_name == "agency_a"
    await ledger_still_works(secured)


class TestTheMerkleLog:
    """The service publishes checkpoints; an agency may only read them and send its own
    cosignatures (runtime/access.py)."""

    @pytest.fixture
    async def log_stream(self, secured: Secured) -> str:
        async with connect(secured.url, secured.admin) as adm:
            return await ensure_log_stream(
                adm.nc, stream=STREAM, subject_prefix=PREFIX, create=True
            )

    async def test_the_service_publishes_a_checkpoint_and_an_agency_reads_it_by_direct_get(
        self, secured: Secured, log_stream: str
    ) -> None:
        async with connect(secured.url, secured.service.ledger) as svc:
            ack = await svc.nc.jetstream(timeout=5).publish(
                checkpoint_subject(PREFIX), b"checkpoint", stream=log_stream
            )
            assert await svc.refusals(0) == []
        async with connect(secured.url, secured.agencies["a"]) as a:
            got = await a.nc.jetstream(timeout=5).get_msg(log_stream, seq=ack.seq, direct=True)
            assert got.data == b"checkpoint"
            assert await a.refusals(0) == []

    async def test_the_projections_user_reads_the_log_for_ledger_verify_and_cannot_write_it(
        self, secured: Secured, log_stream: str
    ) -> None:
        async with connect(secured.url, secured.service.ledger) as svc:
            ack = await svc.nc.jetstream(timeout=5).publish(
                checkpoint_subject(PREFIX), b"checkpoint", stream=log_stream
            )
        async with connect(secured.url, secured.service.projections) as p:
            got = await p.nc.jetstream(timeout=5).get_msg(log_stream, seq=ack.seq, direct=True)
            assert got.data == b"checkpoint"
            await p.nc.publish(checkpoint_subject(PREFIX), b"forged")
            assert await p.refusals(1) == [publish_refused(checkpoint_subject(PREFIX))]

    async def test_an_agency_publishes_its_own_cosignature(
        self, secured: Secured, log_stream: str
    ) -> None:
        async with connect(secured.url, secured.agencies["a"]) as a:
            ack = await a.nc.jetstream(timeout=5).publish(
                cosignature_subject(PREFIX, "a"), b"cosigned", stream=log_stream
            )
            assert ack.stream == log_stream
            assert await a.refusals(0) == []

    @pytest.mark.parametrize(
        "subject",
        [
            pytest.param(checkpoint_subject(PREFIX), id="a checkpoint"),
            pytest.param(cosignature_subject(PREFIX, "b"), id="another agency's cosignature"),
        ],
    )
    async def test_an_agency_publishing_a_checkpoint_or_anothers_cosignature_is_refused(
        self, secured: Secured, log_stream: str, subject: str
    ) -> None:
        async with connect(secured.url, secured.service.ledger) as svc:
            before = (await svc.nc.jetstream(timeout=5).stream_info(log_stream)).state.messages
        async with connect(secured.url, secured.agencies["a"]) as a:
            await a.nc.publish(subject, b"forged")
            assert await a.refusals(1) == [publish_refused(subject)]
        async with connect(secured.url, secured.service.ledger) as svc:
            after = (await svc.nc.jetstream(timeout=5).stream_info(log_stream)).state.messages
        assert after == before

    @pytest.mark.parametrize(
        "user", [pytest.param("ledger", id="the service"), pytest.param("a", id="an agency")]
    )
    async def test_nobody_but_the_admin_may_delete_or_purge_the_log_stream(
        self, secured: Secured, log_stream: str, user: str
    ) -> None:
        credentials = secured.service.ledger if user == "ledger" else secured.agencies["a"]
        async with connect(secured.url, credentials) as c:
            with pytest.raises(TimeoutError):
                await c.js.purge_stream(log_stream)
            with pytest.raises(TimeoutError):
                await c.js.delete_stream(log_stream)
            assert await c.refusals(2) == [
                publish_refused(f"$JS.API.STREAM.PURGE.{log_stream}"),
                publish_refused(f"$JS.API.STREAM.DELETE.{log_stream}"),
            ]
