"""Who may connect to the embedded nats-server, and what each user may do there.

The registry ``<data_dir>/access.json`` (mode 0600) lists the users and keeps their
passwords only as bcrypt hashes; a user's plaintext password is written once, to its
credentials file ``<data_dir>/credentials/<user>.json`` (mode 0600, in a 0700
directory), and nowhere else. :func:`render_server_config` turns the registry into the
nats-server configuration that :class:`~runtime.embedded.EmbeddedNats` runs with, so the
permissions below are enforced by the broker, not by the ledger. Every list is an allow
list: whatever is not on it (a ``STREAM.DELETE``, a ``PURGE``, an ``UPDATE``, a
``MSG.DELETE``, a ``CONSUMER.DELETE``, ...) is refused with a permissions violation.

Roles and their permissions (``<stream>`` and ``<prefix>`` come from the settings; the
delivery stream is ``<stream>_DELIVERY`` with subjects ``<prefix>-delivery.>``, as in
:mod:`schemas.wire`):

* ``admin``, user ``ledger-admin``: everything. It creates and configures the streams
  (``ledger admin init``, and the embedded server's first start) and nothing at run
  time needs it. Its credentials file is the key to the history: see
  docs/operations.md for who holds it.
* ``service``, user ``ledger``: what the running service needs and no more. Publish
  ``<prefix>.>`` (the only writer), ``$JS.API.STREAM.NAMES``,
  ``$JS.API.STREAM.INFO.<stream>``, ``$JS.API.DIRECT.GET.<stream>`` and
  ``$JS.API.DIRECT.GET.<stream>.>`` (it reads, ``subscribe()`` included, by direct get
  and may create no consumer on the ledger stream: the older create subject takes a
  consumer ``name`` in its body and so can re-aim an existing one, and any consumer's
  ``deliver_subject`` may be an agency's inbox); on the delivery stream
  ``<prefix>-delivery.>``, ``$JS.API.STREAM.INFO.<stream>_DELIVERY`` and
  ``$JS.API.CONSUMER.DURABLE.CREATE.<stream>_DELIVERY.*`` (each agency's durable pull
  consumer, made before its first message: the service decides what each agency is
  delivered, as the fan-out's writer it could do no less); on the access stream
  ``<stream>_ACCESS`` (the log of chronology reads) ``<prefix>-access.>``,
  ``$JS.API.STREAM.INFO.<stream>_ACCESS``, ``$JS.API.DIRECT.GET.<stream>_ACCESS`` and
  ``$JS.API.DIRECT.GET.<stream>_ACCESS.>`` (it appends and reads, nothing else); on the
  Merkle log's stream ``<stream>_LOG`` ``<prefix>-log.>`` (the checkpointer's signed
  checkpoints, and the cosignatures agencies send over HTTP), its ``STREAM.INFO`` and
  direct gets; subscribe ``_INBOX.>``.
* ``projector``, user ``projections``: publish ``$JS.API.STREAM.INFO.<stream>``,
  ``$JS.API.DIRECT.GET.<stream>`` and ``$JS.API.DIRECT.GET.<stream>.>``, and the same
  reads of the Merkle log's stream (``ledger verify`` checks the stream against its
  checkpoints); subscribe ``_INBOX_projections.>``. It reads the stream by batched
  direct gets only and may create no consumer: a push consumer's ``deliver_subject`` is
  not checked against its creator's publish permissions (nats-server 2.15,
  nats-io/nats-server#8274), so any user that may create consumers can aim one at an
  agency's inbox.
* ``agency``, user ``agency_<id>``: publish
  ``$JS.API.CONSUMER.MSG.NEXT.<stream>.agency_<id>``,
  ``$JS.API.CONSUMER.INFO.<stream>.agency_<id>`` and ``$JS.ACK.<stream>.agency_<id>.>``;
  its own cosignature subject ``<prefix>-log.cosignature.<id>`` (its witness) and the
  log stream's ``STREAM.INFO`` and direct gets (it reads checkpoints, never publishes one);
  subscribe ``_INBOX_agency_<id>.>``.

The projector and agencies are also denied ``<prefix>.>`` outright: only the service
writes.

Each restricted user has an inbox prefix of its own (``nats.connect(inbox_prefix=...)``),
so it can receive its replies and no other client's. An agency reads its cases through
the durable pull consumer ``agency_<id>`` that the ledger service creates for it with the
subjects it is party to; it can neither create consumers nor publish into the stream
(writes go through the ledger service, which validates them).

The server's JetStream block has ``sync_interval: always`` unless told otherwise: each
write is on disk (fsync) before it is acknowledged.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal

import bcrypt
import msgspec
import structlog

from ledger.private_files import write_private
from runtime.settings import Settings
from schemas import Id, wire
from schemas.credentials import (
    Credentials,
    CredentialsNotFound,
    InvalidCredentials,
    load_credentials,
)
from schemas.errors import LedgerError

__all__ = [
    "AgencyAlreadyAdded",
    "Credentials",
    "CredentialsNotFound",
    "InvalidAccessRequest",
    "InvalidCredentials",
    "ServiceCredentials",
    "add_agency",
    "admin_credentials_path",
    "agency_user",
    "ensure_admin_user",
    "ensure_service_users",
    "load_credentials",
    "private_data_dir",
    "render_server_config",
    "write_server_config",
]

log = structlog.get_logger()

Role = Literal["admin", "service", "projector", "agency"]

ADMIN_USER: Final = "ledger-admin"
SERVICE_USER: Final = "ledger"
PROJECTOR_USER: Final = "projections"
SERVICE_INBOX: Final = "_INBOX"  # nats-py's default: the service may read any reply anyway
REGISTRY_FILE: Final = "access.json"
CONFIG_FILE: Final = "nats-server.conf"
CREDENTIALS_DIR: Final = "credentials"
# Every password is 32 random bytes, so no work factor is what protects it; 10 rounds
# (OWASP's minimum) keeps the server's check of each new connection near 70 ms here.
_BCRYPT_ROUNDS: Final = 10
#: nats-server's ``sync_interval``: ``always`` (fsync before every acknowledgement) or a
#: duration such as ``2m`` (its default: acknowledged writes may be lost on a power cut).
_SYNC_INTERVAL: Final = re.compile(r"^(always|[1-9][0-9]{0,5}(ms|s|m|h))$")
SYNC_ALWAYS: Final = "always"


class InvalidAccessRequest(LedgerError, ValueError):
    """Raised when an agency id, stream name, subject prefix or listen address is unsafe."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class AgencyAlreadyAdded(LedgerError, ValueError):
    """Raised when an agency that already has a NATS user is added again."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.field = "agency"


class ServiceCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """The ledger service's and the projection workers' credentials."""

    ledger: Credentials
    projections: Credentials


class _User(msgspec.Struct, frozen=True, kw_only=True):
    """One registry entry; its permissions are derived from role, stream and prefix."""

    name: str
    role: Role
    password_hash: str
    stream: str
    subject_prefix: str
    agency: str | None = None
    #: An agency's ledger stream, whose Merkle log it may read and cosign (its ``stream``
    #: is its consumer's, the delivery stream); unset in a registry from before the log.
    ledger_stream: str | None = None


class _Registry(msgspec.Struct, kw_only=True):
    version: int = 1
    users: list[_User] = msgspec.field(default_factory=list)

    def find(self, name: str) -> _User | None:
        return next((u for u in self.users if u.name == name), None)

    def put(self, user: _User) -> None:
        self.users = [u for u in self.users if u.name != user.name] + [user]


_registry_decoder: Final = msgspec.json.Decoder(_Registry)
_encoder: Final = msgspec.json.Encoder()


def agency_user(agency: str) -> str:
    """The NATS user, durable consumer name and inbox token of an agency: ``agency_<id>``."""
    return wire.consumer_name(agency)


def ensure_service_users(data_dir: Path, settings: Settings) -> ServiceCredentials:
    """The ``ledger`` and ``projections`` users, created with random passwords if missing.

    A user whose credentials file is gone, or no longer matches the registry's hash, gets
    a new password. The projector's permissions follow ``settings``' stream and prefix.
    """
    stream, prefix = _checked_names(settings)
    wanted: tuple[tuple[str, Role, str], ...] = (
        (SERVICE_USER, "service", SERVICE_INBOX),
        (PROJECTOR_USER, "projector", wire.user_inbox(PROJECTOR_USER)),
    )
    found: dict[str, Credentials] = {}
    with _locked_registry(data_dir) as registry:
        for name, role, inbox in wanted:
            user = registry.find(name)
            current = _matching_credentials(data_dir, user)
            if user is None or current is None:
                current = _new_user(data_dir, registry, name, role, inbox, stream, prefix)
                log.info("nats_user_created", user=name, role=role)
            elif (user.stream, user.subject_prefix) != (stream, prefix):
                registry.put(msgspec.structs.replace(user, stream=stream, subject_prefix=prefix))
                current = msgspec.structs.replace(current, stream=stream, subject_prefix=prefix)
                _write_private(_credentials_path(data_dir, name), _encoder.encode(current))
            found[name] = current
    return ServiceCredentials(ledger=found[SERVICE_USER], projections=found[PROJECTOR_USER])


def ensure_admin_user(data_dir: Path, settings: Settings) -> Credentials | None:
    """The ``ledger-admin`` user: created with a random password if the registry has none.

    Returns its credentials while its file is in the data dir, None once the operator has
    taken the file away (the user stays; it is not made again behind their back).
    """
    stream, prefix = _checked_names(settings)
    with _locked_registry(data_dir) as registry:
        user = registry.find(ADMIN_USER)
        if user is None:
            log.info("nats_user_created", user=ADMIN_USER, role="admin")
            return _new_user(data_dir, registry, ADMIN_USER, "admin", SERVICE_INBOX, stream, prefix)
        return _matching_credentials(data_dir, user)


def admin_credentials_path(data_dir: Path) -> Path:
    """The admin's credentials file: ``<data dir>/credentials/ledger-admin.json``."""
    return _credentials_path(data_dir, ADMIN_USER)


