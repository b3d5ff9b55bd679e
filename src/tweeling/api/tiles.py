"""OGC API - Tiles - Part 1: Core (OGC 20-057) with Mapbox Vector Tiles, in any scenario's view.

Tile matrix sets (``/tileMatrixSets``, OGC 17-083r4 "2D Tile Matrix Set" 2.0 JSON): only
WebMercatorQuad. Per collection (every vector layer): the tilesets list
(``/collections/{c}/tiles``, /req/tilesets-list), the tileset (``…/tiles/WebMercatorQuad``,
/req/tileset/description: links to the tiling scheme and a templated ``item`` link) and its
tiles (``…/{tileMatrix}/{tileRow}/{tileCol}``, /req/core/tc-op) with one MVT layer named
after the collection. Dataset tiles (``/tiles/…``, /req/dataset-tilesets) hold one MVT layer
per collection of ``collections`` (/req/collections-selection, in the order given).

Tileset documents are also TileJSON 3.0.0 (``tiles``, ``minzoom``, ``maxzoom``, ``bounds``,
``vector_layers``), so that MapLibre takes their URL as a vector source. ``scenario=NAME`` or
``NAME@LABEL`` serves a scenario's view and is carried into every link and template.

An empty tile inside the tile matrix set is ``204 No Content`` (/req/core/tc-error B); a tile
outside it is a 404, a malformed index a 400 (/req/core/tc-error A). Tiles carry an ETag
(``If-None-Match`` → 304); tiles of frozen scenario versions may be cached for a day.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
import orjson
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response

from tweeling.api import crs, deps
from tweeling.core.crs import RD_NEW, transformer
from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.features import FieldType
from tweeling.services import tiles as service
from tweeling.services.tiles import LayerPlan, TileService

router = APIRouter()
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/dataset-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/collections-selection",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
JSON = "application/json"
MVT = service.MEDIA_TYPE
TMS_CRS = "http://www.opengis.net/def/crs/EPSG/0/3857"
TEMPLATE = "{tileMatrix}/{tileRow}/{tileCol}"
XYZ = "{z}/{y}/{x}"  # the same path for TileJSON clients (MapLibre fills in z, x and y)
# JSON Schema and TileJSON types of the attributes tiles carry.
SCHEMA_TYPES = {
    FieldType.TEXT: {"type": "string"},
    FieldType.INTEGER: {"type": "integer"},
    FieldType.REAL: {"type": "number"},
    FieldType.BOOLEAN: {"type": "boolean"},
    FieldType.DATE: {"type": "string", "format": "date"},
    FieldType.DATETIME: {"type": "string", "format": "date-time"},
}
TILEJSON_TYPES = {"string": "String", "integer": "Number", "number": "Number", "boolean": "Boolean"}
DIMENSION = {"POINT": 0, "MULTIPOINT": 0, "LINESTRING": 1, "MULTILINESTRING": 1}
DIMENSION |= {"POLYGON": 2, "MULTIPOLYGON": 2}
FROZEN_MAX_AGE_S = 86_400  # a frozen version never changes; a day bounds a replaced twin
_service_lock = threading.Lock()
_TMS_JSON = orjson.dumps(service.TMS.model_dump(mode="json", exclude_none=True))

# Path parameters as OGC 20-057 names them (/req/core/tc-tilematrix-definition, -tilerow-,
# -tilecol-); checked by services.tiles.parse_tile, so that a bad value is a problem document.
TmsId = Annotated[str, Path(alias="tileMatrixSetId", description="WebMercatorQuad")]
TileMatrix = Annotated[
    str, Path(alias="tileMatrix", description="the tile matrix (zoom level), 0 to 24")
]
TileRow = Annotated[
    str, Path(alias="tileRow", description="row of the tile, from the top: 0 to 2^tileMatrix - 1")
]
TileCol = Annotated[
    str, Path(alias="tileCol", description="column of the tile: 0 to 2^tileMatrix - 1")
]
Scenario = deps.ScenarioQuery  # checked: a scenario the person may not read is a 404
Collections = Annotated[
    str | None,
    Query(description="comma-separated collection ids (or their URLs); default all, in order"),
]


# ---------------------------------------------------------------------------- helpers


def _service(app: FastAPI) -> TileService:
    with _service_lock:
        found = getattr(app.state, "tiles", None)
        if found is None:
            ws = app.state.twins.get()
            found = app.state.tiles = TileService(ws.root, service.twin_tile_id(ws.config))
        return found


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type=JSON)


def _query(**params: str | None) -> str:
    kept = {k: v for k, v in params.items() if v}
    return "?" + urlencode(kept) if kept else ""


def _tms(tms_id: str) -> None:
    if tms_id != service.TMS_ID:
        raise NotFoundError(
            f"no tile matrix set {tms_id[:60]!r}: {service.TMS_ID} is served (/tileMatrixSets)"
        )


def _collections(text: str | None) -> list[str] | None:
    """``collections``: ids or URLs of collections, comma-separated (None: all)."""
    if text is None:
        return None
    names = []
    for item in text.split(","):
        name = item.strip().rstrip("/")
        if "/collections/" in name:  # a collection's URL (/req/collections-selection C)
            name = name.rsplit("/collections/", 1)[1]
        if not name:
            raise InputError(f"collections {text[:80]!r}: an empty collection id")
        if name not in names:  # a layer name appears once in a tile (MVT 2.1 §4.1)
            names.append(name)
    return names


def _dataset_plans(store, svc: TileService, names: list[str] | None) -> list[LayerPlan]:
    try:
        return svc.plans(store, names)
    except NotFoundError as exc:  # an unknown collection in a parameter: a bad request
        raise InputError(str(exc)) from None


def _crs84_box(box) -> list[float] | None:
    if box is None:
        return None
    w, s, e, n = transformer(RD_NEW, "OGC:CRS84").transform_bounds(*box, densify_pts=11)
    return [round(w, 7), round(s, 7), round(e, 7), round(n, 7)]


def _bbox(box: list[float] | None) -> dict[str, Any] | None:
    if box is None:
        return None
    return {"lowerLeft": box[:2], "upperRight": box[2:], "crs": crs.CRS84}


def _properties(plan: LayerPlan) -> dict[str, dict[str, Any]]:
    props = {"id": {"type": "string", "description": "the feature's id"}}
    props |= {k: dict(SCHEMA_TYPES[t]) for k, t in plan.fields.items()}
    return props


def _layer(base: str, plan: LayerPlan) -> dict[str, Any]:
    """A layer of a tileset (17-083r4 geospatialData)."""
    out: dict[str, Any] = {
        "id": plan.name,
        "title": plan.title,
        "description": (plan.description + " " if plan.description else "")
        + f"At most {service.MAX_FEATURES:,} features per tile.",
        "dataType": "vector",
        "featureType": plan.name,
        "minTileMatrix": str(plan.minzoom),
        "maxTileMatrix": str(service.MAX_ZOOM),
        "maxFeaturesPerTile": service.MAX_FEATURES,
        "propertiesSchema": {"type": "object", "properties": _properties(plan)},
        "links": [
            {"href": f"{base}/collections/{plan.name}", "rel": REL + "geodata", "type": JSON}
        ],
    }
    if plan.geometry_type in DIMENSION:
        out["geometryDimension"] = DIMENSION[plan.geometry_type]
    box = _bbox(_crs84_box(plan.area))
    if box is not None:
        out["boundingBox"] = box
    return out


def _vector_layer(plan: LayerPlan) -> dict[str, Any]:
    """A layer as TileJSON 3.0.0 ``vector_layers`` describes it."""
    return {
        "id": plan.name,
        "description": plan.title,
        "minzoom": plan.minzoom,
        "maxzoom": service.DATA_MAXZOOM,
        "fields": {k: TILEJSON_TYPES[v["type"]] for k, v in _properties(plan).items()},
    }


def _tileset(
    request: Request, plans: list[LayerPlan], path: str, query: str, title: str
) -> dict[str, Any]:
    """A tileset's metadata (17-083r4 TileSetMetadata, OGC 20-057 /req/tileset/description),
    which is also a TileJSON 3.0.0 document."""
    base = deps.base_url(request)
    tiles = f"{base}{path}"
    boxes = [b for b in (_crs84_box(p.area) for p in plans) if b is not None]
    bounds = None
    if boxes:
        lows, highs = np.min(boxes, axis=0), np.max(boxes, axis=0)
        bounds = [float(lows[0]), float(lows[1]), float(highs[2]), float(highs[3])]
    minzoom = min((p.minzoom for p in plans), default=0)
    doc: dict[str, Any] = {
        "title": title,
        "description": f"Mapbox Vector Tiles of {title}: one layer per collection, from the "
        f"zoom each layer names; at most {service.MAX_FEATURES:,} features per layer per tile.",
        "dataType": "vector",
        "crs": TMS_CRS,
        "tileMatrixSetURI": service.TMS.uri,
        "mediaTypes": [MVT],
        "links": [
            {"href": str(request.url), "rel": "self", "type": JSON, "title": "this tileset"},
            {
                "href": f"{base}/tileMatrixSets/{service.TMS_ID}",
                "rel": REL + "tiling-scheme",
                "type": JSON,
                "title": "the tile matrix set",
            },
            {
                "href": f"{tiles}/{TEMPLATE}{query}",
                "rel": "item",
                "type": MVT,
                "templated": True,
                "title": "a tile (Mapbox Vector Tile)",
            },
        ],
        "layers": [_layer(base, p) for p in plans],
        # TileJSON 3.0.0
        "tilejson": "3.0.0",
        "name": title,
        "scheme": "xyz",
        "tiles": [f"{tiles}/{XYZ}{query}"],
        "minzoom": minzoom,
        "maxzoom": service.DATA_MAXZOOM,
        "vector_layers": [_vector_layer(p) for p in plans],
    }
    if bounds is not None:
        doc["boundingBox"] = _bbox(bounds)
        doc["bounds"] = bounds
        doc["center"] = [
            (bounds[0] + bounds[2]) / 2,
            (bounds[1] + bounds[3]) / 2,
            max(minzoom, service.EMPTY_MINZOOM),
        ]
    return doc


def _tilesets(request: Request, path: str, query: str, title: str) -> dict[str, Any]:
    """A tilesets list (OGC 20-057 /req/tilesets-list/tileset-links): WebMercatorQuad."""
    base = deps.base_url(request)
    tileset = f"{base}{path}/{service.TMS_ID}"
    return {
        "links": [{"href": str(request.url), "rel": "self", "type": JSON}],
        "tilesets": [
            {
                "title": f"{title} ({service.TMS_ID})",
                "dataType": "vector",
                "crs": TMS_CRS,
                "tileMatrixSetURI": service.TMS.uri,
                "links": [
                    {"href": f"{tileset}{query}", "rel": "self", "type": JSON},
                    {
                        "href": f"{base}/tileMatrixSets/{service.TMS_ID}",
                        "rel": REL + "tiling-scheme",
                        "type": JSON,
                    },
                    {
                        "href": f"{tileset}/{TEMPLATE}{query}",
                        "rel": "item",
                        "type": MVT,
                        "templated": True,
                    },
                ],
            }
        ],
    }


def _tile_response(request: Request, result: service.TileResult) -> Response:
    etag = f'"{result.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={FROZEN_MAX_AGE_S}"
        if result.frozen
        else "no-cache",  # revalidate: an edit of the scenario changes the tile
    }
    match = request.headers.get("if-none-match")
    if match and (match.strip() == "*" or etag in (t.strip() for t in match.split(","))):
        return Response(status_code=304, headers=headers)
    if not result.data:
        return Response(status_code=204, headers=headers)
    return Response(result.data, media_type=MVT, headers=headers)


# ---------------------------------------------------------------------------- tile matrix sets


@router.get(
    "/tileMatrixSets",
    summary="Tile matrix sets (WebMercatorQuad)",
    dependencies=[Depends(deps.PUBLIC)],
)
def tile_matrix_sets(request: Request) -> Response:
    base = deps.base_url(request)
    tms = service.TMS
    return _json(
        {
            "links": [{"href": str(request.url), "rel": "self", "type": JSON}],
            "tileMatrixSets": [
                {
                    "id": tms.id,
                    "title": tms.title,
                    "uri": tms.uri,
                    "crs": TMS_CRS,
                    "links": [
                        {
                            "href": f"{base}/tileMatrixSets/{tms.id}",
                            "rel": "self",
                            "type": JSON,
                        },
                        {
                            "href": f"{base}/tileMatrixSets/{tms.id}",
                            "rel": REL + "tiling-scheme",
                            "type": JSON,
                        },
                    ],
                }
            ],
        }
    )


@router.get(
    "/tileMatrixSets/{tileMatrixSetId}",
    summary="A tile matrix set's definition (17-083r4)",
    dependencies=[Depends(deps.PUBLIC)],
)
def tile_matrix_set(tms_id: TmsId) -> Response:
    _tms(tms_id)
    return Response(_TMS_JSON, media_type=JSON)


# ---------------------------------------------------------------------------- dataset tiles


@router.get("/tiles", summary="The dataset's vector tilesets")
def dataset_tilesets(
    request: Request, scenario: Scenario, collections: Collections = None
) -> Response:
    ws = deps.twin(request)
    ws.store.view(scenario)
    _dataset_plans(ws.store, _service(request.app), _collections(collections))
    return _json(
        _tilesets(request, "/tiles", _query(collections=collections, scenario=scenario), "the twin")
    )


@router.get(
    "/tiles/{tileMatrixSetId}", summary="The dataset's tileset: every layer (or `collections`)"
)
def dataset_tileset(
    request: Request, tms_id: TmsId, scenario: Scenario, collections: Collections = None
) -> Response:
    _tms(tms_id)
    ws = deps.twin(request)
    ws.store.view(scenario)
    plans = _dataset_plans(ws.store, _service(request.app), _collections(collections))
    query = _query(collections=collections, scenario=scenario)
    title = f"the twin ({scenario})" if scenario else "the twin"
    return _json(_tileset(request, plans, f"/tiles/{tms_id}", query, title))


@router.get(
    "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
    summary="A dataset tile: one MVT layer per collection",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 204: {"description": "no data in this tile"}},
)
def dataset_tile(
    request: Request,
    tms_id: TmsId,
    tile_matrix: TileMatrix,
    tile_row: TileRow,
    tile_col: TileCol,
    scenario: Scenario,
    collections: Collections = None,
) -> Response:
    _tms(tms_id)
    tile = service.parse_tile(tile_matrix, tile_row, tile_col)
    ws = deps.twin(request)
    svc = _service(request.app)
    ws.store.view(scenario)  # an unknown scenario is a 404 before anything else
    names = [p.name for p in _dataset_plans(ws.store, svc, _collections(collections))]
    return _tile_response(request, svc.tile(ws.store, names, tile, scenario))


# ---------------------------------------------------------------------------- collection tiles


@router.get("/collections/{name}/tiles", summary="A collection's vector tilesets")
def collection_tilesets(request: Request, name: str, scenario: Scenario) -> Response:
    ws = deps.twin(request)
    ws.store.view(scenario)
    _service(request.app).plan(ws.store, name)
    path = f"/collections/{name}/tiles"
    return _json(_tilesets(request, path, _query(scenario=scenario), name))


@router.get("/collections/{name}/tiles/{tileMatrixSetId}", summary="A collection's tileset")
def collection_tileset(request: Request, name: str, tms_id: TmsId, scenario: Scenario) -> Response:
    _tms(tms_id)
    ws = deps.twin(request)
    ws.store.view(scenario)
    plan = _service(request.app).plan(ws.store, name)
    path = f"/collections/{name}/tiles/{tms_id}"
    title = f"{name} ({scenario})" if scenario else name
    doc = _tileset(request, [plan], path, _query(scenario=scenario), title)
    doc["links"].append(
        {
            "href": f"{deps.base_url(request)}/collections/{name}",
            "rel": REL + "geodata",
            "type": JSON,
        }
    )
    return _json(doc)


@router.get(
    "/collections/{name}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
    summary="A tile of a collection: one MVT layer named after it",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 204: {"description": "no data in this tile"}},
)
def collection_tile(
    request: Request,
    name: str,
    tms_id: TmsId,
    tile_matrix: TileMatrix,
    tile_row: TileRow,
    tile_col: TileCol,
    scenario: Scenario,
) -> Response:
    _tms(tms_id)
    tile = service.parse_tile(tile_matrix, tile_row, tile_col)
    ws = deps.twin(request)
    result = _service(request.app).tile(ws.store, [name], tile, scenario)
    return _tile_response(request, result)
