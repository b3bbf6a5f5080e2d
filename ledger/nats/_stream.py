"""Async JetStream primitives the ledger needs and nats-py does not offer as such.

* publishing one message or an **atomic batch** (ADR-50: ``Nats-Batch-Id``,
  ``Nats-Batch-Sequence``, ``Nats-Batch-Commit``; nats-py has no batch publisher);
* **direct gets**: one message, the last of a subject, and batches of the next
  messages matching a (wildcard) subject, ended by a ``204 EOB`` status;
* creating and checking the ledger stream.

Acks and API answers are decoded with msgspec. Driver errors are translated into
the ledger's errors here, at the boundary, and chained.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from ledger.errors import LedgerUnavailable, StreamMisconfigured
from ledger.nats._syncwire import Sent, SyncWire, WireError, WireTimeout
from schemas.wire import HDR_PREV_HASH, HDR_SIGNATURE, HDR_TOPIC, HDR_VERSION

__all__ = [
    "HDR_EXPECTED_SUBJECT_SEQ",
    "HDR_MSG_ID",
    "HDR_PREV_HASH",
    "HDR_SIGNATURE",
    "HDR_TOPIC",
    "HDR_VERSION",
    "WRONG_LAST_SEQUENCE",
    "ApiError",
    "OutMsg",
    "PubAck",
    "SentPublish",
    "StoredMsg",
    "direct_get",
    "direct_get_batch",
    "ensure_stream",
    "headers",
    "publish",
    "publish_sync",
    "publish_sync_ack",
    "publish_sync_send",
    "stored",
    "stream_problems",
]

# The ``Ledger-*`` headers are the wire contract's (schemas/wire.py, imported above); the
# ``Nats-*`` ones below are NATS's own contract, which only this adapter speaks.
HDR_MSG_ID: Final = "Nats-Msg-Id"
HDR_EXPECTED_SUBJECT_SEQ: Final = "Nats-Expected-Last-Subject-Sequence"
_HDR_EXPECTED_STREAM: Final = "Nats-Expected-Stream"

#: JetStream error codes for a failed ``Nats-Expected-Last-Subject-Sequence`` check
#: (10071 for a single message, 10164 inside an atomic batch) and for a batch whose
#: message ids were stored before (10201).
WRONG_LAST_SEQUENCE: Final = frozenset({10071, 10164, 10201})


class ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    batch: str = ""
    count: int = 0
    error: ApiError | None = None


_ack_decoder: Final = msgspec.json.Decoder(PubAck)


class _StreamState(msgspec.Struct, frozen=True):
    messages: int = 0
    last_seq: int = 0


class _StreamInfo(msgspec.Struct):
    config: dict[str, Any] = {}
    state: _StreamState = _StreamState()
    error: ApiError | None = None


_info_decoder: Final = msgspec.json.Decoder(_StreamInfo)


@dataclass(frozen=True, slots=True)
class OutMsg:
    """A message to publish, with its final headers (see :func:`headers`)."""

    subject: str
    payload: bytes
    headers: dict[str, str]


def headers(
    stream: str,
    msg_id: str,
    expected_subject_seq: int | None,
    *,
    topic: str,
    version: int,
    prev_hash: str | None = None,
    signature: str | None = None,
) -> dict[str, str]:
    """The headers of one ledger message: its id, the stream it must land in, its topic and
    version, its link in the subject's hash chain and its signature when it has them and,
    on the first message of a subject in a save, the subject's last sequence it expects."""
    h = {
        HDR_MSG_ID: msg_id,
        _HDR_EXPECTED_STREAM: stream,
        HDR_TOPIC: topic,
        HDR_VERSION: str(version),
    }
    if prev_hash is not None:
        h[HDR_PREV_HASH] = prev_hash
    if signature is not None:
        h[HDR_SIGNATURE] = signature
    if expected_subject_seq is not None:
        h[HDR_EXPECTED_SUBJECT_SEQ] = str(expected_subject_seq)
    return h


@dataclass(frozen=True, slots=True)
class StoredMsg:
    """A message read back from the stream."""

    subject: str
    seq: int
    headers: Mapping[str, str]
    data: bytes


