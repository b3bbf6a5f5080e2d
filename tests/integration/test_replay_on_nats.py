"""Any sequence of valid commands, replayed from the NATS stream into fresh aggregates,
gives the state the live aggregates had."""

from __future__ import annotations

import secrets
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_scenario import FixedClock, written
from replay_scenario import OPERATIONS, live_states, play

from ledger.application import Ledger
from runtime.settings import Settings


class TestReplayFromTheStream:
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(operations=st.lists(OPERATIONS, min_size=10, max_size=40))
    def test_replaying_the_stream_into_a_fresh_ledger_gives_the_live_state(
        self, nats_url: str, operations: list[tuple[str, dict[str, Any]]]
    ) -> None:
        token = secrets.token_hex(6)  # a stream of this example's own
        env = Settings(stream=f"REPLAY_{token}", subject_prefix=f"rp{token}").persistence_env(
            nats_url
        )
        clock = FixedClock()
        live = Ledger(env=env, clock=clock)
        fresh: Ledger | None = None
        try:
            receipts = play(live, clock, operations)
            sequences = [r.sequence for r in receipts]
            assert sequences == sorted(set(sequences))
            assert written(live) == 4 + len(receipts)
            fresh = Ledger(env=env, clock=clock)  # another process: nothing cached
            assert live_states(fresh) == live_states(live)
        finally:
            live.close()
            if fresh is not None:
                fresh.close()
