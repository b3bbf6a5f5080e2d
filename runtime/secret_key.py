"""The web pages' secret key: made once per data dir, kept readable by its owner only.

``ledger serve`` signs the pages' CSRF tokens with it (:mod:`interfaces.http._session`),
so a token a form carries stays valid across a restart of the service. Losing the file
costs nothing but the forms open at that moment: the next start makes a new key.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Final

from ledger.private_files import write_private

__all__ = ["SECRET_KEY_FILE", "secret_key"]

SECRET_KEY_FILE: Final = "pages.key"  # noqa: S105  # the file's name, not the key
#: 256 random bits, as 64 hex digits.
_BYTES: Final = 32


def secret_key(data_dir: Path) -> str:
    """The key in ``<data_dir>/pages.key`` (mode 0600), made first if there is none."""
    path = Path(data_dir) / SECRET_KEY_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = ""
    if len(key) != 2 * _BYTES:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_hex(_BYTES)
        write_private(path, key.encode("ascii"))
    return key
