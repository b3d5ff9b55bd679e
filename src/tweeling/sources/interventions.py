"""Reading interventions from a YAML or GeoJSON file (see docs/scenarios.md for the format).

YAML::

    crs: EPSG:28992            # optional; RD New when absent
    interventions:
      - kind: add              # add | modify | remove | parameter
        layer: buildings
        id: housing-block-1    # optional for add (an id is made up)
        title: Housing block on the open plot
        rationale: Municipal housing target 2030
        geometry: {type: Polygon, coordinates: [...]}   # GeoJSON geometry, or WKT text
        properties: {height_m: 15.0}
      - kind: parameter
        parameter: traffic_growth
        value: 1.2
        unit: "1"
        title: Traffic grows 20 %

GeoJSON: a FeatureCollection whose features carry an ``intervention`` member with ``kind``,
``layer``, ``title``, ``rationale`` (and ``parameter``, ``value``, ``unit`` for parameters);
the feature's ``id``, ``geometry`` and ``properties`` are the object's. Coordinates are WGS 84
longitude/latitude (RFC 7946) unless the file has a ``crs`` member or a CRS is given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import yaml

from tweeling.core.crs import CRS84, RD_NEW, normalise_crs
from tweeling.core.errors import InputError
from tweeling.core.interventions import Intervention
from tweeling.sources.geojson_geometry import check_lonlat, read_geometry

FIELDS = {
    "kind",
    "layer",
    "id",
    "title",
    "rationale",
    "geometry",
    "properties",
    "parameter",
    "value",
    "unit",
}


def read_interventions(path: str | os.PathLike, *, crs: str | None = None) -> list[Intervention]:
    """Interventions from a ``.yaml``/``.yml`` or ``.geojson``/``.json`` file, checked, with
    geometries in RD New. Errors name the file, the item and the field."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read interventions: {exc.strerror}", path=path) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return _from_yaml(text, path, crs)
    if path.suffix.lower() in (".geojson", ".json"):
        return _from_geojson(text, path, crs)
    raise InputError("interventions come in a .yaml, .yml, .geojson or .json file", path=path)


def _from_yaml(text: bytes, path: Path, crs: str | None) -> list[Intervention]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InputError(
            f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", path=path
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("interventions"), list):
        raise InputError("expected a mapping with a list 'interventions'", path=path)
    unknown = set(doc) - {"crs", "interventions"}
    if unknown:
        raise InputError(f"unknown top-level keys: {', '.join(sorted(unknown))}", path=path)
    source_crs = normalise_crs(crs or doc.get("crs") or RD_NEW, path=path)
    out = []
    for n, item in enumerate(doc["interventions"], start=1):
        label = f"item {n}"
        if not isinstance(item, dict):
            raise InputError("an intervention is a mapping", path=path, object_id=label)
        unknown = set(item) - FIELDS
        if unknown:
            raise InputError(
                f"unknown keys: {', '.join(sorted(map(str, unknown)))} (known: "
                f"{', '.join(sorted(FIELDS))})",
                path=path,
                object_id=label,
            )
        geometry = read_geometry(item.get("geometry"), source_crs, path, label)
        out.append(
            make_intervention(
                item, geometry, item.get("properties") or {}, item.get("id"), path, label
            )
        )
    return out


def _from_geojson(text: bytes, path: Path, crs: str | None) -> list[Intervention]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", path=path) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputError("expected a GeoJSON FeatureCollection", path=path)
    declared = ((doc.get("crs") or {}).get("properties") or {}).get("name")
    source_crs = normalise_crs(crs or declared or CRS84, path=path)
    lonlat = crs is None and declared is None
    out = []
    for n, feature in enumerate(doc.get("features") or [], start=1):
        label = f"feature {n}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise InputError("not a GeoJSON Feature", path=path, object_id=label)
        meta = feature.get("intervention")
        if not isinstance(meta, dict):
            raise InputError(
                "a feature needs an 'intervention' member with kind, layer, title, rationale",
                path=path,
                object_id=label,
            )
        unknown = set(meta) - (FIELDS - {"geometry", "properties", "id"})
        if unknown:
            raise InputError(
                f"unknown keys in 'intervention': {', '.join(sorted(map(str, unknown)))}",
                path=path,
                object_id=label,
            )
        raw = feature.get("geometry")
        if lonlat and raw:
            check_lonlat(raw, path, label)
        geometry = read_geometry(raw, source_crs, path, label)
        fid = feature.get("id")
        out.append(
            make_intervention(
                meta,
                geometry,
                feature.get("properties") or {},
                None if fid is None else str(fid),
                path,
                label,
            )
        )
    return out


def make_intervention(
    item: dict[str, Any], geometry, properties, object_id, path: Path, label: str
) -> Intervention:
    return Intervention(
        kind=item.get("kind"),
        title=item.get("title") or "",
        rationale=item.get("rationale") or "",
        layer=item.get("layer"),
        id=object_id,
        geometry=geometry,
        properties=properties,
        parameter=item.get("parameter"),
        value=item.get("value"),
        unit=None if item.get("unit") is None else str(item.get("unit")),
        origin=str(path),
        label=label if object_id is None else f"{label} ({object_id})",
    ).check()
