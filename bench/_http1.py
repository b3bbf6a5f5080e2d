"""A lean HTTP/1.1 keep-alive client for the api suite's load: requests built once as bytes.

httpx spends a millisecond or more of CPU per request in the client (about 400 requests a
second on one busy core), which on a 2-core machine is taken from the server it measures.
This client writes a prebuilt request and reads the status line, the headers and a
``Content-Length`` body (what uvicorn sends for every non-streamed answer): tens of
microseconds a request. It speaks only what the suite needs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


def request(method: str, path: str, token: str, body: Any = None) -> bytes:
    """The bytes of one request on a keep-alive connection."""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


class Connection:
    """One keep-alive connection to ``127.0.0.1:port``."""

    def __init__(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.port = port
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        return cls(port, reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Send one prebuilt request; its status and body. A connection the server closed
        while idle (uvicorn's keep-alive timeout is 5 s) is opened again and the request
        sent once more, as any keep-alive client does."""
        self.writer.write(raw)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if error.partial:
                raise
            self.close()
            self.reader, self.writer = await asyncio.open_connection(
                "127.0.0.1", self.port, limit=1 << 22
            )
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "transfer-encoding":
                raise RuntimeError(f"a {value.strip()} answer: this client reads Content-Length")
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()
