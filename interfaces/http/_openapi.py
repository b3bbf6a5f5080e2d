"""What the OpenAPI document says of every route besides its success: the JSON Schemas
inlined, the RFC 9457 problem responses, and the bearer token scheme.

The schemas of a command's body and of a question's answer come from msgspec as
standalone 2020-12 documents whose ``$ref`` point into their own ``$defs``. A client that
reads the OpenAPI document (a generator, Schemathesis) resolves ``#/$defs/...`` against
the whole document, where there is no such member, and Litestar rebuilds the document's
``components.schemas`` from its own types only. So each schema is served self-contained:
:func:`inline` replaces every ``$ref`` into ``$defs`` by what it names.

Every route documents each problem status it can answer with :func:`problem_responses`,
as ``application/problem+json`` of :data:`PROBLEM_SCHEMA`, and :func:`with_problems`
makes the Operation class that adds them to what Litestar generates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)

__all__ = [
    "BEARER",
    "PROBLEM_MEDIA",
    "PROBLEM_SCHEMA",
    "SECURITY_COMPONENTS",
    "inline",
    "problem_responses",
    "with_problems",
]

PROBLEM_MEDIA: Final = "application/problem+json"
_DEFS: Final = "#/$defs/"

#: An RFC 9457 problem as :mod:`interfaces.http._problems` writes it: more members may
#: come (``field``, ``rule``, ``id``, a readiness check's figures ...).
PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "rule": {"type": "string"},
    },
}

#: The security requirement of a route that takes an API token.
BEARER: Final[list[SecurityRequirement]] = [{"bearer": []}]
#: The API token scheme, for the document's components.
SECURITY_COMPONENTS: Final = Components(
    security_schemes={
        "bearer": SecurityScheme(
            type="http",
            scheme="bearer",
            description="An API token from `ledger token issue`: `Authorization: Bearer ldg_...`",
        )
    }
)


def inline(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with each ``$ref`` into its ``$defs`` replaced by the definition (the
    ``$ref``'s sibling keywords kept over the definition's), and without ``$defs``,
    ``$id`` and ``$schema``: a schema that means the same wherever it is placed.

    Raises :class:`ValueError` on a definition that refers to itself (none does: an
    inlined recursive type would never end).
    """
    definitions: Mapping[str, Any] = document.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        out: dict[str, Any] = {}
        dropped = {"$defs", "$id", "$schema"}
        if isinstance(ref, str) and ref.startswith(_DEFS):
            name = ref.removeprefix(_DEFS)
            if name in seen:
                msg = f"$defs/{name} refers to itself; rule: an inlined schema is not recursive"
                raise ValueError(msg)
            out.update(resolve(definitions[name], (*seen, name)))
            dropped.add("$ref")
        for key, value in node.items():
            if key not in dropped:
                out[key] = resolve(value, seen)
        return out

    return cast(dict[str, Any], resolve(dict(document), ()))


def problem_responses(statuses: Mapping[int, str]) -> dict[str, OpenAPIResponse]:
    """Status -> its problem response, described as ``statuses`` says."""
    return {
        str(status): OpenAPIResponse(
            description=description,
            content={PROBLEM_MEDIA: OpenAPIMediaType(schema=cast(Schema, PROBLEM_SCHEMA))},
        )
        for status, description in statuses.items()
    }


def with_problems(statuses: Mapping[int, str]) -> type[Operation]:
    """An Operation with the problem responses of ``statuses`` beside Litestar's success
    response (a problem replaces what Litestar would say of the same status)."""
    problems = problem_responses(statuses)

    @dataclass
    class ProblemOperation(Operation):
        def __post_init__(self) -> None:
            self.responses = {**(self.responses or {}), **problems}

    return ProblemOperation
