"""Names shared by the delivery side (ledger service) and the agency side (clients).

Delivery is a fan-out: the ledger service republishes each case event once per
agency party to the case, onto that agency's own subjects in a stream of their own:

* stream ``<ledger stream>_DELIVERY`` (``LEDGER_DELIVERY``), subjects
  ``<prefix>-delivery.<agency>.<partnership>.<case>`` (``ledger-delivery.police.northshire.c-1``);
* one durable pull consumer per agency, ``agency_<agency>``, filtered to
  ``<prefix>-delivery.<agency>.>``;
* each delivered message keeps the event's JSON and headers, plus
  ``Ledger-Source-Sequence`` (its sequence in the ledger stream) and a
  ``Nats-Msg-Id`` of ``<source sequence>.<agency>``, so a republish after a crash is
  dropped by the stream's duplicate window.
"""

from __future__ import annotations

__all__ = [
    "HDR_SOURCE_SEQ",
    "consumer_name",
    "delivery_prefix",
    "delivery_stream",
    "delivery_subject",
]

HDR_SOURCE_SEQ = "Ledger-Source-Sequence"


def delivery_stream(ledger_stream: str) -> str:
    """``LEDGER`` -> ``LEDGER_DELIVERY``."""
    return f"{ledger_stream}_DELIVERY"


def delivery_prefix(subject_prefix: str) -> str:
    """``ledger`` -> ``ledger-delivery`` (never under the ledger stream's own subjects)."""
    return f"{subject_prefix}-delivery"


def delivery_subject(subject_prefix: str, agency: str, partnership: str, case: str) -> str:
    return f"{delivery_prefix(subject_prefix)}.{agency}.{partnership}.{case}"


def consumer_name(agency: str) -> str:
    """The agency's durable consumer on the delivery stream."""
    return f"agency_{agency}"
