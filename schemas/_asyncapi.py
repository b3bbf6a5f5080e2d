"""The ledger's messaging contract as an AsyncAPI 3.0 document, for agencies' own clients.

Everything an agency's developer needs to read the ledger without our code: the subject
layout, the headers, how an agency receives its cases' events and acknowledges them, and
the JSON Schema of every event. The schemas are the ones :func:`schemas.json_schemas`
publishes (so the document cannot drift from what the decoder enforces), with their
``$defs`` lifted into ``components.schemas`` and every reference rewritten to point there.

AsyncAPI's default schema format is a superset of JSON Schema draft-07. The event schemas
only use keywords that mean the same in draft-07 and 2020-12, with two adjustments:

* ``$schema``, ``$id`` and ``$defs`` are dropped (an ``$id`` inside a component would move
  the base URI and break ``#/components/...`` references);
* the union's ``discriminator`` becomes the property name, as AsyncAPI's Schema Object
  wants, instead of msgspec's OpenAPI-style object.

AsyncAPI 3.0 parameters carry no schema, so each subject parameter gives its enum or, for
identifiers, its pattern in the ``x-pattern`` extension.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, Final

import msgspec

from schemas._introspect import json_schemas, personal_data_fields
from schemas._registry import EVENT_TYPES
from schemas._types import Id, PartnershipId, anchored
from schemas.wire import (
    AGGREGATE_KINDS,
    HDR_PREV_HASH,
    HDR_SIGNATURE,
    HDR_SOURCE_SEQ,
    HDR_TOPIC,
    HDR_VERSION,
    TRACKING_SPACE,
    consumer_name,
    delivery_prefix,
    delivery_stream,
    is_prefix,
    is_stream_name,
)

__all__ = [
    "ASYNCAPI_VERSION",
    "HDR_PREV_HASH",
    "HDR_SIGNATURE",
    "HDR_TOPIC",
    "HDR_VERSION",
    "asyncapi_document",
]

ASYNCAPI_VERSION: Final = "3.0.0"

_DISTRIBUTION: Final = "accountability-ledger"
_CONTENT_TYPE: Final = "application/json"
_DEFS_REF: Final = "#/$defs/"
_COMPONENT_REF: Final = "#/components/schemas/"
_UNION: Final = "LedgerEvent"

_LEDGER_CHANNEL: Final = "ledger"
_CASE_CHANNEL: Final = "caseEvents"
_CHALLENGE_CHANNEL: Final = "challengeEvents"
_KEY_CHANNEL: Final = "keyEvents"
_RECEIVE_OPERATION: Final = "receiveCaseEvents"
_RECEIVE_CHALLENGES: Final = "receiveChallengeEvents"
_RECEIVE_KEYS: Final = "receiveKeyEvents"
#: The partnership events delivered to an agency: its own keys' registrations and revocations.
_KEY_TAGS: Final = ("AgencyKeyRegistered", "AgencyKeyRevoked")
_SERVER: Final = "production"


def asyncapi_document(
    *, prefix: str = "ledger", stream: str = "LEDGER", version: str | None = None
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the ledger's subjects, headers and event payloads.

    ``prefix`` and ``stream`` are the deployment's ``NATS_SUBJECT_PREFIX`` and
    ``NATS_STREAM``; ``version`` is the document's ``info.version`` (default: the
    installed package's version, or ``"0"``). The result is plain JSON data, the same
    for the same arguments; dump it with sorted keys for a byte-stable file.

    Raises ``ValueError`` when ``prefix`` or ``stream`` cannot be a subject token.
    """
    if not is_prefix(prefix):
        msg = f"subject prefix {prefix!r} must be 1-32 letters, digits, '-' or '_'"
        raise ValueError(msg)
    if not is_stream_name(stream):
        msg = f"stream name {stream!r} must be 1-64 letters, digits, '-' or '_'"
        raise ValueError(msg)
    schemas_, payloads = _component_schemas()
    case_tags = [tag for tag, cls in EVENT_TYPES.items() if cls.aggregate_kind == "case"]
    challenge_tags = [tag for tag, cls in EVENT_TYPES.items() if cls.aggregate_kind == "challenge"]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(version if version is not None else _package_version()),
        "defaultContentType": _CONTENT_TYPE,
        "servers": _servers(),
        "channels": {
            _LEDGER_CHANNEL: _ledger_channel(prefix, stream),
            _CASE_CHANNEL: _case_channel(prefix, stream, case_tags),
            _CHALLENGE_CHANNEL: _challenge_channel(prefix, stream, challenge_tags),
            _KEY_CHANNEL: _key_channel(prefix, stream),
        },
        "operations": {
            _RECEIVE_OPERATION: _receive_operation(prefix, stream, case_tags),
            _RECEIVE_CHALLENGES: _receive_challenges(stream, challenge_tags),
            _RECEIVE_KEYS: _receive_keys(stream),
        },
        "components": {
            "schemas": schemas_,
            "messages": {tag: _message(tag, payloads[tag]) for tag in EVENT_TYPES},
        },
    }


