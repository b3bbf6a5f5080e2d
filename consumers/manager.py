"""The delivery service's side: the delivery stream, one consumer per agency, and the runner.

``delivery_runner(ledger, store, stream=..., subject_prefix=...)`` builds a
:class:`~projections.runner.ViewRunner` over the ledger stream with one view,
:class:`~consumers.delivery.DeliveryView`, whose publisher writes to the delivery stream
(over a synchronous connection of its own, :class:`~ledger.nats.SyncWire`, or the
ledger's nats-py connections for ``tls://``) and makes sure each agency's durable
consumer exists before its first message. Run it with ``runner.follow()`` (``ledger delivery
run``); its memberships and position live in the view store beside the views, so it
resumes where it stopped. It is given the ledger stream's name, subject prefix and
replicas; :mod:`runtime` passes them from the settings.

The delivery stream keeps messages for ``max_age`` (limits retention), so an agency that
was offline receives its backlog when it comes back; its consumer redelivers a message
that is not acknowledged after each ``backoff`` step, ``max_deliver`` times in all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    Header,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from consumers.delivery import DeliveryView, Outgoing
from ledger.application import Ledger
from ledger.errors import LedgerUnavailable, StreamMisconfigured
from ledger.nats import SyncWire, WireClosed, WireError, WireTimeout, WireUnreachable
from projections import ViewStore
from projections.runner import ViewRunner
from schemas.wire import consumer_name, delivery_filter, delivery_prefix, delivery_stream

__all__ = [
    "DeliveryPolicy",
    "delivery_admin_step",
    "delivery_runner",
    "ensure_agency_consumer",
    "ensure_delivery_stream",
]

log = structlog.get_logger()

#: Publishes in flight at once when a batch is delivered.
_IN_FLIGHT = 256


@dataclass(frozen=True)
class DeliveryPolicy:
    """How long messages wait for an agency, and how failures are retried."""

    max_age_s: float = 30 * 24 * 3600.0
    max_deliver: int = 5
    backoff_s: tuple[float, ...] = (1.0, 5.0, 30.0, 60.0)
    duplicate_window_s: float = 3600.0
    batch_size: int = 500
    #: Messages an agency may hold unacknowledged; its client keeps each case in order
    #: (a later event of a case waits while an earlier one is being retried).
    max_ack_pending: int = 256


async def ensure_delivery_stream(
    nc: Client, policy: DeliveryPolicy, *, stream: str, subject_prefix: str, replicas: int = 1
) -> None:
    """Create the delivery stream of the ledger stream ``stream`` if it is missing.

    With authentication only the admin may (``ledger admin init``); the service's attempt
    is refused by the server, which this reports as :class:`StreamMisconfigured`.
    """
    js = nc.jetstream()
    name = delivery_stream(stream)
    try:
        await js.stream_info(name)
        return
    except NotFoundError:
        pass
    try:
        await _add_delivery_stream(js, name, subject_prefix, replicas, policy)
    except nats.errors.TimeoutError as e:
        msg = (
            f"stream {name!r} does not exist and creating it was not answered (only the"
            " admin may create streams: run `ledger admin init`)"
        )
        raise StreamMisconfigured(msg) from e
    log.info("delivery_stream_created", stream=name)


async def _add_delivery_stream(
    js: JetStreamContext, name: str, subject_prefix: str, replicas: int, policy: DeliveryPolicy
) -> None:
    await js.add_stream(
        StreamConfig(
            name=name,
            subjects=[f"{delivery_prefix(subject_prefix)}.>"],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            max_age=policy.max_age_s,
            duplicate_window=policy.duplicate_window_s,
            num_replicas=replicas,
            allow_direct=False,
        )
    )


def delivery_admin_step(
    *, stream: str, subject_prefix: str, replicas: int = 1
) -> Callable[[Client], Awaitable[str]]:
    """The admin's step that makes the delivery stream (a :data:`runtime.bootstrap.AdminStep`):
    given the admin's connection, it creates the stream if missing and returns its name."""

    async def step(nc: Client) -> str:
        await ensure_delivery_stream(
            nc, DeliveryPolicy(), stream=stream, subject_prefix=subject_prefix, replicas=replicas
        )
        return delivery_stream(stream)

    return step


async def ensure_agency_consumer(
    nc: Client, agency: str, policy: DeliveryPolicy, *, stream: str, subject_prefix: str
) -> None:
    """Create (or bring up to date) the agency's durable pull consumer."""
    js = nc.jetstream()
    await js.add_consumer(
        delivery_stream(stream),
        ConsumerConfig(
            durable_name=consumer_name(agency),
            filter_subject=delivery_filter(subject_prefix, agency),
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            max_deliver=policy.max_deliver,
            backoff=list(policy.backoff_s),
            ack_wait=policy.backoff_s[0] if policy.backoff_s else 30.0,
            max_ack_pending=policy.max_ack_pending,
        ),
    )


@contextmanager
def _nats_failures(stream: str) -> Iterator[None]:
    """nats-py's errors as the worker's: a refusal by the stream (an API error) is
    :class:`StreamMisconfigured`, anything else of the connection :class:`LedgerUnavailable`."""
    try:
        yield
    except nats.js.errors.APIError as e:
        msg = (
            f"stream {stream!r} refused a delivery: {e};"
            " rule: the delivery stream takes every delivery"
        )
        raise StreamMisconfigured(msg) from e
    except (nats.errors.Error, OSError) as e:
        msg = f"publishing to stream {stream!r} failed: {e!r}"
        raise LedgerUnavailable(msg) from e


