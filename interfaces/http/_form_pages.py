"""The forms: what people record by hand most, recorded as the API records it.

| route | what |
|---|---|
| ``GET /pages/{partnership}/forms`` | the forms the signed-in role may send |
| ``GET /pages/{partnership}/forms/{Tag}?field=value`` | one form (query values prefill it) |
| ``POST /pages/{partnership}/forms/{Tag}`` | record it |

A form is a command type of :data:`FORMS` with its fields made from the type
(:mod:`interfaces.http._forms`; an agency field is a choice of the partnership's
agencies), offered only to the roles :data:`MAY_SEND` lets send it
(an inspector has none; another role's form is a 403 page, as the API's 403). A posted
form goes through :func:`interfaces.http._send.send`, the API's own path: the same
decoder, role check and ``Ledger.execute``, recorded by the token's agency and the
practitioner reference the person gives (kept in the session, asked once). A refused
form is shown again with the values entered and, beside the field the error names, the
rule it broke (``aria-invalid``, ``aria-describedby``); an error naming no field of the
form is said at the top. Nothing is recorded on a refusal. A recorded form waits (at most
``LEDGER_READ_WAIT_S``, as a read ``after`` a sequence does) for the views to apply it,
then sends the browser (303) to the page that shows it (the case, the challenges, the
recommendations) with a status message naming the stream sequence (and saying so if the
views had not applied it in time). Every form carries the CSRF token (the pages' middleware).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import anyio.to_thread
import structlog
from litestar import Request, get, post
from litestar.response import Redirect, Template

import schemas
from interfaces.http._forms import FormField, choice_label, fields_of, to_json
from interfaces.http._page_kit import NOTICE_KEY, PageError, Pages, guarded, page
from interfaces.http._permissions import MAY_SEND
from interfaces.http._problems import Refused, from_ledger_error
from interfaces.http._send import article, send
from interfaces.queries import QUERIES
from ledger.application import Ledger, Receipt
from ledger.errors import InvalidCommand, InvalidEvent, LedgerError
from runtime.tokens import TokenRecord

__all__ = ["FORMS", "form_routes", "forms_for"]

log = structlog.get_logger()

#: The forms offered, by command tag: their titles, in the order listed.
FORMS: Final[dict[str, str]] = {
    "RecordAction": "Record an action on a case",
    "ProvideInformation": "Answer an information request",
    "RefuseCooperation": "Refuse an information request",
    "RaiseChallenge": "Raise a challenge",
    "RespondToChallenge": "Respond to a challenge",
    "EscalateChallenge": "Escalate a challenge",
    "ResolveChallenge": "Resolve a challenge",
    "ReportRecommendationProgress": "Report progress on a recommendation",
    "IssueRecommendation": "Issue a recommendation",
}
#: The session key of the practitioner reference given once a session.
ACTOR_KEY: Final = "actor"
_ACTOR = FormField(
    name="actor",
    label="Your practitioner reference",
    kind="text",
    required=True,
    hint="Pseudonymous: 'act_' and 6-64 letters, digits, '-' or '_', never a name."
    " Asked once a session.",
    max_length=68,
)


def forms_for(token: TokenRecord) -> list[tuple[str, str]]:
    """The (tag, title) of the forms ``token``'s role may send."""
    return [(tag, title) for tag, title in FORMS.items() if tag in MAY_SEND[token.role]]


@dataclass(frozen=True)
class _Shown:
    """A form as shown: its fields, the values in them, and what was refused."""

    values: Mapping[str, str]
    errors: Mapping[str, str]
    refusal: str | None = None


def form_routes(pages: Pages, ledger: Ledger, *, wait_s: float = 5.0) -> list[Any]:
    @get("/pages/{partnership:str}/forms", sync_to_thread=True, name="page-forms")
    def index(request: Request[Any, Any, Any]) -> Any:
        partnership = str(request.path_params["partnership"])

        def render(token: TokenRecord) -> Template:
            _own(token, partnership)
            offered = forms_for(token)
            if not offered:
                raise PageError(403, "Not allowed", _none_for(token))
            return page(
                "forms.html",
                token,
                f"Record: {partnership}",
                current="Record",
                partnership=partnership,
                forms=offered,
            )

        return guarded(pages, render)(request)

    @get("/pages/{partnership:str}/forms/{tag:str}", sync_to_thread=True, name="page-form")
    def blank(request: Request[Any, Any, Any]) -> Any:
        partnership, tag = _path(request)

        def render(token: TokenRecord) -> Template:
            _offered(token, partnership, tag)
            given = {k: str(v) for k, v in request.query_params.items()}
            given[_ACTOR.name] = _actor_of(request, token)
            return _form(pages, token, partnership, tag, _Shown(values=given, errors={}))

        return guarded(pages, render)(request)

    @post("/pages/{partnership:str}/forms/{tag:str}", name="page-form-post", status_code=303)
    async def record(request: Request[Any, Any, Any]) -> Any:
        partnership, tag = _path(request)
        posted = {k: str(v) for k, v in (await request.form()).items() if k != "_csrf_token"}

        def render(token: TokenRecord) -> Template | Redirect:
            _offered(token, partnership, tag)
            cls = schemas.COMMAND_TYPES[tag]
            actor = posted.get(_ACTOR.name, "").strip()
            try:
                receipt = send(
                    ledger, token, tag, cls, to_json(cls, partnership, posted), actor=actor
                )
            except Refused as error:
                log.warning("form_refused", status=error.status, command=tag)
                raise PageError(error.status, "Not allowed", error.reason) from None
            except LedgerError as error:
                log.warning(
                    "form_refused",
                    command=tag,
                    error=type(error).__name__,
                    field=getattr(error, "field", None),
                )
                return _refused(pages, token, partnership, tag, posted, error)
            log.info("form_recorded", command=tag, sequence=receipt.sequence)
            where, question = _shown_at(partnership, posted, tag, receipt)
            shown = _wait_for_views(pages, receipt, QUERIES[question].reads, wait_s)
            session = dict(request.session) if isinstance(request.session, dict) else {}
            session[ACTOR_KEY] = actor
            session[NOTICE_KEY] = (
                f"{FORMS[tag]}: recorded as {receipt.event_type}, stream sequence"
                f" {receipt.sequence}."
            ) + ("" if shown else " The views have not applied it yet: reload in a moment.")
            request.set_session(session)
            return Redirect(where, status_code=303)

        return await anyio.to_thread.run_sync(guarded(pages, render), request)

    return [index, blank, record]


