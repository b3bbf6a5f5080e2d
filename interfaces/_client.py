"""The command line's HTTP client: asks a ledger service the questions and sends it commands.

:class:`Client` speaks to the HTTP API (``docs/http.md``) with a bearer token:
``GET <url><query path>?<filters>&as_of=<ISO>&format=json`` for a question, following
the ``next`` cursor of a list (``{"items": [...], "next": cursor}``) until the list
ends, ``POST <url>/commands/<Tag>`` for a command, and ``GET <url>/log/...`` for the Merkle
log's key, checkpoints and proofs (``ledger log``). An answer is decoded back into
the very type the views return (:attr:`Query.returns`), so the command line prints the
same rows whether it asked a service or the views on its own data dir.

Failures are told apart, because a shell user acts on them differently: the service
cannot be reached (:class:`ServiceUnreachable`), it refused the token or the caller
(:class:`ServiceRefused`, 401/403, with the service's reason), or it answered another
problem (:class:`ServiceProblem`: 400 with the field, 404, 409, 503 ...).

:func:`running_service` finds the ``ledger serve`` that runs on the data dir.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from interfaces.queries import Query
from ledger.application import Receipt
from ledger.errors import LedgerError
from ledger.signing import sign_command
from runtime.discovery import read_service
from runtime.settings import Settings
from schemas import Command, RecordedBy
from schemas.access import TokenIdentity
from schemas.wire import HDR_SIGNATURE

__all__ = [
    "KEYSET_FIELDS",
    "PAGE",
    "Client",
    "ServiceError",
    "ServiceProblem",
    "ServiceRefused",
    "ServiceUnreachable",
    "identity_recorded_by",
    "query_params",
    "running_service",
]

_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


class ServiceError(LedgerError):
    """Raised when a ledger service does not do what the command line asked."""


class ServiceUnreachable(ServiceError, ConnectionError):
    """Raised when nothing answers at the service's URL (refused, timed out, not HTTP)."""


