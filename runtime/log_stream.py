"""The Merkle log's stream: signed checkpoints and the agencies' cosignatures, kept for ever.

The stream ``<stream>_LOG`` (:func:`schemas.wire.checkpoint_stream`) holds, under
``<prefix>-log``, one signed checkpoint note per message on ``<prefix>-log.checkpoint``
(published by the checkpointer only) and one cosigned note per message on
``<prefix>-log.cosignature.<agency>`` (an agency's witness, or the service on an agency's
``POST /log/cosignatures``). It is made like the ledger stream and checked by the same
rules (:func:`ledger.nats.ensure_stream`: file storage, no limits, ``deny_delete``,
``deny_purge``, direct gets), by the admin where the ledger stream is made
(:func:`log_admin_step`, run by ``ledger admin init`` and the embedded server's first
start). The service user may publish to ``<prefix>-log.>`` and read the stream; an agency
may publish to its own cosignature subject only and read the stream by direct get
(``runtime/access.py``).

Calls ride on the ledger's own NATS connections (the persistence module's driver pool), as
the access log's do: each runs on a borrowed driver on the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

import msgspec
import nats.errors
from nats.aio.client import Client

from ledger.application import Ledger
from ledger.errors import LedgerUnavailable
from ledger.nats import (
    HDR_MSG_ID,
    PubAck,
    StoredMsg,
    direct_get,
    direct_get_batch,
)
from ledger.proofs.errors import LogCorrupt
from runtime._side_streams import Pool, ensure_side_stream, nats_pool
from schemas.wire import (
    checkpoint_prefix,
    checkpoint_stream,
    checkpoint_subject,
    cosignature_subject,
)

__all__ = [
    "LogStream",
    "ensure_log_stream",
    "log_admin_step",
]

T = TypeVar("T")

#: Messages asked for per batched direct get.
_BATCH: Final = 256
_HDR_EXPECTED_STREAM: Final = "Nats-Expected-Stream"
_ack: Final = msgspec.json.Decoder(PubAck)
_HDR_EXPECTED_SUBJECT_SEQ: Final = "Nats-Expected-Last-Subject-Sequence"
#: JetStream's error codes for a failed expected-last-subject-sequence check.
_WRONG_LAST: Final = frozenset({10071})


async def ensure_log_stream(
    nc: Client,
    *,
    stream: str,
    subject_prefix: str,
    replicas: int = 1,
    create: bool,
    timeout: float = 10.0,
) -> str:
    """Create the log stream of the ledger stream ``stream`` if missing (with ``create``),
    and refuse one that could lose a checkpoint with
    :class:`~ledger.errors.StreamMisconfigured`, as the ledger stream is. Returns its name."""
    return await ensure_side_stream(
        nc,
        name=checkpoint_stream(stream),
        subject_space=checkpoint_prefix(subject_prefix),
        replicas=replicas,
        create=create,
        timeout=timeout,
    )


def log_admin_step(
    *, stream: str, subject_prefix: str, replicas: int = 1
) -> Callable[[Client], Coroutine[Any, Any, str]]:
    """The admin's step that makes the log stream (a :data:`runtime.bootstrap.AdminStep`)."""

    async def step(nc: Client) -> str:
        return await ensure_log_stream(
            nc, stream=stream, subject_prefix=subject_prefix, replicas=replicas, create=True
        )

    return step


