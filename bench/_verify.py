"""The verify suite of ``make bench``: ``ledger verify``'s rate against a raw read of the stream.

A synthetic partnership (:mod:`runtime.synthetic`, seeded) is generated in memory, laid out
as the writer stores it (each aggregate's chain of ``Ledger-Prev-Hash``, each agency's key
registered after the agency, every later event signed with Ed25519: a partnership that
requires signatures) and published into a stream with a checkpoint of the whole of it on the
log stream. In interleaved rounds the same stream is then read raw (the batched direct gets
``ledger verify`` reads with, counting only) and verified
(:func:`runtime.verification.verify_stream`, as the command does, without the bar).
``verify_ratio_vs_raw_read`` is the median of the per-round ratios; the same is measured on
the stream without signatures (``verify_unsigned_ratio_vs_raw_read``), which shows what the
Ed25519 verifications cost. The full run's 40,000 events have their signatures verified by
worker processes, as ``ledger verify`` does from
:data:`runtime.verification.PARALLEL_FROM` messages on; the quick run's 5,000 are verified
one at a time.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import nats
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from rich.console import Console

from ledger.application import Ledger
from ledger.nats import NatsApplicationRecorder, read_stored
from ledger.proofs.entry import b64, entry_hash, sign_assertion
from ledger.proofs.merkle import Frontier
from ledger.proofs.note import Checkpoint, sign_checkpoint
from ledger.proofs.roots import checkpoint_roots
from ledger.proofs.verifier import StoredMessage
from runtime.log_stream import LogStream
from runtime.settings import Settings
from runtime.synthetic import SimulatedClock, generate
from runtime.verification import VerifyRange, verify_stream
from schemas.wire import HDR_PREV_HASH, HDR_SIGNATURE, HDR_TOPIC, HDR_VERSION

ORIGIN = "bench.local/VERIFY"
_LOG_KEY = Ed25519PrivateKey.from_private_bytes(b"bench log key".ljust(32, b"."))


def _facts(events: int, prefix: str) -> list[tuple[str, str, bytes]]:
    clock = SimulatedClock()
    app = Ledger(clock=clock)
    try:
        generate(app, events=events, seed=7, clock=clock, workers=1)
        notes = app.recorder.select_notifications(start=1, limit=events + 1000)
        return [(f"{prefix}.{n.originator_id}", n.topic, n.state) for n in notes]
    finally:
        app.close()


def _laid_out(facts: Sequence[tuple[str, str, bytes]], *, signed: bool) -> list[StoredMessage]:
    """``facts`` as the writer stores them: chains, and with ``signed`` a key registered per
    agency after the agency and every later event of it signed."""
    keys: dict[str, Ed25519PrivateKey] = {}
    last: dict[str, tuple[int, bytes]] = {}
    out: list[StoredMessage] = []

    def put(subject: str, topic: str, payload: bytes, *, sign: bool = True) -> None:
        headers = {HDR_TOPIC: topic}
        version, prev = last.get(subject, (0, b""))
        headers[HDR_VERSION] = str(version + 1)
        if prev:
            headers[HDR_PREV_HASH] = b64(prev)
        agency = msgspec.json.decode(payload)["recorded_by"]["agency"]
        if sign and agency in keys:  # a later key too: under the agency's live key
            sig = sign_assertion(keys[agency], agency, f"{agency}-1", subject, payload)
            headers[HDR_SIGNATURE] = sig.format()
        out.append(StoredMessage(len(out) + 1, subject, headers, payload))
        last[subject] = (version + 1, entry_hash(subject, headers, payload))

    for subject, topic, payload in facts:
        put(subject, topic, payload)
        if signed and topic == "AgencyRegistered":
            base = msgspec.json.decode(payload)
            agency = base["agency"]
            key = Ed25519PrivateKey.from_private_bytes(agency.encode()[:32].ljust(32, b"k"))
            raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            registered = {
                "type": "AgencyKeyRegistered",
                "schema_version": 1,
                "occurred_at": base["occurred_at"],
                "recorded_at": base["recorded_at"],
                "recorded_by": {"agency": agency, "actor": "act_keys0001"},
                "source": base["source"],
                "agency": agency,
                "key_id": f"{agency}-1",
                "algorithm": "ed25519",
                "public_key": b64(raw),
            }
            # the agency's first key, on the operator's word (docs/proofs.md)
            put(subject, "AgencyKeyRegistered", msgspec.json.encode(registered), sign=False)
            keys[agency] = key
    return out


async def _publish(url: str, stream: str, messages: Sequence[StoredMessage]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for i in range(0, len(messages), 256):
            await asyncio.gather(
                *(
                    js.publish(m.subject, m.payload, headers=dict(m.headers), stream=stream)
                    for m in messages[i : i + 256]
                )
            )
    finally:
        await nc.close()


def _raw_read(recorder: NatsApplicationRecorder, total: int) -> float:
    t0 = time.perf_counter()
    count = 0
    subject = f"{recorder.subjects.prefix}.>"
    for batch in read_stored(recorder, gt=0, until=total, size=2_000, subject=subject):
        count += len(batch)
    assert count == total, (count, total)
    return total / (time.perf_counter() - t0)


def _prepare(url: str, messages: Sequence[StoredMessage], settings: Settings) -> Ledger:
    env = settings.persistence_env(url)
    ledger = Ledger(env=env)
    asyncio.run(_publish(url, settings.stream, messages))
    tree = Frontier()
    for m in messages:
        tree.append(entry_hash(m.subject, m.headers, m.payload))
    log = LogStream.of(ledger, stream=settings.stream, subject_prefix=settings.subject_prefix)
    log.check(create=True)
    note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), ORIGIN, _LOG_KEY)
    log.publish_checkpoint(note.encode(), tree.size, after=0)
    return ledger


def verify_suite(url: str, tmp: Path, *, quick: bool, console: Console) -> dict[str, Any]:
    """Build, publish, then measure raw reads against verification; results for results.json."""
    events = 5_000 if quick else 40_000
    rounds = 2 if quick else 3
    console.log(f"generating {events:,} synthetic events and laying them out signed ...")
    out: dict[str, Any] = {}
    for signed, prefix in ((True, "vsigned"), (False, "vplain")):
        facts = _facts(events, prefix)
        messages = _laid_out(facts, signed=signed)
        stream = "VERIFY_SIGNED" if signed else "VERIFY_PLAIN"
        settings = Settings(stream=stream, subject_prefix=prefix, timeout_s=10)
        ledger = _prepare(url, messages, settings)
        try:
            recorder = ledger.recorder
            assert isinstance(recorder, NatsApplicationRecorder)
            log = LogStream.of(ledger, stream=stream, subject_prefix=prefix)
            note = log.checkpoints(0)[0].data.decode()
            roots = checkpoint_roots(
                "bench checkpoint", note, origin=ORIGIN, log_key=_LOG_KEY.public_key()
            )
            rows: list[tuple[float, float]] = []
            for r in range(rounds):
                raw = _raw_read(recorder, len(messages))
                t0 = time.perf_counter()
                summary = verify_stream(ledger, VerifyRange(), roots)
                rate = len(messages) / (time.perf_counter() - t0)
                assert summary.checkpoints == 1
                assert summary.last == len(messages)
                rows.append((raw, rate))
                console.log(
                    f"{stream} round {r + 1}/{rounds}: raw read {raw:,.0f}/s, verify {rate:,.0f}/s"
                    f" ({summary.signatures:,} signatures)"
                )
        finally:
            ledger.close()
        key = "verify_ratio_vs_raw_read" if signed else "verify_unsigned_ratio_vs_raw_read"
        out[key] = round(statistics.median(v / r for r, v in rows), 3)
        out[f"meta_{key}"] = {
            "events": len(messages),
            "signed": sum(1 for m in messages if HDR_SIGNATURE in m.headers),
            "raw_read_per_s": round(statistics.median(r for r, _ in rows), 1),
            "verify_per_s": round(statistics.median(v for _, v in rows), 1),
        }
    return out
