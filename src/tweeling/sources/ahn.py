"""AHN point clouds (LAS/LAZ, RD New + NAP) to terrain (DTM) and surface (DSM) grids.

The Actueel Hoogtebestand Nederland (AHN) publishes classified lidar points; this importer bins
them onto one grid over the union extent of the given files and writes two Cloud Optimized
GeoTIFFs (``ahn_dtm.tif``, ``ahn_dsm.tif``) that the store registers as raster layers.

The work is split in pure grid functions (:func:`grid_from_bounds`, :meth:`Grid.cell_index`,
:func:`accumulate_mean`, :func:`accumulate_max`, :func:`fill_small_gaps`) and the file I/O
around them (:func:`read_ahn`, :func:`write_cog`), so that the gridding can be tested without
files and the reading stays chunked (memory bounded by the grid, not by the point count).
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import laspy
import numpy as np
import rasterio
from rasterio.fill import fillnodata
from rasterio.transform import Affine
from scipy import ndimage

from tweeling.core.crs import RD_NEW, check_rd_bounds, is_rd
from tweeling.core.errors import InputError
from tweeling.core.features import ImportBatch, RasterLayer

NODATA = -9999.0
GROUND = 2  # ASPRS class "ground" (AHN: maaiveld)
NOISE_CLASSES = (7, 18)  # low noise; high noise (LAS 1.4)
OVERLAP_CLASS = 12  # "overlap points" in LAS <= 1.3 (LAS 1.4 uses the overlap flag instead)
CHUNK_POINTS = 500_000  # points per chunk read from a file: bounds memory use while reading
# Accumulators take ~24 bytes per cell; refuse grids beyond ~2.4 GB of them (e.g. 5 x 5 km at
# 0.5 m) with a clear message instead of running out of memory.
MAX_CELLS = 100_000_000
LICENCE = "CC0 1.0 (AHN, Rijkswaterstaat/Waterschappen)"

Progress = Callable[[int, int], None]  # (points_done, points_total)


# --------------------------------------------------------------------------------------------
# Pure grid math
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """A north-up grid aligned to multiples of ``resolution`` in RD New.

    Cell (row, col) covers x in [(col0 + col) * res, (col0 + col + 1) * res) and y in
    [(row0 - row) * res, (row0 - row + 1) * res): a point belongs to the cell whose lower-left
    corner is (floor(x / res), floor(y / res)) * res. Aligning to the global lattice (not to the
    first point) makes grids of different imports line up cell for cell.
    """

    resolution: float
    col0: int  # floor(minx / res): global column of the leftmost cell
    row0: int  # floor(maxy / res): global row (counted northwards) of the top cell
    width: int
    height: int

    @property
    def size(self) -> int:
        return self.width * self.height

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) of the outer cell edges."""
        res = self.resolution
        return (
            self.col0 * res,
            (self.row0 - self.height + 1) * res,
            (self.col0 + self.width) * res,
            (self.row0 + 1) * res,
        )

    @property
    def transform(self) -> Affine:
        minx, _, _, maxy = self.bounds
        return Affine(self.resolution, 0.0, minx, 0.0, -self.resolution, maxy)

    def cell_index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat (row-major) cell indices of points, and a mask of points inside the grid.

        Uses the same ``floor(v / res)`` as :func:`grid_from_bounds`, so the points that defined
        the extent always fall inside, whatever the floating point rounding.
        """
        res = self.resolution
        col = np.floor(np.asarray(x, dtype=np.float64) / res).astype(np.int64) - self.col0
        row = self.row0 - np.floor(np.asarray(y, dtype=np.float64) / res).astype(np.int64)
        inside = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        flat = np.where(inside, row * self.width + col, 0)
        return flat, inside


def grid_from_bounds(minx: float, miny: float, maxx: float, maxy: float, resolution: float) -> Grid:
    """The smallest lattice-aligned grid containing every point of the bounds (edges included).

    A point exactly on ``maxx`` or ``maxy`` gets its own cell (the cell starting there), so the
    grid spans [floor(minx/res)*res, (floor(maxx/res)+1)*res) — the *snapped* point extent.
    """
    if not (resolution > 0 and math.isfinite(resolution)):
        raise ValueError(f"resolution must be a positive number of metres, not {resolution!r}")
    if not (minx <= maxx and miny <= maxy):
        raise ValueError(f"empty bounds {(minx, miny, maxx, maxy)}")
    col0 = math.floor(minx / resolution)
    col1 = math.floor(maxx / resolution)
    row_bottom = math.floor(miny / resolution)
    row0 = math.floor(maxy / resolution)
    return Grid(resolution, col0, row0, col1 - col0 + 1, row0 - row_bottom + 1)


def accumulate_mean(sums: np.ndarray, counts: np.ndarray, idx: np.ndarray, z: np.ndarray) -> None:
    """Add points (flat cell indices ``idx``, heights ``z``) to running per-cell sums/counts.

    ``np.bincount`` with weights is a single vectorised pass; the in-place update lets the
    caller feed one chunk at a time.
    """
    if idx.size == 0:
        return
    n = sums.size
    sums += np.bincount(idx, weights=z, minlength=n)
    counts += np.bincount(idx, minlength=n)


def accumulate_max(maxima: np.ndarray, idx: np.ndarray, z: np.ndarray) -> None:
    """Raise per-cell maxima (initialised to -inf) with the points of one chunk."""
    if idx.size:
        np.maximum.at(maxima, idx, z)


def mean_grid(sums: np.ndarray, counts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-cell mean as a 2D float64 array, NaN where a cell has no points."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return mean.reshape(shape)


def max_grid(maxima: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-cell maximum as a 2D float64 array, NaN where a cell has no points."""
    return np.where(np.isfinite(maxima), maxima, np.nan).reshape(shape)


