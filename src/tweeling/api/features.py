"""OGC API - Features - Part 1: Core (OGC 17-069r4) and Part 2: CRS by reference (OGC
18-058r1), GeoJSON in CRS84 by default, RD New or ETRS89 on request (``crs``, ``bbox-crs``,
``Content-Crs``).

Landing page, conformance, the vector layers as collections, items with ``bbox``, ``limit``
and ``offset`` (with ``next`` links) and single items; ``scenario`` selects a scenario's view
(``NAME`` or ``NAME@LABEL``). Coordinates are stored in RD New and served in CRS84
(longitude, latitude).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tweeling.api import crs
from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.timeaxis import parse_time
from tweeling.store.base import StoredFeature

router = APIRouter()
MAX_LIMIT = 10_000  # larger limits are served as this many (OGC 17-069r4 /req/core/fc-limit)
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
GEOJSON = "application/geo+json"


def _json(data: Any, media_type: str = "application/json", content_crs: str | None = None):
    headers = {"Content-Crs": f"<{content_crs}>"} if content_crs else None
    return Response(orjson.dumps(data), media_type=media_type, headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _instant(text: str):
    """OGC ``datetime``: an instant reads the twin as it was then (both time axes); intervals
    (``a/b``, ``../b``) are not supported."""
    if "/" in text:
        raise InputError(f"datetime {text!r}: only an instant is supported, not an interval")
    return parse_time(text, what="datetime")


def _collection(request: Request, ws, name: str) -> dict[str, Any]:
    info = ws.store.layer(name)
    base = _base(request)
    out: dict[str, Any] = {
        "id": name,
        "title": info.title or name,
        "description": info.schema.description if info.schema else "",
        "itemType": "feature",
        "crs": list(crs.SUPPORTED),
        "storageCrs": crs.RD,
        "links": [
            {"href": f"{base}/collections/{name}", "rel": "self", "type": "application/json"},
            {"href": f"{base}/collections/{name}/items", "rel": "items", "type": GEOJSON},
        ],
    }
    if info.extent is not None:
        box = crs.from_rd(shapely.box(*info.extent), crs.CRS84).bounds
        out["extent"] = {"spatial": {"bbox": [list(box)], "crs": crs.CRS84}}
    return out


def _vector(ws, name: str) -> None:
    if name not in ws.store.vector_layers():
        raise NotFoundError(f"no collection {name!r} (see /collections)")


def _feature(f: StoredFeature, base: str, name: str, target: str) -> dict[str, Any]:
    geometry = (
        None
        if f.geometry is None
        else orjson.loads(shapely.to_geojson(crs.from_rd(f.geometry, target)))
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
    bbox: Annotated[str | None, Query(description="lower and upper corner, in bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="default CRS84")] = None,
    crs_: Annotated[str | None, Query(alias="crs", description="output CRS, default CRS84")] = None,
    limit: Annotated[int, Query(ge=1, description=f"at most {MAX_LIMIT} are returned")] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    scenario: Annotated[str | None, Query(description="NAME or NAME@LABEL")] = None,
    datetime_: Annotated[
        str | None,
        Query(alias="datetime", description="an instant (RFC 3339): the twin as it was then"),
    ] = None,
) -> Response:
    ws = request.app.state.twins.get()
    _vector(ws, name)
    limit = min(limit, MAX_LIMIT)
    target = crs.check(crs_)
    box = crs.bbox_to_rd(bbox, crs.check(bbox_crs, "bbox-crs")) if bbox else None
    as_of = _instant(datetime_) if datetime_ else None
    rows = list(
        ws.store.features(
            name, bbox=box, limit=limit + 1, offset=offset, scenario=scenario, as_of=as_of
        )
    )
    more = len(rows) > limit
    base = _base(request)
    features = [_feature(f, base, name, target) for f in rows[:limit]]
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
    if box is None and scenario is None and as_of is None:
        body["numberMatched"] = ws.store.layer(name).count  # kept by the store: cheap
    return _json(body, GEOJSON, target)


@router.get("/collections/{name}/items/{feature_id}", summary="One feature")
def item(
    request: Request,
    name: str,
    feature_id: str,
    scenario: Annotated[str | None, Query(description="NAME or NAME@LABEL")] = None,
    crs_: Annotated[str | None, Query(alias="crs", description="output CRS, default CRS84")] = None,
) -> Response:
    ws = request.app.state.twins.get()
    _vector(ws, name)
    target = crs.check(crs_)
    found = ws.store.lookup(name, [feature_id], scenario=scenario).get(feature_id)
    if found is None:
        raise NotFoundError(f"no feature {feature_id!r} in collection {name!r}")
    return _json(_feature(found, _base(request), name, target), GEOJSON, target)
