"""The ``ledger`` console script: the command line, and Ctrl-C told in one line.

The entry point imports :mod:`interfaces.cli` itself, so that a Ctrl-C while the
command is still loading (a second or so) is caught too. However it comes (while
loading, while working, or while the work is being closed), an interrupt prints
``interrupted`` on stderr and exits 130 once the ``with`` blocks below have closed
what they opened (the ledger, the embedded server): without the tracebacks of every
frame it passed through, nor the event loop's complaints about tasks it left behind
at interpreter shutdown.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn

__all__ = ["main"]

#: The shell's exit code for a process ended by SIGINT (128 + 2).
INTERRUPTED = 130


def _interrupted() -> NoReturn:
    sys.stderr.write("interrupted\n")
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # stdout may be a closed pipe
            stream.flush()
    os._exit(INTERRUPTED)  # everything opened was closed on the way here


def main() -> None:
    """Run ``ledger``; see :mod:`interfaces.cli` for the commands and exit codes."""
    try:
        from interfaces.cli import main as run

        run()
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as exit_:
        if exit_.code == INTERRUPTED:  # typer turned the interrupt into Exit(130)
            _interrupted()
        raise
