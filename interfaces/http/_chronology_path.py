"""The direct path of ``GET /partnerships/{p}/cases/{c}/chronology`` as JSON.

A case's chronology is the API's one hot read (issue 10 holds its latency to twice a bare
app's returning the same bytes), and Litestar's request object, parameter parsing,
response object and exception middleware, with the read routes' thread hop, cost more
than the read itself when its answer is kept (:mod:`interfaces.http._chronology_cache`).
So :class:`ChronologyPath` answers it before Litestar routes it, as
:class:`~interfaces.http._commands.CommandPath` answers the commands: one hop to a worker
thread that does every blocking step (:func:`~interfaces.http._reads.serve_chronology`:
the token, the parameters, the caller's right to the case, the version, the kept bytes,
the access-log record beside them), and the answer's bytes sent as they are kept.

It takes only a ``GET`` of a chronology's exact path whose query string asks for no
``after`` and no ``format`` but JSON: a read after a sequence waits on the event loop,
and the CSV layouts are rendered by the route. Anything else goes to Litestar, whose route
answers with the same checks, bytes and problems (``tests/unit/test_http_chronology_path.py``
holds the two to the same answers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

from litestar import Response

from interfaces.http._commands import CommandThreads, Overloaded, encode, overloaded
from interfaces.http._problems import failed
from interfaces.http._reads import Reads, serve_chronology
from runtime.tokens import TokenRecord

__all__ = ["ChronologyPath"]

_JSON: Final = b"application/json"
#: Query-string parameters the direct path leaves to the route.
_ROUTED: Final = frozenset({"after", "format"})


class ChronologyPath:
    """The direct ASGI path of a case's chronology as JSON (see the module)."""

    def __init__(
        self,
        reads: Reads,
        authenticate: Callable[[str | None], TokenRecord],
        threads: CommandThreads,
    ) -> None:
        """``authenticate`` reads an ``Authorization`` header's value; ``threads`` are the
        read routes' own (the app closes them)."""
        self._reads = reads
        self._authenticate = authenticate
        self._threads = threads

    def route(self, scope: Mapping[str, Any]) -> Callable[..., Awaitable[None]] | None:
        """The direct path for ``scope`` (an ASGI scope), or None to leave it to Litestar."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        parts = scope["path"].split("/")
        if (
            len(parts) != 6
            or parts[0]
            or parts[1] != "partnerships"
            or parts[3] != "cases"
            or parts[5] != "chronology"
            or not parts[2]
            or not parts[4]
        ):
            return None
        raw = scope.get("query_string", b"")
        # As Litestar parses a query string (litestar._parsers.parse_query_string).
        items = parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if raw else []
        for name, value in items:
            if name in _ROUTED and (name != "format" or value != "json"):
                return None
        path = {"partnership": parts[2], "case": parts[4]}

        async def answer(scope: Any, receive: Any, send: Any) -> None:
            await self._answer(path, items, scope, send)

        return answer

    async def _answer(
        self, path: dict[str, str], items: list[tuple[str, str]], scope: Any, send: Any
    ) -> None:
        authorization = None
        for name, value in scope["headers"]:
            if name.lower() == b"authorization":  # the first, as Litestar's headers read it
                authorization = value.decode("latin-1")
                break
        try:
            response = await self._threads.run(
                serve_chronology, self._reads, self._authenticate, authorization, path, items
            )
        except Overloaded as error:  # too many reads waiting: this one never ran
            response = overloaded(error)
        except Exception as error:  # noqa: BLE001 - what Litestar's internal_error answers
            response = failed(scope["path"], error)
        status, head, body = _encode(response)
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _encode(response: Response[Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """What Litestar sends for ``response``: the kept bytes as they are, a problem encoded."""
    if not isinstance(response.content, bytes):
        return encode(response)
    body = response.content
    head = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    head.append((b"content-type", _JSON))
    head.append((b"content-length", str(len(body)).encode("latin-1")))
    return response.status_code or 200, head, body
