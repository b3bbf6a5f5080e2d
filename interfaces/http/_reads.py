"""The read side of the HTTP API: one GET per question of :data:`interfaces.queries.QUERIES`.

Each question is served at its path (``/partnerships/{partnership}/cases/{case}/chronology``
...), named by its ``operation_id``, with its filters as query-string parameters. Besides
its filters, every GET takes ``as_of`` (an aware ISO 8601 instant, or a date: the end of
that day in Europe/London), ``after`` (a stream sequence the views must have applied
first: read your own writes) and ``format`` (``json``, ``csv``, and ``review`` for the
chronology); a list also takes ``cursor`` and ``limit``.

A request is checked in this order, and each refusal is an RFC 9457 problem:
the bearer token (401); the parameters (400 naming the parameter and its rule:
unknown, repeated or malformed); ``after`` (400 beyond the stream's end, else waiting
without blocking the event loop until every view the question reads has applied it, 504
with ``sequence_reached`` after ``LEDGER_READ_WAIT_S``); who may ask
(:func:`~interfaces.queries.permit`: 403 with the reason, an agency's filters narrowed
to itself); that the partnership and the case exist (404 naming it); then the view's own
checks (400) and the store (503). A question that is ``logged`` (the chronology) is
recorded in the access log before it is answered: if recording fails, it is not
answered (503). Refusals are logged with the role, partnership, agency and question,
never a case or a filter's value.

**Attestation.** With a Merkle log (``attest``), a case's chronology in every format carries
the ``Ledger-Attestation`` header: what vouches for its entries, the checkpoint covering the
last one shown and the agencies that cosigned it (:meth:`runtime.log.MerkleLog.attestation`),
as ``python -m ledger.verify`` says it ("verified against checkpoint N, witnessed by X, Y").
The answer's own schema is unchanged; a chronology with no entry carries none, and one whose
log cannot be read is answered without it.

**Pages.** A list is answered as ``{"items": [...], "next": cursor-or-null}``. The cases
are paged by the directory's keyset (the last case id), every other list by an offset
into its answer. The cursor is opaque: it names the question and filters it was given
for (a cursor passed with other filters is refused) and carries the ``as_of`` of the
first page, so the pages of a question asked as of an instant are of one answer. Asked
without ``as_of``, each page reads the views as they are then: an item recorded between
two pages may shift an offset page and be missed or seen twice (the cases' keyset
pages see each case at most once).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import anyio.to_thread
import msgspec
import structlog
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from interfaces import exports
from interfaces.http._chronology_cache import EncodedChronologies, Key
from interfaces.http._commands import CommandThreads, Overloaded, overloaded
from interfaces.http._openapi import BEARER
from interfaces.http._problems import Refused, from_ledger_error, problem, refusal
from interfaces.http._read_openapi import Page, operation_for
from interfaces.http._read_params import Asked, BadParameter, next_cursor, parse
from interfaces.http._read_record import AccessRecorder, PendingRecord, Unrecorded, record
from interfaces.queries import QUERIES, Ask, Caller, Query, ReadRefused, permit
from ledger.errors import LedgerError, LedgerUnavailable
from projections import Views
from projections.calendar import local_date
from projections.chronology import Chronology, ChronologyStanding
from projections.errors import InvalidViewQuery, UnknownEntity, ViewStoreError
from runtime.log import Attestation
from runtime.tokens import Role, TokenRecord
from schemas.wire import HTTP_ATTESTATION

__all__ = [
    "AccessRecorder",
    "AsOfViews",
    "Attest",
    "Reads",
    "attestation_of",
    "read_routes",
    "serve_chronology",
]

log = structlog.get_logger()

T = TypeVar("T")

_CSV_MEDIA: Final = "text/csv"  # Litestar adds "; charset=utf-8" to a text type
_encode = msgspec.json.Encoder().encode


#: The views as the ledger stood at an instant (``projections.as_of``'s replay).
AsOfViews = Callable[[datetime], AbstractContextManager[Views]]
#: What vouches for stream sequences up to one: :meth:`runtime.log.MerkleLog.attestation`.
Attest = Callable[[int], Attestation]


def attestation_of(attest: Attest | None, chronology: Chronology) -> Attestation | None:
    """What vouches for ``chronology``'s entries (up to the last sequence shown); None with
    no log, no entry, or a log that cannot be read now (logged)."""
    if not chronology.entries:
        return None
    return _attestation_at(attest, max(e.sequence for e in chronology.entries))


def _attestation_at(attest: Attest | None, last: int) -> Attestation | None:
    """What vouches for stream sequences up to ``last`` (0: nothing shown, None)."""
    if attest is None or last <= 0:
        return None
    try:
        return attest(last)
    except LedgerError as error:
        log.warning("attestation_unavailable", error=type(error).__name__)
        return None


class _Behind(Exception):
    """The views had not applied the sequence asked for within the bound (504)."""

    def __init__(self, wanted: int, reached: int, waited: float) -> None:
        super().__init__(
            f"the views reached sequence {reached}, not {wanted}, within {waited:g} s;"
            " rule: a read after a sequence waits at most LEDGER_READ_WAIT_S for the views"
        )
        self.wanted = wanted
        self.reached = reached


@dataclass(frozen=True, kw_only=True)
class Reads:
    """What the read routes need: made once by the app, passed to :func:`read_routes`."""

    views: Views
    authenticate: Callable[[Request[Any, Any, Any]], TokenRecord]
    last_sequence: Callable[[], int | None]
    access_log: AccessRecorder | None
    wait_s: float
    as_of_views: AsOfViews
    attest: Attest | None = None
    #: The chronology's JSON answers, served again while their version holds.
    chronologies: EncodedChronologies = dataclasses.field(default_factory=EncodedChronologies)
    #: The worker threads a read blocks in (None: AnyIO's, as the other routes').
    threads: CommandThreads | None = None

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread, awaited without blocking the event loop.

        On :attr:`threads` when there are: one queue put and one ``call_soon_threadsafe``
        a hop (:class:`~interfaces.http._commands.CommandThreads`), where AnyIO's costs
        ~60 µs of CPU and ~160 µs of waiting (measured on uvloop), on every read. The
        context is copied, as AnyIO's hop does."""
        if self.threads is None:
            return await anyio.to_thread.run_sync(fn, *args)
        result: T = await self.threads.run(contextvars.copy_context().run, fn, *args)
        return result


