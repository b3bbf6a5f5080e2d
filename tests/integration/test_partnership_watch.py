"""The partnership watch's own connection (ledger/nats/_watch.py): a first connection that
fails is tried again in the background until it subscribes, and stopping ends the tries."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from ledger.nats import _watch
from ledger.nats._watch import PartnershipWatch


def _eventually(check: Any, within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


class FlakyConnect:
    """Refuses the first ``failures`` connections as an unreachable server would."""

    def __init__(self, url: str, failures: int) -> None:
        self.url = url
        self.failures = failures
        self.calls = 0

    async def __call__(self, **callbacks: Any) -> Client:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError("server not up yet")
        return await nats.connect(self.url, **callbacks)


def test_a_failed_first_connection_is_tried_again_until_the_watch_is_live(
    nats_url: str, subject_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_watch, "_RETRY_FIRST_S", 0.05)
    connect = FlakyConnect(nats_url, failures=3)
    changes: list[str | None] = []
    watch = PartnershipWatch(
        connect, f"{subject_prefix}.*.partnership.*", changes.append, cut=len(subject_prefix) + 1
    )
    try:
        watch.start()
        assert not watch.live  # the first try failed: nothing cached is trusted
        assert _eventually(lambda: watch.live)
        assert connect.calls == 4
        assert changes == [None]  # on subscribing, every cached partnership is dropped

        async def hint() -> None:  # another process's write to partnership p1
            nc = await nats.connect(nats_url)
            try:
                await nc.publish(f"{subject_prefix}.p1.partnership.p1", b"{}")
                await nc.flush()
            finally:
                await nc.close()

        asyncio.run(hint())
        assert _eventually(lambda: changes == [None, "p1.partnership.p1"])
    finally:
        watch.stop()


def test_stopping_ends_the_tries(nats_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_watch, "_RETRY_FIRST_S", 0.05)
    connect = FlakyConnect(nats_url, failures=10**6)
    watch = PartnershipWatch(connect, "x.*.partnership.*", lambda _: None, cut=2)
    watch.start()
    assert _eventually(lambda: connect.calls >= 2)
    watch.stop()
    calls = connect.calls
    time.sleep(0.3)
    assert connect.calls == calls
    assert not watch._thread.is_alive()
    assert not watch.live
