"""The question commands, one per :data:`interfaces.queries.QUERIES` entry.

``ledger <name> [CASE] --partnership P [--as-of T] [filters] [--format table|csv|json]``:
the options are the query's filters (:mod:`interfaces._options`), the answer is
printed as rows (:func:`interfaces._shell.print_rows`). Where the answer comes from:

1. ``--url`` (``LEDGER_URL``): that service's HTTP API, with the token in ``LEDGER_TOKEN``;
2. else a ``ledger serve`` running on the data dir: its HTTP API, with ``LEDGER_TOKEN``;
3. else the data dir itself: the service is opened here (the embedded server started
   when no ``NATS_URL`` is set), the views brought up to date with the stream, and the
   question answered by the same :attr:`Query.answer` the HTTP API runs. Whoever holds
   the data dir reads everything: the answer is the one a board gets.

Either way the rows are the same: a service's answer is decoded back into the type
the views return (:func:`interfaces._client.answer_type`) before it is flattened.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Final, cast

import msgspec
import typer

from interfaces._client import KEYSET_FIELDS, PAGE, Client, running_service
from interfaces._options import Field, fields_of, parameters, values
from interfaces._shell import Format, fail, print_rows
from interfaces.exports import review_rows, rows
from interfaces.queries import QUERIES, Answer, Ask, Query
from ledger.errors import LedgerError
from projections import Views
from projections.calendar import LONDON, local_date
from projections.chronology import Chronology
from runtime.settings import Settings
from schemas import EARLIEST_YEAR

__all__ = ["add_query_commands", "remote_client"]

_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

PartnershipOption = Annotated[
    str,
    typer.Option(
        "--partnership",
        envvar="LEDGER_PARTNERSHIP",
        help="The partnership asked about (or LEDGER_PARTNERSHIP).",
        show_default=False,
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="INSTANT",
        help="Answer as the ledger stood at this instant (ISO 8601 with its time zone,"
        " such as 2026-03-02T09:00:00Z) or at the end of this day in London (2026-03-02);"
        " now when left out.",
    ),
]
FormatOption = Annotated[
    Format | None,
    typer.Option(
        "--format",
        help="table, csv or json; a table on a terminal and CSV into a pipe or file when left out.",
        show_default=False,
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="LEDGER_URL",
        help="A ledger service to ask (or LEDGER_URL), with the API token in LEDGER_TOKEN;"
        " when left out, the service running on the data dir, else the data dir itself.",
        show_default=False,
    ),
]
ReviewOption = Annotated[
    bool,
    typer.Option(
        "--review",
        help="In the columns of review chronologies: date, time, sequence, source, agency,"
        " event, action taken.",
    ),
]
#: The token only from the environment: a command line is visible to every user's ps.
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="LEDGER_TOKEN", hidden=True, show_default=False)
]


def remote_client(settings: Settings, url: str | None, token: str | None) -> Client | None:
    """A client for ``url``, or for the service running on the data dir; None for local.

    Fails (exit 1) when a service is to be asked and ``LEDGER_TOKEN`` is not set.
    """
    if url is None:
        url = running_service(settings)
        if url is None:
            return None
        if not token:
            fail(
                f"a ledger service runs on data dir {settings.data_dir} at {url}:"
                " set LEDGER_TOKEN to an API token it knows (ledger token issue) to use it"
            )
    elif not token:
        fail(f"LEDGER_TOKEN is not set: the ledger service at {url} needs an API token")
    return Client(url, token)


def _instant(text: str | None, now: datetime) -> datetime | None:
    """``--as-of``: an aware instant, or a date meaning the end of that day in London (as
    the HTTP API reads ``as_of``), not in the future; a usage error (exit 2) otherwise."""
    if text is None:
        return None
    value: datetime | None = None
    if _DAY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            fail(f"--as-of: {text!r} is not a calendar date", 2)
        if day > now.astimezone(LONDON).date():
            fail(f"--as-of: {text!r} is out of range (from {EARLIEST_YEAR} to now)", 2)
        end = datetime.combine(day + timedelta(days=1), time(), LONDON) - timedelta(microseconds=1)
        value = min(end.astimezone(UTC), now)
    else:
        try:
            value = msgspec.convert(text, datetime)
        except msgspec.ValidationError:
            value = None
        if value is None or value.tzinfo is None:
            fail(
                f"--as-of: {text!r} is neither a date nor an instant with a time zone"
                " (ISO 8601, such as 2026-03-02 or 2026-03-02T09:00:00Z)",
                2,
            )
    if value.year < EARLIEST_YEAR or value > now:
        fail(f"--as-of: {text!r} is out of range (from {EARLIEST_YEAR} to now)", 2)
    return value.astimezone(UTC)


def _filters(query: Query, fields: list[Field], given: dict[str, Any]) -> msgspec.Struct:
    try:
        filters: msgspec.Struct = msgspec.convert(values(fields, given), query.filters)
    except msgspec.ValidationError as error:
        fail(f"{_option_path(str(error))}", 2)
    return filters


def _option_path(message: str) -> str:
    """msgspec's ``... - at `$.date_from``` as ``--date-from: ...``."""
    text, sep, path = message.rpartition(" - at `$.")
    if not sep:
        return message
    return f"--{path.rstrip('`').replace('_', '-')}: {text}"


