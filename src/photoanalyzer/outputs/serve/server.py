"""Running the application: the listening socket is bound here first (so a port in use is a
clear error before anything is printed, and port 0 takes a free one whose number is then
known), the address is announced, and uvicorn serves until Ctrl-C or SIGTERM.

uvicorn's limits keep a flood bounded: at most MAX_CONNECTIONS connections and requests at
once (past that, 503 at once, not a queue that grows; each waiting connection costs a few KB,
and the work itself runs on Starlette's thread pool of 40), keep-alive connections closed
after a few idle seconds, headers capped at 16 KB; the request bodies are capped by the
application. uvicorn counts open connections, not only running requests, against the limit,
so it is well above what a person's browser opens: a low one would turn every request of a
burst away."""

from __future__ import annotations

import importlib.util
import secrets
import socket
from collections.abc import Callable

from photoanalyzer.errors import FatalError
from photoanalyzer.outputs.serve.guard import TOKEN_PARAM, is_loopback

MAX_CONNECTIONS = 4096
KEEP_ALIVE_SECONDS = 5
BACKLOG = 2048
MISSING_EXTRA = (
    "photoanalyze serve needs Starlette and uvicorn: install them with "
    "pip install 'photoanalyzer[serve]'"
)


def require_extra() -> None:
    """Fail with the extra to install, before anything is imported or bound."""
    if any(importlib.util.find_spec(name) is None for name in ("starlette", "uvicorn")):
        raise FatalError(MISSING_EXTRA)


def new_token(host: str) -> str | None:
    """A random token for a server that other machines can reach; None on loopback."""
    return None if is_loopback(host) else secrets.token_urlsafe(24)


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=BACKLOG)
    except OSError as exc:
        raise FatalError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port "
            "(0: any free one) or --host"
        ) from exc


def address(sock: socket.socket, token: str | None) -> str:
    """The address to open: with the token in it where one is needed."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?{TOKEN_PARAM}={token}" if token else "")


def serve(app, sock: socket.socket, on_ready: Callable[[], None] = lambda: None) -> None:
    """Serve `app` on the bound `sock` until interrupted."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        h11_max_incomplete_event_size=16 * 1024,
        server_header=False,
    )
    server = uvicorn.Server(config)
    on_ready()
    server.run(sockets=[sock])
