"""Unit tests of the event vocabulary: tags, round trips, validation errors, introspection."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import schemas
from schemas import (
    EVENT_TYPES,
    ActionKind,
    ActionOutcome,
    ActionRecorded,
    AgeBand,
    AgencyJoinedCase,
    AgencyKeyRegistered,
    AgencyKeyRevoked,
    AgencyKind,
    AgencyLeftCase,
    AgencyRegistered,
    AgencyRole,
    CaseClosed,
    CaseClosureReason,
    CaseOpened,
    ChallengeEscalated,
    ChallengeMatter,
    ChallengeOutcome,
    ChallengeRaised,
    ChallengeResolved,
    ChallengeResponded,
    ChallengeWithdrawn,
    ChildIdentifierLinked,
    ChildIdentifierUnknown,
    ChildIdentifierUnlinked,
    ChildSubject,
    ConcernKind,
    ConcernRaised,
    CooperationRefused,
    EscalationStage,
    Event,
    FreeText,
    IdentifierKind,
    IncidentKind,
    InformationProvided,
    InformationRequested,
    InvalidEvent,
    LateRecordingExplained,
    LedgerError,
    Nation,
    PartnershipEstablished,
    RagStatus,
    RapidReviewCompleted,
    RapidReviewDecision,
    RecommendationAccepted,
    RecommendationImplemented,
    RecommendationIssued,
    RecommendationProgressReported,
    RecommendationRejected,
    RecordedBy,
    RefusalBasis,
    RefusalKind,
    ReviewCommissioned,
    ReviewLevel,
    ReviewPublished,
    SeriousIncidentNotified,
    SignaturesRequired,
    Source,
    SourceKind,
    Theme,
    UnknownIdentifierReason,
    decode_event,
    decode_event_as,
    encode_event,
    json_schemas,
    personal_data_fields,
    validate,
)

#: Every tag and its aggregate kind, written out by hand: renaming or dropping an
#: event type (which would orphan every stored event of that type) fails a test.
FROZEN_TAGS: dict[str, str] = {
    "PartnershipEstablished": "partnership",
    "AgencyRegistered": "partnership",
    "AgencyKeyRegistered": "partnership",
    "AgencyKeyRevoked": "partnership",
    "SignaturesRequired": "partnership",
    "CaseOpened": "case",
    "ChildIdentifierLinked": "case",
    "ChildIdentifierUnlinked": "case",
    "ChildIdentifierUnknown": "case",
    "AgencyJoinedCase": "case",
    "AgencyLeftCase": "case",
    "ActionRecorded": "case",
    "InformationRequested": "case",
    "InformationProvided": "case",
    "CooperationRefused": "case",
    "ConcernRaised": "case",
    "LateRecordingExplained": "case",
    "CaseClosed": "case",
    "ChallengeRaised": "challenge",
    "ChallengeResponded": "challenge",
    "ChallengeEscalated": "challenge",
    "ChallengeResolved": "challenge",
    "ChallengeWithdrawn": "challenge",
    "SeriousIncidentNotified": "review",
    "RapidReviewCompleted": "review",
    "ReviewCommissioned": "review",
    "ReviewPublished": "review",
    "RecommendationIssued": "review",
    "RecommendationAccepted": "review",
    "RecommendationRejected": "review",
    "RecommendationProgressReported": "review",
    "RecommendationImplemented": "review",
}

E = TypeVar("E", bound=Event)

OPENERS = {
    "partnership": "PartnershipEstablished",
    "case": "CaseOpened",
    "challenge": "ChallengeRaised",
    "review": "SeriousIncidentNotified",
}

T0 = dt.datetime(2025, 3, 3, 9, 30, tzinfo=dt.UTC)
T1 = dt.datetime(2025, 3, 4, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
CHILD = "ch_" + "0123456789abcdef" * 2
OTHER_CHILD = "ch_" + "fedcba9876543210" * 4
KEY = base64.b64encode(bytes(range(32))).decode()


class _Note(msgspec.Struct):
    text: FreeText


class _Notes(msgspec.Struct):
    """A list of structs holding free text, to check the walk into lists."""

    notes: list[_Note]


def common(**overrides: Any) -> dict[str, Any]:
    """The fields every event carries, with valid values."""
    fields: dict[str, Any] = {
        "occurred_at": T0,
        "recorded_at": T1,
        "recorded_by": RecordedBy(agency="police", actor="act_pc1234"),
        "source": Source(kind=SourceKind.CASE_RECORD, reference="crime ref 12/345"),
    }
    return fields | overrides


#: One valid instance of every event type, with its optional fields given.
SAMPLES: list[Event] = [
    PartnershipEstablished(
        **common(),
        name="Northshire Safeguarding Children Partnership",
        nation=Nation.ENGLAND,
        escalation_stages=[
            EscalationStage(stage=1, title="Practitioners", response_working_days=5),
            EscalationStage(stage=2, title="Managers", response_working_days=5),
            EscalationStage(stage=3, title="Heads of service", response_working_days=10),
        ],
        strategy_discussion_working_days=2,
    ),
    AgencyRegistered(
        **common(),
        agency="police",
        name="Northshire Police",
        kind=AgencyKind.POLICE,
        role=AgencyRole.STATUTORY_PARTNER,
    ),
    AgencyKeyRegistered(
        **common(), agency="police", key_id="police-2025-1", algorithm="ed25519", public_key=KEY
    ),
    AgencyKeyRevoked(**common(), agency="police", key_id="police-2025-1", reason="compromised"),
    SignaturesRequired(**common(), required_from=dt.date(2026, 4, 1)),
    CaseOpened(
        **common(),
        children=[
            ChildSubject(child=CHILD, age_band=AgeBand.AGED_1_4),
            ChildSubject(child=OTHER_CHILD, age_band=AgeBand.UNBORN),
        ],
        lead_agency="northshire-cc",
    ),
    ChildIdentifierLinked(
        **common(),
        child=CHILD,
        linked=OTHER_CHILD,
        identifier_kind=IdentifierKind.NHS_NUMBER,
        reason="temporary UPN replaced",
    ),
    ChildIdentifierUnlinked(
        **common(),
        child=CHILD,
        linked=OTHER_CHILD,
        identifier_kind=IdentifierKind.UPN,
        reason="linked in error",
    ),
    ChildIdentifierUnknown(**common(), child=OTHER_CHILD, reason=UnknownIdentifierReason.UNBORN),
    AgencyJoinedCase(**common(), agency="health", role="health visitor"),
    AgencyLeftCase(**common(), agency="health", reason="family moved GP practice"),
    ActionRecorded(
        **common(),
        action=ActionKind.HOME_VISIT,
        child=CHILD,
        seen=True,
        seen_alone=False,
        outcome=ActionOutcome.SECTION47,
        note="child seen with mother present",
    ),
    InformationRequested(
        **common(),
        request="req-1",
        from_agency="northshire-cc",
        to_agency="health",
        due_by=T1,
        note="health history",
    ),
    InformationProvided(**common(), request="req-1", by_agency="health", note="sent by email"),
    CooperationRefused(
        **common(),
        agency="school",
        kind=RefusalKind.INFORMATION_WITHHELD,
        basis=RefusalBasis.MORE_DETRIMENTAL_TO_CHILD,
        reason="disclosure would put the child at greater risk",
        request="req-2",
    ),
    ConcernRaised(
        **common(),
        concern="c-1",
        kind=ConcernKind.SIGNIFICANT_HARM,
        child=CHILD,
        note="bruising noticed at school",
    ),
    LateRecordingExplained(**common(), event_sequence=1042, reason="system outage"),
    CaseClosed(**common(), reason=CaseClosureReason.PLAN_ENDED, note="plan ended at review"),
    ChallengeRaised(
        **common(),
        by_agency="school",
        against_agency="northshire-cc",
        matter=ChallengeMatter.THRESHOLD_DECISION,
        case="case-17",
        stage=2,
        summary="referral closed without a strategy discussion",
    ),
    ChallengeResponded(
        **common(), by_agency="northshire-cc", stage=2, response="decision reviewed"
    ),
    ChallengeEscalated(**common(), to_stage=3, by_agency="school", reason="no change"),
    ChallengeResolved(
        **common(), outcome=ChallengeOutcome.AGREED_WAY_FORWARD, note="strategy discussion held"
    ),
    ChallengeWithdrawn(**common(), by_agency="school", reason="resolved informally"),
    SeriousIncidentNotified(
        **common(),
        case="case-17",
        child=CHILD,
        became_aware_at=T0,
        notified_panel_at=T1,
        incident=IncidentKind.SERIOUS_HARM,
    ),
    RapidReviewCompleted(**common(), completed_at=T1, decision=RapidReviewDecision.LOCAL_REVIEW),
    ReviewCommissioned(**common(), level=ReviewLevel.LOCAL, commissioned_at=T1),
    ReviewPublished(**common(), published_at=T1, title="Child Q"),
    RecommendationIssued(
        **common(),
        recommendation="rec-1",
        owner="health",
        due=dt.date(2025, 9, 30),
        theme=Theme.SEEN_ALONE,
        text="see children alone at every visit",
    ),
    RecommendationAccepted(**common(), recommendation="rec-1", by_agency="health"),
    RecommendationRejected(
        **common(), recommendation="rec-1", by_agency="health", basis="already in place"
    ),
    RecommendationProgressReported(
        **common(),
        recommendation="rec-1",
        by_agency="health",
        status=RagStatus.AMBER,
        note="training half done",
    ),
    RecommendationImplemented(
        **common(), recommendation="rec-1", by_agency="health", evidence="audit of 40 visits"
    ),
]


#: A value for :func:`payload` that removes the field.
REMOVED: Any = object()


def sample(cls: type[E]) -> E:
    """The sample of event type ``cls``."""
    return next(event for event in SAMPLES if isinstance(event, cls))


def payload(event: Event, **changes: Any) -> bytes:
    """The JSON of ``event`` with top-level fields replaced (or removed, with ``REMOVED``)."""
    document = json.loads(encode_event(event))
    for name, value in changes.items():
        if value is REMOVED:
            document.pop(name, None)
        else:
            document[name] = value
    return json.dumps(document).encode()


def case_closed(**changes: Any) -> bytes:
    return payload(CaseClosed(**common(), reason=CaseClosureReason.OTHER), **changes)


def rejection(data: bytes) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(data)
    return caught.value


class TestVocabulary:
    def test_the_tags_are_exactly_the_frozen_list_with_their_aggregate_kinds(self) -> None:
        assert {tag: cls.aggregate_kind for tag, cls in EVENT_TYPES.items()} == FROZEN_TAGS

    def test_every_tag_equals_its_class_name(self) -> None:
        for tag, cls in EVENT_TYPES.items():
            assert cls.__struct_config__.tag == tag == cls.__name__

    def test_tags_are_unique(self) -> None:
        tags = [cls.__struct_config__.tag for cls in EVENT_TYPES.values()]
        assert len(tags) == len(set(tags)) == len(FROZEN_TAGS)

    def test_each_aggregate_kind_has_exactly_one_opening_event(self) -> None:
        openers = {tag: cls.aggregate_kind for tag, cls in EVENT_TYPES.items() if cls.opens}
        assert openers == {tag: kind for kind, tag in OPENERS.items()}

    def test_every_event_class_says_in_one_line_what_happened(self) -> None:
        for cls in EVENT_TYPES.values():
            assert cls.__doc__ is not None
            assert "\n" not in cls.__doc__.strip()

    def test_events_are_frozen(self) -> None:
        event = sample(PartnershipEstablished)
        with pytest.raises(AttributeError):
            event.occurred_at = T1  # type: ignore[misc]

    def test_the_public_names_are_all_importable(self) -> None:
        for name in schemas.__all__:
            assert hasattr(schemas, name), name


class TestRoundTrip:
    def test_there_is_a_sample_of_every_event_type(self) -> None:
        assert {type(event) for event in SAMPLES} == set(EVENT_TYPES.values())

    @pytest.mark.parametrize("event", SAMPLES, ids=lambda event: type(event).__name__)
    def test_every_event_type_survives_encoding_and_decoding(self, event: Event) -> None:
        data = encode_event(event)
        assert json.loads(data)["type"] == type(event).__name__
        assert decode_event(data) == event
        assert decode_event_as(data, type(event)) == event

    @pytest.mark.parametrize("event", SAMPLES, ids=lambda event: type(event).__name__)
    def test_every_sample_passes_validation_and_comes_back_equal(self, event: Event) -> None:
        assert validate(event) == event

    def test_unset_optional_fields_are_left_out_of_the_json(self) -> None:
        event = CaseClosed(**common(), reason=CaseClosureReason.OTHER)
        assert "note" not in json.loads(encode_event(event))
        assert decode_event(encode_event(event)) == event

    def test_defaults_are_filled_in_when_missing(self) -> None:
        established = sample(PartnershipEstablished)
        event = decode_event(payload(established, strategy_discussion_working_days=REMOVED))
        assert isinstance(event, PartnershipEstablished)
        assert event.strategy_discussion_working_days == 3
        assert event.schema_version == 1

    def test_an_unknown_field_on_an_event_is_refused_naming_it(self) -> None:
        error = rejection(case_closed(added_in_v2="x"))
        assert error.field == "$.added_in_v2"
        assert "no such field is allowed" in str(error)

    def test_a_valid_ed25519_public_key_of_any_32_bytes_is_accepted(self) -> None:
        for key in (bytes(32), b"\xff" * 32, bytes(range(1, 33))):
            event = msgspec.structs.replace(
                sample(AgencyKeyRegistered), public_key=base64.b64encode(key).decode()
            )
            assert validate(event) == event


class TestRejection:
    def test_a_name_where_a_child_reference_belongs_is_rejected_naming_the_field(self) -> None:
        opened = sample(CaseOpened)
        error = rejection(payload(opened, children=[{"child": "Jane Smith", "age_band": "unborn"}]))
        assert error.field == "$.children[0].child"
        assert "$.children[0].child" in str(error)
        assert "pseudonymous child token" in str(error)

    def test_a_name_where_an_actor_reference_belongs_is_rejected_naming_the_field(self) -> None:
        error = rejection(case_closed(recorded_by={"agency": "police", "actor": "PC Jones"}))
        assert error.field == "$.recorded_by.actor"
        assert "pseudonymous practitioner reference" in str(error)

    def test_a_name_in_a_child_reference_built_in_python_fails_validation(self) -> None:
        event = ActionRecorded(**common(), action=ActionKind.CHILD_SEEN, child="Jane Smith")
        with pytest.raises(InvalidEvent) as caught:
            validate(event)
        assert caught.value.field == "$.child"

    def test_free_text_of_2000_characters_is_accepted_and_of_2001_rejected(self) -> None:
        assert isinstance(decode_event(case_closed(note="x" * 2000)), CaseClosed)
        error = rejection(case_closed(note="x" * 2001))
        assert error.field == "$.note"
        assert "2000" in str(error)

    def test_empty_free_text_is_rejected(self) -> None:
        assert rejection(case_closed(note="")).field == "$.note"

    def test_oversize_short_text_is_rejected(self) -> None:
        error = rejection(case_closed(source={"kind": "email", "reference": "r" * 201}))
        assert error.field == "$.source.reference"

    def test_a_naive_datetime_is_rejected(self) -> None:
        error = rejection(case_closed(occurred_at="2025-03-03T09:30:00"))
        assert error.field == "$.occurred_at"
        assert "timezone" in str(error)

    def test_a_naive_datetime_built_in_python_fails_validation(self) -> None:
        event = CaseClosed(
            **common(occurred_at=dt.datetime(2025, 3, 3, 9, 30)),
            reason=CaseClosureReason.OTHER,
        )
        with pytest.raises(InvalidEvent) as caught:
            validate(event)
        assert caught.value.field == "$.occurred_at"

    @pytest.mark.parametrize(
        ("event", "changes", "field"),
        [
            (sample(ChallengeRaised), {"stage": "2"}, "$.stage"),
            (sample(ChallengeRaised), {"stage": 6}, "$.stage"),
            (sample(ChallengeRaised), {"stage": 0}, "$.stage"),
            (sample(ChallengeRaised), {"by_agency": 7}, "$.by_agency"),
            (sample(ChallengeRaised), {"by_agency": "Northshire Police"}, "$.by_agency"),
            (sample(ActionRecorded), {"seen": "yes"}, "$.seen"),
            (sample(ActionRecorded), {"action": "visit"}, "$.action"),
            (sample(CaseOpened), {"children": {"child": CHILD}}, "$.children"),
            (sample(CaseOpened), {"children": []}, "$.children"),
            (
                sample(CaseOpened),
                {"children": [{"child": CHILD, "age_band": "unborn"}] * 21},
                "$.children",
            ),
            (sample(LateRecordingExplained), {"event_sequence": 0}, "$.event_sequence"),
            (sample(RecommendationIssued), {"due": "2025-02-30"}, "$.due"),
            (sample(AgencyKeyRegistered), {"algorithm": "rsa"}, "$.algorithm"),
            (sample(AgencyKeyRegistered), {"public_key": "B" * 43 + "="}, "$.public_key"),
            (sample(AgencyKeyRegistered), {"public_key": KEY[:-1]}, "$.public_key"),
            (sample(PartnershipEstablished), {"escalation_stages": []}, "$.escalation_stages"),
            (
                sample(PartnershipEstablished),
                {"strategy_discussion_working_days": 31},
                "$.strategy_discussion_working_days",
            ),
            (sample(PartnershipEstablished), {"nation": "scotland"}, "$.nation"),
            (sample(CaseClosed), {"reason": REMOVED}, "$.reason"),
            (sample(CaseClosed), {"recorded_by": {"agency": "police"}}, "$.recorded_by.actor"),
        ],
    )
    def test_a_value_of_the_wrong_type_or_outside_its_rule_is_rejected_at_its_path(
        self, event: Event, changes: dict[str, Any], field: str
    ) -> None:
        error = rejection(payload(event, **changes))
        assert error.field == field
        assert str(error).startswith(f"invalid {type(event).__name__} event: {field}: ")
        assert "; rule: " in str(error)

    def test_an_unknown_nested_field_is_refused_naming_its_path(self) -> None:
        error = rejection(
            case_closed(recorded_by={"agency": "police", "actor": "act_pc1234", "team": "x"})
        )
        assert error.field == "$.recorded_by.team"

    def test_a_name_sent_beside_a_child_token_is_refused_not_dropped(self) -> None:
        child = {"child": CHILD, "age_band": "unborn", "name": "Jane Smith"}
        error = rejection(payload(sample(CaseOpened), children=[child]))
        assert error.field == "$.children[0].name"
        assert "Jane" not in str(error)

    def test_an_unknown_field_whose_name_may_be_personal_data_is_not_named(self) -> None:
        error = rejection(case_closed(**{"Jane Smith": "x"}))
        assert error.field == "$"
        assert "Jane" not in str(error)
        assert "unknown field" in str(error)

    def test_an_unknown_tag_is_rejected(self) -> None:
        error = rejection(case_closed(type="CaseReopened"))
        assert error.field == "$.type"
        assert "event type tag" in str(error)

    def test_a_payload_without_a_tag_is_rejected(self) -> None:
        assert rejection(case_closed(type=REMOVED)).field == "$.type"

    def test_a_payload_tagged_as_another_type_is_rejected_by_typed_decoding(self) -> None:
        with pytest.raises(InvalidEvent) as caught:
            decode_event_as(case_closed(), CaseOpened)
        assert caught.value.field == "$.type"

    def test_malformed_json_is_rejected_without_a_field(self) -> None:
        error = rejection(b'{"type": "CaseClosed"')
        assert error.field is None
        assert "truncated" in str(error)

    def test_json_nested_too_deeply_is_rejected(self) -> None:
        nested = b"[" * 100_000 + b"]" * 100_000
        # An unknown field is refused by its name, before its value is read.
        error = rejection(b'{"type": "CaseClosed", "extra": ' + nested + b"}")
        assert error.field == "$.extra"

    def test_the_error_is_a_ledger_error_and_a_value_error_that_chains_nothing(self) -> None:
        # msgspec's own message quotes the offending value, so it is not chained.
        error = rejection(case_closed(note=""))
        assert isinstance(error, LedgerError)
        assert isinstance(error, ValueError)
        assert error.__cause__ is None
        assert error.__context__ is None

    def test_the_error_does_not_quote_the_offending_value(self) -> None:
        error = rejection(case_closed(reason="Jane Smith told us"))
        assert error.field == "$.reason"
        assert "Jane" not in str(error)
        assert "no_further_action" in str(error)  # the rule lists the allowed values


class TestPersonalDataFields:
    def test_free_text_fields_of_an_event_and_its_source_reference_are_found(self) -> None:
        assert personal_data_fields(ActionRecorded) == ("source.reference", "note")

    def test_every_event_type_inherits_the_source_reference(self) -> None:
        for cls in EVENT_TYPES.values():
            assert "source.reference" in personal_data_fields(cls)

    def test_free_text_inside_a_list_of_structs_is_found(self) -> None:
        assert personal_data_fields(_Notes) == ("notes[].text",)

    def test_organisation_names_are_not_personal_data(self) -> None:
        assert personal_data_fields(PartnershipEstablished) == ("source.reference",)

    def test_identifiers_and_pseudonymous_references_are_not_personal_free_text(self) -> None:
        assert personal_data_fields(CaseOpened) == ("source.reference",)
        assert personal_data_fields(AgencyKeyRegistered) == ("source.reference",)

    def test_every_free_text_field_in_the_json_schema_is_listed(self) -> None:
        for tag, cls in EVENT_TYPES.items():
            definition = json_schemas()[tag]["$defs"][tag]
            marked = {
                name
                for name, prop in definition["properties"].items()
                if prop.get("x-personal-data")
            }
            assert marked <= set(personal_data_fields(cls))


class TestJsonSchemas:
    def test_there_is_a_schema_for_every_tag_and_one_for_the_union(self) -> None:
        assert set(json_schemas()) == set(FROZEN_TAGS) | {"LedgerEvent"}

    def test_every_schema_is_a_standalone_2020_12_document(self) -> None:
        for name, document in json_schemas().items():
            assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
            assert document["title"] == name
            assert name in document["$id"]
            assert document.get("$ref", "").startswith("#/$defs/") or "anyOf" in document

    def test_free_text_is_marked_as_personal_data(self) -> None:
        definition = json_schemas()["ActionRecorded"]["$defs"]["ActionRecorded"]
        assert definition["properties"]["note"]["x-personal-data"] is True
        assert "x-personal-data" not in definition["properties"]["child"]

    def test_the_union_is_discriminated_by_type(self) -> None:
        union = json_schemas()["LedgerEvent"]
        assert union["discriminator"]["propertyName"] == "type"
        assert set(union["discriminator"]["mapping"]) == set(FROZEN_TAGS)

    def test_the_schemas_are_json_serialisable(self) -> None:
        assert json.loads(json.dumps(json_schemas())) == json_schemas()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
tags = st.sampled_from(sorted(FROZEN_TAGS))
field_names = st.sampled_from(
    sorted({name for cls in EVENT_TYPES.values() for name in cls.__struct_fields__})
)


def decodes_or_is_rejected(data: bytes) -> None:
    """The property: a valid event, or InvalidEvent and nothing else."""
    event: Event | None = None
    field: str | None = None
    try:
        event = decode_event(data)
    except InvalidEvent as error:
        field = error.field
    if event is None:
        assert field is None or field.startswith("$")
    else:
        assert decode_event(encode_event(event)) == event


class TestEveryMalformedPayloadIsRejected:
    @given(st.binary(max_size=200))
    def test_random_bytes(self, data: bytes) -> None:
        decodes_or_is_rejected(data)

    @given(json_values)
    def test_random_json(self, value: Any) -> None:
        decodes_or_is_rejected(json.dumps(value).encode())

    @given(tags, st.dictionaries(field_names, json_values, max_size=8))
    def test_random_objects_with_a_known_tag(self, tag: str, fields: dict[str, Any]) -> None:
        decodes_or_is_rejected(json.dumps(fields | {"type": tag}).encode())

    @given(st.sampled_from(SAMPLES), field_names, json_values)
    def test_a_valid_event_with_one_field_replaced_by_random_json(
        self, event: Event, name: str, value: Any
    ) -> None:
        decodes_or_is_rejected(payload(event, **{name: value}))

    @given(st.sampled_from(SAMPLES), field_names)
    def test_a_valid_event_with_one_field_removed(self, event: Event, name: str) -> None:
        document = json.loads(encode_event(event))
        document.pop(name, None)
        decodes_or_is_rejected(json.dumps(document).encode())