@dataclass
class _Call:
    """Who asks what: a refusal is logged with these, never a case or a filter's value."""

    query: str
    role: str | None = None
    partnership: str | None = None
    agency: str | None = None
    token: TokenRecord | None = None

    def fields(self) -> dict[str, str | None]:
        return {
            "query": self.query,
            "role": self.role,
            "partnership": self.partnership,
            "agency": self.agency,
        }


def read_routes(reads: Reads) -> list[HTTPRouteHandler]:
    """One GET route per question of :data:`QUERIES`, answered as ``reads`` says.

    ``reads.authenticate`` gives a request's token record (or raises :class:`Refused`);
    ``last_sequence`` is the stream's last sequence (an ``after`` beyond it is refused);
    ``access_log`` records the reads of ``logged`` questions (without one they are
    refused, 503); ``as_of_views`` gives the views as they stood at an instant
    (:meth:`projections.as_of.PastViews.at`) for a question that does not answer as of
    an instant itself; ``wait_s`` bounds the wait for ``after``; ``attest`` gives a
    chronology's ``Ledger-Attestation`` header; ``threads`` run each read's blocking
    part (AnyIO's worker threads without them). A case's chronology as JSON is answered by
    :class:`~interfaces.http._chronology_path.ChronologyPath` before Litestar routes it
    (:func:`serve_chronology`), by the same checks in the same order.
    """
    return [_route(reads, query) for query in QUERIES.values()]


# -- the route ---------------------------------------------------------------------------


def _route(reads: Reads, query: Query) -> HTTPRouteHandler:
    async def read(request: Request[Any, Any, Any]) -> Response[Any]:
        call = _Call(query.name)
        path = dict(request.path_params)
        items = list(request.query_params.multi_items())
        url = str(request.url)
        try:
            # One worker-thread hop for a plain read; a read after a sequence waits
            # for the views on the event loop between its two hops.
            asked, response = await reads.blocking(
                _start, reads, query, call, request, path, items, url
            )
            if response is not None:
                return response
            await _wait(reads, query, cast(int, asked.after))
            return await reads.blocking(
                _answer, reads, query, cast(TokenRecord, call.token), path, url, asked
            )
        except Exception as error:  # noqa: BLE001 - its problem, or raised again by _failure
            return _failure(error, call)

    read.__name__ = read.__qualname__ = f"read_{query.name.replace('-', '_')}"
    return get(
        _litestar_path(query.path),
        name=f"read-{query.name}",
        operation_id=query.name,
        summary=query.summary,
        tags=["views"],
        operation_class=operation_for(query),
        security=BEARER,
    )(read)


