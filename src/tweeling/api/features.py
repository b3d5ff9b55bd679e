"""OGC API - Features - Part 1: Core (OGC 17-069r4), GeoJSON in CRS84.

Landing page, conformance, the vector layers as collections, items with ``bbox``, ``limit``
and ``offset`` (with ``next`` links) and single items; ``scenario`` selects a scenario's view
(``NAME`` or ``NAME@LABEL``). Coordinates are stored in RD New and served in CRS84
(longitude, latitude).
"""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tweeling.core.crs import RD_NEW, transformer
from tweeling.core.errors import InputError, NotFoundError
from tweeling.store.base import StoredFeature

router = APIRouter()
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
MAX_LIMIT = 10_000  # larger limits are served as this many (OGC 17-069r4 /req/core/fc-limit)
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
GEOJSON = "application/geo+json"


def _json(data: Any, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(data), media_type=media_type)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _to_crs84(geometry):
    tr = transformer(RD_NEW, "OGC:CRS84")

    def fn(coords):
        out = coords.copy()
        out[:, 0], out[:, 1] = tr.transform(coords[:, 0], coords[:, 1])
        return out

    return shapely.transform(geometry, fn, include_z=None)


def _bbox_to_rd(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"bbox {text!r}: expected 4 numbers minlon,minlat,maxlon,maxlat") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InputError(f"bbox {text!r}: expected 4 finite numbers minlon,minlat,maxlon,maxlat")
    x0, y0, x1, y1 = values
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InputError(f"bbox {text!r}: longitudes and latitudes out of range (CRS84)")
    if x0 > x1:
        raise InputError(f"bbox {text!r}: boxes across the antimeridian are not supported")
    tr = transformer("OGC:CRS84", RD_NEW)
    xs = [x0, x1, x0, x1, (x0 + x1) / 2, (x0 + x1) / 2]
    ys = [y0, y0, y1, y1, y0, y1]
    rx, ry = tr.transform(xs, ys)
    if not all(math.isfinite(v) for v in (*rx, *ry)):
        raise InputError(f"bbox {text!r} cannot be expressed in RD New")
    return min(rx), min(ry), max(rx), max(ry)


def _collection(request: Request, ws, name: str) -> dict[str, Any]:
    info = ws.store.layer(name)
    base = _base(request)
    out: dict[str, Any] = {
        "id": name,
        "title": info.title or name,
        "description": info.schema.description if info.schema else "",
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            {"href": f"{base}/collections/{name}", "rel": "self", "type": "application/json"},
            {"href": f"{base}/collections/{name}/items", "rel": "items", "type": GEOJSON},
        ],
    }
    if info.extent is not None:
        box = _to_crs84(shapely.box(*info.extent)).bounds
        out["extent"] = {"spatial": {"bbox": [list(box)], "crs": CRS84}}
    return out


def _vector(ws, name: str) -> None:
    if name not in ws.store.vector_layers():
        raise NotFoundError(f"no collection {name!r} (see /collections)")


def _feature(f: StoredFeature, base: str, name: str) -> dict[str, Any]:
    geometry = (
        None if f.geometry is None else orjson.loads(shapely.to_geojson(_to_crs84(f.geometry)))
    )
    props = {k: v for k, v in f.properties.items() if k != "geometry_3d"}
    return {
        "type": "Feature",
        "id": f.id,
        "geometry": geometry,
        "properties": props,
        "links": [
            {"href": f"{base}/collections/{name}/items/{f.id}", "rel": "self", "type": GEOJSON}
        ],
    }


@router.get("/", summary="Landing page")
def landing(request: Request) -> Response:
    base = _base(request)
    return _json(
        {
            "title": "Tweeling",
            "description": "Digital twin of the physical living environment of the Netherlands",
            "links": [
                {"href": f"{base}/", "rel": "self", "type": "application/json"},
                {
                    "href": f"{base}/openapi.json",
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.0",
                },
                {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html"},
                {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
                {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
            ],
        }
    )


@router.get("/conformance", summary="Conformance classes")
def conformance() -> Response:
    return _json({"conformsTo": CONFORMANCE})


@router.get("/collections", summary="The twin's vector layers")
def collections(request: Request) -> Response:
    ws = request.app.state.twins.get()
    base = _base(request)
    return _json(
        {
            "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
            "collections": [_collection(request, ws, n) for n in ws.store.vector_layers()],
        }
    )


@router.get("/collections/{name}", summary="One collection")
def collection(request: Request, name: str) -> Response:
    ws = request.app.state.twins.get()
    _vector(ws, name)
    return _json(_collection(request, ws, name))


@router.get("/collections/{name}/items", summary="Features, filtered by bbox, paged")
def items(
    request: Request,
    name: str,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (CRS84)")] = None,
    limit: Annotated[int, Query(ge=1, description=f"at most {MAX_LIMIT} are returned")] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    scenario: Annotated[str | None, Query(description="NAME or NAME@LABEL")] = None,
) -> Response:
    ws = request.app.state.twins.get()
    _vector(ws, name)
    limit = min(limit, MAX_LIMIT)
    box = _bbox_to_rd(bbox) if bbox else None
    rows = list(
        ws.store.features(name, bbox=box, limit=limit + 1, offset=offset, scenario=scenario)
    )
    more = len(rows) > limit
    base = _base(request)
    features = [_feature(f, base, name) for f in rows[:limit]]
    params = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit")}
    links = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": f"{base}/collections/{name}", "rel": "collection", "type": "application/json"},
    ]
    if more:
        links.append(
            {
                "href": f"{base}/collections/{name}/items?"
                + urlencode({**params, "limit": limit, "offset": offset + limit}),
                "rel": "next",
                "type": GEOJSON,
            }
        )
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "links": links,
    }
    return _json(body, GEOJSON)


@router.get("/collections/{name}/items/{feature_id}", summary="One feature")
def item(
    request: Request,
    name: str,
    feature_id: str,
    scenario: Annotated[str | None, Query(description="NAME or NAME@LABEL")] = None,
) -> Response:
    ws = request.app.state.twins.get()
    _vector(ws, name)
    found = ws.store.lookup(name, [feature_id], scenario=scenario).get(feature_id)
    if found is None:
        raise NotFoundError(f"no feature {feature_id!r} in collection {name!r}")
    return _json(_feature(found, _base(request), name), GEOJSON)