def _with_batch_headers(msgs: Sequence[OutMsg]) -> list[tuple[str, dict[str, str], bytes]]:
    """``(subject, headers, payload)`` of each message; several become one atomic batch."""
    if len(msgs) == 1:
        return [(msgs[0].subject, msgs[0].headers, msgs[0].payload)]
    batch_id = uuid.uuid4().hex
    out = []
    for i, m in enumerate(msgs, start=1):
        h = {**m.headers, "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(i)}
        if i == len(msgs):
            h["Nats-Batch-Commit"] = "1"
        out.append((m.subject, h, m.payload))
    return out


def publish_sync(wire: SyncWire, stream: str, msgs: Sequence[OutMsg], timeout: float) -> PubAck:
    """Publish ``msgs`` as one write over the synchronous write path; see :func:`publish`."""
    return publish_sync_ack(wire, stream, publish_sync_send(wire, stream, msgs), timeout)


@dataclass(frozen=True)
class SentPublish:
    """A publish sent by :func:`publish_sync_send`, acknowledged by :func:`publish_sync_ack`."""

    sent: Sent
    subject: str


def publish_sync_send(wire: SyncWire, stream: str, msgs: Sequence[OutMsg]) -> SentPublish:
    """:func:`publish_sync`'s first half: send ``msgs`` and return without waiting, so the
    caller can work while the stream stores them."""
    messages = _with_batch_headers(msgs)
    try:
        return SentPublish(wire.send(messages), messages[-1][0])
    except WireError as e:
        msg = f"publishing to stream {stream!r} failed: {e}"
        raise LedgerUnavailable(msg) from e


def publish_sync_ack(wire: SyncWire, stream: str, sent: SentPublish, timeout: float) -> PubAck:
    """:func:`publish_sync`'s second half: the stream's ack of ``sent``."""
    try:
        reply = wire.reply(sent.sent, timeout)
    except WireTimeout as e:
        msg = f"no acknowledgement from stream {stream!r} within {timeout} s"
        raise LedgerUnavailable(msg) from e
    except WireError as e:
        msg = f"publishing to stream {stream!r} failed: {e}"
        raise LedgerUnavailable(msg) from e
    if reply.status == "503":
        msg = f"no stream {stream!r} answers on {sent.subject!r}"
        raise LedgerUnavailable(msg)
    return _ack_decoder.decode(reply.data)


async def publish(nc: Client, stream: str, msgs: Sequence[OutMsg], timeout: float) -> PubAck:
    """Publish ``msgs`` as one write: a plain publish for one, an atomic batch for more.

    Returns the ack (``seq`` is the last message's sequence); an ack with
    ``error`` set is returned, not raised, so the caller can resolve conflicts.
    Raises :class:`LedgerUnavailable` when no ack arrives. (The write path uses
    :func:`publish_sync` where it can; this serves ``tls://`` URLs.)
    """
    *before, (subject, headers, payload) = _with_batch_headers(msgs)
    try:
        for s, h, p in before:
            await nc.publish(s, p, headers=h)
        reply = await nc.request(subject, payload, timeout=timeout, headers=headers)
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as e:
        msg = f"no acknowledgement from stream {stream!r} within {timeout} s"
        raise LedgerUnavailable(msg) from e
    except nats.errors.NoRespondersError as e:
        msg = f"no stream {stream!r} answers on {subject!r}"
        raise LedgerUnavailable(msg) from e
    except (nats.errors.Error, OSError) as e:
        msg = f"publishing to stream {stream!r} failed: {e!r}"
        raise LedgerUnavailable(msg) from e
    return _ack_decoder.decode(reply.data)


async def api(nc: Client, subject: str, body: Mapping[str, Any] | None, timeout: float) -> bytes:
    """A JetStream API request; returns the raw JSON answer."""
    payload = json.dumps(body).encode() if body is not None else b""
    try:
        reply = await nc.request(subject, payload, timeout=timeout)
    except nats.errors.Error as e:
        msg = f"JetStream API {subject!r} did not answer: {e!r}"
        raise LedgerUnavailable(msg) from e
    return bytes(reply.data)


def stored(msg: Msg) -> StoredMsg:
    """A direct get's answer as a :class:`StoredMsg` (subject and sequence from its headers)."""
    headers = msg.headers or {}
    return StoredMsg(
        subject=headers.get("Nats-Subject", ""),
        seq=int(headers.get("Nats-Sequence", "0")),
        headers=headers,
        data=bytes(msg.data),
    )


async def direct_get(
    nc: Client, stream: str, request: Mapping[str, Any], timeout: float
) -> StoredMsg | None:
    """One message by ``{"seq": n}`` or ``{"last_by_subj": s}``; ``None`` if there is none."""
    try:
        reply = await nc.request(
            f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), timeout=timeout
        )
    except nats.errors.NoRespondersError as e:
        msg = f"stream {stream!r} does not exist or does not allow direct gets"
        raise LedgerUnavailable(msg) from e
    except nats.errors.Error as e:
        msg = f"direct get on stream {stream!r} failed: {e!r}"
        raise LedgerUnavailable(msg) from e
    status = (reply.headers or {}).get("Status")
    if status == "404":
        return None
    if status:
        msg = f"direct get on stream {stream!r} answered status {status}"
        raise LedgerUnavailable(msg)
    return stored(reply)


