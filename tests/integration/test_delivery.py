"""Delivery against a real server: each agency gets its cases' events, joins and leaves included."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_scenario import establish

import schemas
from consumers.client import AgencySubscription, Delivery
from consumers.delivery import Outgoing
from consumers.manager import DeliveryPolicy, _Publisher, delivery_runner, ensure_delivery_stream
from ledger.application import Ledger
from ledger.errors import LedgerUnavailable, StreamMisconfigured
from ledger.nats import HDR_MSG_ID
from ledger.signing import public_key_text, sign_command
from projections.sqlite import SQLiteViewStore
from runtime.embedded import EmbeddedNats
from runtime.settings import Settings
from schemas import AgencyKeyRegistered, AgencyKeyRevoked
from schemas.commands import RegisterAgencyKey, RevokeAgencyKey
from schemas.wire import consumer_name, delivery_prefix, delivery_stream, delivery_subject

P = "northshire"
LA = {"agency": "la", "actor": "act_sw-000001"}
POLICE = {"agency": "police", "actor": "act_pc-000001"}
HEALTH = {"agency": "health", "actor": "act_hv-000001"}


@pytest.fixture
def settings(nats_url: str, stream_name: str, subject_prefix: str) -> Settings:
    return Settings(
        nats_url=nats_url, stream=stream_name, subject_prefix=subject_prefix, timeout_s=2.0
    )


@pytest.fixture
def ledger(settings: Settings, nats_url: str) -> Iterator[Ledger]:
    app = Ledger(env=settings.persistence_env(nats_url))
    establish(app)  # northshire, with la, police and health registered
    yield app
    app.close()


def _received(
    url: str, settings: Settings, agency: str, timeout: float = 3.0
) -> list[tuple[str, str, int]]:
    """(case, event type, ledger sequence) of everything waiting for ``agency``, acked."""

    async def pull() -> list[tuple[str, str, int]]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe_bind(
                consumer_name(agency), stream=delivery_stream(settings.stream)
            )
            out: list[tuple[str, str, int]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    msgs = await sub.fetch(1, timeout=0.5)  # one in flight per agency
                except TimeoutError:  # nats-py's, or asyncio's when its deadline ran out first
                    break
                for msg in msgs:
                    event = schemas.decode_event(msg.data)
                    out.append(
                        (
                            msg.subject.split(".")[-1],
                            type(event).__struct_config__.tag,
                            int(msg.headers["Ledger-Source-Sequence"]),
                        )
                    )
                    await msg.ack()
            return out
        finally:
            await nc.close()

    return asyncio.run(pull())


class TestDelivery:
    def test_each_agency_receives_its_cases_from_its_join_until_its_leave(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        ledger.open_case(
            partnership=P,
            case="c1",
            recorded_by=LA,
            children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
        )
        ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="referral_received")
        ledger.join_case(partnership=P, case="c1", recorded_by=LA, agency="police")
        ledger.record_action(
            partnership=P, case="c1", recorded_by=POLICE, action="strategy_discussion"
        )
        ledger.leave_case(partnership=P, case="c1", recorded_by=LA, agency="police")
        ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="home_visit")
        ledger.open_case(
            partnership=P,
            case="c2",
            recorded_by=HEALTH,
            children=[{"child": "ch_fedcba9876543210", "age_band": "under_1"}],
        )

        store = SQLiteViewStore(tmp_path / "views.sqlite")
        try:
            delivery_runner(
                ledger,
                store,
                DeliveryPolicy(backoff_s=(0.5,), max_deliver=2),
                stream=settings.stream,
                subject_prefix=settings.subject_prefix,
            ).catch_up()
        finally:
            store.close()

        la = _received(nats_url, settings, "la")
        police = _received(nats_url, settings, "police")
        health = _received(nats_url, settings, "health")
        assert [(c, t) for c, t, _ in la] == [
            ("c1", "CaseOpened"),
            ("c1", "ActionRecorded"),
            ("c1", "AgencyJoinedCase"),
            ("c1", "ActionRecorded"),
            ("c1", "AgencyLeftCase"),
            ("c1", "ActionRecorded"),
        ]
        assert [(c, t) for c, t, _ in police] == [
            ("c1", "AgencyJoinedCase"),
            ("c1", "ActionRecorded"),
            ("c1", "AgencyLeftCase"),
        ]
        assert [(c, t) for c, t, _ in health] == [("c2", "CaseOpened")]
        assert [s for _, _, s in la] == sorted(s for _, _, s in la)

    def test_following_delivers_events_as_they_are_recorded_and_a_restart_repeats_nothing(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        ledger.open_case(
            partnership=P,
            case="c1",
            recorded_by=LA,
            children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
        )
        store = SQLiteViewStore(tmp_path / "views.sqlite")
        runner = delivery_runner(
            ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
        )
        follower = threading.Thread(target=runner.follow)
        follower.start()
        try:
            for i in range(20):
                ledger.record_action(
                    partnership=P,
                    case="c1",
                    recorded_by=LA,
                    action="home_visit" if i % 2 else "child_seen",
                )
            deadline = time.monotonic() + 10
            while runner.positions()["delivery"] < (ledger.recorder.max_notification_id() or 0):
                assert time.monotonic() < deadline, "the delivery did not catch up"
                time.sleep(0.05)
        finally:
            runner.stop()
            follower.join(timeout=10)
        # A second runner on the same store (a restart) finds nothing new to deliver.
        again = delivery_runner(
            ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
        ).catch_up()
        store.close()
        assert again.events == 0
        received = _received(nats_url, settings, "la")
        assert len(received) == 21
        assert [s for _, _, s in received] == sorted({s for _, _, s in received})


def _subjects(url: str, settings: Settings, agency: str) -> list[tuple[str, str]]:
    """(subject after the agency's token, event type) of everything waiting for ``agency``."""
    prefix = f"{delivery_prefix(settings.subject_prefix)}.{agency}."
    return [
        (subject.removeprefix(prefix), tag)
        for subject, tag, _ in _received_full(url, settings, agency)
    ]


def _received_full(url: str, settings: Settings, agency: str) -> list[tuple[str, str, int]]:
    """(subject, event type, ledger sequence) of everything waiting for ``agency``, acked."""

    async def pull() -> list[tuple[str, str, int]]:
        nc = await nats.connect(url)
        try:
            sub = await nc.jetstream().pull_subscribe_bind(
                consumer_name(agency), stream=delivery_stream(settings.stream)
            )
            out: list[tuple[str, str, int]] = []
            while True:
                try:
                    msgs = await sub.fetch(10, timeout=0.5)
                except TimeoutError:  # nats-py's, or asyncio's when its deadline ran out first
                    return out
                for msg in msgs:
                    tag = type(schemas.decode_event(msg.data)).__struct_config__.tag
                    out.append((msg.subject, tag, int(msg.headers["Ledger-Source-Sequence"])))
                    await msg.ack()
        finally:
            await nc.close()

    return asyncio.run(pull())


def _challenges(ledger: Ledger) -> None:
    """c1 opened by la; ch-1 la against police about c1, answered, escalated, resolved;
    ch-2 health against la, withdrawn; a case event between them."""
    ledger.open_case(
        partnership=P,
        case="c1",
        recorded_by=LA,
        children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
    )
    ledger.raise_challenge(
        partnership=P,
        challenge="ch-1",
        recorded_by=LA,
        against_agency="police",
        matter="threshold_decision",
        case="c1",
        summary="a summary",
    )
    ledger.respond_to_challenge(
        partnership=P, challenge="ch-1", recorded_by=POLICE, stage=1, response="a response"
    )
    ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="home_visit")
    ledger.raise_challenge(
        partnership=P,
        challenge="ch-2",
        recorded_by=HEALTH,
        against_agency="la",
        matter="information_sharing",
        summary="a summary",
    )
    ledger.escalate_challenge(partnership=P, challenge="ch-1", recorded_by=LA, to_stage=2)
    ledger.resolve_challenge(
        partnership=P, challenge="ch-1", recorded_by=LA, outcome="agreed_way_forward"
    )
    ledger.withdraw_challenge(partnership=P, challenge="ch-2", recorded_by=HEALTH)


