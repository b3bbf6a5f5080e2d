"""Signed notes, checkpoints and cosignatures: the Go reference implementation's published
vectors, the C2SP examples, round trips, and every forgery an operator could try.

Vectors: golang/mod ``sumdb/note/note_test.go`` (the PeterNeumann and EnochRoot keys, the
signed note ``TestSign`` expects byte for byte, ``TestOpen``'s malformed notes and
``TestNewVerifier``'s mangled keys); C2SP/C2SP ``tlog-checkpoint.md`` and
``tlog-cosignature.md`` (the example checkpoint, its cosignature line and signed message).
"""

from __future__ import annotations

import base64

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.proofs.errors import CheckpointInvalid, SignatureInvalid
from ledger.proofs.note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    cosign,
    cosignature_message,
    cosigned_note,
    format_verifier_key,
    key_hash,
    note_signatures,
    open_checkpoint,
    parse_verifier_key,
    quorum,
    sign_checkpoint,
    sign_note,
    split_checkpoint,
    verify_cosignature,
    verify_note,
)

# -- golang/mod sumdb/note/note_test.go ------------------------------------------------------

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngo"
    "tpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)

# -- C2SP tlog-checkpoint.md and tlog-cosignature.md -----------------------------------------

SOFA = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SOFA_COSIGNATURE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJ"
    "sX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


def peter_key() -> Ed25519PrivateKey:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert seed[0] == SIG_ED25519
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


ORIGIN = "ledger.local/LEDGER"
LOG = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
CP = Checkpoint(ORIGIN, 42, bytes(range(100, 132)))


class TestGoReferenceVectors:
    def test_the_key_id_and_verifier_key_are_the_published_ones(self) -> None:
        key = peter_key()
        assert key_hash("PeterNeumann", key.public_key(), SIG_ED25519).hex() == "c74f20a3"
        assert format_verifier_key("PeterNeumann", key.public_key()) == PETER_VKEY
        name, raw = parse_verifier_key(PETER_VKEY)
        assert (name, raw) == ("PeterNeumann", key.public_key().public_bytes_raw())

    def test_signing_the_text_gives_the_published_note_byte_for_byte(self) -> None:
        assert sign_note(TEXT, "PeterNeumann", peter_key()) == TEXT + "\n" + PETER_SIG

    def test_the_published_note_verifies_with_either_key_and_ignores_the_other(self) -> None:
        note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
        enoch_name, enoch_raw = parse_verifier_key(ENOCH_VKEY)
        enoch = Ed25519PublicKey.from_public_bytes(enoch_raw)
        assert verify_note(note, "PeterNeumann", peter_key().public_key()) == TEXT
        assert verify_note(note, enoch_name, enoch) == TEXT
        text, signatures = note_signatures(note)
        assert text == TEXT
        assert [(name, raw[:4].hex()) for name, raw in signatures] == [
            ("PeterNeumann", "c74f20a3"),
            ("EnochRoot", "af0cfe78"),
        ]

    def test_a_signature_altered_in_the_middle_is_rejected(self) -> None:
        note = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
        with pytest.raises(CheckpointInvalid, match=r"PeterNeumann\+c74f20a3 does not verify"):
            verify_note(note, "PeterNeumann", peter_key().public_key())

    @pytest.mark.parametrize(
        "note",
        [
            TEXT,
            TEXT + "\n",
            TEXT + "\n" + PETER_SIG[:-1],
            "\x01" + TEXT + "\n" + PETER_SIG,
            TEXT + "\n" + "\u2014 Bad Name " + PETER_SIG.split(" ")[-1],
            TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
            TEXT + "\n" + PETER_SIG * 101,
        ],
        ids=["no-sigs", "blank", "no-final-newline", "control", "bad-name", "extra", "101-sigs"],
    )
    def test_malformed_notes_are_rejected(self, note: str) -> None:
        with pytest.raises(CheckpointInvalid):
            verify_note(note, "PeterNeumann", peter_key().public_key())

    def test_every_mangling_of_a_verifier_key_is_rejected(self) -> None:
        manglings = {
            PETER_VKEY[i:j]
            for i in range(len(PETER_VKEY) + 1)
            for j in range(i + 1, len(PETER_VKEY) + 1)
            if (i, j) != (0, len(PETER_VKEY))
        }
        manglings |= {
            PETER_VKEY[:i] + chr(ord(c) + 1) + PETER_VKEY[i + 1 :] for i, c in enumerate(PETER_VKEY)
        }
        manglings |= {
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        }
        accepted = []
        for key in manglings:
            try:
                parse_verifier_key(key)
            except SignatureInvalid:
                continue
            accepted.append(key)
        assert accepted == []


