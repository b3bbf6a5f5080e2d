"""Files that hold keys, secrets or personal data: written whole, readable by the owner only.

The one implementation of the rule (docs/proofs.md; the witness's state, bundles, and the
service's keys and tokens in :mod:`runtime`): a 0700 directory, a 0600 file written to a
synced temporary file and renamed over the old one, so a reader sees the old content or the
new, never a part, and nobody else ever sees either. In the ledger layer so that the pure
proofs (:mod:`ledger.proofs`) and the runtime above them share it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["private_dir", "write_private"]


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) with mode 0700 if missing; return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically with mode 0600 (a synced temporary file renamed over it)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
