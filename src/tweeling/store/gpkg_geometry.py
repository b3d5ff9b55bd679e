"""GeoPackage geometry blobs (OGC 12-128r18, clause 2.1.3): header + ISO WKB, vectorised.

The header carries the SRS id and the XY envelope, which GDAL and QGIS read to skip features
without parsing their WKB.
"""

from __future__ import annotations

import struct

import numpy as np
import shapely

_MAGIC = b"GP"
# flags: bit 0 = little endian, bits 1-3 = envelope type (1 = [minx, maxx, miny, maxy]),
# bit 4 = empty geometry.
_FLAGS_XY = 0b0000_0011
_FLAGS_EMPTY = 0b0001_0001
_HEADER_XY = struct.Struct("<2sBBi4d")
_HEADER_NONE = struct.Struct("<2sBBi")
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def encode(geoms: np.ndarray, srs_id: int) -> tuple[list[bytes], np.ndarray]:
    """Encode shapely geometries as GeoPackage blobs; also return their XY bounds (N x 4)."""
    wkbs = shapely.to_wkb(geoms, flavor="iso", byte_order=1, include_srid=False)
    bounds = shapely.bounds(geoms)
    pack_xy = _HEADER_XY.pack
    empty_header = _HEADER_NONE.pack(_MAGIC, 0, _FLAGS_EMPTY, srs_id)
    blobs = []
    for wkb, (minx, miny, maxx, maxy) in zip(wkbs, bounds.tolist(), strict=True):
        if minx != minx:  # NaN bounds: empty geometry
            blobs.append(empty_header + wkb)
        else:
            blobs.append(pack_xy(_MAGIC, 0, _FLAGS_XY, srs_id, minx, maxx, miny, maxy) + wkb)
    return blobs, bounds


def wkb_offset(blob: bytes) -> int:
    """Byte offset of the WKB inside a GeoPackage blob."""
    flags = blob[3]
    return 8 + _ENVELOPE_BYTES[(flags >> 1) & 0b111]


def wkb_of(blob: bytes | None) -> bytes | None:
    """The ISO WKB inside a GeoPackage blob (None stays None)."""
    return None if blob is None else blob[wkb_offset(blob) :]


def decode(blobs: list[bytes | None]) -> np.ndarray:
    """Decode GeoPackage blobs to shapely geometries (None stays None)."""
    wkbs = [None if b is None else b[wkb_offset(b) :] for b in blobs]
    return shapely.from_wkb(wkbs)
