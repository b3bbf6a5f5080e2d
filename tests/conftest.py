"""Fixtures shared by every test layer: a real nats-server, and names that never collide.

One embedded server serves the whole session; each test gets its own stream name and
subject prefix on it, so tests never see each other's data. Tests that kill or restart
a server take ``fresh_server``, which is theirs alone.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings

from projections._store import ViewStore
from projections.postgres import PostgresViewStore
from projections.sqlite import SQLiteViewStore
from runtime.embedded import EmbeddedNats

# The machines are shared and noisy: no property test fails for taking long (speed is
# measured by `make bench`, as ratios). A test's own @settings still overrides the rest.
settings.register_profile("ledger", deadline=None)
settings.load_profile("ledger")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """The session's nats-server with JetStream, on a free loopback port."""
    with EmbeddedNats(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server: EmbeddedNats) -> str:
    return nats_server.url


@pytest.fixture
def unique_token() -> str:
    """Twelve lower-case hex digits, fresh for every test."""
    return secrets.token_hex(6)


@pytest.fixture
def stream_name(unique_token: str) -> str:
    """A JetStream stream name of this test's own, such as ``LEDGER_T3f9a0c1b2d4e``."""
    return f"LEDGER_T{unique_token}"


@pytest.fixture
def subject_prefix(unique_token: str) -> str:
    """A subject token of this test's own (lower-case letters and digits), matching the stream."""
    return f"ldg{unique_token}"


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A nats-server of this test's own, for kill -9 and restart tests."""
    with EmbeddedNats(tmp_path / "nats") as server:
        yield server


# -- view stores: every view test runs on SQLite and on PostgreSQL ------------------

POSTGRES_DSN_VARIABLE = "LEDGER_TEST_POSTGRES_DSN"


@pytest.fixture(params=["sqlite", "postgres"])
def view_store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_token: str
) -> Iterator[ViewStore]:
    """An empty view store: a SQLite file of this test's own, or a PostgreSQL schema of its own.

    PostgreSQL runs where ``LEDGER_TEST_POSTGRES_DSN`` is set (``.ci/run`` sets it to the
    local server) and is skipped, with the reason, elsewhere.
    """
    if request.param == "sqlite":
        store: ViewStore = SQLiteViewStore(tmp_path / "views.sqlite")
        yield store
        store.close()
        return
    dsn = os.environ.get(POSTGRES_DSN_VARIABLE)
    if not dsn:
        pytest.skip(
            f"{POSTGRES_DSN_VARIABLE} is not set: the PostgreSQL view store is not tested here"
        )
    schema = f"views_t{unique_token}"
    store = PostgresViewStore(dsn, schema=schema)
    yield store
    store.close()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
