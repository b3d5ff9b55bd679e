"""Coordinate reference systems of the twin and transformations into RD New."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyproj
import shapely

from tweeling.core.errors import InputError

RD_NEW = "EPSG:28992"  # Amersfoort / RD New, metres
NAP = "EPSG:5709"  # NAP height, metres
RD_NAP = "EPSG:7415"  # RD New + NAP height (compound)
CRS84 = "OGC:CRS84"  # WGS 84 lon/lat, the web default
ETRS89 = "EPSG:4258"

# Plausible RD New coordinates for the Netherlands, its waters and its part of the North Sea
# (the Exclusive Economic Zone reaches y = 866 km): a guard against data in another CRS being
# read as RD (lon/lat values or Web Mercator metres fall outside it).
RD_BOUNDS = (-50000.0, 289000.0, 300000.0, 880000.0)


@lru_cache(maxsize=32)
def transformer(source: str, target: str) -> pyproj.Transformer:
    """A cached always-xy transformer between two CRS descriptions."""
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def normalise_crs(value: object, *, path: object | None = None) -> pyproj.CRS:
    """A pyproj CRS from a user or file CRS description; clear error when unknown."""
    if value is None or value == "":
        raise InputError("no coordinate reference system given", path=path)
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError:
        raise InputError(f"unknown coordinate reference system {value!r}", path=path) from None


def is_rd(crs: pyproj.CRS) -> bool:
    """True when the horizontal part of ``crs`` is RD New (EPSG:28992)."""
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    return horizontal.to_epsg() == 28992


def transform_to_rd(geoms: np.ndarray | shapely.Geometry, crs: pyproj.CRS):
    """Transform geometries (an array or one) from ``crs`` into RD New, keeping z values."""
    if is_rd(crs):
        return geoms
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    tr = transformer(horizontal.to_wkt(), RD_NEW)

    def fn(coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=float, copy=True)
        out[:, 0], out[:, 1] = tr.transform(coords[:, 0], coords[:, 1])
        return out

    # include_z=None keeps each geometry's own dimensionality (2D stays 2D, 3D keeps NAP z).
    return shapely.transform(geoms, fn, include_z=None)


def union_bounds(boxes, margin: float = 0.0) -> tuple[float, float, float, float] | None:
    """The box around (minx, miny, maxx, maxy) boxes, widened by ``margin``; None if none."""
    boxes = [b for b in boxes if b]
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes) - margin,
        min(b[1] for b in boxes) - margin,
        max(b[2] for b in boxes) + margin,
        max(b[3] for b in boxes) + margin,
    )


def check_rd_bounds(
    bounds: tuple[float, float, float, float], *, path: object | None = None
) -> None:
    """Refuse coordinates that cannot be RD New in the Netherlands (wrong or missing CRS)."""
    minx, miny, maxx, maxy = bounds
    bx0, by0, bx1, by1 = RD_BOUNDS
    if not (minx >= bx0 and miny >= by0 and maxx <= bx1 and maxy <= by1):
        raise InputError(
            f"coordinates {bounds} lie outside the Netherlands in RD New (EPSG:28992); "
            "is the coordinate reference system right?",
            path=path,
        )
