"""Mapbox Vector Tiles of the twin's layers, in any scenario's view, cached.

Tiles follow the WebMercatorQuad tile matrix set (OGC 17-083r4 "2D Tile Matrix Set" Annex
D.1, via ``morecantile``) and are Mapbox Vector Tile 2.1: one MVT layer per twin layer,
extent 4096, geometry clipped to the tile plus a buffer of :data:`BUFFER` units, y pointing
down (MVT 2.1 §4.3.1).

Geometry is vectorised over the whole tile (shapely 2, pyproj, numpy): simplified to half a
tile unit, RD New → EPSG:3857 → tile units in one transform, clipped, snapped to the integer
grid, repaired where snapping folded a polygon, oriented (exterior rings of positive area in
tile coordinates, §4.3.4.4); features that collapse are dropped. The geometry commands of
all features are computed at once (:func:`_commands`) and written with the protobuf classes
of ``mapbox-vector-tile``, whose own encoder (a Python loop per coordinate) the tests use as
the reference.

Bounded work per tile: each layer has a minimum zoom (:func:`minimum_zoom`) and a tile reads
at most :data:`MAX_FEATURES` features of a layer. Tiles are cached per layer, keyed by a stamp
of what the layer shows in the view (the store's ``layer_stamp``), so a scenario edit or an
import changes the key and a stale tile is never served; a scenario that leaves a layer alone
shares its baseline's tiles of that layer, and a tile of the latest baseline outside the
layer's extent is empty without a read. A tile asked for by several threads at once is
rendered by one of them while the others wait for it. A dataset tile is the concatenation of its
layers' tiles: an MVT tile is a protobuf message whose only field is the repeated ``layers``,
and a concatenation of protobuf messages parses as their merge, which appends repeated
fields (Protocol Buffers encoding, "Concatenating messages").
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2

from tweeling.core.crs import RD_BOUNDS, RD_NEW, transformer
from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.features import FieldType
from tweeling.core.views import View

TMS = morecantile.tms.get("WebMercatorQuad")
TMS_ID = TMS.id
WEB_MERCATOR = "EPSG:3857"
MAX_ZOOM = TMS.maxzoom  # 24: the deepest tile matrix WebMercatorQuad defines
EXTENT = 4096  # tile units per tile side (MVT 2.1 §4.3.2: the usual extent)
SIMPLIFY_UNITS = 0.5  # geometry is simplified to this many tile units (Douglas-Peucker)
BUFFER = 64  # tile units kept beyond each edge, so that fills and strokes meet without seams
MAX_FEATURES = 10_000  # per layer per tile: a tile never reads more (store order beyond it)
MIN_PIXELS = 0.75  # of a 256-pixel tile: tuned so that buildings (9 m and more) show from 13
TARGET_FEATURES = 2_000  # what a layer's tile should hold on average at its minimum zoom
MAX_MINZOOM = 14  # every layer shows from this zoom at the latest
EMPTY_MINZOOM = 13  # layers without features in the baseline (a scenario may add some)
DATA_MAXZOOM = 16  # advertised maxzoom: 9 cm per tile unit; clients overzoom beyond it
SAMPLE = 256  # features sampled for a layer's typical object size
FORMAT = "tweeling-mvt/1"  # part of every cache key: change it when the encoding changes
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
_WORLD = 2 * math.pi * 6378137.0  # WebMercatorQuad's width in metres (its tile 0/0/0)
_INDEX = re.compile(r"[0-9]{1,9}")
# Scalar columns go into tiles; JSON columns hold nested structures (geometry_3d, attributes).
TILE_TYPES = frozenset(FieldType) - {FieldType.JSON}


@dataclass(frozen=True)
class TileId:
    """A tile of WebMercatorQuad: tile matrix (zoom), row (y, from the top) and column (x)."""

    z: int
    row: int
    col: int

    def bounds(self) -> tuple[float, float, float, float]:
        """Its box in EPSG:3857 metres (minx, miny, maxx, maxy)."""
        b = TMS.xy_bounds(morecantile.Tile(self.col, self.row, self.z))
        return b.left, b.bottom, b.right, b.top


def parse_tile(tile_matrix: str, tile_row: str, tile_col: str) -> TileId:
    """Path parameters of a tile (OGC 20-057 /req/core/tc-tilematrix-definition, -tilerow-,
    -tilecol-): not non-negative integers → :class:`InputError` (400); outside the tile
    matrix set → :class:`NotFoundError` (404, /req/core/tc-error A)."""
    values = []
    for name, text in (("tileMatrix", tile_matrix), ("tileRow", tile_row), ("tileCol", tile_col)):
        if not _INDEX.fullmatch(text):
            raise InputError(f"{name} {text[:40]!r} is not a tile index (a non-negative integer)")
        values.append(int(text))
    z, row, col = values
    if z > MAX_ZOOM:
        raise NotFoundError(f"tileMatrix {z}: {TMS_ID} has tile matrices 0 to {MAX_ZOOM}")
    size = 1 << z
    if row >= size or col >= size:
        raise NotFoundError(
            f"tile {z}/{row}/{col}: rows and columns of tile matrix {z} run from 0 to {size - 1}"
        )
    return TileId(z, row, col)


# ---------------------------------------------------------------------------- layer plans


@dataclass(frozen=True)
class LayerPlan:
    """How a layer is tiled: from which zoom, where it can have data, which attributes."""

    name: str
    title: str
    description: str
    geometry_type: str
    fields: dict[str, FieldType]  # the attributes tiles carry (besides ``id``)
    minzoom: int
    count: int  # features in the baseline
    extent: tuple[float, float, float, float] | None  # the baseline's, RD New
    area: tuple[float, float, float, float] | None  # where any view can have data, RD New
    mercator_area: tuple[float, float, float, float] | None  # the same in EPSG:3857
    mercator_extent: tuple[float, float, float, float] | None = None  # the baseline's, 3857


def minimum_zoom(
    count: int, extent: tuple[float, float, float, float] | None, typical_size_m: float | None
) -> int:
    """The zoom from which a layer is tiled: where its typical object spans
    :data:`MIN_PIXELS` of a pixel of a 256-pixel tile, and no earlier than where an average
    tile holds about :data:`TARGET_FEATURES` of its features (its count spread over its
    extent); at most :data:`MAX_MINZOOM`. Points have no size: only the density counts."""
    if count == 0 or extent is None:
        return EMPTY_MINZOOM
    minx, miny, maxx, maxy = _to_mercator(extent)
    z = 0
    if typical_size_m:  # metres on the ground; Web Mercator stretches them by 1/cos(lat)
        cx, cy = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
        _, lat = transformer(RD_NEW, "OGC:CRS84").transform(cx, cy)
        pixels_at_0 = typical_size_m / math.cos(math.radians(lat)) * 256 / _WORLD
        z = max(z, math.ceil(math.log2(MIN_PIXELS / pixels_at_0)))
    if count > TARGET_FEATURES:
        area = max((maxx - minx) * (maxy - miny), 1.0)
        z = max(z, math.ceil(math.log(count * _WORLD**2 / (area * TARGET_FEATURES), 4)))
    return int(min(max(z, 0), MAX_MINZOOM))


def _typical_size(store, name: str) -> float | None:
    """Median envelope size (the larger side, m) of a sample of the baseline's features."""
    geoms = [f.geometry for f in store.features(name, limit=SAMPLE) if f.geometry is not None]
    if not geoms:
        return None
    b = shapely.bounds(np.asarray(geoms, dtype=object))
    size = np.nanmedian(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]))
    return float(size) if np.isfinite(size) and size > 0 else None


