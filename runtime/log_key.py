"""The Merkle log's signing key: made once per data dir, kept readable by its owner only.

The checkpointer (:mod:`runtime.checkpointer`) signs every checkpoint with it
(docs/proofs.md, "Checkpoints"); its name is the log's origin (``LEDGER_LOG_ORIGIN``).
It lives in ``<data dir>/keys/log.key`` (mode 0600, in a 0700 directory) as an
unencrypted PKCS #8 PEM Ed25519 private key. Unlike the pages' key, it is never replaced
behind the operator's back: a file that is there but unreadable stops the start, since a
new key would make every witness refuse the log's next checkpoint.

``ledger log key`` prints its verifier key (C2SP ``vkey``) for the agencies' witnesses
and the inspectors.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.private_files import write_private
from ledger.proofs.errors import SignatureInvalid

__all__ = ["KEYS_DIR", "LOG_KEY_FILE", "log_key", "log_key_path"]

log = structlog.get_logger()

KEYS_DIR: Final = "keys"
LOG_KEY_FILE: Final = "log.key"


def log_key_path(data_dir: Path) -> Path:
    """``<data dir>/keys/log.key``."""
    return Path(data_dir) / KEYS_DIR / LOG_KEY_FILE


def log_key(data_dir: Path, *, create: bool = True) -> Ed25519PrivateKey:
    """The log's key in ``<data dir>/keys/log.key``, made first (with ``create``) if there
    is none.

    Raises :class:`~ledger.proofs.errors.SignatureInvalid` when the file is there but is
    not an Ed25519 private key, and :class:`FileNotFoundError` when it is missing and
    ``create`` is off.
    """
    path = log_key_path(data_dir)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not create:
            raise
        return _create(path)
    _warn_if_open(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        msg = f"{path}: is not an unencrypted PEM private key; rule: the log key is Ed25519"
        raise SignatureInvalid(msg) from error
    if not isinstance(key, Ed25519PrivateKey):
        msg = f"{path}: holds a {type(key).__name__}; rule: the log key is Ed25519"
        raise SignatureInvalid(msg)
    return key


def _create(path: Path) -> Ed25519PrivateKey:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # an existing dir made looser is tightened
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written whole beside it, then linked into place: a reader never sees part of a key,
    # and of two processes starting at once, the first link wins and the other reads it.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_private(tmp, pem)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return log_key(path.parent.parent, create=False)
    finally:
        tmp.unlink()
    log.info("log_key_created", path=str(path))
    return key


def _warn_if_open(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "log_key_not_private",
            path=str(path),
            mode=oct(mode),
            rule="the log key signs every checkpoint: chmod 600 it",
        )
