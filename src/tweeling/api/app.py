"""The web application: ``create_app(twin folder)``, served by ``tweeling serve``.

Each worker thread keeps its own open workspace (SQLite connections belong to one thread).
Errors of the domain become HTTP problems: bad input 400, unknown things 404 — never a 500
for something a client sent.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tweeling.core.errors import InputError, NotFoundError, StoreBusy, TweelingError
from tweeling.services.workspace import Workspace, open_workspace


class Twins:
    """One open workspace per thread."""

    def __init__(self, root: Path):
        self.root = Path(root)
        open_workspace(self.root).close()  # fail at start-up, not at the first request
        self._local = threading.local()

    def get(self) -> Workspace:
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = open_workspace(self.root)
        return ws


def problem(status: int, title: str, detail: str) -> JSONResponse:
    """An RFC 9457 problem document (as the NL API design rules ask)."""
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def create_app(root: Path) -> FastAPI:
    from tweeling.api import features, processes, resources, search, tiles
    from tweeling.api.viewer import mount_viewer

    app = FastAPI(
        title="Tweeling",
        description="Digital twin of the physical living environment (OGC API Features)",
        version="1",
        docs_url=None,  # served by api/viewer.py from npm: FastAPI's default loads a CDN
        redoc_url=None,
    )
    app.state.twins = Twins(root)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError):
        return problem(404, "Not Found", str(exc))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError):
        return problem(400, "Bad Request", str(exc))

    @app.exception_handler(StoreBusy)
    async def busy(request: Request, exc: StoreBusy):  # another process is writing: retry
        return problem(503, "Service Unavailable", str(exc))

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
    mount_viewer(app)
    return app
