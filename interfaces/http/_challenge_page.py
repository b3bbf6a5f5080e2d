"""The challenge-history page: challenges between partners, filtered as the API filters them.

``GET /pages/{partnership}/challenges`` takes the query string of the API's ``challenges``
question (``agency``, ``role``, ``case``, ``matter``, ``date_from``, ``date_to``,
``status``, ``as_of``), read by the same parser (:func:`interfaces.http._read_params.parse`),
so a filter means on the page what it means in the API and a bad one is refused naming
it; empty form fields are left out. ``stage`` narrows the answer further to the
challenges at that stage (the one they are at, or ended at). A board and an inspector
see every challenge; an agency sees those it raised or received (the API's narrowing),
and is refused another agency's. Each challenge shows the time taken at each stage
against the partnership's limit for it.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from interfaces.http._form_pages import forms_for
from interfaces.http._page_kit import Pages, guarded, page
from interfaces.http._read_params import BadParameter, parse
from interfaces.queries import QUERIES
from projections.challenges import StageTiming
from runtime.tokens import Role, TokenRecord
from schemas import ChallengeMatter

__all__ = ["challenge_route"]

#: The filters the form offers, in its order (``stage`` is the page's own).
_FIELDS = ("agency", "role", "case", "matter", "stage", "status", "date_from", "date_to", "as_of")


def challenge_route(pages: Pages) -> Any:
    @get("/pages/{partnership:str}/challenges", sync_to_thread=True, name="page-challenges")
    def challenges(request: Request[Any, Any, Any]) -> Any:
        partnership = str(request.path_params["partnership"])
        given = [(k, str(v)) for k, v in request.query_params.multi_items() if str(v) != ""]

        def render(token: TokenRecord) -> Template:
            stage = _stage(dict(given).get("stage"))
            asked = parse(
                QUERIES["challenges"],
                {"partnership": partnership},
                [(k, v) for k, v in given if k != "stage"],
            )
            setup = pages.ask("partnership", token, partnership)
            agencies = pages.ask("agencies", token, partnership)
            with pages.at(asked.as_of) as source:
                listed = pages.ask(
                    "challenges",
                    token,
                    partnership,
                    source=source,
                    filters=asked.filters,
                    as_of=asked.as_of,
                )
            if stage is not None:
                listed = [c for c in listed if c.current_stage == stage]
            return page(
                "challenges.html",
                token,
                f"Challenge history: {partnership}",
                current="Challenges",
                partnership=partnership,
                challenges=listed,
                chosen={k: v for k, v in given if k in _FIELDS},
                agencies=[a.agency for a in agencies],
                own_only=token.role is Role.AGENCY,
                forms=dict(forms_for(token)),
                stages=setup.escalation_stages,
                matters=[m.value for m in ChallengeMatter],
                describe=_stage_text,
            )

        return guarded(pages, render)(request)

    return challenges


def _stage(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 20:
        raise BadParameter("stage", "is not a stage", "a whole number from 1 to 20")
    return int(text)


def _stage_text(s: StageTiming) -> str:
    """How one stage went, against its limit, in words."""
    limit = f"limit {s.limit_working_days} working days"
    if s.status == "open":
        if s.days_overdue:
            return f"open, due {s.due_on} ({limit}): overdue by {s.days_overdue} working days"
        return f"open, due {s.due_on} ({limit})"
    taken = f"{s.working_days_taken} working days" if s.working_days_taken is not None else ""
    how = (s.closed_by or s.status).replace("_", " ")
    verdict = f"late by {s.working_days_late}" if s.late else "on time"
    return f"{how} after {taken} ({limit}): {verdict}"
