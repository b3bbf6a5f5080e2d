"""The one Ed25519 rule (docs/proofs.md, "Ed25519"): libsodium's, for the writer and every
verifier, and the rule a registered public key obeys."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.proofs import ed25519
from ledger.proofs.entry import SignatureHeader, verify_asserted
from ledger.proofs.errors import SignatureInvalid

#: The order of the prime-order subgroup, and the field prime.
L = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19
SEED = bytes(range(32))
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC = KEY.public_key().public_bytes_raw()
IDENTITY = (1).to_bytes(32, "little")
#: The y coordinates of the eight points of small order (x = 0 twice, and the 8-torsion).
SMALL_ORDER = [
    0,
    1,
    2707385501144840649318225287225658788936804267575313519463743609750303402022,
    55188659117513257062467267217118295137698188065244968500265048394206261417927,
    P - 1,
]


def openssl_accepts(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def scalar(seed: bytes) -> int:
    """The secret scalar of the key with ``seed`` (RFC 8032, clamped)."""
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little")


class TestTheTwoLibrariesAgreeOnHonestSignatures:
    @given(st.binary(max_size=600))
    def test_a_signature_made_by_cryptography_verifies_and_is_the_same_bytes(
        self, message: bytes
    ) -> None:
        made = KEY.sign(message)
        assert ed25519.verify(PUBLIC, made, message)
        assert ed25519.verify(KEY.public_key(), made, message)
        assert ed25519.sign(KEY, message) == made

    def test_a_signature_made_here_verifies_with_cryptography(self) -> None:
        key = Ed25519PrivateKey.generate()
        signature = ed25519.sign(key, b"an assertion")
        key.public_key().verify(signature, b"an assertion")  # raises if not

    def test_a_changed_message_key_or_signature_does_not_verify(self) -> None:
        made = KEY.sign(b"m")
        assert not ed25519.verify(PUBLIC, made, b"n")
        other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        assert not ed25519.verify(other, made, b"m")
        assert not ed25519.verify(PUBLIC, made[:-1] + bytes([made[-1] ^ 1]), b"m")
        assert not ed25519.verify(PUBLIC, made[:63], b"m")
        assert not ed25519.verify(PUBLIC[:31], made, b"m")


class TestWhatLibsodiumRefuses:
    def test_a_signature_with_a_non_canonical_s_is_refused(self) -> None:
        made = KEY.sign(b"m")
        s = int.from_bytes(made[32:], "little")
        malleated = made[:32] + (s + L).to_bytes(32, "little")  # the same S modulo L
        assert not ed25519.verify(PUBLIC, malleated, b"m")
        header = SignatureHeader("police", "k1", malleated)
        with pytest.raises(SignatureInvalid, match="does not verify with key 'k1'"):
            verify_asserted(PUBLIC, header, b"m")

    def test_a_small_order_r_is_refused_where_openssl_accepts_it(self) -> None:
        # R = identity and S = k * a: [S]B == R + [k]A holds, cofactorless.
        k = int.from_bytes(hashlib.sha512(IDENTITY + PUBLIC + b"m").digest(), "little") % L
        signature = IDENTITY + (k * scalar(SEED) % L).to_bytes(32, "little")
        assert openssl_accepts(PUBLIC, signature, b"m")  # the difference this rule closes
        assert not ed25519.verify(PUBLIC, signature, b"m")

    def test_a_small_order_public_key_is_refused_where_openssl_accepts_it(self) -> None:
        signature = IDENTITY + bytes(32)  # R = identity, S = 0: "valid" for A = identity
        assert openssl_accepts(IDENTITY, signature, b"anything")
        assert not ed25519.verify(IDENTITY, signature, b"anything")


class TestTheRegistrationRule:
    def test_a_generated_key_is_accepted(self) -> None:
        for _ in range(20):
            raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
            assert ed25519.public_key_problem(raw) is None

    @pytest.mark.parametrize("y", SMALL_ORDER)
    @pytest.mark.parametrize("sign", [0, 1])
    def test_every_small_order_point_is_refused_whatever_its_sign_bit(
        self, y: int, sign: int
    ) -> None:
        raw = (y | sign << 255).to_bytes(32, "little")
        assert ed25519.public_key_problem(raw) == (
            "is a point of small order (its order divides 8), which signs nothing"
        )

    @pytest.mark.parametrize("y", [P, P + 1, P + 2, P + 18])
    def test_a_non_canonical_encoding_is_refused(self, y: int) -> None:
        problem = ed25519.public_key_problem(y.to_bytes(32, "little"))
        assert problem is not None
        assert "small order" in problem or "not a canonical encoding" in problem

    def test_a_point_outside_the_prime_order_subgroup_is_refused(self) -> None:
        problem = ed25519.public_key_problem(bytes(range(32)))  # not a point of that group
        assert problem == "is not a point of the curve's prime-order subgroup"

    def test_a_key_of_another_size_is_refused(self) -> None:
        assert ed25519.public_key_problem(PUBLIC[:31]) == (
            "holds 31 bytes where an Ed25519 public key has 32"
        )
