"""The web viewer at ``/viewer/``: our own static files plus the front-end packages that
``scripts/setup.sh`` installed from npm into ``web/node_modules`` (MapLibre GL JS, Chart.js).

Nothing is fetched from a CDN: the app serves every script, style and font it uses, so the
viewer works without internet.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from tweeling.api import deps

STATIC = Path(__file__).resolve().parent.parent / "web"
# npm packages the viewer needs -> the folder of each package that holds its browser build
VENDOR = {"maplibre-gl": "dist", "chart.js": "dist", "swagger-ui-dist": "."}

# The viewer's page and scripts hold no data of the twin: every request they make goes
# through the API's own rules.
router = APIRouter(include_in_schema=False, dependencies=[Depends(deps.PUBLIC)])
# The viewer runs only its own scripts and the npm packages served beside them; MapLibre
# builds its workers from blob: URLs and draws images from data:/blob: URLs. No inline
# script, no eval, no framing, nothing fetched from elsewhere.
VIEWER_CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src blob:; "
    "img-src 'self' data: blob:; style-src 'self'; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def node_modules() -> Path:
    """Where setup put the npm packages: ``TWEELING_NODE_MODULES`` or ``web/node_modules``
    beside ``src/`` in a checkout."""
    env = os.environ.get("TWEELING_NODE_MODULES")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "web" / "node_modules"


def missing_packages() -> list[str]:
    root = node_modules()
    return [name for name, sub in VENDOR.items() if not (root / name / sub).is_dir()]


@router.get("/viewer")
def viewer_redirect() -> RedirectResponse:
    return RedirectResponse("/viewer/", status_code=308)


@router.get("/viewer/")
def viewer_page():
    missing = missing_packages()
    if missing:  # a setup step was skipped: say which, rather than a blank page
        text = (
            f"The viewer's npm packages are missing from {node_modules()}: "
            f"{', '.join(missing)}. Run 'bash scripts/setup.sh' (npm ci in web/)."
        )
        return HTMLResponse(f"<!doctype html><title>Tweeling</title><p>{text}</p>", 503)
    return FileResponse(
        STATIC / "index.html",
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": VIEWER_CSP, "Cache-Control": "no-cache"},
    )


@router.get("/docs")
def api_docs():
    """Interactive API documentation (Swagger UI) from the npm package, not FastAPI's CDN;
    its one inline script is allowed by its hash, nothing else inline."""
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Tweeling API",
        swagger_js_url="/viewer/vendor/swagger-ui-dist/swagger-ui-bundle.js",
        swagger_css_url="/viewer/vendor/swagger-ui-dist/swagger-ui.css",
        swagger_favicon_url="/viewer/vendor/swagger-ui-dist/favicon-32x32.png",
    )
    text = page.body.decode()
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
        for m in re.findall(r"<script>(.*?)</script>", text, flags=re.S)
    )
    page.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {hashes}; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return page


def mount_viewer(app: FastAPI) -> None:
    """Serve the viewer's own files and the vendor packages (missing ones give 404s; the
    viewer page itself says what to install)."""
    app.include_router(router)
    app.mount("/viewer/static", StaticFiles(directory=STATIC), name="viewer-static")
    root = node_modules()
    for name, sub in VENDOR.items():
        app.mount(
            f"/viewer/vendor/{name}",
            StaticFiles(directory=root / name / sub, check_dir=False),
            name=f"vendor-{name}",
        )