def _local_answer(settings: Settings, query: Query, ask: Ask) -> Answer:
    """``ask`` answered from the data dir, as the HTTP API answers it (without ``permit``:
    the data dir's holder reads as a board does): the views brought up to date first."""
    from projections.as_of import PastViews
    from runtime.service import open_service

    with open_service(settings, role="projector") as service:
        views = service.views
        views.runner(service.ledger).catch_up()
        if ask.case is not None:  # an unknown partnership or case is an error, not nothing
            views.directory.case(ask.partnership, ask.case)
        else:
            views.directory.partnership(ask.partnership)
        if ask.as_of is None or query.answers_as_of:
            return _every_page(query, views, ask)
        past = PastViews(service.ledger, rules=views.rules)
        try:
            with past.at(ask.as_of) as then:
                return _every_page(query, then, ask)
        finally:
            past.close()


def _every_page(query: Query, views: Views, ask: Ask) -> Answer:
    """The whole answer: a keyset-paged list (the cases) is read page after page."""
    if query.keyset is None:
        return query.answer(views, ask)
    items: list[Any] = []
    after = None
    while True:
        filters = msgspec.structs.replace(ask.filters, after=after, limit=PAGE)
        page = list(cast(Sequence[Any], query.answer(views, replace(ask, filters=filters))))
        items += page
        if len(page) < PAGE:
            return items
        after = getattr(page[-1], query.keyset)


def _command(query: Query) -> Callable[..., None]:
    # A keyset-paged list (the cases) is printed whole: its pages are not options.
    fields = fields_of(query.filters, skip=KEYSET_FIELDS if query.keyset else ())

    def run(**given: Any) -> None:
        try:
            answer(**given)
        except LedgerError as error:
            fail(str(error))

    def answer(**given: Any) -> None:
        settings = Settings.from_env()
        now = datetime.now(UTC)
        as_of = _instant(given["as_of"], now)
        filters = _filters(query, fields, given)
        case: str | None = given.get("case")
        partnership: str = given["partnership"]
        client = remote_client(settings, given["url"], given["token"])
        found: Answer
        if client is not None:
            with client:
                found = client.ask(
                    query, partnership=partnership, filters=filters, case=case, as_of=as_of
                )
        else:
            day = local_date(as_of or now)
            ask = Ask(partnership=partnership, filters=filters, day=day, as_of=as_of, case=case)
            found = _local_answer(settings, query, ask)
        if given.get("review") and isinstance(found, Chronology):
            table = review_rows(found)
        else:
            table = rows(found)
        print_rows(table, given["format"], title=query.name)

    params: list[inspect.Parameter] = []
    if query.per_case:
        params.append(
            inspect.Parameter(
                "case",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[
                    str, typer.Argument(metavar="CASE", help="The case asked about.")
                ],
            )
        )
    for name, annotation in (
        ("partnership", PartnershipOption),
        ("as_of", AsOfOption),
    ):
        default = inspect.Parameter.empty if name == "partnership" else None
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    params += parameters(fields)
    if query.review_layout:
        params.append(
            inspect.Parameter(
                "review", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=ReviewOption
            )
        )
    for name, annotation in (("format", FormatOption), ("url", UrlOption), ("token", TokenOption)):
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
            )
        )
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    run.__name__ = query.name.replace("-", "_")
    run.__doc__ = query.summary
    return run


def add_query_commands(app: typer.Typer) -> None:
    """Add one command per question to ``app``, in the order of :data:`QUERIES`."""
    for query in QUERIES.values():
        app.command(query.name, rich_help_panel="Questions")(_command(query))
