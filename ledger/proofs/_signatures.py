"""Signature verifications queued in sequence order and run in batches, in parallel.

An Ed25519 verification is most of what ``ledger verify`` spends on a signed event, and
``cryptography`` releases the GIL while it verifies (measured: a thread verifying in a loop
slows a pure-Python loop on another thread by the machine's contention only, where a
pure-Python thread halves it), so a thread pool sized to the cores verifies in parallel
without copying payloads to other processes. The verifier queues each signature once every
other check of its event has passed and goes on with the next message; a batch is handed to
the pool when full, and batches are settled oldest first.

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
from ledger.proofs.errors import VerificationFailed

__all__ = ["SignatureChecks"]

#: Signatures per batch: large enough that a hand-off costs little, small enough that a
#: failure is found soon after it is read.
BATCH: Final = 256


def _first_failure(batch: Sequence[Signed]) -> VerificationFailed | None:
    for signed in batch:
        try:
            verify_signature(signed)
        except VerificationFailed as e:
            return e
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
        self._queued: list[Signed] = []
        self._flight: deque[Future[VerificationFailed | None]] = deque()
        self.checked = 0

    def add(self, signed: Signed) -> None:
        """Queue ``signed``; may raise the failure of an earlier batch."""
        if self._pool is None:
            verify_signature(signed)
            self.checked += 1
            return
        self._queued.append(signed)
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
        self._flight.append(self._pool.submit(_first_failure, batch))
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
            raise failure