def _to_mercator(box) -> tuple[float, float, float, float]:
    return transformer(RD_NEW, WEB_MERCATOR).transform_bounds(*box, densify_pts=11)


def _union(a, b):
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


# ---------------------------------------------------------------------------- stamps


# ---------------------------------------------------------------------------- encoding


def encode_layer(
    name: str,
    geometries: list,
    properties: list[dict[str, Any]],
    bounds: tuple[float, float, float, float],
) -> bytes:
    """One MVT layer of RD New geometries for the tile with EPSG:3857 ``bounds``; ``b""``
    when nothing is left after clipping and snapping."""
    geoms, props = prepare_geometries(geometries, properties, bounds)
    return encode_prepared(name, geoms, props)


def prepare_geometries(
    geometries: list, properties: list[dict[str, Any]], bounds
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """RD New geometries as valid tile geometries: in tile units, clipped to the tile and its
    buffer, on the integer grid, polygons oriented; what collapses is left out (with its
    properties). Repeated points are dropped when encoding."""
    if not geometries:
        return np.empty(0, dtype=object), []
    geoms, props = _explode_collections(np.asarray(geometries, dtype=object), properties)
    # Douglas-Peucker to half a tile unit first: detail below the grid cannot show, and a
    # national layer at a low zoom has far more vertices than pixels (fewer to transform,
    # fewer polygons folded by snapping). A tile unit is cos(lat) as long on the ground.
    minx, miny, maxx, maxy = bounds
    unit_m = (maxx - minx) / EXTENT / math.cosh((miny + maxy) / 2 / 6378137.0)
    geoms = shapely.simplify(
        shapely.force_2d(geoms), SIMPLIFY_UNITS * unit_m, preserve_topology=False
    )
    geoms = _to_tile_units(geoms, bounds)
    lo, hi = -BUFFER, EXTENT + BUFFER
    try:
        geoms = shapely.clip_by_rect(geoms, lo, lo, hi, hi)
    except shapely.errors.GEOSException:  # an input the transform made invalid: repair first
        geoms = shapely.clip_by_rect(shapely.make_valid(geoms), lo, lo, hi, hi)
    geoms = _snap(geoms)  # MVT coordinates are integers (§4.3.2)
    geoms = _snap(_repair(geoms))  # repairs may add nodes off the grid
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)  # positive area, y down
    keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    return geoms[keep], [p for p, k in zip(props, keep, strict=True) if k]


