"""``ledger serve``: the HTTP API (:mod:`interfaces.http`) on uvicorn, with the workers.

One process: it claims the data dir (``<data dir>/service.json``, see
:mod:`runtime.discovery`; a second ``ledger serve`` there is refused naming the first's
URL), binds ``LEDGER_HTTP_HOST`` (``127.0.0.1``) : ``LEDGER_HTTP_PORT`` (``8080``), opens
the service (starting the embedded nats-server when no ``NATS_URL`` is set), starts the
workers (:mod:`runtime.workers`: the views' runner and delivery to the agencies in a child
process of their own, :mod:`runtime.worker_process`, so that they do not take the GIL
from the requests; the Merkle log's checkpointer on a thread) and serves until
SIGINT/SIGTERM.
``--no-workers`` serves HTTP alone, for several processes behind one balancer over the same
stream and PostgreSQL views (and the one checkpointer of the data dir: the process with
workers).
``--demo`` first loads the synthetic partnership and prints one token per role
(:mod:`runtime.demo_partnership`).

On SIGINT/SIGTERM uvicorn stops accepting and lets the requests in flight finish; then the
workers finish their batch and stop, the ledger closes (and the embedded server stops),
``service.json`` is removed, and the process exits 0 without a traceback.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import msgspec
import typer
from rich.console import Console

from interfaces._progress import progress_bar
from ledger.errors import LedgerError
from runtime.settings import Settings

if TYPE_CHECKING:
    import uvicorn
    from litestar import Litestar

    from runtime.discovery import ServiceClaim
    from runtime.service import Service
    from runtime.tokens import Role, TokenStore
    from runtime.worker_process import WorkerProcess
    from runtime.workers import Workers

__all__ = ["serve"]

console = Console(stderr=True)


class _Interrupted(BaseException):
    """A signal arrived before serving began: stop starting (not an error)."""


class _Signals:
    """SIGINT/SIGTERM: before serving, a request that the start checks for at each step
    (:meth:`check`); once serving, they ask uvicorn to exit (uvicorn installs its own
    handlers while it runs, and raises the signal again once it has shut down: by then
    there is nothing more to do)."""

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self.requested = False
        self.done = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.done:
            return
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True

    def check(self) -> None:
        """Raise :class:`_Interrupted` if a signal asked to stop."""
        if self.requested:
            raise _Interrupted


def serve(
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="First load a synthetic partnership (a few thousand events; once per data"
            " dir) and print one API token per role.",
        ),
    ] = False,
    no_workers: Annotated[
        bool,
        typer.Option(
            "--no-workers",
            help="Serve HTTP only: another process keeps the views current and delivers"
            " (several processes behind one balancer).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API and keep the views current and delivery running, until Ctrl-C.

    /ready answers 200 once the views are within LEDGER_READY_MAX_LAG events of the stream.

    The API's OpenAPI document is at /schema; service.json in the data dir names the URL.
    """
    from runtime.discovery import ServiceClaim, ServiceRunning, service_url

    settings = Settings.from_env()
    if demo and settings.log_level == Settings().log_level:
        # A person trying the demo reads the bar, the URL and the tokens, not a log line
        # per event loaded; LEDGER_LOG_LEVEL set to anything but INFO still wins.
        settings = msgspec.structs.replace(settings, log_level="WARNING")
    signals = _Signals()
    signal.signal(signal.SIGINT, signals)
    signal.signal(signal.SIGTERM, signals)
    claim = ServiceClaim(settings.data_dir)
    try:
        try:
            claim.acquire()
        except ServiceRunning as error:
            console.print(f"error: {error}", markup=False, style="bold red", soft_wrap=True)
            raise typer.Exit(1) from None
        try:
            signals.check()
            with _listening(settings) as sock:
                port = sock.getsockname()[1]
                url = service_url(settings.http_host, port)
                _run(settings, sock, url, claim, signals, demo=demo, workers=not no_workers)
        except LedgerError as error:
            console.print(f"error: {error}", markup=False, style="bold red", soft_wrap=True)
            raise typer.Exit(1) from None
        finally:
            claim.release()
    except _Interrupted:
        signals.done = True
        console.print("stopped before serving", markup=False)


