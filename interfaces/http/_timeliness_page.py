"""The timeliness page: every statutory clock, per rule and agency, as of a day.

``GET /pages/{partnership}/timeliness`` (board, inspector) shows each agency's record
against each rule (the API's ``timeliness-by-rule``: on time, late, open, overdue) and the
clocks themselves (the API's ``timeliness``), filtered by the API's own filters (``rule``,
``agency``, ``status``, ``as_of``), read by the API's parser, so a bad one is refused
naming it. The per-rule table is narrowed by the same ``rule`` and ``agency``.
"""

from __future__ import annotations

from typing import Any, get_args

from litestar import Request, get
from litestar.response import Template

from interfaces.http._page_kit import Pages, guarded, page
from interfaces.http._read_params import parse
from interfaces.queries import QUERIES
from projections.timeliness import Status
from runtime.tokens import TokenRecord

__all__ = ["timeliness_route"]

_FIELDS = ("rule", "agency", "status", "as_of")


def timeliness_route(pages: Pages) -> Any:
    @get("/pages/{partnership:str}/timeliness", sync_to_thread=True, name="page-timeliness")
    def timeliness(request: Request[Any, Any, Any]) -> Any:
        partnership = str(request.path_params["partnership"])
        given = [(k, str(v)) for k, v in request.query_params.multi_items() if str(v) != ""]

        def render(token: TokenRecord) -> Template:
            asked = parse(QUERIES["timeliness"], {"partnership": partnership}, given)
            filters = asked.filters
            agencies = pages.ask("agencies", token, partnership)
            with pages.at(asked.as_of) as source:

                def ask(name: str, **kw: Any) -> Any:
                    return pages.ask(
                        name, token, partnership, source=source, as_of=asked.as_of, **kw
                    )

                clocks = ask("timeliness", filters=filters)
                performance = ask("timeliness-by-rule")
            rules = sorted({(p.rule, p.title) for p in performance})
            shown = [
                p
                for p in performance
                if filters.rule in (None, p.rule) and filters.agency in (None, p.agency)
            ]
            return page(
                "timeliness.html",
                token,
                f"Timeliness: {partnership}",
                current="Timeliness",
                partnership=partnership,
                performance=shown,
                clocks=clocks,
                titles=dict(rules),
                rules=rules,
                agencies=[a.agency for a in agencies],
                statuses=get_args(Status),
                chosen={k: v for k, v in given if k in _FIELDS},
            )

        return guarded(pages, render)(request)

    return timeliness
