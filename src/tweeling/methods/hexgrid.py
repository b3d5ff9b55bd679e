"""AERIUS-style hexagonal receptor grid: regular 1 ha hexagons on a fixed lattice in RD New.

The lattice and the receptor numbering follow AERIUS (``ReceptorUtil`` in the open-source
aerius/IMAER-java, ``source/imaer-shared/src/main/java/nl/overheid/aerius/shared/geometry/
ReceptorUtil.java``; the hexagon outline in AERIUS's ``grid.ae_create_hexagon`` SQL function):

* hexagon area A = 10 000 m² (zoom level 1); side = circumradius a = √(2A/(3√3)) ≈ 62.04 m;
  flat top and bottom: vertices at (±a, 0) and (±a/2, ±a√3/2), height a√3 ≈ 107.46 m;
* origin (3604, 296800) in RD New (the lower-left corner of the AERIUS receptor bounding box
  ``BBox(3604, 296800, 287959, 629300)``), 1529 hexagons per row;
* receptor id (from 1): id − 1 = row · 1529 + col; centre x = 3604 + col · 3a (+ 1.5a on odd
  rows), y = 296800 + row · a√3/2.

Centres of neighbouring rows are offset by half a hexagon, so the hexagons tile the plane
without gaps or overlaps; each point belongs to the hexagon of the nearest centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from tweeling.core.errors import InputError

HEXAGON_AREA_M2 = 10_000.0
HEXAGON_SIDE_M = math.sqrt(2.0 * HEXAGON_AREA_M2 / (3.0 * math.sqrt(3.0)))  # ≈ 62.0403
HEXAGON_HEIGHT_M = HEXAGON_SIDE_M * math.sqrt(3.0)  # flat-to-flat, ≈ 107.457


@dataclass(frozen=True)
class HexGridSpec:
    """A hexagon lattice: origin of receptor 1 (RD metres) and hexagons per row."""

    origin_x_m: float = 3604.0
    origin_y_m: float = 296800.0
    hexagons_per_row: int = 1529
    side_m: float = HEXAGON_SIDE_M


AERIUS_GRID = HexGridSpec()


@dataclass(frozen=True)
class HexagonSelection:
    """Hexagons of a grid: receptor ids, centres (RD metres) and, if asked, shapely polygons."""

    ids: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    polygons: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ids.size)


def _rc_to_xy(row, col, grid: HexGridSpec):
    a = grid.side_m
    x = grid.origin_x_m + col * 3.0 * a + np.where(row % 2 == 1, 1.5 * a, 0.0)
    return x, grid.origin_y_m + row * (a * math.sqrt(3.0) / 2.0)


def _ids(row, col, grid: HexGridSpec, field: str) -> np.ndarray:
    if np.any((row < 0) | (col < 0) | (col >= grid.hexagons_per_row)):
        raise InputError("location outside the receptor grid (AERIUS bounding box)", field=field)
    return row.astype(np.int64) * grid.hexagons_per_row + col.astype(np.int64) + 1


def hexagon_centres(ids, grid: HexGridSpec = AERIUS_GRID) -> tuple[np.ndarray, np.ndarray]:
    """Centres (x_m, y_m) of hexagons by receptor id (AERIUS ``getPointFromReceptorId``)."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu" or np.any(arr < 1):
        raise InputError("receptor ids are whole numbers from 1", field="ids")
    row, col = np.divmod(arr.astype(np.int64) - 1, grid.hexagons_per_row)
    return _rc_to_xy(row, col, grid)


def hexagon_ids(x_m, y_m, grid: HexGridSpec = AERIUS_GRID) -> np.ndarray:
    """Id of the hexagon that contains each point: the nearest lattice centre."""
    x, y = np.asarray(x_m, dtype=float), np.asarray(y_m, dtype=float)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError("coordinates must be finite numbers", field="x_m")
    a, h = grid.side_m, grid.side_m * math.sqrt(3.0)
    u, v = (x - grid.origin_x_m) / (3.0 * a), (y - grid.origin_y_m) / h
    # Two rectangular sub-lattices: even rows at (3a·i, h·j), odd rows shifted by (1.5a, h/2).
    ce, re_ = np.rint(u), np.rint(v)
    co, ro = np.rint(u - 0.5), np.rint(v - 0.5)
    de = ((u - ce) * 3.0 * a) ** 2 + ((v - re_) * h) ** 2
    do = ((u - 0.5 - co) * 3.0 * a) ** 2 + ((v - 0.5 - ro) * h) ** 2
    odd = do < de
    row = np.where(odd, 2 * ro + 1, 2 * re_).astype(np.int64)
    col = np.where(odd, co, ce).astype(np.int64)
    return _ids(row, col, grid, "x_m")


def hexagon_polygons(x_m, y_m, grid: HexGridSpec = AERIUS_GRID) -> np.ndarray:
    """Shapely hexagons (counter-clockwise, flat top) around the given centres."""
    a = grid.side_m
    hh = a * math.sqrt(3.0) / 2.0
    offsets = np.array(
        [(a, 0.0), (a / 2, hh), (-a / 2, hh), (-a, 0.0), (-a / 2, -hh), (a / 2, -hh)]
    )
    centres = np.column_stack([np.ravel(x_m), np.ravel(y_m)]).astype(float)
    return shapely.polygons(centres[:, None, :] + offsets[None, :, :])


def hexagons_in_polygon(
    polygon,
    grid: HexGridSpec = AERIUS_GRID,
    *,
    with_polygons: bool = True,
    max_candidates: int = 2_000_000,
) -> HexagonSelection:
    """All hexagons whose centre lies inside ``polygon`` (a shapely (Multi)Polygon in RD New).

    Vectorised: the lattice centres in the bounding box are tested with a prepared
    ``shapely.contains_xy`` (a centre on the outline does not count), in blocks of rows of at
    most ``max_candidates`` points.
    """
    if not isinstance(polygon, shapely.Polygon | shapely.MultiPolygon) or polygon.is_empty:
        raise InputError("need a non-empty Polygon or MultiPolygon", field="polygon")
    a, half_h = grid.side_m, grid.side_m * math.sqrt(3.0) / 2.0
    minx, miny, maxx, maxy = polygon.bounds
    row0 = math.ceil((miny - grid.origin_y_m) / half_h)
    row1 = math.floor((maxy - grid.origin_y_m) / half_h)
    col0 = math.floor((minx - grid.origin_x_m) / (3.0 * a)) - 1
    col1 = math.ceil((maxx - grid.origin_x_m) / (3.0 * a)) + 1
    cols = np.arange(col0, col1 + 1)
    shapely.prepare(polygon)
    parts_row, parts_col = [], []
    step = max(1, max_candidates // cols.size)
    for start in range(row0, row1 + 1, step):
        rows = np.arange(start, min(start + step, row1 + 1))
        rr, cc = np.repeat(rows, cols.size), np.tile(cols, rows.size)
        x, y = _rc_to_xy(rr, cc, grid)
        inside = shapely.contains_xy(polygon, x, y)
        parts_row.append(rr[inside])
        parts_col.append(cc[inside])
    row = np.concatenate(parts_row) if parts_row else np.zeros(0, dtype=np.int64)
    col = np.concatenate(parts_col) if parts_col else np.zeros(0, dtype=np.int64)
    ids = _ids(row, col, grid, "polygon")
    x, y = _rc_to_xy(row, col, grid)
    polys = hexagon_polygons(x, y, grid) if with_polygons else None
    return HexagonSelection(ids=ids, x_m=x, y_m=y, polygons=polys)