class LogStream:
    """Publishes to the log stream and reads it back, on the ledger's NATS connections."""

    def __init__(
        self, pool: Pool, *, stream: str, subject_prefix: str, timeout: float = 5.0
    ) -> None:
        self._pool = pool
        self._ledger_stream = stream
        self._prefix = subject_prefix
        self.name = checkpoint_stream(stream)
        self.checkpoint_subject = checkpoint_subject(subject_prefix)
        self.cosignatures = f"{checkpoint_prefix(subject_prefix)}.cosignature.*"
        self._timeout = timeout

    @classmethod
    def of(
        cls, ledger: Ledger, *, stream: str, subject_prefix: str, timeout: float = 5.0
    ) -> LogStream:
        """The log stream beside ``ledger``'s stream, on the ledger's own NATS connections."""
        pool = nats_pool(ledger, "the Merkle log")
        return cls(pool, stream=stream, subject_prefix=subject_prefix, timeout=timeout)

    def check(self, *, create: bool, replicas: int = 1) -> None:
        """Check the log stream (creating it first with ``create``): raises
        :class:`~ledger.errors.StreamMisconfigured` if it is missing or could lose a message."""
        self._pool.run(
            lambda nc: ensure_log_stream(
                nc,
                stream=self._ledger_stream,
                subject_prefix=self._prefix,
                replicas=replicas,
                create=create,
                timeout=self._timeout,
            )
        )

    # -- writing --------------------------------------------------------------------

    def publish_checkpoint(self, note: bytes, size: int, *, after: int) -> int:
        """Publish the signed checkpoint ``note`` of tree size ``size``; ``after`` is the
        sequence of the last checkpoint message the publisher knows (0: none).

        Returns the message's sequence. Raises :class:`~ledger.proofs.errors.LogCorrupt` if
        another checkpoint was published since ``after`` (a second checkpointer),
        :class:`~ledger.errors.LedgerUnavailable` if the stream does not take it. A retry
        of the same size is stored once (its message id).
        """
        headers = {
            HDR_MSG_ID: f"checkpoint.{size}",
            _HDR_EXPECTED_STREAM: self.name,
            _HDR_EXPECTED_SUBJECT_SEQ: str(after),
        }
        ack = self._publish(self.checkpoint_subject, note, headers)
        if ack.error is not None and ack.error.err_code in _WRONG_LAST:
            msg = (
                f"checkpoint of size {size} refused: the log stream {self.name!r} has a"
                f" checkpoint after sequence {after}; rule: one checkpointer per log"
            )
            raise LogCorrupt(msg, size=size)
        return self._sequence(ack, "checkpoint")

    def publish_cosignature(self, agency: str, note: bytes) -> int:
        """Publish ``agency``'s cosigned ``note`` to ``<prefix>-log.cosignature.<agency>``;
        returns its sequence."""
        subject = cosignature_subject(self._prefix, agency)
        ack = self._publish(subject, note, {_HDR_EXPECTED_STREAM: self.name})
        return self._sequence(ack, "cosignature")

    def _publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> PubAck:
        async def go(nc: Client) -> PubAck:
            try:
                reply = await nc.request(subject, payload, timeout=self._timeout, headers=headers)
            except nats.errors.NoRespondersError as e:
                msg = f"no log stream {self.name!r} answers on {subject!r}"
                raise LedgerUnavailable(msg) from e
            except (nats.errors.Error, OSError) as e:
                msg = f"publishing to the log stream {self.name!r} failed: {e!r}"
                raise LedgerUnavailable(msg) from e
            return _ack.decode(reply.data)

        return self._pool.run(go)

    def _sequence(self, ack: PubAck, what: str) -> int:
        if ack.error is not None:
            msg = (
                f"the log stream {self.name!r} refused a {what}:"
                f" {ack.error.description} ({ack.error.err_code})"
            )
            raise LedgerUnavailable(msg)
        return ack.seq

    # -- reading --------------------------------------------------------------------

    def last_checkpoint(self) -> StoredMsg | None:
        """The last checkpoint message published, if any."""
        return self._pool.run(
            lambda nc: direct_get(
                nc, self.name, {"last_by_subj": self.checkpoint_subject}, self._timeout
            )
        )

    def checkpoints(self, after: int) -> list[StoredMsg]:
        """The checkpoint messages after sequence ``after``, in order (a page of them)."""
        return self._page(self.checkpoint_subject, after)

    def cosignature_messages(self, after: int) -> list[StoredMsg]:
        """The cosignature messages after sequence ``after``, in order (a page of them)."""
        return self._page(self.cosignatures, after)

    def _page(self, subject: str, after: int) -> list[StoredMsg]:
        msgs, _ = self._pool.run(
            lambda nc: direct_get_batch(nc, self.name, subject, after + 1, _BATCH, self._timeout)
        )
        return msgs
