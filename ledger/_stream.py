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

import asyncio
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

__all__ = [
    "HDR_MSG_ID",
    "HDR_PREV_HASH",
    "HDR_SIGNATURE",
    "HDR_TOPIC",
    "HDR_VERSION",
    "WRONG_LAST_SEQUENCE",
    "ApiError",
    "OutMsg",
    "PubAck",
    "StoredMsg",
    "direct_get",
    "direct_get_batch",
    "ensure_stream",
    "headers",
    "publish",
]

HDR_TOPIC: Final = "Ledger-Topic"
HDR_VERSION: Final = "Ledger-Version"
#: Reserved for the proofs to come: the hash of the previous event on the
#: subject, and the recording agency's signature over this one.
HDR_PREV_HASH: Final = "Ledger-Prev-Hash"
HDR_SIGNATURE: Final = "Ledger-Signature"
HDR_MSG_ID: Final = "Nats-Msg-Id"
_HDR_EXPECTED_SUBJECT_SEQ: Final = "Nats-Expected-Last-Subject-Sequence"
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
    stream: str, msg_id: str, expected_subject_seq: int | None, **extra: str
) -> dict[str, str]:
    """The headers of one ledger message: its id, the stream it must land in and, on the
    first message of a subject in a save, the subject's last sequence it expects."""
    h = {HDR_MSG_ID: msg_id, _HDR_EXPECTED_STREAM: stream, **extra}
    if expected_subject_seq is not None:
        h[_HDR_EXPECTED_SUBJECT_SEQ] = str(expected_subject_seq)
    return h


@dataclass(frozen=True, slots=True)
class StoredMsg:
    """A message read back from the stream."""

    subject: str
    seq: int
    headers: Mapping[str, str]
    data: bytes


def _hpub(subject: str, reply: str, headers: Mapping[str, str], payload: bytes) -> bytes:
    """One ``HPUB`` protocol command. Header names and values are the ledger's own
    (tags, ids, numbers), never free text, so they hold no CR or LF."""
    head = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    hdr = head.encode()
    return b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
        subject.encode(),
        reply.encode(),
        len(hdr),
        len(hdr) + len(payload),
        hdr,
        payload,
    )


class _Wire:
    """A publish-and-wait-for-the-ack path with fewer event-loop turns than ``nc.request``.

    ``nc.request`` queues the command for nats-py's flusher task and wraps the reply
    future in ``asyncio.wait_for``: two or three extra loop iterations a call, which
    measured as ~40 % of a sequential publish from a synchronous caller (see
    docs/architecture.md). This writes the command to the connection's transport at
    once (after anything nats-py already has pending, so order is kept) and waits on
    nats-py's own muxed reply subscription. It relies on four private attributes of
    nats-py 2.16 (``_transport``, ``_pending``, ``_resp_map``, ``_resp_sub_prefix``);
    ``supported`` checks them, and callers fall back to ``nc.request`` without them.
    """

    @staticmethod
    def supported(nc: Client) -> bool:
        return all(hasattr(nc, a) for a in ("_transport", "_pending", "_resp_map"))

    @staticmethod
    async def reply_prefix(nc: Client) -> str:
        if not nc._resp_sub_prefix:
            await nc._init_request_sub()
            await nc.flush(timeout=5)  # the reply subscription is in place before we write
        return bytes(nc._resp_sub_prefix).decode()

    @staticmethod
    def write(nc: Client, data: bytes) -> None:
        if not nc.is_connected:
            raise nats.errors.ConnectionClosedError
        if nc._pending_data_size > 0:  # keep nats-py's own queued commands first
            nc._transport.writelines(nc._pending[:])
            nc._pending = []
            nc._pending_data_size = 0
        nc._transport.write(data)

    @staticmethod
    async def request(
        nc: Client, subject: str, headers: Mapping[str, str], payload: bytes, timeout: float
    ) -> bytes:
        prefix = await _Wire.reply_prefix(nc)
        token = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        nc._resp_map[token] = future
        timer = loop.call_later(timeout, future.cancel)
        try:
            _Wire.write(nc, _hpub(subject, prefix + token, headers, payload))
            msg = await future
        except asyncio.CancelledError:
            if future.cancelled() and not timer.cancelled():
                raise nats.errors.TimeoutError from None
            raise
        finally:
            timer.cancel()
            nc._resp_map.pop(token, None)
        if not msg.data and (msg.headers or {}).get("Status") == "503":
            raise nats.errors.NoRespondersError
        return bytes(msg.data)


