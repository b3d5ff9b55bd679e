"""Models that split a run into tiles: the same tiles in one process or on a Dask cluster.

A model that can be split (road noise, nitrogen deposition) offers, besides ``run``, three
steps (:class:`TiledModel`): ``plan`` cuts the run into pieces (cheap, in the calling
process), ``run_tile`` computes one piece from the store on its own (heavy: any process,
any machine that can open the twin's store), and ``merge`` joins the pieces' results, in
plan order, into one :class:`~tweeling.models.base.ModelResult`. The plan is part of the
method — the tile size is a parameter of the run, recorded with it — so a run computed
tile after tile in one process (:func:`run_here`) and one spread over a cluster
(``tweeling.services.cluster``) add the same numbers in the same order: their result
hashes are equal.

Each tile reads its inputs within the model's reach around it (the halo): a receiver in
the tile sees every source that a run over the whole extent would show it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tweeling.core.errors import InputError
from tweeling.models.base import ModelInfo, ModelResult, Parameter, RunContext

MAX_TILES = 100_000  # a plan beyond this is a mistake in tile_m, said before any work


def tile_parameter(default_m: float, what: str) -> Parameter:
    """The ``tile_m`` parameter of a tiled model (part of the run's identity)."""
    return Parameter(
        "tile_m",
        "m",
        default_m,
        f"side of the square tiles the run is split into ({what}); a run is computed tile "
        "by tile, in one process or on a Dask cluster, with equal results",
        minimum=50.0,
        maximum=100_000.0,
    )


@dataclass(frozen=True)
class GridTile:
    """A block of whole cells of a run's grid: rows ``r0:r1`` and columns ``c0:c1`` of a
    grid of ``rows`` × ``cols`` cells of ``cell_m`` whose north-west corner is
    (``west``, ``north``)."""

    index: int
    west: float
    north: float
    cell_m: float
    rows: int
    cols: int
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The tile's cells' bounds (minx, miny, maxx, maxy), metres RD New."""
        c = self.cell_m
        return (
            self.west + self.c0 * c,
            self.north - self.r1 * c,
            self.west + self.c1 * c,
            self.north - self.r0 * c,
        )

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the grid cell holding each point (clipped to the grid: a
        point on the extent's east or south edge belongs to the last cell)."""
        col = np.clip(np.floor((np.asarray(x) - self.west) / self.cell_m), 0, self.cols - 1)
        row = np.clip(np.floor((self.north - np.asarray(y)) / self.cell_m), 0, self.rows - 1)
        return row.astype(np.int64), col.astype(np.int64)

    def holds(self, x: np.ndarray, y: np.ndarray, extent) -> np.ndarray:
        """Which points this tile owns: inside the run's extent and in the tile's cells.
        Every point of the extent is owned by exactly one tile."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        inside = (x >= extent[0]) & (x <= extent[2]) & (y >= extent[1]) & (y <= extent[3])
        row, col = self.cell_of(x, y)
        return inside & (row >= self.r0) & (row < self.r1) & (col >= self.c0) & (col < self.c1)


def grid_tiles(extent, cell_m: float, tile_m: float) -> list[GridTile]:
    """The run's grid (cells of ``cell_m`` from the extent's north-west corner) cut into
    square tiles of whole cells, about ``tile_m`` wide, row by row from the north-west."""
    west, north = float(extent[0]), float(extent[3])
    cols = max(1, math.ceil((extent[2] - west) / cell_m))
    rows = max(1, math.ceil((north - extent[1]) / cell_m))
    step = max(1, round(tile_m / cell_m))
    n = math.ceil(rows / step) * math.ceil(cols / step)
    if n > MAX_TILES:
        raise InputError(
            f"tile_m = {tile_m:g} m cuts the extent into {n:,} tiles (at most {MAX_TILES:,}); "
            "use larger tiles",
            field="tile_m",
        )
    out = []
    for r0 in range(0, rows, step):
        for c0 in range(0, cols, step):
            out.append(
                GridTile(
                    len(out),
                    west,
                    north,
                    cell_m,
                    rows,
                    cols,
                    r0,
                    min(rows, r0 + step),
                    c0,
                    min(cols, c0 + step),
                )
            )
    return out


@dataclass
class Plan:
    """A run cut into ``tiles`` (small, picklable; computed in this order of merging) and
    what ``merge`` needs besides their parts (``state``; it stays in the calling process)."""

    tiles: list[Any]
    state: Any = None


@runtime_checkable
class TiledModel(Protocol):
    """A model whose run is split into tiles (see the module's description)."""

    info: ModelInfo

    def plan(self, ctx: RunContext) -> Plan:
        """The tiles of the run, in merge order; everything checked that can be."""
        ...

    def run_tile(self, ctx: RunContext, tile: Any) -> Any:
        """One tile's partial result (picklable), read from ``ctx.store`` on its own."""
        ...

    def merge(self, ctx: RunContext, plan: Plan, parts: Sequence[Any]) -> ModelResult:
        """The run's result from every tile's part, given in plan order."""
        ...


def is_tiled(model: Any) -> bool:
    return isinstance(model, TiledModel)


def run_here(model: TiledModel, ctx: RunContext) -> ModelResult:
    """Compute the tiles one after another in this process, then merge them; progress
    counts tiles (and moves within a tile as the model reports it)."""
    plan = model.plan(ctx)
    n = len(plan.tiles)
    parts = [model.run_tile(tile_context(ctx, i, n), t) for i, t in enumerate(plan.tiles)]
    ctx.progress(0.99, f"merging {n} tiles")
    return model.merge(ctx, plan, parts)


def tile_context(ctx: RunContext, i: int, n: int) -> RunContext:
    """``ctx`` for tile ``i`` of ``n``: its progress is the tile's share of the run's."""

    def progress(fraction: float, what: str, _outer: Callable = ctx.progress) -> None:
        _outer(0.98 * (i + min(max(fraction, 0.0), 1.0)) / n, f"tile {i + 1} of {n}: {what}")

    return replace(ctx, progress=progress)
