"""The C allocator's thresholds for a long-running service process (glibc only).

``ledger serve`` answers reads on many worker threads (the read executor, the command
threads, the NATS drivers), and glibc's malloc gives threads arenas of their own (up to
eight per core). Each arena keeps the free memory at its top until that exceeds the trim
threshold, and by default both thresholds move: once a block larger than the mmap
threshold (128 KiB) has been mapped and freed, glibc raises the mmap threshold to that
block's size and the trim threshold to twice it (up to 32 MiB). A service whose answers
grow as its cases do (a 1,000-event chronology is ~340 KB of JSON, and its encoder's
buffer more) so ends with every arena holding a few MiB of free memory that is never
given back, and more as the answers grow: measured on ``ledger serve`` under the api
bench's mix (``malloc_info``), the arenas' free memory went from 6.3 MB to 15.1 MB over
40,000 requests while the memory in use grew 4.2 MB (the kept chronology answers, the
data), and ``malloc_trim`` could not release it (it does not trim another arena's top).

:func:`fix_thresholds` sets both thresholds to glibc's own starting values, fixed: a
block above 128 KiB is mapped and unmapped on its own (a few a second at most: the
encoded answers of long chronologies, and those are kept), and an arena gives back free
memory at its top beyond 128 KiB. Nothing else changes (the arenas, their number, what
is allocated). Elsewhere than glibc (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Final

import structlog

__all__ = ["THRESHOLD", "fix_thresholds"]

log = structlog.get_logger()

#: glibc's starting mmap and trim thresholds (``DEFAULT_MMAP_THRESHOLD_MIN`` and
#: ``DEFAULT_TRIM_THRESHOLD``), kept fixed.
THRESHOLD: Final = 128 * 1024
#: ``mallopt`` parameters, from glibc's ``malloc.h``.
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3


def fix_thresholds(threshold: int = THRESHOLD) -> bool:
    """Fix glibc malloc's mmap and trim thresholds at ``threshold`` bytes for this process
    (setting either one turns off glibc's moving of both); False where there is no glibc
    ``mallopt`` or it refused one of the two (the first may have been set then)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return False
    # glibc only: musl has a mallopt that ignores these parameters.
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, threshold)
    )
    log.debug("allocator_thresholds_fixed", threshold=threshold, done=done)
    return done