def _snap(geoms: np.ndarray) -> np.ndarray:
    """Coordinates rounded to the tile grid (repeated points are dropped when encoding)."""
    return shapely.transform(geoms, np.rint)


def encode_prepared(name: str, geoms: np.ndarray, properties: list[dict[str, Any]]) -> bytes:
    """An MVT layer (a ``Tile`` message with one layer, MVT 2.1 §4.1) of prepared geometries,
    with the protobuf classes of ``mapbox-vector-tile``; the geometry commands of all
    features at once (:func:`_commands`), attributes in shared key and value tables
    (§4.4); ``b""`` for no features."""
    commands, spans, types, keep = _commands(geoms)
    if not keep.any():
        return b""
    tile = vector_tile_pb2.tile()
    layer = tile.layers.add()
    layer.name, layer.version, layer.extent = name, 2, EXTENT
    keys: dict[str, int] = {}
    values: dict[tuple[type, Any], int] = {}
    cmd = commands.tolist()
    for i in np.flatnonzero(keep):
        tags = []
        for k, v in properties[i].items():
            ki = keys.get(k)
            if ki is None:
                ki = keys[k] = len(keys)
                layer.keys.append(k)
            vk = (type(v), v)  # True and 1 are different values
            vi = values.get(vk)
            if vi is None:
                vi = values[vk] = len(values)
                _set_value(layer.values.add(), v)
            tags += (ki, vi)
        f = layer.features.add()
        f.type = int(types[i])
        f.tags.extend(tags)
        f.geometry.extend(cmd[spans[i, 0] : spans[i, 1]])
    return tile.SerializeToString()


def _set_value(value, v) -> None:
    if isinstance(v, bool):
        value.bool_value = v
    elif isinstance(v, int):
        value.int_value = v
    elif isinstance(v, float):
        value.double_value = v
    else:
        value.string_value = v


# Command integers (MVT 2.1 §4.3.1): (count << 3) | id.
_MOVE_TO, _LINE_TO, _CLOSE_PATH = 1, 2, 7
_POINT, _LINESTRING, _POLYGON = 1, 2, 3  # GeomType (§4.3.4)