class TestCheckpointText:
    def test_the_c2sp_example_parses_and_prints_back_byte_for_byte(self) -> None:
        cp = Checkpoint.parse(SOFA)
        assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
        assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
        assert cp.body() == SOFA

    def test_extension_lines_round_trip(self) -> None:
        cp = Checkpoint(ORIGIN, 0, bytes(32), ("witnessed-by police", "x"))
        assert cp.body().endswith("\nwitnessed-by police\nx\n")
        assert Checkpoint.parse(cp.body()) == cp

    def test_a_checkpoint_round_trips_through_msgspec_json(self) -> None:
        assert msgspec.json.decode(msgspec.json.encode(CP), type=Checkpoint) == CP

    @pytest.mark.parametrize(
        ("text", "rule"),
        [
            (SOFA[:-1], "does not end in a newline"),
            ("example.com/log\n5\n", "where origin, size and root are required"),
            ("\n5\n" + SOFA.split("\n")[2] + "\n", "origin: is empty"),
            (SOFA.replace("20852163", "020852163"), "without leading zeros"),
            (SOFA.replace("20852163", "+20852163"), "without leading zeros"),
            (SOFA.replace("20852163", " 20852163"), "without leading zeros"),
            (SOFA.replace("20852163", "\u0663"), "without leading zeros"),
            (SOFA.replace("20852163", "-1"), "without leading zeros"),
            (SOFA.replace("q2I=", "q2J="), "not the canonical base64"),
            (SOFA.replace("q2I=", "q2I"), "not standard base64"),
            (SOFA.replace("CsUY", ""), "holds 29 bytes"),
            (SOFA + "\n", "extension line: is empty"),
            (SOFA.replace("sofa", "so\tfa"), "control character"),
        ],
    )
    def test_a_malformed_body_is_rejected_with_the_rule_it_breaks(
        self, text: str, rule: str
    ) -> None:
        with pytest.raises(CheckpointInvalid, match=rule):
            Checkpoint.parse(text)

    def test_a_checkpoint_cannot_be_built_malformed(self) -> None:
        with pytest.raises(CheckpointInvalid, match="root: holds 31 bytes"):
            Checkpoint(ORIGIN, 1, bytes(31))
        with pytest.raises(CheckpointInvalid, match="size: -1"):
            Checkpoint(ORIGIN, -1, bytes(32))
        with pytest.raises(CheckpointInvalid, match="origin"):
            Checkpoint("two\nlines", 1, bytes(32))


class TestSignedCheckpoints:
    def test_a_signed_checkpoint_opens_with_the_log_key(self) -> None:
        note = sign_checkpoint(CP, ORIGIN, LOG)
        assert note.startswith(CP.body() + "\n\u2014 " + ORIGIN + " ")
        assert open_checkpoint(note, ORIGIN, LOG.public_key()) == CP

    def test_a_bad_signature_is_rejected(self) -> None:
        note = sign_checkpoint(CP, ORIGIN, LOG)
        sig = note.rsplit(" ", 1)[1]
        raw = bytearray(base64.b64decode(sig))
        raw[10] ^= 1
        forged = note.replace(sig, base64.b64encode(bytes(raw)).decode() + "\n")
        with pytest.raises(CheckpointInvalid, match="does not verify"):
            open_checkpoint(forged, ORIGIN, LOG.public_key())

    def test_a_body_changed_after_signing_is_rejected(self) -> None:
        note = sign_checkpoint(CP, ORIGIN, LOG)
        with pytest.raises(CheckpointInvalid, match="does not verify"):
            open_checkpoint(note.replace("\n42\n", "\n43\n"), ORIGIN, LOG.public_key())

    def test_a_missing_signature_is_rejected(self) -> None:
        with pytest.raises(CheckpointInvalid, match="has no blank line"):
            open_checkpoint(CP.body(), ORIGIN, LOG.public_key())
        only_a_witness = cosigned_note(CP, [cosign(CP, "police", Ed25519PrivateKey.generate(), 1)])
        with pytest.raises(CheckpointInvalid, match="carries no signature by key"):
            open_checkpoint(only_a_witness, ORIGIN, LOG.public_key())

    def test_a_signature_by_another_key_under_the_logs_name_is_rejected(self) -> None:
        note = sign_checkpoint(CP, ORIGIN, Ed25519PrivateKey.generate())
        with pytest.raises(CheckpointInvalid, match="carries no signature by key"):
            open_checkpoint(note, ORIGIN, LOG.public_key())

    def test_a_checkpoint_from_another_origin_is_rejected(self) -> None:
        other = Checkpoint("ledger.example/OTHER", CP.size, CP.root)
        note = sign_checkpoint(other, other.origin, LOG)  # even signed by the same key
        with pytest.raises(CheckpointInvalid, match=r"from origin 'ledger\.example/OTHER'"):
            open_checkpoint(note, ORIGIN, LOG.public_key())
        renamed = sign_checkpoint(other, ORIGIN, LOG)  # or under this log's key name
        with pytest.raises(CheckpointInvalid, match="from origin"):
            open_checkpoint(renamed, ORIGIN, LOG.public_key())

    def test_a_malformed_body_is_rejected_even_when_signed(self) -> None:
        note = sign_note(f"{ORIGIN}\n007\n{base64.b64encode(bytes(32)).decode()}\n", ORIGIN, LOG)
        with pytest.raises(CheckpointInvalid, match="leading zeros"):
            open_checkpoint(note, ORIGIN, LOG.public_key())

    def test_a_key_name_with_a_space_or_plus_cannot_sign(self) -> None:
        for name in ("bad name", "bad+name", ""):
            with pytest.raises(CheckpointInvalid, match="key name"):
                sign_note(TEXT, name, LOG)


