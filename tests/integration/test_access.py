"""The embedded server with authentication: each user may do what its role allows, and the
server itself refuses everything else (a permissions violation, not an empty result).

The service's and the projector's refusals are in test_access_refusals.py."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from access_support import (
    CASE_A,
    CASE_B,
    PREFIX,
    REFUSAL_WAIT,
    STREAM,
    Secured,
    connect,
    login_refused,
    mode,
    publish_refused,
    secured_server,
    stored,
    subscription_refused,
)
from ledger_scenario import establish
from nats.js.api import ConsumerConfig
from rich.pretty import pretty_repr

from consumers import delivery_prefix, delivery_stream
from runtime.access import (
    AgencyAlreadyAdded,
    CredentialsNotFound,
    InvalidAccessRequest,
    add_agency,
    ensure_admin_user,
    ensure_service_users,
    load_credentials,
    render_server_config,
)
from runtime.bootstrap import open_ledger
from runtime.demo import run_scenario
from runtime.embedded import EmbeddedNats, EmbeddedServerError
from runtime.settings import Settings
from schemas.errors import LedgerError


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("secured")) as server:
        yield server


class TestLoggingIn:
    async def test_a_client_without_credentials_is_refused(self, secured: Secured) -> None:
        assert await login_refused(secured.url) == "nats: 'Authorization Violation'"

    async def test_an_agency_user_with_a_wrong_password_is_refused(self, secured: Secured) -> None:
        wrong = {"user": "agency_a", "password": secured.agencies["b"].password}
        assert await login_refused(secured.url, **wrong) == "nats: 'Authorization Violation'"

    async def test_an_agency_added_while_the_server_runs_logs_in_after_a_reload(
        self, secured: Secured
    ) -> None:
        credentials = load_credentials(add_agency(secured.server.data_dir, secured.settings, "c"))
        refused = await login_refused(secured.url, **credentials.connect_options())
        assert refused == "nats: 'Authorization Violation'"
        await asyncio.to_thread(secured.server.reload)
        async with connect(secured.url, credentials) as c:
            with pytest.raises(TimeoutError):  # its user exists now, with its own permissions
                await c.js.stream_info(STREAM)
            assert await c.refusals(1) == [publish_refused(f"$JS.API.STREAM.INFO.{STREAM}")]

    async def test_a_restarted_server_keeps_its_port_and_its_users(self, tmp_path: Path) -> None:
        service = ensure_service_users(tmp_path, Settings(data_dir=tmp_path))
        with EmbeddedNats(tmp_path, auth=True) as server:
            port = server.port
            await asyncio.to_thread(server.restart)
            assert server.port == port
            assert await login_refused(server.url) == "nats: 'Authorization Violation'"
            async with connect(server.url, service.ledger) as svc:
                assert await svc.refusals(0) == []  # logged in, and nothing refused


class TestAnAgency:
    async def test_it_fetches_and_acks_its_own_cases_through_its_consumer(
        self, secured: Secured
    ) -> None:
        async with connect(secured.url, secured.agencies["a"]) as a:
            sub = await a.js.pull_subscribe(CASE_A, durable="agency_a", stream=STREAM)
            messages = await sub.fetch(10, timeout=1)
            assert [(m.subject, m.data) for m in messages] == [(CASE_A, b"a1"), (CASE_A, b"a2")]
            for message in messages:
                await message.ack_sync(timeout=2)  # the server confirms each ack
            info = await sub.consumer_info()
            assert (info.num_ack_pending, info.num_pending) == (0, 0)
            assert await a.refusals(0) == []

    async def test_fetching_from_another_agencys_consumer_is_a_permissions_violation(
        self, secured: Secured
    ) -> None:
        async with connect(secured.url, secured.agencies["a"]) as a:
            sub = await a.js.pull_subscribe_bind("agency_b", stream=STREAM)
            with pytest.raises(TimeoutError):
                await sub.fetch(1, timeout=REFUSAL_WAIT)
            assert await a.refusals(1) == [
                publish_refused(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.agency_b")
            ]
        assert await stored(secured) >= 3  # agency b's event is still there, undelivered

    @pytest.mark.parametrize(
        "subject",
        [f"{PREFIX}.>", CASE_B, CASE_A, ">", "_INBOX.>", "_INBOX_agency_b.>", "$JS.ACK.>"],
    )
    async def test_subscribing_to_anything_but_its_own_inbox_is_a_permissions_violation(
        self, secured: Secured, subject: str
    ) -> None:
        async with connect(secured.url, secured.agencies["a"]) as a:
            await a.nc.subscribe(subject)
            assert await a.refusals(1) == [subscription_refused(subject)]

    async def test_publishing_into_the_stream_is_a_permissions_violation_and_stores_nothing(
        self, secured: Secured
    ) -> None:
        before = await stored(secured)
        async with connect(secured.url, secured.agencies["a"]) as a:
            await a.nc.publish(CASE_A, b"forged")
            with pytest.raises(TimeoutError):
                await a.js.publish(CASE_A, b"forged")
            assert await a.refusals(2) == [publish_refused(CASE_A)] * 2
        assert await stored(secured) == before

    @pytest.mark.parametrize(
        ("call", "subject"),
        [
            pytest.param(
                lambda js: js.stream_info(STREAM),
                f"$JS.API.STREAM.INFO.{STREAM}",
                id="stream info",
            ),
            pytest.param(
                lambda js: js.get_msg(STREAM, seq=1, direct=True),
                f"$JS.API.DIRECT.GET.{STREAM}",
                id="direct get",
            ),
            pytest.param(
                lambda js: js.get_last_msg(STREAM, CASE_B, direct=True),
                f"$JS.API.DIRECT.GET.{STREAM}.{CASE_B}",
                id="direct get of another agency's case",
            ),
            pytest.param(
                lambda js: js.get_msg(STREAM, seq=1),
                f"$JS.API.STREAM.MSG.GET.{STREAM}",
                id="message get",
            ),
            pytest.param(
                lambda js: js.add_consumer(STREAM, durable_name="agency_a_own"),
                f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.agency_a_own",
                id="create a durable consumer",
            ),
            pytest.param(
                lambda js: js.add_consumer(
                    STREAM, ConsumerConfig(deliver_subject="_INBOX_agency_a.x")
                ),
                f"$JS.API.CONSUMER.CREATE.{STREAM}",
                id="create an ephemeral consumer",
            ),
            pytest.param(
                lambda js: js.add_consumer(
                    STREAM, ConsumerConfig(name="agency_a", filter_subject=CASE_B)
                ),
                f"$JS.API.CONSUMER.CREATE.{STREAM}.agency_a.{CASE_B}",
                id="widen its own consumer",
            ),
            pytest.param(
                lambda js: js.consumer_info(STREAM, "agency_b"),
                f"$JS.API.CONSUMER.INFO.{STREAM}.agency_b",
                id="another agency's consumer info",
            ),
            pytest.param(
                lambda js: js.delete_consumer(STREAM, "agency_a"),
                f"$JS.API.CONSUMER.DELETE.{STREAM}.agency_a",
                id="delete its consumer",
            ),
            pytest.param(
                lambda js: js.streams_info(),
                "$JS.API.STREAM.LIST",
                id="list streams",
            ),
        ],
    )
    async def test_the_jetstream_api_beyond_its_consumer_is_a_permissions_violation(
        self, secured: Secured, call: Callable[[Any], Awaitable[Any]], subject: str
    ) -> None:
        async with connect(secured.url, secured.agencies["a"]) as a:
            with pytest.raises(TimeoutError):
                await call(a.js)
            assert await a.refusals(1) == [publish_refused(subject)]


class TestAccessFiles:
    def test_passwords_are_kept_only_as_bcrypt_hashes_in_files_only_the_owner_reads(
        self, secured: Secured
    ) -> None:
        data_dir = secured.server.data_dir
        registry = data_dir / "access.json"
        config = data_dir / "nats-server.conf"
        credentials = sorted((data_dir / "credentials").glob("*.json"))
        assert (mode(registry), mode(config), mode(data_dir / "credentials")) == (
            0o600,
            0o600,
            0o700,
        )
        assert {p.name for p in credentials} >= {
            "ledger.json",
            "projections.json",
            "agency_a.json",
            "agency_b.json",
        }
        hashes = {u["name"]: u["password_hash"] for u in json.loads(registry.read_text())["users"]}
        for path in credentials:
            assert mode(path) == 0o600
            login = load_credentials(path)
            assert login.password not in registry.read_text()
            assert login.password not in config.read_text()
            assert bcrypt.checkpw(login.password.encode(), hashes[login.user].encode())

    def test_an_agencys_credentials_name_its_user_inbox_consumer_and_stream(
        self, secured: Secured
    ) -> None:
        a = secured.agencies["a"]
        assert (a.user, a.inbox_prefix, a.consumer, a.stream, a.subject_prefix) == (
            "agency_a",
            "_INBOX_agency_a",
            "agency_a",
            STREAM,
            PREFIX,
        )
        assert a.password not in repr(a)
        assert a.password not in pretty_repr(a)  # rich's pretty printing
        assert a.url("nats://127.0.0.1:4222") == f"nats://agency_a:{a.password}@127.0.0.1:4222"

    def test_the_service_users_keep_their_passwords_and_a_lost_file_gets_a_new_one(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, stream=STREAM, subject_prefix=PREFIX)
        first = ensure_service_users(tmp_path, settings)
        assert ensure_service_users(tmp_path, settings) == first
        (tmp_path / "credentials" / "projections.json").unlink()
        again = ensure_service_users(tmp_path, settings)
        assert again.ledger == first.ledger
        assert again.projections.password != first.projections.password


class TestAddingAnAgency:
    def test_a_name_is_not_an_agency_id_and_nothing_is_written(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path)
        with pytest.raises(InvalidAccessRequest, match="agency is not a valid agency id") as raised:
            add_agency(tmp_path, settings, "Jane Smith")
        assert raised.value.field == "agency"
        assert "Jane" not in str(raised.value)  # a name is never echoed
        assert "lower-case letters" in str(raised.value)  # the rule
        assert isinstance(raised.value, LedgerError)
        assert isinstance(raised.value, ValueError)
        assert not (tmp_path / "credentials").exists()

    def test_an_agency_is_added_once(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path)
        path = add_agency(tmp_path, settings, "police")
        password = load_credentials(path).password
        with pytest.raises(AgencyAlreadyAdded, match="agency 'police' already has") as raised:
            add_agency(tmp_path, settings, "police")
        assert raised.value.field == "agency"
        assert load_credentials(path).password == password  # untouched

    def test_its_consumer_may_live_on_another_stream(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, stream=STREAM, subject_prefix=PREFIX)
        path = add_agency(tmp_path, settings, "police", consumer_stream="LEDGER_DELIVERY")
        assert load_credentials(path).stream == "LEDGER_DELIVERY"
        config = render_server_config(tmp_path, "127.0.0.1", None)
        assert '"$JS.API.CONSUMER.MSG.NEXT.LEDGER_DELIVERY.agency_police"' in config
        assert f'"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.agency_police"' not in config

    def test_a_stream_name_that_would_widen_the_permissions_is_refused(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, stream="LEDGER.>")
        with pytest.raises(InvalidAccessRequest, match="NATS_STREAM") as raised:
            add_agency(tmp_path, settings, "police")
        assert raised.value.field == "NATS_STREAM"


class TestServerConfig:
    def test_it_lists_each_role_with_exactly_its_permissions(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, stream="LDG", subject_prefix="pfx")
        ensure_service_users(tmp_path, settings)
        add_agency(tmp_path, settings, "a")
        config = render_server_config(tmp_path, "127.0.0.1", 4333)
        lines = config.splitlines()
        assert 'listen: "127.0.0.1:4333"' in lines
        assert f"  store_dir: {json.dumps(str(tmp_path))}" in lines
        assert '  sync_interval: "always"' in lines
        users = [line.strip() for line in lines if line.strip().startswith("{ user:")]
        assert [u.split('"')[1] for u in users] == ["ledger", "projections", "agency_a"]
        assert users[0].endswith(
            'permissions: { publish: { allow: ["pfx.>", "$JS.API.STREAM.NAMES",'
            ' "$JS.API.STREAM.INFO.LDG", "$JS.API.DIRECT.GET.LDG", "$JS.API.DIRECT.GET.LDG.>",'
            ' "pfx-delivery.>",'
            ' "$JS.API.STREAM.INFO.LDG_DELIVERY", "$JS.API.CONSUMER.DURABLE.CREATE.LDG_DELIVERY.*",'
            ' "pfx-access.>", "$JS.API.STREAM.INFO.LDG_ACCESS", "$JS.API.DIRECT.GET.LDG_ACCESS",'
            ' "$JS.API.DIRECT.GET.LDG_ACCESS.>", "pfx-log.>", "$JS.API.STREAM.INFO.LDG_LOG",'
            ' "$JS.API.DIRECT.GET.LDG_LOG", "$JS.API.DIRECT.GET.LDG_LOG.>"]'
            ' }, subscribe: { allow: ["_INBOX.>", "pfx.*.partnership.*"] } } }'
        )
        assert users[1].endswith(
            'permissions: { publish: { allow: ["$JS.API.STREAM.INFO.LDG",'
            ' "$JS.API.DIRECT.GET.LDG", "$JS.API.DIRECT.GET.LDG.>",'
            ' "$JS.API.STREAM.INFO.LDG_LOG", "$JS.API.DIRECT.GET.LDG_LOG",'
            ' "$JS.API.DIRECT.GET.LDG_LOG.>"], deny: ["pfx.>"] },'
            ' subscribe: { allow: ["_INBOX_projections.>"] } } }'
        )
        assert users[2].endswith(
            'permissions: { publish: { allow: ["$JS.API.CONSUMER.MSG.NEXT.LDG.agency_a",'
            ' "$JS.API.CONSUMER.INFO.LDG.agency_a", "$JS.ACK.LDG.agency_a.>",'
            ' "pfx-log.cosignature.a", "$JS.API.STREAM.INFO.LDG_LOG",'
            ' "$JS.API.DIRECT.GET.LDG_LOG", "$JS.API.DIRECT.GET.LDG_LOG.>"], deny: ["pfx.>"] },'
            ' subscribe: { allow: ["_INBOX_agency_a.>"] } } }'
        )

    def test_an_agency_added_before_the_merkle_log_may_still_read_and_cosign_it(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, stream="LDG", subject_prefix="pfx")
        ensure_service_users(tmp_path, settings)
        add_agency(tmp_path, settings, "a")
        registry = tmp_path / "access.json"
        document = json.loads(registry.read_text())
        for user in document["users"]:
            user.pop("ledger_stream", None)  # as an agency added before the log was written
        registry.write_text(json.dumps(document))
        config = render_server_config(tmp_path, "127.0.0.1", 4333)
        agency = next(line for line in config.splitlines() if '"agency_a"' in line)
        assert '"pfx-log.cosignature.a", "$JS.API.STREAM.INFO.LDG_LOG"' in agency

    def test_the_admin_may_do_everything_and_the_delivery_names_are_the_consumers_own(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, stream="LDG", subject_prefix="pfx")
        ensure_service_users(tmp_path, settings)
        admin = ensure_admin_user(tmp_path, settings)
        assert admin is not None
        assert admin.user == "ledger-admin"
        assert mode(tmp_path / "credentials" / "ledger-admin.json") == 0o600
        config = render_server_config(tmp_path, "127.0.0.1", 4333)
        admin_line = next(line for line in config.splitlines() if '"ledger-admin"' in line)
        assert "permissions" not in admin_line
        assert f'"{delivery_prefix("pfx")}.>"' in config
        assert f'"$JS.API.STREAM.INFO.{delivery_stream("LDG")}"' in config

    def test_an_admin_whose_file_was_taken_away_is_not_made_again(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path)
        first = ensure_admin_user(tmp_path, settings)
        assert first is not None
        (tmp_path / "credentials" / "ledger-admin.json").unlink()
        assert ensure_admin_user(tmp_path, settings) is None
        assert not (tmp_path / "credentials" / "ledger-admin.json").exists()

    def test_a_sync_interval_that_is_neither_always_nor_a_duration_is_refused(
        self, tmp_path: Path
    ) -> None:
        ensure_service_users(tmp_path, Settings(data_dir=tmp_path))
        assert 'sync_interval: "2m"' in render_server_config(
            tmp_path, "127.0.0.1", None, sync_interval="2m"
        )
        for bad in ("never", "always\n", "2m }"):
            with pytest.raises(InvalidAccessRequest, match="sync_interval") as raised:
                render_server_config(tmp_path, "127.0.0.1", None, sync_interval=bad)
            assert raised.value.field == "sync_interval"

    def test_a_host_that_is_not_loopback_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidAccessRequest, match="not a loopback address") as raised:
            render_server_config(tmp_path, "0.0.0.0", None)  # noqa: S104 -- refused here
        assert raised.value.field == "host"

    def test_without_users_no_configuration_is_made(self, tmp_path: Path) -> None:
        # An empty user list would let anyone in.
        with pytest.raises(CredentialsNotFound, match="no users"):
            render_server_config(tmp_path, "127.0.0.1", None)
        with pytest.raises(CredentialsNotFound):
            EmbeddedNats(tmp_path, auth=True).start()

    def test_an_open_server_has_nothing_to_reload(self, fresh_server: EmbeddedNats) -> None:
        with pytest.raises(EmbeddedServerError, match="auth=False"):
            fresh_server.reload()


NORTHSHIRE = ("--partnership", "northshire")


def ledger_command(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed ``ledger`` command in a process of its own, as a person would."""
    env = {
        **os.environ,
        "LEDGER_DATA_DIR": str(data_dir),
        "NATS_URL": "",
        "NATS_STREAM": STREAM,
        "NATS_SUBJECT_PREFIX": PREFIX,
        "COLUMNS": "300",
    }
    return subprocess.run(
        [str(Path(sys.executable).with_name("ledger")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def established(data_dir: Path) -> None:
    """Establish northshire on the ledger of ``data_dir`` (la, police and health
    registered), on an embedded server started for the while."""
    settings = Settings(data_dir=data_dir, stream=STREAM, subject_prefix=PREFIX)
    with open_ledger(settings, configure_logs=False) as running:
        establish(running.ledger)


class TestAgencyAddCommand:
    def test_it_writes_a_credentials_file_only_its_owner_reads_and_prints_its_path(
        self, tmp_path: Path
    ) -> None:
        established(tmp_path)
        done = ledger_command("agency", "add", "police", *NORTHSHIRE, data_dir=tmp_path)
        assert done.returncode == 0, done.stderr
        path = Path(done.stdout.strip())
        assert path == tmp_path / "credentials" / "agency_police.json"
        assert mode(path) == 0o600
        credentials = load_credentials(path)
        assert credentials.consumer == "agency_police"
        assert credentials.password not in done.stderr

    def test_a_duplicate_names_the_agency_and_a_bad_id_is_not_echoed(self, tmp_path: Path) -> None:
        established(tmp_path)
        assert (
            ledger_command("agency", "add", "police", *NORTHSHIRE, data_dir=tmp_path).returncode
            == 0
        )
        again = ledger_command("agency", "add", "police", *NORTHSHIRE, data_dir=tmp_path)
        assert again.returncode == 1
        assert "error: agency 'police' already has a NATS user" in again.stderr
        bad = ledger_command("agency", "add", "Jane Smith", *NORTHSHIRE, data_dir=tmp_path)
        assert bad.returncode == 1
        assert "error: agency is not a valid agency id" in bad.stderr
        assert "Jane" not in bad.stderr  # a name typed where an id belongs is not echoed
        agencies = [p.name for p in (tmp_path / "credentials").glob("agency_*")]
        assert agencies == ["agency_police.json"]

    def test_an_agency_the_partnership_has_not_registered_is_refused_and_nothing_written(
        self, tmp_path: Path
    ) -> None:
        established(tmp_path)  # la, police and health: no school
        before = json.loads((tmp_path / "access.json").read_text())
        refused = ledger_command("agency", "add", "school", *NORTHSHIRE, data_dir=tmp_path)
        assert refused.returncode == 1
        message = " ".join(refused.stderr.split())  # rich wraps long lines
        assert "error: agency 'school' is not registered in partnership 'northshire'" in message
        assert "/commands/RegisterAgency" in message  # how to register it
        assert not (tmp_path / "credentials" / "agency_school.json").exists()
        assert json.loads((tmp_path / "access.json").read_text()) == before

    def test_a_partnership_the_ledger_does_not_hold_is_named_and_nothing_written(
        self, tmp_path: Path
    ) -> None:
        established(tmp_path)
        refused = ledger_command(
            "agency", "add", "police", "--partnership", "southshire", data_dir=tmp_path
        )
        assert refused.returncode == 1
        message = " ".join(refused.stderr.split())
        assert "error: partnership 'southshire' is not established on this ledger" in message
        assert "agency 'police'" in message
        assert not (tmp_path / "credentials" / "agency_police.json").exists()

    def test_the_partnership_is_required(self, tmp_path: Path) -> None:
        usage = ledger_command("agency", "add", "police", data_dir=tmp_path)
        assert usage.returncode == 2
        assert "--partnership" in usage.stderr

    async def test_a_running_server_on_the_data_dir_reloads_and_lets_the_agency_in(
        self, tmp_path: Path
    ) -> None:
        await asyncio.to_thread(established, tmp_path)
        with EmbeddedNats(tmp_path, auth=True) as server:  # as another process's would be
            refused = await asyncio.to_thread(
                ledger_command, "agency", "add", "school", *NORTHSHIRE, data_dir=tmp_path
            )
            assert refused.returncode == 1, refused.stderr
            assert "'school' is not registered" in " ".join(refused.stderr.split())
            done = await asyncio.to_thread(
                ledger_command, "agency", "add", "health", *NORTHSHIRE, data_dir=tmp_path
            )
            assert done.returncode == 0, done.stderr
            assert f"the running nats-server (pid {server.pid}) reloaded its users" in done.stderr
            async with connect(server.url, load_credentials(Path(done.stdout.strip()))) as h:
                assert await h.refusals(0) == []


class TestTheLedgerLogsIn:
    def test_the_ledger_logs_in_as_its_own_user_on_an_embedded_server(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, stream="LEDGER_BOOT", subject_prefix="boot")
        with open_ledger(settings, configure_logs=False) as running:
            assert running.credentials is not None
            assert running.credentials.user == "ledger"
            assert running.credentials.password not in running.nats_url
            assert len(run_scenario(running.ledger)) > 0
            # its user may watch the partnerships other processes write to
            assert running.ledger.watching_partnerships
        assert "Violation" not in (tmp_path / "nats-server.log").read_text()

    def test_nats_credentials_log_in_to_a_nats_url_server(self, secured: Secured) -> None:
        settings = Settings(
            nats_url=secured.url,
            nats_credentials=secured.settings.data_dir / "credentials" / "ledger.json",
            stream=STREAM,  # the stream the admin made, which its permissions name
            subject_prefix=PREFIX,
        )
        with open_ledger(settings, configure_logs=False) as running:
            assert len(run_scenario(running.ledger)) > 0
            assert running.nats_url == secured.url

    def test_the_demo_runs_with_authentication_and_never_shows_the_password(
        self, tmp_path: Path
    ) -> None:
        done = ledger_command("demo", data_dir=tmp_path)  # LEDGER_AUTH is on by default
        assert done.returncode == 0, done.stderr
        password = load_credentials(tmp_path / "credentials" / "ledger.json").password
        server_log = (tmp_path / "nats-server.log").read_text()
        assert "Using configuration file" in server_log
        assert "authentication error" not in server_log
        assert "Violation" not in server_log
        for text in (done.stdout, done.stderr, server_log):
            assert password not in text
