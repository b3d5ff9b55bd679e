"""The web application: ``create_app(twin folder)``, served by ``tweeling serve``.

Each worker thread keeps its own open workspace (SQLite connections belong to one thread).
Errors of the domain become HTTP problems: bad input 400, unknown things 404, refusals
401/403 (``core.access.Denied``), too many attempts 429 with Retry-After — never a 500 for
something a client sent. In front of every route: the guard (``api.guard``: Host names,
body size, security headers) and, when origins are configured, CORS. Every route has an
authorisation rule (``api.deps``): the app refuses to start otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tweeling.api import settings as server_settings
from tweeling.api.guard import Guard
from tweeling.core.access import Denied
from tweeling.core.errors import (
    AlreadyExists,
    InputError,
    NotFoundError,
    StoreBusy,
    StoreFull,
    StoreUnavailable,
    Throttled,
    TweelingError,
    WorkspaceError,
    disk_full_text,
)
from tweeling.services import runs
from tweeling.services.audit import _os_user
from tweeling.services.workspace import Workspace, open_workspace

log = logging.getLogger("tweeling.api")
BUSY_RETRY_AFTER_S = 5  # another process writes: an import commits in seconds


class Twins:
    """One open workspace per thread."""

    def __init__(self, root: Path):
        self.root = Path(root)
        open_workspace(self.root).close()  # fail at start-up, not at the first request
        self._local = threading.local()

    def get(self) -> Workspace:
        ws = getattr(self._local, "ws", None)
        if ws is not None and ws.store.broken:  # the database restarted: connect again
            ws.close()
            ws = None
        if ws is None:
            ws = self._local.ws = open_workspace(self.root)
        return ws


MAX_THREADS = 40  # anyio's default: request threads per server process
SPARE_CONNECTIONS = 10  # left for the CLI, tools and each process's job runner


def request_threads(max_connections: int | None, processes: int) -> int:
    """Request threads per server process. Each thread keeps its own connection to the
    twin's database and a reader connection for large reads; so that all processes' fit
    in the server's ``max_connections`` (with :data:`SPARE_CONNECTIONS` left), a PostGIS
    twin gets fewer than anyio's 40 when needed (requests beyond them wait their turn, in
    order, instead of failing with "too many clients")."""
    if max_connections is None:
        return MAX_THREADS
    per_process = (max_connections - SPARE_CONNECTIONS) // max(processes, 1)
    return max(2, min(MAX_THREADS, per_process // 2))


def problem(status: int, title: str, detail: str) -> JSONResponse:
    """An RFC 9457 problem document (as the NL API design rules ask)."""
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


SERVE_ENV = "TWEELING_SERVE"  # what each server process of 'serve --workers N' serves


def app_for_worker() -> FastAPI:
    """The app of one of several server processes (``tweeling serve --workers N``): the twin,
    address and host names come from the environment the parent set (JSON in
    :data:`SERVE_ENV`), since each process builds its own app."""
    import json

    spec = json.loads(os.environ[SERVE_ENV])
    return create_app(
        Path(spec["root"]),
        bind=spec["bind"],
        hosts=tuple(spec["hosts"]),
        process_count=spec.get("processes", 1),
    )


def create_app(
    root: Path,
    *,
    bind: str = "127.0.0.1",
    hosts: tuple[str, ...] | list[str] = (),
    settings: server_settings.Settings | None = None,
    process_count: int = 1,
) -> FastAPI:
    """The app for the twin in ``root``, as served on address ``bind`` (loopback by
    default) and reached under the host names ``hosts`` (beside those in twin.toml), by
    one of ``process_count`` server processes."""
    from fastapi.middleware.cors import CORSMiddleware

    from tweeling.api import (
        audit_routes,
        auth_routes,
        deps,
        features,
        oidc_routes,
        people_routes,
        processes,
        resources,
        round_routes,
        search,
        tiles,
    )
    from tweeling.api.viewer import mount_viewer

    twins = Twins(root)
    gone = runs.clean_unfinished(twins.get().store)  # left by a server killed mid-run
    if gone:
        log.warning("removed the files of %d unfinished run(s): %s", len(gone), ", ".join(gone))
    if settings is None:
        settings = server_settings.from_config(twins.get().config, bind=bind, hosts=tuple(hosts))
    if not settings.loopback:
        if not twins.get().store.people.any():
            raise WorkspaceError(
                f"serving on {bind} lets others reach the twin: add accounts first "
                "('tweeling user add NAME --role administrator'), or serve on 127.0.0.1"
            )
        if not settings.hosts:
            raise WorkspaceError(
                f"serving on {bind}: name the host names clients use in twin.toml "
                '[server] hosts = ["twin.example.nl"] (or --allow-host): requests for other '
                "names are refused, against DNS rebinding"
            )
    threads = request_threads(twins.get().store.max_connections(), process_count)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Tweeling",
        description="Digital twin of the physical living environment (OGC API Features)",
        version="1",
        docs_url=None,  # served by api/viewer.py from npm: FastAPI's default loads a CDN
        redoc_url=None,
    )
    app.state.twins = twins
    app.state.settings = settings
    app.state.operator = _os_user()

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied):
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
        response = problem(exc.status, titles.get(exc.status, "Forbidden"), str(exc))
        if exc.status == 401:  # RFC 9110 §11.6.1
            response.headers["WWW-Authenticate"] = 'Bearer realm="tweeling"'
        return response

    @app.exception_handler(Throttled)
    async def throttled(request: Request, exc: Throttled):
        response = problem(429, "Too Many Requests", str(exc))
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError):
        return problem(404, "Not Found", str(exc))

    @app.exception_handler(AlreadyExists)
    async def exists(request: Request, exc: AlreadyExists):
        return problem(409, "Conflict", str(exc))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError):
        return problem(400, "Bad Request", str(exc))

    @app.exception_handler(StoreBusy)
    async def busy(request: Request, exc: StoreBusy):  # another process is writing: retry
        response = problem(503, "Service Unavailable", str(exc))
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
        return response

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable):  # the database: retry
        response = problem(503, "Service Unavailable", str(exc))
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
        return response

    @app.exception_handler(StoreFull)
    async def full(request: Request, exc: StoreFull):
        return problem(507, "Insufficient Storage", str(exc))

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError):
        if exc.errno == errno.ENOSPC:  # a result or raster file on a full disk
            return problem(507, "Insufficient Storage", disk_full_text(exc))
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # never a plain-text traceback
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "Internal Server Error", "an unexpected error; the server logged it")

    @app.exception_handler(TweelingError)
    async def other(request: Request, exc: TweelingError):
        return problem(400, "Bad Request", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # the framework's own errors (no such route 404, method not allowed 405) are problems
        # too, so that every 4xx of the API has one shape; its headers (Allow) are kept
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = "Error"
        response = problem(exc.status_code, title, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        detail = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
        )
        return problem(400, "Bad Request", detail or "invalid request")

    app.include_router(features.router)
    app.include_router(tiles.router)
    app.include_router(processes.router)
    app.include_router(resources.router)
    app.include_router(search.router)
    app.include_router(auth_routes.router)
    app.include_router(oidc_routes.router)
    app.include_router(people_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(round_routes.router)
    mount_viewer(app)
    deps.check_routes(app)
    if settings.cors_origins:  # closed unless twin.toml names the origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=False,  # other sites use API tokens, never our cookies
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept", "Prefer"],
            expose_headers=["Location", "Content-Crs", "Retry-After", "Link"],
        )
    app.add_middleware(
        Guard, hosts=settings.allowed_hosts(), max_body_bytes=settings.max_body_bytes
    )
    return app
