"""What is hashed and what is signed (``ledger/proofs/entry.py``), against docs/proofs.md.

The expected bytes are spelled out here by hand from the spec, not computed by the code
under test, so a change to the layout fails these tests.
"""

from __future__ import annotations

import base64
import hashlib
import json

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.proofs.entry import (
    SignatureHeader,
    _canonical,
    _plain,
    asserted_bytes,
    b64,
    entry_bytes,
    entry_hash,
    jcs,
    sign_assertion,
    unb64,
    verify_assertion,
)
from ledger.proofs.errors import SignatureInvalid

SUBJECT = "ledger.northshire.case.c-1042"
PAYLOAD = (
    b'{"type":"ActionRecorded","recorded_at":"2026-03-02T10:00:00Z",'
    b'"occurred_at":"2026-03-01T09:00:00Z","action":"home_visit","seen":true}'
)


def _key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


class TestEntryBytes:
    def test_the_entry_is_context_subject_four_headers_length_and_payload_in_that_order(
        self,
    ) -> None:
        headers = {
            "Ledger-Signature": "ed25519 police k1 AAAA",
            "Ledger-Version": "7",
            "Nats-Msg-Id": "abc-1",
            "Ledger-Topic": "ActionRecorded",
            "Ledger-Prev-Hash": "cHJldg==",
        }
        expected = (
            b"ledger-entry/v1\n"
            + SUBJECT.encode()
            + b"\nActionRecorded\n7\ncHJldg==\ned25519 police k1 AAAA\n"
            + str(len(PAYLOAD)).encode()
            + b"\n"
            + PAYLOAD
        )
        assert entry_bytes(SUBJECT, headers, PAYLOAD) == expected

    def test_absent_headers_are_empty_lines_and_transport_headers_are_not_covered(self) -> None:
        got = entry_bytes(SUBJECT, {"Ledger-Topic": "T", "Nats-Msg-Id": "x"}, b"{}")
        assert got == b"ledger-entry/v1\n" + SUBJECT.encode() + b"\nT\n\n\n\n2\n{}"
        assert entry_bytes(SUBJECT, None, b"") == (
            b"ledger-entry/v1\n" + SUBJECT.encode() + b"\n\n\n\n\n0\n"
        )

    def test_the_leaf_hash_is_sha256_of_a_zero_byte_and_the_entry(self) -> None:
        headers = {"Ledger-Topic": "ActionRecorded", "Ledger-Version": "1"}
        entry = entry_bytes(SUBJECT, headers, PAYLOAD)
        assert entry_hash(SUBJECT, headers, PAYLOAD) == hashlib.sha256(b"\x00" + entry).digest()

    def test_a_retry_s_different_message_id_leaves_the_hash_unchanged(self) -> None:
        base = {"Ledger-Topic": "T", "Ledger-Version": "2"}
        one = entry_hash(SUBJECT, {**base, "Nats-Msg-Id": "a-1"}, PAYLOAD)
        two = entry_hash(SUBJECT, {**base, "Nats-Msg-Id": "b-9", "Nats-Batch-Id": "z"}, PAYLOAD)
        assert one == two

    @pytest.mark.parametrize(
        "change",
        [
            lambda s, h, p: (s + "x", h, p),
            lambda s, h, p: (s, {**h, "Ledger-Version": "3"}, p),
            lambda s, h, p: (s, {**h, "Ledger-Prev-Hash": "AAAA"}, p),
            lambda s, h, p: (s, {**h, "Ledger-Signature": "ed25519 a k AAAA"}, p),
            lambda s, h, p: (s, h, p.replace(b"true", b"fals")),
        ],
        ids=["subject", "version", "prev-hash", "signature", "payload"],
    )
    def test_any_covered_change_changes_the_hash(self, change: object) -> None:
        headers = {"Ledger-Topic": "T", "Ledger-Version": "2"}
        s, h, p = change(SUBJECT, headers, PAYLOAD)  # type: ignore[operator]
        assert entry_hash(s, h, p) != entry_hash(SUBJECT, headers, PAYLOAD)

    def test_the_length_prefix_keeps_a_header_and_payload_split_unambiguous(self) -> None:
        one = entry_bytes(SUBJECT, {"Ledger-Signature": "a"}, b"\n1\nb")
        two = entry_bytes(SUBJECT, {"Ledger-Signature": "a\n1\nb"}, b"")
        assert one != two