def _commands(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The geometry commands of every feature, computed for all coordinates at once.

    Returns the commands of all features in one array, each feature's [start, end) in it,
    its GeomType and whether it has anything to draw. Per path (a ring, a line, or all of a
    feature's points): MoveTo its first point, LineTo the others, ClosePath for rings;
    parameters are zigzag-encoded deltas from the previous point of the same feature
    (MVT 2.1 §4.3.2, §4.3.3)."""
    n = len(geoms)
    spans = np.zeros((n, 2), dtype=np.int64)
    types = np.zeros(n, dtype=np.int8)
    keep = np.zeros(n, dtype=bool)
    dims = shapely.get_dimensions(geoms) if n else np.zeros(0, dtype=int)
    chunks, offset = [], 0
    for dim, gtype in ((2, _POLYGON), (1, _LINESTRING), (0, _POINT)):
        idx = np.flatnonzero(dims == dim)
        if len(idx) == 0:
            continue
        coords, counts, path_feature = _paths(geoms[idx], idx, gtype)
        if len(counts) == 0:
            continue
        out, starts, lengths = _path_commands(coords, counts, path_feature, gtype)
        has = np.unique(path_feature)  # features with something left to draw
        first = np.searchsorted(path_feature, has, side="left")
        last = np.searchsorted(path_feature, has, side="right") - 1
        spans[has, 0] = offset + starts[first]
        spans[has, 1] = offset + starts[last] + lengths[last]
        types[has] = gtype
        keep[has] = True
        chunks.append(out)
        offset += len(out)
    commands = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    return commands, spans, types, keep


def _paths(geoms: np.ndarray, idx: np.ndarray, gtype: int):
    """Integer coordinates of the paths of features ``idx`` (all of one dimension), in
    order: (coordinates, points per path, feature of each path). Repeated points and the
    closing point of rings are left out (ClosePath implies it); rings of fewer than three
    points and lines of fewer than two are left out, a polygon with its holes when its
    exterior ring is."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    if gtype == _POINT:  # one MoveTo with all of a feature's points
        coords = np.rint(shapely.get_coordinates(parts)).astype(np.int64)
        features, counts = np.unique(idx[part_of], return_counts=True)
        return coords, counts, features
    closed = gtype == _POLYGON
    if closed:
        paths, path_part = shapely.get_rings(parts, return_index=True)
    else:
        paths, path_part = parts, np.arange(len(parts))
    coords = np.rint(shapely.get_coordinates(paths)).astype(np.int64)
    counts = shapely.get_num_coordinates(paths)
    path = np.repeat(np.arange(len(paths)), counts)
    if closed:
        kept = np.ones(len(coords), dtype=bool)
        kept[np.cumsum(counts) - 1] = False
        coords, path = coords[kept], path[kept]
    repeated = np.zeros(len(coords), dtype=bool)
    repeated[1:] = (coords[1:] == coords[:-1]).all(axis=1) & (path[1:] == path[:-1])
    coords, path = coords[~repeated], path[~repeated]
    counts = np.bincount(path, minlength=len(paths))
    if closed:  # a ring whose last point (before closing) repeats its first
        starts = np.cumsum(counts) - counts
        ends = starts + counts - 1
        has = counts >= 2
        wrap = np.zeros(len(paths), dtype=bool)
        wrap[has] = (coords[ends[has]] == coords[starts[has]]).all(axis=1)
        kept = np.ones(len(coords), dtype=bool)
        kept[ends[wrap]] = False
        coords, path = coords[kept], path[kept]
        counts = np.bincount(path, minlength=len(paths))
    ok = counts >= (3 if closed else 2)
    if closed:  # without its exterior ring a polygon's holes go too
        exterior = np.r_[True, path_part[1:] != path_part[:-1]]
        part_ok = np.ones(len(parts), dtype=bool)
        part_ok[path_part[exterior & ~ok]] = False
        ok &= part_ok[path_part]
    return coords[ok[path]], counts[ok], idx[part_of[path_part[ok]]]


def _path_commands(coords: np.ndarray, counts: np.ndarray, path_feature: np.ndarray, gtype):
    """Commands of consecutive paths (see :func:`_commands`): (commands, start of each
    path, length of each path)."""
    extra = {_POLYGON: 3, _LINESTRING: 2, _POINT: 1}[gtype]
    lengths = 2 * counts + extra
    starts = np.cumsum(lengths) - lengths
    out = np.zeros(int(lengths.sum()), dtype=np.int64)
    path = np.repeat(np.arange(len(counts)), counts)
    j = np.arange(len(coords)) - np.repeat(np.cumsum(counts) - counts, counts)
    feature = path_feature[path]
    prev = np.zeros_like(coords)
    prev[1:] = coords[:-1]
    prev[np.r_[True, feature[1:] != feature[:-1]]] = 0  # each feature starts at (0, 0)
    delta = coords - prev
    zigzag = (delta << 1) ^ (delta >> 63)
    pos = starts[path] + 1 + 2 * j + ((j >= 1) if gtype != _POINT else 0)
    out[pos] = zigzag[:, 0]
    out[pos + 1] = zigzag[:, 1]
    if gtype == _POINT:
        out[starts] = (counts << 3) | _MOVE_TO
    else:
        out[starts] = (1 << 3) | _MOVE_TO
        out[starts + 3] = ((counts - 1) << 3) | _LINE_TO
    if gtype == _POLYGON:
        out[starts + lengths - 1] = (1 << 3) | _CLOSE_PATH
    return out, starts, lengths


def _to_tile_units(geoms: np.ndarray, bounds) -> np.ndarray:
    """RD New → EPSG:3857 → tile units (origin top left, y down), all coordinates at once."""
    minx, miny, maxx, maxy = bounds
    sx, sy = EXTENT / (maxx - minx), EXTENT / (maxy - miny)
    tr = transformer(RD_NEW, WEB_MERCATOR)

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack(((np.asarray(x) - minx) * sx, (maxy - np.asarray(y)) * sy))

    return shapely.transform(geoms, fn)


def _repair(geoms: np.ndarray) -> np.ndarray:
    """Snapping can fold a polygon onto itself: those few are made valid on the same grid;
    geometries that collapsed (no area, no length) become None. Mixed results of clipping
    keep their parts of the highest dimension (an MVT feature has one type)."""
    geoms = geoms.copy()
    mixed = np.flatnonzero(shapely.get_type_id(geoms) == 7)
    for i in mixed:
        geoms[i] = _highest_dimension(geoms[i])
    dim = shapely.get_dimensions(geoms)
    polygonal = dim == 2
    for i in np.flatnonzero(polygonal & ~shapely.is_valid(geoms)):
        geoms[i] = _fix_polygon(geoms[i])
    dim = shapely.get_dimensions(geoms)
    keep = ~shapely.is_empty(geoms) & (
        (dim == 0)
        | ((dim == 1) & (shapely.length(geoms) > 0))
        | ((dim == 2) & (shapely.area(geoms) > 0))
    )
    geoms[~keep] = None
    return geoms


def _fix_polygon(geom):
    """A valid polygon(s) of a snapped one, on the grid where GEOS can (None: collapsed)."""
    fixed = _highest_dimension(shapely.make_valid(geom))
    if fixed is None or shapely.get_dimensions(fixed) != 2:
        return None
    try:
        return shapely.set_precision(fixed, 1.0)
    except shapely.errors.GEOSException:  # intersection nodes off the grid are rounded later
        return fixed


def _highest_dimension(geom):
    parts = shapely.get_parts(geom)
    if len(parts) == 0:
        return None
    dims = shapely.get_dimensions(parts)
    top = parts[dims == dims.max()]
    kind = int(dims.max())
    if kind == 2:
        polys = [q for p in top for q in getattr(p, "geoms", [p])]
        return shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]
    if kind == 1:
        lines = [q for p in top for q in getattr(p, "geoms", [p])]
        return shapely.MultiLineString(lines) if len(lines) > 1 else lines[0]
    points = [q for p in top for q in getattr(p, "geoms", [p])]
    return shapely.MultiPoint(points) if len(points) > 1 else points[0]


def _explode_collections(geoms: np.ndarray, props: list[dict]) -> tuple[np.ndarray, list[dict]]:
    """Geometry collections (layers of type GEOMETRY) as one feature per part."""
    mixed = shapely.get_type_id(geoms) == 7
    if not mixed.any():
        return geoms, props
    out_g, out_p = [], []
    for g, p, m in zip(geoms, props, mixed, strict=True):
        parts = shapely.get_parts(g) if m else [g]
        out_g.extend(parts)
        out_p.extend([p] * len(parts))
    return np.asarray(out_g, dtype=object), out_p


def tile_properties(feature, fields: Iterable[str]) -> dict[str, Any]:
    """A feature's scalar attributes (nulls left out, as MVT has none) and its ``id``."""
    props = feature.properties
    out: dict[str, Any] = {}
    for k in fields:
        v = props.get(k)
        if v is None:
            continue
        if isinstance(v, bool | float | str):
            out[k] = v
        elif isinstance(v, int):  # MVT int_value is 64-bit
            out[k] = v if -(1 << 63) <= v < (1 << 63) else float(v)
        else:
            out[k] = str(v)
    out["id"] = feature.id
    return out


# ---------------------------------------------------------------------------- cache


class TileCache:
    """Encoded layer tiles by key: an LRU in memory, bounded in bytes, over files in
    ``folder`` (written atomically: a temporary file renamed into place, so that a reader
    never sees half a tile). Keys never change meaning, so entries never go stale; the folder
    may be deleted at any time."""

    def __init__(self, folder: Path | None, max_bytes: int = 64 << 20):
        self.folder = folder
        self.max_bytes = max_bytes
        self._lru: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._lru.get(key)
            if data is not None:
                self._lru.move_to_end(key)
                self.hits += 1
                return data
        if self.folder is not None:
            try:
                data = self._path(key).read_bytes()
            except OSError:
                data = None
            if data is not None:
                self._remember(key, data)
                with self._lock:
                    self.hits += 1
                return data
        with self._lock:
            self.misses += 1
        return None

    def put(self, key: str, data: bytes) -> None:
        self._remember(key, data)
        if self.folder is None:
            return
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:  # a read-only or full disk: the memory cache still serves
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def _remember(self, key: str, data: bytes) -> None:
        size = len(data) + 100  # an entry's own overhead, so that empty tiles count too
        with self._lock:
            if key in self._lru:
                return
            self._lru[key] = data
            self._bytes += size
            while self._bytes > self.max_bytes and self._lru:
                _, old = self._lru.popitem(last=False)
                self._bytes -= len(old) + 100

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.mvt"


# ---------------------------------------------------------------------------- service


@dataclass(frozen=True)
class TileResult:
    """A tile: its bytes (``b""``: empty, HTTP 204), an entity tag that changes with its
    content, and whether the view is frozen (its tiles never change)."""

    data: bytes
    etag: str
    frozen: bool


class TileService:
    """Tiles of one twin for any number of threads, each with its own store connection."""

    def __init__(self, root: Path, twin_id: str, *, memory_bytes: int = 64 << 20, disk=True):
        self.twin_id = twin_id
        self.cache = TileCache(Path(root) / "cache" / "tiles" if disk else None, memory_bytes)
        self._plans: dict[tuple[str, int], LayerPlan] = {}
        self._lock = threading.Lock()
        self._rendering: dict[str, threading.Event] = {}  # tiles being rendered, by key

    def plan(self, store, name: str) -> LayerPlan:
        """A layer's plan, computed once per state of its baseline (call after
        ``store.view``, which refreshes what the store knows of other writers)."""
        return self.plans(store, [name])[0]

    def plans(self, store, names: list[str] | None = None) -> list[LayerPlan]:
        """Plans of ``names`` (None: every vector layer); unknown names: NotFoundError."""
        if names is not None:
            found = [self._known_plan(store, n) for n in names]
            if all(p is not None for p in found):  # the common case: no query
                return found
        known = store.vector_layers()
        for n in names or ():
            if n not in known:
                raise NotFoundError(f"no collection {n[:80]!r} (see /collections)")
        return [self._plan(store, n) for n in (known if names is None else names)]

    def _known_plan(self, store, name: str) -> LayerPlan | None:
        # Plans exist only for layers that exist; layers are never dropped.
        key = (name, store.layer_changed_txn(name))
        with self._lock:
            return self._plans.get(key)

    def _plan(self, store, name: str) -> LayerPlan:
        found = self._known_plan(store, name)
        if found is not None:
            return found
        key = (name, store.layer_changed_txn(name))
        info = store.layer(name)
        schema = info.schema
        extent = None if info.extent is None else tuple(float(v) for v in info.extent)
        aoi = store.area_of_interest()
        area = _union(extent, None if aoi is None else tuple(aoi))
        plan = LayerPlan(
            name=name,
            title=info.title or name,
            description=schema.description,
            geometry_type=schema.geometry_type,
            fields={k: t for k, t in schema.fields.items() if t in TILE_TYPES and k != "id"},
            minzoom=minimum_zoom(info.count, extent, _typical_size(store, name)),
            count=info.count,
            extent=extent,
            area=area,
            mercator_area=None if area is None else _to_mercator(area),
            mercator_extent=None if extent is None else _to_mercator(extent),
        )
        with self._lock:
            self._plans[key] = plan
        return plan

    def tile(
        self, store, layers: list[str], tile: TileId, scenario: str | None = None
    ) -> TileResult:
        """The tile of ``layers`` (in that order) as ``scenario`` shows them."""
        view = store.view(scenario)  # unknown scenario: NotFoundError; also refreshes facts
        plans = self.plans(store, layers)
        bounds = tile.bounds()
        pad = (bounds[2] - bounds[0]) * BUFFER / EXTENT
        padded = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
        parts, keys = [], []
        for plan in plans:
            area = plan.mercator_area
            if tile.z < plan.minzoom or area is None or not _overlaps(area, padded):
                keys.append(f"{plan.name}:-")
                continue
            shown = self._shown(store, plan.name, view)
            if shown.is_baseline_head and (
                plan.mercator_extent is None or not _overlaps(plan.mercator_extent, padded)
            ):  # the baseline has nothing here: an empty tile without reading or rendering
                keys.append(f"{plan.name}:-")
                continue
            stamp = store.layer_stamp(plan.name, shown)
            key = _key(FORMAT, self.twin_id, plan.name, stamp, tile.z, tile.row, tile.col)
            keys.append(key)
            data = self.cache.get(key)
            if data is None:
                data = self._render_once(store, plan, shown, scenario, stamp, key, bounds, padded)
            parts.append(data)
        etag = _key(FORMAT, *keys)
        return TileResult(b"".join(parts), etag, frozen=view.frozen is not None)

    @staticmethod
    def _shown(store, layer: str, view: View) -> View:
        """The view whose tiles of ``layer`` are those of ``view``: its baseline as it sees
        it when none of its scenario levels holds a version of the layer (the scenario left
        the layer alone), so that such scenarios share the baseline's cached tiles."""
        if len(view.levels) < 2:
            return view
        root = view.root_view()
        if store.candidate_ids(layer, view, root):
            return view
        head = store.view(None)  # the latest baseline, when the root shows the same of it
        return head if store.layer_stamp(layer, root) == store.layer_stamp(layer, head) else root

    def _render_once(
        self, store, plan: LayerPlan, view: View, scenario, stamp, key, bounds, padded
    ) -> bytes:
        """Render a layer's tile and cache it; a thread asking for a tile that another
        thread is rendering waits for it instead of rendering it too (a map opened by
        many people at once asks for the same tiles)."""
        with self._lock:
            busy = self._rendering.get(key)
            if busy is None:
                self._rendering[key] = threading.Event()
        if busy is not None:
            busy.wait(60)
            data = self.cache.get(key)
            if data is not None:
                return data
            return self._render(store, plan, view, bounds, padded)  # theirs was not cached
        try:
            data = self._render(store, plan, view, bounds, padded)
            # Cache only what was read in one state: a writer that committed meanwhile
            # changed the stamp, and the next request renders again.
            again = self._shown(store, plan.name, store.view(scenario))
            if store.layer_stamp(plan.name, again) == stamp:
                self.cache.put(key, data)
            return data
        finally:
            with self._lock:
                self._rendering.pop(key).set()

    def _render(self, store, plan: LayerPlan, view: View, bounds, padded) -> bytes:
        box = _rd_box(padded)
        if box is None:
            return b""
        fields = list(plan.fields)
        data = store.render_tile(plan.name, view, fields, bounds, box, MAX_FEATURES)
        if data is not None:  # the database rendered it (PostGIS: ST_AsMVT)
            return data
        geoms, props = [], []
        for f in store.features(plan.name, bbox=box, view=view, limit=MAX_FEATURES):
            if f.geometry is None:
                continue
            geoms.append(f.geometry)
            props.append(tile_properties(f, fields))
        return encode_layer(plan.name, geoms, props, bounds)


def _rd_box(mercator_box) -> tuple[float, float, float, float] | None:
    """The RD New box around an EPSG:3857 box, cut to the RD New domain (None: outside)."""
    box = transformer(WEB_MERCATOR, RD_NEW).transform_bounds(*mercator_box, densify_pts=11)
    if not all(math.isfinite(v) for v in box):
        return None
    lo_x, lo_y, hi_x, hi_y = RD_BOUNDS
    minx, miny, maxx, maxy = (
        max(box[0], lo_x),
        max(box[1], lo_y),
        min(box[2], hi_x),
        min(box[3], hi_y),
    )
    if minx > maxx or miny > maxy:
        return None
    return minx, miny, maxx, maxy


def _overlaps(a, b) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _key(*parts: object) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).hexdigest()


