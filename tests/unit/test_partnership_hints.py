"""How the ledger trusts a cached partnership once other processes may write to it: the
watch's hints (ledger/nats/_watch.py) drop it, a hint that comes while it is being read
drops what that read cached, and for a while after a hint it is always read again (the
hint can come before the stream has stored its message)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ledger_scenario import LA, PARTNERSHIP, STAGES

from ledger import application
from ledger.application import Ledger, _Loads

TARGET = f"{PARTNERSHIP}.partnership.{PARTNERSHIP}"


class FakeWatch:
    live = True


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    app = Ledger()
    app.establish_partnership(
        partnership=PARTNERSHIP,
        recorded_by=LA,
        name="Northshire",
        nation="england",
        escalation_stages=STAGES,
    )
    app._watch = FakeWatch()  # as a ledger on NATS has, live
    yield app
    app.close()


def cached(ledger: Ledger) -> bool:
    cache = ledger.repository.cache
    assert cache is not None
    return TARGET in cache.cache


def test_a_hint_during_the_read_drops_what_the_read_cached(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger._evict(TARGET)
    monkeypatch.setattr(application, "_HINT_WINDOW_S", 0.0)  # only the race, not the window
    repository = ledger.repository
    real_get = repository.get
    hinted = []

    def get_then_hint(*args: Any, **kwargs: Any) -> Any:
        found = real_get(*args, **kwargs)  # read (and cached) before the hint arrives
        if not hinted:
            hinted.append(True)
            ledger._partnership_changed(TARGET)
        return found

    monkeypatch.setattr(repository, "get", get_then_hint)
    ledger._partnership(_Loads(), PARTNERSHIP)
    # the first read was dropped and the partnership read again after the hint
    assert hinted
    assert cached(ledger)
    calls = []
    monkeypatch.setattr(repository, "get", lambda *a, **k: calls.append(1) or real_get(*a, **k))
    ledger._partnership(_Loads(), PARTNERSHIP)
    assert calls == []  # the copy read after the hint is trusted


def test_a_partnership_read_while_hints_keep_coming_is_not_kept(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger._evict(TARGET)
    monkeypatch.setattr(application, "_HINT_WINDOW_S", 0.0)
    repository = ledger.repository
    real_get = repository.get

    def get_then_hint(*args: Any, **kwargs: Any) -> Any:
        found = real_get(*args, **kwargs)
        ledger._partnership_changed(TARGET)
        return found

    monkeypatch.setattr(repository, "get", get_then_hint)
    assert ledger._partnership(_Loads(), PARTNERSHIP).ident == PARTNERSHIP
    assert not cached(ledger)


def test_within_the_window_after_a_hint_every_command_reads_it_again(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger._partnership(_Loads(), PARTNERSHIP)
    assert cached(ledger)
    ledger._partnership_changed(TARGET)
    repository = ledger.repository
    real_get = repository.get
    reads = []
    monkeypatch.setattr(repository, "get", lambda *a, **k: reads.append(1) or real_get(*a, **k))
    for _ in range(3):
        ledger._partnership(_Loads(), PARTNERSHIP)
    assert len(reads) == 3  # each read from the store: the write may not have been stored
    monkeypatch.setattr(application, "_HINT_WINDOW_S", 0.0)  # the window has passed
    ledger._partnership(_Loads(), PARTNERSHIP)
    assert len(reads) == 3


def test_while_the_watch_is_down_nothing_cached_is_trusted(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger._partnership(_Loads(), PARTNERSHIP)
    watch = FakeWatch()
    watch.live = False
    ledger._watch = watch
    repository = ledger.repository
    real_get = repository.get
    reads = []
    monkeypatch.setattr(repository, "get", lambda *a, **k: reads.append(1) or real_get(*a, **k))
    ledger.get_partnership(PARTNERSHIP)
    ledger._partnership(_Loads(), PARTNERSHIP)
    assert len(reads) == 2