class TestJcs:
    def test_members_are_sorted_by_utf16_code_units_not_code_points(self) -> None:
        # U+E000 sorts after U+1F600 in UTF-16 (0xD83D...) but before it by code point.
        value = {"\U0001f600": 1, "\ue000": 2, "b": 3, "a": {"z": 1, "A": 2}}
        expected = '{"a":{"A":2,"z":1},"b":3,"\U0001f600":1,"\ue000":2}'.encode()
        assert jcs(value) == expected

    def test_strings_use_the_minimal_escapes_and_lower_case_hex(self) -> None:
        value = {"s": 'q"b\\\b\f\n\r\t\x00\x1f\x7f/é€'}
        expected = '{"s":"q\\"b\\\\\\b\\f\\n\\r\\t\\u0000\\u001f\x7f/é€"}'.encode()
        assert jcs(value) == expected

    def test_no_insignificant_whitespace_and_literals_as_json(self) -> None:
        assert jcs([1, -2, True, False, None, [], {}]) == b"[1,-2,true,false,null,[],{}]"

    def test_a_float_anywhere_is_refused_naming_its_path(self) -> None:
        with pytest.raises(SignatureInvalid, match=r"\$\.a\[1\]\.b: is a floating-point"):
            jcs({"a": [1, {"b": 1.5}]})

    def test_an_integer_beyond_what_a_double_holds_exactly_is_refused(self) -> None:
        # RFC 8785 numbers are IEEE doubles: 2**53 + 1 would be written as 2**53 by
        # another language's JCS, so it cannot be signed unambiguously.
        assert jcs({"n": 2**53 - 1}) == b'{"n":9007199254740991}'
        with pytest.raises(SignatureInvalid, match=r"\$\.n: is an integer beyond"):
            jcs({"n": 2**53 + 1})

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
            max_leaves=20,
        )
    )
    def test_jcs_reads_back_as_the_same_value_and_is_a_fixed_point(self, value: object) -> None:
        out = jcs(value)
        assert json.loads(out) == value
        assert jcs(json.loads(out)) == out

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
            lambda inner: (
                st.lists(inner)
                | st.dictionaries(st.text(), inner)
                | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127)), inner)
            ),
            max_leaves=20,
        )
    )
    def test_jcs_is_json_with_members_in_utf16_order_on_ascii_names_and_others_alike(
        self, value: object
    ) -> None:
        # An oracle apart from the code: the standard library's JSON (whose escapes are
        # RFC 8785's) of the value with every object's members sorted by UTF-16 code units.
        def ordered(v: object) -> object:
            if isinstance(v, dict):
                return {k: ordered(v[k]) for k in sorted(v, key=lambda k: k.encode("utf-16-be"))}
            return [ordered(x) for x in v] if isinstance(v, list) else v

        expected = json.dumps(ordered(value), ensure_ascii=False, separators=(",", ":"))
        assert jcs(value) == expected.encode()

    def test_a_big_integer_or_a_float_under_ascii_names_is_refused_naming_its_path(
        self,
    ) -> None:
        with pytest.raises(SignatureInvalid, match=r"\$\.a\.b\[0\]: is an integer beyond"):
            jcs({"a": {"b": [2**53], "c": "x"}})
        with pytest.raises(SignatureInvalid, match=r"\$\.z: is a floating-point"):
            jcs({"a": 1, "z": 0.5})


#: JSON values as a payload holds them: member names ASCII (mostly) or not, integers a
#: double holds exactly or not, and now and then a float.
#: Names where code point and UTF-16 orders disagree: U+E000-U+FFFF against U+10000 and up.
_WIDE = ["a", "B", "\u00e9", "\ue000", "\uffff", "\U00010000", "\U0001f600"]
_NAMES = st.text(st.characters(max_codepoint=0x7F), max_size=6) | st.text(max_size=4)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.integers(2**53 - 3, 2**64)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_NAMES, inner, max_size=5),
    max_leaves=25,
)


def _full_path(value: object) -> bytes | str:
    """What the member-by-member path of :func:`jcs` gives (or the error it raises)."""
    try:
        return msgspec.json.encode(_canonical(value, "$"))
    except SignatureInvalid as e:
        return str(e)


class TestJcsFastPath:
    """msgspec sorts members by code point; that is RFC 8785's UTF-16 order for ASCII names."""

    @given(_JSON)
    def test_jcs_is_what_the_member_by_member_path_gives_for_every_value(
        self, value: object
    ) -> None:
        try:
            got: bytes | str = jcs(value)
        except SignatureInvalid as e:
            got = str(e)
        assert got == _full_path(value)

    @given(st.dictionaries(st.text(st.sampled_from(_WIDE), max_size=3), _JSON, min_size=2))
    def test_names_whose_orders_disagree_come_out_as_the_member_by_member_path_gives(
        self, value: dict[str, object]
    ) -> None:
        try:
            got: bytes | str = jcs(value)
        except SignatureInvalid as e:
            got = str(e)
        assert got == _full_path(value)

    @given(st.dictionaries(st.text(st.characters(max_codepoint=0x7F)), st.integers(0, 9)))
    def test_ascii_names_take_the_fast_path_and_come_out_in_utf16_order(
        self, value: dict[str, int]
    ) -> None:
        assert _plain(value)
        names = list(json.loads(jcs(value)))
        assert names == sorted(value, key=lambda name: name.encode("utf-16-be"))

    @pytest.mark.parametrize(
        "value",
        [{"\ue000": 1}, {"a": 1.0}, {"a": [2**53]}, [{"b": {"c": -(2**53)}}], {1: 2}],
    )
    def test_a_non_ascii_name_a_float_or_a_large_integer_takes_the_full_path(
        self, value: object
    ) -> None:
        assert not _plain(value)


