"""HTML pages of the API: OGC 17-069r4 §8.2, requirements class HTML (``/req/html/definition``:
every 200 response is also available as ``text/html``; ``/req/html/content``: the page holds
the information and every link of the JSON document) and the ``alternate`` links between the
two (``/req/core/root-success``, ``/req/core/fc-links``, ``/req/core/f-links``).

The format is chosen by ``f=html`` / ``f=json``, else by content negotiation on ``Accept``: a
browser (``text/html`` ranked above JSON) gets HTML; GDAL, OWSLib and curl (JSON or ``*/*``)
keep getting JSON. Pages are Dutch (NL API Design Rules ``/core/doc-language``) with English
labels through ``lang=en``; they carry the HTML security headers of
``/core/transport/security-headers`` and load nothing but the page itself: no JavaScript, no
CDN, no fonts, one inline style sheet allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any
from urllib.parse import urlencode

import orjson
import shapely
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from tweeling.core.errors import InputError

HTML = "text/html"
LANGS = ("nl", "en")
_JSON_TYPES = ("application/json", "application/geo+json", "application/problem+json")

LABELS: dict[str, dict[str, str]] = {
    "nl": {
        "api": "Tweeling API",
        "landing": "Startpagina",
        "landing_intro": "Digitale tweeling van de fysieke leefomgeving van Nederland",
        "collections": "Collecties",
        "collection": "Collectie",
        "conformance": "Conformiteit",
        "conformance_intro": "Deze API voldoet aan de volgende conformiteitsklassen:",
        "items": "Objecten",
        "item": "Object",
        "links": "Links",
        "link": "Link",
        "viewer": "Open de 3D-viewer",
        "search": "Zoeken",
        "search_label": "Plaats, object-id, BAG-id of coördinaat",
        "search_button": "Zoek",
        "search_results": "Zoekresultaten",
        "no_results": "Niets gevonden.",
        "as_json": "Deze pagina als JSON",
        "as_geojson": "Deze pagina als GeoJSON",
        "other_language": "English",
        "other_language_note": "Show this page in English",
        "title": "Titel",
        "description": "Beschrijving",
        "id": "Id",
        "extent": "Ruimtelijke begrenzing (lengte, breedte; CRS84)",
        "crs": "Coördinaatreferentiesystemen",
        "storage_crs": "Opslag-CRS",
        "show_items": "Objecten van",
        "show_collection": "Collectie",
        "property": "Eigenschap",
        "value": "Waarde",
        "geometry": "Geometrie",
        "map_of": "Kaartje van",
        "next": "Volgende pagina",
        "prev": "Vorige pagina",
        "returned": "getoond",
        "matched": "gevonden",
        "scenario": "scenario",
        "baseline": "huidige situatie",
        "as_of": "zoals bekend op",
        "kind": "Soort",
        "layer": "Laag",
        "label": "Naam",
        "position": "Positie (lengte, breedte)",
        "api_definition": "API-definitie (OpenAPI)",
        "api_docs": "API-documentatie",
        "no_features": "Geen objecten op deze pagina.",
        "features_in": "Objecten in",
        "back_to_items": "Alle objecten van",
        "skip": "Naar de inhoud",
        "nav": "Kruimelpad",
        "rel_self": "Deze pagina",
        "rel_collection": "De collectie",
        "rel_items": "De objecten van de collectie",
        "rel_next": "Volgende pagina",
        "rel_prev": "Vorige pagina",
        "rel_data": "Collecties",
        "rel_conformance": "Conformiteit",
        "rel_service-desc": "API-definitie (OpenAPI)",
        "rel_service-doc": "API-documentatie",
        "round_report": "Verslag van de consultatieronde",
        "question": "Vraag",
        "round_state": "Stand",
        "state_upcoming": "nog niet open",
        "state_open": "open",
        "state_closed": "gesloten",
        "period": "Periode",
        "alternatives": "Alternatieven",
        "comments": "Reacties",
        "supports": "Steunbetuigingen",
        "by_theme": "Reacties per thema",
        "by_place": "Reacties per buurt",
        "theme": "Thema",
        "place": "Plaats",
        "most_supported": "Meest gesteunde reacties",
        "author": "Door",
        "comment": "Reactie",
        "variants": "Varianten van deelnemers",
        "indicators": "Indicatoren per alternatief en variant",
        "indicator": "Indicator",
        "unit": "Eenheid",
        "none_yet": "Nog geen.",
    },
    "en": {
        "api": "Tweeling API",
        "landing": "Landing page",
        "landing_intro": "Digital twin of the physical living environment of the Netherlands",
        "collections": "Collections",
        "collection": "Collection",
        "conformance": "Conformance",
        "conformance_intro": "This API conforms to the following conformance classes:",
        "items": "Items",
        "item": "Item",
        "links": "Links",
        "link": "Link",
        "viewer": "Open the 3D viewer",
        "search": "Search",
        "search_label": "Place, feature id, BAG id or coordinate",
        "search_button": "Search",
        "search_results": "Search results",
        "no_results": "Nothing found.",
        "as_json": "This page as JSON",
        "as_geojson": "This page as GeoJSON",
        "other_language": "Nederlands",
        "other_language_note": "Toon deze pagina in het Nederlands",
        "title": "Title",
        "description": "Description",
        "id": "Id",
        "extent": "Spatial extent (longitude, latitude; CRS84)",
        "crs": "Coordinate reference systems",
        "storage_crs": "Storage CRS",
        "show_items": "Items of",
        "show_collection": "Collection",
        "property": "Property",
        "value": "Value",
        "geometry": "Geometry",
        "map_of": "Map of",
        "next": "Next page",
        "prev": "Previous page",
        "returned": "shown",
        "matched": "matched",
        "scenario": "scenario",
        "baseline": "current situation",
        "as_of": "as known at",
        "kind": "Kind",
        "layer": "Layer",
        "label": "Name",
        "position": "Position (longitude, latitude)",
        "api_definition": "API definition (OpenAPI)",
        "api_docs": "API documentation",
        "no_features": "No features on this page.",
        "features_in": "Features in",
        "back_to_items": "All items of",
        "skip": "Skip to content",
        "nav": "Breadcrumb",
        "rel_self": "This page",
        "rel_collection": "The collection",
        "rel_items": "The items of the collection",
        "rel_next": "Next page",
        "rel_prev": "Previous page",
        "rel_data": "Collections",
        "rel_conformance": "Conformance",
        "rel_service-desc": "API definition (OpenAPI)",
        "rel_service-doc": "API documentation",
        "round_report": "Consultation round report",
        "question": "Question",
        "round_state": "State",
        "state_upcoming": "not yet open",
        "state_open": "open",
        "state_closed": "closed",
        "period": "Period",
        "alternatives": "Alternatives",
        "comments": "Comments",
        "supports": "Supports",
        "by_theme": "Comments by theme",
        "by_place": "Comments by neighbourhood",
        "theme": "Theme",
        "place": "Place",
        "most_supported": "Most supported comments",
        "author": "By",
        "comment": "Comment",
        "variants": "Participants' variants",
        "indicators": "Indicators per alternative and variant",
        "indicator": "Indicator",
        "unit": "Unit",
        "none_yet": "None yet.",
    },
}

# One style sheet, inline, allowed by its hash: no other origin, no inline script.
# Colours pass WCAG 2.1 AA contrast (text #1a1a1a / links #0b4f8a on white, >= 7:1).
CSS = """
body{font-family:system-ui,sans-serif;color:#1a1a1a;background:#fff;margin:0;line-height:1.5}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{border-bottom:2px solid #0b4f8a}
a{color:#0b4f8a}a:focus{outline:3px solid #b35900;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff}
nav ol{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5rem}
nav li+li::before{content:"/";margin-right:.5rem}
.meta{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0}
.wide{overflow-x:auto}
table{border-collapse:collapse;margin:1rem 0}
th,td{border:1px solid #767676;padding:.25rem .5rem;text-align:left;vertical-align:top}
thead th{background:#e8eef4}
td code{white-space:pre-wrap;word-break:break-all}
svg{border:1px solid #767676;max-width:100%;height:auto;background:#f4f4f0}
.area{fill:#0b4f8a;fill-opacity:.35;fill-rule:evenodd;stroke:#0b4f8a;stroke-width:1.5}
.line{fill:none;stroke:#0b4f8a;stroke-width:2}
.pt{fill:#0b4f8a}
form{margin:1rem 0}input{font:inherit;padding:.25rem}button{font:inherit}
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
# /core/transport/security-headers, the HTML part: nothing runs, nothing else is loaded.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

_env = Environment(
    loader=PackageLoader("tweeling.api", "templates"),
    autoescape=True,  # every value is escaped: names, ids and properties come from data
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def wants_html(request: Request, f: str | None) -> bool:
    """``f`` decides when given; else ``Accept``: HTML only when ``text/html`` ranks above
    every JSON type the client names and no lower than its wildcards (RFC 9110 §12.5.1)."""
    if f is not None:
        value = f.strip().lower()
        if value in ("html", HTML):
            return True
        if value in ("json", "geojson", *_JSON_TYPES):
            return False
        raise InputError(f"f {f!r}: use f=json or f=html")
    html_q, json_q, any_q = 0.0, 0.0, 0.0
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = _quality(params)
        if media in (HTML, "application/xhtml+xml"):
            html_q = max(html_q, q)
        elif media in _JSON_TYPES or media.endswith("+json"):
            json_q = max(json_q, q)
        elif media in ("*/*", "application/*", "text/*"):
            any_q = max(any_q, q)
    return html_q > 0 and html_q > json_q and html_q >= any_q


def _quality(params: str) -> float:
    for p in params.split(";"):
        key, _, value = p.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if math.isfinite(q) and 0 <= q <= 1 else 0.0
    return 1.0


def check_lang(lang: str | None) -> str:
    if lang is None:
        return "nl"
    if lang not in LANGS:
        raise InputError(f"lang {lang!r}: use lang=nl or lang=en")
    return lang


def url_with(request: Request, **changes: Any) -> str:
    """This request's URL with query parameters set (``None`` removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        key = key.rstrip("_")
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    url = str(request.url.replace(query=""))
    return url.rstrip("?") + ("?" + urlencode(params) if params else "")


def html_alternate(request: Request) -> dict[str, str]:
    """The ``alternate`` link a JSON document gives to its own HTML page."""
    return {
        "href": url_with(request, f="html"),
        "rel": "alternate",
        "type": HTML,
        "title": "This document as HTML",
    }


def page(
    request: Request,
    template: str,
    lang: str,
    *,
    json_type: str = "application/json",
    **context: Any,
) -> HTMLResponse:
    """A page rendered from ``templates/<template>``; links back to the JSON document.

    ``links`` (the JSON document's) are listed as the page's own: ``self`` is this page and
    ``alternate`` the JSON document.
    """
    other = "en" if lang == "nl" else "nl"
    json_href = url_with(request, f="json", lang=None)
    if "links" in context:
        context["links"] = [_own(request, link, json_href, json_type) for link in context["links"]]
    html = _env.get_template(template).render(
        t=LABELS[lang],
        lang=lang,
        css=CSS,
        json_href=json_href,
        json_type=json_type,
        lang_href=url_with(request, lang=None if other == "nl" else other),
        other_lang=other,
        viewer_href=str(request.base_url) + "viewer/",
        link=lambda path, **q: link(request, path, lang, **q),
        **context,
    )
    headers = {**SECURITY_HEADERS, "Content-Language": lang, "Vary": "Accept"}
    return HTMLResponse(html, headers=headers)


def _own(request: Request, link: dict, json_href: str, json_type: str) -> dict:
    if link["rel"] == "self":
        return {**link, "href": str(request.url), "type": HTML}
    if link["rel"] == "alternate" and link.get("type") == HTML:
        return {**link, "href": json_href, "type": json_type, "title": ""}
    return link


def link(request: Request, path: str, lang: str, **query: Any) -> str:
    """A link to another page of the API, in the same language."""
    params = {k.rstrip("_"): v for k, v in query.items() if v is not None}
    if lang != "nl":
        params["lang"] = lang
    base = str(request.base_url).rstrip("/")
    return base + path + ("?" + urlencode(params) if params else "")


def display(value: Any) -> str:
    """A property value as text: JSON for lists and objects, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def is_web_link(value: Any) -> bool:
    """Only http(s) values become links (never ``javascript:`` or ``data:``)."""
    return isinstance(value, str) and value.startswith(("https://", "http://")) and " " not in value


def svg_paths(geometries: list[Any], size: int = 480) -> dict[str, Any] | None:
    """Inline SVG of geometries in a projected CRS (RD New): a viewBox with y up, and per
    geometry a path ``d`` (areas and lines) or circles (points). Numbers only: nothing from
    the data reaches the markup unescaped."""
    geoms = [g for g in geometries if g is not None and not g.is_empty]
    if not geoms:
        return None
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    span = max(x1 - x0, y1 - y0, 1.0)
    pad = span * 0.05
    x0, y0, span = x0 - pad, y0 - pad, span + 2 * pad

    def xy(c) -> str:
        return f"{(c[0] - x0) / span * size:.1f},{(y0 + span - c[1]) / span * size:.1f}"

    shapes = []
    for g in geoms:
        areas, lines, points = [], [], []
        for part in shapely.get_parts(g):
            if part.geom_type == "Point":
                points.append(xy(part.coords[0]).split(","))
            elif part.geom_type == "Polygon":
                for ring in (part.exterior, *part.interiors):
                    areas.append("M" + " L".join(xy(c) for c in ring.coords) + " Z")
            else:
                lines.append("M" + " L".join(xy(c) for c in part.coords))
        shapes.append({"area": " ".join(areas), "line": " ".join(lines), "points": points})
    return {"size": size, "shapes": shapes}


_env.globals.update(show=display, web_link=is_web_link)
