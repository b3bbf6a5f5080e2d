"""The keyword commands: one mixin per aggregate, combined in ``ledger.application.Ledger``.

Each keyword method only builds its command struct (:mod:`schemas.commands`) and hands
it to ``Ledger.execute``, which routes it by its type (:mod:`ledger._commands._routes`).
"""

from __future__ import annotations

from ledger._commands._base import (
    DEFAULT_SOURCE,
    Opt,
    Receipt,
    RecordedByInput,
    SourceInput,
    build_fact,
    check_identifier,
)
from ledger._commands.case import CaseCommands
from ledger._commands.challenge import ChallengeCommands
from ledger._commands.partnership import PartnershipCommands
from ledger._commands.review import ReviewCommands

__all__ = [
    "DEFAULT_SOURCE",
    "CaseCommands",
    "ChallengeCommands",
    "Opt",
    "PartnershipCommands",
    "Receipt",
    "RecordedByInput",
    "ReviewCommands",
    "SourceInput",
    "build_fact",
    "check_identifier",
]
