"""The Merkle log's test fixtures: a NATS ledger, its log stream and tree file, a log key,
and a checkpointer run on a thread until it has published what a test waits for."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from ledger_scenario import LA, PARTNERSHIP

from ledger.application import Ledger
from ledger.nats import NatsApplicationRecorder, direct_get_batch
from ledger.proofs.entry import entry_hash
from ledger.proofs.note import Checkpoint, open_checkpoint
from ledger.proofs.tree import FileTree
from runtime._agency_keys import AgencyKeys
from runtime.checkpointer import Checkpointer
from runtime.log import MerkleLog
from runtime.log_stream import LogStream
from runtime.settings import Settings

ORIGIN = "ledger.test/merkle"


@pytest.fixture
def ledger(nats_url: str, stream_name: str, subject_prefix: str) -> Iterator[Ledger]:
    env = Settings(stream=stream_name, subject_prefix=subject_prefix).persistence_env(nats_url)
    app = Ledger(env=env)
    yield app
    app.close()


@pytest.fixture
def recorder(ledger: Ledger) -> NatsApplicationRecorder:
    assert isinstance(ledger.recorder, NatsApplicationRecorder)
    return ledger.recorder


@pytest.fixture
def log_stream(
    recorder: NatsApplicationRecorder, stream_name: str, subject_prefix: str
) -> LogStream:
    stream = LogStream(recorder.pool, stream=stream_name, subject_prefix=subject_prefix)
    stream.check(create=True)
    return stream


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def tree_file(tmp_path: Path) -> Path:
    return tmp_path / "merkle" / "ledger.tree"


@pytest.fixture
def merkle_log(
    recorder: NatsApplicationRecorder,
    log_stream: LogStream,
    tree_file: Path,
    key: Ed25519PrivateKey,
    stream_name: str,
    subject_prefix: str,
) -> Iterator[MerkleLog]:
    keys = AgencyKeys(recorder.pool, stream=stream_name, subject_prefix=subject_prefix)
    merkle = MerkleLog(log_stream, keys, tree_file, origin=ORIGIN, log_key=key.public_key())
    yield merkle
    merkle.close()


def record(ledger: Ledger, count: int, start: int = 0) -> None:
    """``count`` more events: agencies registered on the partnership."""
    for i in range(start, start + count):
        ledger.register_agency(
            partnership=PARTNERSHIP,
            recorded_by=LA,
            agency=f"agency-{i}",
            name=f"Agency {i}",
            kind="other",
            role="relevant_agency",
        )


def run_checkpointer(
    recorder: NatsApplicationRecorder,
    log_stream: LogStream,
    tree_file: Path,
    key: Ed25519PrivateKey,
    until: Callable[[Checkpointer], bool],
    *,
    every: int = 4,
    seconds: float = 3600.0,
    timeout: float = 20.0,
) -> Checkpointer:
    """A checkpointer run on a thread (as its worker runs it) until ``until`` holds; stopped."""
    cp = Checkpointer(
        recorder,
        FileTree(tree_file),
        log_stream,
        origin=ORIGIN,
        key=key,
        every=every,
        seconds=seconds,
    )
    failure: list[BaseException] = []

    def go() -> None:
        try:
            cp.catch_up()
            cp.follow()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            failure.append(error)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not until(cp) and not failure and time.monotonic() < deadline:
        time.sleep(0.02)
    cp.stop()
    thread.join(10)
    if failure:
        raise failure[0]
    assert until(cp), "the checkpointer did not get there in time"
    return cp


def published(log_stream: LogStream, key: Ed25519PrivateKey) -> list[Checkpoint]:
    """Every checkpoint on the log, opened with the log's key, in order."""
    out: list[Checkpoint] = []
    after = 0
    while msgs := log_stream.checkpoints(after):
        for m in msgs:
            out.append(open_checkpoint(m.data.decode(), ORIGIN, key.public_key()))
            after = m.seq
    return out


def stream_leaves(recorder: NatsApplicationRecorder) -> list[bytes]:
    """The entry hash of every message of the ledger stream, read back in order."""
    out: list[bytes] = []
    seq = 1
    while True:
        msgs, pending = recorder.pool.run(
            lambda nc, start=seq: direct_get_batch(
                nc, recorder.stream, f"{recorder.subjects.prefix}.>", start, 100, 5.0
            )
        )
        out += [entry_hash(m.subject, m.headers, m.data) for m in msgs]
        assert [m.seq for m in msgs] == list(range(seq, seq + len(msgs)))
        if not msgs or pending == 0:
            return out
        seq = msgs[-1].seq + 1


def sized(size: int) -> Callable[[Checkpointer], bool]:
    return lambda cp: cp.latest is not None and cp.latest.size >= size


def b64key(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()
