"""``GET /search?q=…&limit=…``: the twin's gazetteer (:mod:`tweeling.services.search`).

Results carry ``kind`` and ``layer`` (the collection a hit belongs to, as NL API Design Rules
geo module API-GEO-3 asks of a global search) and a point and bbox in CRS84; JSON by default,
an HTML page for a browser (``f``/``Accept`` as in :mod:`tweeling.api.html`). A bad query is
a 400 (empty, longer than 200 characters) or an empty list (only punctuation), never a 500.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tweeling.api import deps, html
from tweeling.services import search as gazetteer

router = APIRouter()


@router.get("/search", summary="Find places, features, BAG ids and coordinates")
def search(
    request: Request,
    q: Annotated[
        str,
        Query(
            description="a place name, a feature or BAG id, or a coordinate "
            "(x,y in RD New or lon,lat)",
            max_length=gazetteer.MAX_QUERY,
        ),
    ],
    scenario: deps.ScenarioQuery,
    limit: Annotated[int, Query(ge=1, le=gazetteer.MAX_LIMIT)] = 10,
    f: Annotated[str | None, Query(description="json or html; by default from Accept")] = None,
    lang: Annotated[str | None, Query(description="language of the HTML page: nl, en")] = None,
) -> Response:
    lang = html.check_lang(lang)
    as_html = html.wants_html(request, f)
    ws = deps.twin(request)
    hits = gazetteer.search(ws.store, q, limit=limit, scenario=scenario)
    base = str(request.base_url).rstrip("/")
    results = []
    for h in hits:
        out = h.to_dict()
        if h.layer and h.id:
            out["href"] = f"{base}/collections/{h.layer}/items/{quote(h.id, safe='')}"
        results.append(out)
    body = {
        "query": q,
        "numberReturned": len(results),
        "results": results,
        "links": [
            {"href": str(request.url), "rel": "self", "type": "application/json"},
            html.html_alternate(request),
        ],
    }
    if not as_html:
        return Response(
            orjson.dumps(body), media_type="application/json", headers={"Vary": "Accept"}
        )
    t = html.LABELS[lang]
    return html.page(
        request,
        "search.html",
        lang,
        title=f"{t['search_results']}: {q}",
        crumbs=[(t["api"], html.link(request, "/", lang)), (t["search"], None)],
        query=q,
        results=results,
        search_action=f"{base}/search",
        item_link=lambda r: html.link(
            request, f"/collections/{r['layer']}/items/{quote(r['id'], safe='')}", lang
        ),
    )
