"""Shared reader of GDAL vector sources (via pyogrio) into RD New geometries and typed columns.

Every importer that reads a GDAL-readable vector file goes through :func:`read_vector_layer`:
it wraps pyogrio/GDAL errors into :class:`InputError` naming the file, refuses a missing CRS,
reprojects to RD New (keeping z values as they are), checks the result lies in the Netherlands,
maps OGR field types to :class:`FieldType`, converts attribute values to plain Python values and
validates geometries (vectorised). Invalid geometries are an error unless ``repair=True``: then
they are repaired with ``shapely.make_valid`` and every repair is listed (see :class:`Repair`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyogrio
import pyogrio.errors
import pyproj
import shapely

from tweeling.core.crs import RD_BOUNDS, check_rd_bounds, normalise_crs, transform_to_rd
from tweeling.core.errors import InputError
from tweeling.core.features import GEOMETRY_TYPES, FeatureRecord, FieldType
from tweeling.core.timeaxis import parse_optional_time

Bounds = tuple[float, float, float, float]

# OGR (type, subtype) -> twin field type; subtype "*" matches any subtype.
_OGR_FIELD_TYPES: dict[tuple[str, str], FieldType] = {
    ("OFTInteger", "OFSTBoolean"): FieldType.BOOLEAN,
    ("OFTInteger", "*"): FieldType.INTEGER,
    ("OFTInteger64", "*"): FieldType.INTEGER,
    ("OFTReal", "*"): FieldType.REAL,
    ("OFTString", "OFSTJSON"): FieldType.JSON,
    ("OFTString", "*"): FieldType.TEXT,
    ("OFTWideString", "*"): FieldType.TEXT,
    ("OFTDate", "*"): FieldType.DATE,
    ("OFTDateTime", "*"): FieldType.DATETIME,
    ("OFTTime", "*"): FieldType.TEXT,  # a time of day without a date: kept as "HH:MM:SS"
    ("OFTBinary", "*"): FieldType.TEXT,  # kept as hexadecimal text
    ("OFTIntegerList", "*"): FieldType.JSON,
    ("OFTInteger64List", "*"): FieldType.JSON,
    ("OFTRealList", "*"): FieldType.JSON,
    ("OFTStringList", "*"): FieldType.JSON,
    ("OFTWideStringList", "*"): FieldType.JSON,
}

# Largest integer a float64 holds exactly (pyogrio returns integer columns with nulls as float64).
_EXACT_FLOAT_INT = 2**53

_MULTI = {"POINT": "MULTIPOINT", "LINESTRING": "MULTILINESTRING", "POLYGON": "MULTIPOLYGON"}

REPAIR_METHOD = "shapely.make_valid(method='structure', keep_collapsed=False)"


class VectorData(NamedTuple):
    """What :func:`read_vector` returns: geometries in RD New, attribute columns, field types."""

    geometries: np.ndarray
    columns: dict[str, list[Any]]
    field_types: dict[str, FieldType]


@dataclass(frozen=True)
class Repair:
    """One geometry repaired with ``shapely.make_valid``: which feature, and why it was invalid."""

    layer: str
    feature: str
    reason: str
    method: str = REPAIR_METHOD

    def to_dict(self) -> dict[str, str]:
        return {
            "layer": self.layer,
            "feature": self.feature,
            "reason": self.reason,
            "method": self.method,
        }


@dataclass(frozen=True)
class VectorLayer:
    """One layer of a vector file, read and checked: geometries in RD New, typed columns.

    ``labels`` names each feature in messages (the ``id_field`` value, else the OGR FID);
    ``geometry_type`` is the layer's declared geometry type in the twin's vocabulary
    (single geometries are promoted to multi when it is a multi type); ``repairs`` lists the
    geometries repaired (empty unless read with ``repair=True``).
    """

    path: str
    layer: str
    source_crs: pyproj.CRS
    geometry_type: str
    has_z: bool
    fids: np.ndarray
    labels: list[str]
    geometries: np.ndarray
    columns: dict[str, list[Any]]
    field_types: dict[str, FieldType]
    repairs: list[Repair]

    def __len__(self) -> int:
        return len(self.geometries)


class Records:
    """A re-iterable stream of feature records, made on demand (one pass holds one record)."""

    def __init__(self, factory: Callable[[], Iterator[FeatureRecord]], count: int) -> None:
        self._factory = factory
        self._count = count

    def __iter__(self) -> Iterator[FeatureRecord]:
        return self._factory()

    def __len__(self) -> int:
        return self._count


# ---------------------------------------------------------------------------------------------
# Public entry points


def read_vector(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: object | None = None,
    repair: bool = False,
) -> VectorData:
    """Read one layer of a GDAL vector file: (geometries in RD New, columns, field types).

    ``crs`` is the coordinate reference system to assume when the file declares none; without
    it such a file is refused. See :func:`read_vector_layer` for FIDs, labels and repairs.
    """
    data = read_vector_layer(path, layer=layer, crs=crs, repair=repair)
    return VectorData(data.geometries, data.columns, data.field_types)


def read_vector_layer(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: object | None = None,
    id_field: str | None = None,
    repair: bool = False,
    bounds: Bounds = RD_BOUNDS,
) -> VectorLayer:
    """Read, reproject, type and check one layer of a GDAL vector file.

    ``layer`` is required when the file holds more than one layer. ``crs`` is assumed when the
    file declares no CRS; a file CRS that differs from a given ``crs`` is refused. ``id_field``
    only names features in messages. ``bounds`` is the RD New box the data must lie in (the
    Netherlands by default; wider for e.g. the North Sea). Invalid geometries raise
    :class:`InputError` unless ``repair`` is true.
    """
    path = Path(path)
    name = open_layer_name(path, layer)
    meta, fids, wkb, arrays = _read_raw(path, name)
    source_crs = resolve_crs(meta.get("crs"), crs, path=path, layer=name)
    fields, ogr_types, field_types = meta_field_types(meta)
    columns = {
        f: column_values(arr, field_types[f], ogr_type=t, path=path, field=f)
        for f, arr, t in zip(fields, arrays, ogr_types, strict=True)
    }
    fids = np.asarray(fids if fids is not None else np.arange(len(arrays[0]) if arrays else 0))
    labels = feature_labels(fids, columns, id_field, path=path)

    if wkb is None:
        raise InputError(f"layer {name!r} has no geometry column", path=path)
    geoms, repairs = geometries_from_wkb(
        wkb, labels, path=path, layer=name, source_crs=source_crs, repair=repair, bounds=bounds
    )
    geometry_type = schema_geometry_type(meta.get("geometry_type"), geoms)
    geoms = conform_geometry_type(geoms, geometry_type)
    return VectorLayer(
        path=str(path),
        layer=name,
        source_crs=source_crs,
        geometry_type=geometry_type,
        has_z=bool(len(geoms)) and bool(shapely.has_z(geoms).any()),
        fids=fids,
        labels=labels,
        geometries=geoms,
        columns=columns,
        field_types=field_types,
        repairs=repairs,
    )


@dataclass(frozen=True)
class VectorBatch:
    """One batch of a streamed layer: checked geometries in RD New and typed columns."""

    fids: np.ndarray
    labels: list[str]
    geometries: np.ndarray
    columns: dict[str, list[Any]]
    repairs: list[Repair]


@dataclass
class VectorStream:
    """A layer read batch by batch (memory bounded by the batch size, not the file size).

    The file is opened once (GeoJSON sequences and CSV are scanned whole by GDAL at every
    open); :meth:`batches` can therefore be consumed once. ``count`` is None: it is not known
    without reading the file.
    """

    path: str
    layer: str
    source_crs: pyproj.CRS
    geometry_type: str
    has_z: bool
    field_types: dict[str, FieldType]
    ogr_types: dict[str, str]
    id_field: str | None
    repair: bool
    reader: Any
    fid_column: str
    closer: ExitStack
    count: int | None = None

    def batches(self) -> Iterator[VectorBatch]:
        if self.reader is None:
            raise InputError("a streamed layer can be read only once", path=self.path)
        reader, self.reader = self.reader, None
        try:
            for batch in reader:
                yield self._batch(batch, self.fid_column)
        except _GDAL_ERRORS as e:
            raise InputError(
                f"cannot read layer {self.layer!r}: {_gdal_message(e)}", path=self.path
            ) from None
        finally:
            self.closer.close()

    def _batch(self, batch, fid_col: str) -> VectorBatch:
        path = self.path
        names = batch.schema.names
        geom_col = next((n for n in names if n not in self.field_types and n != fid_col), None)
        if geom_col is None:
            raise InputError(f"layer {self.layer!r} has no geometry column", path=path)
        fids = batch.column(fid_col).to_numpy(zero_copy_only=False)
        columns = {
            f: column_values(
                batch.column(f).to_numpy(zero_copy_only=False),
                t,
                ogr_type=self.ogr_types[f],
                path=path,
                field=f,
            )
            for f, t in self.field_types.items()
        }
        labels = feature_labels(fids, columns, self.id_field, path=path)
        geoms, repairs = geometries_from_wkb(
            batch.column(geom_col).to_numpy(zero_copy_only=False),
            labels,
            path=path,
            layer=self.layer,
            source_crs=self.source_crs,
            repair=self.repair,
        )
        geoms = conform_geometry_type(geoms, self.geometry_type)
        return VectorBatch(fids, labels, geoms, columns, repairs)


_GDAL_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    RuntimeError,
    OSError,
)
# Formats that hold one layer: no need to list layers (which costs a full scan for some).
_SINGLE_LAYER_SUFFIXES = frozenset(
    {".geojson", ".geojsons", ".geojsonl", ".geojsonseq", ".json", ".csv", ".shp", ".fgb"}
)


def stream_vector_layer(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: object | None = None,
    id_field: str | None = None,
    repair: bool = False,
    batch_size: int = 50_000,
) -> VectorStream:
    """Open one layer of a GDAL vector file for reading in batches (see :class:`VectorStream`).

    The same checks as :func:`read_vector_layer`, applied per batch. The geometry type is the
    layer's declared one (``GEOMETRY`` when GDAL declares none).
    """
    path = Path(path)
    _check_exists(path)
    if layer is None and path.suffix.lower() in _SINGLE_LAYER_SUFFIXES:
        name = None
    else:
        name = open_layer_name(path, layer)
    closer = ExitStack()
    try:
        meta, reader = closer.enter_context(
            pyogrio.raw.open_arrow(
                path,
                layer=name,
                batch_size=batch_size,
                return_fids=True,
                use_pyarrow=True,
                datetime_as_string=True,
            )
        )
    except _GDAL_ERRORS as e:
        closer.close()
        what = f"layer {name!r}" if name else "the file"
        raise InputError(f"cannot read {what}: {_gdal_message(e)}", path=path) from None
    try:
        name = name or path.stem
        source_crs = resolve_crs(meta.get("crs"), crs, path=path, layer=name, driver=_driver(path))
        fields, ogr_types, field_types = meta_field_types(meta)
        if id_field is not None and id_field not in field_types:
            raise InputError(f"no field {id_field!r}; fields are {fields}", path=path)
    except BaseException:
        closer.close()
        raise
    declared = str(meta.get("geometry_type") or "Unknown")
    gtype = declared.upper().replace(" Z", "").replace("3D ", "").replace(" ", "")
    gtype = gtype if gtype in GEOMETRY_TYPES else "GEOMETRY"
    gtype = repairable_type(gtype, repair)
    return VectorStream(
        path=str(path),
        layer=name,
        source_crs=source_crs,
        geometry_type=gtype,
        has_z=declared.endswith(" Z") or declared.startswith("3D"),
        field_types=field_types,
        ogr_types=dict(zip(fields, ogr_types, strict=True)),
        id_field=id_field,
        repair=repair,
        reader=reader,
        fid_column=meta.get("fid_column") or "OGC_FID",
        closer=closer,
    )


def _driver(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in (".geojsons", ".geojsonl", ".geojsonseq"):
        return "GeoJSONSeq"
    if suffix in (".geojson", ".json"):
        return "GeoJSON"
    return None


def meta_field_types(meta: dict) -> tuple[list[str], list[str], dict[str, FieldType]]:
    """Field names, OGR types and twin field types of a layer from pyogrio's metadata."""
    fields = [str(f) for f in meta["fields"]]
    ogr_types = list(meta.get("ogr_types") or ["OFTString"] * len(fields))
    ogr_subtypes = list(meta.get("ogr_subtypes") or ["OFSTNone"] * len(fields))
    field_types = {
        f: ogr_field_type(t, st) for f, t, st in zip(fields, ogr_types, ogr_subtypes, strict=True)
    }
    return fields, ogr_types, field_types


