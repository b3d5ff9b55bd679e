"""Propagation-path geometry over a raster of obstacle heights: what ISO 9613-2 needs for
screening by buildings (clause 7.4) and for the ground effect (clause 7.3.1).

For each source-receiver pair the vertical profile under the straight path is sampled from
the raster. If an obstacle rises above the line of sight, the path over it is the
"rubber band" (the upper convex hull of the profile): its first edge is the obstacle point
seen under the steepest angle from the source, its last edge the one seen under the steepest
angle from the receiver. ISO 9613-2 eqs. 16 and 17 then give the path difference
z = d_ss + e + d_sr - d, with e the distance between the first and last edge (0 for a single
edge; e > 0 is double diffraction, clause 7.4, eq. 18). The middle ground factor G_m is the
mean G of the ground samples that no obstacle covers (clause 7.3.1: the fraction of porous
ground between the source and receiver regions).

Pure and vectorised over pairs (numpy); terrain is flat (obstacle heights are above the
ground), paths are straight in plan (no lateral diffraction, no reflections).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tweeling.core.errors import InputError
from tweeling.methods.noise_iso9613 import (
    atmospheric_attenuation_db,
    barrier_attenuation_db,
    barrier_screening_db,
    geometric_divergence_db,
    ground_attenuation_db,
)

GROUND_SAMPLES = 16  # points per path for the middle ground factor G_m


@dataclass(frozen=True)
class ObstacleRaster:
    """Obstacle tops (m above ground, 0 where there is none) and ground factors G (0 hard ..
    1 porous) on a north-up grid: ``top_m[row, col]``, row 0 at the north edge."""

    top_m: NDArray[np.floating]
    ground_factor: NDArray[np.floating]
    west_m: float
    north_m: float
    cell_m: float
    outside_ground_factor: float = 0.0  # G beyond the raster (no obstacles there)

    def __post_init__(self) -> None:
        if self.top_m.shape != self.ground_factor.shape or self.top_m.ndim != 2:
            raise InputError(
                "top_m and ground_factor must be 2-D grids of one shape", field="top_m"
            )
        if not self.cell_m > 0:
            raise InputError("cell_m must be > 0", field="cell_m")

    def sample_fraction(self, src: NDArray, dx: NDArray, dy: NDArray, frac: NDArray) -> NDArray:
        """Obstacle tops at fractions ``frac[i, k]`` along the paths from ``src[i]`` by
        ``(dx[i], dy[i])`` (float32, one flat gather; points off the raster see no obstacle)."""
        rows, cols = self.top_m.shape
        c0 = ((src[:, 0] - self.west_m) / self.cell_m).astype(np.float32)[:, None]
        r0 = ((self.north_m - src[:, 1]) / self.cell_m).astype(np.float32)[:, None]
        col = np.floor(c0 + (dx / self.cell_m).astype(np.float32)[:, None] * frac)
        row = np.floor(r0 - (dy / self.cell_m).astype(np.float32)[:, None] * frac)
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
        flat = np.where(inside, row * cols + col, 0).astype(np.int64)
        return np.where(inside, self._flat_top[flat], np.float32(0.0))

    @property
    def _flat_top(self) -> NDArray:
        return np.ascontiguousarray(self.top_m, dtype=np.float32).reshape(-1)

    def sample(self, x_m: NDArray, y_m: NDArray) -> tuple[NDArray, NDArray]:
        """Obstacle top and G at points (nearest cell); outside: no obstacle, the outside G."""
        rows, cols = self.top_m.shape
        col = np.floor((x_m - self.west_m) / self.cell_m).astype(np.int64)
        row = np.floor((self.north_m - y_m) / self.cell_m).astype(np.int64)
        inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
        col = np.where(inside, col, 0)
        row = np.where(inside, row, 0)
        top = np.where(inside, self.top_m[row, col], 0.0)
        g = np.where(inside, self.ground_factor[row, col], self.outside_ground_factor)
        return top, g


@dataclass(frozen=True)
class PathGeometry:
    """Per pair: distances, the middle ground factor and, where screened, the diffraction
    geometry (path difference, source-to-first-edge, last-edge-to-receiver, edge spacing)."""

    distance_m: NDArray[np.float64]  # direct 3-D distance d
    projected_distance_m: NDArray[np.float64]  # d_p, in plan
    ground_factor_middle: NDArray[np.float64]
    screened: NDArray[np.bool_]
    path_difference_m: NDArray[np.float64]  # z (0 where not screened)
    source_to_edge_m: NDArray[np.float64]  # d_ss (d/2 where not screened)
    edge_to_receiver_m: NDArray[np.float64]  # d_sr (d/2 where not screened)
    edge_separation_m: NDArray[np.float64]  # e (0: single edge or not screened)


def path_geometry(
    source_xyz_m: ArrayLike,
    receiver_xyz_m: ArrayLike,
    raster: ObstacleRaster,
    *,
    step_m: float = 1.0,
    max_samples: int = 256,
    receiver_clearance_m: ArrayLike = 0.0,
) -> PathGeometry:
    """Path geometry of source-receiver pairs ``(n, 3)`` over ``raster``.

    The profile is sampled every ``step_m`` (at most ``max_samples`` samples, so long paths
    are sampled more coarsely); samples closer than ``receiver_clearance_m`` (scalar or per
    pair) to the receiver are ignored, so that a facade receiver is not screened by the wall
    it stands in front of.
    """
    src = np.asarray(source_xyz_m, dtype=np.float64).reshape(-1, 3)
    rcv = np.asarray(receiver_xyz_m, dtype=np.float64).reshape(-1, 3)
    if src.shape != rcv.shape:
        raise InputError(
            "source_xyz_m and receiver_xyz_m need the same number of pairs", field="source_xyz_m"
        )
    if not (np.all(np.isfinite(src)) and np.all(np.isfinite(rcv))):
        raise InputError("coordinates must be finite", field="source_xyz_m")
    if not step_m > 0 or max_samples < 1:
        raise InputError("step_m must be > 0 and max_samples >= 1", field="step_m")
    dx, dy = rcv[:, 0] - src[:, 0], rcv[:, 1] - src[:, 1]
    sz, rz = src[:, 2], rcv[:, 2]
    dp = np.hypot(dx, dy)
    d = np.hypot(dp, rz - sz)
    if np.any(d <= 0):
        raise InputError("a source and a receiver coincide", field="receiver_xyz_m")
    n = np.clip(np.ceil(dp / step_m), 1, max_samples)
    clearance = np.broadcast_to(np.asarray(receiver_clearance_m, dtype=np.float64), dp.shape)
    # Samples at (k + 0.5)/n of the path; those beyond the last one before the receiver's
    # clearance repeat it (a repeated sample changes neither "any" nor "argmax"). float32
    # and one flat gather keep this, the model's inner loop, fast.
    limit = 1.0 - clearance / np.maximum(dp, 1e-9)
    last = np.floor(limit * n - 0.5)
    fmax = np.where(last >= 0, (np.minimum(last, n - 1) + 0.5) / n, 0.0).astype(np.float32)
    k = np.arange(int(n.max()), dtype=np.float32)
    frac = np.minimum((k[None, :] + 0.5) / n[:, None].astype(np.float32), fmax[:, None])
    top = raster.sample_fraction(src, dx, dy, frac)
    g_frac = np.broadcast_to(
        np.float32((np.arange(GROUND_SAMPLES) + 0.5) / GROUND_SAMPLES), (len(dp), GROUND_SAMPLES)
    )
    g_top, g = raster.sample(
        src[:, 0, None] + dx[:, None] * g_frac, src[:, 1, None] + dy[:, None] * g_frac
    )
    ground = g_top <= 0.0
    counts = ground.sum(axis=1)
    g_mid = np.where(counts > 0, (g * ground).sum(axis=1) / np.maximum(counts, 1), 0.0)
    los = sz[:, None].astype(np.float32) + (rz - sz)[:, None].astype(np.float32) * frac
    screened = np.any(top > los, axis=1)

    z = np.zeros_like(d)
    dss, dsr, e = d / 2.0, d / 2.0, np.zeros_like(d)
    idx = np.nonzero(screened)[0]
    if idx.size:
        t = top[idx]
        f32 = np.float32
        hs, hr, dpi = (
            sz[idx, None].astype(f32),
            rz[idx, None].astype(f32),
            dp[idx, None].astype(f32),
        )
        sv = frac[idx] * dpi
        with np.errstate(divide="ignore", invalid="ignore"):
            from_source = (t - hs) / sv
            from_receiver = (t - hr) / (dpi - sv)
        rows = np.arange(idx.size)
        k1, k2 = from_source.argmax(axis=1), from_receiver.argmax(axis=1)
        k1, k2 = np.minimum(k1, k2), np.maximum(k1, k2)
        s1, s2 = sv[rows, k1].astype(np.float64), sv[rows, k2].astype(np.float64)
        h1, h2 = t[rows, k1].astype(np.float64), t[rows, k2].astype(np.float64)
        dss[idx] = np.hypot(s1, h1 - sz[idx])
        dsr[idx] = np.hypot(dp[idx] - s2, h2 - rz[idx])
        e[idx] = np.hypot(s2 - s1, h2 - h1)
        z[idx] = np.maximum(dss[idx] + e[idx] + dsr[idx] - d[idx], 0.0)
    return PathGeometry(d, dp, g_mid, screened, z, dss, dsr, e)


def point_source_attenuation_db(
    paths: PathGeometry,
    source_height_m: ArrayLike,
    receiver_height_m: ArrayLike,
    ground_factor_source: ArrayLike,
    ground_factor_receiver: ArrayLike,
    temperature_c: float,
    relative_humidity_pct: float,
) -> NDArray[np.float64]:
    """Octave-band attenuation A = A_div + A_atm + A_gr + A_bar per pair (ISO 9613-2:1996
    eq. 4; A_misc = 0), shape ``(n, 8)``. Screened pairs get A_bar = max(D_z - A_gr, 0) over
    the top edge (eq. 12) with D_z of eqs. 14-18 (double diffraction when e > 0)."""
    d = paths.distance_m
    # A_gr's formulas need d_p > 0; a receiver straight above a source takes the limit.
    dp = np.maximum(paths.projected_distance_m, 0.01)
    a_gr = ground_attenuation_db(
        dp,
        source_height_m,
        receiver_height_m,
        ground_factor_source,
        paths.ground_factor_middle,
        ground_factor_receiver,
    )
    a_gr = np.broadcast_to(a_gr, (d.size, 8)).copy()
    out = (
        geometric_divergence_db(d)[:, None]
        + atmospheric_attenuation_db(d, temperature_c, relative_humidity_pct)
        + a_gr
    )
    idx = np.nonzero(paths.screened)[0]
    if idx.size:
        dz = barrier_screening_db(
            paths.path_difference_m[idx],
            paths.source_to_edge_m[idx],
            paths.edge_to_receiver_m[idx],
            d[idx],
            paths.edge_separation_m[idx],
        )
        out[idx] += barrier_attenuation_db(dz, a_gr[idx])
    return out
