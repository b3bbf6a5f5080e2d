"""The ledger's projector refuses a history that skips a version, wherever it comes from."""

from __future__ import annotations

import pytest

from ledger._history import project_without_gaps
from ledger.application import Ledger
from ledger.errors import HistoryGap

LA = {"agency": "la", "actor": "act_sw-000001"}


@pytest.fixture
def events() -> list[object]:
    ledger = Ledger()
    ledger.establish_partnership(
        partnership="p1",
        recorded_by=LA,
        name="P1",
        nation="england",
        escalation_stages=[{"stage": 1, "title": "Practitioners", "response_working_days": 5}],
    )
    for agency in ("la", "police"):
        ledger.register_agency(
            partnership="p1",
            recorded_by=LA,
            agency=agency,
            name="an agency",
            kind="police",
            role="statutory_partner",
        )
    return list(ledger.events.get("p1.partnership.p1"))


class TestTheProjector:
    def test_an_intact_history_projects_as_the_library_would(self, events: list[object]) -> None:
        assert project_without_gaps(None, events).version == 3

    @pytest.mark.parametrize(("dropped", "missing"), [(0, 1), (1, 2)])
    def test_a_history_missing_a_version_names_it(
        self, events: list[object], dropped: int, missing: int
    ) -> None:
        del events[dropped]
        with pytest.raises(HistoryGap) as caught:
            project_without_gaps(None, events)
        assert caught.value.missing_version == missing
        assert caught.value.subject == "p1.partnership.p1"
