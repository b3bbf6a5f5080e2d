"""The encoded JSON answers of case chronologies, kept per process and checked on every read.

A 1,000-event chronology costs about a millisecond and a half of CPU to read, decode and
encode again, while whether it changed costs one indexed lookup
(:meth:`projections.chronology.ChronologyView.standing`: the highest sequence among its
rows recorded by the bound asked). So the JSON route keeps each answer's bytes with the
version it was made at, and serves them again only while the views still report that
version: a write the views have applied, an explanation that marks an entry, or an event
recorded by an ``as_of`` that the views applied late, each adds a row with a higher
sequence and so a new version, and the next read reads the views again.

Nothing here decides who may read: every read still checks the token, the caller's
party to the case now (from the same statement as the version) and records itself in the
access log before its bytes are sent. The version comes from the shared views database, so
several service processes behind one balancer each keep their own copies and none serves
one the views have moved past. The entries are held by total size (least recently used
first out); an answer larger than a quarter of the budget is not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

__all__ = ["DEFAULT_BUDGET", "EncodedChronologies"]

#: Bytes of encoded answers one process keeps (a 1,000-event chronology is ~340 KB, so a
#: dozen such cases): the cases being read again are few at a time, and a larger budget
#: only showed as the service's memory growing (16 MiB put ``api_rss_growth`` at 1.115).
DEFAULT_BUDGET: Final = 4 << 20

#: Which answer: the partnership, the case and the ``as_of`` asked (ISO, or None: now).
Key = tuple[str, str, str | None]


class EncodedChronologies:
    """Encoded chronology answers by (partnership, case, as_of), each with its version."""

    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self._budget = budget
        self._size = 0
        self._entries: OrderedDict[Key, tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key, version: int) -> bytes | None:
        """The answer kept for ``key`` if it was made at ``version``, else None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] != version:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def holds(self, key: Key) -> bool:
        """Whether an answer for ``key`` is kept, at any version: its case was found then
        (a read recorded beside the rest of its read relies on it: a case is never removed)."""
        return key in self._entries

    def put(self, key: Key, version: int, body: bytes) -> None:
        """Keep ``body``, the answer for ``key`` at ``version`` (replacing any other)."""
        if len(body) > self._budget // 4:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old[1])
            self._entries[key] = (version, body)
            self._size += len(body)
            while self._size > self._budget:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._size -= len(dropped)

    def __len__(self) -> int:
        return len(self._entries)
