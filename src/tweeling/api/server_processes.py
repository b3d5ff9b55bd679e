"""Several server processes on one listening socket (``tweeling serve --workers N``).

uvicorn's own ``--workers`` binds its socket with protocol 0, and sockets accepted from it
inherit that; asyncio only sets ``TCP_NODELAY`` on sockets whose protocol is TCP, so every
keep-alive response after a connection's first waited for the client's delayed ACK, about
40 ms (uvicorn issue #3149; measured with ``benchmarks/api_features.py``: 44 ms per
sequential request). Here the socket is made as asyncio makes its own, and uvicorn's
process supervisor is given it.
"""

from __future__ import annotations

import socket
from typing import Any


def tcp_listener(host: str, port: int) -> socket.socket:
    """A bound, inheritable TCP socket whose accepted connections get ``TCP_NODELAY``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run_processes(app: str, *, workers: int, host: str, port: int, **options: Any) -> None:
    """Run the ASGI app factory ``app`` ("module:function") in ``workers`` processes that
    share one socket on ``host``:``port`` until interrupted (uvicorn's supervisor restarts a
    process that dies)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=workers, **options)
    sock = tcp_listener(host, port)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
