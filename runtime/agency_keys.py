"""Agencies' private key files: an agency's own (``ledger keys generate --out FILE``) and
the ones the service holds on an agency's behalf (``custody: service``, delegation).

Each is an Ed25519 key in PEM (PKCS#8), written whole and readable by its owner only
(0600) inside directories only its owner may enter (0700). The service's are under
``<data dir>/keys/agencies/<agency>/<key_id>.key`` (:attr:`Settings.agency_keys_dir
<runtime.settings.Settings.agency_keys_dir>`), where the ledger signs with them.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.private_files import write_private
from ledger.signing import generate_key, private_key_pem
from schemas.wire import is_identifier

__all__ = ["service_key_path", "write_key_file", "write_service_key"]


def write_key_file(path: Path, key: Ed25519PrivateKey | None = None) -> Ed25519PrivateKey:
    """Write ``key`` (a new one by default) to ``path``, 0600, its new directories 0700.

    Refuses (``FileExistsError``) to replace an existing file: a key lost is a key
    that can sign no more.
    """
    if path.exists():
        msg = f"{path}: a key file is already there (rule: a key file is never overwritten)"
        raise FileExistsError(msg)
    key = key or generate_key()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, private_key_pem(key))
    return key


def service_key_path(keys_dir: Path, agency: str, key_id: str) -> Path:
    """``<keys_dir>/<agency>/<key_id>.key``; ``ValueError`` unless both are identifiers."""
    for field, value in (("agency", agency), ("key_id", key_id)):
        if not is_identifier(value):
            msg = f"{field} is not an identifier (lower-case letters, digits, '-', '_')"
            raise ValueError(msg)
    return keys_dir / agency / f"{key_id}.key"


def write_service_key(keys_dir: Path, agency: str, key_id: str) -> Ed25519PrivateKey:
    """A new key held by the service for ``agency`` as ``key_id`` (see module docstring)."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for made in (keys_dir.parent, keys_dir):  # parents=True makes them with the umask
        made.chmod(0o700)
    return write_key_file(service_key_path(keys_dir, agency, key_id))
