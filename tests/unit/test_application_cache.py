"""The application service's cache: lean on the hot path, and never trusted blindly.

Two ledgers on one recorder stand for two processes writing to one stream; the
fake recorder counts reads and can fail, or let the other process write first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError
from ledger_scenario import (
    CASE,
    CHILD,
    LA,
    PARTNERSHIP,
    POLICE,
    SCHOOL,
    FakeRecorder,
    FixedClock,
    LedgerOn,
    command,
    establish,
    written,
)

from ledger._aggregate import aggregate_id
from ledger.application import Ledger
from ledger.errors import ConcurrencyConflict, LedgerUnavailable, RuleViolation


@pytest.fixture
def recorder() -> FakeRecorder:
    return FakeRecorder()


@pytest.fixture
def this(recorder: FakeRecorder, clock: FixedClock) -> Iterator[Ledger]:
    """A ledger on the fake recorder."""
    app = LedgerOn(recorder, clock)
    yield app
    app.close()


@pytest.fixture
def other(recorder: FakeRecorder, clock: FixedClock) -> Iterator[Ledger]:
    """A second ledger writing to the same recorder, as another process would."""
    app = LedgerOn(recorder, clock)
    yield app
    app.close()


class TestTheCache:
    def test_a_command_on_cached_aggregates_does_not_read_the_store(
        self, this: Ledger, recorder: FakeRecorder
    ) -> None:
        establish(this)
        command(
            this,
            "open_case",
            case=CASE,
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
        )
        reads = recorder.reads
        command(this, "join_case", case=CASE, recorded_by=LA, agency="police")
        command(this, "record_action", case=CASE, recorded_by=POLICE, action="home_visit")
        assert recorder.reads == reads

    def test_an_agency_registered_by_another_process_is_found_on_a_second_look(
        self, this: Ledger, other: Ledger
    ) -> None:
        establish(this)  # this process has the partnership cached without the school
        establish_school = {"agency": "school", "name": "School", "kind": "school"}
        other.register_agency(
            partnership=PARTNERSHIP, recorded_by=LA, role="relevant_agency", **establish_school
        )
        receipt = this.open_case(
            partnership=PARTNERSHIP,
            case=CASE,
            recorded_by=SCHOOL,
            children=[{"child": CHILD, "age_band": "5_9"}],
        )
        assert receipt.version == 1

    def test_a_write_by_another_process_is_retried_on_fresh_state(
        self, this: Ledger, other: Ledger
    ) -> None:
        establish(this)
        command(
            this,
            "open_case",
            case=CASE,
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
        )
        command(other, "join_case", case=CASE, recorded_by=LA, agency="police")
        receipt = command(this, "record_action", case=CASE, recorded_by=LA, action="home_visit")
        assert receipt.version == 3
        assert this.get_case(PARTNERSHIP, CASE).parties == {"la", "police"}

    def test_a_rule_broken_only_on_stale_state_is_rechecked(
        self, this: Ledger, other: Ledger
    ) -> None:
        establish(this)
        command(
            this,
            "open_case",
            case=CASE,
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
        )
        command(other, "join_case", case=CASE, recorded_by=LA, agency="police")
        receipt = command(this, "record_action", case=CASE, recorded_by=POLICE, action="home_visit")
        assert receipt.version == 3

    def test_opening_what_another_process_just_opened_is_a_rule_violation(
        self, this: Ledger, other: Ledger, recorder: FakeRecorder
    ) -> None:
        establish(this)
        opening = {
            "case": CASE,
            "recorded_by": LA,
            "children": [{"child": CHILD, "age_band": "5_9"}],
        }
        recorder.before_next_write.append(lambda: command(other, "open_case", **opening))
        with pytest.raises(RuleViolation, match="'c-1' already exists"):
            command(this, "open_case", **opening)
        assert this.get_case(PARTNERSHIP, CASE).version == 1

    def test_a_conflict_that_persists_is_raised_and_nothing_is_written(
        self, this: Ledger, recorder: FakeRecorder
    ) -> None:
        establish(this)
        command(
            this,
            "open_case",
            case=CASE,
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
        )
        before = written(this)
        recorder.failure = IntegrityError("someone else wrote version 2")
        with pytest.raises(ConcurrencyConflict, match="another writer") as info:
            command(this, "record_action", case=CASE, recorded_by=LA, action="home_visit")
        assert isinstance(info.value.__cause__, IntegrityError)
        assert written(this) == before
        recorder.failure = None
        receipt = command(this, "record_action", case=CASE, recorded_by=LA, action="home_visit")
        assert receipt.version == 2

    def test_an_unavailable_ledger_leaves_no_half_changed_aggregate_in_the_cache(
        self, this: Ledger, recorder: FakeRecorder
    ) -> None:
        establish(this)
        command(
            this,
            "open_case",
            case=CASE,
            recorded_by=LA,
            children=[{"child": CHILD, "age_band": "5_9"}],
        )
        recorder.failure = LedgerUnavailable("no acknowledgement within 5s")
        with pytest.raises(LedgerUnavailable):
            command(this, "close_case", case=CASE, recorded_by=LA, reason="other")
        recorder.failure = None
        target = aggregate_id(PARTNERSHIP, "case", CASE)
        assert this.repository.cache is not None
        with pytest.raises(KeyError):
            this.repository.cache.get(target)
        assert not this.get_case(PARTNERSHIP, CASE).closed
        receipt = command(this, "record_action", case=CASE, recorded_by=LA, action="home_visit")
        assert receipt.version == 2


def stripe(ledger: Ledger, target: str) -> threading.Lock:
    """The lock ``ledger`` holds while a command on ``target`` runs (one of a few, shared)."""
    return ledger._locks[hash(target) % len(ledger._locks)]


def a_case_on_another_stripe(ledger: Ledger, held: threading.Lock) -> str:
    """A case id whose commands take a lock other than ``held``.

    String hashes differ from process to process, so "c-9" shares the partnership's lock in
    about one run in 64: its command would then wait for the partnership change to end.
    """
    return next(
        case
        for case in (f"c-{n}" for n in range(9, 1000))
        if stripe(ledger, aggregate_id(PARTNERSHIP, "case", case)) is not held
    )


class TestCommandsNeverSeeUnsavedChanges:
    @pytest.mark.parametrize("registration_saved", [False, True])
    def test_a_command_during_a_partnership_change_sees_only_what_was_saved(
        self, this: Ledger, recorder: FakeRecorder, registration_saved: bool
    ) -> None:
        establish(this)
        partnership_lock = stripe(this, aggregate_id(PARTNERSHIP, "partnership", PARTNERSHIP))
        case = a_case_on_another_stripe(this, partnership_lock)
        outcome: list[BaseException | None] = []
        during_the_save: list[bool] = []

        def open_as_the_agency_being_registered() -> None:
            try:
                command(
                    this,
                    "open_case",
                    case=case,
                    recorded_by=SCHOOL,
                    children=[{"child": CHILD, "age_band": "5_9"}],
                )
            except BaseException as e:  # noqa: BLE001 - handed to the test thread
                outcome.append(e)
            else:
                outcome.append(None)

        def while_the_registration_is_being_saved() -> None:
            # The registration is checked and recorded on its copy, not yet saved.
            during_the_save.append(partnership_lock.locked())
            other_thread = threading.Thread(target=open_as_the_agency_being_registered)
            other_thread.start()
            # Nothing the other command needs is held, so it ends; the timeout only keeps
            # a regression from hanging the suite (the asserts below then fail).
            other_thread.join(timeout=60)
            during_the_save.append(not other_thread.is_alive())
            if not registration_saved:
                recorder.failure = LedgerUnavailable("the save of the registration fails")

        recorder.before_next_write.append(while_the_registration_is_being_saved)
        registering = {
            "recorded_by": LA,
            "agency": "school",
            "name": "A school",
            "kind": "school",
            "role": "relevant_agency",
        }
        if registration_saved:
            command(this, "register_agency", **registering)
        else:
            with pytest.raises(LedgerUnavailable):
                command(this, "register_agency", **registering)
        recorder.failure = None
        # The other command ran, and ended, while the registration was being saved.
        assert during_the_save == [True, True]
        assert len(outcome) == 1
        assert isinstance(outcome[0], RuleViolation)  # the school was not registered yet
        agencies = this.get_partnership(PARTNERSHIP).state()["agencies"]
        assert ("school" in agencies) is registration_saved