class _Publisher:
    """Publishes a batch to the delivery stream and waits for every acknowledgement.

    Over a synchronous connection of its own (:meth:`SyncWire.requests`: up to
    :data:`_IN_FLIGHT` publishes in one write, then their acks) where the URL allows one;
    over nats-py (gathered ``js.publish``) for ``tls://``. Both send the same subjects and
    headers, ``Nats-Expected-Stream`` included, and both fail the batch as a whole: a
    stream that cannot be reached or does not acknowledge raises
    :class:`LedgerUnavailable` (the worker retries the batch; the duplicate window drops
    what had landed), a stream that refuses a message raises :class:`StreamMisconfigured`.
    The agencies' consumers are made over nats-py, once per agency and process.
    """

    def __init__(
        self, ledger: Ledger, policy: DeliveryPolicy, *, stream: str, subject_prefix: str
    ) -> None:
        self._pool = ledger.recorder.pool  # type: ignore[attr-defined]
        self._timeout: float = ledger.recorder.timeout  # type: ignore[attr-defined]
        self._ledger_stream = stream
        self._subject_prefix = subject_prefix
        self._policy = policy
        self._stream = delivery_stream(stream)
        self._agencies: set[str] = set()
        make: Callable[[], SyncWire] | None = self._pool.reader_wire
        self._wire: SyncWire | None = make() if make is not None else None
        if self._wire is not None:
            self._pool.on_close.append(self._close)

    def _close(self) -> None:
        if self._close in self._pool.on_close:
            self._pool.on_close.remove(self._close)
        if self._wire is not None:
            self._wire.close()

    def __call__(self, outgoing: Sequence[Outgoing]) -> None:
        if self._wire is None:
            with _nats_failures(self._stream):
                self._pool.run(lambda nc: self._publish(nc, outgoing))
            return
        missing = {o.agency for o in outgoing} - self._agencies
        if missing:
            with _nats_failures(self._stream):
                self._pool.run(lambda nc: self._ensure_consumers(nc, missing))
        for start in range(0, len(outgoing), _IN_FLIGHT):
            self._publish_wire(self._wire, outgoing[start : start + _IN_FLIGHT])

    def _publish_wire(self, wire: SyncWire, chunk: Sequence[Outgoing]) -> None:
        expected = {Header.EXPECTED_STREAM.value: self._stream}
        messages = [(o.subject, {**o.headers, **expected}, o.payload) for o in chunk]
        try:
            try:
                replies = wire.requests(messages, self._timeout)
            except WireUnreachable:
                raise
            except WireClosed:
                # Most likely an idle connection the server dropped (this wire is not
                # pinged): once more on a new one. Copies that had landed are dropped by
                # the duplicate window (the message ids are the same).
                replies = wire.requests(messages, self._timeout)
        except WireTimeout as e:
            msg = f"no acknowledgement from stream {self._stream!r} within {self._timeout} s"
            raise LedgerUnavailable(msg) from e
        except WireError as e:
            msg = f"publishing to stream {self._stream!r} failed: {e}"
            raise LedgerUnavailable(msg) from e
        for (subject, _, _), reply in zip(messages, replies, strict=True):
            if reply.status == "503":
                msg = f"no stream {self._stream!r} answers on {subject!r}"
                raise LedgerUnavailable(msg)
            if b'"error"' in reply.data:
                error = json.loads(reply.data).get("error", {})
                msg = (
                    f"stream {self._stream!r} refused a delivery on {subject!r}:"
                    f" {error.get('description', error)!s} (code {error.get('err_code')});"
                    " rule: the delivery stream takes every delivery"
                )
                raise StreamMisconfigured(msg)

    async def _ensure_consumers(self, nc: Client, agencies: set[str]) -> None:
        for agency in sorted(agencies - self._agencies):
            await ensure_agency_consumer(
                nc,
                agency,
                self._policy,
                stream=self._ledger_stream,
                subject_prefix=self._subject_prefix,
            )
            self._agencies.add(agency)

    async def _publish(self, nc: Client, outgoing: Sequence[Outgoing]) -> None:
        await self._ensure_consumers(nc, {o.agency for o in outgoing})
        js = nc.jetstream()
        for start in range(0, len(outgoing), _IN_FLIGHT):
            chunk = outgoing[start : start + _IN_FLIGHT]
            await asyncio.gather(
                *(
                    js.publish(o.subject, o.payload, headers=o.headers, stream=self._stream)
                    for o in chunk
                )
            )


def delivery_runner(
    ledger: Ledger,
    store: ViewStore,
    policy: DeliveryPolicy | None = None,
    *,
    stream: str,
    subject_prefix: str,
    replicas: int = 1,
) -> ViewRunner:
    """A runner that delivers the ledger's case events (of the ledger stream ``stream``,
    subjects under ``subject_prefix``) to the agencies party to each case, its
    challenge events to the agencies of each challenge, and its key events to the agency
    whose key each is."""
    policy = policy or DeliveryPolicy()
    pool = ledger.recorder.pool  # type: ignore[attr-defined]
    pool.run(
        lambda nc: ensure_delivery_stream(
            nc, policy, stream=stream, subject_prefix=subject_prefix, replicas=replicas
        )
    )
    view = DeliveryView(
        store,
        publish=_Publisher(ledger, policy, stream=stream, subject_prefix=subject_prefix),
        subject_prefix=subject_prefix,
    )
    return ViewRunner(ledger, store, [view], batch_size=policy.batch_size)
