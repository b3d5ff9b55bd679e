"""OGC API - Features - Part 1: Core (OGC 17-069r4) and Part 2: CRS by reference (OGC
18-058r1), GeoJSON in CRS84 by default, RD New or ETRS89 on request (``crs``, ``bbox-crs``,
``Content-Crs``); every resource also as an HTML page (§8.2, :mod:`tweeling.api.html`).

Landing page, conformance, the vector layers as collections, items with ``bbox``, ``limit``
and ``offset`` (with ``next`` and ``prev`` links) and single items; ``scenario`` selects a
scenario's view (``NAME`` or ``NAME@LABEL``). Coordinates are stored in RD New and served in
CRS84 (longitude, latitude).
"""

from __future__ import annotations

import itertools
from datetime import UTC
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import numpy as np
import orjson
import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from tweeling.api import crs, deps, html
from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.records import StoredFeature
from tweeling.core.timeaxis import parse_time

router = APIRouter()
MAX_LIMIT = 10_000  # larger limits are served as this many (OGC 17-069r4 /req/core/fc-limit)
# numberMatched of a request filtered by bbox or datetime: counted by reading on past the
# page, at most max(COUNT_AHEAD, limit) features, which costs at most about as much as the
# page itself (measured on 1,000,000 buildings: docs/api-html-search.md).
COUNT_AHEAD = 500
OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
GEOJSON = "application/geo+json"
JSON = "application/json"

Format = Annotated[
    str | None, Query(description="json or html; without it, chosen by the Accept header")
]
Lang = Annotated[str | None, Query(description="language of the HTML pages: nl (default), en")]


def _json(data: Any, media_type: str = JSON, content_crs: str | None = None):
    # Vary: the same URL answers HTML to a browser (content negotiation on Accept).
    headers = {"Vary": "Accept"}
    if content_crs:
        headers["Content-Crs"] = f"<{content_crs}>"
    return Response(orjson.dumps(data), media_type=media_type, headers=headers)


def _instant(text: str):
    """OGC ``datetime``: an instant reads the twin as it was then (both time axes); intervals
    (``a/b``, ``../b``) are not supported."""
    if "/" in text:
        raise InputError(f"datetime {text!r}: only an instant is supported, not an interval")
    instant = parse_time(text, what="datetime")
    # The store compares times as fixed-width UTC text (core.timeaxis.to_text): an instant
    # must lie in the years 1000-9999 in UTC (0001-01-01+14:00 does not exist in UTC at all).
    try:
        year = instant.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not 1000 <= year <= 9999:
        raise InputError(f"datetime {text[:40]!r}: out of range (years 1000 to 9999, in UTC)")
    return instant


def _item_path(name: str, feature_id: str) -> str:
    return f"/collections/{name}/items/{quote(feature_id, safe='')}"


def _collection(request: Request, ws, name: str) -> dict[str, Any]:
    info = ws.store.layer(name)
    base = deps.base_url(request)
    out: dict[str, Any] = {
        "id": name,
        "title": info.title or name,
        "description": info.schema.description if info.schema else "",
        "itemType": "feature",
        "crs": list(crs.SUPPORTED),
        "storageCrs": crs.RD,
        "links": [
            {"href": f"{base}/collections/{name}", "rel": "self", "type": JSON},
            {
                "href": f"{base}/collections/{name}?f=html",
                "rel": "alternate",
                "type": html.HTML,
                "title": "This collection as HTML",
            },
            {"href": f"{base}/collections/{name}/items", "rel": "items", "type": GEOJSON},
            {
                "href": f"{base}/collections/{name}/tiles",
                "rel": f"{OGC_REL}tilesets-vector",
                "type": JSON,
                "title": "Vector tiles of this collection",
            },
            {
                "href": f"{base}/collections/{name}/items?f=html",
                "rel": "items",
                "type": html.HTML,
                "title": "The items as HTML",
            },
        ],
    }
    if info.extent is not None:
        box = crs.from_rd(shapely.box(*info.extent), crs.CRS84).bounds
        out["extent"] = {"spatial": {"bbox": [list(box)], "crs": crs.CRS84}}
    return out


