"""The kept chronology answers (interfaces/http/_chronology_cache.py): served only at the
version they were made at, and held within their budget, least recently used out first."""

from __future__ import annotations

from interfaces.http._chronology_cache import EncodedChronologies


class TestEncodedChronologies:
    def test_an_answer_is_given_back_only_at_the_version_it_was_made_at(self) -> None:
        kept = EncodedChronologies()
        kept.put(("p", "c", None), 7, b"seven")
        assert kept.get(("p", "c", None), 7) == b"seven"
        assert kept.get(("p", "c", None), 8) is None
        assert kept.get(("p", "c", "2026-01-01T00:00:00+00:00"), 7) is None
        kept.put(("p", "c", None), 8, b"eight")
        assert kept.get(("p", "c", None), 7) is None
        assert (kept.get(("p", "c", None), 8), len(kept)) == (b"eight", 1)

    def test_the_least_recently_used_go_first_when_the_budget_is_spent(self) -> None:
        kept = EncodedChronologies(budget=40)
        for case in ("a", "b", "c"):
            kept.put(("p", case, None), 1, b"x" * 10)
        assert kept.get(("p", "a", None), 1) is not None  # a is now the most recent
        kept.put(("p", "d", None), 1, b"x" * 10)
        kept.put(("p", "e", None), 1, b"x" * 10)
        assert [c for c in "abcde" if kept.get(("p", c, None), 1)] == ["a", "c", "d", "e"]

    def test_an_answer_over_a_quarter_of_the_budget_is_not_kept(self) -> None:
        kept = EncodedChronologies(budget=40)
        kept.put(("p", "big", None), 1, b"x" * 11)
        assert kept.get(("p", "big", None), 1) is None
        assert len(kept) == 0
