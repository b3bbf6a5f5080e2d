"""The ledger's commands: one mixin per aggregate, combined in ``ledger.application.Ledger``."""

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