def _vector(ws, name: str) -> None:
    if name not in ws.store.vector_layers():
        raise NotFoundError(f"no collection {name!r} (see /collections)")


def _features(rows: list[StoredFeature], base: str, name: str, target: str) -> list[dict]:
    """The GeoJSON features of a page, as :func:`_feature` makes them, but with one
    coordinate transformation and one GeoJSON encoding for the whole page: per feature those
    calls cost more than the query (benchmarks/results_api.md). ``orjson.Fragment`` embeds
    shapely's GeoJSON text as it is, without parsing it back."""
    geoms = crs.from_rd(np.array([f.geometry for f in rows], dtype=object), target)
    texts = shapely.to_geojson(geoms)
    return [
        {
            "type": "Feature",
            "id": f.id,
            "geometry": None if text is None else orjson.Fragment(text),
            "properties": {k: v for k, v in f.properties.items() if k != "geometry_3d"},
            "links": [{"href": base + _item_path(name, f.id), "rel": "self", "type": GEOJSON}],
        }
        for f, text in zip(rows, texts, strict=True)
    ]


def _crumbs(request: Request, lang: str, *trail: tuple[str, str | None]) -> list:
    """The breadcrumb trail of a page: the landing page, then ``trail`` (path or None)."""
    t = html.LABELS[lang]
    out = [(t["api"], html.link(request, "/", lang))]
    return out + [(text, path and html.link(request, path, lang)) for text, path in trail]


def _view(lang: str, scenario: str | None, as_of: str | None) -> str:
    """Which view of the twin a page shows, for its title."""
    t = html.LABELS[lang]
    if scenario:
        return f"{t['scenario']} {scenario}"
    if as_of:
        return f"{t['as_of']} {as_of}"
    return t["baseline"]


@router.get("/", summary="Landing page", dependencies=[Depends(deps.PUBLIC)])
def landing(request: Request, f: Format = None, lang: Lang = None) -> Response:
    lang = html.check_lang(lang)
    base = deps.base_url(request)
    body = {
        "title": "Tweeling",
        "description": "Digital twin of the physical living environment of the Netherlands",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": JSON},
            {"href": f"{base}/?f=html", "rel": "alternate", "type": html.HTML},
            {
                "href": f"{base}/openapi.json",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "API definition (OpenAPI)",
            },
            {"href": f"{base}/docs", "rel": "service-doc", "type": html.HTML},
            {"href": f"{base}/conformance", "rel": "conformance", "type": JSON},
            {"href": f"{base}/collections", "rel": "data", "type": JSON},
            {"href": f"{base}/tiles", "rel": f"{OGC_REL}tilesets-vector", "type": JSON},
            {"href": f"{base}/tileMatrixSets", "rel": f"{OGC_REL}tiling-schemes", "type": JSON},
            {"href": f"{base}/processes", "rel": f"{OGC_REL}processes", "type": JSON},
            {"href": f"{base}/jobs", "rel": f"{OGC_REL}job-list", "type": JSON},
            {"href": f"{base}/search", "rel": "related", "type": JSON, "title": "Search"},
            {"href": f"{base}/viewer/", "rel": "related", "type": html.HTML, "title": "Viewer"},
        ],
    }
    if not html.wants_html(request, f):
        return _json(body)
    return html.page(
        request,
        "landing.html",
        lang,
        title=body["title"],
        crumbs=_crumbs(request, lang)[:1],
        links=body["links"],
        search_action=f"{base}/search",
    )


@router.get("/conformance", summary="Conformance classes", dependencies=[Depends(deps.PUBLIC)])
def conformance(request: Request, f: Format = None, lang: Lang = None) -> Response:
    from tweeling.api import processes, tiles  # the other OGC APIs this app serves

    lang = html.check_lang(lang)
    base = deps.base_url(request)
    conforms = CONFORMANCE + tiles.CONFORMANCE + processes.CONFORMANCE
    body = {
        "conformsTo": conforms,
        "links": [
            {"href": f"{base}/conformance", "rel": "self", "type": JSON},
            {"href": f"{base}/conformance?f=html", "rel": "alternate", "type": html.HTML},
        ],
    }
    if not html.wants_html(request, f):
        return _json(body)
    t = html.LABELS[lang]
    return html.page(
        request,
        "conformance.html",
        lang,
        title=t["conformance"],
        crumbs=_crumbs(request, lang, (t["conformance"], None)),
        conforms_to=conforms,
        links=body["links"],
    )


