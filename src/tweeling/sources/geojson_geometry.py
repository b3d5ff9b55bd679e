"""Geometries in GeoJSON and YAML input files: read, checked, transformed into RD New."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shapely
import shapely.geometry

from tweeling.core.crs import transform_to_rd
from tweeling.core.errors import InputError


def read_geometry(raw: Any, crs, path: Path, label: str):
    if raw is None:
        return None
    try:
        geom = shapely.from_wkt(raw) if isinstance(raw, str) else shapely.geometry.shape(raw)
    except Exception as exc:  # shapely raises several types for malformed input
        raise InputError(
            f"geometry cannot be read: {exc}", path=path, object_id=label, field="geometry"
        ) from None
    if geom.is_empty:
        raise InputError("empty geometry", path=path, object_id=label, field="geometry")
    return transform_to_rd(geom, crs)


def check_lonlat(raw: dict, path: Path, label: str) -> None:
    """RFC 7946 GeoJSON is longitude/latitude: RD metres there mean a missing CRS."""
    try:
        bounds = shapely.geometry.shape(raw).bounds
    except Exception:
        return  # reported by read_geometry
    if not (-180 <= bounds[0] <= 180 and -90 <= bounds[1] <= 90 and -180 <= bounds[2] <= 180):
        raise InputError(
            f"coordinates {tuple(round(b, 3) for b in bounds)} are not longitude/latitude, "
            "which GeoJSON uses by default (RFC 7946); declare the file's CRS (a 'crs' member, "
            "or --crs EPSG:28992 for RD New)",
            path=path,
            object_id=label,
            field="geometry",
        )