def geometries_from_wkb(
    wkb,
    labels: Sequence[str],
    *,
    path: object,
    layer: str,
    source_crs: pyproj.CRS,
    repair: bool,
    bounds: Bounds = RD_BOUNDS,
) -> tuple[np.ndarray, list[Repair]]:
    """WKB to checked geometries in RD New: readable, present, inside ``bounds``, valid (or
    repaired when ``repair``)."""
    try:
        geoms = shapely.from_wkb(np.asarray(wkb, dtype=object), on_invalid="raise")
    except shapely.errors.ShapelyError as e:
        raise InputError(f"layer {layer!r}: unreadable geometry: {e}", path=path) from None
    missing = np.flatnonzero(shapely.is_missing(geoms))
    if len(missing):
        raise InputError(
            f"layer {layer!r}: feature has no geometry", path=path, object_id=labels[missing[0]]
        )
    geoms = transform_to_rd(geoms, source_crs)
    check_bounds(geoms, path=path, layer=layer, bounds=bounds)
    return check_geometries(geoms, labels, path=path, layer=layer, repair=repair)


def repairable_type(geometry_type: str, repair: bool) -> str:
    """The layer type to declare: repairing may turn a polygon into a multipolygon (etc.)."""
    return _MULTI.get(geometry_type, geometry_type) if repair else geometry_type


