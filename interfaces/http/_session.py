"""Signing in to the web pages: a token once, then a session cookie.

A person signs in by posting an API token in a form (:mod:`interfaces.http._pages`);
the service keeps a session on the server (Litestar's server-side session, in memory:
a restart of ``ledger serve`` signs everyone out) that holds only the token's id, and
gives the browser a random session id in a cookie that is ``HttpOnly``, ``SameSite=Strict``,
``Path=/``, and ``Secure`` when the request came over TLS (:func:`secure_cookies_over_tls`).
Each request looks the token up again (:func:`signed_in`), so a token revoked since
ends its session on the next request. Signing in always starts a new session id (one
planted before cannot be taken over).

Every form carries a CSRF token (Litestar's CSRF middleware, signed with the data dir's
secret key: :func:`runtime.secret_key.secret_key`); a POST without a matching one is
refused (403) before its handler runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.types import ASGIApp, Message, Receive, Scope, ScopeSession, Send

from runtime.tokens import TokenRecord, TokenStore

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "middleware",
    "secure_cookies_over_tls",
    "signed_in",
    "start_session",
]

SESSION_COOKIE: Final = "ledger_session"
CSRF_COOKIE: Final = "ledger_csrf"
#: A session lasts a working day at most; then the token is asked for again.
SESSION_MAX_AGE_S: Final = 8 * 3600
_TOKEN_KEY: Final = "token"  # noqa: S105  # the session key holding a token's id, no secret
_ROTATE: Final = "ledger.new_session"
_NEW_ID: Final = "ledger.new_session_id"


class _Backend(ServerSideSessionBackend):
    """Litestar's server-side sessions, with a fresh session id at each sign-in."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        scope: Any = connection.scope
        if not scope.get(_ROTATE):
            return super().get_session_id(connection)
        if _NEW_ID not in scope:
            scope[_NEW_ID] = self.generate_session_id()
        return str(scope[_NEW_ID])

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        scope: Any = connection.scope
        old = connection.cookies.get(self.config.key)
        if isinstance(scope_session, dict) and not scope_session and not old:
            return  # nobody signed in and nothing to end: no session is made for a visit
        if scope.get(_ROTATE) and old:
            await self.delete(old, store=self.config.get_store_from_app(scope["app"]))
        await super().store_in_message(scope_session, message, connection)


@dataclass
class _SessionConfig(ServerSideSessionConfig):
    _backend_class = _Backend


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
    session = _SessionConfig(
        key=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        path="/",
        store="page_sessions",
    )
    csrf = CSRFConfig(
        secret=secret,
        cookie_name=CSRF_COOKIE,
        cookie_path="/",
        cookie_httponly=True,
        cookie_samesite="strict",
        header_name="x-csrftoken",
    )
    return [
        secure_cookies_over_tls,
        session.middleware,
        DefineMiddleware(CSRFMiddleware, config=csrf),
    ]


def start_session(connection: ASGIConnection[Any, Any, Any, Any], token: TokenRecord) -> None:
    """Sign ``token`` in: a new session (a new id) holding its id."""
    scope: Any = connection.scope
    scope[_ROTATE] = True
    connection.set_session({_TOKEN_KEY: token.id})


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
    record = next((t for t in tokens.list() if t.id == ident), None)
    if record is None or record.revoked_at is not None:
        connection.clear_session()
        return None, "revoked"
    return record, None
