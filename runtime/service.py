"""The service in one object: the ledger, its views and delivery, wired from one Settings.

``open_service(settings)`` opens the view store, then the ledger (:func:`open_ledger`),
checks the access log's and the Merkle log's streams (:mod:`runtime.access_log`,
:mod:`runtime.log_stream`: creating them when nobody logs in, else the admin made them),
and yields a :class:`Service` for the CLI, the HTTP app and the tests. Leaving the ``with``
block closes the ledger (and stops an embedded server), then the view store.
The layers below receive plain values (a DSN, a file, a stream's name), never the settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from consumers.feed import AgencyFeed
from consumers.manager import DeliveryPolicy, delivery_runner
from ledger.application import Ledger
from projections import ViewStore
from projections.catalogue import Views, open_store
from projections.runner import ViewRunner
from runtime.access_log import AccessLog
from runtime.bootstrap import AdminStep, Running, open_ledger
from runtime.checkpointer import Checkpointer
from runtime.log import MerkleLog, tree_path
from runtime.log_key import log_key
from runtime.log_stream import LogStream
from runtime.settings import Settings

if TYPE_CHECKING:
    from ledger.proofs.bundle import Bundle

__all__ = ["Service", "open_service", "open_view_store", "open_views"]


def open_view_store(settings: Settings) -> ViewStore:
    """``settings``' view store: PostgreSQL at ``views_dsn``, else SQLite at ``views_file``."""
    return open_store(dsn=settings.views_dsn, sqlite_file=settings.views_file)


def open_views(settings: Settings) -> Views:
    """Every view on ``settings``' store, with the packaged rules and the partnership's own."""
    return Views(open_view_store(settings), rules_file=settings.rules_file)


class Service:
    """A running ledger, the views on the settings' store, delivery to the agencies, the
    access log and the Merkle log."""

    def __init__(self, running: Running, store: ViewStore, settings: Settings) -> None:
        self.running = running
        self.store = store
        self.settings = settings

    @property
    def ledger(self) -> Ledger:
        """The application: commands in, receipts out."""
        return self.running.ledger

    @cached_property
    def views(self) -> Views:
        """The query API and the views' runners (the rules are read on first use)."""
        return Views(self.store, rules_file=self.settings.rules_file)

    @cached_property
    def access_log(self) -> AccessLog:
        """Who read which case's chronology, when, as of when: on its own stream."""
        return AccessLog.of(
            self.ledger, stream=self.settings.stream, subject_prefix=self.settings.subject_prefix
        )

    @cached_property
    def agency_feed(self) -> AgencyFeed:
        """Each agency's events straight from the ledger (the HTTP API's Server-Sent
        Events), filtered by the delivery view's memberships."""
        return AgencyFeed(self.ledger, self.store, subject_prefix=self.settings.subject_prefix)

    @cached_property
    def merkle_log(self) -> MerkleLog:
        """The Merkle log's checkpoints, cosignatures and proofs (docs/proofs.md)."""
        return MerkleLog.of(
            self.ledger,
            stream=self.settings.stream,
            subject_prefix=self.settings.subject_prefix,
            tree_file=tree_path(self.settings.data_dir, self.settings.stream),
            origin=self.settings.origin,
            log_key=log_key(self.settings.data_dir).public_key(),
            timeout=self.settings.timeout_s,
        )

    def bundle(self, partnership: str, case: str, as_of: datetime | None = None) -> Bundle:
        """The inspector's bundle of ``case`` (:func:`runtime.bundle_export.export_bundle`):
        ``ledger export`` writes it, ``GET .../cases/{case}/bundle`` answers it."""
        from ledger.nats import NatsAggregateRecorder
        from runtime.bundle_export import export_bundle

        recorder = self.ledger.recorder
        assert isinstance(recorder, NatsAggregateRecorder)  # merkle_log checked it
        return export_bundle(
            recorder.pool,
            self.merkle_log,
            stream=self.settings.stream,
            subject_prefix=self.settings.subject_prefix,
            partnership=partnership,
            case=case,
            as_of=as_of,
            timeout=self.settings.timeout_s,
        )

    def checkpointer(self) -> Checkpointer:
        """The data dir's checkpointer (one per data dir: it locks the tree file)."""
        from ledger.nats import NatsApplicationRecorder
        from ledger.proofs.tree import FileTree

        recorder = self.ledger.recorder
        assert isinstance(recorder, NatsApplicationRecorder)  # merkle_log checked it
        settings = self.settings
        return Checkpointer(
            recorder,
            FileTree(tree_path(settings.data_dir, settings.stream)),
            LogStream.of(
                self.ledger,
                stream=settings.stream,
                subject_prefix=settings.subject_prefix,
                timeout=settings.timeout_s,
            ),
            origin=settings.origin,
            key=log_key(settings.data_dir),
            every=settings.checkpoint_every,
            seconds=settings.checkpoint_seconds,
        )

    def delivery(self, policy: DeliveryPolicy | None = None) -> ViewRunner:
        """A runner delivering case events to the agencies (creates the delivery stream if
        missing, which only the admin may do when authentication is on)."""
        return delivery_runner(
            self.ledger,
            self.store,
            policy,
            stream=self.settings.stream,
            subject_prefix=self.settings.subject_prefix,
            replicas=self.settings.replicas,
        )


@contextmanager
def open_service(
    settings: Settings,
    *,
    configure_logs: bool = True,
    role: Literal["service", "projector"] = "service",
    admin_steps: Sequence[AdminStep] = (),
) -> Iterator[Service]:
    """Open the view store and the ledger (see :func:`open_ledger` for the keywords)."""
    store = open_view_store(settings)
    try:
        with open_ledger(
            settings, configure_logs=configure_logs, role=role, admin_steps=admin_steps
        ) as running:
            service = Service(running, store, settings)
            if role == "service":  # the projection workers never touch the access log
                service.access_log.check(
                    create=running.credentials is None, replicas=settings.replicas
                )
                service.merkle_log.stream.check(
                    create=running.credentials is None, replicas=settings.replicas
                )
            yield service
    finally:
        store.close()
