"""Coordinate reference systems of the API (OGC API Features Part 2, NL API geo rules).

Stored in RD New; served in CRS84 by default, RD New or ETRS89 on request. Coordinates follow
each CRS's axis order: CRS84 and RD New east-north, ETRS89 (EPSG:4258) latitude-longitude.
"""

from __future__ import annotations

import math

import shapely

from tweeling.core.crs import RD_BOUNDS, RD_NEW, transformer
from tweeling.core.errors import InputError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
RD = "http://www.opengis.net/def/crs/EPSG/0/28992"
ETRS89 = "http://www.opengis.net/def/crs/EPSG/0/4258"
# URI -> (pyproj name, latitude first?, geographic?)
SUPPORTED = {
    CRS84: ("OGC:CRS84", False, True),
    RD: (RD_NEW, False, False),
    ETRS89: ("EPSG:4258", True, True),
}


def check(uri: str | None, field: str = "crs") -> str:
    uri = uri or CRS84
    if uri not in SUPPORTED:
        raise InputError(f"{field} {uri!r} is not supported; use one of {', '.join(SUPPORTED)}")
    return uri


def from_rd(geometry, uri: str):
    """A geometry from RD New into ``uri``, in that CRS's axis order."""
    name, lat_first, _ = SUPPORTED[uri]
    if name == RD_NEW:
        return geometry
    tr = transformer(RD_NEW, name)

    def fn(coords):
        out = coords.copy()
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        out[:, 0], out[:, 1] = (y, x) if lat_first else (x, y)
        return out

    return shapely.transform(geometry, fn, include_z=None)


def bbox_to_rd(text: str, uri: str) -> tuple[float, float, float, float]:
    """A ``bbox`` parameter in ``uri`` (its axis order) as an RD New box."""
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        raise InputError(f"bbox {text!r}: expected 4 numbers") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InputError(f"bbox {text!r}: expected 4 finite numbers")
    name, lat_first, geographic = SUPPORTED[uri]
    x0, y0, x1, y1 = (values[1], values[0], values[3], values[2]) if lat_first else values
    if x0 > x1 or y0 > y1:
        raise InputError(f"bbox {text!r}: the lower corner must come first")
    if geographic and not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InputError(f"bbox {text!r}: longitude or latitude out of range")
    if not geographic:
        lo_x, lo_y, hi_x, hi_y = RD_BOUNDS
        if x1 < lo_x or x0 > hi_x or y1 < lo_y or y0 > hi_y:
            raise InputError(f"bbox {text!r} lies outside the RD New domain")
        return x0, y0, x1, y1
    tr = transformer(name, RD_NEW)
    xs = [x0, x1, x0, x1, (x0 + x1) / 2, (x0 + x1) / 2]
    ys = [y0, y0, y1, y1, y0, y1]
    rx, ry = tr.transform(xs, ys)
    if not all(math.isfinite(v) for v in (*rx, *ry)):
        raise InputError(f"bbox {text!r} cannot be expressed in RD New")
    return min(rx), min(ry), max(rx), max(ry)
