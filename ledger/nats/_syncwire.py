"""A synchronous NATS publisher for the ledger's write path.

Why hand-written: a save is one publish and one wait for the stream's ack, made
by a synchronous caller (eventsourcing). Through nats-py that round trip costs
~260 µs on these machines, most of it asyncio's turns (flusher task, reader
task, subscription task, the caller's own task); over a blocking socket it costs
~95 µs (measured side by side: 10,000-11,000/s against 3,800/s). nats-py has no
synchronous client, and no maintained synchronous NATS client exists on PyPI.
So this module speaks just enough of the client protocol to publish and wait for
a reply: ``INFO``/``CONNECT``, ``SUB`` on one reply inbox, ``HPUB``, and reading
``MSG``/``HMSG``, ``PING``/``PONG``, ``+OK``/``-ERR``, ``INFO``. Everything else
(consumers, stream management, most reads) stays on nats-py.

The delivery worker publishes over it too (:meth:`SyncWire.requests`: a batch of
publishes in one write, each acknowledged), on a wire of its own: ~215 µs of CPU a message
through nats-py's gathered ``js.publish`` where this costs a fraction of that.

One read uses it too: :meth:`SyncWire.replies`, a request answered by many messages (a
batched direct get), on a wire of one reader's own. The checkpointer hashes every
message of the stream, and nats-py's path (parser, message object, header dict,
subscription queue and task) costs it ~35 µs a message where this one costs ~10
(:func:`ledger.nats._reader.read_leaves`).

One connection serves every thread of a process: their requests are pipelined
on it, which is what lets concurrent writers approach a pipelined raw publisher.
Any I/O failure closes it and fails the requests waiting on it; the next call
reconnects. The pool's keep-alive pings it while idle so the server keeps it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import select
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

__all__ = [
    "Sent",
    "SyncWire",
    "WireClosed",
    "WireError",
    "WireReply",
    "WireTimeout",
    "WireUnreachable",
]

_CRLF: Final = b"\r\n"
_VERSION: Final = "0.1.0"


class WireError(Exception):
    """The server answered ``-ERR`` or broke the protocol."""


class WireClosed(WireError):
    """The connection is gone (refused, reset, closed by the server)."""


class WireUnreachable(WireClosed):
    """No connection could be made: nothing of the request was sent."""


class WireTimeout(WireError):
    """No reply within the timeout; the connection was closed."""


class _Slot:
    """Where a reader leaves a waiting request's reply (or the error that ended it)."""

    __slots__ = ("conn", "error", "reply")

    def __init__(self, conn: _Conn) -> None:
        self.conn = conn
        self.reply: WireReply | None = None
        self.error: WireError | None = None

    @property
    def done(self) -> bool:
        return self.reply is not None or self.error is not None

    def result(self) -> WireReply:
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        return self.reply


@dataclass(frozen=True, slots=True)
class Sent:
    """A request sent by :meth:`SyncWire.send`, whose reply :meth:`SyncWire.reply` waits for."""

    key: bytes
    slot: _Slot


@dataclass(frozen=True, slots=True)
class WireReply:
    """A reply message: its status (``""``, or ``"503"`` for no responders), payload and
    raw header block (``NATS/1.0 ...`` lines; empty for a reply without headers)."""

    status: str
    data: bytes
    head: bytes = b""


def _hpub(subject: str, reply: str, headers: Mapping[str, str], payload: bytes) -> bytes:
    """One ``HPUB`` command. Header names and values are the ledger's own (tags, ids,
    numbers), never free text, so they hold no CR or LF."""
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


class _Conn:
    """One TCP connection and what has been received on it but not yet parsed.

    Connections are never reused: a lost one is closed for good and the wire makes a
    new one, so a reader still holding the old one can only fail, never read into
    or close its successor.
    """

    def __init__(self, sock: socket.socket, inbox: str) -> None:
        self.sock = sock
        self.inbox = inbox
        self.buf = bytearray()
        self.pos = 0
        self.closed = False
        self.pongs = 0

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()

    def fill(self, deadline: float) -> None:
        """Receive more bytes, waiting at most until ``deadline`` (``TimeoutError``).

        Waiting happens in ``select`` before a read, never inside one, so a timeout
        leaves the buffer and the connection intact for whoever reads next.
        """
        if self.closed:
            raise WireClosed("the connection was closed")
        remaining = deadline - time.monotonic()
        try:
            ready = remaining > 0 and select.select([self.sock], [], [], remaining)[0]
        except (OSError, ValueError) as e:  # closed under us
            raise WireClosed(f"the connection was closed: {e}") from None
        if not ready:
            raise TimeoutError
        data = self.sock.recv(65536)
        if not data:
            raise WireClosed("the server closed the connection")
        self.buf += data

    def readline(self, deadline: float) -> bytes:
        while True:
            end = self.buf.find(_CRLF, self.pos)
            if end >= 0:
                line = bytes(self.buf[self.pos : end + 2])
                self.pos = end + 2
                return line
            self.fill(deadline)

    def read_exactly(self, n: int, deadline: float) -> bytes:
        while len(self.buf) - self.pos < n:
            self.fill(deadline)
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data