class TestChallengeDelivery:
    def test_each_challenge_event_goes_to_the_raising_and_the_challenged_agency_in_order(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        _challenges(ledger)
        store = SQLiteViewStore(tmp_path / "views.sqlite")
        try:
            delivery_runner(
                ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
            ).catch_up()
        finally:
            store.close()

        assert _subjects(nats_url, settings, "la") == [
            (f"{P}.c1", "CaseOpened"),
            (f"{P}.challenge.ch-1", "ChallengeRaised"),
            (f"{P}.challenge.ch-1", "ChallengeResponded"),
            (f"{P}.c1", "ActionRecorded"),
            (f"{P}.challenge.ch-2", "ChallengeRaised"),
            (f"{P}.challenge.ch-1", "ChallengeEscalated"),
            (f"{P}.challenge.ch-1", "ChallengeResolved"),
            (f"{P}.challenge.ch-2", "ChallengeWithdrawn"),
        ]
        # police is party to ch-1 but not to case c1: it gets the challenge only.
        assert _subjects(nats_url, settings, "police") == [
            (f"{P}.challenge.ch-1", "ChallengeRaised"),
            (f"{P}.challenge.ch-1", "ChallengeResponded"),
            (f"{P}.challenge.ch-1", "ChallengeEscalated"),
            (f"{P}.challenge.ch-1", "ChallengeResolved"),
        ]
        assert _subjects(nats_url, settings, "health") == [
            (f"{P}.challenge.ch-2", "ChallengeRaised"),
            (f"{P}.challenge.ch-2", "ChallengeWithdrawn"),
        ]

    def test_a_restart_after_a_crash_before_commit_republishes_nothing_twice(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        _challenges(ledger)
        # A crash after publishing, before the position committed: the batch is published
        # again by the next runner, and the duplicate window drops the copies.
        first = SQLiteViewStore(tmp_path / "crashed.sqlite")
        second = SQLiteViewStore(tmp_path / "restarted.sqlite")
        try:
            for store in (first, second):
                delivery_runner(
                    ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
                ).catch_up()
        finally:
            first.close()
            second.close()

        police = _received_full(nats_url, settings, "police")
        assert [tag for _, tag, _ in police] == [
            "ChallengeRaised",
            "ChallengeResponded",
            "ChallengeEscalated",
            "ChallengeResolved",
        ]
        assert [s for _, _, s in police] == sorted({s for _, _, s in police})

    async def test_the_agency_client_hands_over_challenge_events_in_order_named_by_challenge(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        await asyncio.to_thread(_challenges, ledger)

        def deliver() -> None:
            store = SQLiteViewStore(tmp_path / "views.sqlite")
            try:
                delivery_runner(
                    ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
                ).catch_up()
            finally:
                store.close()

        await asyncio.to_thread(deliver)
        got: list[Delivery] = []
        async with (
            asyncio.timeout(20),
            AgencySubscription.connect(
                nats_url,
                agency="la",
                stream=settings.stream,
                subject_prefix=settings.subject_prefix,
                poll=0.5,
            ) as sub,
        ):
            async for delivery in sub:
                got.append(delivery)
                if len(got) == 8:
                    break

        assert [(d.case, d.challenge, d.event_type) for d in got] == [
            ("c1", None, "CaseOpened"),
            (None, "ch-1", "ChallengeRaised"),
            (None, "ch-1", "ChallengeResponded"),
            ("c1", None, "ActionRecorded"),
            (None, "ch-2", "ChallengeRaised"),
            (None, "ch-1", "ChallengeEscalated"),
            (None, "ch-1", "ChallengeResolved"),
            (None, "ch-2", "ChallengeWithdrawn"),
        ]
        assert [d.version for d in got if d.challenge == "ch-1"] == [1, 2, 3, 4]
        assert all(d.partnership == P for d in got)


def _key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)


def _keys(ledger: Ledger, prefix: str) -> None:
    """police's first key k1 (the operator's word: unsigned), la's first key la-1, case c1
    opened by la and joined by police, then police's k2 (signed by k1) and k1 revoked
    (signed by k2: a rotation); health opens c2."""
    happened = datetime.now(UTC) - timedelta(hours=1)
    ledger.register_agency_key(
        partnership=P,
        recorded_by=POLICE,
        agency="police",
        key_id="k1",
        public_key=public_key_text(_key(1)),
    )
    ledger.register_agency_key(
        partnership=P,
        recorded_by=LA,
        agency="la",
        key_id="la-1",
        public_key=public_key_text(_key(9)),
    )
    ledger.open_case(
        partnership=P,
        case="c1",
        recorded_by=LA,
        children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
    )
    ledger.join_case(partnership=P, case="c1", recorded_by=LA, agency="police")
    register = RegisterAgencyKey(
        partnership=P,
        agency="police",
        key_id="k2",
        public_key=public_key_text(_key(2)),
        occurred_at=happened,
    )
    ledger.execute(
        register,
        recorded_by=POLICE,
        signature=sign_command(register, POLICE, _key(1), "k1", prefix=prefix),
    )
    revoke = RevokeAgencyKey(
        partnership=P, agency="police", key_id="k1", reason="rotated", occurred_at=happened
    )
    ledger.execute(
        revoke,
        recorded_by=POLICE,
        signature=sign_command(revoke, POLICE, _key(2), "k2", prefix=prefix),
    )
    ledger.open_case(
        partnership=P,
        case="c2",
        recorded_by=HEALTH,
        children=[{"child": "ch_fedcba9876543210", "age_band": "under_1"}],
    )


class TestKeyDelivery:
    """An agency is told of every key registered or revoked in its name (the operator may
    register its first key on its own word), and no other agency is."""

    def test_each_agency_receives_its_own_key_events_and_no_other_agency_s(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        _keys(ledger, settings.subject_prefix)
        store = SQLiteViewStore(tmp_path / "views.sqlite")
        try:
            delivery_runner(
                ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
            ).catch_up()
        finally:
            store.close()

        assert _subjects(nats_url, settings, "police") == [
            (f"{P}.key.k1", "AgencyKeyRegistered"),  # the operator's word: police sees it
            (f"{P}.c1", "AgencyJoinedCase"),
            (f"{P}.key.k2", "AgencyKeyRegistered"),
            (f"{P}.key.k1", "AgencyKeyRevoked"),
        ]
        assert _subjects(nats_url, settings, "la") == [
            (f"{P}.key.la-1", "AgencyKeyRegistered"),
            (f"{P}.c1", "CaseOpened"),
            (f"{P}.c1", "AgencyJoinedCase"),
        ]
        assert _subjects(nats_url, settings, "health") == [(f"{P}.c2", "CaseOpened")]

    def test_a_restart_after_a_crash_before_commit_delivers_each_key_event_once(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        _keys(ledger, settings.subject_prefix)
        first = SQLiteViewStore(tmp_path / "crashed.sqlite")
        second = SQLiteViewStore(tmp_path / "restarted.sqlite")
        try:
            for store in (first, second):  # the second publishes the whole stream again
                delivery_runner(
                    ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
                ).catch_up()
        finally:
            first.close()
            second.close()

        police = _received_full(nats_url, settings, "police")
        assert [tag for _, tag, _ in police] == [
            "AgencyKeyRegistered",
            "AgencyJoinedCase",
            "AgencyKeyRegistered",
            "AgencyKeyRevoked",
        ]
        assert [s for _, _, s in police] == sorted({s for _, _, s in police})

    async def test_the_agency_client_hands_over_its_key_events_named_by_key(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        await asyncio.to_thread(_keys, ledger, settings.subject_prefix)

        def deliver() -> None:
            store = SQLiteViewStore(tmp_path / "views.sqlite")
            try:
                delivery_runner(
                    ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
                ).catch_up()
            finally:
                store.close()

        await asyncio.to_thread(deliver)
        got: list[Delivery] = []
        async with (
            asyncio.timeout(20),
            AgencySubscription.connect(
                nats_url,
                agency="police",
                stream=settings.stream,
                subject_prefix=settings.subject_prefix,
                poll=0.5,
            ) as sub,
        ):
            async for delivery in sub:
                got.append(delivery)
                if len(got) == 4:
                    break

        assert [(d.case, d.challenge, d.key_id, d.event_type) for d in got] == [
            (None, None, "k1", "AgencyKeyRegistered"),
            ("c1", None, None, "AgencyJoinedCase"),
            (None, None, "k2", "AgencyKeyRegistered"),
            (None, None, "k1", "AgencyKeyRevoked"),
        ]
        keys = [d for d in got if d.key_id is not None]
        assert all(d.partnership == P for d in got)
        assert all(
            isinstance(d.event, AgencyKeyRegistered | AgencyKeyRevoked)
            and (d.event.agency, d.event.key_id) == ("police", d.key_id)
            for d in keys
        )
        # the partnership's versions: established and 3 agencies (1-4), k1 (5), la-1 (6),
        # k2 (7), k1 revoked (8)
        assert [d.version for d in keys] == [5, 7, 8]


def _one(agency: str, subject: str, msg_id: str) -> list[Outgoing]:
    return [Outgoing(agency=agency, subject=subject, headers={HDR_MSG_ID: msg_id}, payload=b"{}")]


class TestPublishing:
    """The delivery publisher's failures, as the worker sees them."""

    def test_a_connection_dropped_while_idle_is_replaced_and_the_batch_delivered(
        self, ledger: Ledger, settings: Settings, nats_url: str, tmp_path: Path
    ) -> None:
        ledger.open_case(
            partnership=P,
            case="c1",
            recorded_by=LA,
            children=[{"child": "ch_0123456789abcdef", "age_band": "5_9"}],
        )
        store = SQLiteViewStore(tmp_path / "views.sqlite")
        runner = delivery_runner(
            ledger, store, stream=settings.stream, subject_prefix=settings.subject_prefix
        )
        runner.catch_up()
        wire = runner.views[0]._publish._wire  # type: ignore[attr-defined]
        assert wire is not None
        assert wire.connected
        wire._conn.sock.shutdown(socket.SHUT_RDWR)  # as a server dropping an idle client
        ledger.record_action(partnership=P, case="c1", recorded_by=LA, action="home_visit")
        assert runner.catch_up().events == 1
        store.close()
        assert [tag for _, tag, _ in _received(nats_url, settings, "la")] == [
            "CaseOpened",
            "ActionRecorded",
        ]

    @pytest.mark.parametrize("path", ["wire", "nats-py"])
    def test_a_server_that_is_down_is_unavailable_and_the_retry_delivers(
        self, fresh_server: EmbeddedNats, stream_name: str, subject_prefix: str, path: str
    ) -> None:
        settings = Settings(
            nats_url=fresh_server.url,
            stream=stream_name,
            subject_prefix=subject_prefix,
            timeout_s=2.0,
        )
        app = Ledger(env=settings.persistence_env(fresh_server.url))
        try:
            ensure = DeliveryPolicy()
            publish = _Publisher(app, ensure, stream=stream_name, subject_prefix=subject_prefix)
            if path == "nats-py":
                publish._wire = None  # as for a tls:// URL
            app.recorder.pool.run(  # type: ignore[attr-defined]
                lambda nc: ensure_delivery_stream(
                    nc, ensure, stream=stream_name, subject_prefix=subject_prefix
                )
            )
            subject = delivery_subject(subject_prefix, "la", P, "c1")
            publish(_one("la", subject, "1.la"))
            fresh_server.kill()
            with pytest.raises(LedgerUnavailable):
                publish(_one("la", subject, "2.la"))
            fresh_server.restart()
            deadline = time.monotonic() + 10
            while True:  # the worker's retry (nats-py reconnects in the background)
                try:
                    publish(_one("la", subject, "2.la"))
                    break
                except LedgerUnavailable:
                    assert time.monotonic() < deadline, "no delivery after the restart"
                    time.sleep(0.2)
        finally:
            app.close()

    @pytest.mark.parametrize("path", ["wire", "nats-py"])
    def test_a_delivery_the_stream_refuses_is_a_misconfiguration(
        self, ledger: Ledger, settings: Settings, nats_url: str, unique_token: str, path: str
    ) -> None:
        other = f"OTHER_{unique_token}"
        _make_stream(nats_url, other, [f"{other.lower()}.>"])
        policy = DeliveryPolicy()
        ledger.recorder.pool.run(  # type: ignore[attr-defined]
            lambda nc: ensure_delivery_stream(
                nc, policy, stream=settings.stream, subject_prefix=settings.subject_prefix
            )
        )
        publish = _Publisher(
            ledger, policy, stream=settings.stream, subject_prefix=settings.subject_prefix
        )
        if path == "nats-py":
            publish._wire = None  # as for a tls:// URL
        # A subject of another stream: the expected-stream header makes the server refuse it.
        with pytest.raises(StreamMisconfigured, match="refused a delivery"):
            publish(_one("la", f"{other.lower()}.la", "1.la"))


def _make_stream(url: str, name: str, subjects: list[str]) -> None:
    async def go() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().add_stream(name=name, subjects=subjects)
        finally:
            await nc.close()

    asyncio.run(go())