class TestCosignatures:
    def test_the_signed_message_is_the_c2sp_example_byte_for_byte(self) -> None:
        cp = Checkpoint.parse(SOFA)
        assert cosignature_message(cp, 1679315147) == (
            b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
            b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        )

    def test_the_c2sp_example_line_carries_its_timestamp_after_the_key_id(self) -> None:
        _, [(name, raw)] = note_signatures(SOFA + "\n" + SOFA_COSIGNATURE + "\n")
        assert name == "witness.example.com/w1"
        assert len(raw) == 4 + 8 + 64
        assert int.from_bytes(raw[4:12], "big") == 1679315147

    def test_a_cosignature_verifies_and_gives_its_timestamp(self) -> None:
        police = Ed25519PrivateKey.generate()
        line = cosign(CP, "police", police, 1_767_225_600)
        assert verify_cosignature(CP, line, "police", police.public_key()) == 1_767_225_600
        kid = base64.b64decode(line.split(" ")[2])[:4]
        assert kid == key_hash("police", police.public_key(), SIG_COSIGNATURE_V1)

    def test_a_changed_timestamp_is_rejected(self) -> None:
        police = Ed25519PrivateKey.generate()
        line = cosign(CP, "police", police, 1000)
        raw = bytearray(base64.b64decode(line.split(" ")[2]))
        raw[11] += 1
        forged = line.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode()
        with pytest.raises(CheckpointInvalid, match="does not verify"):
            verify_cosignature(CP, forged, "police", police.public_key())

    def test_a_cosignature_of_another_checkpoint_is_rejected(self) -> None:
        police = Ed25519PrivateKey.generate()
        line = cosign(CP, "police", police, 1000)
        for other in (
            Checkpoint(CP.origin, CP.size + 1, CP.root),
            Checkpoint(CP.origin, CP.size, bytes(32)),
            Checkpoint("ledger.example/OTHER", CP.size, CP.root),
            Checkpoint(CP.origin, CP.size, CP.root, ("extension",)),
        ):
            with pytest.raises(CheckpointInvalid, match="does not verify"):
                verify_cosignature(other, line, "police", police.public_key())

    def test_another_witness_key_or_name_or_a_plain_note_signature_is_rejected(self) -> None:
        police, health = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        line = cosign(CP, "police", police, 1000)
        with pytest.raises(CheckpointInvalid, match="is not police's cosigning key ID"):
            verify_cosignature(CP, line, "police", health.public_key())
        with pytest.raises(CheckpointInvalid, match="is by 'police' where 'health'"):
            verify_cosignature(CP, line, "health", police.public_key())
        note_line = sign_checkpoint(CP, "police", police).split("\n")[-2]
        with pytest.raises(CheckpointInvalid, match="key ID"):
            verify_cosignature(CP, note_line, "police", police.public_key())

    def test_a_cosigned_note_splits_back_and_still_opens_with_the_log_key(self) -> None:
        police = Ed25519PrivateKey.generate()
        log_line = split_checkpoint(sign_checkpoint(CP, ORIGIN, LOG))[1][0]
        witness_line = cosign(CP, "police", police, 7)
        note = cosigned_note(CP, [log_line, witness_line, witness_line + "\n"])
        cp, lines = split_checkpoint(note)
        assert (cp, lines) == (CP, [log_line, witness_line])
        assert open_checkpoint(note, ORIGIN, LOG.public_key()) == CP

    def test_a_quorum_counts_only_cosignatures_that_verify(self) -> None:
        keys = {name: Ed25519PrivateKey.generate() for name in ("health", "la", "police")}
        witnesses = {name: key.public_key() for name, key in keys.items()}
        lines = [
            split_checkpoint(sign_checkpoint(CP, ORIGIN, LOG))[1][0],
            cosign(CP, "police", keys["police"], 5),
            cosign(CP, "health", keys["health"], 6),
            cosign(CP, "la", Ed25519PrivateKey.generate(), 7),  # a forgery in la's name
            cosign(Checkpoint(ORIGIN, 41, CP.root), "la", keys["la"], 8),  # another checkpoint
        ]
        assert quorum(CP, lines, witnesses, 2) == ["health", "police"]
        with pytest.raises(CheckpointInvalid, match=r"cosigned by 2 known witnesses \(health"):
            quorum(CP, lines, witnesses, 3)
        with pytest.raises(CheckpointInvalid, match=r"by 0 known witnesses \(none\)"):
            quorum(CP, lines[:1], witnesses, 1)

    def test_a_timestamp_beyond_2_to_the_63_cannot_be_signed(self) -> None:
        with pytest.raises(CheckpointInvalid, match="2\\^63"):
            cosign(CP, "police", LOG, 2**63)
