"""Ed25519 for the whole ledger: one verification rule, libsodium's, wherever a signature is
checked (docs/proofs.md, "Ed25519").

Every verification in the project comes here: an agency's ``Ledger-Signature`` at write time
(:mod:`ledger._signing`) and in both verifiers (:mod:`ledger.proofs._checks`,
:mod:`ledger.proofs._signatures`), the log's note signatures and the witnesses'
cosignatures (:mod:`ledger.proofs.note`). So what the writer accepts, ``ledger verify``,
the offline verifier and a witness accept, and the reverse: libsodium's rule is stricter
than OpenSSL's (it refuses small-order public keys and ``R`` points, which OpenSSL accepts),
and two libraries at two ends would let the ledger store a signature its own verifier
then refuses.

:func:`verify` is libsodium's ``crypto_sign_open`` through PyNaCl, which releases the GIL
while it computes (about 60-70 us on these machines, against 120-130 us for ``cryptography``'s,
which barely runs in parallel in threads). :func:`public_key_problem` is the rule a
registered public key obeys, stricter than what a verification demands of a key, so a key
accepted at registration is never refused by a verification for what it is.

Keys are still read and written (PEM files, raw bytes) with ``cryptography``; signatures are
deterministic (RFC 8032), so :func:`sign` gives the same bytes as ``cryptography``'s.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import (
    crypto_core_ed25519_is_valid_point,
    crypto_sign,
    crypto_sign_open,
    crypto_sign_seed_keypair,
)
from nacl.exceptions import BadSignatureError

__all__ = [
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "public_key_problem",
    "sign",
    "verify",
]

PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
#: The field prime 2^255 - 19.
_P: Final = 2**255 - 19
#: The encodings of the points of small order (the curve's 8-torsion), the top (sign) bit
#: cleared, as y coordinates; ``y + p`` for the three below 19 are non-canonical spellings.
_SMALL_ORDER_Y: Final = frozenset(
    {
        0,
        1,
        2707385501144840649318225287225658788936804267575313519463743609750303402022,
        55188659117513257062467267217118295137698188065244968500265048394206261417927,
        _P - 1,
        _P,
        _P + 1,
    }
)
#: A private key's libsodium secret key (seed || public key), by its seed: the few keys a
#: process signs with (the log's, the service's custody keys, a witness's).
_SECRET: dict[bytes, bytes] = {}
_SECRETS_KEPT: Final = 64


def verify(public_key: bytes | Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s (raw, or a key object) over ``message`` under
    libsodium's rule (docs/proofs.md, "Ed25519"): a 32-byte key and a 64-byte signature,
    ``S`` below the group order, neither the key nor ``R`` of small order, the key canonical,
    and ``[S]B == R + [SHA-512(R || A || M)]A`` compared as encodings."""
    raw = public_key if isinstance(public_key, bytes) else public_key.public_bytes_raw()
    if len(raw) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        crypto_sign_open(signature + message, raw)
    except BadSignatureError:
        return False
    return True


def public_key_problem(public_key: bytes) -> str | None:
    """What is wrong with ``public_key`` as a key to register, or None: it must be the
    canonical encoding of a point of the prime-order subgroup other than the identity
    (libsodium's ``crypto_core_ed25519_is_valid_point``). Every key made by Ed25519's key
    generation is; a verification also refuses a key of small order or a non-canonical one."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        return f"holds {len(public_key)} bytes where an Ed25519 public key has {PUBLIC_KEY_SIZE}"
    y = int.from_bytes(public_key, "little") & (2**255 - 1)
    if y in _SMALL_ORDER_Y:
        return "is a point of small order (its order divides 8), which signs nothing"
    if y >= _P:
        return "is not a canonical encoding: its y coordinate is not below 2^255 - 19"
    if not crypto_core_ed25519_is_valid_point(public_key):
        return "is not a point of the curve's prime-order subgroup"
    return None


def sign(private_key: Ed25519PrivateKey, message: bytes) -> bytes:
    """``private_key``'s signature over ``message``: the same bytes as
    ``private_key.sign(message)`` (Ed25519 is deterministic), by libsodium."""
    seed = private_key.private_bytes_raw()
    secret = _SECRET.get(seed)
    if secret is None:
        if len(_SECRET) >= _SECRETS_KEPT:
            _SECRET.clear()
        secret = _SECRET[seed] = crypto_sign_seed_keypair(seed)[1]
    return crypto_sign(message, secret)[:SIGNATURE_SIZE]