def _failure(error: Exception, call: _Call) -> Response[Any]:
    """The problem answering a read that ``error`` ended (logged with ``call``, never a
    case or a filter's value); an error no rule names is raised again (a 500)."""
    if isinstance(error, Refused):
        log.warning("read_refused", status=error.status, reason=error.reason, **call.fields())
        return refusal(error)
    if isinstance(error, ReadRefused):
        log.warning("read_refused", status=403, reason=error.reason, **call.fields())
        return problem(403, "forbidden", "Not allowed for this token", error.reason)
    if isinstance(error, BadParameter | InvalidViewQuery):
        field = error.field
        _failed(400, error, call, field=field)
        rule = getattr(error, "rule", None) or _rule_of(str(error))
        return problem(
            400, "invalid-query", "The question is not valid", str(error), field=field, rule=rule
        )
    if isinstance(error, UnknownEntity):
        _failed(404, error, call, field=error.kind)
        return problem(
            404, "not-found", "It does not exist", str(error), field=error.kind, id=error.value
        )
    if isinstance(error, _Behind):
        _failed(504, error, call)
        return problem(
            504,
            "views-behind",
            "The views have not applied that sequence yet",
            str(error),
            sequence=error.wanted,
            sequence_reached=error.reached,
        )
    if isinstance(error, Overloaded):  # too many reads waiting: this one never ran
        _failed(503, error, call)
        return overloaded(error)
    if isinstance(error, Unrecorded):
        _failed(503, error, call)
        return problem(503, "unrecorded", "The read could not be recorded", str(error))
    if isinstance(error, LedgerUnavailable | ViewStoreError):
        _failed(503, error, call)
        return problem(503, "unavailable", "The ledger or its views cannot be read", str(error))
    if isinstance(error, LedgerError):
        response = from_ledger_error(error)
        _failed(response.status_code or 500, error, call)
        return response
    raise error


def _failed(status: int, error: Exception, call: _Call, *, field: str | None = None) -> None:
    log.warning(
        "read_failed", status=status, error=type(error).__name__, field=field, **call.fields()
    )


def _rule_of(message: str) -> str | None:
    _, found, rule = message.rpartition("; rule: ")
    return rule if found else None


def _litestar_path(path: str) -> str:
    """``/partnerships/{partnership}`` as Litestar spells a path parameter."""
    return re.sub(r"\{(\w+)\}", r"{\1:str}", path)


def _start(
    reads: Reads,
    query: Query,
    call: _Call,
    request: Request[Any, Any, Any],
    path: dict[str, Any],
    items: list[tuple[str, Any]],
    url: str,
) -> tuple[Asked, Response[Any] | None]:
    """Authenticate (filling in ``call``) and parse; answer at once unless ``after`` is asked."""
    token = reads.authenticate(request)
    asked = _checked(call, token, query, path, items)
    if asked.after is not None:
        return asked, None
    return asked, _answer(reads, query, token, path, url, asked)


def _checked(
    call: _Call, token: TokenRecord, query: Query, path: dict[str, Any], items: Sequence[Any]
) -> Asked:
    """Fill in ``call`` with who asks, and parse the query string ``items``."""
    call.token = token
    call.role, call.partnership, call.agency = token.role.value, token.partnership, token.agency
    return parse(query, path, items)


def serve_chronology(
    reads: Reads,
    authenticate: Callable[[str | None], TokenRecord],
    authorization: str | None,
    path: dict[str, str],
    items: Sequence[tuple[str, str]],
) -> Response[Any]:
    """A case's chronology, or the problem refusing it, for the chronology route's direct
    path (:class:`~interfaces.http._chronology_path.ChronologyPath`), in a worker thread:
    the route's own checks, order and answers, in one hop. ``authenticate`` reads the
    ``Authorization`` header's value ``authorization``; ``items`` is the query string,
    which asks for no ``after`` (the route waits for that on the event loop)."""
    query = QUERIES["chronology"]
    call = _Call(query.name)
    try:
        asked = _checked(call, authenticate(authorization), query, path, items)
        if asked.after is not None:  # the direct path leaves these to the route
            raise AssertionError("a read after a sequence waits on the event loop")
        return _answer(reads, query, cast(TokenRecord, call.token), path, "", asked)
    except Exception as error:  # noqa: BLE001 - its problem, or raised again by _failure
        return _failure(error, call)