def add_agency(
    data_dir: Path, settings: Settings, agency: str, *, consumer_stream: str | None = None
) -> Path:
    """Create agency ``agency``'s user and write its credentials file (mode 0600).

    Its consumer ``agency_<agency>`` lives on ``consumer_stream`` (the ledger stream of
    ``settings`` unless given, e.g. a delivery stream). Returns the file's path. The
    running server learns of the user when it reloads
    (:meth:`~runtime.embedded.EmbeddedNats.reload`, or ``ledger agency add``).
    """
    try:
        msgspec.convert(agency, type=Id)
    except msgspec.ValidationError as e:
        msg = (
            f"agency is not a valid agency id: {e} (an agency id is 1-64 lower-case"
            " letters, digits, '-' and '_', starting with a letter or digit; it becomes part"
            " of NATS subjects)"
        )
        raise InvalidAccessRequest(msg, field="agency") from None
    stream, prefix = _checked_names(settings)
    if consumer_stream is not None:
        stream = _checked_stream(consumer_stream, "consumer_stream")
    name = agency_user(agency)
    with _locked_registry(data_dir) as registry:
        if registry.find(name) is not None:
            msg = (
                f"agency {agency!r} already has a NATS user ({name}, credentials in"
                f" {_credentials_path(data_dir, name)}): each agency is added once"
            )
            raise AgencyAlreadyAdded(msg)
        _new_user(
            data_dir,
            registry,
            name,
            "agency",
            wire.delivery_inbox(agency),
            stream,
            prefix,
            agency,
            ledger_stream=settings.stream,
        )
    log.info("nats_user_created", user=name, role="agency", agency=agency)
    return _credentials_path(data_dir, name)