def list_vector_layers(path: str | Path) -> list[tuple[str, str]]:
    """The (name, OGR geometry type) of each layer in a GDAL vector file."""
    path = Path(path)
    _check_exists(path)
    try:
        layers = pyogrio.list_layers(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, RuntimeError) as e:
        raise InputError(
            f"cannot read as a vector data set: {_gdal_message(e)}", path=path
        ) from None
    return [(str(n), str(t)) for n, t in layers]


def open_layer_name(path: Path, layer: str | None) -> str:
    """The layer to read: ``layer`` if the file has it, else the file's only layer."""
    layers = [n for n, _ in list_vector_layers(path)]
    if layer is not None:
        if layer not in layers:
            raise InputError(f"no layer {layer!r}; the file has {layers}", path=path)
        return layer
    if len(layers) != 1:
        raise InputError(
            f"the file has {len(layers)} layers {layers}; say which one to read", path=path
        )
    return layers[0]


# ---------------------------------------------------------------------------------------------
# Small pure helpers


def ogr_field_type(ogr_type: str, ogr_subtype: str = "OFSTNone") -> FieldType:
    """The twin field type of an OGR field type and subtype (unknown types become TEXT)."""
    return _OGR_FIELD_TYPES.get(
        (ogr_type, ogr_subtype), _OGR_FIELD_TYPES.get((ogr_type, "*"), FieldType.TEXT)
    )


