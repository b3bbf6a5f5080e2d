"""Unit tests of the AsyncAPI document: structure, references, personal data, subjects."""

from __future__ import annotations

import json
import re
import typing
from typing import Any

import pytest

import schemas
from consumers.delivery import KEY_EVENTS
from ledger.nats import _stream
from schemas import EVENT_TYPES, _asyncapi, asyncapi_document, personal_data_fields, wire

CASE_TAGS = [tag for tag, cls in EVENT_TYPES.items() if cls.aggregate_kind == "case"]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


def _refs(node: Any) -> list[str]:
    """Every ``$ref`` value anywhere in a JSON node."""
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _keys(node: Any) -> set[str]:
    """Every object key anywhere in a JSON node."""
    if isinstance(node, dict):
        return set(node) | {key for value in node.values() for key in _keys(value)}
    if isinstance(node, list):
        return {key for item in node for key in _keys(item)}
    return set()


def _resolve(document: dict[str, Any], ref: str) -> Any:
    """The node a local JSON pointer reference (``#/a/b``) names; KeyError if none."""
    assert ref.startswith("#/"), f"{ref} is not a reference within the document"
    node: Any = document
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _deref(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _resolve(document, schema["$ref"])
    return schema


def _schema_at(document: dict[str, Any], schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The schema of the field at a :func:`personal_data_fields` path (``a[].b``)."""
    for segment in path.split("."):
        name = segment.removesuffix("[]" * segment.count("[]"))
        schema = _deref(document, schema)["properties"][name]
        for _ in range(segment.count("[]")):
            schema = _deref(document, schema)["items"]
    return schema


def _payload_schema(document: dict[str, Any], tag: str) -> dict[str, Any]:
    return _deref(document, document["components"]["messages"][tag]["payload"])


def _parameter_names(address: str) -> list[str]:
    return re.findall(r"\{([^}]+)\}", address)


class TestAsyncApiDocument:
    def test_the_document_is_asyncapi_3_0_0_with_title_version_and_server(
        self, document: dict[str, Any]
    ) -> None:
        assert document["asyncapi"] == "3.0.0"
        assert document["info"]["title"]
        assert document["info"]["version"]
        assert document["servers"]["production"]["protocol"] == "nats"
        assert document["servers"]["production"]["host"] == "127.0.0.1:4222"

    def test_the_description_says_references_are_pseudonymous_and_free_text_is_personal(
        self, document: dict[str, Any]
    ) -> None:
        description = document["info"]["description"]
        assert "pseudonymous" in description
        assert "Free text" in description
        assert "personal data" in description

    def test_an_explicit_version_is_the_info_version(self) -> None:
        assert asyncapi_document(version="2.3.4")["info"]["version"] == "2.3.4"

    def test_the_version_defaults_to_the_installed_package_or_zero(
        self, document: dict[str, Any]
    ) -> None:
        assert document["info"]["version"] == _asyncapi._package_version()

    def test_the_document_serialises_to_the_same_json_every_time(self) -> None:
        first = json.dumps(asyncapi_document(), sort_keys=True)
        second = json.dumps(asyncapi_document(), sort_keys=True)
        assert first == second

    def test_the_function_is_exported_by_the_package(self) -> None:
        assert "asyncapi_document" in schemas.__all__


class TestMessages:
    def test_every_event_type_has_a_message_named_by_its_tag(
        self, document: dict[str, Any]
    ) -> None:
        messages = document["components"]["messages"]
        assert set(messages) == set(EVENT_TYPES)
        for tag, message in messages.items():
            assert message["name"] == tag
            assert message["contentType"] == "application/json"

    def test_every_message_payload_is_its_event_types_schema(
        self, document: dict[str, Any]
    ) -> None:
        for tag in EVENT_TYPES:
            payload = _payload_schema(document, tag)
            assert payload["type"] == "object"
            assert payload["properties"]["type"] == {"enum": [tag]}

    def test_every_payload_schema_is_the_one_json_schemas_publishes(
        self, document: dict[str, Any]
    ) -> None:
        components = document["components"]["schemas"]
        for tag, published in schemas.json_schemas().items():
            for name, schema in published["$defs"].items():
                rewritten = json.loads(
                    json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
                )
                assert components[name] == rewritten, f"{tag}: {name}"

    def test_the_union_is_discriminated_by_type_as_asyncapi_expects(
        self, document: dict[str, Any]
    ) -> None:
        union = document["components"]["schemas"]["LedgerEvent"]
        assert union["discriminator"] == "type"
        members = {_deref(document, member)["title"] for member in union["anyOf"]}
        assert members == {cls.__name__ for cls in EVENT_TYPES.values()}

    def test_message_headers_require_the_topic_and_version_and_reserve_the_proofs(
        self, document: dict[str, Any]
    ) -> None:
        for tag, message in document["components"]["messages"].items():
            headers = message["headers"]
            assert headers["properties"]["Ledger-Topic"]["const"] == tag
            assert set(headers["required"]) == {"Ledger-Topic", "Ledger-Version"}
            assert {"Ledger-Prev-Hash", "Ledger-Signature"} <= set(headers["properties"])

    def test_the_version_header_pattern_accepts_versions_from_one(
        self, document: dict[str, Any]
    ) -> None:
        headers = document["components"]["messages"]["CaseOpened"]["headers"]
        pattern = re.compile(headers["properties"]["Ledger-Version"]["pattern"])
        assert pattern.search("1")
        assert pattern.search("1042")
        assert not pattern.search("0")
        assert not pattern.search("-1")

    def test_the_header_names_are_the_wire_contract_s_which_the_ledger_writes(
        self, document: dict[str, Any]
    ) -> None:
        headers = document["components"]["messages"]["CaseOpened"]["headers"]
        assert set(headers["properties"]) == {
            wire.HDR_TOPIC,
            wire.HDR_VERSION,
            wire.HDR_PREV_HASH,
            wire.HDR_SIGNATURE,
        }
        assert (_stream.HDR_TOPIC, _stream.HDR_VERSION) == (wire.HDR_TOPIC, wire.HDR_VERSION)
        assert tuple(sorted(wire.RESERVED_HEADERS)) == (
            _stream.HDR_PREV_HASH,
            _stream.HDR_SIGNATURE,
        )


class TestReferences:
    def test_every_reference_in_the_document_resolves_within_it(
        self, document: dict[str, Any]
    ) -> None:
        refs = _refs(document)
        assert refs
        unresolved = []
        for ref in sorted(set(refs)):
            try:
                _resolve(document, ref)
            except (KeyError, AssertionError):
                unresolved.append(ref)
        assert unresolved == []

    def test_no_component_schema_keeps_a_standalone_documents_id_or_defs(
        self, document: dict[str, Any]
    ) -> None:
        assert _keys(document["components"]["schemas"]) & {"$id", "$schema", "$defs"} == set()

    def test_component_schemas_are_valid_draft_2020_12_schemas(
        self, document: dict[str, Any]
    ) -> None:
        jsonschema = pytest.importorskip("jsonschema")
        for name, schema in document["components"]["schemas"].items():
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as e:  # pragma: no cover - the failure message
                pytest.fail(f"{name}: {e.message}")


class TestPersonalData:
    def test_a_free_text_note_stays_marked_as_personal_data(self, document: dict[str, Any]) -> None:
        note = document["components"]["schemas"]["ActionRecorded"]["properties"]["note"]
        assert note["x-personal-data"] is True

    def test_a_pseudonymous_child_reference_is_not_marked(self, document: dict[str, Any]) -> None:
        child = document["components"]["schemas"]["ActionRecorded"]["properties"]["child"]
        assert "x-personal-data" not in child

    def test_every_personal_data_field_of_every_event_is_marked(
        self, document: dict[str, Any]
    ) -> None:
        for tag, cls in EVENT_TYPES.items():
            payload = _payload_schema(document, tag)
            for path in personal_data_fields(cls):
                field = _deref(document, _schema_at(document, payload, path))
                assert field.get("x-personal-data") is True, f"{tag}.{path}"

    def test_each_message_lists_its_personal_data_fields(self, document: dict[str, Any]) -> None:
        messages = document["components"]["messages"]
        for tag, cls in EVENT_TYPES.items():
            assert messages[tag]["x-personal-data-fields"] == list(personal_data_fields(cls))
        assert "note" in messages["ActionRecorded"]["x-personal-data-fields"]


class TestChannels:
    def test_the_ledger_channel_has_one_parameter_per_subject_token(
        self, document: dict[str, Any]
    ) -> None:
        channel = document["channels"]["ledger"]
        assert channel["address"] == "ledger.{partnership}.{kind}.{id}"
        assert _parameter_names(channel["address"]) == ["partnership", "kind", "id"]
        assert list(channel["parameters"]) == ["partnership", "kind", "id"]

    def test_the_ledger_channel_carries_every_event(self, document: dict[str, Any]) -> None:
        assert set(document["channels"]["ledger"]["messages"]) == set(EVENT_TYPES)

    def test_the_kind_parameter_lists_the_four_aggregate_kinds(
        self, document: dict[str, Any]
    ) -> None:
        kind = document["channels"]["ledger"]["parameters"]["kind"]
        assert kind["enum"] == list(typing.get_args(schemas.AggregateKind))
        assert kind["enum"] == ["partnership", "case", "challenge", "review"]

    @pytest.mark.parametrize("channel", ["ledger", "caseEvents"])
    @pytest.mark.parametrize("parameter", ["partnership", "id"])
    def test_identifier_parameters_accept_subject_tokens_and_reject_names(
        self, document: dict[str, Any], channel: str, parameter: str
    ) -> None:
        pattern = re.compile(document["channels"][channel]["parameters"][parameter]["x-pattern"])
        for token in ["northshire", "c-1042", "north_shire"]:
            assert pattern.search(token), token
        for token in ["Jane Smith", "Northshire", "a.b", "*", ">", "", "-x", "x" * 65]:
            assert not pattern.search(token), token

    def test_the_case_channel_carries_exactly_the_case_events(
        self, document: dict[str, Any]
    ) -> None:
        channel = document["channels"]["caseEvents"]
        assert channel["address"] == "ledger-delivery.{agency}.{partnership}.{id}"
        assert list(channel["parameters"]) == _parameter_names(channel["address"])
        assert list(channel["messages"]) == CASE_TAGS
        assert "CaseOpened" in CASE_TAGS
        assert "ChallengeRaised" not in CASE_TAGS

    def test_the_challenge_channel_carries_exactly_the_challenge_events_on_their_subjects(
        self, document: dict[str, Any]
    ) -> None:
        channel = document["channels"]["challengeEvents"]
        assert channel["address"] == "ledger-delivery.{agency}.{partnership}.challenge.{id}"
        assert channel["address"].format(
            agency="police", partnership="northshire", id="ch-1"
        ) == wire.delivery_challenge_subject("ledger", "police", "northshire", "ch-1")
        assert list(channel["parameters"]) == _parameter_names(channel["address"])
        assert list(channel["messages"]) == [
            "ChallengeRaised",
            "ChallengeResponded",
            "ChallengeEscalated",
            "ChallengeResolved",
            "ChallengeWithdrawn",
        ]
        receive = document["operations"]["receiveChallengeEvents"]
        assert [_resolve(document, m["$ref"]) for m in receive["messages"]] == list(
            channel["messages"].values()
        )

    def test_the_key_channel_carries_the_agency_s_own_key_events_on_their_subjects(
        self, document: dict[str, Any]
    ) -> None:
        channel = document["channels"]["keyEvents"]
        assert channel["address"] == "ledger-delivery.{agency}.{partnership}.key.{id}"
        assert channel["address"].format(
            agency="police", partnership="northshire", id="k2"
        ) == wire.delivery_key_subject("ledger", "police", "northshire", "k2")
        assert list(channel["parameters"]) == _parameter_names(channel["address"])
        assert list(channel["messages"]) == sorted(KEY_EVENTS)
        assert list(channel["messages"]) == ["AgencyKeyRegistered", "AgencyKeyRevoked"]
        assert {EVENT_TYPES[tag].aggregate_kind for tag in channel["messages"]} == {"partnership"}
        assert "never asked for" in channel["description"]
        pattern = re.compile(channel["parameters"]["id"]["x-pattern"])
        assert pattern.search("k2")
        assert not pattern.search("k.2")
        receive = document["operations"]["receiveKeyEvents"]
        assert receive["action"] == "receive"
        assert receive["channel"] == {"$ref": "#/channels/keyEvents"}
        assert [_resolve(document, m["$ref"]) for m in receive["messages"]] == list(
            channel["messages"].values()
        )

    def test_the_prefix_and_stream_name_the_subjects_and_the_consumer(self) -> None:
        document = asyncapi_document(prefix="acme", stream="ACME_LEDGER")
        assert document["channels"]["ledger"]["address"] == "acme.{partnership}.{kind}.{id}"
        address = document["channels"]["caseEvents"]["address"]
        assert address == "acme-delivery.{agency}.{partnership}.{id}"
        jetstream = document["operations"]["receiveCaseEvents"]["x-jetstream"]
        assert jetstream["stream"] == "ACME_LEDGER_DELIVERY"
        pull = "$JS.API.CONSUMER.MSG.NEXT.ACME_LEDGER_DELIVERY.agency_{agency}"
        assert jetstream["pull_subject"] == pull

    def test_the_delivery_names_are_the_wire_contract_s(self) -> None:
        document = asyncapi_document(prefix="acme", stream="ACME_LEDGER")
        address = document["channels"]["caseEvents"]["address"]
        jetstream = document["operations"]["receiveCaseEvents"]["x-jetstream"]
        assert address.startswith(wire.delivery_prefix("acme") + ".")
        assert jetstream["stream"] == wire.delivery_stream("ACME_LEDGER")
        assert jetstream["durable"] == wire.consumer_name("{agency}")
        assert wire.HDR_SOURCE_SEQ in document["channels"]["caseEvents"]["description"]

    @pytest.mark.parametrize(
        ("prefix", "stream"),
        [
            ("led.ger", "LEDGER"),
            ("", "LEDGER"),
            ("ledger", "LED GER"),
            ("ledger\n", "LEDGER"),
            ("ledger", "LEDGER\n"),
        ],
    )
    def test_a_prefix_or_stream_that_cannot_be_a_subject_token_is_refused(
        self, prefix: str, stream: str
    ) -> None:
        with pytest.raises(ValueError, match="must be"):
            asyncapi_document(prefix=prefix, stream=stream)


class TestOperations:
    def test_agencies_receive_case_events_and_there_is_no_send_operation(
        self, document: dict[str, Any]
    ) -> None:
        operations = document["operations"]
        assert list(operations) == [
            "receiveCaseEvents",
            "receiveChallengeEvents",
            "receiveKeyEvents",
        ]
        challenges = operations["receiveChallengeEvents"]
        assert challenges["action"] == "receive"
        assert challenges["channel"] == {"$ref": "#/channels/challengeEvents"}
        receive = operations["receiveCaseEvents"]
        assert receive["action"] == "receive"
        assert receive["channel"] == {"$ref": "#/channels/caseEvents"}
        assert "no `send` operation" in receive["description"]

    def test_the_operation_receives_every_message_of_the_case_channel(
        self, document: dict[str, Any]
    ) -> None:
        receive = document["operations"]["receiveCaseEvents"]
        channel_messages = document["channels"]["caseEvents"]["messages"]
        assert [_resolve(document, m["$ref"]) for m in receive["messages"]] == list(
            channel_messages.values()
        )

    def test_the_operation_names_the_agency_consumer_its_pull_subject_and_acks(
        self, document: dict[str, Any]
    ) -> None:
        receive = document["operations"]["receiveCaseEvents"]
        assert receive["x-jetstream"] == {
            "stream": "LEDGER_DELIVERY",
            "durable": "agency_{agency}",
            "pull_subject": "$JS.API.CONSUMER.MSG.NEXT.LEDGER_DELIVERY.agency_{agency}",
            "ack": ["+ACK", "-NAK", "+TERM"],
        }
        for word in ["agency_{agency}", "+ACK", "-NAK", "+TERM", "delay"]:
            assert word in receive["description"], word
