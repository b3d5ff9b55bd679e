"""Raster helpers for the twin's grids (AHN DTM/DSM): sampling heights and describing files.

Rasters are single-band, north-up GeoTIFFs (Cloud Optimized) in RD New; ``nodata`` cells and
NaN mean "no value". Sampling reads the one window covering all requested points at once, so
sampling thousands of points costs one read, not thousands.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

import numpy as np
import rasterio
from numpy.typing import ArrayLike
from rasterio.windows import Window

from tweeling.core.errors import InputError

SampleMethod = Literal["bilinear", "nearest"]
COG_BLOCK_LIMIT = 512  # rasters larger than this (either side) need overviews to count as COG


def _open(path: str | os.PathLike[str]) -> rasterio.DatasetReader:
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot open raster: {exc}", path=path) from None


def sample_raster(
    path: str | os.PathLike[str],
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    method: SampleMethod = "bilinear",
    band: int = 1,
) -> np.ndarray:
    """Raster values (float64) at RD points ``(x_m, y_m)``; NaN where nodata or outside.

    ``x_m`` and ``y_m`` broadcast against each other; the result has their broadcast shape.

    * ``nearest``: the value of the cell containing the point.
    * ``bilinear``: interpolation between the four surrounding cell centres (exact for a
      plane). A point counts as nodata when the cell containing it is nodata; nodata
      neighbours are left out and the weights of the others renormalised, so points next to
      a gap (e.g. a DTM under a building) still get a value from their own side. In the half
      cell along the raster edge the edge cells are used (no extrapolation).

    Points on the right/bottom raster edge count as inside. The raster must be north-up
    (no rotation).
    """
    if method not in ("bilinear", "nearest"):
        raise ValueError(f"method must be 'bilinear' or 'nearest', not {method!r}")
    x, y = np.broadcast_arrays(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64))
    out = np.full(x.shape, np.nan, dtype=np.float64)
    with _open(path) as ds:
        t = ds.transform
        if t.b != 0 or t.d != 0:
            raise InputError("rotated rasters cannot be sampled", path=path)
        width, height = ds.width, ds.height
        # Fractional pixel coordinates, measured from the outer corner of cell (0, 0).
        col = (x.ravel() - t.c) / t.a
        row = (y.ravel() - t.f) / t.e
        inside = np.isfinite(col) & np.isfinite(row)
        inside &= (col >= 0) & (col <= width) & (row >= 0) & (row <= height)
        if not inside.any():
            return out
        sel = np.flatnonzero(inside)
        c, r = col[sel], row[sel]
        # The cell containing each point (the last cell for points on the far edges).
        cn = np.minimum(np.floor(c).astype(np.int64), width - 1)
        rn = np.minimum(np.floor(r).astype(np.int64), height - 1)
        if method == "bilinear":
            cf, rf = c - 0.5, r - 0.5  # relative to cell centres
            c0 = np.floor(cf).astype(np.int64)
            r0 = np.floor(rf).astype(np.int64)
            fc, fr = cf - c0, rf - r0
            cols = [np.clip(c0, 0, width - 1), np.clip(c0 + 1, 0, width - 1)]
            rows = [np.clip(r0, 0, height - 1), np.clip(r0 + 1, 0, height - 1)]
            cmin, cmax = int(min(cols[0].min(), cn.min())), int(max(cols[1].max(), cn.max()))
            rmin, rmax = int(min(rows[0].min(), rn.min())), int(max(rows[1].max(), rn.max()))
        else:
            cmin, cmax, rmin, rmax = int(cn.min()), int(cn.max()), int(rn.min()), int(rn.max())
        window = Window(cmin, rmin, cmax - cmin + 1, rmax - rmin + 1)
        data = ds.read(band, window=window).astype(np.float64)
        nodata = ds.nodata
    if nodata is not None and not math.isnan(nodata):
        data[data == nodata] = np.nan

    own = data[rn - rmin, cn - cmin]
    if method == "nearest":
        out.ravel()[sel] = own
        return out
    total = np.zeros(sel.size)
    weight = np.zeros(sel.size)
    for i, wr in ((0, 1 - fr), (1, fr)):
        for j, wc in ((0, 1 - fc), (1, fc)):
            v = data[rows[i] - rmin, cols[j] - cmin]
            w = wr * wc
            ok = np.isfinite(v)
            total += np.where(ok, v * w, 0.0)
            weight += np.where(ok, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = total / weight
    value[~np.isfinite(own) | (weight <= 0)] = np.nan
    out.ravel()[sel] = value
    return out


def _cog_check(ds: rasterio.DatasetReader) -> tuple[bool, str]:
    """Whether the file is a Cloud Optimized GeoTIFF, and why (or why not).

    GDAL >= 3.1 reports ``LAYOUT=COG`` (IMAGE_STRUCTURE domain) for files whose header says
    they were laid out as COG (ghost area written by the COG driver). Other COG writers may
    not write that header, so otherwise the structure is checked: GeoTIFF, tiled, and with
    internal overviews when larger than one 512 px tile. (That check cannot see the order of
    the IFDs and data blocks; the LAYOUT flag covers it for our own files.)
    """
    if ds.driver != "GTiff":
        return False, f"driver {ds.driver}, not GeoTIFF"
    layout = ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "")
    if layout.upper() == "COG":
        return True, "LAYOUT=COG"
    block_h, block_w = ds.block_shapes[0]
    tiled = block_w < ds.width or (block_w == block_h and block_w % 16 == 0)
    if not tiled:
        return False, "not tiled (strips)"
    if max(ds.width, ds.height) > COG_BLOCK_LIMIT and not ds.overviews(1):
        return False, "tiled but without internal overviews"
    return True, "tiled with overviews (no LAYOUT=COG header)"


def raster_info(path: str | os.PathLike[str], *, band: int = 1) -> dict[str, Any]:
    """Describe a raster: CRS, bounds, resolution, nodata count, value range, COG layout.

    Statistics are computed block by block (memory bounded by one tile), ignoring nodata and
    NaN. ``min``/``max`` are None when the raster has no values.
    """
    with _open(path) as ds:
        nodata = ds.nodata
        nodata_count = 0
        lo, hi = math.inf, -math.inf
        for _, window in ds.block_windows(band):
            block = ds.read(band, window=window)
            invalid = np.isnan(block) if block.dtype.kind == "f" else np.zeros(block.shape, bool)
            if nodata is not None and not math.isnan(nodata):
                invalid |= block == nodata
            nodata_count += int(invalid.sum())
            values = block[~invalid]
            if values.size:
                lo = min(lo, float(values.min()))
                hi = max(hi, float(values.max()))
        is_cog, cog_reason = _cog_check(ds)
        structure = ds.tags(ns="IMAGE_STRUCTURE")
        epsg = ds.crs.to_epsg() if ds.crs else None
        return {
            "path": str(path),
            "driver": ds.driver,
            "crs": f"EPSG:{epsg}" if epsg else (ds.crs.to_string() if ds.crs else None),
            "epsg": epsg,
            "bounds": tuple(float(v) for v in ds.bounds),
            "resolution": tuple(float(v) for v in ds.res),
            "width": ds.width,
            "height": ds.height,
            "dtype": ds.dtypes[band - 1],
            "nodata": nodata,
            "cells": ds.width * ds.height,
            "nodata_count": nodata_count,
            "valid_count": ds.width * ds.height - nodata_count,
            "min": lo if math.isfinite(lo) else None,
            "max": hi if math.isfinite(hi) else None,
            "blocksize": tuple(int(v) for v in ds.block_shapes[band - 1]),
            "overviews": list(ds.overviews(band)),
            "compression": structure.get("COMPRESSION"),
            "predictor": structure.get("PREDICTOR"),
            "layout": structure.get("LAYOUT"),
            "is_cog": is_cog,
            "cog_check": cog_reason,
        }
