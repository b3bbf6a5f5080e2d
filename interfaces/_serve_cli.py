"""``ledger serve``: the HTTP API (:mod:`interfaces.http`) on uvicorn, until SIGINT/SIGTERM.

It opens the service from the environment's settings (starting the embedded
nats-server when no ``NATS_URL`` is set) and listens on ``LEDGER_HTTP_HOST``
(``127.0.0.1``) : ``LEDGER_HTTP_PORT`` (``8080``). A signal lets the requests in flight
finish, then closes the ledger and exits 0, without a traceback. Keeping the views
current and delivering to agencies are still separate commands (``ledger views follow``,
``ledger delivery run``).
"""

from __future__ import annotations

import signal
from types import FrameType

from rich.console import Console

from runtime.settings import Settings

__all__ = ["serve"]


def _ignore(signum: int, frame: FrameType | None) -> None:
    """What a signal does once uvicorn has shut down on it: nothing more."""


def serve() -> None:
    """Serve the HTTP API (commands, /health, /ready, OpenAPI at /schema) until Ctrl-C."""
    import uvicorn

    from interfaces.http import create_app
    from runtime.service import open_service
    from runtime.tokens import TokenStore

    settings = Settings.from_env()
    with open_service(settings) as service:
        app = create_app(service.ledger, TokenStore(settings.data_dir))
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,  # structlog owns logging; uvicorn's own lines stay out
            log_level="warning",
            access_log=False,
            server_header=False,
        )
        # uvicorn shuts down on SIGINT/SIGTERM, restores the handlers it found and raises
        # the signal again: these handlers make that second delivery a no-op, so leaving
        # closes the ledger (and the embedded server) and exits 0, not with a traceback.
        signal.signal(signal.SIGINT, _ignore)
        signal.signal(signal.SIGTERM, _ignore)
        Console(stderr=True).print(
            f"serving on http://{settings.http_host}:{settings.http_port}"
            " (OpenAPI at /schema); Ctrl-C stops",
            markup=False,
        )
        uvicorn.Server(config).run()
