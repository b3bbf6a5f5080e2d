"""runtime.allocator against the real glibc malloc: fixed thresholds stay fixed.

Each case runs in a fresh interpreter, whose allocator has not moved its thresholds yet
(and so that this process's own is left as it was)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the thresholds are glibc malloc's",
)

#: Maps and frees a 1 MiB block, then allocates 512 KiB and says whether glibc mapped it
#: on its own (mallinfo2's count of mapped blocks went up) or took it from an arena.
_PROBE = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys
    from runtime.allocator import fix_thresholds
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)

    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc.mallinfo2.restype = Info
    if sys.argv[1] == "fixed":
        assert fix_thresholds()
    libc.free(libc.malloc(1 << 20))
    before = libc.mallinfo2().hblks
    block = libc.malloc(512 << 10)
    print("mapped" if libc.mallinfo2().hblks == before + 1 else "arena")
    libc.free(block)
    """
)


def _probe(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]  # after any log line


class TestFixedThresholds:
    def test_by_default_glibc_raises_its_threshold_after_a_large_block_is_freed(self) -> None:
        # What the service's arenas met: the next large block is kept in an arena.
        assert _probe("default") == "arena"

    def test_with_fixed_thresholds_a_large_block_is_still_mapped_on_its_own(self) -> None:
        assert _probe("fixed") == "mapped"
