"""GeoJSON text sequences (RFC 8142; also newline-delimited GeoJSON) read in columnar chunks.

GDAL's GeoJSONSeq driver scans the whole file at every open and parses with a general JSON
library; for the bulk files this format is used for (exports, synthetic scale data) that
makes the parser the slowest part of an import. This reader parses each line with orjson
and builds geometries in bulk with ``shapely.from_ragged_array`` (one call per geometry type
per chunk), falling back to GEOS's own GeoJSON reader for geometry collections and mixed
dimensions.

The schema (field names and JSON value types) must be declared before any record is written.
It is inferred from the first chunk; later records are checked against it as they stream,
and in the rare case one does not fit the import is rolled back and repeated after a scan of
the whole file (:class:`~tweeling.core.errors.SchemaChanged`). Memory is bounded by the
chunk size. The CRS is the one given (GeoJSON text sequences carry none), else CRS84 as RFC
7946 says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from shapely import GeometryType

from tweeling.core.crs import CRS84, check_rd_bounds, normalise_crs, transform_to_rd
from tweeling.core.errors import InputError, SchemaChanged
from tweeling.core.features import FeatureChunk, FieldType

SUFFIXES = frozenset({".geojsons", ".geojsonl", ".geojsonseq", ".ndjson"})
_RS = b"\x1e"  # RFC 8142 record separator

# JSON value type -> field type; merged per field over the whole file.
_JSON_TYPES = {
    bool: FieldType.BOOLEAN,
    int: FieldType.INTEGER,
    float: FieldType.REAL,
    str: FieldType.TEXT,
    list: FieldType.JSON,
    dict: FieldType.JSON,
}


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-empty records with their 1-based line numbers."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            line = line.strip().lstrip(_RS)
            if line:
                yield number, line


def _parse(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        feature = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise InputError(f"line {number}: not valid JSON ({e})", path=path) from None
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InputError(f"line {number}: not a GeoJSON Feature", path=path)
    return feature


def merge_type(old: FieldType | None, new: FieldType) -> FieldType:
    """The field type that holds both: integers widen to reals, anything else to text/JSON."""
    if old is None or old == new:
        return new
    if {old, new} == {FieldType.INTEGER, FieldType.REAL}:
        return FieldType.REAL
    if FieldType.JSON in (old, new):
        return FieldType.JSON
    return FieldType.TEXT


def scan_schema(
    path: Path, limit: int | None = None
) -> tuple[dict[str, FieldType], int, str, bool]:
    """Fields with their types, the record count, the geometry type, and whether the scan
    saw the whole file (it stops after ``limit`` records when one is given)."""
    fields: dict[str, FieldType | None] = {}
    count = 0
    gtypes: set[str] = set()
    for number, line in _lines(path):
        if limit is not None and count >= limit:
            return _types(fields), count, _geometry_type(gtypes), False
        feature = _parse(path, number, line)
        count += 1
        geometry = feature.get("geometry")
        gtypes.add(geometry.get("type", "?") if isinstance(geometry, dict) else "None")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise InputError(f"line {number}: properties is not an object", path=path)
        for key, value in props.items():
            if value is None:
                fields.setdefault(key, None)
                continue
            ftype = _JSON_TYPES.get(type(value), FieldType.TEXT)
            fields[key] = merge_type(fields.get(key), ftype)
    return _types(fields), count, _geometry_type(gtypes), True


def _types(fields: dict[str, FieldType | None]) -> dict[str, FieldType]:
    return {k: (v or FieldType.TEXT) for k, v in fields.items()}


def _geometry_type(gtypes: set[str]) -> str:
    """One type; a single type and its multi form give the multi type; else GEOMETRY."""
    upper = {g.upper() for g in gtypes}
    if len(upper) == 1:
        return upper.pop()
    multis = {g for g in upper if g.startswith("MULTI")}
    if len(multis) == 1 and upper == multis | {multis.copy().pop()[5:]}:
        return multis.pop()
    return "GEOMETRY"


def allowed_geometry_types(gtype: str) -> set[str] | None:
    """GeoJSON geometry types a layer type takes (None: any)."""
    if gtype == "GEOMETRY":
        return None
    names = {"POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon"}
    if gtype.startswith("MULTI"):
        single = names[gtype[5:]]
        return {single, "Multi" + single}
    return {names[gtype]}


def read_chunks(
    path: Path,
    *,
    layer: str,
    field_types: dict[str, FieldType],
    renames: dict[str, str],
    id_field: str | None,
    crs: object | None,
    chunk_size: int = 50_000,
    verify_from: int | None = None,
    geometry_type: str = "GEOMETRY",
) -> Iterator[FeatureChunk]:
    """Stream the file as FeatureChunks of ``chunk_size`` records (geometries in RD New).

    Ids: the ``id_field`` property, else the Feature's ``id`` member, else the line number.
    Values of a field typed TEXT that are numbers or booleans become text; REAL fields take
    integers as floats. When the schema was inferred from the first ``verify_from`` records
    only, later records are checked against it and :class:`SchemaChanged` is raised at the
    first that does not fit (the caller then scans the whole file and reads it again).
    """
    source_crs = normalise_crs(crs if crs is not None else CRS84, path=path)
    buffer: list[tuple[int, dict]] = []
    allowed = allowed_geometry_types(geometry_type)
    fitting: set[tuple] = set()  # record shapes (keys, value types, geometry type) known to fit
    for index, (number, line) in enumerate(_lines(path)):
        feature = _parse(path, number, line)
        if verify_from is not None and index >= verify_from:
            props = feature.get("properties") or {}
            geometry = feature.get("geometry")
            shape = (
                tuple(props),
                tuple(map(type, props.values())),
                geometry.get("type") if isinstance(geometry, dict) else None,
            )
            if shape not in fitting:
                _verify(path, number, feature, field_types, allowed)
                fitting.add(shape)
        buffer.append((number, feature))
        if len(buffer) >= chunk_size:
            yield _chunk(path, layer, buffer, field_types, renames, id_field, source_crs)
            buffer = []
    if buffer:
        yield _chunk(path, layer, buffer, field_types, renames, id_field, source_crs)


def _verify(path, number, feature, field_types, allowed) -> None:
    props = feature.get("properties") or {}
    for key, value in props.items():
        ftype = field_types.get(key)
        if ftype is None:
            raise SchemaChanged(f"{path}: line {number}: field {key!r} not seen before")
        if value is not None and ftype is not FieldType.TEXT and ftype is not FieldType.JSON:
            vtype = _JSON_TYPES.get(type(value), FieldType.TEXT)
            if merge_type(ftype, vtype) != ftype:
                raise SchemaChanged(f"{path}: line {number}: field {key!r} holds a {vtype}")
    geometry = feature.get("geometry")
    if allowed is not None and isinstance(geometry, dict) and geometry.get("type") not in allowed:
        raise SchemaChanged(f"{path}: line {number}: geometry type {geometry.get('type')}")


def _chunk(path, layer, buffer, field_types, renames, id_field, source_crs) -> FeatureChunk:
    ids = [_feature_id(path, number, f, id_field) for number, f in buffer]
    geoms = geometries(
        [f.get("geometry") for _, f in buffer], path, [number for number, _ in buffer]
    )
    geoms = transform_to_rd(geoms, source_crs)
    if len(geoms):
        per = shapely.bounds(geoms)
        lost = ~np.isfinite(per).all(axis=1) & ~shapely.is_missing(geoms)
        if lost.any():  # coordinates the source CRS does not have: another CRS, undeclared
            i = int(np.argmax(lost))
            raise InputError(
                f"coordinates outside {source_crs.name} (the file's CRS as given or GeoJSON's "
                "default, longitude/latitude): is the file in another CRS, such as RD New? "
                "name it (--crs EPSG:28992)",
                path=path,
                object_id=ids[i],
            )
        bounds = shapely.total_bounds(geoms)
        if np.all(np.isfinite(bounds)):
            check_rd_bounds(tuple(float(b) for b in bounds), path=path)
    props = [f.get("properties") or {} for _, f in buffer]
    columns = {}
    for name, ftype in field_types.items():
        values = [p.get(name) for p in props]
        if ftype is FieldType.TEXT:
            values = [v if v is None or type(v) is str else _text(v) for v in values]
        elif ftype is FieldType.REAL:
            values = [v if v is None or type(v) is float else float(v) for v in values]
        columns[renames.get(name, name)] = values
    return FeatureChunk(layer=layer, ids=ids, geometries=geoms, columns=columns)


def _text(value: Any) -> str:
    return orjson.dumps(value).decode() if isinstance(value, (bool, list, dict)) else str(value)


def _feature_id(path: Path, number: int, feature: dict, id_field: str | None) -> str:
    if id_field is not None:
        value = (feature.get("properties") or {}).get(id_field)
        if value is None or value == "":
            raise InputError(f"line {number}: id field is empty", path=path, field=id_field)
        return str(value)
    value = feature.get("id")
    return str(number) if value is None else str(value)


# ------------------------------------------------------------------ geometry in bulk

_RAGGED = {
    "Point": (GeometryType.POINT, 0),
    "LineString": (GeometryType.LINESTRING, 1),
    "MultiPoint": (GeometryType.MULTIPOINT, 1),
    "Polygon": (GeometryType.POLYGON, 2),
    "MultiLineString": (GeometryType.MULTILINESTRING, 2),
    "MultiPolygon": (GeometryType.MULTIPOLYGON, 3),
}


def geometries(items: list[Any], path: Path, numbers: list[int]) -> np.ndarray:
    """Shapely geometries of GeoJSON geometry objects, built per type in bulk."""
    out = np.empty(len(items), dtype=object)
    groups: dict[str, list[int]] = {}
    for i, g in enumerate(items):
        if not isinstance(g, dict):
            raise InputError(f"line {numbers[i]}: feature has no geometry", path=path)
        groups.setdefault(g.get("type"), []).append(i)
    for gtype, index in groups.items():
        spec = _RAGGED.get(gtype)
        built = None
        if spec is not None:
            built = _ragged([items[i].get("coordinates") for i in index], *spec)
        if built is None:  # collections, mixed dimensions, odd input: GEOS reads each
            built = _one_by_one([items[i] for i in index], path, [numbers[i] for i in index])
        out[index] = built
    return out


def _ragged(coords: list[Any], gtype: GeometryType, depth: int) -> np.ndarray | None:
    """Build geometries with ``shapely.from_ragged_array``; None when the input is irregular."""
    flat: list[Any] = []
    offsets: list[list[int]] = [[0] for _ in range(depth)]
    try:
        for c in coords:
            _flatten(c, depth, flat, offsets)
        arr = np.asarray(flat, dtype=float)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 2 or arr.shape[1] not in (2, 3) or not np.all(np.isfinite(arr)):
        return None
    if gtype == GeometryType.POINT:
        return shapely.from_ragged_array(gtype, arr)
    polygonal = gtype in (GeometryType.POLYGON, GeometryType.MULTIPOLYGON)
    if polygonal and not _rings_closed(arr, offsets[-1]):
        return None  # GEOS then reports the unclosed ring, naming the line
    return shapely.from_ragged_array(gtype, arr, tuple(np.asarray(o) for o in reversed(offsets)))


def _flatten(c: Any, depth: int, flat: list, offsets: list[list[int]]) -> None:
    if depth == 0:
        flat.append(c)
        return
    level = offsets[len(offsets) - depth]
    if depth == 1:
        flat.extend(c)
        level.append(len(flat))
        return
    for part in c:
        _flatten(part, depth - 1, flat, offsets)
    level.append(len(offsets[len(offsets) - depth + 1]) - 1)


def _rings_closed(arr: np.ndarray, ring_offsets: list[int]) -> bool:
    o = np.asarray(ring_offsets)
    starts, ends = o[:-1], o[1:] - 1
    if np.any(ends - starts < 3):
        return False
    return bool(np.all(arr[starts] == arr[ends]))


def _one_by_one(items: list[dict], path: Path, numbers: list[int]) -> list[Any]:
    out = []
    for item, number in zip(items, numbers, strict=True):
        try:
            out.append(shapely.from_geojson(orjson.dumps(item)))
        except (shapely.errors.GEOSException, ValueError) as e:
            raise InputError(f"line {number}: unreadable geometry: {e}", path=path) from None
    return out
