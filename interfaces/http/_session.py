"""Signing in to the web pages: a token once, then a session cookie.

A person signs in by posting an API token in a form (:mod:`interfaces.http._pages`).
The session lives in the cookie itself, not in the process: Litestar's client-side
session, encrypted and authenticated with AES-GCM under a key derived from the data
dir's secret key (:func:`runtime.secret_key.secret_key`). It holds only the token's id
and when the person signed in. So a restart signs nobody out, and several ``ledger
serve --no-workers`` processes behind one balancer (given the same ``pages.key``, as
they are given the same ``tokens.json``) each read the others' sessions: no
per-process state.

The cookie is ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, and ``Secure`` when the
request came over TLS (:func:`secure_cookies_over_tls`). Each request looks the token up
again (:func:`signed_in`), so a token revoked since ends its session on the next
request; a session signed in more than :data:`SESSION_MAX_AGE_S` ago has ended,
however recently it was used. A cookie cannot be planted: one the key did not seal is
no session. Signing out clears the browser's cookie; a copy of it taken before stays
good until its time is up unless the token is revoked (revoke the token of a lost
device).

Every form carries a CSRF token (Litestar's CSRF middleware, signed with another key
derived from the same secret); a POST without a matching one is refused (403) before
its handler runs.
"""

from __future__ import annotations

import time
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.client_side import (
    ClientSideSessionBackend,
    CookieBackendConfig,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from runtime.tokens import TokenRecord, TokenStore

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE_S",
    "middleware",
    "secure_cookies_over_tls",
    "signed_in",
    "start_session",
]

SESSION_COOKIE: Final = "ledger_session"
CSRF_COOKIE: Final = "ledger_csrf"
#: A session lasts a working day at most from its sign-in; then the token is asked for again.
SESSION_MAX_AGE_S: Final = 8 * 3600
_TOKEN_KEY: Final = "token"  # noqa: S105  # the session key holding a token's id, no secret
_SINCE_KEY: Final = "since"  # when the session was signed in (Unix seconds)


def _derived(secret: str, purpose: bytes) -> bytes:
    """A 256-bit key for ``purpose`` from the data dir's secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode("ascii")
    )


def secure_cookies_over_tls(app: ASGIApp) -> ASGIApp:
    """Mark every cookie ``Secure`` on a request that came over TLS (scheme ``https``)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("scheme") != "https":  # http and websocket scopes both have one
            await app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, _secure(value) if name.lower() == b"set-cookie" else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await app(scope, receive, send_secure)

    return middleware


def _secure(cookie: bytes) -> bytes:
    attributes = [part.strip().lower() for part in cookie.split(b";")[1:]]
    return cookie if b"secure" in attributes else cookie + b"; Secure"


def middleware(secret: str) -> list[Any]:
    """The pages' middleware, outermost first: Secure over TLS, the session, CSRF."""
    session = CookieBackendConfig(
        secret=_derived(secret, b"ledger pages session"),
        key=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        path="/",
    )
    csrf = CSRFConfig(
        secret=_derived(secret, b"ledger pages csrf").hex(),
        cookie_name=CSRF_COOKIE,
        cookie_path="/",
        cookie_httponly=True,
        cookie_samesite="strict",
        header_name="x-csrftoken",
    )

    def sessions(app: ASGIApp) -> ASGIApp:
        # Not ``session.middleware``: a Router deep-copies what it is given, and the
        # backend's AES-GCM cipher cannot be copied. A function is passed as it is.
        return SessionMiddleware(app=app, backend=ClientSideSessionBackend(config=session))

    return [
        secure_cookies_over_tls,
        sessions,
        DefineMiddleware(CSRFMiddleware, config=csrf),
    ]


def start_session(connection: ASGIConnection[Any, Any, Any, Any], token: TokenRecord) -> None:
    """Sign ``token`` in: a new session holding its id and the time of signing in."""
    connection.set_session({_TOKEN_KEY: token.id, _SINCE_KEY: int(time.time())})


def signed_in(
    connection: ASGIConnection[Any, Any, Any, Any], tokens: TokenStore
) -> tuple[TokenRecord | None, str | None]:
    """The session's token record, or ``None`` and why not (``None``: never signed in).

    A token revoked (or gone) since the sign-in ends the session here.
    """
    session = connection.session if "session" in connection.scope else {}
    ident = session.get(_TOKEN_KEY) if isinstance(session, dict) else None
    if not ident:
        return None, None
    since = session.get(_SINCE_KEY)
    if not isinstance(since, int) or time.time() - since > SESSION_MAX_AGE_S:
        connection.clear_session()
        return None, "expired"
    record = next((t for t in tokens.list() if t.id == ident), None)
    if record is None or record.revoked_at is not None:
        connection.clear_session()
        return None, "revoked"
    return record, None