def _path(request: Request[Any, Any, Any]) -> tuple[str, str]:
    return str(request.path_params["partnership"]), str(request.path_params["tag"])


def _own(token: TokenRecord, partnership: str) -> None:
    if partnership != token.partnership:
        raise PageError(403, "Not allowed", f"the token is for partnership '{token.partnership}'")


def _none_for(token: TokenRecord) -> str:
    return f"{article(token.role.value)} token records nothing, so it is offered no form"


def _offered(token: TokenRecord, partnership: str, tag: str) -> None:
    """403 unless ``tag`` is a form ``token``'s role may send; 404 if it is no form."""
    _own(token, partnership)
    if tag not in FORMS:
        raise PageError(404, "It does not exist", f"there is no form '{tag}'")
    if tag not in MAY_SEND[token.role]:
        if not forms_for(token):
            raise PageError(403, "Not allowed", _none_for(token))
        raise PageError(403, "Not allowed", f"{article(token.role.value)} token may not send {tag}")


def _actor_of(request: Request[Any, Any, Any], token: TokenRecord) -> str:
    session = request.session if isinstance(request.session, dict) else {}
    return str(session.get(ACTOR_KEY) or token.actor or "")


def _form(
    pages: Pages,
    token: TokenRecord,
    partnership: str,
    tag: str,
    shown: _Shown,
    status: int = 200,
) -> Template:
    cls = schemas.COMMAND_TYPES[tag]
    agencies = tuple(a.agency for a in pages.ask("agencies", token, partnership))
    fields = [
        replace(f, kind="choice", choices=agencies) if f.names == "AgencyId" else f
        for f in fields_of(cls)
    ]
    doc = (cls.__doc__ or "").strip().splitlines()[0]
    return page(
        "form.html",
        token,
        FORMS[tag],
        current="Record",
        status=status,
        partnership=partnership,
        tag=tag,
        summary=doc.replace("``", "").replace('"', "'"),
        actor=_ACTOR,
        fields=fields,
        values=shown.values,
        errors=shown.errors,
        refusal=shown.refusal,
        words=choice_label,
    )


def _refused(
    pages: Pages,
    token: TokenRecord,
    partnership: str,
    tag: str,
    posted: Mapping[str, str],
    error: LedgerError,
) -> Template:
    """The form again, with the values entered and the rule beside its field."""
    status = from_ledger_error(error).status_code or 400
    names = {f.name for f in fields_of(schemas.COMMAND_TYPES[tag])} | {_ACTOR.name}
    field = getattr(error, "field", None)
    if field in names:
        said = _plain(error)
        return _form(
            pages,
            token,
            partnership,
            tag,
            _Shown(
                values=posted,
                errors={field: said},
                refusal="Nothing was recorded: a field breaks a rule (marked below).",
            ),
            status=status,
        )
    return _form(
        pages,
        token,
        partnership,
        tag,
        _Shown(values=posted, errors={}, refusal=f"Nothing was recorded: {error}"),
        status=status,
    )


def _plain(error: LedgerError) -> str:
    """An error's problem and rule, without the decoder's ``invalid X command: $.f:``."""
    text = str(error)
    if isinstance(error, InvalidCommand | InvalidEvent) and ": $." in text:
        text = text.split(": $.", 1)[1].split(": ", 1)[-1]
    return text.replace("; rule: ", ". Rule: ")


def _shown_at(
    partnership: str, posted: Mapping[str, str], tag: str, receipt: Receipt
) -> tuple[str, str]:
    """The page that shows what ``tag`` recorded, and the question it shows it by."""
    base = f"/pages/{partnership}"
    kind = receipt.aggregate_id.split(".")[1] if receipt.aggregate_id.count(".") >= 2 else ""
    if kind == "challenge":
        return f"{base}/challenges", "challenges"
    if kind == "review":
        return f"{base}/recommendations", "recommendations"
    if posted.get("case"):
        return f"{base}/cases/{posted['case'].strip()}#entry-{receipt.sequence}", "chronology"
    return f"{base}/forms/{tag}", "partnership"


def _wait_for_views(pages: Pages, receipt: Receipt, reads: Iterable[str], wait_s: float) -> bool:
    """Whether the views ``reads`` applied ``receipt`` within ``wait_s`` (waiting)."""
    waited = threading.Event()
    pause, left = 0.005, wait_s
    while True:
        positions = pages.views.store.positions()
        if min(positions.get(name, 0) for name in reads) >= receipt.sequence:
            return True
        if left <= 0:
            log.warning("form_views_behind", sequence=receipt.sequence)
            return False
        waited.wait(min(pause, left))
        left -= pause
        pause = min(pause * 2, 0.1)