@router.get("/collections", summary="The twin's vector layers", dependencies=[Depends(deps.READ)])
def collections(request: Request, f: Format = None, lang: Lang = None) -> Response:
    lang = html.check_lang(lang)
    ws = deps.twin(request)
    base = deps.base_url(request)
    body = {
        "links": [
            {"href": f"{base}/collections", "rel": "self", "type": JSON},
            {"href": f"{base}/collections?f=html", "rel": "alternate", "type": html.HTML},
        ],
        "collections": [_collection(request, ws, n) for n in ws.store.vector_layers()],
    }
    if not html.wants_html(request, f):
        return _json(body)
    t = html.LABELS[lang]
    return html.page(
        request,
        "collections.html",
        lang,
        title=t["collections"],
        crumbs=_crumbs(request, lang, (t["collections"], None)),
        collections=body["collections"],
        links=body["links"],
    )


@router.get("/collections/{name}", summary="One collection", dependencies=[Depends(deps.READ)])
def collection(request: Request, name: str, f: Format = None, lang: Lang = None) -> Response:
    lang = html.check_lang(lang)
    ws = deps.twin(request)
    _vector(ws, name)
    body = _collection(request, ws, name)
    if not html.wants_html(request, f):
        return _json(body)
    t = html.LABELS[lang]
    return html.page(
        request,
        "collection.html",
        lang,
        title=body["title"],
        crumbs=_crumbs(request, lang, (t["collections"], "/collections"), (body["title"], None)),
        c=body,
        links=body["links"],
    )