class SyncWire:
    """One synchronous connection (at a time) that publishes and waits for replies."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        connect_timeout: float = 2.0,
        inbox_prefix: str = "_INBOX",
    ) -> None:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        if parts.scheme != "nats":
            msg = f"the synchronous write path speaks plain nats://, not {parts.scheme}://"
            raise ValueError(msg)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 4222)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._name = name
        self._connect_timeout = connect_timeout
        self._inbox_prefix = inbox_prefix
        self._conn: _Conn | None = None
        self._next = 0
        self._max_payload = 1024 * 1024
        # Lock order: _send_lock, then _cond. _send_lock serialises everything written to
        # the socket (commands, PONGs) and the replacing of the connection.
        self._send_lock = threading.RLock()
        self._cond = threading.Condition()
        self._slots: dict[bytes, _Slot] = {}
        self._reading = False

    @staticmethod
    def supports(url: str) -> bool:
        """Whether ``url`` is one this publisher can reach (plain ``nats://``)."""
        return urlsplit(url if "://" in url else f"nats://{url}").scheme == "nats"

    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.closed

    # -- connection ---------------------------------------------------------------

    def _connection(self) -> _Conn:
        """The live connection, made if there is none (call with ``_send_lock`` held)."""
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        try:
            sock = socket.create_connection(self._address, timeout=self._connect_timeout)
        except OSError as e:
            msg = f"cannot connect to {self._address[0]}:{self._address[1]}: {e}"
            raise WireUnreachable(msg) from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)  # reads wait in select() against a deadline instead
        conn = _Conn(sock, f"{self._inbox_prefix}.{secrets.token_hex(11)}.")
        deadline = time.monotonic() + self._connect_timeout
        try:
            line = conn.readline(deadline)
            if not line.startswith(b"INFO "):
                raise WireError(f"expected INFO from the server, got {line[:40]!r}")
            info = json.loads(line[5:])
            self._max_payload = int(info.get("max_payload", self._max_payload))
            options: dict[str, object] = {
                "verbose": False,
                "pedantic": False,
                "headers": True,
                "no_responders": True,
                "protocol": 1,
                "lang": "python-ledger-syncwire",
                "version": _VERSION,
                "name": self._name,
            }
            if self._user is not None and self._password is not None:
                options.update(user=self._user, **{"pass": self._password})
            elif self._user is not None:
                options["auth_token"] = self._user
            sock.sendall(
                b"CONNECT %s\r\nSUB %s* 1\r\nPING\r\n"
                % (json.dumps(options).encode(), conn.inbox.encode())
            )
            while conn.pongs == 0:
                self._read_one(conn, deadline)
        except (OSError, ValueError, TimeoutError, WireError) as e:
            conn.close()
            if isinstance(e, WireUnreachable):
                raise
            raise WireUnreachable(f"handshake with {self._address} failed: {e!r}") from e
        self._conn = conn
        return conn

    def close(self) -> None:
        """Close the connection (idempotent); the next call reconnects."""
        conn = self._conn
        if conn is not None:
            self._fail(conn, WireClosed("the connection was closed"))

    def _fail(self, conn: _Conn, error: WireError) -> None:
        """Close ``conn`` and fail every request waiting on it (and only on it)."""
        with self._send_lock:
            conn.close()
            with self._cond:
                for key, waiting in list(self._slots.items()):
                    if waiting.conn is conn:
                        del self._slots[key]
                        waiting.error = error
                self._cond.notify_all()

    # -- publishing ---------------------------------------------------------------

    def request(
        self,
        messages: Sequence[tuple[str, Mapping[str, str], bytes]],
        timeout: float,
    ) -> WireReply:
        """Send ``(subject, headers, payload)`` messages in one write, the last with a reply
        subject, and wait for that reply.

        Several threads may call this at once: their requests are pipelined on the one
        connection. Whichever waiting thread finds nobody reading becomes the reader and
        hands the replies it reads to their threads (leader/followers), so a lone caller
        reads its own reply with no hand-off at all.
        """
        return self.reply(self.send(messages), timeout)

    def send(self, messages: Sequence[tuple[str, Mapping[str, str], bytes]]) -> Sent:
        """:meth:`request`'s first half: send the messages and return at once, so the
        caller can work while the server answers, then wait with :meth:`reply` (always:
        a reply nobody waits for is dropped only when it arrives)."""
        for _, _, payload in messages:
            if len(payload) > self._max_payload:
                msg = f"payload of {len(payload)} bytes exceeds the server's {self._max_payload}"
                raise WireError(msg)
        with self._send_lock:
            conn = self._connection()  # first: the reply inbox belongs to the connection
            self._next += 1
            key = f"{conn.inbox}{self._next}"
            *before, (subject, headers, payload) = messages
            data = b"".join(_hpub(s, "", h, p) for s, h, p in before)
            data += _hpub(subject, key, headers, payload)
            slot = _Slot(conn)
            with self._cond:
                self._slots[key.encode()] = slot
            try:
                conn.sock.sendall(data)
            except OSError as e:
                error = WireClosed(f"connection lost while sending: {e}")
                self._fail(conn, error)
                raise error from e
        return Sent(key.encode(), slot)

    def reply(self, sent: Sent, timeout: float) -> WireReply:
        """:meth:`request`'s second half: the reply to what :meth:`send` sent, waiting at
        most ``timeout`` from now."""
        return self._await(sent.key, sent.slot, time.monotonic() + timeout, timeout)

    def requests(
        self,
        messages: Sequence[tuple[str, Mapping[str, str], bytes]],
        timeout: float,
    ) -> list[WireReply]:
        """Send ``(subject, headers, payload)`` messages in one write, each with a reply
        subject of its own, and return every reply, in the order of the messages.

        Pipelined publishes, each acknowledged: what the delivery worker sends its
        batches with. ``timeout`` bounds the wait for all of them. It reads as
        :meth:`request` does, so it may share the wire with other threads. If any reply
        does not come (a timeout, a lost connection), it raises and the replies to the
        rest are dropped when they arrive.
        """
        for _, _, payload in messages:
            if len(payload) > self._max_payload:
                msg = f"payload of {len(payload)} bytes exceeds the server's {self._max_payload}"
                raise WireError(msg)
        with self._send_lock:
            conn = self._connection()
            keys: list[bytes] = []
            parts: list[bytes] = []
            for subject, headers, payload in messages:
                self._next += 1
                reply = f"{conn.inbox}{self._next}"
                parts.append(_hpub(subject, reply, headers, payload))
                keys.append(reply.encode())
            slots = [_Slot(conn) for _ in keys]
            with self._cond:
                self._slots.update(zip(keys, slots, strict=True))
            try:
                conn.sock.sendall(b"".join(parts))
            except OSError as e:
                error = WireClosed(f"connection lost while sending: {e}")
                self._fail(conn, error)
                raise error from e
        deadline = time.monotonic() + timeout
        out: list[WireReply] = []
        try:
            for waiting, slot in zip(keys, slots, strict=True):
                out.append(self._await(waiting, slot, deadline, timeout))
        except WireError:
            with self._cond:
                for waiting in keys[len(out) :]:
                    self._slots.pop(waiting, None)
            raise
        return out

    def replies(self, subject: str, payload: bytes, timeout: float) -> Iterator[WireReply]:
        """Send a request answered by several messages (a batched direct get) and yield its
        replies as they arrive, up to and including the first with a status, which ends it.

        Only for a wire that no other thread uses: it reads for itself, without the
        hand-off of :meth:`request`. ``timeout`` bounds the wait for each reply. A
        consumer that stops early leaves the rest unread; they are skipped (by their
        reply subject) when the next request reads.
        """
        with self._send_lock:
            conn = self._connection()
            self._next += 1
            key = f"{conn.inbox}{self._next}"
            try:
                conn.sock.sendall(
                    b"PUB %s %s %d\r\n%s\r\n"
                    % (subject.encode(), key.encode(), len(payload), payload)
                )
            except OSError as e:
                lost = WireClosed(f"connection lost while sending: {e}")
                self._fail(conn, lost)
                raise lost from e
        want = key.encode()
        try:
            while True:
                got = self._read_one(conn, time.monotonic() + timeout)
                if got is None or got[0] != want:
                    continue  # a control line, or a reply to a request given up
                yield got[1]
                if got[1].status:
                    return
        except TimeoutError:
            self._fail(conn, WireTimeout(f"no reply within {timeout} s"))
            raise WireTimeout(f"no reply within {timeout} s") from None
        except (OSError, WireError) as e:
            error = e if isinstance(e, WireError) else WireClosed(f"connection lost: {e}")
            self._fail(conn, error)
            raise error from e

    def ping(self, timeout: float = 2.0) -> None:
        """A round trip to the server if nobody is reading (keeps an idle connection alive).

        It reads as any reader does: replies that arrive before the PONG go to the
        requests waiting for them.
        """
        with self._cond:
            conn = self._conn
            if conn is None or conn.closed or self._reading:
                return
            self._reading = True
        try:
            with self._send_lock:
                pongs = conn.pongs
                conn.sock.sendall(b"PING\r\n")
            deadline = time.monotonic() + timeout
            while conn.pongs == pongs:
                self._dispatch(self._read_one(conn, deadline))
        except (OSError, TimeoutError, WireError) as e:
            self._fail(conn, e if isinstance(e, WireError) else WireClosed(f"ping failed: {e!r}"))
        finally:
            with self._cond:
                self._reading = False
                self._cond.notify_all()

    # -- reading ------------------------------------------------------------------

    def _await(self, key: bytes, slot: _Slot, deadline: float, timeout: float) -> WireReply:
        with self._cond:
            while not slot.done:
                if not self._reading:
                    self._reading = True
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._slots.pop(key, None)
                    raise WireTimeout(f"no reply within {timeout} s")
                self._cond.wait(remaining)
            else:
                return slot.result()
        try:
            self._read_for(slot, key, deadline, timeout)
        finally:
            with self._cond:
                self._reading = False
                self._cond.notify_all()
        return slot.result()

    def _read_for(self, slot: _Slot, key: bytes, deadline: float, timeout: float) -> None:
        """As the reader: hand out replies on the slot's connection until ``slot`` has one."""
        conn = slot.conn
        try:
            while not slot.done:
                self._dispatch(self._read_one(conn, deadline))
        except TimeoutError:
            with self._cond:
                self._slots.pop(key, None)
            # The connection is fine; the server may still answer, and that late
            # reply will be dropped. Others keep waiting for theirs.
            raise WireTimeout(f"no reply within {timeout} s") from None
        except (OSError, WireError) as e:
            error = e if isinstance(e, WireError) else WireClosed(f"connection lost: {e}")
            self._fail(conn, error)
            if not slot.done:
                slot.error = error

    def _dispatch(self, got: tuple[bytes, WireReply] | None) -> None:
        if got is None:
            return
        with self._cond:
            waiting = self._slots.pop(got[0], None)
            if waiting is not None:
                waiting.reply = got[1]
                self._cond.notify_all()
        # else: a reply to a request that timed out; nobody wants it.

    def _read_one(self, conn: _Conn, deadline: float) -> tuple[bytes, WireReply] | None:
        """Read one protocol line; return ``(reply subject, reply)`` for a message.

        A timeout part-way through a message rewinds to its start, so the next reader
        parses it whole.
        """
        if conn.pos > 65536:  # drop what has been parsed, between messages only
            del conn.buf[: conn.pos]
            conn.pos = 0
        start = conn.pos
        try:
            line = conn.readline(deadline)
            if line.startswith(b"HMSG "):
                parts = line.split()
                hdr_len, total = int(parts[-2]), int(parts[-1])
                body = conn.read_exactly(total + 2, deadline)
                head, data = body[:hdr_len], body[hdr_len:total]
                status = head.split(_CRLF, 1)[0][9:12].decode() if head[8:9] == b" " else ""
                return parts[1], WireReply(status=status, data=data, head=head)
            if line.startswith(b"MSG "):
                parts = line.split()
                size = int(parts[-1])
                body = conn.read_exactly(size + 2, deadline)
                return parts[1], WireReply(status="", data=body[:size])
        except TimeoutError:
            conn.pos = start
            raise
        self._handle_control(conn, line)
        return None

    def _handle_control(self, conn: _Conn, line: bytes) -> None:
        if line == b"PING\r\n":
            with self._send_lock:  # never interleave with another thread's command
                conn.sock.sendall(b"PONG\r\n")
        elif line == b"PONG\r\n":
            conn.pongs += 1
        elif line.startswith(b"-ERR"):
            text = line[4:].strip().strip(b"'").decode(errors="replace")
            raise WireError(f"server error: {text}")
        elif line.startswith((b"INFO ", b"+OK")):
            return
        else:
            raise WireError(f"unexpected protocol line {line[:40]!r}")