def fill_small_gaps(
    values: np.ndarray, *, resolution_m: float, fill_distance_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Fill small gaps (NaN cells) by GDAL inverse distance weighting; keep large gaps NaN.

    A *gap* is a 4-connected region of empty cells. It is *small* when every one of its cells
    lies within ``fill_distance_m`` (centre to centre, Euclidean) of a cell with data; only
    small gaps are filled, each completely, with ``rasterio.fill.fillnodata`` (GDAL FillNodata:
    inverse distance weighting of the nearest data in four directions) using
    ``max_search_distance = fill_distance_m / resolution_m`` cells and no smoothing.

    Why whole gaps: GDAL on its own would also fill a fringe ``fill_distance_m`` wide into
    every large gap (e.g. 2 m into each building footprint of a DTM), inventing terrain next to
    walls; a gap is either missing a few returns (fill it) or a real hole (leave it).

    Returns the filled float64 array (NaN = still nodata) and a mask of the cells filled.
    """
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values)
    filled_mask = np.zeros(values.shape, dtype=bool)
    if fill_distance_m <= 0 or valid.all() or not valid.any():
        return values.copy(), filled_mask
    distance = ndimage.distance_transform_edt(~valid) * resolution_m
    labels, n_gaps = ndimage.label(~valid)
    largest = ndimage.maximum(distance, labels, index=np.arange(1, n_gaps + 1))
    small = np.zeros(n_gaps + 1, dtype=bool)
    small[1:] = np.asarray(largest) <= fill_distance_m * (1 + 1e-9)
    fillable = small[labels]
    if not fillable.any():
        return values.copy(), filled_mask
    # NaN in empty cells: whatever GDAL cannot reach stays NaN, so it is never mistaken for data.
    image = np.where(valid, values, np.nan).astype(np.float32)
    result = fillnodata(
        image,
        mask=valid.astype(np.uint8),
        max_search_distance=fill_distance_m / resolution_m,
        smoothing_iterations=0,
    ).astype(np.float64)
    out = values.copy()
    take = fillable & np.isfinite(result)
    out[take] = result[take]
    filled_mask[take] = True
    return out, filled_mask


def make_consistent(dtm: np.ndarray, dsm: np.ndarray, dtm_filled: np.ndarray) -> int:
    """Keep the terrain at or below the surface; measured values win over interpolated ones.

    Where both grids have a value and DTM > DSM (possible only where one was gap-filled, since
    the DSM maximum includes the ground points — or, in LAS 1.4, where ground points flagged
    as overlap were left out of the DSM), a filled DTM is lowered to the DSM, otherwise the DSM
    is raised to the DTM. Updates in place; returns the number of cells changed.
    """
    bad = np.isfinite(dtm) & np.isfinite(dsm) & (dtm > dsm)
    lower_dtm = bad & dtm_filled
    raise_dsm = bad & ~dtm_filled
    dtm[lower_dtm] = dsm[lower_dtm]
    dsm[raise_dsm] = dtm[raise_dsm]
    return int(lower_dtm.sum() + raise_dsm.sum())


def method_sentence(kind: str, resolution_m: float, fill_distance_m: float) -> str:
    """The sentence recorded in ``RasterLayer.method``: how exactly the grid was made."""
    cells = fill_distance_m / resolution_m
    fill = (
        f"gaps in which every empty cell lies within {fill_distance_m:g} m of a cell with points "
        "are filled completely by GDAL FillNodata inverse distance weighting "
        f"(rasterio.fill.fillnodata, max_search_distance {cells:g} cells, smoothing_iterations 0)"
    )
    if kind == "dtm":
        return (
            f"Per {resolution_m:g} m cell the mean NAP height of the ground points (ASPRS class "
            f"2, withheld points excluded); {fill}; where a filled value would lie above the DSM "
            "it is lowered to the DSM; larger gaps (e.g. under buildings and water) stay nodata "
            f"({NODATA:g})."
        )
    return (
        f"Per {resolution_m:g} m cell the highest NAP height of all points except noise (ASPRS "
        "class 7 and 18), overlap points (class 12 or the overlap flag) and withheld points; "
        f"{fill}; where it would lie below a measured DTM value it is raised to that; "
        f"larger gaps (e.g. water without returns) stay nodata ({NODATA:g})."
    )


# --------------------------------------------------------------------------------------------
# File I/O
# --------------------------------------------------------------------------------------------


@dataclass
class _FileHeader:
    path: Path
    point_count: int
    bounds: tuple[float, float, float, float] | None  # None when the file has no points
    crs: str | None


def _wrap(path: Path, action: str, exc: Exception, hint: str = "") -> InputError:
    """An InputError naming the file for any laspy/lazrs/OS failure (no raw traceback)."""
    reason = str(exc).strip() or type(exc).__name__
    note = f" ({hint})" if hint else ""
    return InputError(f"cannot {action} LAS/LAZ file{note}: {reason}", path=path)


def _read_header(path: Path) -> _FileHeader:
    if not path.exists():
        raise InputError("file does not exist", path=path)
    if not path.is_file():
        raise InputError("not a file", path=path)
    try:
        with laspy.open(path) as reader:
            header = reader.header
            count = int(header.point_count)
            mins = [float(v) for v in header.mins]
            maxs = [float(v) for v in header.maxs]
            try:
                crs = header.parse_crs()
            except Exception as exc:  # malformed GeoTIFF/WKT VLRs: laspy raises many types
                raise InputError(f"unreadable CRS in the header: {exc}", path=path) from None
    except InputError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # laspy/lazrs raise LaspyException, LazrsError, OSError, ...
        raise _wrap(path, "read the header of", exc) from None

    if crs is not None and not is_rd(crs):
        raise InputError(
            f"coordinate reference system {crs.name!r} is not RD New (EPSG:28992); AHN is "
            "delivered in RD New + NAP — reproject the points first",
            path=path,
        )
    if count == 0:
        return _FileHeader(path, 0, None, None if crs is None else crs.to_string())
    bounds = (mins[0], mins[1], maxs[0], maxs[1])
    if not all(math.isfinite(v) for v in bounds) or mins[0] > maxs[0] or mins[1] > maxs[1]:
        raise InputError(f"invalid bounds {bounds} in the header", path=path)
    check_rd_bounds(bounds, path=path)
    return _FileHeader(path, count, bounds, None if crs is None else crs.to_string())


def _iter_chunks(path: Path, chunk_size: int) -> Iterator[Any]:
    """Chunks of points from one file; any reader failure becomes an InputError."""
    try:
        with laspy.open(path) as reader:
            iterator = reader.chunk_iterator(chunk_size)
            while True:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    return
                yield chunk
    except InputError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # LazrsError on truncated/corrupt data, LaspyException, OSError
        raise _wrap(path, "read the points of", exc, hint="truncated or corrupt?") from None


def _flag(chunk: Any, name: str) -> np.ndarray | None:
    if name in chunk.point_format.dimension_names:
        return np.asarray(chunk[name], dtype=bool)
    return None


def write_cog(array: np.ndarray, grid: Grid, path: Path) -> None:
    """Write a float32 Cloud Optimized GeoTIFF in RD New (NaN becomes nodata -9999).

    DEFLATE with the floating point predictor compresses heights well; 512 px tiles and
    internal overviews (averaged, nodata aware) let viewers read any zoom level cheaply.
    """
    data = np.where(np.isfinite(array), array, NODATA).astype(np.float32)
    with (
        rasterio.Env(GDAL_PAM_ENABLED="NO"),
        rasterio.open(
            path,
            "w",
            driver="COG",
            width=grid.width,
            height=grid.height,
            count=1,
            dtype="float32",
            crs=RD_NEW,
            transform=grid.transform,
            nodata=NODATA,
            compress="DEFLATE",
            predictor="YES",  # YES = floating point predictor (3) for float32 in the COG driver
            blocksize=512,
            overviews="AUTO",
            overview_resampling="AVERAGE",
        ) as dst,
    ):
        dst.write(data, 1)


def read_ahn(
    paths: Sequence[str | os.PathLike[str]],
    *,
    out_dir: str | os.PathLike[str],
    resolution_m: float = 0.5,
    fill_distance_m: float = 2.0,
    progress: Progress | None = None,
    chunk_size: int = CHUNK_POINTS,
) -> ImportBatch:
    """Grid AHN LAS/LAZ files into a DTM and a DSM (Cloud Optimized GeoTIFFs in ``out_dir``).

    Both grids cover the union extent of the files (from their headers, which LAS requires to
    be the point extent) on a lattice aligned to multiples of ``resolution_m`` in RD New.

    * DTM: per cell the **mean** height of the ground points (class 2). The mean, not the
      minimum, because ground returns in a 0.5 m cell differ mostly by measurement noise
      (a few cm) and the mean averages it out, while the minimum is biased low by it. AHN's
      own DTM interpolates the ground points (IDW/TIN-like) instead of binning them; the
      per-cell mean is a simplification of that.
    * DSM: per cell the **maximum** height of all points except noise (7, 18), overlap (12 or
      the overlap flag) and withheld points: the highest return approximates the first-return
      surface (roofs, canopy).

    Small gaps are filled, larger gaps stay nodata (-9999); see :func:`fill_small_gaps`.
    Files are read in chunks of ``chunk_size`` points with scaled x/y/z, so memory is bounded
    by the grid size. ``progress(points_done, points_total)`` is called after each chunk.

    Raises InputError naming the file for a missing, truncated or corrupt file, a non-RD CRS,
    coordinates that cannot be RD New, or when there are no ground points. On any failure
    nothing is left in ``out_dir`` (files are written under temporary names, then renamed).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise InputError("no AHN point cloud files given")
    if not (resolution_m > 0 and math.isfinite(resolution_m)):
        raise InputError(f"resolution must be a positive number of metres, not {resolution_m!r}")
    if not (fill_distance_m >= 0 and math.isfinite(fill_distance_m)):
        raise InputError(f"fill distance must be >= 0 metres, not {fill_distance_m!r}")
    files: list[Path] = []
    for p in paths:  # the same file twice would count its points twice
        path = Path(p)
        if path.resolve() not in {f.resolve() for f in files}:
            files.append(path)
    all_files = ", ".join(str(f) for f in files)

    headers = [_read_header(f) for f in files]
    extents = [h.bounds for h in headers if h.bounds is not None]
    points_total = sum(h.point_count for h in headers)
    if not extents:
        raise InputError("no points in the file(s)", path=all_files)
    grid = grid_from_bounds(
        min(b[0] for b in extents),
        min(b[1] for b in extents),
        max(b[2] for b in extents),
        max(b[3] for b in extents),
        resolution_m,
    )
    if grid.size > MAX_CELLS:
        raise InputError(
            f"the grid would have {grid.size:,} cells ({grid.width} x {grid.height} at "
            f"{resolution_m:g} m), more than {MAX_CELLS:,}: import fewer files at a time or "
            "choose a coarser resolution",
            path=all_files,
        )

    ground_sum = np.zeros(grid.size, dtype=np.float64)
    ground_count = np.zeros(grid.size, dtype=np.int64)
    surface_max = np.full(grid.size, -np.inf, dtype=np.float64)
    class_counts = np.zeros(256, dtype=np.int64)
    used_dtm = used_dsm = withheld_total = 0
    done = 0
    file_meta: list[dict[str, Any]] = []
    if progress is not None:
        progress(0, points_total)

    for header in headers:
        path = header.path
        n_file = 0
        file_classes = np.zeros(256, dtype=np.int64)
        for chunk in _iter_chunks(path, chunk_size):
            n = len(chunk)
            if n == 0:
                continue
            cls = np.asarray(chunk.classification, dtype=np.int64)
            x = np.asarray(chunk.x, dtype=np.float64)
            y = np.asarray(chunk.y, dtype=np.float64)
            z = np.asarray(chunk.z, dtype=np.float64)
            idx, inside = grid.cell_index(x, y)
            if not inside.all():
                raise InputError(
                    f"{int((~inside).sum())} points lie outside the bounds in the file header; "
                    "the header is inconsistent (rewrite the file, e.g. with PDAL or lasinfo "
                    "-repair)",
                    path=path,
                )
            if not np.isfinite(z).all():
                raise InputError("points with non-finite heights", path=path)
            file_classes += np.bincount(cls, minlength=256)[:256]
            keep = np.ones(n, dtype=bool)
            withheld = _flag(chunk, "withheld")
            if withheld is not None:
                keep &= ~withheld
                withheld_total += int(withheld.sum())
            ground = keep & (cls == GROUND)
            surface = keep & ~np.isin(cls, (*NOISE_CLASSES, OVERLAP_CLASS))
            overlap = _flag(chunk, "overlap")
            if overlap is not None:
                surface &= ~overlap
            accumulate_mean(ground_sum, ground_count, idx[ground], z[ground])
            accumulate_max(surface_max, idx[surface], z[surface])
            used_dtm += int(ground.sum())
            used_dsm += int(surface.sum())
            n_file += n
            done += n
            if progress is not None:
                progress(done, points_total)
        if n_file != header.point_count:
            raise InputError(
                f"the file ends after {n_file:,} of the {header.point_count:,} points its header "
                "announces (truncated?)",
                path=path,
            )
        class_counts += file_classes
        file_meta.append(
            {
                "name": path.name,
                "points": n_file,
                "crs": header.crs,
                "points_per_class": _class_dict(file_classes),
            }
        )

    if used_dtm == 0:
        raise InputError(
            "no ground points (ASPRS class 2): a terrain model cannot be made", path=all_files
        )

    dtm_raw = mean_grid(ground_sum, ground_count, grid.shape)
    dsm_raw = max_grid(surface_max, grid.shape)
    del ground_sum, ground_count, surface_max
    dtm, dtm_filled = fill_small_gaps(
        dtm_raw, resolution_m=resolution_m, fill_distance_m=fill_distance_m
    )
    dsm, dsm_filled = fill_small_gaps(
        dsm_raw, resolution_m=resolution_m, fill_distance_m=fill_distance_m
    )
    adjusted = make_consistent(dtm, dsm, dtm_filled)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(f.name for f in files)
    source_text = "AHN3 point cloud " + ", ".join(names)
    targets = {"ahn_dtm": (dtm, out / "ahn_dtm.tif"), "ahn_dsm": (dsm, out / "ahn_dsm.tif")}
    _write_all(targets, grid)

    def stats(raw: np.ndarray, final: np.ndarray, filled: np.ndarray) -> dict[str, int]:
        return {
            "cells": grid.size,
            "cells_with_points": int(np.isfinite(raw).sum()),
            "filled_cells": int(filled.sum()),
            "nodata_cells": int((~np.isfinite(final)).sum()),
        }

    rasters = [
        RasterLayer(
            name="ahn_dtm",
            path=str(targets["ahn_dtm"][1]),
            title="AHN digital terrain model (DTM)",
            description="Ground height in m NAP from the AHN ground points, "
            f"{resolution_m:g} m grid",
            unit="m",
            resolution_m=resolution_m,
            method=method_sentence("dtm", resolution_m, fill_distance_m),
            source=source_text,
            licence=LICENCE,
        ),
        RasterLayer(
            name="ahn_dsm",
            path=str(targets["ahn_dsm"][1]),
            title="AHN digital surface model (DSM)",
            description="Highest surface (roofs, trees, terrain) in m NAP from the AHN points, "
            f"{resolution_m:g} m grid",
            unit="m",
            resolution_m=resolution_m,
            method=method_sentence("dsm", resolution_m, fill_distance_m),
            source=source_text,
            licence=LICENCE,
        ),
    ]
    metadata: dict[str, Any] = {
        "files": file_meta,
        "points_total": done,
        "points_per_class": _class_dict(class_counts),
        "points_withheld": withheld_total,
        "points_dtm": used_dtm,
        "points_dsm": used_dsm,
        "grid": {
            "crs": RD_NEW,
            "bounds": list(grid.bounds),
            "width": grid.width,
            "height": grid.height,
            "resolution_m": resolution_m,
        },
        "fill_distance_m": fill_distance_m,
        "consistency_adjusted_cells": adjusted,
        "ahn_dtm": stats(dtm_raw, dtm, dtm_filled),
        "ahn_dsm": stats(dsm_raw, dsm, dsm_filled),
    }
    return ImportBatch(
        source="ahn:" + "+".join(names),
        path=str(files[0]) if len(files) == 1 else all_files,
        layers=[],
        features=[],
        total=0,
        rasters=rasters,
        metadata=metadata,
    )


def _class_dict(counts: np.ndarray) -> dict[str, int]:
    return {str(c): int(n) for c, n in enumerate(counts) if n}


def _write_all(targets: dict[str, tuple[np.ndarray, Path]], grid: Grid) -> None:
    """Write every grid under a temporary name, then rename; on failure remove what we wrote."""
    temps: dict[Path, Path] = {}
    renamed: list[Path] = []
    try:
        for array, final in targets.values():
            temp = final.with_name(f".{final.stem}.{uuid.uuid4().hex}.tmp")
            temps[final] = temp
            write_cog(array, grid, temp)
        for final, temp in temps.items():
            os.replace(temp, final)
            renamed.append(final)
    except BaseException as exc:
        for path in [*temps.values(), *renamed]:
            path.unlink(missing_ok=True)
        if isinstance(exc, (rasterio.errors.RasterioError, OSError)):
            where = next(iter(temps), None)
            raise InputError(f"cannot write the AHN grids: {exc}", path=where) from None
        raise