# -- after=SEQ ---------------------------------------------------------------------------


async def _wait(reads: Reads, query: Query, after: int) -> None:
    """Return once every view ``query`` reads has applied ``after``; else :class:`_Behind`."""
    last = await reads.blocking(reads.last_sequence)
    if after > (last or 0):
        raise BadParameter(
            "after",
            f"{after} is beyond the stream's last sequence {last or 0}",
            "after is the sequence of an event the ledger has recorded",
        )
    deadline = anyio.current_time() + reads.wait_s
    pause = 0.005
    while True:
        positions = await reads.blocking(reads.views.store.positions)
        reached = min(positions.get(name, 0) for name in query.reads)
        if reached >= after:
            return
        left = deadline - anyio.current_time()
        if left <= 0:
            raise _Behind(after, reached, reads.wait_s)
        await anyio.sleep(min(pause, left))
        pause = min(pause * 2, 0.1)


# -- answering (in a worker thread) ------------------------------------------------------


def _answer(
    reads: Reads,
    query: Query,
    token: TokenRecord,
    path: dict[str, Any],
    url: str,
    asked: Asked,
) -> Response[Any]:
    views = reads.views
    caller = Caller(role=token.role, partnership=token.partnership, agency=token.agency)
    ask = Ask(
        partnership=str(path["partnership"]),
        filters=asked.filters,
        day=local_date(asked.as_of or datetime.now(UTC)),
        as_of=asked.as_of,
        case=None if "case" not in path else str(path["case"]),
    )
    if query.name == "chronology" and asked.format == "json" and ask.case is not None:
        return _answer_chronology(reads, query, token, caller, ask, ask.case)
    ask = permit(query, caller, views, ask)
    if ask.case is not None:
        views.directory.case(ask.partnership, ask.case)
    else:
        views.directory.partnership(ask.partnership)
    with _views_at(reads, query, ask.as_of) as source:
        answer, after = _page(query, source, ask, asked)
    if query.logged:
        record(reads.access_log, query.name, _fields(token, ask))
    headers: dict[str, str] = {}
    if isinstance(answer, Chronology):
        attestation = attestation_of(reads.attest, answer)
        if attestation is not None:
            headers[HTTP_ATTESTATION] = attestation.sentence()
    return _render(query, ask, asked, answer, after, url, headers)


def _answer_chronology(
    reads: Reads, query: Query, token: TokenRecord, caller: Caller, ask: Ask, case: str
) -> Response[Any]:
    """The chronology as JSON: the checks and the version in one statement, then the
    bytes kept for that version (:mod:`interfaces.http._chronology_cache`) or read afresh,
    recorded in the access log before they are answered.

    The record (a synced publish: its wait is the server's fsync) is sent, and its ack
    read once the rest of the read is done (:class:`PendingRecord`), from the moment the
    caller is known to be allowed to read the case: at once for a role that reads every
    case of its partnership (a board, an inspector) asking for an answer this process
    keeps (so the case exists: a case is never removed from the ledger); else once the
    statement has found the case and the agency party to it. A refused read is never
    recorded; the answer waits for the record.
    """
    views = reads.views
    agency = caller.agency if caller.role is Role.AGENCY else None
    key: Key = (ask.partnership, case, None if ask.as_of is None else ask.as_of.isoformat())
    record: PendingRecord | None = None
    try:
        if reads.chronologies.holds(key) and _allowed_by_role(query, caller, views, ask):
            record = PendingRecord(reads.access_log, query.name, _fields(token, ask))
        standing = views.chronology.standing(ask.partnership, case, agency=agency, as_of=ask.as_of)

        def is_party(partnership: str, case: str, agency: str) -> bool:
            _known(standing, partnership, case)
            return bool(standing.party)

        ask = permit(query, caller, views, ask, is_party=is_party)
        _known(standing, ask.partnership, case)
        if record is None:
            record = PendingRecord(reads.access_log, query.name, _fields(token, ask))
        version = standing.version
        body = reads.chronologies.get(key, version)
        if body is None:
            chronology = cast(Chronology, query.answer(views, ask))
            # Read in a snapshot of its own: it may be newer than the standing's.
            version = max((e.sequence for e in chronology.entries), default=0)
            body = _encode(chronology)
            reads.chronologies.put(key, version, body)
        headers: dict[str, str] = {}
        attestation = _attestation_at(reads.attest, version)
        if attestation is not None:
            headers[HTTP_ATTESTATION] = attestation.sentence()
    except BaseException:
        if record is not None:  # a read that fails now is not answered: its error wins
            with contextlib.suppress(Unrecorded):
                record.wait()
        raise
    record.wait()
    return Response(body, media_type="application/json", headers=headers)


