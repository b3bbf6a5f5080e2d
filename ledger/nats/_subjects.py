"""Originator ids to NATS subjects and back.

``<prefix>.<partnership>.<kind>.<id>`` for the ledger's own string ids
(``northshire.case.c-1042``); ``<prefix>._.uuid.<hex>`` for UUID ids, which the
library's conformance tests use. Tracking positions live on the three-token
``<prefix>._tracking.<app>``, which never matches ``<prefix>.*.*.*``.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

from ledger.errors import InvalidCommand
from schemas import wire

__all__ = ["SubjectMap"]


class SubjectMap:
    """Maps originator ids to subjects under one prefix."""

    def __init__(self, prefix: str, *, space: str = "") -> None:
        """``space`` is appended to the first token: ``SubjectMap("ledger", space="_snapshots")``
        maps ids under ``ledger_snapshots.``, a subject space of its own beside the events'."""
        if not wire.is_prefix(prefix):
            msg = f"NATS_SUBJECT_PREFIX {prefix!r} must be 1-32 letters, digits, '-' or '_'"
            raise InvalidCommand(msg, field="NATS_SUBJECT_PREFIX")
        prefix += space
        self.prefix = prefix
        self.all_aggregates = wire.all_aggregates(prefix)
        self._start = len(prefix) + 1
        self.subject = lru_cache(maxsize=65536)(self._subject)

    def _subject(self, originator_id: uuid.UUID | str) -> str:
        if isinstance(originator_id, uuid.UUID):
            return f"{self.prefix}._.uuid.{originator_id.hex}"
        if not wire.AGGREGATE_ID_PATTERN.fullmatch(originator_id):
            msg = (
                f"originator id {originator_id!r} is not '<partnership>.<kind>.<id>' with "
                "safe tokens (lower-case letters, digits, '-', '_'; kind partnership, case, "
                "challenge or review), so it cannot name a subject"
            )
            raise InvalidCommand(msg, field="originator_id")
        return f"{self.prefix}.{originator_id}"

    def originator(self, subject: str) -> uuid.UUID | str:
        rest = subject[self._start :]
        if rest.startswith("_.uuid."):
            return uuid.UUID(hex=rest[7:])
        return rest

    def tracking(self, application_name: str) -> str:
        return wire.tracking_subject(self.prefix, application_name)