# ``async``: served on the event loop's own thread (with its own workspace) instead of the
# thread pool. A page costs milliseconds, and handing the GIL between the loop and pool
# threads across two cores halved throughput (benchmarks/results_api.md); the price is that
# a very large page (limit 10,000) holds the loop for its duration.
@router.get("/collections/{name}/items", summary="Features, filtered by bbox, paged")
async def items(
    request: Request,
    name: str,
    scenario: deps.ScenarioQuery,
    bbox: Annotated[str | None, Query(description="lower and upper corner, in bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="default CRS84")] = None,
    crs_: Annotated[str | None, Query(alias="crs", description="output CRS, default CRS84")] = None,
    limit: Annotated[int, Query(ge=1, description=f"at most {MAX_LIMIT} are returned")] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    datetime_: Annotated[
        str | None,
        Query(alias="datetime", description="an instant (RFC 3339): the twin as it was then"),
    ] = None,
    f: Format = None,
    lang: Lang = None,
) -> Response:
    lang = html.check_lang(lang)
    as_html = html.wants_html(request, f)
    ws = deps.twin(request)
    _vector(ws, name)
    limit = min(limit, MAX_LIMIT)
    target = crs.check(crs_)
    box = crs.bbox_to_rd(bbox, crs.check(bbox_crs, "bbox-crs")) if bbox else None
    as_of = _instant(datetime_) if datetime_ else None
    found = ws.store.features(name, bbox=box, offset=offset, scenario=scenario, as_of=as_of)
    rows = list(itertools.islice(found, limit + 1))
    more = len(rows) > limit
    ahead = max(COUNT_AHEAD, limit)
    matched = _number_matched(ws, name, found, rows, offset, box, scenario, as_of, ahead)
    rows = rows[:limit]
    base = deps.base_url(request)
    features = _features(rows, base, name, target)
    page_type = html.HTML if as_html else GEOJSON
    links = [
        {"href": str(request.url), "rel": "self", "type": page_type},
        {
            "href": html.url_with(request, f="json" if as_html else "html"),
            "rel": "alternate",
            "type": GEOJSON if as_html else html.HTML,
        },
        {"href": f"{base}/collections/{name}", "rel": "collection", "type": JSON},
    ]
    params = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit")}
    pages = {"next": offset + limit if more else None, "prev": _prev(offset, limit)}
    for rel, at in pages.items():
        if at is not None:
            query = urlencode({**params, "limit": limit, "offset": at})
            href = f"{base}/collections/{name}/items?{query}"
            links.append({"href": href, "rel": rel, "type": page_type})
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "links": links,
    }
    if matched is not None:
        body["numberMatched"] = matched
    if not as_html:
        return _json(body, GEOJSON, target)
    t = html.LABELS[lang]
    title = ws.store.layer(name).title or name
    hrefs = {link["rel"]: link["href"] for link in links}
    return html.page(
        request,
        "items.html",
        lang,
        json_type=GEOJSON,
        title=f"{t['items']}: {title} — {_view(lang, scenario, datetime_)}",
        crumbs=_crumbs(
            request,
            lang,
            (t["collections"], "/collections"),
            (title, f"/collections/{name}"),
            (t["items"], None),
        ),
        collection_title=title,
        body=body,
        links=links,
        columns=[c for c in ws.store.schema(name).fields if c != "geometry_3d"],
        svg=html.svg_paths([r.geometry for r in rows]),
        item_href=lambda fid: html.link(request, _item_path(name, fid), lang, scenario=scenario),
        next_href=hrefs.get("next"),
        prev_href=hrefs.get("prev"),
    )


def _prev(offset: int, limit: int) -> int | None:
    return None if offset == 0 else max(0, offset - limit)


def _number_matched(ws, name, found, rows, offset, box, scenario, as_of, ahead) -> int | None:
    """``numberMatched`` when it is cheap (OGC 17-069r4 /req/core/fc-response allows leaving
    it out): the store's own count for a whole layer (baseline or a scenario: SQL counts),
    else (bbox or datetime) by reading on past the page at most ``ahead`` features; when
    more follow, it is left out."""
    if box is None and as_of is None:
        if scenario is None:
            return ws.store.layer(name).count  # kept by the store: cheap
        return ws.store.count(name, scenario=scenario)  # one SQL count through the view
    if not rows and offset > 0:
        return None  # past the end: how far is not known without counting from the start
    rest = sum(1 for _ in itertools.islice(found, ahead + 1))
    return None if rest > ahead else offset + len(rows) + rest


@router.get("/collections/{name}/items/{feature_id:path}", summary="One feature")
def item(
    request: Request,
    name: str,
    feature_id: str,
    scenario: deps.ScenarioQuery,
    crs_: Annotated[str | None, Query(alias="crs", description="output CRS, default CRS84")] = None,
    f: Format = None,
    lang: Lang = None,
) -> Response:
    lang = html.check_lang(lang)
    as_html = html.wants_html(request, f)
    ws = deps.twin(request)
    _vector(ws, name)
    target = crs.check(crs_)
    found = ws.store.lookup(name, [feature_id], scenario=scenario).get(feature_id)
    if found is None:
        raise NotFoundError(f"no feature {feature_id!r} in collection {name!r}")
    base = deps.base_url(request)
    body = _features([found], base, name, target)[0]
    body["links"] += [
        {
            "href": html.url_with(request, f="json" if as_html else "html"),
            "rel": "alternate",
            "type": GEOJSON if as_html else html.HTML,
        },
        {"href": f"{base}/collections/{name}", "rel": "collection", "type": JSON},
    ]
    if not as_html:
        return _json(body, GEOJSON, target)
    t = html.LABELS[lang]
    title = ws.store.layer(name).title or name
    return html.page(
        request,
        "item.html",
        lang,
        json_type=GEOJSON,
        title=f"{feature_id} ({title}) — {_view(lang, scenario, None)}",
        crumbs=_crumbs(
            request,
            lang,
            (t["collections"], "/collections"),
            (title, f"/collections/{name}"),
            (t["items"], f"/collections/{name}/items"),
            (feature_id, None),
        ),
        collection_title=title,
        body=body,
        geometry_type=None if found.geometry is None else found.geometry.geom_type,
        links=body["links"],
        svg=html.svg_paths([found.geometry]),
        items_href=html.link(request, f"/collections/{name}/items", lang, scenario=scenario),
    )