class TestAssertedBytes:
    def test_the_assertion_is_context_subject_and_jcs_of_the_payload_less_recorded_at(
        self,
    ) -> None:
        expected = (
            b"ledger-assertion/v1\n"
            + SUBJECT.encode()
            + b'\n{"action":"home_visit","occurred_at":"2026-03-01T09:00:00Z",'
            + b'"seen":true,"type":"ActionRecorded"}'
        )
        assert asserted_bytes(SUBJECT, PAYLOAD) == expected

    def test_recorded_at_is_excluded_so_the_ledger_s_stamp_does_not_change_it(self) -> None:
        later = PAYLOAD.replace(b"2026-03-02T10:00:00Z", b"2027-01-01T00:00:00Z")
        assert later != PAYLOAD
        assert asserted_bytes(SUBJECT, later) == asserted_bytes(SUBJECT, PAYLOAD)

    def test_member_order_and_whitespace_of_the_payload_do_not_matter(self) -> None:
        shuffled = json.dumps(dict(reversed(json.loads(PAYLOAD).items())), indent=2).encode()
        assert asserted_bytes(SUBJECT, shuffled) == asserted_bytes(SUBJECT, PAYLOAD)

    @pytest.mark.parametrize("payload", [b"not json", b"[1,2]", b'"s"', b'{"a":0.5}'])
    def test_a_payload_that_is_not_a_float_free_json_object_is_refused(
        self, payload: bytes
    ) -> None:
        with pytest.raises(SignatureInvalid):
            asserted_bytes(SUBJECT, payload)


class TestSignatures:
    def test_a_signature_verifies_over_the_stored_payload(self) -> None:
        key = _key()
        header = sign_assertion(key, "police", "k1", SUBJECT, PAYLOAD)
        verify_assertion(key.public_key(), header, SUBJECT, PAYLOAD)
        key.public_key().verify(header.signature, asserted_bytes(SUBJECT, PAYLOAD))

    def test_a_tampered_payload_fails(self) -> None:
        key = _key()
        header = sign_assertion(key, "police", "k1", SUBJECT, PAYLOAD)
        with pytest.raises(SignatureInvalid, match="does not verify with key 'k1'"):
            verify_assertion(key.public_key(), header, SUBJECT, PAYLOAD.replace(b"true", b"false"))

    def test_the_same_payload_on_another_subject_fails(self) -> None:
        key = _key()
        header = sign_assertion(key, "police", "k1", SUBJECT, PAYLOAD)
        with pytest.raises(SignatureInvalid):
            verify_assertion(key.public_key(), header, SUBJECT + "9", PAYLOAD)

    def test_another_key_fails(self) -> None:
        header = sign_assertion(_key(), "police", "k1", SUBJECT, PAYLOAD)
        other = Ed25519PrivateKey.generate().public_key()
        with pytest.raises(SignatureInvalid):
            verify_assertion(other, header, SUBJECT, PAYLOAD)

    def test_the_header_formats_and_parses_back(self) -> None:
        header = sign_assertion(_key(), "police", "k1", SUBJECT, PAYLOAD)
        text = header.format()
        assert text == f"ed25519 police k1 {base64.b64encode(header.signature).decode()}"
        assert SignatureHeader.parse(text) == header

    @pytest.mark.parametrize(
        "value",
        [
            "ed25519 police k1",
            "rsa police k1 " + "A" * 86 + "==",
            "ed25519  police k1 " + "A" * 86 + "==",
            "ed25519 police k1 " + "A" * 86 + "==" + " ",
            "ed25519 police k1 " + "A" * 86,  # no padding
            "ed25519 police k1 " + "A" * 84 + "==",  # 63 bytes
            "ed25519 police k1 " + "A" * 85 + "B==",  # unused bits set: not canonical
        ],
        ids=["short", "algorithm", "double-space", "trailing", "unpadded", "size", "non-canonical"],
    )
    def test_a_malformed_header_is_refused(self, value: str) -> None:
        with pytest.raises(SignatureInvalid, match="Ledger-Signature"):
            SignatureHeader.parse(value)


class TestBase64:
    def test_canonical_base64_round_trips(self) -> None:
        assert unb64(b64(b"\x00\xff\x10"), field="f") == b"\x00\xff\x10"

    @pytest.mark.parametrize("text", ["AB==", "AAA", "AA=A", "A A=", "é"])
    def test_non_canonical_or_invalid_base64_is_refused_naming_the_field(self, text: str) -> None:
        with pytest.raises(SignatureInvalid, match=r"^public_key: "):
            unb64(text, field="public_key")
