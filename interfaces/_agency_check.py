"""Whether a partnership has registered an agency, asked of the ledger before
``ledger agency add`` gives the agency a NATS user.

The ledger is read where it is: at ``NATS_URL``; else on the embedded server another
``ledger`` process runs on the data dir (logged in as the ``ledger`` service user);
else on an embedded server started for the while.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import msgspec

from ledger.application import Ledger
from ledger.errors import AggregateNotFound, InvalidCommand, LedgerError
from runtime.settings import Settings
from schemas import Id

__all__ = ["AgencyNotRegistered", "check_registered"]


class AgencyNotRegistered(LedgerError, LookupError):
    """Raised when an agency is given a NATS user for a partnership that has not
    registered it (or a partnership the ledger does not hold)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def check_registered(settings: Settings, partnership: str, agency: str) -> None:
    """Raise :class:`AgencyNotRegistered` unless ``partnership`` registered ``agency``
    (an ``AgencyRegistered`` on the partnership). An id that is not one is refused
    without being echoed: a name may have been typed where an id belongs."""
    for field, value in (("agency", agency), ("partnership", partnership)):
        try:
            msgspec.convert(value, type=Id)
        except msgspec.ValidationError:
            msg = (
                f"{field} is not a valid {field} id (rule: 1-64 lower-case letters, digits,"
                " '-' and '_', starting with a letter or digit)"
            )
            raise InvalidCommand(msg, field=field) from None
    how = (
        "; rule: a partnership registers an agency (AgencyRegistered: POST"
        f" /commands/RegisterAgency, or Ledger.register_agency, with partnership '{partnership}'"
        f" and agency '{agency}') before the agency gets a user"
    )
    with _ledger(settings) as ledger:
        try:
            found = ledger.get_partnership(partnership)
        except AggregateNotFound:
            msg = f"partnership '{partnership}' is not established on this ledger{how}"
            raise AgencyNotRegistered(msg, field="partnership") from None
        if not found.is_registered(agency):
            msg = f"agency '{agency}' is not registered in partnership '{partnership}'{how}"
            raise AgencyNotRegistered(msg, field="agency")


@contextmanager
def _ledger(settings: Settings) -> Iterator[Ledger]:
    """The ledger of ``settings``, on whichever server holds it (see the module)."""
    from runtime.access import ensure_service_users
    from runtime.bootstrap import open_ledger
    from runtime.embedded import running_url

    url = None if settings.nats_url is not None else running_url(settings.data_dir)
    if url is None:  # NATS_URL, or no embedded server runs: open_ledger starts one
        with open_ledger(settings, configure_logs=False) as running:
            yield running.ledger
        return
    login = url
    if settings.auth:
        login = ensure_service_users(settings.data_dir, settings).ledger.url(url)
    ledger = Ledger(env=settings.persistence_env(login, create_stream=not settings.auth))
    try:
        yield ledger
    finally:
        ledger.close()