async def publish(nc: Client, stream: str, msgs: Sequence[OutMsg], timeout: float) -> PubAck:
    """Publish ``msgs`` as one write: a plain publish for one, an atomic batch for more.

    Returns the ack (``seq`` is the last message's sequence); an ack with
    ``error`` set is returned, not raised, so the caller can resolve conflicts.
    Raises :class:`LedgerUnavailable` when no ack arrives.
    """
    fast = _Wire.supported(nc)
    try:
        last = len(msgs) - 1
        batch_id = uuid.uuid4().hex if last else ""
        for i, m in enumerate(msgs):
            h = m.headers
            if batch_id:
                h = {**h, "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(i + 1)}
                if i == last:
                    h["Nats-Batch-Commit"] = "1"
            if i < last:
                if fast:
                    _Wire.write(nc, _hpub(m.subject, "", h, m.payload))
                else:
                    await nc.publish(m.subject, m.payload, headers=h)
            elif fast:
                data = await _Wire.request(nc, m.subject, h, m.payload, timeout)
            else:
                data = (await nc.request(m.subject, m.payload, timeout=timeout, headers=h)).data
    except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as e:
        msg = f"no acknowledgement from stream {stream!r} within {timeout} s"
        raise LedgerUnavailable(msg) from e
    except nats.errors.NoRespondersError as e:
        msg = f"no stream {stream!r} answers on {msgs[0].subject!r}"
        raise LedgerUnavailable(msg) from e
    except (nats.errors.Error, OSError) as e:
        msg = f"publishing to stream {stream!r} failed: {e!r}"
        raise LedgerUnavailable(msg) from e
    return _ack_decoder.decode(data)


async def api(nc: Client, subject: str, body: Mapping[str, Any] | None, timeout: float) -> bytes:
    """A JetStream API request; returns the raw JSON answer."""
    payload = json.dumps(body).encode() if body is not None else b""
    try:
        reply = await nc.request(subject, payload, timeout=timeout)
    except nats.errors.Error as e:
        msg = f"JetStream API {subject!r} did not answer: {e!r}"
        raise LedgerUnavailable(msg) from e
    return bytes(reply.data)


def _stored(msg: Msg) -> StoredMsg:
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
    return _stored(reply)


async def direct_get_batch(
    nc: Client, stream: str, subject: str, start_seq: int, batch: int, timeout: float
) -> tuple[list[StoredMsg], int]:
    """Up to ``batch`` messages matching ``subject`` from ``start_seq`` on, and how many remain."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    out: list[StoredMsg] = []
    pending = 0
    try:
        await nc.publish(
            f"$JS.API.DIRECT.GET.{stream}",
            json.dumps(
                {"seq": max(start_seq, 1), "batch": batch, "next_by_subj": subject}
            ).encode(),
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
            out.append(_stored(msg))
    except nats.errors.Error as e:
        msg_ = f"batched direct get on stream {stream!r} failed: {e!r}"
        raise LedgerUnavailable(msg_) from e
    finally:
        await sub.unsubscribe()
    return out, pending


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
    """Create the ledger stream if it is missing; refuse one that breaks the guarantees."""
    raw = await api(nc, f"$JS.API.STREAM.INFO.{name}", None, timeout)
    info = _info_decoder.decode(raw)
    if info.error is None:
        cfg = info.config
        problems = [
            f"{key} is {cfg.get(key)!r}, the ledger needs {want!r}"
            for key, want in (("deny_delete", True), ("deny_purge", True), ("allow_atomic", True))
            if cfg.get(key) != want
        ]
        if not set(subjects) <= set(cfg.get("subjects") or []):
            problems.append(f"subjects are {cfg.get('subjects')!r}, the ledger needs {subjects!r}")
        if problems:
            msg = f"stream {name!r} exists but " + "; ".join(problems)
            raise StreamMisconfigured(msg)
        return
    if info.error.err_code != 10059:  # 10059: stream not found
        msg = f"stream {name!r}: {info.error.description}"
        raise LedgerUnavailable(msg)
    if not create:
        msg = f"stream {name!r} does not exist and creating it is switched off"
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
