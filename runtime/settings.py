"""The ledger's settings: read from the environment once, into one frozen object.

Nothing else in the code base reads the environment; everything receives what
it needs from :class:`Settings` via :mod:`runtime.service` and :mod:`runtime.bootstrap`.

| variable | default | meaning |
|---|---|---|
| ``LEDGER_DATA_DIR`` | ``./.ledger`` | where the embedded nats-server keeps its store |
| ``NATS_URL`` | unset | a NATS server to use; unset starts the embedded one |
| ``NATS_CREDENTIALS`` | unset | a credentials file to log in to the ``NATS_URL`` server with |
| ``LEDGER_AUTH`` | ``1`` | ``1`` the embedded server enforces users and permissions; ``0`` not |
| ``NATS_STREAM`` | ``LEDGER`` | the stream that is the ledger |
| ``NATS_SUBJECT_PREFIX`` | ``ledger`` | first token of every ledger subject |
| ``NATS_REPLICAS`` | ``1`` | stream replicas (3 on a cluster) |
| ``NATS_TIMEOUT`` | ``5`` | seconds to wait for an acknowledgement |
| ``NATS_WRITE_RETRY_S`` | ``5`` | seconds a save keeps retrying without an acknowledgement |
| ``NATS_POOL_SIZE`` | ``32`` | read connections (event loops) a process may open |
| ``LEDGER_VIEWS_DSN`` | unset | a PostgreSQL database for the views; unset keeps them in SQLite |
| ``LEDGER_VIEWS_PATH`` | ``<data dir>/views.sqlite`` | the SQLite file of the views |
| ``LEDGER_RULES_FILE`` | unset | extra timescale rules of the partnership (TOML) |
| ``LEDGER_LOG_LEVEL`` | ``INFO`` | log level |
| ``LEDGER_LOG_JSON`` | unset | ``1`` JSON lines, ``0`` console; unset decides by terminal |
| ``LEDGER_HTTP_HOST`` | ``127.0.0.1`` | where ``ledger serve`` listens (loopback by default) |
| ``LEDGER_HTTP_PORT`` | ``8080`` | the port ``ledger serve`` listens on |
| ``LEDGER_READY_MAX_LAG`` | ``1000`` | events the views may lag while ``/ready`` says 200 |
| ``LEDGER_READ_WAIT_S`` | ``5`` | seconds a GET with ``after=SEQ`` waits for the views (then 504) |
| ``LEDGER_LOG_ORIGIN`` | ``ledger.local/<stream>`` | the Merkle log's origin and its key's name |
| ``LEDGER_CHECKPOINT_EVERY`` | ``1000`` | events between two signed checkpoints |
| ``LEDGER_CHECKPOINT_SECONDS`` | ``10`` | seconds after which a grown log is checkpointed anyway |

With ``LEDGER_AUTH`` on (anything but ``0``/``false``/``no``/``off``), the embedded server
lets in only the users of ``<data dir>/access.json`` (see :mod:`runtime.access`): the ledger
itself logs in as ``ledger``, agencies with the credentials ``ledger agency add`` writes.
``0`` runs it open (as ``EmbeddedNats`` does by default). ``NATS_CREDENTIALS`` (a file
in the format ``ledger agency add`` writes) applies only to a ``NATS_URL`` server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

__all__ = ["Settings"]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything configurable about one ledger process."""

    data_dir: Path = Path(".ledger")
    nats_url: str | None = None
    nats_credentials: Path | None = None
    auth: bool = True
    stream: str = "LEDGER"
    subject_prefix: str = "ledger"
    replicas: int = 1
    timeout_s: float = 5.0
    write_retry_s: float = 5.0
    pool_size: int = 32
    views_dsn: str | None = None
    views_path: Path | None = None
    rules_file: Path | None = None
    log_level: str = "INFO"
    log_json: bool | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    ready_max_lag: int = 1000
    read_wait_s: float = 5.0
    log_origin: str | None = None
    checkpoint_every: int = 1000
    checkpoint_seconds: float = 10.0
    #: The hash chain on every aggregate subject (docs/proofs.md); off only to measure it.
    proofs: bool = True
    #: ``subject_prefix`` was given (``NATS_SUBJECT_PREFIX``), not defaulted: a client that
    #: signs for a remote service pins it (``ledger record --key``).
    subject_prefix_given: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (the process environment by default)."""
        env = os.environ if environ is None else environ
        log_json = env.get("LEDGER_LOG_JSON")
        return cls(
            data_dir=Path(env.get("LEDGER_DATA_DIR", ".ledger")),
            nats_url=env.get("NATS_URL") or None,
            nats_credentials=Path(env["NATS_CREDENTIALS"]) if env.get("NATS_CREDENTIALS") else None,
            # Anything but an explicit "off" keeps authentication on.
            auth=env.get("LEDGER_AUTH", "1").strip().lower() not in {"0", "false", "no", "off"},
            stream=env.get("NATS_STREAM", "LEDGER"),
            subject_prefix=env.get("NATS_SUBJECT_PREFIX", "ledger"),
            subject_prefix_given=bool(env.get("NATS_SUBJECT_PREFIX")),
            replicas=int(env.get("NATS_REPLICAS", "1")),
            timeout_s=float(env.get("NATS_TIMEOUT", "5")),
            write_retry_s=float(env.get("NATS_WRITE_RETRY_S", "5")),
            pool_size=int(env.get("NATS_POOL_SIZE", "32")),
            views_dsn=env.get("LEDGER_VIEWS_DSN") or None,
            views_path=Path(env["LEDGER_VIEWS_PATH"]) if env.get("LEDGER_VIEWS_PATH") else None,
            rules_file=Path(env["LEDGER_RULES_FILE"]) if env.get("LEDGER_RULES_FILE") else None,
            log_level=env.get("LEDGER_LOG_LEVEL", "INFO"),
            log_json=None if log_json is None else log_json.lower() in {"1", "true", "yes"},
            http_host=env.get("LEDGER_HTTP_HOST", "127.0.0.1"),
            http_port=int(env.get("LEDGER_HTTP_PORT", "8080")),
            ready_max_lag=int(env.get("LEDGER_READY_MAX_LAG", "1000")),
            read_wait_s=float(env.get("LEDGER_READ_WAIT_S", "5")),
            log_origin=env.get("LEDGER_LOG_ORIGIN") or None,
            checkpoint_every=int(env.get("LEDGER_CHECKPOINT_EVERY", "1000")),
            checkpoint_seconds=float(env.get("LEDGER_CHECKPOINT_SECONDS", "10")),
            # Anything but an explicit "off" keeps the proofs on.
            proofs=env.get("LEDGER_PROOFS", "1").strip().lower() not in {"0", "false", "no", "off"},
        )

    @property
    def origin(self) -> str:
        """The Merkle log's origin (docs/proofs.md, "Checkpoints"): ``LEDGER_LOG_ORIGIN``,
        else ``ledger.local/<stream>``."""
        return self.log_origin or f"ledger.local/{self.stream}"

    @property
    def agency_keys_dir(self) -> Path:
        """``<data dir>/keys/agencies``: the keys the service holds for agencies
        (``custody: service``), ``<agency>/<key_id>.key``, 0600 in 0700 directories."""
        return self.data_dir / "keys" / "agencies"

    @property
    def views_file(self) -> Path:
        """The SQLite file of the views (used when no ``views_dsn`` is set)."""
        return self.views_path if self.views_path is not None else self.data_dir / "views.sqlite"

    def persistence_env(
        self, nats_url: str, *, inbox_prefix: str | None = None, create_stream: bool = True
    ) -> dict[str, str]:
        """The eventsourcing environment that selects and configures the NATS persistence.

        ``inbox_prefix`` is for a user that may read only its own inboxes; a reader that
        may not create the stream passes ``create_stream=False``.
        """
        extra = {} if inbox_prefix is None else {"NATS_INBOX_PREFIX": inbox_prefix}
        if not create_stream:
            extra["CREATE_TABLE"] = "n"
        return extra | {
            "PERSISTENCE_MODULE": "ledger.nats",
            "NATS_URL": nats_url,
            "NATS_STREAM": self.stream,
            "NATS_SUBJECT_PREFIX": self.subject_prefix,
            "NATS_REPLICAS": str(self.replicas),
            "NATS_TIMEOUT": str(self.timeout_s),
            "NATS_WRITE_RETRY_S": str(self.write_retry_s),
            "NATS_POOL_SIZE": str(self.pool_size),
            "LEDGER_PROOFS": "y" if self.proofs else "n",
            "LEDGER_AGENCY_KEYS_DIR": str(self.agency_keys_dir),
        }