async def direct_get_batch(
    nc: Client,
    stream: str,
    subject: str,
    start_seq: int,
    batch: int,
    timeout: float,
    *,
    start_time: str | None = None,
) -> tuple[list[StoredMsg], int]:
    """Up to ``batch`` messages matching ``subject`` from ``start_seq`` on (or, with
    ``start_time``, an RFC 3339 instant, from the first stored at or after it), and how
    many remain."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    out: list[StoredMsg] = []
    pending = 0
    start: dict[str, Any] = (
        {"seq": max(start_seq, 1)} if start_time is None else {"start_time": start_time}
    )
    try:
        await nc.publish(
            f"$JS.API.DIRECT.GET.{stream}",
            json.dumps({**start, "batch": batch, "next_by_subj": subject}).encode(),
            reply=inbox,
        )
        while True:
            msg = await sub.next_msg(timeout=timeout)
            headers = msg.headers or {}
            status = headers.get("Status")
            if status == "204":  # end of batch
                pending = int(headers.get("Nats-Num-Pending", "0"))
                break
            if status == "404":  # nothing at or after start_seq
                break
            if status:
                err = f"direct get on stream {stream!r} answered status {status}"
                raise LedgerUnavailable(err)
            out.append(stored(msg))
    except nats.errors.Error as e:
        msg_ = f"batched direct get on stream {stream!r} failed: {e!r}"
        raise LedgerUnavailable(msg_) from e
    finally:
        await sub.unsubscribe()
    return out, pending


#: Stream settings that would let the stream lose, rewrite or leak history, each with the
#: value the ledger needs (``None``: unset or empty) and why. A missing key is the
#: server's default, which is what the ledger needs.
_UNLIMITED: Final = "unlimited (-1 or 0)"
_GUARANTEES: Final[tuple[tuple[str, object, str], ...]] = (
    ("retention", "limits", "interest or work-queue retention deletes consumed messages"),
    ("storage", "file", "memory storage loses the history when the server stops"),
    ("max_msgs", _UNLIMITED, "a message limit drops the oldest events"),
    ("max_bytes", _UNLIMITED, "a size limit drops the oldest events"),
    ("max_age", _UNLIMITED, "an age limit drops events once they are old enough"),
    ("max_msgs_per_subject", _UNLIMITED, "a per-subject limit drops a case's earlier events"),
    ("discard_new_per_subject", False, "it goes with a per-subject limit"),
    ("allow_msg_ttl", False, "a per-message TTL header lets a writer make an event expire"),
    ("subject_delete_marker_ttl", _UNLIMITED, "it goes with per-message TTLs"),
    ("allow_rollup_hdrs", False, "a rollup header lets a writer purge a subject's history"),
    ("deny_delete", True, "deleting a message must be refused by the server"),
    ("deny_purge", True, "purging must be refused by the server"),
    ("allow_atomic", True, "a save of several events is one atomic batch"),
    ("allow_direct", True, "the ledger reads by direct gets"),
    ("sealed", False, "a sealed stream takes no writes"),
    ("no_ack", False, "the ledger waits for each write's acknowledgement"),
    ("mirror", None, "a mirror's history is another stream's, which it follows"),
    ("sources", None, "sourced messages would be written into the ledger by another stream"),
    ("subject_transform", None, "a transform rewrites the subjects events are stored under"),
    ("republish", None, "republishing copies every event to other subjects"),
    ("allow_msg_counter", False, "counter messages are summed, not kept as events"),
    ("allow_msg_schedules", False, "scheduled messages are written by the server, not the ledger"),
)


def stream_problems(
    config: Mapping[str, Any], subjects: Sequence[str], *, duplicate_window_s: float = 0.0
) -> list[str]:
    """Each setting of a stream's configuration (as ``STREAM.INFO`` reports it) that
    breaks the ledger's guarantees, named with what the ledger needs and why.

    ``duplicate_window_s`` is the shortest duplicate window the ledger accepts: a save
    retried after a lost acknowledgement is recognised by its message ids only within it.
    """
    problems = []
    window_ns = config.get("duplicate_window") or 0
    if isinstance(window_ns, int) and window_ns < duplicate_window_s * 1_000_000_000:
        problems.append(
            f"duplicate_window is {window_ns / 1e9:g} s, the ledger needs at least "
            f"{duplicate_window_s:g} s (a save retried after a lost acknowledgement is "
            "recognised by its message ids only within it, else it is stored twice)"
        )
    for key, want, why in _GUARANTEES:
        have = config.get(key)
        if want == _UNLIMITED:
            ok = have is None or (isinstance(have, int) and have <= 0)
        elif want is None:
            ok = not have
        elif isinstance(want, bool):
            ok = bool(have) == want
        else:
            ok = have is None or have == want
        if not ok:
            problems.append(f"{key} is {have!r}, the ledger needs {want} ({why})")
    if not set(subjects) <= set(config.get("subjects") or []):
        problems.append(f"subjects are {config.get('subjects')!r}, the ledger needs {subjects!r}")
    return problems


async def ensure_stream(
    nc: Client,
    *,
    name: str,
    subjects: list[str],
    replicas: int,
    duplicate_window_s: float,
    create: bool,
    timeout: float,
) -> None:
    """Create the ledger stream if it is missing; refuse one that could lose history.

    An existing stream is checked setting by setting (:func:`stream_problems`): a limit
    that could drop events, a header that lets a writer expire or roll up a subject, a
    delete or purge that the server would allow, or a source of events other than the
    ledger's own writes raises :class:`StreamMisconfigured` naming every one of them.
    """
    raw = await api(nc, f"$JS.API.STREAM.INFO.{name}", None, timeout)
    info = _info_decoder.decode(raw)
    if info.error is None:
        problems = stream_problems(info.config, subjects, duplicate_window_s=duplicate_window_s)
        if problems:
            msg = f"stream {name!r} exists but " + "; ".join(problems)
            raise StreamMisconfigured(msg)
        return
    if info.error.err_code != 10059:  # 10059: stream not found
        msg = f"stream {name!r}: {info.error.description}"
        raise LedgerUnavailable(msg)
    if not create:
        msg = (
            f"stream {name!r} does not exist and this user may not create it (the admin"
            " creates it: run `ledger admin init`)"
        )
        raise StreamMisconfigured(msg)
    config = {
        "name": name,
        "subjects": subjects,
        "retention": "limits",
        "storage": "file",
        "num_replicas": replicas,
        "discard": "old",
        "deny_delete": True,
        "deny_purge": True,
        "allow_direct": True,
        "allow_atomic": True,
        "duplicate_window": int(duplicate_window_s * 1_000_000_000),
    }
    raw = await api(nc, f"$JS.API.STREAM.CREATE.{name}", config, timeout)
    created = _info_decoder.decode(raw)
    if created.error is not None and created.error.err_code != 10058:  # 10058: already in use
        msg = f"could not create stream {name!r}: {created.error.description}"
        raise StreamMisconfigured(msg)
    if created.error is not None:  # created meanwhile by someone else: check theirs
        await ensure_stream(
            nc,
            name=name,
            subjects=subjects,
            replicas=replicas,
            duplicate_window_s=duplicate_window_s,
            create=False,
            timeout=timeout,
        )
