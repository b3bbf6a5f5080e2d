"""The recommendations page: each review recommendation's red/amber/green status, and themes.

``GET /pages/{partnership}/recommendations`` takes the API's ``recommendations`` filters
(``review``, ``owner``, ``status``, ``theme``, ``as_of``), read by the API's parser, and
lists overdue recommendations first, then red, amber and green, each saying its status
in words. A board and an inspector see every recommendation and the themes (per year,
and those recurring across reviews); an agency sees the recommendations it owns (the
API's narrowing: another owner is refused) and no themes, which are partnership-wide.
"""

from __future__ import annotations

from typing import Any, get_args

from litestar import Request, get
from litestar.response import Template

from interfaces.http._form_pages import forms_for
from interfaces.http._page_kit import PARTNERSHIP_READERS, Pages, guarded, overdue_first, page
from interfaces.http._read_params import parse
from interfaces.queries import QUERIES
from projections.recommendations import RecommendationState
from runtime.tokens import Role, TokenRecord
from schemas import Theme

__all__ = ["recommendations_route"]

_FIELDS = ("review", "owner", "status", "theme", "as_of")


def recommendations_route(pages: Pages) -> Any:
    @get(
        "/pages/{partnership:str}/recommendations",
        sync_to_thread=True,
        name="page-recommendations",
    )
    def recommendations(request: Request[Any, Any, Any]) -> Any:
        partnership = str(request.path_params["partnership"])
        given = [(k, str(v)) for k, v in request.query_params.multi_items() if str(v) != ""]

        def render(token: TokenRecord) -> Template:
            asked = parse(QUERIES["recommendations"], {"partnership": partnership}, given)
            agencies = pages.ask("agencies", token, partnership)
            themes, recurring = [], []
            with pages.at(asked.as_of) as source:

                def ask(name: str, **kw: Any) -> Any:
                    return pages.ask(
                        name, token, partnership, source=source, as_of=asked.as_of, **kw
                    )

                listed = ask("recommendations", filters=asked.filters)
                if token.role in PARTNERSHIP_READERS:
                    themes = ask("themes")
                    recurring = ask("recurring-themes")
            ordered = overdue_first(listed)
            return page(
                "recommendations.html",
                token,
                f"Recommendations: {partnership}",
                current="Recommendations",
                partnership=partnership,
                recommendations=ordered,
                themes=themes,
                recurring=recurring,
                agencies=[a.agency for a in agencies],
                own_only=token.role is Role.AGENCY,
                forms=dict(forms_for(token)),
                states=get_args(RecommendationState),
                theme_names=[t.value for t in Theme],
                chosen={k: v for k, v in given if k in _FIELDS},
            )

        return guarded(pages, render)(request)

    return recommendations
