"""Signature verifications queued in sequence order and run in batches, in parallel.

An Ed25519 verification is most of what ``ledger verify`` spends on a signed event (about
60-70 us in libsodium on these machines, :mod:`ledger.proofs.ed25519`, against some 20 us
for every other check of the event and about 25 us to read it). The verifier queues each
signature once every other check of its event has passed and goes on with the next message;
a full batch is handed to a pool of worker processes, and batches are settled oldest first.
Processes, not threads, even though libsodium releases the GIL while it computes: each
verification in a worker thread must take the GIL back, and the thread reading and checking
the stream holds it nearly all the time, so the workers queue for it. Measured over the same
10,139 messages (9,985 signed) fed from memory, wall time a message, 2 cores shared with
other work: one at a time 74-108 us, a pool of two threads 78-104 us, of two processes
52-54 us (``cryptography`` before it: 126-130, 104-132 and 87-94 us). A job is sent as plain
values (the payload as stored, the raw public key and the header's parts), and a worker
decodes its copy of the payload once, for the JCS.

First failure first: within a batch the signatures are verified in sequence order and the
first failing one is kept; batches are settled in the order they were queued; and the
verifier settles every batch (:meth:`SignatureChecks.drain`) before it reports a failure of
its own, so a failing signature is never reported after a later sequence's failure, nor a
later one before it. Without a pool each signature is verified as it is queued.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from typing import Final

from ledger.proofs._checks import Signed, verify_signature
from ledger.proofs.entry import (
    SignatureHeader,
    assertion,
    decode_payload,
    verify_asserted,
)
from ledger.proofs.errors import SignatureInvalid, VerificationFailed

__all__ = ["BATCH", "SignatureChecks", "verify_jobs"]

#: Signatures per batch: large enough that a hand-off costs little, small enough that a
#: failure is found soon after it is read.
BATCH: Final = 256

#: A signature to verify, as plain values: sequence, subject, payload as stored, raw public
#: key, signature, agency, key id.
Job = tuple[int, str, bytes, bytes, bytes, str, str]


def verify_jobs(jobs: Sequence[Job]) -> tuple[int, str] | None:
    """Verify ``jobs`` in order; the first failing one's ``(sequence, reason)``, else None.

    Runs in a worker (a process of the pool): takes and returns plain values only.
    """
    for seq, subject, stored, raw, signature, agency, key_id in jobs:
        header = SignatureHeader(agency, key_id, signature)
        try:
            verify_asserted(raw, header, assertion(subject, decode_payload(stored)))
        except SignatureInvalid as e:
            return seq, str(e)
    return None


class SignatureChecks:
    """Verifies queued signatures, on ``pool`` in batches of ``batch`` (at most ``ahead``
    batches in flight), or at once without a pool."""

    def __init__(self, pool: Executor | None = None, *, batch: int = BATCH, ahead: int = 4) -> None:
        if batch < 1 or ahead < 1:
            msg = f"batch {batch}, ahead {ahead}: each must be at least 1"
            raise ValueError(msg)
        self._pool = pool
        self._size = batch
        self._ahead = ahead
        self._queued: list[Job] = []
        self._flight: deque[Future[tuple[int, str] | None]] = deque()
        self.checked = 0

    def add(self, signed: Signed) -> None:
        """Queue ``signed``; may raise the failure of an earlier batch."""
        if self._pool is None:
            verify_signature(signed)
            self.checked += 1
            return
        h = signed.header
        job = (signed.seq, signed.subject, signed.stored, signed.key.raw, h.signature, h.agency)
        self._queued.append((*job, h.key_id))
        if len(self._queued) >= self._size:
            self._submit()

    def drain(self) -> None:
        """Settle every queued signature, oldest first; raise the first that fails."""
        if self._queued:
            self._submit()
        while self._flight:
            self._settle_oldest()

    def _submit(self) -> None:
        assert self._pool is not None
        batch, self._queued = self._queued, []
        self._flight.append(self._pool.submit(verify_jobs, batch))
        self.checked += len(batch)
        while len(self._flight) > self._ahead:
            self._settle_oldest()

    def _settle_oldest(self) -> None:
        failure = self._flight.popleft().result()
        if failure is not None:
            for later in self._flight:
                later.cancel()
            self._flight.clear()
            self._queued = []
            raise VerificationFailed(*failure)
