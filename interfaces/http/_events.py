"""Server-Sent Events for agencies, and the access log for boards.

``GET /partnerships/{partnership}/events`` (agency tokens only): a ``text/event-stream``
of the events of the cases the agency is party to and of the challenges it raised or
received (:class:`consumers.feed.AgencyFeed`), each as ``id: <ledger sequence>``,
``event: <type tag>``, ``data: <the event's JSON>``, in stream order. A client resumes
with ``Last-Event-ID`` (the events after that sequence; without it, from the first).
At least once: an event may come again after a reconnect, never out of order within a
case; handlers key on the id. A comment line (``: heartbeat``) comes every
``heartbeat_s`` (15 s) while there is nothing to send. Each connection holds at most one
page of events: the next page is read only once the last one has been written to the
socket, so a slow client slows its own stream, never the server's memory. The token is
checked again whenever the stream has caught up: a revoked one ends the stream. So does
:meth:`AgencyFeed.close <consumers.feed.AgencyFeed.close>`: a server shutting down calls
it first, else its open streams would keep it waiting.

``GET /partnerships/{partnership}/access-log`` (board tokens only): who read which case's
chronology, when, as of when (:class:`runtime.access_log.AccessLog`), filtered by
``case``, ``since`` and ``until`` (ISO instants with an offset), paged by ``after`` (a
sequence; the previous page's ``next``) and ``limit`` (1-1000, default 100):
``{"items": [...], "next": <sequence or null>}``.

Both refuse as the other routes do: no or a bad token 401, another role or partnership
403, each refusal logged without personal data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Final

import anyio
import anyio.to_thread
import msgspec
import structlog
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage

from consumers.feed import AgencyFeed
from interfaces.http._openapi import BEARER, with_problems
from interfaces.http._problems import Refused, from_ledger_error, problem, refusal
from ledger.errors import LedgerError
from runtime.access_log import DEFAULT_LIMIT, AccessLog, InvalidAccessQuery
from runtime.tokens import Role, TokenRecord
from schemas import AccessEntry

__all__ = ["AccessLogPage", "access_log_routes", "event_routes"]

log = structlog.get_logger()

#: ``authenticate(request)``: the caller's token record, or :class:`Refused` (401).
Authenticate = Callable[[Request[Any, Any, Any]], TokenRecord]

EVENTS_PATH: Final = "/partnerships/{partnership:str}/events"
ACCESS_LOG_PATH: Final = "/partnerships/{partnership:str}/access-log"
HEARTBEAT_S: Final = 15.0
#: How often a connection that has caught up looks for new events.
POLL_S: Final = 0.25


class AccessLogPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the access log; ``next`` is the ``after`` of the next page, if any."""

    items: list[AccessEntry]
    next: int | None


def event_routes(
    feed: AgencyFeed,
    authenticate: Authenticate,
    *,
    heartbeat_s: float = HEARTBEAT_S,
    poll_s: float = POLL_S,
) -> list[HTTPRouteHandler]:
    """The Server-Sent Events route over ``feed``."""

    @get(
        EVENTS_PATH,
        name="agency-events",
        tags=["events"],
        media_type="text/event-stream",
        summary="An agency's events as Server-Sent Events",
        security=BEARER,
        operation_class=with_problems(
            {
                400: "Last-Event-ID is not a stream sequence",
                401: "No valid API token",
                403: "Not an agency token, or not for this partnership",
            }
        ),
    )
    async def events(request: Request[Any, Any, Any], partnership: FromPath[str]) -> Response[Any]:
        """The events of the agency's cases and challenges after ``Last-Event-ID``."""
        caller: TokenRecord | None = None
        try:
            caller = await anyio.to_thread.run_sync(authenticate, request)
            _check_caller(caller, partnership, Role.AGENCY, "subscribes to events")
            if caller.agency is None:  # issue() binds every agency token to its agency
                raise Refused(403, "the token names no agency")
        except Refused as error:
            _log_refusal(error, "events", caller)
            return refusal(error)
        after = _sequence(request.headers.get("last-event-id"))
        if after is None:
            return problem(
                400,
                "invalid-query",
                "The request is not valid",
                "Last-Event-ID is not a stream sequence; rule: an integer from 0",
                field="Last-Event-ID",
            )
        return ServerSentEvent(
            _stream(
                feed, authenticate, request, partnership, caller.agency, after, heartbeat_s, poll_s
            )
        )

    return [events]