# Drivers whose reported CRS may be only the format's default (RFC 7946 GeoJSON is WGS 84 by
# definition; GDAL reports that even for GeoJSON text sequences written in RD New).
_DEFAULT_WGS84_DRIVERS = frozenset({"GeoJSON", "GeoJSONSeq"})


def resolve_crs(
    file_crs: object | None,
    given: object | None,
    *,
    path: object,
    layer: str,
    driver: str | None = None,
) -> pyproj.CRS:
    """The CRS of the coordinates: the file's, else the given one; refuse none or a conflict.

    For GeoJSON the WGS 84 that GDAL reports may be only the format's default, so a CRS given
    by the user takes precedence there.
    """
    given_crs = None if given in (None, "") else normalise_crs(given, path=path)
    if file_crs in (None, ""):
        if given_crs is None:
            raise InputError(
                f"layer {layer!r} declares no coordinate reference system; "
                "give one (e.g. crs='EPSG:28992')",
                path=path,
            )
        return given_crs
    try:
        declared = pyproj.CRS.from_user_input(file_crs)
    except pyproj.exceptions.CRSError:
        raise InputError(
            f"layer {layer!r} has an unknown coordinate reference system {file_crs!r}", path=path
        ) from None
    if given_crs is not None and driver in _DEFAULT_WGS84_DRIVERS and declared.to_epsg() == 4326:
        return given_crs
    if given_crs is not None and not declared.equals(given_crs, ignore_axis_order=True):
        raise InputError(
            f"layer {layer!r} declares {declared.to_string()}, not the given "
            f"{given_crs.to_string()}",
            path=path,
        )
    return declared


def check_bounds(
    geoms: np.ndarray, *, path: object, layer: str, bounds: Bounds = RD_BOUNDS
) -> None:
    """Refuse RD New geometries outside ``bounds`` (by default the Netherlands, core.crs)."""
    total = shapely.total_bounds(geoms) if len(geoms) else np.full(4, np.nan)
    if not np.all(np.isfinite(total)):
        return  # no coordinates at all (an empty layer, or only empty geometries)
    box = tuple(float(v) for v in total)
    if tuple(bounds) == RD_BOUNDS:
        try:
            check_rd_bounds(box, path=path)  # type: ignore[arg-type]
        except InputError as e:
            raise InputError(f"layer {layer!r}: {e.reason}", path=path) from None
        return
    bx0, by0, bx1, by1 = bounds
    if not (box[0] >= bx0 and box[1] >= by0 and box[2] <= bx1 and box[3] <= by1):
        raise InputError(
            f"layer {layer!r}: coordinates {box} lie outside {tuple(bounds)} in RD New "
            "(EPSG:28992); is the coordinate reference system right?",
            path=path,
        )


