"""Interventions in a JSON request body, read like the intervention files
(``sources.interventions``; format in docs/scenarios.md): the same fields, the same checks,
geometries (GeoJSON or WKT) transformed into RD New.

Coordinates are CRS84 longitude/latitude by default, as in GeoJSON (RFC 7946); a ``crs``
for the whole body or per item (e.g. ``EPSG:28992``) says otherwise. Errors name the item
(``item 2``) and the field, and come before anything is applied.
"""

from __future__ import annotations

from typing import Any

import shapely
import shapely.geometry

from tweeling.core.crs import CRS84, normalise_crs
from tweeling.core.errors import InputError
from tweeling.core.interventions import Intervention
from tweeling.sources.geojson_geometry import check_lonlat, read_geometry
from tweeling.sources.interventions import FIELDS, make_intervention

ORIGIN = "request"
MAX_ITEMS = 1_000
MAX_VERTICES = 10_000


def read_items(
    items: list[Any],
    crs: str | None = None,
    *,
    max_items: int = MAX_ITEMS,
    max_vertices: int = MAX_VERTICES,
) -> list[Intervention]:
    """Interventions of a request body; at most ``max_items`` of them, with at most
    ``max_vertices`` coordinates per geometry (a 5-million-vertex polygon once stalled every
    later read of its scenario)."""
    if len(items) > max_items:
        raise InputError(f"at most {max_items} interventions per request", path=ORIGIN)
    default = normalise_crs(crs or CRS84, path=ORIGIN)
    out = []
    for n, item in enumerate(items, start=1):
        label = f"item {n}"
        if not isinstance(item, dict):
            raise InputError("an intervention is a JSON object", path=ORIGIN, object_id=label)
        unknown = set(item) - FIELDS - {"crs"}
        if unknown:
            raise InputError(
                f"unknown keys: {', '.join(sorted(map(str, unknown)))} (known: "
                f"{', '.join(sorted([*FIELDS, 'crs']))})",
                path=ORIGIN,
                object_id=label,
            )
        own = item.get("crs")
        if own is not None and (not isinstance(own, str) or len(own) > 200):
            raise InputError("crs is a CRS name such as EPSG:28992", path=ORIGIN, object_id=label)
        source = normalise_crs(own, path=ORIGIN) if own else default
        raw = item.get("geometry")
        if raw is not None and not isinstance(raw, dict | str):
            raise InputError(
                "a geometry is a GeoJSON object or WKT text",
                path=ORIGIN,
                object_id=label,
                field="geometry",
            )
        if raw is not None and crs is None and own is None:
            _check_lonlat(raw, label)
        if raw is not None and _coordinates(raw) > max_vertices:
            raise InputError(
                f"a geometry has at most {max_vertices} vertices here",
                path=ORIGIN,
                object_id=label,
                field="geometry",
            )
        geometry = read_geometry(raw, source, ORIGIN, label)
        out.append(
            make_intervention(
                item, geometry, item.get("properties") or {}, item.get("id"), ORIGIN, label
            )
        )
    return out


def _check_lonlat(raw: dict | str, label: str) -> None:
    """RD metres given without a CRS would land far off the map: say so (as the GeoJSON
    reader does)."""
    if isinstance(raw, str):
        try:
            raw = shapely.geometry.mapping(shapely.from_wkt(raw))
        except Exception:  # unreadable WKT is reported by read_geometry
            return
    check_lonlat(raw, ORIGIN, label)


def _coordinates(raw: dict | str) -> int:
    """Coordinates in a GeoJSON geometry (counted before parsing it) or WKT text."""
    if isinstance(raw, str):
        return raw.count(",") + 1
    count, todo = 0, [raw.get("coordinates"), *(raw.get("geometries") or [])]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo += [item.get("coordinates"), *(item.get("geometries") or [])]
        elif isinstance(item, list):
            if item and all(isinstance(v, int | float) for v in item):
                count += 1
            else:
                todo.extend(item)
    return count