@contextlib.contextmanager
def _listening(settings: Settings) -> Iterator[socket.socket]:
    """The bound listening socket (bound before anything starts, so that a port in use is
    said at once); uvicorn listens on it.

    Made with ``IPPROTO_TCP`` named: asyncio sets ``TCP_NODELAY`` on the connections it
    accepts only when their protocol says TCP, and a socket made with the default
    protocol (0) does not; without it, every response after the first on a kept-alive
    connection (a browser's) waited about 40 ms for the client's delayed ACK (Nagle's
    algorithm holding the body back behind the headers)."""
    family = socket.AF_INET6 if ":" in settings.http_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.http_host, settings.http_port))
        except OSError as error:
            console.print(
                f"error: cannot listen on {settings.http_host}:{settings.http_port}"
                f" ({error.strerror}); set LEDGER_HTTP_PORT to a free port",
                markup=False,
                style="bold red",
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        yield sock
    finally:
        sock.close()


def _run(
    settings: Settings,
    sock: socket.socket,
    url: str,
    claim: ServiceClaim,
    signals: _Signals,
    *,
    demo: bool,
    workers: bool,
) -> None:

    from interfaces.http import create_app
    from runtime.allocator import fix_thresholds
    from runtime.bootstrap import delivery_step
    from runtime.readiness import Readiness
    from runtime.secret_key import secret_key
    from runtime.service import open_service
    from runtime.tokens import TokenStore

    # Before any thread allocates: the arenas of the threads that answer requests give
    # back what they free instead of keeping more as the answers grow (runtime.allocator).
    fix_thresholds()
    tokens = TokenStore(settings.data_dir)
    steps = [delivery_step(settings)] if workers else []
    with open_service(settings, admin_steps=steps) as service:
        signals.check()
        demo_tokens = _load_demo(service, tokens, signals) if demo else None
        signals.check()
        running = _workers(service) if workers else None
        children = _worker_process(settings) if workers else None
        try:
            views = service.views.runner(service.ledger)  # read positions only: never run
            readiness = Readiness(
                views.stream_position,
                views.positions,
                max_lag=settings.ready_max_lag,
                failed_workers=_failed(running, children),
            )
            app = create_app(
                service.ledger,
                tokens,
                readiness=readiness,
                views=service.views,
                access_log=service.access_log,
                read_wait_s=settings.read_wait_s,
                feed=service.agency_feed,
                pages_secret=secret_key(settings.data_dir),
                merkle_log=service.merkle_log,
                bundles=service.bundle,
            )
            server = _server(_config(app), on_exit=service.agency_feed.close)
            claim.publish(url, workers=workers)
            console.print(
                f"serving on {url} (OpenAPI at /schema, web pages at /sign-in)"
                f"{'' if workers else ', without workers'}; Ctrl-C stops",
                markup=False,
            )
            if demo_tokens is not None:  # last: what a person trying the demo opens first
                _print_tokens(url, demo_tokens)
            signals.server = server  # from here a signal asks uvicorn to exit
            signals.check()  # one that came before
            server.run(sockets=[sock])
            signals.done = True
        finally:
            if children is not None:
                children.stop()
            if running is not None:
                running.stop()
    console.print("stopped", markup=False)


def _config(app: Litestar) -> uvicorn.Config:
    """uvicorn's settings for ``app``: httptools and uvloop ("auto" picks them when
    installed: they are dependencies; h11 and asyncio's loop otherwise). With h11 and
    asyncio's loop the main thread's parsing and loop turns capped 16 concurrent writers
    at about half the rate of the same commands in process."""
    import uvicorn

    return uvicorn.Config(
        app,
        http="auto",
        loop="auto",
        log_config=None,  # structlog owns logging; uvicorn's own lines stay out
        log_level="warning",
        access_log=False,
        server_header=False,
    )


def _server(config: uvicorn.Config, *, on_exit: Callable[[], None]) -> uvicorn.Server:
    """uvicorn's server, calling ``on_exit`` (ending the agencies' event streams) as soon
    as it is asked to exit: uvicorn waits for every open connection before it stops, and
    an event stream stays open until its client leaves."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            on_exit()
            super().handle_exit(sig, frame)

    return Server(config)


def _workers(service: Service) -> Workers:
    """The workers on threads of this process: the checkpointer."""
    from runtime.workers import Worker, Workers

    running = Workers([Worker("checkpointer", service.checkpointer())])
    running.start()
    return running


def _worker_process(settings: Settings) -> WorkerProcess:
    """The views' and delivery workers, in a child process (:mod:`runtime.worker_process`)."""
    from runtime.worker_process import WorkerProcess

    children = WorkerProcess(settings, ("views", "delivery"))
    children.start()
    return children


def _failed(
    running: Workers | None, children: WorkerProcess | None
) -> Callable[[], dict[str, str]]:
    """Every worker that stopped on an error, in this process or the child."""

    def failed() -> dict[str, str]:
        out = running.failed() if running is not None else {}
        if children is not None:
            out.update(children.failed())
        return out

    return failed


def _load_demo(service: Service, tokens: TokenStore, signals: _Signals) -> dict[Role, str]:
    from runtime.demo_partnership import (
        DEMO_EVENTS,
        delegate_demo_keys,
        demo_loaded,
        demo_tokens,
        load_demo,
    )

    if demo_loaded(service.ledger):
        console.print("the demo partnership is on this ledger already: not loading it again")
    else:
        with progress_bar(console, "loading the demo") as progress:
            task = progress.add_task("demo", total=DEMO_EVENTS)

            def advance(n: int) -> None:
                signals.check()  # a signal stops the load (what is recorded stays)
                progress.advance(task, n)

            summary = load_demo(service.running, service.settings, progress=advance)
        if summary is not None:
            console.print(
                f"loaded {summary.events:,} events in {summary.seconds:.1f} s: {summary.cases}"
                f" cases, {summary.challenges} challenges, {summary.reviews} reviews",
                markup=False,
            )
    delegated = delegate_demo_keys(service.ledger, service.settings.agency_keys_dir)
    if delegated:
        console.print(
            f"the service holds a signing key for {len(delegated)} agencies (custody: service):"
            " what the demo tokens record is signed",
            markup=False,
        )
    return demo_tokens(service.settings.data_dir, tokens)


def _print_tokens(url: str, tokens: dict[Role, str]) -> None:
    from runtime.demo_partnership import DEMO_PARTNERSHIP, DEMO_TOKENS_FILE

    out = Console()
    out.print(f"demo partnership '{DEMO_PARTNERSHIP}' at {url}", markup=False)
    for role, token in tokens.items():
        out.print(f"  {role.value:<9} {token}", markup=False, soft_wrap=True)
    out.print(
        f"(kept in <data dir>/{DEMO_TOKENS_FILE}; send 'Authorization: Bearer <token>')",
        markup=False,
    )
    pages = f"{url}/pages/{DEMO_PARTNERSHIP}"
    out.print(f"web pages: sign in at {url}/sign-in with a token above, then", markup=False)
    out.print(f"  board, inspector: the dashboard  {pages}/dashboard", markup=False, soft_wrap=True)
    out.print(f"  agency:           its cases      {pages}/cases", markup=False, soft_wrap=True)
    out.file.flush()  # to a pipe too, before serving
