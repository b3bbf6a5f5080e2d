"""``open_service``: one Settings in, the ledger, its views and delivery out, on one store."""

from __future__ import annotations

from pathlib import Path

from consumers import delivery_stream
from runtime.bootstrap import delivery_step
from runtime.demo import PARTNERSHIP, run_scenario
from runtime.service import open_service
from runtime.settings import Settings


class TestOpenService:
    def test_the_ledger_views_and_delivery_work_together_from_one_settings(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, stream="LEDGER_SVC", subject_prefix="svc")
        with open_service(
            settings, configure_logs=False, admin_steps=[delivery_step(settings)]
        ) as service:
            assert service.running.credentials is not None  # LEDGER_AUTH is on by default
            receipts = run_scenario(service.ledger)
            last = max(r.sequence for r in receipts)
            views = service.views.runner(service.ledger).catch_up()
            delivered = service.delivery().catch_up()
            assert views.position == delivered.position == last
            assert delivered.events > 0
            assert service.views is service.views  # built once
            opened = next(r for r in receipts if r.event_type == "CaseOpened")
            case = opened.aggregate_id.split(".")[-1]
            entries = service.views.chronology.chronology(PARTNERSHIP, case).entries
            assert entries
            assert service.store is service.views.store
            info = service.running.ledger.recorder.pool.run(  # type: ignore[attr-defined]
                lambda nc: nc.jetstream().stream_info(delivery_stream(settings.stream))
            )
            assert info.state.messages > 0
        assert settings.views_file.exists()  # the views live in the data dir's SQLite file

    def test_a_second_service_on_the_same_settings_finds_what_the_first_left(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, stream="LEDGER_SVC2", subject_prefix="svc2")
        with open_service(settings, configure_logs=False) as service:
            run_scenario(service.ledger)
            first = service.views.runner(service.ledger).catch_up()
        with open_service(settings, configure_logs=False, role="projector") as service:
            again = service.views.runner(service.ledger).catch_up()
        assert first.events > 0
        assert again.events == 0
        assert again.position == first.position
