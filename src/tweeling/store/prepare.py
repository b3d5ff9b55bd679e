"""Preparing records for the store without touching it: checks, encoding, hashes.

Pure functions (no database), so that the work can run in another process while the store
writes (see services.importing). :func:`prepare_chunk` turns a FeatureChunk into the rows the
GeoPackage store writes: geometries checked (present, valid, inside the Dutch RD New domain,
of the layer's type), GeoPackage blobs with envelopes, attributes checked against the schema,
canonical JSON, content hashes and time-axis text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from tweeling.core.crs import RD_BOUNDS
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureChunk, LayerSchema
from tweeling.core.timeaxis import to_text
from tweeling.store import gpkg_geometry, gpkg_schema
from tweeling.store.values import (
    column_lists,
    content_hashes,
    normalise_columns,
    props_json_rows,
)

_MULTI = {"MULTIPOLYGON": "Polygon", "MULTILINESTRING": "LineString", "MULTIPOINT": "Point"}


@dataclass
class PreparedChunk:
    """A chunk of one layer, checked and encoded: what the store writes, row by row."""

    layer: str
    ids: list[str]
    blobs: list[bytes]
    boxes: np.ndarray  # (n, 4): minx, miny, maxx, maxy (NaN for empty geometries)
    props: list[bytes]  # canonical JSON
    hashes: list[str]
    axes: list[list[str | None]]  # valid_from, valid_to, recorded_at, record_end as text
    values: list[list[Any]]  # per field of ``fields``, as stored in the typed columns
    fields: list[str]  # the schema's fields when prepared (the store may know more)

    def __len__(self) -> int:
        return len(self.ids)


def prepare_chunk(schema: LayerSchema, chunk: FeatureChunk, *, path: str | None) -> PreparedChunk:
    ids = chunk.ids
    n = len(ids)
    for i in ids:
        if type(i) is not str or not i:
            raise InputError("feature without an identifier", path=path, object_id=i)
    geoms = check_geometries(schema, chunk.geometries, ids, path=path)
    blobs, bounds = gpkg_geometry.encode(geoms, gpkg_schema.srs_id_for(schema))
    columns = normalise_columns(schema, chunk.columns, ids, path=path)
    props = props_json_rows(columns, n)
    axes = [
        [None] * n if axis is None else [None if t is None else to_text(t) for t in axis]
        for axis in (chunk.valid_from, chunk.valid_to, chunk.recorded_at, chunk.record_end)
    ]
    if all(
        axis is None
        for axis in (chunk.valid_from, chunk.valid_to, chunk.recorded_at, chunk.record_end)
    ):
        stamps = [b"\x00\x00\x00"] * n
    else:
        stamps = [
            f"{a or ''}\x00{b or ''}\x00{c or ''}\x00{d or ''}".encode()
            for a, b, c, d in zip(*axes, strict=True)
        ]
    return PreparedChunk(
        layer=schema.name,
        ids=ids,
        blobs=blobs,
        boxes=bounds,
        props=props,
        hashes=content_hashes(blobs, props, stamps),
        axes=axes,
        values=column_lists(schema, columns, n),
        fields=list(schema.fields),
    )


def check_geometries(
    schema: LayerSchema, geoms: np.ndarray, ids: list[str], *, path: str | None
) -> np.ndarray:
    """Geometries present, valid, inside the RD New domain and of the layer's type."""
    geoms = np.asarray(geoms, dtype=object)
    missing = shapely.is_missing(geoms)
    if missing.any():
        raise InputError(
            "feature without geometry", path=path, object_id=ids[int(np.argmax(missing))]
        )
    valid = shapely.is_valid(geoms)
    if not valid.all():
        i = int(np.argmin(valid))
        reason = shapely.is_valid_reason(geoms[i])
        raise InputError(f"invalid geometry: {reason}", path=path, object_id=ids[i])
    bounds = shapely.bounds(geoms)
    bx0, by0, bx1, by1 = RD_BOUNDS
    inside = (
        (bounds[:, 0] >= bx0)
        & (bounds[:, 1] >= by0)
        & (bounds[:, 2] <= bx1)
        & (bounds[:, 3] <= by1)
    ) | np.isnan(bounds[:, 0])
    if not inside.all():
        i = int(np.argmin(inside))
        raise InputError(
            f"coordinates {tuple(round(float(b), 3) for b in bounds[i])} lie outside the "
            "Netherlands in RD New (EPSG:28992); is the coordinate reference system right?",
            path=path,
            object_id=ids[i],
        )
    return _conform(schema, geoms, ids, path)


def _conform(schema: LayerSchema, geoms: np.ndarray, ids: list[str], path) -> np.ndarray:
    """Geometries as the layer's declared type: singles promoted to multis where declared."""
    gtype = schema.geometry_type
    if gtype in ("GEOMETRY", "GEOMETRYCOLLECTION"):
        return geoms
    names = shapely.get_type_id(geoms)
    type_names = np.array(
        [
            "Point",
            "LineString",
            "LinearRing",
            "Polygon",
            "MultiPoint",
            "MultiLineString",
            "MultiPolygon",
            "GeometryCollection",
        ]
    )[names]
    wanted = {
        "MULTIPOLYGON": "MultiPolygon",
        "MULTILINESTRING": "MultiLineString",
        "MULTIPOINT": "MultiPoint",
        "POLYGON": "Polygon",
        "LINESTRING": "LineString",
        "POINT": "Point",
    }[gtype]
    single = _MULTI.get(gtype)
    out = geoms.copy()
    for i, t in enumerate(type_names):
        if t == wanted:
            continue
        if single is not None and t == single:
            out[i] = (
                shapely.multipolygons([geoms[i]])
                if single == "Polygon"
                else (
                    shapely.multilinestrings([geoms[i]])
                    if single == "LineString"
                    else shapely.multipoints([geoms[i]])
                )
            )
            continue
        raise InputError(
            f"geometry type {t} does not fit layer {schema.name!r} ({gtype})",
            path=path,
            object_id=ids[i],
        )
    return out
