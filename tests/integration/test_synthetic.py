"""The synthetic partnership generator against a real nats-server: legal, plausible, seeded.

Two runs with the same seed (on streams of their own, with different thread counts) are
shared by the tests of this module; each reads back everything it wrote.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TypeVar

import pytest

import schemas
from ledger.application import Ledger
from runtime.settings import Settings
from runtime.synthetic import (
    END,
    LATE,
    START,
    GeneratedSummary,
    SimulatedClock,
    generate,
)

EVENTS = 2000
SEED = 20240101

E = TypeVar("E", bound=schemas.Event)


@dataclass(frozen=True)
class Stored:
    """One event read back from the stream."""

    sequence: int
    aggregate: str
    version: int
    topic: str
    fact: schemas.Event


@dataclass(frozen=True)
class Run:
    summary: GeneratedSummary
    stored: list[Stored]


def _ledger(url: str, clock: SimulatedClock, stream: str, prefix: str) -> Ledger:
    env = Settings(stream=stream, subject_prefix=prefix).persistence_env(url)
    return Ledger(env=env, clock=clock)


def _read_all(ledger: Ledger) -> list[Stored]:
    stored: list[Stored] = []
    start = 1
    while batch := ledger.recorder.select_notifications(start, limit=500):
        for n in batch:
            fact = schemas.decode_event(n.state)
            stored.append(Stored(n.id, str(n.originator_id), n.originator_version, n.topic, fact))
        start = batch[-1].id + 1
    return stored


def _run(url: str, workers: int) -> Run:
    token = secrets.token_hex(6)
    clock = SimulatedClock()
    ledger = _ledger(url, clock, f"SYNTH_T{token}", f"syn{token}")
    try:
        summary = generate(ledger, clock=clock, events=EVENTS, seed=SEED, workers=workers)
        return Run(summary, _read_all(ledger))
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def first(nats_url: str) -> Run:
    return _run(nats_url, workers=4)


@pytest.fixture(scope="module")
def second(nats_url: str) -> Run:
    return _run(nats_url, workers=2)


def _of(run: Run, event_type: type[E]) -> list[E]:
    return [s.fact for s in run.stored if isinstance(s.fact, event_type)]


class TestSyntheticPartnership:
    def test_it_writes_exactly_the_events_asked_for_and_the_stream_holds_them(
        self, first: Run
    ) -> None:
        assert first.summary.events == EVENTS
        assert len(first.stored) == EVENTS
        assert sum(first.summary.by_type.values()) == EVENTS

    def test_every_event_decodes_as_the_type_its_topic_names(self, first: Run) -> None:
        assert all(schemas.tag_of(type(s.fact)) == s.topic for s in first.stored)
        assert Counter(s.topic for s in first.stored) == Counter(first.summary.by_type)

    def test_every_event_is_recorded_no_earlier_than_it_occurred_and_within_the_timeline(
        self, first: Run
    ) -> None:
        for s in first.stored:
            assert s.fact.recorded_at >= s.fact.occurred_at, s
            if not isinstance(s.fact, schemas.PartnershipEvent):
                assert START <= s.fact.occurred_at <= END, s
                assert s.fact.recorded_at <= END, s

    def test_each_aggregate_is_recorded_in_order_of_recorded_at(self, first: Run) -> None:
        by_aggregate: dict[str, list[Stored]] = defaultdict(list)
        for s in first.stored:
            by_aggregate[s.aggregate].append(s)
        for events in by_aggregate.values():
            assert [s.version for s in events] == list(range(1, len(events) + 1))
            times = [s.fact.recorded_at for s in events]
            assert times == sorted(times)

    def test_both_nations_and_tens_of_agencies_are_set_up(self, first: Run) -> None:
        nations = {f.nation for f in _of(first, schemas.PartnershipEstablished)}
        assert nations == {schemas.Nation.ENGLAND, schemas.Nation.WALES}
        agencies = Counter(s.aggregate for s in first.stored if s.topic == "AgencyRegistered")
        assert all(30 <= count <= 60 for count in agencies.values())
        assert len(agencies) == 3

    def test_the_proportions_are_plausible(self, first: Run) -> None:
        by_type = first.summary.by_type
        assert by_type["CaseOpened"] >= 40
        assert by_type["CaseClosed"] >= by_type["CaseOpened"] // 2
        bases = {f.basis for f in _of(first, schemas.CooperationRefused)}
        assert {"more_detrimental_to_child", "no_stated_basis"} <= bases
        stages = {f.to_stage for f in _of(first, schemas.ChallengeEscalated)}
        assert 2 in stages
        assert by_type["ChallengeRaised"] >= 5
        assert by_type.get("RecommendationIssued", 0) >= 1
        assert by_type.get("SeriousIncidentNotified", 0) >= 1
        late = [s for s in first.stored if s.fact.recorded_at - s.fact.occurred_at > LATE]
        assert 0.01 * EVENTS <= len(late) <= 0.06 * EVENTS
        assert len(late) == first.summary.late_recorded
        assert by_type.get("LateRecordingExplained", 0) == first.summary.late_explained >= 1

    def test_children_seen_alone_and_not_alone_are_both_recorded(self, first: Run) -> None:
        seen_alone = {
            f.seen_alone
            for f in _of(first, schemas.ActionRecorded)
            if f.action == schemas.ActionKind.CHILD_SEEN and f.seen
        }
        assert seen_alone == {True, False}

    def test_every_explanation_names_an_earlier_late_event_of_its_case(self, first: Run) -> None:
        by_seq = {s.sequence: s for s in first.stored}
        for s in first.stored:
            if isinstance(s.fact, schemas.LateRecordingExplained):
                late = by_seq[s.fact.event_sequence]
                assert late.aggregate == s.aggregate
                assert late.sequence < s.sequence
                assert late.fact.recorded_at - late.fact.occurred_at > LATE

    def test_the_same_seed_writes_the_same_commands_to_every_aggregate(
        self, first: Run, second: Run
    ) -> None:
        assert Counter((s.aggregate, s.topic) for s in first.stored) == Counter(
            (s.aggregate, s.topic) for s in second.stored
        )

        def histories(run: Run) -> dict[str, list[tuple[str, object, object]]]:
            out: dict[str, list[tuple[str, object, object]]] = defaultdict(list)
            for s in sorted(run.stored, key=lambda s: (s.aggregate, s.version)):
                out[s.aggregate].append((s.topic, s.fact.occurred_at, s.fact.recorded_at))
            return out

        assert histories(first) == histories(second)


class TestBigCase:
    def test_one_case_gets_exactly_the_events_asked_for(
        self, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        clock = SimulatedClock()
        ledger = _ledger(nats_url, clock, stream_name, subject_prefix)
        try:
            summary = generate(ledger, clock=clock, events=900, seed=3, big_case_events=400)
            assert summary.big_case == "northvale.case.c-big"
            assert summary.events == 900
            assert len(ledger.case_events("northvale", "c-big")) == 400
        finally:
            ledger.close()

    def test_a_partnership_that_exists_already_is_refused(
        self, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        clock = SimulatedClock()
        ledger = _ledger(nats_url, clock, stream_name, subject_prefix)
        try:
            generate(ledger, clock=clock, events=200, seed=3)
            with pytest.raises(ValueError, match="exists already"):
                generate(ledger, clock=clock, events=200, seed=3)
        finally:
            ledger.close()


class TestReviewsEvery:
    def test_asking_for_reviews_more_often_gives_a_small_run_more_serious_incidents(
        self, nats_url: str
    ) -> None:
        def reviews(**asked: int) -> int:
            token = secrets.token_hex(6)
            clock = SimulatedClock()
            ledger = _ledger(nats_url, clock, f"SYNTH_R{token}", f"syr{token}")
            try:
                summary = generate(ledger, clock=clock, events=1200, seed=3, **asked)
            finally:
                ledger.close()
            return summary.reviews

        assert reviews() == 1  # one in 120 units: only the first, in a run this small
        assert reviews(reviews_every=5) >= 3

    def test_a_review_every_unit_is_refused_and_nothing_is_written(
        self, nats_url: str, stream_name: str, subject_prefix: str
    ) -> None:
        clock = SimulatedClock()
        ledger = _ledger(nats_url, clock, stream_name, subject_prefix)
        try:
            with pytest.raises(ValueError, match="reviews_every is 1"):
                generate(ledger, clock=clock, events=200, seed=3, reviews_every=1)
            assert (ledger.recorder.max_notification_id() or 0) == 0
        finally:
            ledger.close()