class ServiceRefused(ServiceError, PermissionError):
    """Raised when the service refuses the token (401) or what it allows (403)."""

    def __init__(self, message: str, *, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ServiceProblem(ServiceError):
    """Raised when the service answers a problem other than a refusal (400, 404, 409, 5xx)."""

    def __init__(self, message: str, *, status: int, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def running_service(settings: Settings) -> str | None:
    """The URL of the ``ledger serve`` that holds ``settings.data_dir``, else None.

    :func:`runtime.discovery.read_service`: its ``service.json``, written by a process
    that still holds the data dir's service lock and is alive. ``/health`` is not asked
    here: a service that does not answer is reported as unreachable, naming its URL,
    rather than passed by for the data dir it holds.
    """
    info = read_service(settings.data_dir)
    return None if info is None else info.url.rstrip("/")


#: The filters of a keyset-paged question (the cases) that its pages set instead.
KEYSET_FIELDS: Final = ("after", "limit")
#: The largest page a service answers.
PAGE: Final = 1000


def query_params(query: Query, filters: msgspec.Struct) -> dict[str, str]:
    """``filters`` as query-string parameters: ISO dates, enum values, ``true``/``false``
    (a keyset-paged question's ``after`` and ``limit`` are its pages', not filters)."""
    skip = KEYSET_FIELDS if query.keyset is not None else ()
    params: dict[str, str] = {}
    for name, value in msgspec.to_builtins(filters).items():
        if value is None or name in skip:
            continue
        params[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return params


class Client:
    """A ledger service at ``url`` (``http://127.0.0.1:8080``), asked with ``token``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        host = urlsplit(self.url).hostname or ""
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
            # A proxy from the environment is not for a service on this machine.
            trust_env=host not in _LOOPBACK,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ask(
        self,
        query: Query,
        *,
        partnership: str,
        filters: msgspec.Struct,
        case: str | None = None,
        as_of: datetime | None = None,
    ) -> Any:
        """``query``'s answer, decoded into the type the views return (a list: every page)."""
        path = query.path.format(partnership=partnership, case=case)
        params = query_params(query, filters)
        if as_of is not None:
            params["as_of"] = as_of.isoformat()
        params["format"] = "json"
        if not query.is_list:
            return msgspec.json.decode(self._get(path, params), type=query.returns)
        page_type = msgspec.defstruct(
            "Page", [("items", query.returns), ("next", str | None, None)], kw_only=True
        )
        params["limit"] = str(PAGE)
        items: list[Any] = []
        while True:
            page: Any = msgspec.json.decode(self._get(path, params), type=page_type)
            items.extend(page.items)
            if page.next is None:
                return items
            params = {"cursor": page.next, "format": "json", "limit": str(PAGE)}

    def report(self, partnership: str, year: str, form: str) -> bytes:
        """``GET /partnerships/<p>/report?year=<year>&format=<form>``: the yearly report's bytes."""
        path = f"/partnerships/{partnership}/report"
        return self._get(path, {"year": year, "format": form})

    def log(self, path: str, params: Mapping[str, str] | None = None) -> bytes:
        """``GET /log/<path>``: the Merkle log's key, a checkpoint note or a proof, as bytes."""
        return self._get(f"/log/{path}", params or {})

    def record(self, tag: str, body: bytes, *, signature: str | None = None) -> Receipt:
        """``POST /commands/<tag>`` with the command's JSON ``body``: the service's receipt.

        ``signature`` (:func:`ledger.signing.sign_command`, or :meth:`record_signed`) goes
        as the detached ``Ledger-Signature`` header.
        """
        headers = {HDR_SIGNATURE: signature} if signature is not None else None
        response = self._send("POST", f"/commands/{tag}", content=body, headers=headers)
        return msgspec.json.decode(response.content, type=Receipt)

    def whoami(self) -> TokenIdentity:
        """``GET /token``: what this client's token is bound to, and the service's prefix."""
        return msgspec.json.decode(self._send("GET", "/token").content, type=TokenIdentity)

    def record_signed(
        self,
        command: Command,
        *,
        key: Ed25519PrivateKey,
        key_id: str,
        recorded_by: RecordedBy | None = None,
        prefix: str | None = None,
    ) -> Receipt:
        """Sign ``command`` with the agency's ``key`` and record it. The signature covers
        ``recorded_by`` and the subject under ``prefix``; the service records as the token's
        agency and actor under its own prefix, so both default to what :meth:`whoami` says."""
        if recorded_by is None or prefix is None:
            identity = self.whoami()
            if recorded_by is None:
                recorded_by = identity_recorded_by(identity)
            prefix = prefix or identity.subject_prefix
        signature = sign_command(command, recorded_by, key, key_id, prefix=prefix)
        tag = type(command).__struct_config__.tag
        return self.record(str(tag), msgspec.json.encode(command), signature=signature)

    def _get(self, path: str, params: Mapping[str, str]) -> bytes:
        return self._send("GET", path, params=dict(params)).content

    def _send(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        sent = {"Content-Type": "application/json"} if method == "POST" else {}
        sent.update(headers or {})
        try:
            response = self._http.request(method, path, headers=sent, **kwargs)
        except httpx.TransportError as error:
            raise ServiceUnreachable(
                f"cannot reach the ledger service at {self.url}: {_reason(error)}"
            ) from None
        if response.is_success:
            return response
        raise _problem(self.url, response)


def identity_recorded_by(identity: TokenIdentity) -> RecordedBy:
    """Who a token records as; :class:`ServiceError` for a token that records nothing."""
    if identity.agency is None or identity.actor is None:
        msg = f"a {identity.role} token records nothing: it has no agency and actor to sign as"
        raise ServiceError(msg)
    return RecordedBy(agency=identity.agency, actor=identity.actor)


def _reason(error: httpx.TransportError) -> str:
    cause = error.__cause__ or error.__context__
    return str(error) or (str(cause) if cause else "") or type(error).__name__


def _problem(url: str, response: httpx.Response) -> ServiceError:
    """The error a problem-details (or any other non-2xx) response stands for."""
    status = response.status_code
    detail: str | None = None
    field: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail") if isinstance(body.get("detail"), str) else None
        field = body.get("field") if isinstance(body.get("field"), str) else None
    reason = detail or response.reason_phrase or "no reason given"
    if status == 401:
        return ServiceRefused(
            f"the ledger service at {url} refused the token (401): {reason}",
            status=status,
            reason=reason,
        )
    if status == 403:
        return ServiceRefused(
            f"the ledger service at {url} refused the request (403): {reason}",
            status=status,
            reason=reason,
        )
    where = f" (field {field})" if field else ""
    return ServiceProblem(
        f"the ledger service at {url} answered {status}{where}: {reason}",
        status=status,
        field=field,
    )