def _package_version() -> str:
    try:
        return importlib.metadata.version(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _info(version: str) -> dict[str, Any]:
    return {
        "title": "Accountability ledger events",
        "version": version,
        "description": (
            "The events of a safeguarding partnership's accountability ledger, as they lie "
            "on its NATS JetStream stream, for agencies that build their own clients.\n\n"
            "Agencies only **receive**: every write goes through the ledger service, which "
            "checks the partnership's rules before anything is stored. Each message's "
            "payload is one ledger event in JSON, discriminated by its `type` tag; event "
            "types never change meaning (new fields come with defaults, so ignore unknown "
            "fields), and a breaking change is a new event type.\n\n"
            "**Data protection.** Children and practitioners appear only as pseudonymous "
            "references (`ChildRef`, `ActorRef`): keyed hashes and opaque tokens, never a "
            "name or a raw identifier. Free text (notes, reasons, summaries, titles, source "
            "references) is personal data: such fields are marked `x-personal-data: true` "
            "in `components.schemas` and listed per message in `x-personal-data-fields`. "
            "Store them only as your data protection arrangements allow, and never log them.\n\n"
            "This document describes plain JSON payloads; a deployment that enables the "
            "ledger's payload cipher or compressor changes the bytes on the wire."
        ),
    }


def _servers() -> dict[str, Any]:
    return {
        _SERVER: {
            "host": "127.0.0.1:4222",
            "protocol": "nats",
            "title": "The partnership's NATS server",
            "description": (
                "A placeholder: `nats://127.0.0.1:4222` is the loopback address of the "
                "ledger's embedded nats-server, which only the ledger's own host can reach. "
                "Agencies connect to the URL, and with the credentials, that the "
                "partnership's operators give them."
            ),
        }
    }


def _identifier_parameter(annotation: Any, description: str, example: str) -> dict[str, Any]:
    schema = msgspec.json.schema(annotation)
    return {
        "description": (
            f"{description}: 1-64 lower-case letters, digits, `-` or `_`, starting with a "
            "letter or digit (`x-pattern`)."
        ),
        "examples": [example],
        "x-pattern": schema["pattern"],
    }


def _partnership_parameter() -> dict[str, Any]:
    return _identifier_parameter(PartnershipId, "The partnership's identifier", "northshire")


def _id_parameter() -> dict[str, Any]:
    return _identifier_parameter(Id, "The aggregate's identifier", "c-1042")


def _kind_parameter() -> dict[str, Any]:
    return {
        "description": "The kind of aggregate the subject holds the events of.",
        "enum": list(AGGREGATE_KINDS),
        "examples": ["case"],
    }


def _ledger_channel(prefix: str, stream: str) -> dict[str, Any]:
    return {
        "address": f"{prefix}.{{partnership}}.{{kind}}.{{id}}",
        "title": "Ledger subjects",
        "summary": "One subject per aggregate, holding that aggregate's events in order.",
        "description": (
            f"The stream `{stream}` is the ledger. Each aggregate (a partnership, a case, "
            f"a challenge or a review) has its own subject "
            f"`{prefix}.{{partnership}}.{{kind}}.{{id}}`, e.g. "
            f"`{prefix}.northshire.case.c-1042`; the stream sequence is the ledger's global "
            "order. Subject tokens are identifiers: lower-case letters, digits, `-` and "
            "`_` (see each parameter's `x-pattern`), so subscriptions and permissions can "
            f"filter by subject (`{prefix}.northshire.case.>`) without decoding a payload. "
            f"Subjects whose second token starts with `_` (`{prefix}.{TRACKING_SPACE}.*`, "
            f"`{prefix}._.uuid.*`) hold no events of this contract.\n\n"
            "Each message's payload is one event (the `LedgerEvent` union, discriminated "
            f"by `type`); its headers are `{HDR_TOPIC}` (the event's `type` tag) and "
            f"`{HDR_VERSION}` (the aggregate's version after the event, from 1). "
            f"`{HDR_PREV_HASH}` (on every event after a subject's first: the base64 leaf hash "
            f"of the subject's previous event) and `{HDR_SIGNATURE}` (the recording agency's "
            "Ed25519 signature over what the event asserts) are the proofs' (docs/proofs.md); "
            "only the ledger sets them.\n\n"
            "Agencies never publish to these subjects: writes go through the ledger "
            "service. Agencies receive events through `receiveCaseEvents` (and "
            "`receiveChallengeEvents`, `receiveKeyEvents`)."
        ),
        "parameters": {
            "partnership": _partnership_parameter(),
            "kind": _kind_parameter(),
            "id": _id_parameter(),
        },
        "messages": {tag: {"$ref": f"#/components/messages/{tag}"} for tag in EVENT_TYPES},
    }


def _case_channel(prefix: str, stream: str, case_tags: list[str]) -> dict[str, Any]:
    delivery = delivery_stream(stream)
    return {
        "address": f"{delivery_prefix(prefix)}.{{agency}}.{{partnership}}.{{id}}",
        "title": "Case events, delivered to an agency",
        "summary": "The events of the cases an agency is party to, on that agency's subjects.",
        "description": (
            f"The ledger service copies each case event of the stream `{stream}` to every "
            "agency party to the case at that point, onto the agency's own subjects "
            f"of the stream `{delivery}`: from the agency's `AgencyJoinedCase` to its "
            "`AgencyLeftCase`, both included (history before a join is not delivered). "
            "Each message keeps the event's JSON and headers and adds "
            f"`{HDR_SOURCE_SEQ}`, the event's sequence in the ledger stream: the key "
            "for idempotent processing."
        ),
        "parameters": {
            "agency": _id_parameter(),
            "partnership": _partnership_parameter(),
            "id": _id_parameter(),
        },
        "messages": {tag: {"$ref": f"#/components/messages/{tag}"} for tag in case_tags},
    }


def _challenge_channel(prefix: str, stream: str, challenge_tags: list[str]) -> dict[str, Any]:
    delivery = delivery_stream(stream)
    return {
        "address": f"{delivery_prefix(prefix)}.{{agency}}.{{partnership}}.challenge.{{id}}",
        "title": "Challenge events, delivered to an agency",
        "summary": "The events of the challenges an agency raised or received.",
        "description": (
            f"The ledger service copies each event of a challenge of the stream `{stream}` "
            "to the agency that raised it (`ChallengeRaised.by_agency`) and the agency it is "
            f"against (`against_agency`), onto their own subjects of the stream `{delivery}`, "
            "from the `ChallengeRaised` on. The fourth token is the word `challenge`, so these "
            "subjects never meet a case's. Each message keeps the event's JSON and headers "
            f"and adds `{HDR_SOURCE_SEQ}`, as for case events; the same consumer delivers both."
        ),
        "parameters": {
            "agency": _id_parameter(),
            "partnership": _partnership_parameter(),
            "id": _id_parameter(),
        },
        "messages": {tag: {"$ref": f"#/components/messages/{tag}"} for tag in challenge_tags},
    }


def _receive_challenges(stream: str, challenge_tags: list[str]) -> dict[str, Any]:
    consumer = consumer_name("{agency}")
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{_CHALLENGE_CHANNEL}"},
        "title": "Receive the events of your challenges",
        "summary": "The same consumer as your cases' events also delivers your challenges'.",
        "description": (
            f"Challenge events arrive through the same consumer `{consumer}` on the stream "
            f"`{delivery_stream(stream)}` as case events (see `{_RECEIVE_OPERATION}`), in "
            "stream order, with the same acknowledgements; keep each challenge in order as "
            "you keep each case."
        ),
        "messages": [
            {"$ref": f"#/channels/{_CHALLENGE_CHANNEL}/messages/{tag}"} for tag in challenge_tags
        ],
    }


