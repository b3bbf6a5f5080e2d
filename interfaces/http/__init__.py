"""The ledger's HTTP API (Litestar): see :mod:`interfaces.http._app` and ``docs/http.md``."""

from __future__ import annotations

from interfaces.http._app import COMMAND_PATH, create_app
from interfaces.http._permissions import MAY_SEND
from interfaces.http._reads import AccessRecorder, AsOfViews

__all__ = ["COMMAND_PATH", "MAY_SEND", "AccessRecorder", "AsOfViews", "create_app"]
