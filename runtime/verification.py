"""``ledger verify``'s wiring: read the ledger stream and its log, feed the pure verifier.

The ledger stream is read by batched direct gets on the calling thread
(:func:`ledger.nats.read_stored`, the projections' fast path), every message of it
(``<prefix>.>``: tracking positions are leaves of the Merkle tree too). The checkpoints and
cosignatures come from the log stream (``<stream>_LOG``) and from notes the caller kept
(a witness's last cosigned checkpoint), which the operator cannot take back. The rules are
:mod:`ledger.proofs.verifier`'s; docs/proofs.md ("Verifying the stream") tells them.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.application import Ledger
from ledger.errors import LedgerUnavailable
from ledger.nats import NatsApplicationRecorder, direct_get, read_stored
from ledger.proofs.errors import VerificationFailed
from ledger.proofs.keys import AgencyPins
from ledger.proofs.roots import Roots, WitnessedRoot, checkpoint_roots, cosigned_roots
from ledger.proofs.verifier import SIGNATURE_WORKER, StreamVerifier, Summary
from runtime.log_stream import LogStream

__all__ = ["LogKey", "VerifyRange", "stream_end", "verify_stream", "witnessed_roots"]

T = TypeVar("T")

#: Messages handed to the verifier per batch.
_BATCH: Final = 2_000
#: Ranges of at least this many messages have their signatures verified by a pool of
#: processes (starting one costs about half a second; below this, one at a time).
PARALLEL_FROM: Final = 10_000


@dataclass(frozen=True, slots=True)
class LogKey:
    """The log's origin (its key name) and public key, if the verifier has it."""

    origin: str
    public_key: Ed25519PublicKey | None


@dataclass(frozen=True, slots=True)
class VerifyRange:
    """``--from`` / ``--to``: sequences ``first`` to ``last`` (``None``: the stream's end)."""

    first: int = 1
    last: int | None = None


def _recorder(ledger: Ledger) -> NatsApplicationRecorder:
    recorder = ledger.recorder
    if not isinstance(recorder, NatsApplicationRecorder):
        msg = (
            "ledger verify reads a NATS JetStream stream; this ledger's store is"
            f" {type(recorder).__name__} (set PERSISTENCE_MODULE=ledger.nats)"
        )
        raise LedgerUnavailable(msg)
    return recorder


@contextmanager
def _closing(batches: Iterator[T]) -> Iterator[Iterator[T]]:
    """``batches``, its reader closed on the way out (its connection and loop with it)."""
    try:
        yield batches
    finally:
        if isinstance(batches, Generator):
            batches.close()


def stream_end(ledger: Ledger) -> int:
    """The last sequence of the ledger stream (0 when it is empty)."""
    recorder = _recorder(ledger)
    everything = f"{recorder.subjects.prefix}.>"
    last = recorder.pool.run(
        lambda nc: direct_get(nc, recorder.stream, {"last_by_subj": everything}, recorder.timeout)
    )
    return 0 if last is None else last.seq


def witnessed_roots(
    log: LogStream, key: LogKey, kept: Iterable[tuple[str, str]] = ()
) -> list[WitnessedRoot]:
    """Every root vouched for: each checkpoint on the log stream (if the log key is known),
    each cosignature on it, and each ``(label, note)`` kept elsewhere.

    :class:`VerificationFailed` (no sequence) for a note that is malformed, of another origin
    or not signed by the log key.
    """
    out: list[WitnessedRoot] = []
    if key.public_key is not None:
        after = 0
        while page := log.checkpoints(after):
            for msg in page:
                label = f"checkpoint at log sequence {msg.seq}"
                out += checkpoint_roots(
                    label, msg.data.decode(), origin=key.origin, log_key=key.public_key
                )
            after = page[-1].seq
    cosigned = log.cosignatures.removesuffix("*")  # <prefix>-log.cosignature.
    after = 0
    while page := log.cosignature_messages(after):
        for msg in page:
            agency = msg.subject.removeprefix(cosigned)
            label = f"cosignature at log sequence {msg.seq}"
            out += cosigned_roots(label, agency, msg.data.decode(), origin=key.origin)
        after = page[-1].seq
    for label, note in kept:
        if key.public_key is None:
            why = f"{label}: a kept checkpoint needs the log's key to be checked (--log-key)"
            raise VerificationFailed(None, why)
        out += checkpoint_roots(label, note, origin=key.origin, log_key=key.public_key)
    return out


def verify_stream(
    ledger: Ledger,
    span: VerifyRange,
    roots: Sequence[WitnessedRoot],
    *,
    progress: Callable[[int], None] | None = None,
    parallel_from: int | None = None,
    pins: AgencyPins | None = None,
) -> Summary:
    """Verify ``span`` of ``ledger``'s stream against ``roots`` (ignored unless ``span``
    starts at 1); :class:`VerificationFailed` names the first sequence that fails. A span of
    ``parallel_from`` messages or more (default :data:`PARALLEL_FROM`) has its signatures
    verified by a pool of processes. ``pins``: agencies' keys the verifier had from them
    (:class:`~ledger.proofs.verifier.StreamVerifier`)."""
    recorder = _recorder(ledger)
    end = stream_end(ledger)
    last = end if span.last is None else min(span.last, end)
    whole = last == end
    if last - span.first + 1 < (PARALLEL_FROM if parallel_from is None else parallel_from):
        return _verify(recorder, span, roots, None, last, whole, progress, pins)
    with _signature_pool() as pool:
        return _verify(recorder, span, roots, pool, last, whole, progress, pins)


def _signature_pool() -> ProcessPoolExecutor:
    """One worker process per core this process may run on, each verifying signatures
    (:mod:`ledger.proofs._signatures` says why processes). Forked from a fork server that
    has imported the worker's module (not from this process: it runs the NATS client's
    thread, and a fork of a threaded process may inherit a held lock)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([SIGNATURE_WORKER])
    return ProcessPoolExecutor(cores or 1, mp_context=context)


def _verify(
    recorder: NatsApplicationRecorder,
    span: VerifyRange,
    roots: Sequence[WitnessedRoot],
    pool: Executor | None,
    last: int,
    whole: bool,
    progress: Callable[[int], None] | None,
    pins: AgencyPins | None,
) -> Summary:
    prefix = recorder.subjects.prefix
    checker = Roots(roots) if span.first == 1 else None
    verifier = StreamVerifier(prefix, start=span.first, roots=checker, pool=pool, pins=pins)
    if span.first > 1:
        partnerships = f"{prefix}.*.partnership.*"
        before = read_stored(
            recorder, gt=0, until=span.first - 1, size=_BATCH, subject=partnerships
        )
        with _closing(before):
            for batch in before:
                for m in batch:
                    verifier.prime(m.subject, m.headers, m.data, m.seq)
    feed = verifier.feed
    done = 0
    if last >= span.first:
        batches = read_stored(
            recorder, gt=span.first - 1, until=last, size=_BATCH, subject=f"{prefix}.>"
        )
        with _closing(batches):  # closed now, not when a failure's traceback goes
            for batch in batches:
                for m in batch:
                    feed(m.seq, m.subject, m.headers, m.data)
                done += len(batch)
                if progress is not None:
                    progress(done)
    return verifier.finish(whole=whole, last=last)