def check_geometries(
    geoms: np.ndarray,
    labels: Sequence[str],
    *,
    path: object,
    layer: str,
    repair: bool = False,
) -> tuple[np.ndarray, list[Repair]]:
    """Validate geometries (vectorised); raise on the first invalid one, or repair them all.

    Returns the (possibly repaired) geometries and the list of repairs made.
    """
    if not len(geoms):
        return geoms, []
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if not len(invalid):
        return geoms, []
    if not repair:
        i = invalid[0]
        raise InputError(
            f"layer {layer!r}: invalid geometry: {shapely.is_valid_reason(geoms[i])} "
            f"(coordinates in RD New; {len(invalid)} invalid in total; "
            "import with repair to fix them with shapely.make_valid)",
            path=path,
            object_id=labels[i],
        )
    out = np.array(geoms, dtype=object, copy=True)
    repairs = []
    for i in invalid:
        reason = shapely.is_valid_reason(geoms[i])
        fixed, method = make_valid(geoms[i])
        if fixed is None:
            raise InputError(
                f"layer {layer!r}: invalid geometry cannot be repaired: {reason}",
                path=path,
                object_id=labels[i],
            )
        out[i] = fixed
        repairs.append(Repair(layer=layer, feature=labels[i], reason=reason, method=method))
    return out, repairs


def make_valid(geom: shapely.Geometry) -> tuple[shapely.Geometry | None, str]:
    """A valid version of ``geom`` of the same dimension, and the method used (None: failed).

    Tries the 'structure' method (which keeps polygons polygons and drops collapsed parts);
    GEOS can fail on it for badly tangled input, then 'linework' is used and only the parts
    of the original dimension are kept (polygons dissolved). A geometry that collapses
    entirely (e.g. a polygon of zero area) becomes an empty geometry of its dimension.
    """
    dim = shapely.get_dimensions(geom)
    try:
        fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
        method = REPAIR_METHOD
    except shapely.errors.GEOSException:
        fixed = shapely.make_valid(geom, method="linework")
        method = "shapely.make_valid(method='linework'), parts of lower dimension dropped"
    fixed = _keep_dimension(fixed, dim)
    if not shapely.is_valid(fixed):
        return None, method
    return fixed, method


def _keep_dimension(geom: shapely.Geometry, dim: int) -> shapely.Geometry:
    """The parts of ``geom`` of dimension ``dim`` (empty if it collapsed entirely)."""
    parts = [p for p in shapely.get_parts(geom) if shapely.get_dimensions(p) == dim]
    parts = [q for p in parts for q in shapely.get_parts(p)]  # flatten multi parts
    if len(parts) == 1:
        return parts[0]
    make = shapely.multilinestrings if dim == 1 else shapely.multipoints
    if not parts:
        empty = {2: "MULTIPOLYGON", 1: "MULTILINESTRING"}.get(dim, "MULTIPOINT")
        return shapely.from_wkt(f"{empty} EMPTY")
    if dim == 2:
        merged = shapely.union_all(parts)  # parts may share edges; a union is valid
        return merged if merged.geom_type == "MultiPolygon" else shapely.multipolygons([merged])
    return make(parts)


def schema_geometry_type(ogr_geometry_type: object, geoms: np.ndarray) -> str:
    """The twin geometry type of a layer: the OGR layer type, else inferred from the data.

    A single type (POLYGON) becomes its multi type when the data hold multi geometries of it
    (a repaired polygon can become a multipolygon).
    """
    text = str(ogr_geometry_type or "").upper().replace("3D", "").strip()
    for suffix in (" ZM", " Z", " M"):
        text = text.removesuffix(suffix)
    text = text.replace(" ", "")
    declared = text if text in GEOMETRY_TYPES else "GEOMETRY"
    kinds = {g.geom_type.upper() for g in geoms if g is not None and not shapely.is_empty(g)}
    if declared in _MULTI:
        return _MULTI[declared] if _MULTI[declared] in kinds else declared
    if declared != "GEOMETRY" or not kinds:
        return declared
    singles = {k.removeprefix("MULTI") for k in kinds}
    if len(kinds) == 1:
        return kinds.pop()
    if len(singles) == 1 and singles <= set(_MULTI):
        return _MULTI[singles.pop()]
    return "GEOMETRY"


