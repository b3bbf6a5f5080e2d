"""Names that become NATS subjects, checked outside the schemas, end at the true end too.

Python's ``$`` matches before a final newline, so ``re.match(r"^x$", "x\\n")`` succeeds;
a newline in a subject resets the client's connection to the server.
"""

from __future__ import annotations

import pytest

from ledger._aggregate import split_aggregate_id
from ledger.errors import InvalidCommand
from ledger.nats._subjects import SubjectMap
from projections._checks import check_id
from projections.errors import InvalidViewQuery


class TestAggregateIds:
    @pytest.mark.parametrize("value", ["p.case.c9\n", "p\n.case.c9", "p.case.c9\r"])
    def test_an_aggregate_id_with_a_line_break_is_not_one(self, value: str) -> None:
        with pytest.raises(ValueError, match="with safe tokens"):
            split_aggregate_id(value)

    def test_a_safe_aggregate_id_is_split_into_its_tokens(self) -> None:
        assert split_aggregate_id("p.case.c9") == ("p", "case", "c9")


class TestSubjects:
    def test_a_subject_prefix_with_a_trailing_newline_is_refused(self) -> None:
        with pytest.raises(InvalidCommand) as caught:
            SubjectMap("ledger\n")
        assert caught.value.field == "NATS_SUBJECT_PREFIX"

    def test_an_originator_id_with_a_trailing_newline_names_no_subject(self) -> None:
        with pytest.raises(InvalidCommand) as caught:
            SubjectMap("ledger").subject("p.case.c9\n")
        assert caught.value.field == "originator_id"

    def test_a_tracking_name_with_a_trailing_newline_is_hex_encoded(self) -> None:
        subject = SubjectMap("ledger").tracking("views\n")
        assert "\n" not in subject
        assert subject == "ledger._tracking.x" + b"views\n".hex()


class TestViewQueryIds:
    @pytest.mark.parametrize("value", ["c9\n", "\ud800", "Jane Smith", None])
    def test_a_query_id_that_is_not_an_identifier_is_refused_without_quoting_it(
        self, value: object
    ) -> None:
        with pytest.raises(InvalidViewQuery) as caught:
            check_id("case", value)
        assert caught.value.field == "case"
        assert "Jane" not in str(caught.value)