def render_server_config(
    data_dir: Path,
    host: str,
    port: int | None,
    *,
    jetstream: bool = True,
    server_name: str | None = None,
    logtime_utc: bool = False,
    sync_interval: str = SYNC_ALWAYS,
    auth: bool = True,
) -> str:
    """The nats-server configuration for ``data_dir``'s registry: users, permissions, store.

    ``port`` None listens on any free port. Pure apart from reading the registry.
    ``server_name`` and ``logtime_utc`` belong here rather than on the command line: a
    reload resets the flags that the server does not re-apply (those two among them).
    ``sync_interval`` is JetStream's: ``always`` syncs every write to disk before it is
    acknowledged. ``auth=False`` leaves the users out (an open server, for tests).
    """
    if not _is_loopback(host):
        raise InvalidAccessRequest(f"host {host!r} is not a loopback address", field="host")
    if not _SYNC_INTERVAL.fullmatch(sync_interval):
        msg = (
            f"sync_interval {sync_interval!r} must be 'always' or a duration such as '2m'"
            " (nats-server's jetstream sync_interval)"
        )
        raise InvalidAccessRequest(msg, field="sync_interval")
    users = _read_registry(data_dir).users if auth else []
    if auth and not users:
        # A server with an empty user list lets anyone in: refuse rather than run open.
        msg = f"{data_dir / REGISTRY_FILE} has no users (ensure_service_users creates them)"
        raise CredentialsNotFound(msg)
    listen = f"[{host}]" if ":" in host else host
    lines = [
        f"# Written by the ledger from {REGISTRY_FILE}; rewritten on every start and reload.",
        f"listen: {_q(f'{listen}:{port or -1}')}",
    ]
    if server_name is not None:
        lines += [f"server_name: {_q(server_name)}"]
    if logtime_utc:
        lines += ["logtime_utc: true"]
    if jetstream:
        lines += [
            "jetstream {",
            f"  store_dir: {_q(str(data_dir))}",
            f"  sync_interval: {_q(sync_interval)}",
            "}",
        ]
    if not auth:
        return "\n".join([*lines, ""])
    lines += ["authorization {", "  users = ["]
    lines += [f"    {_render_user(user)}" for user in _with_ledger_streams(users)]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def write_server_config(
    data_dir: Path,
    host: str,
    port: int | None,
    *,
    jetstream: bool = True,
    server_name: str | None = None,
    logtime_utc: bool = False,
    sync_interval: str = SYNC_ALWAYS,
    auth: bool = True,
) -> Path:
    """Render the configuration into ``<data_dir>/nats-server.conf`` (mode 0600)."""
    path = Path(data_dir) / CONFIG_FILE
    config = render_server_config(
        data_dir,
        host,
        port,
        jetstream=jetstream,
        server_name=server_name,
        logtime_utc=logtime_utc,
        sync_interval=sync_interval,
        auth=auth,
    )
    _write_private(path, config.encode())
    return path


