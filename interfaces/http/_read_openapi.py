"""The OpenAPI operation of a GET route: its parameters and its answer's schema.

Each filter of a question is a query parameter with its JSON Schema (from msgspec, with
``$defs`` inlined and ``null`` left out: a filter not wanted is not sent). The answer's
schema is msgspec's with its ``$defs`` inlined, as the command routes' request bodies
are: a list's is a :class:`Page` of its items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast, get_args

import msgspec
from litestar.enums import ParamType
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)

from interfaces.http._openapi import inline, problem_responses
from interfaces.http._read_params import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PAGING,
    formats,
    parameter_schemas,
)
from interfaces.queries import Query
from projections.chronology import Chronology
from schemas.wire import HTTP_ATTESTATION

__all__ = ["Page", "operation_for"]

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list: its items and the cursor of the next page (``None``: the last)."""

    items: list[T]
    next: str | None


_ERRORS: Final = {
    400: "A parameter is unknown, repeated or breaks its rule (`field`, `rule`)",
    401: "No valid API token",
    403: "The token may not ask this question (the reason is in `detail`)",
    404: "The partnership or case does not exist (`field` names which, `id` the value)",
    503: "The ledger, its views or the access log cannot be reached",
    504: "The views have not applied `after` in time (`sequence_reached`)",
}
_COMMON_DOCS: Final = {
    "as_of": (
        {"type": "string"},
        "Answer as of this instant: an aware ISO 8601 instant, or a date (the end of that"
        " day in Europe/London). Not in the future.",
    ),
    "after": (
        {"type": "integer", "minimum": 1},
        "Wait until the views have applied this stream sequence (a command's receipt).",
    ),
    "cursor": ({"type": "string"}, "The `next` cursor of the previous page."),
    "limit": (
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "Items per page.",
    ),
}


#: A chronology's answer, in every format, says what vouches for it (with a Merkle log).
_ATTESTED: Final[dict[str, OpenAPIHeader | Reference]] = {
    HTTP_ATTESTATION: OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        required=False,
        description="What vouches for the entries shown: 'verified against checkpoint N,"
        " witnessed by X, Y', '..., not witnessed' or 'not yet covered by a checkpoint'"
        " (docs/http.md). Absent with no entry, or when the service keeps no Merkle log.",
    )
}


def _answer_document(query: Query) -> dict[str, Any]:
    answer = Page[get_args(query.returns)[0]] if query.is_list else query.returns  # type: ignore[misc]
    return inline(msgspec.json.schema(answer))


def operation_for(query: Query) -> type[Operation]:
    """An Operation with the question's parameters and its answer's schema."""
    parameters = [
        Parameter(
            name="format",
            param_in=ParamType.QUERY,
            required=False,
            schema=cast(Schema, {"enum": list(formats(query)), "default": "json"}),
            description="`json`, `csv` (UTF-8 with a BOM)"
            + (
                ", or `review` (the review chronology's columns, CSV)"
                if query.review_layout
                else ""
            ),
        )
    ]
    for name in ("as_of", "after") + (PAGING if query.is_list else ()):
        schema, description = _COMMON_DOCS[name]
        parameters.append(
            Parameter(
                name=name,
                param_in=ParamType.QUERY,
                required=False,
                schema=cast(Schema, schema),
                description=description,
            )
        )
    for name, schema in parameter_schemas(query).items():
        parameters.append(
            Parameter(
                name=name,
                param_in=ParamType.QUERY,
                required=False,
                schema=cast(Schema, schema),
                description=schema.get("description"),
            )
        )
    responses: dict[str, OpenAPIResponse] = {
        "200": OpenAPIResponse(
            description="The answer" + (" (one page)" if query.is_list else ""),
            content={
                "application/json": OpenAPIMediaType(schema=cast(Schema, _answer_document(query))),
                "text/csv": OpenAPIMediaType(schema=cast(Schema, {"type": "string"})),
            },
            headers=_ATTESTED if query.returns is Chronology else None,
        )
    }
    responses.update(problem_responses(_ERRORS))

    @dataclass
    class ReadOperation(Operation):
        def __post_init__(self) -> None:
            own = {p.name for p in parameters}
            path = [p for p in self.parameters or [] if getattr(p, "name", None) not in own]
            self.parameters = [*path, *parameters]
            self.responses = dict(responses)

    return ReadOperation
