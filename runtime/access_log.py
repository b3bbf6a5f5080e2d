"""The access log: every read of a case's chronology, recorded where nobody can alter it.

Reading a child's record is accountable too. :meth:`AccessLog.record` publishes one
:class:`~schemas.access.ChronologyRead` (who read, which case, when, as of when) to the
access stream and returns once the stream has acknowledged it, with its sequence;
:meth:`AccessLog.entries` reads them back for a board, filtered by subject (a
partnership, a case) and paged by sequence.

The access stream (``<stream>_ACCESS``, subjects ``<prefix>-access.<partnership>.<case>``:
:mod:`schemas.wire`) is made like the ledger stream and checked by the same rules
(:func:`ledger.nats.ensure_stream`): file storage, no limits, ``deny_delete`` and
``deny_purge``. So it survives a rebuild of the views (it is not in the view store),
serves every ``ledger serve`` process on one NATS (it is not a local file), and the
service user may only publish to its subjects and read it (``runtime/access.py``). With
authentication the admin creates it (:func:`access_admin_step`, run by
``ledger admin init`` and the embedded server's first start); without, the service does.

It rides on the ledger's own NATS connections: the persistence module's driver pool,
each call borrowed and run on the calling thread (docs/architecture.md, "Sync meets
asyncio"). A record is published as the ledger's writes are, over the driver's
synchronous wire (one write and one blocking wait for the ack, no event loop: a third of
nats-py's time, and the fewest hand-overs of the GIL while a read is answered beside
it), and through nats-py where there is no wire (``tls://``). Called from an async
handler, a call hops to a helper thread: run it in a worker thread
(``anyio.to_thread``) instead.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, TypeVar

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client

from ledger.application import Ledger
from ledger.errors import CorruptHistory, LedgerUnavailable
from ledger.nats import (
    HDR_MSG_ID,
    Driver,
    OutMsg,
    PubAck,
    SentPublish,
    StoredMsg,
    SyncWire,
    WireTimeout,
    direct_get_batch,
    publish_sync,
    publish_sync_ack,
    publish_sync_send,
)
from runtime._side_streams import ensure_side_stream, nats_pool
from schemas.access import (
    AccessEntry,
    ChronologyRead,
    decode_access_record,
    encode_access_record,
)
from schemas.errors import LedgerError
from schemas.wire import access_filter, access_prefix, access_stream, access_subject, is_identifier

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "AccessLog",
    "InvalidAccessQuery",
    "InvalidAccessRecord",
    "PendingRecord",
    "access_admin_step",
    "ensure_access_stream",
]

log = structlog.get_logger()

T = TypeVar("T")

#: Entries in one page unless asked otherwise, and at most.
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
#: Messages asked for per batched direct get while paging.
_BATCH: Final = 256
#: How far the service's clock may run ahead of the NATS server's: ``since`` starts the
#: scan at the server's stamp this much earlier, then filters on ``read_at``.
_CLOCK_MARGIN: Final = timedelta(hours=1)
#: Tries of one record whose acknowledgement did not come (same message id each time).
_TRIES: Final = 3
#: The stream a record must land in (JetStream refuses it if another stream captures it).
_HDR_EXPECTED_STREAM: Final = "Nats-Expected-Stream"


class InvalidAccessRecord(LedgerError, ValueError):
    """Raised when a read to record names a bad partnership, case, query, role, agency or
    token, or a naive ``as_of``."""

    def __init__(self, message: str, *, field: str | None) -> None:
        super().__init__(message)
        self.field = field


class InvalidAccessQuery(LedgerError, ValueError):
    """Raised when the access log is asked with a bad partnership, case, instant, cursor or
    limit."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class _Pool(Protocol):
    """What the access log needs of the persistence module's driver pool."""

    def run(self, fn: Callable[[Client], Coroutine[Any, Any, T]]) -> T: ...

    def borrow(self) -> AbstractContextManager[Driver]: ...