# ---------------------------------------------------------------------------- seeding


def twin_tile_id(config: dict[str, Any]) -> str:
    """What a twin's cached tiles are keyed under besides their content: when the twin was
    made (a twin made again in the same folder starts afresh). Not its folder: a copied
    twin keeps its tile cache, as it keeps everything else."""
    return f"twin|{config.get('twin', {}).get('created', '')}"


@dataclass(frozen=True)
class SeedReport:
    tiles: int  # dataset tiles made (per scenario, zoom, row and column)
    with_features: int  # of those, tiles that hold features (empty ones are not stored)
    seconds: float


def tiles_over(area_rd: tuple[float, float, float, float], zooms: Iterable[int]) -> list[TileId]:
    """The WebMercatorQuad tiles that cover an area given in RD New, per zoom."""
    west, south, east, north = transformer(RD_NEW, "EPSG:4326").transform_bounds(
        *area_rd, densify_pts=11
    )
    return [TileId(t.z, t.y, t.x) for t in TMS.tiles(west, south, east, north, list(zooms))]


def seed(
    svc: TileService,
    store,
    *,
    scenarios: Iterable[str | None] = (None,),
    zooms: Iterable[int] = range(13, DATA_MAXZOOM + 1),
    tiles: list[TileId] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Render every layer's tiles over the twin's area of interest into the tile cache, for
    each of ``scenarios`` (``None``: the baseline), so that the first people to open a map
    (a round just opened, a plan just published) get cached tiles — the seeding of a tile
    cache as MapProxy and GeoWebCache do it. Layers and tiles a scenario leaves alone are
    shared with the baseline (rendered once). ``tiles``: those of the area at ``zooms``
    when already known (:func:`tiles_over`). ``progress`` is called with tiles done."""
    t0 = time.perf_counter()
    if tiles is None:
        area = store.area_of_interest()
        if area is None:
            raise InputError("the twin has no area of interest yet: import data first")
        tiles = tiles_over(area, zooms)
    names = [p.name for p in svc.plans(store)]
    done = with_features = 0
    for scenario in scenarios:
        for tile in tiles:
            result = svc.tile(store, names, tile, scenario)
            with_features += 1 if result.data else 0
            done += 1
            if progress is not None:
                progress(1)
    return SeedReport(done, with_features, time.perf_counter() - t0)
