"""The ledger's header parser reads header blocks exactly as nats-py's own does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NatsClient

from ledger.nats._natsclient import FastHeaderClient, parse_header_lines

# Names and values drawn from what makes parsing interesting: whitespace of every kind
# (including the ASCII separators str.isspace counts), colons, non-ASCII and bad UTF-8.
_PIECES = st.sampled_from(
    [
        b"Ledger-Topic",
        b"Nats-Msg-Id",
        b"a",
        b" ",
        b"\t",
        b"\x0b",
        b"\x0c",
        b"\x1c",
        b"\x1f",
        b":",
        b"\xc3\xa9",
        b"\xff",
        b"x y",
        b"42",
        b"",
        b"\r",
        b"\n",
    ]
)
_LINE = st.lists(_PIECES, max_size=6).map(b"".join)


@given(st.lists(_LINE, max_size=8))
@settings(max_examples=500)
def test_the_ledger_parser_agrees_with_nats_py_on_any_header_block(lines: list[bytes]) -> None:
    raw = b"\r\n".join(lines) + b"\r\n\r\n"
    assert parse_header_lines(raw) == NatsClient._parse_header_lines(raw)


def test_a_ledger_message_s_headers_are_read_by_name() -> None:
    raw = b"Ledger-Topic: ActionRecorded\r\nLedger-Version:12\r\nBad Name: x\r\n\r\n"
    assert parse_header_lines(raw) == {"Ledger-Topic": "ActionRecorded", "Ledger-Version": "12"}


def test_the_client_overrides_a_parser_nats_py_still_has() -> None:
    # If nats-py renames its parser, the override would silently stop mattering.
    assert callable(NatsClient.__dict__["_parse_header_lines"].__func__)
    assert FastHeaderClient._parse_header_lines is parse_header_lines
