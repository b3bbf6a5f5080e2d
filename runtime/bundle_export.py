"""The inspector's bundle of a case, built from the ledger stream and the Merkle log.

``ledger export --case ID [--as-of T] --out FILE`` (docs/proofs.md, "Bundles"). The case's
stored messages are read by subject (batched direct gets, as stored: headers and payload
untouched), with the partnership's key events; the bundle is built against one checkpoint:
the smallest one *witnessed* (cosigned by at least one agency) whose tree holds the case's
last event shown, else the latest. With ``as_of``, only the events recorded by then (the
longest run of the case's events from the first whose ``recorded_at`` is not later). Each
message gets its inclusion proof in that checkpoint's tree (:class:`runtime.log.MerkleLog`).
"""

from __future__ import annotations

import datetime as dt
from typing import Final, TypeVar

import msgspec
from nats.aio.client import Client

from ledger.errors import AggregateNotFound
from ledger.nats import StoredMsg, direct_get_batch
from ledger.proofs.bundle import KEY_EVENTS, Bundle, BundleEntry, stored_headers
from ledger.proofs.errors import ProofUnavailable
from ledger.proofs.keys import KeyRing
from ledger.proofs.note import (
    SIG_COSIGNATURE_V1,
    format_verifier_key,
    split_checkpoint,
)
from runtime._side_streams import Pool
from runtime.log import MerkleLog
from schemas.wire import HDR_TOPIC, aggregate_subject

__all__ = ["export_bundle"]

T = TypeVar("T")
_BATCH: Final = 256


class _Stamped(msgspec.Struct):
    recorded_at: dt.datetime


_stamped: Final = msgspec.json.Decoder(_Stamped)


def _read_subject(pool: Pool, stream: str, subject: str, timeout: float) -> list[StoredMsg]:
    out: list[StoredMsg] = []
    while True:
        start = out[-1].seq + 1 if out else 1

        async def page(nc: Client, start: int = start) -> tuple[list[StoredMsg], int]:
            return await direct_get_batch(nc, stream, subject, start, _BATCH, timeout)

        msgs, pending = pool.run(page)
        out.extend(msgs)
        if not msgs or pending == 0:
            return out


def _recorded_by(msgs: list[StoredMsg], as_of: dt.datetime | None) -> list[StoredMsg]:
    """The longest run of ``msgs`` from the first recorded no later than ``as_of``."""
    if as_of is None:
        return msgs
    kept: list[StoredMsg] = []
    for m in msgs:
        if _stamped.decode(m.data).recorded_at > as_of:
            break
        kept.append(m)
    return kept


def _choose_size(merkle_log: MerkleLog, needed: int) -> int:
    """The smallest witnessed checkpoint's size >= ``needed``, else the latest's."""
    latest, _ = split_checkpoint(merkle_log.latest_checkpoint())
    if latest.size < needed:
        msg = (
            f"size {needed}: the latest checkpoint is of size {latest.size}; rule: a bundle"
            " is proven against a checkpoint that holds the case's last event (wait for it)"
        )
        raise ProofUnavailable(msg)
    after = 0
    while msgs := merkle_log.stream.checkpoints(after):
        after = msgs[-1].seq
        for m in msgs:
            size = split_checkpoint(m.data.decode())[0].size
            if needed <= size < latest.size:
                _, lines = split_checkpoint(merkle_log.checkpoint(size))
                if len(lines) > 1:  # the log's own line and at least one cosignature
                    return size
    return latest.size


def export_bundle(
    pool: Pool,
    merkle_log: MerkleLog,
    *,
    stream: str,
    subject_prefix: str,
    partnership: str,
    case: str,
    as_of: dt.datetime | None = None,
    timeout: float = 5.0,
) -> Bundle:
    """The bundle of ``case`` (module's doc). Raises :class:`AggregateNotFound` for a case
    with no event (by ``as_of``), :class:`ProofUnavailable` before a checkpoint holds it."""
    case_subject = aggregate_subject(subject_prefix, partnership, "case", case)
    partnership_subject = aggregate_subject(subject_prefix, partnership, "partnership", partnership)
    shown = _recorded_by(_read_subject(pool, stream, case_subject, timeout), as_of)
    if not shown:
        msg = f"case {case!r} of partnership {partnership!r}: no event recorded (by the as-of)"
        raise AggregateNotFound(msg)
    size = _choose_size(merkle_log, shown[-1].seq)
    # Read again: events recorded meanwhile that the chosen tree holds belong in it too.
    events = [
        m
        for m in _recorded_by(_read_subject(pool, stream, case_subject, timeout), as_of)
        if m.seq <= size
    ]
    keys = [
        m
        for m in _read_subject(pool, stream, partnership_subject, timeout)
        if m.seq <= size and m.headers.get(HDR_TOPIC) in KEY_EVENTS
    ]

    def entry(m: StoredMsg) -> BundleEntry:
        proof = merkle_log.inclusion_proof(m.seq, size).proof
        headers = stored_headers(m.headers)
        return BundleEntry(
            seq=m.seq, subject=m.subject, headers=headers, payload=m.data, proof=proof
        )

    ring = KeyRing()  # the registry the verifier folds from the same events
    for m in keys:
        ring.fold_stored(m.seq, partnership, m.headers.get(HDR_TOPIC, ""), m.data)
    witnesses = sorted(
        {format_verifier_key(k.agency, k.raw, SIG_COSIGNATURE_V1) for k in ring.keys.values()}
    )
    return Bundle(
        origin=merkle_log.origin,
        log_key=format_verifier_key(merkle_log.origin, merkle_log.log_key),
        checkpoint=merkle_log.checkpoint(size),
        witnesses=witnesses,
        partnership=partnership,
        case=case,
        subject=case_subject,
        as_of=as_of,
        events=[entry(m) for m in events],
        keys=[entry(m) for m in keys],
    )