async def _stream(
    feed: AgencyFeed,
    authenticate: Authenticate,
    request: Request[Any, Any, Any],
    partnership: str,
    agency: str,
    after: int,
    heartbeat_s: float,
    poll_s: float,
) -> AsyncIterator[ServerSentEventMessage]:
    """One connection's events: a page at a time, each written before the next is read."""
    position = after
    beat = anyio.current_time()
    log.info("events_stream_opened", partnership=partnership, agency=agency, after=after)
    try:
        while not feed.closed:
            page = await anyio.to_thread.run_sync(feed.page, partnership, agency, position)
            for event in page.events:
                yield ServerSentEventMessage(
                    id=event.sequence, event=event.tag, data=event.data.decode()
                )
            if page.events:
                beat = anyio.current_time()
            caught_up = page.position == position
            position = page.position
            if anyio.current_time() - beat >= heartbeat_s:
                yield ServerSentEventMessage(data=None, comment="heartbeat")
                beat = anyio.current_time()
            if caught_up:
                await anyio.sleep(poll_s)
                try:
                    await anyio.to_thread.run_sync(authenticate, request)
                except Refused as error:
                    _log_refusal(error, "events")
                    return
    except LedgerError as error:
        # The stream has begun: no status can be sent now. The client reconnects with
        # the last id it received and loses nothing.
        log.warning(
            "events_stream_failed",
            partnership=partnership,
            agency=agency,
            error=type(error).__name__,
        )
    finally:
        log.info("events_stream_closed", partnership=partnership, agency=agency, position=position)


def access_log_routes(access_log: AccessLog, authenticate: Authenticate) -> list[HTTPRouteHandler]:
    """The board's route to the access log."""

    @get(
        ACCESS_LOG_PATH,
        name="access-log",
        tags=["access log"],
        sync_to_thread=True,
        summary="Who read which case's chronology, when, as of when",
        responses={
            200: ResponseSpec(data_container=AccessLogPage, description="A page of the log"),
        },
        security=BEARER,
        operation_class=with_problems(
            {
                400: "A parameter breaks its rule (`field`)",
                401: "No valid API token",
                403: "Not a board token, or not for this partnership",
                503: "The access log cannot be read",
            }
        ),
    )
    def read_access_log(
        request: Request[Any, Any, Any],
        partnership: FromPath[str],
        case: FromQuery[str | None] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """The partnership's recorded chronology reads, oldest first (board tokens only)."""
        caller: TokenRecord | None = None
        try:
            caller = authenticate(request)
            _check_caller(caller, partnership, Role.BOARD, "reads the access log")
        except Refused as error:
            _log_refusal(error, "access-log", caller)
            return refusal(error)
        try:
            wanted = DEFAULT_LIMIT if limit is None else _integer(limit, "limit")
            entries = access_log.entries(
                partnership,
                case=case,
                since=_instant(since, "since"),
                until=_instant(until, "until"),
                after=None if after is None else _integer(after, "after"),
                limit=wanted,
            )
        except InvalidAccessQuery as error:
            return problem(
                400, "invalid-query", "The request is not valid", str(error), field=error.field
            )
        except LedgerError as error:
            return from_ledger_error(error)
        nxt = entries[-1].sequence if len(entries) == wanted else None
        return Response(AccessLogPage(items=entries, next=nxt))

    return [read_access_log]


def _check_caller(caller: TokenRecord, partnership: str, role: Role, what: str) -> None:
    if caller.role != role:
        raise Refused(403, f"only {role.value} tokens may use this route: a {role.value} {what}")
    if caller.partnership != partnership:
        raise Refused(
            403, f"the token is for partnership '{caller.partnership}', not '{partnership}'"
        )


def _log_refusal(error: Refused, route: str, caller: TokenRecord | None = None) -> None:
    """Log a refusal with the route and the caller's role, partnership and agency."""
    log.warning(
        "request_refused",
        status=error.status,
        reason=error.reason,
        route=route,
        role=None if caller is None else caller.role.value,
        partnership=None if caller is None else caller.partnership,
        agency=None if caller is None else caller.agency,
    )


def _sequence(value: str | None) -> int | None:
    """``Last-Event-ID`` as a sequence: absent or empty is 0 (from the first event)."""
    if value is None or not value.strip():
        return 0
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    return int(text)


def _integer(value: str, field: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        msg = f"{field} is not a whole number; rule: digits only"
        raise InvalidAccessQuery(msg, field=field)
    return int(text)


def _instant(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        instant = None
    if instant is None or instant.utcoffset() is None:
        msg = f"{field} is not an ISO 8601 instant with a UTC offset (e.g. 2026-03-02T09:00:00Z)"
        raise InvalidAccessQuery(msg, field=field)
    return instant
