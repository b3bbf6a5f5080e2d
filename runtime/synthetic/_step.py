"""One planned command (a :class:`_Step`), and who records it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from runtime.synthetic._clock import START
from schemas import RecordedBy, Source, SourceKind

_SOURCES: Final = {kind.value: Source(kind=kind) for kind in SourceKind}


@dataclass(slots=True, eq=False)
class _Step:
    """One command of a plan: what, when it occurred, and what must be recorded before it."""

    index: int
    aggregate: str
    command: str
    occurred_at: datetime
    kwargs: dict[str, Any]
    deps: tuple[int, ...]
    may_be_late: bool
    final: bool
    recorded_at: datetime = START
    explains: int = -1


def _actor(agency: str, n: int) -> RecordedBy:
    digest = hashlib.blake2s(f"{agency}/{n}".encode(), digest_size=6).hexdigest()
    return RecordedBy(agency=agency, actor=f"act_{digest}")
