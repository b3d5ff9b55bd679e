"""Importing model input layers (road traffic, wind turbines, nitrogen sources) from GeoJSON.

A FeatureCollection whose features each have an ``id`` and the properties of the layer's
schema (``tweeling.models.input_layers``; unknown fields are refused, ranges checked).
Coordinates are WGS 84 longitude/latitude (RFC 7946) unless the file has a ``crs`` member or
a CRS is given. An empty collection declares the layer without objects (scenarios then add
them). The whole file is checked before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from tweeling.core.crs import CRS84, normalise_crs
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, ImportBatch
from tweeling.models.input_layers import input_layer
from tweeling.sources.geojson_geometry import check_lonlat, read_geometry


def read_model_inputs(
    path: str | os.PathLike, *, layer: str, crs: str | None = None
) -> ImportBatch:
    path = Path(path)
    spec = input_layer(layer)
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", path=path) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InputError("expected a GeoJSON FeatureCollection", path=path)
    declared = ((doc.get("crs") or {}).get("properties") or {}).get("name")
    source_crs = normalise_crs(crs or declared or CRS84, path=path)
    lonlat = crs is None and declared is None
    records: list[FeatureRecord] = []
    seen: set[str] = set()
    for n, feature in enumerate(doc.get("features") or [], start=1):
        label = f"feature {n}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise InputError("not a GeoJSON Feature", path=path, object_id=label)
        fid = feature.get("id")
        if fid is None or str(fid) == "":
            raise InputError("every feature needs an 'id'", path=path, object_id=label)
        fid = str(fid)
        if fid in seen:
            raise InputError("id used twice in the file", path=path, object_id=fid)
        seen.add(fid)
        raw = feature.get("geometry")
        if lonlat and raw:
            check_lonlat(raw, path, fid)
        geometry = read_geometry(raw, source_crs, path, fid)
        try:
            values = spec.check(fid, geometry, feature.get("properties") or {})
        except InputError as exc:
            raise InputError(
                exc.reason, path=path, object_id=exc.object_id, field=exc.field
            ) from None
        records.append(FeatureRecord(layer, fid, geometry, values))
    return ImportBatch(
        source=f"model-inputs:{path.name}",
        path=str(path),
        layers=[spec.schema()],
        features=records,
        total=len(records),
    )