def _key_channel(prefix: str, stream: str) -> dict[str, Any]:
    delivery = delivery_stream(stream)
    return {
        "address": f"{delivery_prefix(prefix)}.{{agency}}.{{partnership}}.key.{{id}}",
        "title": "An agency's own key events, delivered to it",
        "summary": "Every registration and revocation of a key in the agency's name.",
        "description": (
            f"The ledger service copies each `AgencyKeyRegistered` and `AgencyKeyRevoked` of "
            f"the stream `{stream}` to the agency the event names (its `agency` field), "
            f"whoever recorded it, onto that agency's own subjects of the stream `{delivery}`; "
            "no other agency receives it. The partnership's operator may register an "
            "agency's first key on its own word, so the agency is the one party that can "
            "notice a key it never asked for: check each registration against the keys you "
            "made. The fourth token is the word `key` and the fifth the key's id. Each "
            f"message keeps the event's JSON and headers (`{HDR_VERSION}` is the "
            f"partnership's version) and adds `{HDR_SOURCE_SEQ}`, as for case events; the "
            "same consumer delivers them."
        ),
        "parameters": {
            "agency": _id_parameter(),
            "partnership": _partnership_parameter(),
            "id": _identifier_parameter(Id, "The key's identifier (`key_id`)", "k-2026-1"),
        },
        "messages": {tag: {"$ref": f"#/components/messages/{tag}"} for tag in _KEY_TAGS},
    }