def _with_ledger_streams(users: list[_User]) -> list[_User]:
    """``users``, an agency added before the Merkle log (no ``ledger_stream`` in its
    entry) given the stream of the service user of its subject prefix: without it the
    agency could not read the log nor publish its cosignatures."""
    streams = {u.subject_prefix: u.stream for u in users if u.role == "service"}
    return [
        msgspec.structs.replace(user, ledger_stream=streams[user.subject_prefix])
        if user.role == "agency" and user.ledger_stream is None and user.subject_prefix in streams
        else user
        for user in users
    ]


def _permissions(user: _User) -> tuple[list[str], list[str]] | None:
    """(publish allow, subscribe allow) of a user, or None for all permissions."""
    stream = user.stream
    if user.role == "admin":
        return None
    if user.role == "service":
        delivery = wire.delivery_stream(stream)
        delivery_prefix = wire.delivery_prefix(user.subject_prefix)
        access = wire.access_stream(stream)
        publish = [
            f"{user.subject_prefix}.>",
            "$JS.API.STREAM.NAMES",
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.DIRECT.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
            f"{delivery_prefix}.>",
            f"$JS.API.STREAM.INFO.{delivery}",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{delivery}.*",
            f"{wire.access_prefix(user.subject_prefix)}.>",
            f"$JS.API.STREAM.INFO.{access}",
            f"$JS.API.DIRECT.GET.{access}",
            f"$JS.API.DIRECT.GET.{access}.>",
            f"{wire.checkpoint_prefix(user.subject_prefix)}.>",
            *_log_reads(wire.checkpoint_stream(stream)),
        ]
        # The ledger's watch of partnership writes by its other processes (ledger/nats/_watch.py).
        return publish, [f"{SERVICE_INBOX}.>", wire.partnership_subjects(user.subject_prefix)]
    if user.role == "projector":
        publish = [
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.DIRECT.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
            # `ledger verify` reads as the projector: the checkpoints it checks the stream against.
            *_log_reads(wire.checkpoint_stream(stream)),
        ]
        return publish, [f"{wire.user_inbox(user.name)}.>"]
    consumer = user.name
    publish = [
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
        f"$JS.API.CONSUMER.INFO.{stream}.{consumer}",
        f"$JS.ACK.{stream}.{consumer}.>",
    ]
    if user.agency is not None and user.ledger_stream is not None:
        publish += [
            wire.cosignature_subject(user.subject_prefix, user.agency),
            *_log_reads(wire.checkpoint_stream(user.ledger_stream)),
        ]
    return publish, [f"{wire.user_inbox(user.name)}.>"]


def _log_reads(log_stream: str) -> list[str]:
    """Reading the Merkle log's stream: its info and direct gets (no consumer)."""
    return [
        f"$JS.API.STREAM.INFO.{log_stream}",
        f"$JS.API.DIRECT.GET.{log_stream}",
        f"$JS.API.DIRECT.GET.{log_stream}.>",
    ]