def conform_geometry_type(geoms: np.ndarray, geometry_type: str) -> np.ndarray:
    """Promote single geometries to the declared multi type (a Polygon in a MULTIPOLYGON layer)."""
    single = {v: k for k, v in _MULTI.items()}.get(geometry_type)
    if single is None or not len(geoms):
        return geoms
    out = np.array(geoms, dtype=object, copy=True)
    make = {
        "POINT": shapely.multipoints,
        "LINESTRING": shapely.multilinestrings,
        "POLYGON": shapely.multipolygons,
    }[single]
    for i, g in enumerate(geoms):
        if g is not None and g.geom_type.upper() == single:
            out[i] = make([g]) if not g.is_empty else shapely.from_wkt(f"{geometry_type} EMPTY")
    return out


def feature_labels(
    fids: np.ndarray, columns: dict[str, list[Any]], id_field: str | None, *, path: object
) -> list[str]:
    """How each feature is named in messages: its ``id_field`` value, else its OGR FID."""
    if id_field is None:
        return [str(int(f)) for f in fids]
    if id_field not in columns:
        raise InputError(f"no field {id_field!r}; fields are {list(columns)}", path=path)
    return [
        f"FID {int(f)}" if v is None else str(v)
        for f, v in zip(fids, columns[id_field], strict=True)
    ]


def column_values(
    values: np.ndarray, ftype: FieldType, *, ogr_type: str = "", path: object, field: str
) -> list[Any]:
    """Plain Python values of one pyogrio column (None for nulls), typed by ``ftype``."""
    if ftype in (FieldType.INTEGER, FieldType.BOOLEAN) and values.dtype.kind == "f":
        # pyogrio returns integer columns with nulls as float64 with NaN.
        if ftype is FieldType.INTEGER and np.nanmax(np.abs(values), initial=0) >= _EXACT_FLOAT_INT:
            raise InputError(
                "integer values beyond 2**53 in a column with nulls cannot be read exactly",
                path=path,
                field=field,
            )
        cast = bool if ftype is FieldType.BOOLEAN else int
        return [None if math.isnan(v) else cast(v) for v in values.tolist()]
    if ftype in (FieldType.INTEGER, FieldType.REAL, FieldType.BOOLEAN):
        out = values.tolist()
        if values.dtype.kind == "f":
            out = [None if v is None or math.isnan(v) else float(v) for v in out]
        return out
    convert = _CONVERTERS.get(ftype, _to_text)
    out = []
    for v in values.tolist():
        if v is None:
            out.append(None)
            continue
        try:
            out.append(convert(v))
        except (ValueError, InputError) as e:
            reason = e.reason if isinstance(e, InputError) else str(e)
            raise InputError(
                f"bad {ftype.value} value {v!r}: {reason}", path=path, field=field
            ) from None
    return out


def _to_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).replace("/", "-")[:10])


def _to_datetime(value: Any) -> datetime | None:
    text = str(value).replace("/", "-") if isinstance(value, str) else value
    return parse_optional_time(text)


def _to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError("not valid JSON") from None
    return value


_CONVERTERS: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.TEXT: _to_text,
    FieldType.DATE: _to_date,
    FieldType.DATETIME: _to_datetime,
    FieldType.JSON: _to_json,
}


# ---------------------------------------------------------------------------------------------
# GDAL access


def _check_exists(path: Path) -> None:
    text = str(path)
    if text.startswith("/vsi") or re.match(r"^[A-Za-z][A-Za-z0-9 _]+:", text):
        return  # a GDAL virtual file system path or a "<DRIVER>:path": GDAL decides
    if not path.exists():
        raise InputError("no such file", path=path)


def _read_raw(path: Path, layer: str) -> tuple[dict, np.ndarray, np.ndarray | None, list]:
    try:
        meta, fids, wkb, arrays = pyogrio.raw.read(
            path, layer=layer, return_fids=True, datetime_as_string=True
        )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, RuntimeError) as e:
        raise InputError(f"cannot read layer {layer!r}: {_gdal_message(e)}", path=path) from None
    return meta, fids, wkb, list(arrays)


def _gdal_message(error: Exception) -> str:
    """A GDAL error message without the repetition of the path pyogrio puts in front."""
    return str(error).strip() or type(error).__name__