def _receive_keys(stream: str) -> dict[str, Any]:
    consumer = consumer_name("{agency}")
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{_KEY_CHANNEL}"},
        "title": "Receive the registrations and revocations of your keys",
        "summary": "The same consumer as your cases' events also delivers your key events.",
        "description": (
            f"Key events arrive through the same consumer `{consumer}` on the stream "
            f"`{delivery_stream(stream)}` as case events (see `{_RECEIVE_OPERATION}`), in "
            "stream order, with the same acknowledgements. Keep all of a partnership's key "
            "events in one order (not one per key): whether a key event was yours to make "
            "depends on which of your keys were live just before it."
        ),
        "messages": [{"$ref": f"#/channels/{_KEY_CHANNEL}/messages/{tag}"} for tag in _KEY_TAGS],
    }


def _receive_operation(prefix: str, stream: str, case_tags: list[str]) -> dict[str, Any]:
    consumer = consumer_name("{agency}")
    stream = delivery_stream(stream)
    pull = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{_CASE_CHANNEL}"},
        "title": "Receive the events of your cases",
        "summary": "Pull the events of the cases your agency is party to, and acknowledge each.",
        "description": (
            f"Each agency has its own durable JetStream consumer `{consumer}` on the stream "
            f"`{stream}`, where `{{agency}}` is its `AgencyId` (e.g. "
            f"`{consumer_name('northshire-police')}`). "
            "It delivers, in stream order, the events of the cases the agency is party to "
            f"(and those of its challenges and keys: `{_RECEIVE_CHALLENGES}`, "
            f"`{_RECEIVE_KEYS}`). "
            "Several may be in flight; a client that keeps each case in order holds back "
            "the later events of a case while an earlier one of it is being redelivered "
            "(the ledger's Python client does).\n\n"
            f"Pull by sending a request to `{pull}` with a JSON body such as "
            '`{"batch": 10, "expires": 30000000000}` (expires in nanoseconds). Messages '
            f"arrive on `{delivery_prefix(prefix)}.{{agency}}.{{partnership}}.{{id}}` with "
            "the event's headers. Acknowledge each message on its reply subject:\n\n"
            "* `+ACK`: processed; the consumer moves on;\n"
            '* `-NAK` or `-NAK {"delay": <nanoseconds>}`: not processed yet; delivered '
            "again (after the delay);\n"
            "* `+TERM`: never deliver this message again (a payload you cannot process); "
            "tell the partnership.\n\n"
            "An unacknowledged message is delivered again after the consumer's ack wait, so "
            f"processing must be idempotent: the `{HDR_SOURCE_SEQ}` header "
            "identifies an event.\n\n"
            "There is no `send` operation: agencies never publish to the ledger stream. "
            "Every write (recording an action, raising a challenge, ...) goes through the "
            "ledger service, which checks the partnership's rules first."
        ),
        "messages": [{"$ref": f"#/channels/{_CASE_CHANNEL}/messages/{tag}"} for tag in case_tags],
        "x-jetstream": {
            "stream": stream,
            "durable": consumer,
            "pull_subject": pull,
            "ack": ["+ACK", "-NAK", "+TERM"],
        },
    }