async def ensure_access_stream(
    nc: Client,
    *,
    stream: str,
    subject_prefix: str,
    replicas: int = 1,
    create: bool,
    timeout: float = 10.0,
) -> str:
    """Create the access stream of the ledger stream ``stream`` if missing (with
    ``create``), and refuse one that could lose a record with
    :class:`~ledger.errors.StreamMisconfigured`, as the ledger stream is. Returns its name."""
    return await ensure_side_stream(
        nc,
        name=access_stream(stream),
        subject_space=access_prefix(subject_prefix),
        replicas=replicas,
        create=create,
        timeout=timeout,
    )


def access_admin_step(
    *, stream: str, subject_prefix: str, replicas: int = 1
) -> Callable[[Client], Coroutine[Any, Any, str]]:
    """The admin's step that makes the access stream (a :data:`runtime.bootstrap.AdminStep`)."""

    async def step(nc: Client) -> str:
        return await ensure_access_stream(
            nc, stream=stream, subject_prefix=subject_prefix, replicas=replicas, create=True
        )

    return step


class AccessLog:
    """Records reads of chronologies on the access stream and reads them back."""

    def __init__(
        self,
        pool: _Pool,
        *,
        stream: str,
        subject_prefix: str,
        timeout: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._ledger_stream = stream
        self._stream = access_stream(stream)
        self._prefix = subject_prefix
        self._timeout = timeout
        self._clock = clock

    @classmethod
    def of(
        cls, ledger: Ledger, *, stream: str, subject_prefix: str, timeout: float = 5.0
    ) -> AccessLog:
        """The access log beside ``ledger``'s stream, on the ledger's own NATS connections."""
        pool = nats_pool(ledger, "the access log")
        return cls(pool, stream=stream, subject_prefix=subject_prefix, timeout=timeout)

    @property
    def stream(self) -> str:
        """The access stream's name."""
        return self._stream

    def check(self, *, create: bool, replicas: int = 1) -> None:
        """Check the access stream (creating it first with ``create``): raises
        :class:`~ledger.errors.StreamMisconfigured` if it is missing or could lose a record."""
        self._pool.run(
            lambda nc: ensure_access_stream(
                nc,
                stream=self._ledger_stream,
                subject_prefix=self._prefix,
                replicas=replicas,
                create=create,
                timeout=self._timeout,
            )
        )

    # -- writing --------------------------------------------------------------------

    def record(
        self,
        *,
        partnership: str,
        case: str,
        query: str,
        role: str,
        agency: str | None,
        token: str,
        as_of: datetime | None,
    ) -> int:
        """Record that ``token`` (``role``, ``agency``) read ``case``'s chronology through
        ``query`` as of ``as_of`` (None: now), stamped with the service's clock.

        Returns the record's sequence in the access stream once it is stored. Raises
        :class:`InvalidAccessRecord` for a bad value and
        :class:`~ledger.errors.LedgerUnavailable` when it cannot be stored: the caller
        must then not answer the read.
        """
        return self.begin(
            partnership=partnership,
            case=case,
            query=query,
            role=role,
            agency=agency,
            token=token,
            as_of=as_of,
        ).wait()

    def begin(
        self,
        *,
        partnership: str,
        case: str,
        query: str,
        role: str,
        agency: str | None,
        token: str,
        as_of: datetime | None,
    ) -> PendingRecord:
        """:meth:`record` in two halves: send the record now and return, so the caller can
        go on with its read while the stream stores it; :meth:`PendingRecord.wait` (always
        called: it reads the acknowledgement the shared wire holds for it) returns its
        sequence once stored, or raises as :meth:`record` does. A bad value raises here."""
        fields = {
            "partnership": partnership,
            "case": case,
            "query": query,
            "role": role,
            "agency": agency,
            "token": token,
            "read_at": self._clock().astimezone(UTC),
            "as_of": None if as_of is None else _aware(as_of, "as_of").astimezone(UTC),
        }
        try:
            record = msgspec.convert(fields, ChronologyRead)
        except msgspec.ValidationError as error:
            path = str(error).rpartition("at `$.")[2].rstrip("`") or None
            msg = f"access record not recorded: {error}; rule: the fields of ChronologyRead"
            raise InvalidAccessRecord(msg, field=path) from None
        return PendingRecord(self, record)

    def _out(self, subject: str, payload: bytes, msg_id: str) -> OutMsg:
        headers = {HDR_MSG_ID: msg_id, _HDR_EXPECTED_STREAM: self._stream}
        return OutMsg(subject=subject, payload=payload, headers=headers)

    def _publish_sync(
        self, driver: Driver, subject: str, payload: bytes, msg_id: str, tries: int = _TRIES
    ) -> int:
        assert driver.wire is not None
        out = self._out(subject, payload, msg_id)
        for attempt in range(1, tries + 1):
            try:
                ack = publish_sync(driver.wire, self._stream, [out], self._timeout)
            except LedgerUnavailable as error:
                if attempt < tries and isinstance(error.__cause__, WireTimeout):
                    continue
                msg = f"recording to the access stream {self._stream!r} failed: {error}"
                raise LedgerUnavailable(msg) from error
            return self._stored(ack)
        raise AssertionError("unreachable")  # pragma: no cover

    def _stored(self, ack: PubAck) -> int:
        """The sequence of an acknowledged record; a refusal raises."""
        if ack.error is not None:
            msg = (
                f"the access stream {self._stream!r} refused a record:"
                f" {ack.error.description} ({ack.error.err_code})"
            )
            raise LedgerUnavailable(msg)
        return ack.seq

    async def _publish(self, nc: Client, subject: str, payload: bytes, msg_id: str) -> int:
        js = nc.jetstream(timeout=self._timeout)
        for attempt in range(1, _TRIES + 1):
            try:
                ack = await js.publish(
                    subject, payload, stream=self._stream, headers={HDR_MSG_ID: msg_id}
                )
            except nats.errors.TimeoutError as error:
                if attempt < _TRIES:
                    continue
                msg = f"the access stream {self._stream!r} did not acknowledge a record"
                raise LedgerUnavailable(msg) from error
            except (nats.errors.Error, OSError) as error:
                msg = f"recording to the access stream {self._stream!r} failed: {error!r}"
                raise LedgerUnavailable(msg) from error
            return int(ack.seq)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reading --------------------------------------------------------------------

    def entries(
        self,
        partnership: str,
        *,
        case: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[AccessEntry]:
        """The partnership's recorded reads (of ``case`` only, if given), read at or after
        ``since`` and at or before ``until``, in stream order after sequence ``after``;
        at most ``limit``. The last entry's ``sequence`` is the next page's ``after``.
        """
        _check_query(partnership, case, since, until, after, limit)
        subject = access_filter(self._prefix, partnership, case)
        start = (after or 0) + 1
        # Without a cursor, ``since`` skips the older records by the server's own stamp,
        # less a margin for the service's clock running ahead of the server's.
        start_time = None if since is None or after is not None else since - _CLOCK_MARGIN
        found: list[AccessEntry] = []
        while len(found) < limit:
            msgs, pending = self._page(subject, start, start_time)
            start_time = None
            for stored in msgs:
                record = self._decode(stored.data, stored.seq)
                if (since is not None and record.read_at < since) or (
                    until is not None and record.read_at > until
                ):
                    continue
                found.append(AccessEntry(**msgspec.structs.asdict(record), sequence=stored.seq))
                if len(found) == limit:
                    break
            if not msgs or pending == 0:
                break
            start = msgs[-1].seq + 1
        return found

    def _page(
        self, subject: str, start: int, start_time: datetime | None
    ) -> tuple[list[StoredMsg], int]:
        """Up to a batch of the messages on ``subject`` from sequence ``start`` (or from
        ``start_time``), and how many remain."""
        at = None if start_time is None else start_time.astimezone(UTC).isoformat()
        return self._pool.run(
            lambda nc: direct_get_batch(
                nc, self._stream, subject, start, _BATCH, self._timeout, start_time=at
            )
        )

    def _decode(self, data: bytes, seq: int) -> ChronologyRead:
        try:
            return decode_access_record(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            log.critical("access_record_unreadable", stream=self._stream, seq=seq)
            msg = (
                f"message {seq} of the access stream {self._stream!r} is not a ChronologyRead;"
                " rule: only the service writes the access stream"
            )
            raise CorruptHistory(msg) from None


class PendingRecord:
    """A record that :meth:`AccessLog.begin` sent. Over the synchronous wire it is
    published at once (its ack read by :meth:`wait`, tried again as :meth:`AccessLog.record`
    tries on a timeout, with the same message id); over nats-py (``tls://``) it is
    published by :meth:`wait`. It holds no connection of the pool in between (the wire is
    the process's one, shared by every thread): a read that waits for another connection
    meanwhile (a Merkle log page) cannot starve the pool."""

    def __init__(self, log: AccessLog, record: ChronologyRead) -> None:
        self._log = log
        self._record = record
        self._subject = access_subject(log._prefix, record.partnership, record.case)
        self._payload = encode_access_record(record)
        self._msg_id = uuid.uuid4().hex
        with log._pool.borrow() as driver:
            self._wire = driver.wire
        self._sent: SentPublish | None = None
        self._done = False
        if self._wire is not None:
            out = log._out(self._subject, self._payload, self._msg_id)
            # A send that fails is tried again, on a new connection, by wait().
            with contextlib.suppress(LedgerUnavailable):
                self._sent = publish_sync_send(self._wire, log.stream, [out])

    def wait(self) -> int:
        """The record's sequence once the access stream has stored it (see
        :meth:`AccessLog.record` for what it raises); called once."""
        if self._done:
            raise RuntimeError("a pending record is waited for once")
        self._done = True
        wire, sent = self._wire, self._sent
        if wire is not None and sent is not None:
            seq = self._acknowledged(wire, sent)
        else:
            seq = self._publish()
        record = self._record
        log.info(
            "chronology_read_recorded",
            partnership=record.partnership,
            role=record.role,
            agency=record.agency,
            token=record.token,
            seq=seq,
        )
        return seq

    def _publish(self, tries: int = _TRIES) -> int:
        """Publish the record whole, on a connection of the pool."""
        log_ = self._log
        with log_._pool.borrow() as driver:
            if driver.wire is not None:
                return log_._publish_sync(driver, self._subject, self._payload, self._msg_id, tries)
            return driver.run(log_._publish(driver.nc, self._subject, self._payload, self._msg_id))

    def _acknowledged(self, wire: SyncWire, sent: SentPublish) -> int:
        log_ = self._log
        try:
            ack = publish_sync_ack(wire, log_.stream, sent, log_._timeout)
        except LedgerUnavailable as error:
            if isinstance(error.__cause__, WireTimeout):
                return self._publish(_TRIES - 1)
            msg = f"recording to the access stream {log_.stream!r} failed: {error}"
            raise LedgerUnavailable(msg) from error
        return log_._stored(ack)


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{field} is a naive datetime; rule: an instant carries its UTC offset"
        raise InvalidAccessRecord(msg, field=field)
    return value


def _check_query(
    partnership: str,
    case: str | None,
    since: datetime | None,
    until: datetime | None,
    after: int | None,
    limit: int,
) -> None:
    """Refuse a bad argument with :class:`InvalidAccessQuery` naming it and its rule."""
    identifiers = (("partnership", partnership), ("case", case))
    for field, value in identifiers:
        if value is not None and not (isinstance(value, str) and is_identifier(value)):
            msg = f"{field} is not an identifier; rule: 1-64 of a-z, 0-9, '-', '_'"
            raise InvalidAccessQuery(msg, field=field)
    for field, instant in (("since", since), ("until", until)):
        if instant is not None and (
            not isinstance(instant, datetime) or instant.utcoffset() is None
        ):
            msg = f"{field} is not an aware datetime; rule: an instant carries its UTC offset"
            raise InvalidAccessQuery(msg, field=field)
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        msg = "after is not a stream sequence; rule: an integer from 0"
        raise InvalidAccessQuery(msg, field="after")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        msg = f"limit is out of range; rule: an integer from 1 to {MAX_LIMIT}"
        raise InvalidAccessQuery(msg, field="limit")
