"""The inputs issue 8 found accepted, one by one, through the public Python API.

The generic sweep over every command is ``test_hostile_input.py``; these are the
reported cases, spelled out, and the rules that need more than one value (a sequence
that must exist in the case, dates in order, history that replays whatever the clock).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import msgspec
import pytest
from eventsourcing.popo import POPOApplicationRecorder
from ledger_scenario import (
    CASE,
    CHILD,
    HEALTH,
    LA,
    PARTNERSHIP,
    POLICE,
    STAGES,
    T0,
    FixedClock,
    LedgerOn,
    Rejected,
    establish,
    written,
)

import schemas
from ledger.application import Ledger
from ledger.errors import InvalidCommand, LedgerError, RuleViolation
from projections.catalogue import Views
from projections.sqlite import SQLiteViewStore
from schemas import YEARS_AHEAD

P = {"partnership": PARTNERSHIP}
C = {**P, "case": CASE}
NOT_OF_THE_CASE = "is not the sequence of an event of case 'c-1'"


def _challenge_about_the_case(ledger: Ledger) -> int:
    receipt = ledger.raise_challenge(
        **P,
        challenge="d-1",
        recorded_by=LA,
        against_agency="health",
        matter="information_sharing",
        case=CASE,
        summary="Records withheld.",
    )
    return receipt.sequence


class TestIdentifiersWithATrailingNewline:
    @pytest.mark.parametrize(
        ("call", "field"),
        [
            ({"agency": "nl\n"}, "agency"),
            ({"recorded_by": {"agency": "la", "actor": "act_abcdef\n"}}, "recorded_by.actor"),
            ({"recorded_by": {"agency": "la\n", "actor": "act_abcdef"}}, "recorded_by.agency"),
        ],
    )
    def test_an_agency_or_actor_ending_in_a_newline_is_not_registered(
        self, ledger: Ledger, partnership: str, rejected: Rejected, call: Any, field: str
    ) -> None:
        kwargs = {
            **P,
            "recorded_by": LA,
            "agency": "school",
            "name": "School",
            "kind": "school",
            "role": "relevant_agency",
            **call,
        }
        with rejected(InvalidCommand, field=field):
            ledger.register_agency(**kwargs)

    def test_a_request_ending_in_a_newline_is_refused(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="request"):
            ledger.request_information(**C, recorded_by=LA, request="rq-1\n", to_agency="health")

    @pytest.mark.parametrize("ident", ["c9\n", "c9\r\n", "c9\x00"])
    def test_a_case_id_ending_in_a_newline_never_reaches_the_store(
        self, ledger: Ledger, partnership: str, rejected: Rejected, ident: str
    ) -> None:
        with rejected(InvalidCommand, field="case"):
            ledger.open_case(
                **P, case=ident, recorded_by=LA, children=[{"child": CHILD, "age_band": "5_9"}]
            )
        with pytest.raises(InvalidCommand):
            ledger.get_case(PARTNERSHIP, ident)


class TestLateRecordingExplanations:
    def test_an_event_of_the_case_is_explained(self, ledger: Ledger, case: str) -> None:
        opened = ledger.case_events(PARTNERSHIP, case)[0]
        assert opened[0] == 1
        receipt = ledger.explain_late_recording(
            **C, recorded_by=LA, event_sequence=5, reason="System outage."
        )
        assert receipt.event_type == "LateRecordingExplained"

    def test_an_event_of_a_challenge_about_the_case_is_explained(
        self, ledger: Ledger, case: str
    ) -> None:
        seq = _challenge_about_the_case(ledger)
        receipt = ledger.explain_late_recording(
            **C, recorded_by=LA, event_sequence=seq, reason="Raised on paper first."
        )
        assert receipt.sequence == seq + 1

    @pytest.mark.parametrize("seq", [2**63, 2**64, 0, -1])
    def test_a_sequence_no_store_can_hold_is_invalid(
        self, ledger: Ledger, case: str, rejected: Rejected, seq: int
    ) -> None:
        with rejected(InvalidCommand, field="event_sequence"):
            ledger.explain_late_recording(**C, recorded_by=LA, event_sequence=seq, reason="x")

    def test_after_2_to_the_63_is_refused_the_views_catch_up_and_show_the_explanation(
        self, ledger: Ledger, case: str, tmp_path: Path
    ) -> None:
        with pytest.raises(InvalidCommand):
            ledger.explain_late_recording(**C, recorded_by=LA, event_sequence=2**63, reason="x")
        explained = ledger.explain_late_recording(
            **C, recorded_by=LA, event_sequence=5, reason="System outage."
        )
        views = Views(SQLiteViewStore(tmp_path / "views.sqlite"))
        try:
            views.runner(ledger).catch_up()
            entries = views.chronology.chronology(PARTNERSHIP, CASE).entries
        finally:
            views.close()
        assert [e.sequence for e in entries if e.late_explained] == [5]
        assert entries[-1].sequence == explained.sequence

    @pytest.mark.parametrize("seq", [2**63 - 1, 10_000])
    def test_a_sequence_beyond_the_end_of_the_stream_is_refused(
        self, ledger: Ledger, case: str, rejected: Rejected, seq: int
    ) -> None:
        with rejected(RuleViolation, field="event_sequence") as info:
            ledger.explain_late_recording(**C, recorded_by=LA, event_sequence=seq, reason="x")
        assert getattr(info.value, "rule", None) == "explains_case_event"

    @pytest.mark.parametrize("seq", [1, 2])
    def test_an_event_of_the_partnership_is_not_the_cases_to_explain(
        self, ledger: Ledger, case: str, rejected: Rejected, seq: int
    ) -> None:
        with rejected(RuleViolation, field="event_sequence", match=NOT_OF_THE_CASE):
            ledger.explain_late_recording(**C, recorded_by=LA, event_sequence=seq, reason="x")

    def test_an_event_of_another_case_is_refused(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        other = ledger.open_case(
            **P, case="c-2", recorded_by=LA, children=[{"child": CHILD, "age_band": "5_9"}]
        )
        with rejected(RuleViolation, field="event_sequence", match=NOT_OF_THE_CASE) as info:
            ledger.explain_late_recording(
                **C, recorded_by=LA, event_sequence=other.sequence, reason="x"
            )
        assert "c-2" not in str(info.value)  # nothing about a case the caller may not see

    def test_an_explanation_is_not_explained_in_turn_and_nothing_is_written(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        explanation = ledger.explain_late_recording(
            **C, recorded_by=LA, event_sequence=5, reason="System outage."
        )
        assert explanation.event_type == "LateRecordingExplained"
        with rejected(RuleViolation, field="event_sequence") as info:
            ledger.explain_late_recording(
                **C,
                recorded_by=LA,
                event_sequence=explanation.sequence,
                reason="Confidential reason about the outage.",
            )
        error = info.value
        assert getattr(error, "rule", None) == "explains_no_explanation"
        assert str(error).startswith(f"event_sequence {explanation.sequence} ")
        assert "not another explanation" in str(error)
        assert "Confidential" not in str(error)
        command = schemas.decode_command(
            msgspec.json.encode(
                {
                    "type": "ExplainLateRecording",
                    **C,
                    "event_sequence": explanation.sequence,
                    "reason": "Confidential.",
                }
            )
        )
        with rejected(RuleViolation, field="event_sequence", match="not another explanation"):
            ledger.execute(command, recorded_by=LA)

    def test_an_event_of_a_challenge_about_another_case_is_refused(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        ledger.open_case(
            **P, case="c-2", recorded_by=LA, children=[{"child": CHILD, "age_band": "5_9"}]
        )
        seq = ledger.raise_challenge(
            **P,
            challenge="d-9",
            recorded_by=LA,
            against_agency="health",
            matter="attendance",
            case="c-2",
            summary="Did not attend.",
        ).sequence
        with rejected(RuleViolation, field="event_sequence", match=NOT_OF_THE_CASE) as info:
            ledger.explain_late_recording(**C, recorded_by=LA, event_sequence=seq, reason="x")
        assert "d-9" not in str(info.value)


class TestUnknownFields:
    def test_a_childs_name_and_date_of_birth_beside_the_token_are_refused_not_dropped(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        child = {"child": CHILD, "age_band": "5_9", "name": "Jane Smith"}
        child["date_of_birth"] = "2019-04-01"
        with rejected(InvalidCommand, field="children[0].name") as info:
            ledger.open_case(**C, recorded_by=LA, children=[child])
        assert "Jane" not in str(info.value)
        assert "2019" not in str(info.value)

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            ({"recorded_by": {**LA, "team": "MASH"}}, "recorded_by.team"),
            ({"source": {"kind": "email", "sender": "x"}}, "source.sender"),
        ],
    )
    def test_an_unknown_key_in_any_nested_object_is_refused_with_its_path(
        self, ledger: Ledger, case: str, rejected: Rejected, call: Any, field: str
    ) -> None:
        with rejected(InvalidCommand, field=field):
            ledger.record_action(**{**C, "recorded_by": LA, "action": "home_visit", **call})

    def test_an_unknown_key_in_an_escalation_stage_is_refused(
        self, ledger: Ledger, rejected: Rejected
    ) -> None:
        stages = [{**STAGES[0], "chair": "Jane Smith"}]
        with rejected(InvalidCommand, field="escalation_stages[0].chair"):
            ledger.establish_partnership(
                **P, recorded_by=LA, name="N", nation="england", escalation_stages=stages
            )


class TestUntypedFailuresBecomeLedgerErrors:
    @pytest.mark.parametrize("children", [None, "ch_0123456789abcdef", 5, {"child": CHILD}])
    def test_children_that_are_not_a_list_are_invalid(
        self, ledger: Ledger, partnership: str, rejected: Rejected, children: Any
    ) -> None:
        with rejected(InvalidCommand, field="children"):
            ledger.open_case(**C, recorded_by=LA, children=children)

    @pytest.mark.parametrize("stages", [None, "stage 1", 3])
    def test_escalation_stages_that_are_not_a_list_are_invalid(
        self, ledger: Ledger, rejected: Rejected, stages: Any
    ) -> None:
        with rejected(InvalidCommand, field="escalation_stages"):
            ledger.establish_partnership(
                **P, recorded_by=LA, name="N", nation="england", escalation_stages=stages
            )

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            ({"note": "Seen \ud800 alone"}, "note"),
            ({"recorded_by": {"agency": "la", "actor": "act_\udc00bcdef"}}, "recorded_by.actor"),
            ({"source": {"kind": "email", "reference": "\udfff"}}, "source.reference"),
        ],
    )
    def test_a_lone_surrogate_in_any_text_is_invalid(
        self, ledger: Ledger, case: str, rejected: Rejected, call: Any, field: str
    ) -> None:
        with rejected(InvalidCommand, field=field):
            ledger.record_action(**{**C, "recorded_by": LA, "action": "home_visit", **call})

    def test_a_surrogate_in_a_child_token_is_invalid_with_the_item_path(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="children[0].child"):
            ledger.open_case(
                **C, recorded_by=LA, children=[{"child": "ch_\ud800", "age_band": "5_9"}]
            )

    def test_a_value_nested_too_deeply_to_encode_is_invalid(
        self, ledger: Ledger, partnership: str, rejected: Rejected
    ) -> None:
        deep: list[Any] = []
        for _ in range(100_000):
            deep = [deep]
        with rejected(InvalidCommand, field="children", match="nested too deeply"):
            ledger.open_case(**C, recorded_by=LA, children=[{"child": deep, "age_band": "5_9"}])

    @pytest.mark.parametrize("stage", [True, "2", 2.0])
    def test_a_bool_string_or_float_stage_is_invalid(
        self, ledger: Ledger, case: str, rejected: Rejected, stage: Any
    ) -> None:
        with rejected(InvalidCommand, field="stage"):
            ledger.raise_challenge(
                **P,
                challenge="d-1",
                recorded_by=LA,
                against_agency="health",
                matter="attendance",
                summary="x",
                stage=stage,
            )


class TestDatesThatCannotBeTrue:
    @pytest.mark.parametrize("field", ["became_aware_at", "notified_panel_at"])
    def test_an_incident_cannot_be_known_or_notified_in_the_future(
        self, ledger: Ledger, case: str, rejected: Rejected, field: str
    ) -> None:
        dates = {"became_aware_at": T0 - dt.timedelta(days=1), "notified_panel_at": T0}
        dates[field] = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
        if field == "became_aware_at":
            dates["notified_panel_at"] = dates[field]
        with rejected(RuleViolation, field=field) as info:
            ledger.notify_serious_incident(
                **P, review="r-1", recorded_by=LA, child=CHILD, incident="death", **dates
            )
        assert "5 minutes" in str(info.value)

    def test_a_review_cannot_be_published_in_2099_but_within_the_skew_it_can(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        ledger.notify_serious_incident(
            **P,
            review="r-1",
            recorded_by=LA,
            child=CHILD,
            incident="death",
            became_aware_at=T0 - dt.timedelta(days=2),
            notified_panel_at=T0 - dt.timedelta(days=1),
        )
        r = {**P, "review": "r-1", "recorded_by": LA}
        with rejected(RuleViolation, field="published_at"):
            ledger.publish_review(**r, published_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
        ledger.publish_review(**r, published_at=T0 + dt.timedelta(minutes=5))

    @pytest.mark.parametrize("year", [1, 1066, 1899])
    def test_no_date_lies_before_1900(
        self, ledger: Ledger, case: str, rejected: Rejected, year: int
    ) -> None:
        with rejected(InvalidCommand, field="occurred_at", match="1900"):
            ledger.record_action(
                **C, recorded_by=LA, action="home_visit", occurred_at=T0.replace(year=year)
            )
        with rejected(InvalidCommand, field="due_by", match="1900"):
            ledger.request_information(
                **C,
                recorded_by=LA,
                request="rq-1",
                to_agency="health",
                due_by=T0.replace(year=year),
            )

    def test_a_request_cannot_be_due_before_it_was_made(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(RuleViolation, field="due_by") as info:
            ledger.request_information(
                **C,
                recorded_by=LA,
                request="rq-1",
                to_agency="health",
                occurred_at=T0 - dt.timedelta(days=1),
                due_by=T0 - dt.timedelta(days=2),
            )
        assert getattr(info.value, "rule", None) == "due_after_request"

    def test_due_dates_in_the_future_are_what_due_dates_are_up_to_50_years_ahead(
        self, ledger: Ledger, case: str
    ) -> None:
        ahead = T0.replace(year=T0.year + YEARS_AHEAD)
        ledger.request_information(
            **C, recorded_by=LA, request="rq-1", to_agency="health", due_by=ahead
        )
        ledger.notify_serious_incident(
            **P,
            review="r-1",
            recorded_by=LA,
            child=CHILD,
            incident="death",
            became_aware_at=T0 - dt.timedelta(days=2),
            notified_panel_at=T0 - dt.timedelta(days=1),
        )
        receipt = ledger.issue_recommendation(
            **P,
            review="r-1",
            recorded_by=LA,
            recommendation="rec-1",
            owner="health",
            due=ahead.date(),
            theme="escalation",
            text="Audit by the end of the century.",
        )
        assert receipt.event_type == "RecommendationIssued"

    def test_a_due_date_more_than_50_years_ahead_is_refused_naming_the_field_and_rule(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        beyond = T0.replace(year=T0.year + YEARS_AHEAD) + dt.timedelta(days=1)
        with rejected(RuleViolation, field="due_by") as info:
            ledger.request_information(
                **C, recorded_by=LA, request="rq-1", to_agency="health", due_by=beyond
            )
        assert getattr(info.value, "rule", None) == "date_within_50_years"
        assert "more than 50 years after recorded_at" in str(info.value)
        ledger.notify_serious_incident(
            **P,
            review="r-1",
            recorded_by=LA,
            child=CHILD,
            incident="death",
            became_aware_at=T0 - dt.timedelta(days=2),
            notified_panel_at=T0 - dt.timedelta(days=1),
        )
        with rejected(RuleViolation, field="due", match="50 years"):
            ledger.issue_recommendation(
                **P,
                review="r-1",
                recorded_by=LA,
                recommendation="rec-1",
                owner="health",
                due=dt.date(9999, 12, 31),
                theme="escalation",
                text="Audit.",
            )

    @pytest.mark.parametrize("hours", [-12, -5, 1, 14])
    def test_an_offset_does_not_carry_a_future_instant_past_the_rule(
        self, ledger: Ledger, case: str, rejected: Rejected, hours: int
    ) -> None:
        """The same instant, 6 minutes ahead, written with any offset, is in the future."""
        zone = dt.timezone(dt.timedelta(hours=hours))
        ahead = (T0 + dt.timedelta(minutes=6)).astimezone(zone)
        with rejected(RuleViolation, field="occurred_at", match="5 minutes"):
            ledger.record_action(**C, recorded_by=LA, action="home_visit", occurred_at=ahead)
        within = (T0 + dt.timedelta(minutes=4)).astimezone(zone)
        receipt = ledger.record_action(**C, recorded_by=LA, action="home_visit", occurred_at=within)
        assert receipt.event_type == "ActionRecorded"

    def test_1900_at_midnight_an_hour_ahead_of_utc_is_1899_in_utc_and_refused(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        paris = dt.timezone(dt.timedelta(hours=1))
        with rejected(InvalidCommand, field="occurred_at", match="1899 .UTC."):
            ledger.record_action(
                **C,
                recorded_by=LA,
                action="home_visit",
                occurred_at=dt.datetime(1900, 1, 1, 0, 30, tzinfo=paris),
            )

    @pytest.mark.parametrize(
        ("value", "error"),
        [
            (
                dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                InvalidCommand,
            ),
            (
                dt.datetime(9999, 12, 31, 23, 30, tzinfo=dt.timezone(-dt.timedelta(hours=1))),
                RuleViolation,
            ),
        ],
    )
    def test_an_instant_outside_what_utc_can_hold_is_refused_by_its_rule(
        self,
        ledger: Ledger,
        case: str,
        rejected: Rejected,
        value: dt.datetime,
        error: type[LedgerError],
    ) -> None:
        with rejected(error, field="due_by"):
            ledger.request_information(
                **C, recorded_by=LA, request="rq-1", to_agency="health", due_by=value
            )

    @pytest.mark.parametrize(
        "offset",
        [
            dt.timedelta(hours=1, seconds=30),
            -dt.timedelta(hours=5, minutes=30, seconds=1),
            dt.timedelta(minutes=1, microseconds=1),
        ],
    )
    @pytest.mark.parametrize("field", ["occurred_at", "due_by"])
    def test_an_offset_with_seconds_is_refused_not_rounded(
        self, ledger: Ledger, case: str, rejected: Rejected, offset: dt.timedelta, field: str
    ) -> None:
        value = (T0 - dt.timedelta(hours=1)).astimezone(dt.timezone(offset))
        with rejected(InvalidCommand, field=field) as info:
            ledger.request_information(
                **C, recorded_by=LA, request="rq-1", to_agency="health", **{field: value}
            )
        assert "with seconds" in str(info.value)
        assert "RFC 3339" in str(info.value)

    def test_a_zone_whose_offset_had_seconds_then_is_refused(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        """Amsterdam kept its local mean time, +00:19:32 in winter, until 1937."""
        amsterdam = zoneinfo.ZoneInfo("Europe/Amsterdam")
        with rejected(InvalidCommand, field="occurred_at", match=r"\+00:19:32"):
            ledger.record_action(
                **C,
                recorded_by=LA,
                action="home_visit",
                occurred_at=dt.datetime(1930, 1, 15, 12, tzinfo=amsterdam),
            )

    def test_an_offset_in_json_with_seconds_is_refused_by_the_decoder(self) -> None:
        body = {
            "type": "RecordAction",
            **C,
            "action": "home_visit",
            "occurred_at": "2026-03-02T09:00:00+01:00:30",
        }
        with pytest.raises(InvalidCommand) as info:
            schemas.decode_command(msgspec.json.encode(body))
        assert info.value.field == "occurred_at"

    def test_a_nul_in_free_text_is_refused_and_tabs_and_newlines_are_kept(
        self, ledger: Ledger, case: str, rejected: Rejected
    ) -> None:
        with rejected(InvalidCommand, field="note"):
            ledger.record_action(**C, recorded_by=LA, action="home_visit", note="Seen\x00.")
        ledger.record_action(**C, recorded_by=LA, action="home_visit", note="Seen.\n\tAlone.")
        assert ledger.case_events(PARTNERSHIP, CASE)[-1][1].note == "Seen.\n\tAlone."  # type: ignore[attr-defined]


class TestHistoryReplaysWhateverTheClockSays:
    def test_facts_recorded_today_are_read_by_a_ledger_whose_clock_is_years_behind(
        self,
    ) -> None:
        recorder = POPOApplicationRecorder()
        today = FixedClock()
        writer = LedgerOn(recorder, today)
        establish(writer)
        writer.open_case(**C, recorded_by=LA, children=[{"child": CHILD, "age_band": "5_9"}])
        writer.join_case(**C, recorded_by=LA, agency="police")
        writer.record_action(**C, recorded_by=POLICE, action="home_visit")
        writer.notify_serious_incident(
            **P,
            review="r-1",
            recorded_by=LA,
            child=CHILD,
            incident="death",
            became_aware_at=T0 - dt.timedelta(minutes=1),
            notified_panel_at=T0 + dt.timedelta(minutes=4),
        )
        past = FixedClock(T0 - dt.timedelta(days=3650))
        reader = LedgerOn(recorder, past)
        assert len(reader.case_events(PARTNERSHIP, CASE)) == 3
        assert reader.get_review(PARTNERSHIP, "r-1").case is None
        with pytest.raises(LedgerError):  # but a command is checked against its own clock
            reader.record_action(**C, recorded_by=HEALTH, action="home_visit", occurred_at=T0)
        assert written(reader) == written(writer)