def _message(tag: str, payload: str) -> dict[str, Any]:
    cls = EVENT_TYPES[tag]
    summary = _first_line(cls.__doc__)
    if cls.opens:
        summary = f"{summary} Opens the {cls.aggregate_kind}."
    return {
        "name": tag,
        "title": tag,
        "summary": summary,
        "contentType": _CONTENT_TYPE,
        "headers": _headers(tag),
        "payload": {"$ref": f"{_COMPONENT_REF}{payload}"},
        "x-aggregate-kind": cls.aggregate_kind,
        "x-personal-data-fields": list(personal_data_fields(cls)),
    }


def _headers(tag: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "NATS message headers (string values). Other headers (`Nats-Msg-Id`, "
            "`Nats-Expected-*`) may be present and are not part of this contract."
        ),
        "properties": {
            HDR_TOPIC: {
                "type": "string",
                "const": tag,
                "description": "The event's type tag, the same as the payload's `type`.",
            },
            HDR_VERSION: {
                "type": "string",
                "pattern": anchored(r"[1-9][0-9]*"),
                "description": (
                    "The aggregate's version after this event, in decimal: 1 for the event "
                    "that opens the aggregate, then one more per event."
                ),
            },
            HDR_PREV_HASH: {
                "type": "string",
                "pattern": anchored(r"[A-Za-z0-9+/]{43}="),
                "description": (
                    "The leaf hash (SHA-256, standard base64) of the previous event on the "
                    "subject; absent on a subject's first event (docs/proofs.md)."
                ),
            },
            HDR_SIGNATURE: {
                "type": "string",
                "pattern": anchored(r"ed25519 [^ ]+ [^ ]+ [A-Za-z0-9+/]{86}=="),
                "description": (
                    "`ed25519 <agency> <key_id> <base64 signature>`: the recording agency's "
                    "signature over what the event asserts (docs/proofs.md); absent on an "
                    "unsigned event."
                ),
            },
        },
        "required": [HDR_TOPIC, HDR_VERSION],
    }


def _component_schemas() -> tuple[dict[str, Any], dict[str, str]]:
    """``components.schemas``, and the component name of each event tag's payload.

    The union's document holds the ``$defs`` of every event type (one msgspec schema
    call, so names never collide) and maps each tag to its definition.
    """
    union = json_schemas()[_UNION]
    components: dict[str, Any] = {name: _rewrite(s) for name, s in union["$defs"].items()}
    discriminator = union["discriminator"]
    payloads = {tag: ref.removeprefix(_DEFS_REF) for tag, ref in discriminator["mapping"].items()}
    if _UNION in components or set(payloads) != set(EVENT_TYPES):
        msg = f"the {_UNION} schema does not map each event type to its own definition"
        raise RuntimeError(msg)
    body = {k: v for k, v in union.items() if k not in {"$schema", "$id", "$defs"}}
    components[_UNION] = {
        **_rewrite(body),
        # AsyncAPI's Schema Object takes the discriminating property's name; each member
        # says its tag in the `type` enum.
        "discriminator": discriminator["propertyName"],
    }
    return components, payloads


def _rewrite(node: Any) -> Any:
    """A copy of a JSON Schema node with ``#/$defs/X`` references made component references."""
    if isinstance(node, dict):
        return {
            key: (
                _COMPONENT_REF + value.removeprefix(_DEFS_REF)
                if key == "$ref" and isinstance(value, str) and value.startswith(_DEFS_REF)
                else _rewrite(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    return node


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0].strip() if lines else ""
