"""Agency subscriptions: each case event delivered to every agency party to the case,
each challenge event to the agency that raised the challenge and the one it is against,
and each key registration or revocation to the agency whose key it is.

* :mod:`consumers.delivery` and :mod:`consumers.manager`: the ledger service's side, a
  fan-out of case, challenge and key events onto each agency's own subjects of the
  delivery stream, kept by a view of case memberships and challenge parties (``ledger
  delivery run``);
* :mod:`consumers.client`: the agency's side, an async iterator over its events
  (``ledger subscribe --agency X``), with redelivery and a local dead-letter store.

The delivery service depends on :mod:`schemas`, :mod:`ledger` and :mod:`projections`;
the agency client on :mod:`schemas` (the wire contract and the credentials file included),
nats-py, msgspec and structlog only, so an agency can run it without the server's code
(``tests/unit/test_layering.py`` holds it to that). Nothing below imports this package.
"""

from schemas.wire import consumer_name, delivery_prefix, delivery_stream, delivery_subject

__all__ = ["consumer_name", "delivery_prefix", "delivery_stream", "delivery_subject"]

# The client and the delivery service are imported from their modules
# (``consumers.client``, ``consumers.manager``): each pulls in nats-py, and the
# delivery service the projections, which an agency's client does not need.
