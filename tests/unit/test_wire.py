"""The wire contract (``schemas/wire.py``): subjects, header names, name rules, delivery names.

Each rule is checked for what it builds and what it refuses, names with a trailing
newline above all (Python's ``$`` would let one through), and the contract is checked to
be written once: no other module of the packages spells one of its names.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.nats._subjects import SubjectMap
from schemas import ID_PATTERN, wire

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "ledger", "projections", "consumers", "interfaces", "bench")

ids = st.from_regex(ID_PATTERN, fullmatch=True)
prefixes = st.from_regex(wire.PREFIX_PATTERN, fullmatch=True)
streams = st.from_regex(wire.STREAM_PATTERN, fullmatch=True)
kinds = st.sampled_from(wire.AGGREGATE_KINDS)


class TestHeaders:
    def test_the_contract_names_every_ledger_header(self) -> None:
        assert wire.LEDGER_HEADERS == (
            "Ledger-Topic",
            "Ledger-Version",
            "Ledger-Source-Sequence",
            "Ledger-Prev-Hash",
            "Ledger-Signature",
        )

    def test_the_hash_chain_and_signature_headers_are_the_ledger_s_own(self) -> None:
        assert {"Ledger-Prev-Hash", "Ledger-Signature"} == wire.RESERVED_HEADERS
        assert set(wire.LEDGER_HEADERS) >= wire.RESERVED_HEADERS

    def test_the_ledger_store_writes_the_contract_s_headers(self) -> None:
        from ledger.nats import _stream

        headers = _stream.headers("LEDGER", "m-1", None, topic="CaseOpened", version=1)
        assert headers[wire.HDR_TOPIC] == "CaseOpened"
        assert headers[wire.HDR_VERSION] == "1"
        assert not wire.RESERVED_HEADERS & set(headers)  # a subject's first, unsigned event

    def test_the_ledger_store_sets_the_proofs_headers_when_it_has_them(self) -> None:
        from ledger.nats import _stream

        headers = _stream.headers(
            "LEDGER",
            "m-2",
            7,
            topic="T",
            version=2,
            prev_hash="aGFzaA==",
            signature="ed25519 a k s",
        )
        assert headers[wire.HDR_PREV_HASH] == "aGFzaA=="
        assert headers[wire.HDR_SIGNATURE] == "ed25519 a k s"


class TestLedgerSubjects:
    @given(prefixes, ids, kinds, ids)
    def test_an_aggregate_subject_splits_back_into_its_tokens(
        self, prefix: str, partnership: str, kind: str, ident: str
    ) -> None:
        subject = wire.aggregate_subject(prefix, partnership, kind, ident)
        head, _, rest = subject.partition(".")
        assert head == prefix
        assert wire.split_aggregate_id(rest) == (partnership, kind, ident)

    @given(prefixes, ids, kinds, ids)
    def test_the_store_s_subject_map_agrees_with_the_contract(
        self, prefix: str, partnership: str, kind: str, ident: str
    ) -> None:
        subjects = SubjectMap(prefix)
        aggregate = wire.aggregate_id(partnership, kind, ident)
        subject = subjects.subject(aggregate)
        assert subject == wire.aggregate_subject(prefix, partnership, kind, ident)
        assert subjects.originator(subject) == aggregate
        assert _matches(wire.all_aggregates(prefix), subject)

    @given(prefixes, st.text(max_size=80))
    def test_a_tracking_subject_is_one_safe_token_and_never_an_aggregate_s(
        self, prefix: str, app: str
    ) -> None:
        subject = wire.tracking_subject(prefix, app)
        head, space, token = subject.split(".")
        assert (head, space) == (prefix, wire.TRACKING_SPACE)
        assert re.fullmatch(wire.APP_TOKEN_PATTERN, token) or token.startswith("x")
        assert not _matches(wire.all_aggregates(prefix), subject)

    def test_a_uuid_subject_is_never_an_aggregate_id(self) -> None:
        subject = SubjectMap("ledger").subject(uuid.UUID(int=7))
        with pytest.raises(ValueError, match="safe tokens"):
            wire.split_aggregate_id(subject.removeprefix("ledger."))

    def test_snapshots_have_a_subject_space_and_a_stream_of_their_own(self) -> None:
        assert wire.snapshot_prefix("ledger") == "ledger_snapshots"
        assert wire.snapshot_stream("LEDGER") == "LEDGER_SNAPSHOTS"
        snapshot = SubjectMap("ledger", space=wire.SNAPSHOT_SPACE).subject("p.case.c1")
        assert not _matches(wire.all_aggregates("ledger"), snapshot)

    @given(ids, st.sampled_from(["person", "Case", "case.x", ""]), ids)
    def test_an_unknown_kind_is_no_aggregate(self, partnership: str, kind: str, ident: str) -> None:
        with pytest.raises(ValueError, match="safe tokens"):
            wire.aggregate_subject("ledger", partnership, kind, ident)


class TestDelivery:
    @given(prefixes, ids, ids, ids)
    def test_a_delivered_subject_is_the_agency_s_and_outside_the_ledger_s(
        self, prefix: str, agency: str, partnership: str, case: str
    ) -> None:
        subject = wire.delivery_subject(prefix, agency, partnership, case)
        assert _matches(wire.delivery_filter(prefix, agency), subject)
        assert not _matches(f"{prefix}.>", subject)
        assert subject.split(".")[1:] == [agency, partnership, case]

    @given(prefixes, ids, ids, ids)
    def test_a_challenge_s_delivered_subject_is_the_agency_s_and_never_a_case_s(
        self, prefix: str, agency: str, partnership: str, challenge: str
    ) -> None:
        subject = wire.delivery_challenge_subject(prefix, agency, partnership, challenge)
        assert _matches(wire.delivery_filter(prefix, agency), subject)
        assert not _matches(f"{prefix}.>", subject)
        head = wire.delivery_prefix(prefix)
        assert wire.split_delivery_subject(head, agency, subject) == (
            partnership,
            "challenge",
            challenge,
        )
        case = wire.delivery_subject(prefix, agency, partnership, challenge)
        assert wire.split_delivery_subject(head, agency, case) == (partnership, "case", challenge)

    @given(prefixes, ids, ids, ids)
    def test_a_key_s_delivered_subject_is_the_agency_s_and_never_a_case_s_or_a_challenge_s(
        self, prefix: str, agency: str, partnership: str, key_id: str
    ) -> None:
        subject = wire.delivery_key_subject(prefix, agency, partnership, key_id)
        assert subject == f"{prefix}-delivery.{agency}.{partnership}.key.{key_id}"
        assert _matches(wire.delivery_filter(prefix, agency), subject)
        assert not _matches(f"{prefix}.>", subject)
        head = wire.delivery_prefix(prefix)
        assert wire.split_delivery_subject(head, agency, subject) == (partnership, "key", key_id)
        challenge = wire.delivery_challenge_subject(prefix, agency, partnership, key_id)
        assert wire.split_delivery_subject(head, agency, challenge) == (
            partnership,
            "challenge",
            key_id,
        )
        # A case whose id is the word "key" is still a case: it has one token fewer.
        case = wire.delivery_subject(prefix, agency, partnership, "key")
        assert wire.split_delivery_subject(head, agency, case) == (partnership, "case", "key")

    def test_the_delivery_kinds_are_case_challenge_and_key(self) -> None:
        assert wire.DELIVERY_KINDS == ("case", "challenge", "key")

    def test_a_subject_of_another_layout_or_agency_splits_into_nothing(self) -> None:
        head = "ledger-delivery"
        for subject in (
            "ledger-delivery.police.northshire",
            "ledger-delivery.police.northshire.review.r-1",
            "ledger-delivery.police.northshire.challenge.ch-1.x",
            "ledger-delivery.health.northshire.c-1",
            "ledger.police.northshire.c-1",
            # a key's subject, malformed (".key" alone is case "key"): an empty key id, one
            # token too many, another agency's, the kind word misspelt, a key id or a
            # partnership that is no identifier
            "ledger-delivery.police.northshire.key.",
            "ledger-delivery.police.northshire.key.k1.x",
            "ledger-delivery.health.northshire.key.k1",
            "ledger-delivery.police.northshire.KEY.k1",
            "ledger-delivery.police.northshire.keys.k1",
            "ledger-delivery.police.northshire.key.K1",
            "ledger-delivery.police.northshire.key.-k1",
            "ledger-delivery.police.northshire.key.*",
            "ledger-delivery.police.northshire.key.>",
            "ledger-delivery.police.North.key.k1",
            "ledger-delivery.police..key.k1",
            "ledger.police.northshire.key.k1",
            # no token may be empty or no identifier in the other layouts either
            "ledger-delivery.police.northshire.",
            "ledger-delivery.police.northshire.challenge.",
            "ledger-delivery.police.northshire.C-1",
        ):
            assert wire.split_delivery_subject(head, "police", subject) is None, subject

    @given(streams)
    def test_the_delivery_stream_is_beside_the_ledger_stream(self, stream: str) -> None:
        assert wire.delivery_stream(stream) == f"{stream}_DELIVERY"

    @given(ids)
    def test_an_agency_s_consumer_user_and_inbox_carry_its_id(self, agency: str) -> None:
        consumer = wire.consumer_name(agency)
        assert consumer.removeprefix(wire.CONSUMER_PREFIX) == agency
        assert wire.delivery_inbox(agency) == f"_INBOX_{consumer}"

    @given(st.integers(min_value=1, max_value=2**64 - 1), ids)
    def test_a_delivery_message_id_splits_back_into_sequence_and_agency(
        self, seq: int, agency: str
    ) -> None:
        assert wire.split_delivery_msg_id(wire.delivery_msg_id(seq, agency)) == (seq, agency)

    @pytest.mark.parametrize("value", ["1", "x.police", "1.", "1.Police", "-1.police", "\u0661.a"])
    def test_anything_else_is_no_delivery_message_id(self, value: str) -> None:
        with pytest.raises(ValueError, match="source sequence"):
            wire.split_delivery_msg_id(value)


#: Every rule of a name, as "is this name accepted".
RULES: dict[str, Callable[[str], bool]] = {
    "prefix": wire.is_prefix,
    "stream": wire.is_stream_name,
    "identifier": wire.is_identifier,
    "aggregate id": lambda v: wire.AGGREGATE_ID_PATTERN.fullmatch(v) is not None,
    "aggregate subject": lambda v: _accepts(lambda: wire.aggregate_subject(v, "p", "case", v)),
    "delivery message id": lambda v: _accepts(lambda: wire.split_delivery_msg_id(f"1.{v}")),
    "delivered key id": lambda v: (
        wire.split_delivery_subject(
            "ledger-delivery", "police", f"ledger-delivery.police.p.key.{v}"
        )
        is not None
    ),
    "tracking token": lambda v: wire.tracking_subject("ledger", v).endswith(f".{v}"),
}
GOOD = {
    "prefix": "ledger",
    "stream": "LEDGER",
    "identifier": "police",
    "aggregate id": "p.case.c9",
    "aggregate subject": "c9",
    "delivery message id": "police",
    "delivered key id": "k1",
    "tracking token": "views",
}


class TestAccessLog:
    @given(prefixes, ids, ids)
    def test_a_read_s_subject_is_its_partnership_s_and_case_s_and_outside_the_ledger_s(
        self, prefix: str, partnership: str, case: str
    ) -> None:
        subject = wire.access_subject(prefix, partnership, case)
        assert _matches(wire.access_filter(prefix, partnership), subject)
        assert _matches(wire.access_filter(prefix, partnership, case), subject)
        assert not _matches(f"{prefix}.>", subject)
        assert not _matches(f"{wire.delivery_prefix(prefix)}.>", subject)
        assert subject.split(".")[1:] == [partnership, case]

    @given(streams)
    def test_the_access_stream_is_beside_the_ledger_stream(self, stream: str) -> None:
        assert wire.access_stream(stream) == f"{stream}_ACCESS"

    @pytest.mark.parametrize("case", ["c1\n", "C1", "c.1", "*", ">", ""])
    def test_an_unsafe_case_is_refused(self, case: str) -> None:
        with pytest.raises(ValueError, match="case"):
            wire.access_subject("ledger", "northshire", case)
        with pytest.raises(ValueError, match="partnership"):
            wire.access_filter("ledger", case or "x.y")


class TestTrueEnd:
    @pytest.mark.parametrize("rule", RULES)
    def test_every_name_is_refused_with_a_trailing_newline(self, rule: str) -> None:
        accepts = RULES[rule]
        assert accepts(GOOD[rule])
        assert not accepts(GOOD[rule] + "\n")
        assert not accepts(GOOD[rule] + "\r\n")

    @given(prefixes, streams, ids)
    def test_no_accepted_name_is_accepted_with_a_newline_after_it(
        self, prefix: str, stream: str, ident: str
    ) -> None:
        assert wire.is_prefix(prefix)
        assert not wire.is_prefix(prefix + "\n")
        assert wire.is_stream_name(stream)
        assert not wire.is_stream_name(stream + "\n")
        assert wire.is_identifier(ident)
        assert not wire.is_identifier(ident + "\n")

    @pytest.mark.parametrize(
        "pattern",
        [wire.PREFIX_PATTERN, wire.STREAM_PATTERN, wire.APP_TOKEN_PATTERN],
    )
    def test_each_pattern_refuses_a_newline_even_with_search(self, pattern: str) -> None:
        assert re.search(pattern, "ledger\n") is None


def _literals(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module (f-string parts included), docstrings left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


#: Spellings of the contract that only schemas/wire.py may hold.
_COPIES = re.compile(r"\bLedger-[A-Z]|-delivery\b|_DELIVERY\b|_SNAPSHOTS\b|\._tracking\b|\b_INBOX_")


def contract_copies(root: Path) -> dict[str, list[str]]:
    """``path:line`` of each string literal outside schemas/wire.py that spells the contract."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path == root / "schemas" / "wire.py":
                continue
            hits = [f"line {n}" for n, text in _literals(path) if _COPIES.search(text)]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


class TestWrittenOnce:
    def test_no_other_module_spells_a_ledger_header_or_a_stream_subject_or_inbox_name(
        self,
    ) -> None:
        assert contract_copies(ROOT) == {}

    def test_the_check_finds_a_header_spelt_out_in_a_module(self, tmp_path: Path) -> None:
        (tmp_path / "ledger").mkdir()
        (tmp_path / "ledger" / "bad.py").write_text(
            '"""Ledger-Topic in a docstring is prose."""\n'
            'HDR = "Ledger-Topic"\n'
            'def f(s: str) -> str:\n    return f"{s}_DELIVERY"\n'
        )
        assert contract_copies(tmp_path) == {"ledger/bad.py": ["line 2", "line 4"]}


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    want, have = pattern.split("."), subject.split(".")
    if want[-1] == ">":
        return len(have) >= len(want) and all(
            w in ("*", h) for w, h in zip(want[:-1], have, strict=False)
        )
    return len(want) == len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=True))


def _accepts(build: Callable[[], object]) -> bool:
    try:
        build()
    except ValueError:
        return False
    return True