class _NotYet(Exception):
    """Whether the caller may read depends on the case (an agency party to it)."""


def _not_yet(partnership: str, case: str, agency: str) -> bool:
    raise _NotYet


def _allowed_by_role(query: Query, caller: Caller, views: Views, ask: Ask) -> bool:
    """Whether ``caller`` may read any case of ``ask``'s partnership by its role alone
    (:func:`permit` without asking about the case); a refusal is raised as permit's."""
    try:
        permit(query, caller, views, ask, is_party=_not_yet)
    except _NotYet:
        return False
    return True


def _fields(token: TokenRecord, ask: Ask) -> dict[str, Any]:
    """What the access log records of a read of ``ask`` (the token's id, never its secret)."""
    return {
        "partnership": ask.partnership,
        "case": ask.case or "",
        "role": token.role.value,
        "agency": token.agency,
        "token": token.id,
        "as_of": ask.as_of,
    }


def _known(standing: ChronologyStanding, partnership: str, case: str) -> None:
    """Refuse an unknown partnership or case (404), as the directory would."""
    if not standing.partnership_known:
        raise UnknownEntity("partnership", partnership)
    if not standing.case_known:
        raise UnknownEntity("case", case)


@contextmanager
def _views_at(reads: Reads, query: Query, as_of: datetime | None) -> Iterator[Views]:
    """The views to answer from: the live ones, or the views as the ledger stood at ``as_of``."""
    if as_of is None or query.answers_as_of:
        yield reads.views
        return
    with reads.as_of_views(as_of) as past:
        yield past


def _page(query: Query, views: Views, ask: Ask, asked: Asked) -> tuple[Any, str | None]:
    """The answer (a list's page) and the next page's cursor."""
    if not query.is_list:
        return query.answer(views, ask), None
    if query.keyset is not None:
        filters = msgspec.structs.replace(ask.filters, after=asked.key, limit=asked.limit)
        items = list(
            cast(Sequence[Any], query.answer(views, dataclasses.replace(ask, filters=filters)))
        )
        if len(items) < asked.limit:
            return items, None
        last = getattr(items[-1], query.keyset)
        probe = msgspec.structs.replace(filters, after=last, limit=1)
        more = query.answer(views, dataclasses.replace(ask, filters=probe))
        return items, next_cursor(asked.question, asked.as_of, key=last) if more else None
    everything = cast(Sequence[Any], query.answer(views, ask))
    end = asked.offset + asked.limit
    after = next_cursor(asked.question, asked.as_of, offset=end) if len(everything) > end else None
    return list(everything[asked.offset : end]), after


def _render(
    query: Query,
    ask: Ask,
    asked: Asked,
    answer: Any,
    after: str | None,
    url: str,
    headers: dict[str, str],
) -> Response[Any]:
    if after is not None:
        headers["Link"] = f'<{_with_cursor(url, after)}>; rel="next"'
    if asked.format == "json":
        body = Page(items=answer, next=after) if query.is_list else answer
        return Response(_encode(body), media_type="application/json", headers=headers)
    if asked.format == "review":
        table = exports.review_rows(cast(Chronology, answer))
    else:
        table = exports.rows(answer)
    name = "-".join(p for p in (query.name, ask.partnership, ask.case) if p)
    if asked.format == "review":
        name += "-review"
    headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return Response(exports.to_csv(table).encode("utf-8"), media_type=_CSV_MEDIA, headers=headers)


def _with_cursor(url: str, cursor: str) -> str:
    """``url`` with its ``cursor`` parameter set to ``cursor``."""
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cursor"]
    return urlunsplit(parts._replace(query=urlencode([*pairs, ("cursor", cursor)])))
