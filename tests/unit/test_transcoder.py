"""The msgspec transcoder for the library's generic event state, and the mapper's fallback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Transcoder, Transcoding
from eventsourcing.tests import persistence as library  # a module, so pytest collects
from eventsourcing.tests.application import BankAccounts
from eventsourcing.tests.domain import EmailAddress
from eventsourcing.utils import get_topic

# only our subclass below, not the library's abstract case too
from ledger._aggregate import LedgerMapper
from ledger._transcoder import MsgspecTranscoder


class _As(Transcoding):
    """A transcoding of ``kind`` to ``plain`` and back, as the library's own suite uses."""

    def __init__(self, kind: type, name: str, plain: Callable[[Any], Any]) -> None:
        self.type = kind
        self.name = name
        self._plain = plain

    def encode(self, obj: Any) -> Any:
        return self._plain(obj)

    def decode(self, data: Any) -> Any:
        return self.type(data)


class TestMsgspecTranscoderConformance(library.TranscoderTestCase):
    """The library's own transcoder test cases, against ours."""

    def construct_transcoder(self) -> Transcoder:
        transcoder = MsgspecTranscoder()
        transcoder.register(library.CustomType1AsDict())
        transcoder.register(library.CustomType2AsDict())
        transcoder.register(_As(tuple, "tuple_as_list", list))
        transcoder.register(_As(library.Mydict, "mydict", dict))
        transcoder.register(_As(library.MyList, "mylist", list))
        transcoder.register(_As(library.MyStr, "mystr", str))
        transcoder.register(_As(library.MyInt, "myint", int))
        return transcoder


class TestTheMapperFallback:
    def test_a_library_domain_event_round_trips_with_its_types(self) -> None:
        mapper: LedgerMapper = LedgerMapper(transcoder=MsgspecTranscoder())
        event = DomainEvent(
            originator_id=uuid4(), originator_version=3, timestamp=datetime.now(UTC)
        )
        stored = mapper.to_stored_event(event)
        assert stored.topic == "eventsourcing.domain:DomainEvent"
        copy = mapper.to_domain_event(stored)
        assert copy == event
        assert isinstance(copy.timestamp, datetime)

    def test_uuids_datetimes_and_decimals_keep_their_types(self) -> None:
        transcoder = MsgspecTranscoder()
        value = {"id": uuid4(), "at": datetime.now(UTC), "amount": Decimal("1.10"), "n": [1, "x"]}
        assert transcoder.decode(transcoder.encode(value)) == value


class TestApplicationsRegisterTheirOwnTranscodings:
    def test_an_application_s_own_value_objects_round_trip_through_our_transcoder(self) -> None:
        app = BankAccounts(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.popo",
                "TRANSCODER_TOPIC": get_topic(MsgspecTranscoder),
            }
        )
        transcoder = app.mapper.transcoder
        assert isinstance(transcoder, MsgspecTranscoder)
        value = {"email": EmailAddress("a@example.com"), "n": 1}
        assert transcoder.decode(transcoder.encode(value)) == value
        account = app.open_account(full_name="A", email_address="a@example.com")
        assert app.get_account(account).email_address == EmailAddress("a@example.com")