def _render_user(user: _User) -> str:
    head = f"{{ user: {_q(user.name)}, password: {_q(user.password_hash)}"
    if (permissions := _permissions(user)) is None:
        return head + " }"
    publish, subscribe = permissions
    if user.role == "service":
        return (
            f"{head}, permissions: {{ publish: {{ allow: {_q(publish)} }},"
            f" subscribe: {{ allow: {_q(subscribe)} }} }} }}"
        )
    # The deny is belt and braces: no allow above reaches a ledger subject.
    deny = [f"{user.subject_prefix}.>"]
    return (
        f"{head}, permissions: {{ publish: {{ allow: {_q(publish)}, deny: {_q(deny)} }},"
        f" subscribe: {{ allow: {_q(subscribe)} }} }} }}"
    )


def _q(value: str | list[str]) -> str:
    """A JSON string or list (nats-server's configuration reads JSON values; a quoted
    ``$`` is not a variable reference)."""
    return json.dumps(value)


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_stream(stream: str, field: str) -> str:
    if not wire.is_stream_name(stream):
        msg = f"{field} {stream!r} must be 1-64 letters, digits, '-' or '_'"
        raise InvalidAccessRequest(msg, field=field)
    return stream


def _checked_names(settings: Settings) -> tuple[str, str]:
    _checked_stream(settings.stream, "NATS_STREAM")
    if not wire.is_prefix(settings.subject_prefix):
        msg = (
            f"NATS_SUBJECT_PREFIX {settings.subject_prefix!r} must be 1-32 letters, digits,"
            " '-' or '_'"
        )
        raise InvalidAccessRequest(msg, field="NATS_SUBJECT_PREFIX")
    return settings.stream, settings.subject_prefix


def _new_user(
    data_dir: Path,
    registry: _Registry,
    name: str,
    role: Role,
    inbox: str,
    stream: str,
    prefix: str,
    agency: str | None = None,
    *,
    ledger_stream: str | None = None,
) -> Credentials:
    """A fresh password: the credentials file first, then its hash in the registry."""
    password = secrets.token_urlsafe(32)
    credentials = Credentials(
        user=name,
        password=password,
        inbox_prefix=inbox,
        stream=stream,
        subject_prefix=prefix,
        consumer=name if role == "agency" else None,
    )
    _write_private(_credentials_path(data_dir, name), _encoder.encode(credentials))
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(_BCRYPT_ROUNDS)).decode()
    registry.put(
        _User(
            name=name,
            role=role,
            password_hash=hashed,
            stream=stream,
            subject_prefix=prefix,
            agency=agency,
            ledger_stream=ledger_stream,
        )
    )
    return credentials


def _matching_credentials(data_dir: Path, user: _User | None) -> Credentials | None:
    """The user's credentials file, if it exists and its password matches the hash."""
    if user is None:
        return None
    try:
        credentials = load_credentials(_credentials_path(data_dir, user.name))
    except (CredentialsNotFound, InvalidCredentials):
        return None
    if not bcrypt.checkpw(credentials.password.encode(), user.password_hash.encode()):
        return None
    return credentials


def _credentials_path(data_dir: Path, user: str) -> Path:
    return Path(data_dir) / CREDENTIALS_DIR / f"{user}.json"


def _read_registry(data_dir: Path) -> _Registry:
    path = Path(data_dir) / REGISTRY_FILE
    try:
        return _registry_decoder.decode(path.read_bytes())
    except FileNotFoundError:
        return _Registry()
    except (OSError, msgspec.DecodeError) as e:
        raise InvalidCredentials(f"access registry {path} cannot be read: {e}") from e


def private_data_dir(data_dir: Path) -> Path:
    """Create ``data_dir`` mode 0700 if missing; warn (never chmod) when an existing one is
    open to its group or others, since a user's own directory is theirs to change."""
    data_dir = Path(data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "data_dir_not_private",
            data_dir=str(data_dir),
            mode=oct(mode),
            rule="the data dir holds personal data and credentials: chmod 700 it",
        )
    return data_dir


@contextlib.contextmanager
def _locked_registry(data_dir: Path) -> Iterator[_Registry]:
    """The registry, read and written back under an exclusive lock (several ``ledger``
    commands may add users at once)."""
    data_dir = private_data_dir(data_dir)
    fd = os.open(data_dir / "access.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        registry = _read_registry(data_dir)
        yield registry
        _write_private(data_dir / REGISTRY_FILE, _encoder.encode(registry))
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically, readable by its owner only (and its directory 0700
    when it is the credentials directory)."""
    if path.parent.name == CREDENTIALS_DIR:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, data)
