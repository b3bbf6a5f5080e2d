"""Fixtures shared by every test layer: a real nats-server, and names that never collide.

One embedded server serves the whole session; each test gets its own stream name and
subject prefix on it, so tests never see each other's data. Tests that kill or restart
a server take ``fresh_server``, which is theirs alone.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.embedded import EmbeddedNats


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
