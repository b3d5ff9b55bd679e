"""Propagation paths over buildings (ISO 9613-2 clause 7.4 geometry) and line sources split
into point sources (ISO 9613-2 clause 4).

Expected numbers are geometry worked out by hand next to each test: ISO 9613-2:1996 eqs. 16
and 17 give the path difference z = d_ss + e + d_sr - d over the first and last edge.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tweeling.core.errors import InputError
from tweeling.methods.noise_iso9613 import A_WEIGHTING_DB, energetic_sum_db
from tweeling.methods.noise_line_sources import build_source_tree, select_pairs
from tweeling.methods.noise_paths import (
    ObstacleRaster,
    path_geometry,
    point_source_attenuation_db,
)

CELL = 0.5


def raster(walls=(), ground=0.0, size=(200, 200)) -> ObstacleRaster:
    """A 100 × 100 m raster (west -50, north 50); walls: (x0, x1, y0, y1, height)."""
    top = np.zeros(size, dtype=np.float32)
    g = np.full(size, ground, dtype=np.float32)
    for x0, x1, y0, y1, h in walls:
        c0, c1 = int((x0 + 50) / CELL), int((x1 + 50) / CELL)
        r0, r1 = int((50 - y1) / CELL), int((50 - y0) / CELL)
        top[r0:r1, c0:c1] = h
    return ObstacleRaster(top, g, -50.0, 50.0, CELL)


def test_an_open_path_is_not_screened_and_takes_the_ground_factor():
    paths = path_geometry([[0, 0, 0.05]], [[20, 0, 4]], raster(ground=1.0))
    assert not paths.screened[0]
    assert paths.distance_m[0] == pytest.approx(math.hypot(20, 3.95))
    assert paths.ground_factor_middle[0] == pytest.approx(1.0)
    assert paths.path_difference_m[0] == 0.0


def test_a_thick_wall_gives_the_path_difference_over_its_two_edges():
    # wall from x = 9.5 to 11.5 m, 5 m high, between a source at 0.05 m and a receiver at
    # 4 m, 20 m apart. Exact: d_ss = √(9.5² + 4.95²) = 10.712, e = 2, d_sr = √(8.5² + 1²) =
    # 8.559, d = √(20² + 3.95²) = 20.386 → z = 0.885 m. Samples every metre find the edges
    # to within a metre: z within 0.02 m.
    paths = path_geometry([[0, 0, 0.05]], [[20, 0, 4]], raster([(9.5, 11.5, -5, 5, 5.0)]))
    assert paths.screened[0]
    assert paths.path_difference_m[0] == pytest.approx(0.885, abs=0.02)
    assert paths.source_to_edge_m[0] == pytest.approx(10.712, abs=0.01)
    assert 0.9 <= paths.edge_separation_m[0] <= 2.0


def test_a_wall_below_the_line_of_sight_does_not_screen():
    # line of sight at x = 10 m: 0.05 + 3.95 · 0.5 = 2.0 m; a 1.5 m wall stays below it
    paths = path_geometry([[0, 0, 0.05]], [[20, 0, 4]], raster([(9.5, 11.5, -5, 5, 1.5)]))
    assert not paths.screened[0]


def test_a_facade_receiver_is_not_screened_by_its_own_wall():
    # the receiver stands 0.5 m in front of a building that reaches x = 19.5 m
    walls = [(19.5, 40.0, -10, 10, 12.0)]
    behind_clearance = path_geometry(
        [[0, 0, 0.05]], [[19.0, 0, 4]], raster(walls), receiver_clearance_m=1.0
    )
    assert not behind_clearance.screened[0]
    # a receiver on the far side of that building is screened by it
    far_side = path_geometry(
        [[0, 0, 0.05]], [[41.0, 0, 4]], raster(walls), receiver_clearance_m=1.0
    )
    assert far_side.screened[0]


def test_a_building_cuts_the_level_by_its_screening():
    src, rcv = [[0, 0, 0.05]], [[30, 0, 4]]
    args = (0.05, 4.0, 0.0, 0.0, 10.0, 70.0)
    open_a = point_source_attenuation_db(path_geometry(src, rcv, raster()), *args)
    wall = raster([(14.0, 16.0, -20, 20, 10.0)])
    screened_a = point_source_attenuation_db(path_geometry(src, rcv, wall), *args)
    lw = 100.0 + A_WEIGHTING_DB
    drop = energetic_sum_db(lw - open_a[0]) - energetic_sum_db(lw - screened_a[0])
    # z ≈ 4.1 m over a 10 m high, 2 m thick block: D_z ≈ 21 dB at 500 Hz and the 25 dB cap
    # of double diffraction from 1 kHz up; over the top edge A_bar = D_z - A_gr (eq. 12),
    # so the -3 dB ground gain of hard ground is lost too: at most 25 + 3 = 28 dB.
    assert 20.0 < drop <= 28.0 + 1e-9


def test_bad_paths_are_refused():
    with pytest.raises(InputError, match="coincide"):
        path_geometry([[0, 0, 1]], [[0, 0, 1]], raster())
    with pytest.raises(InputError, match="same number"):
        path_geometry([[0, 0, 1], [1, 1, 1]], [[5, 0, 1]], raster())
    with pytest.raises(InputError, match="finite"):
        path_geometry([[0, 0, np.nan]], [[5, 0, 1]], raster())


def straight_road(length=2000.0, piece=5.0):
    n = int(length / piece)
    x = -length / 2 + piece * (np.arange(n) + 0.5)
    xy = np.column_stack([x, np.zeros(n)])
    power = np.ones((n, 1))  # 1 unit of linear power per 5 m piece
    return xy, power, np.full(n, piece), np.zeros(n, dtype=int)


def test_the_source_tree_keeps_all_power_and_the_clause_4_condition():
    xy, power, length, line = straight_road()
    tree = build_source_tree(xy, power, length, line, max_length_m=100.0)
    receivers = np.array([[0.0, 10.0], [0.0, 200.0], [900.0, 30.0]])
    r, s = select_pairs(tree, receivers, max_distance_m=5000.0)
    for i in range(len(receivers)):
        pieces = s[r == i]
        # every 5 m piece is represented exactly once: total power 400
        assert tree.power[pieces].sum() == pytest.approx(len(xy))
        d = np.hypot(*(tree.xy[pieces] - receivers[i]).T)
        coarse = tree.child_count[pieces] > 0
        assert np.all(d[coarse] > 2.0 * tree.length_m[pieces][coarse])  # ISO 9613-2 clause 4
    # near the road the pieces are fine, far away coarse: fewer pieces
    assert (r == 1).sum() < (r == 0).sum()


def test_the_source_tree_leaves_out_pieces_beyond_the_relevance_distance():
    xy, power, length, line = straight_road()
    tree = build_source_tree(xy, power, length, line)
    _r, s = select_pairs(tree, np.array([[0.0, 10.0]]), max_distance_m=100.0)
    kept = tree.power[s].sum()
    assert 38 <= kept <= 44  # ±100 m of road = 200 m = 40 pieces (± one coarse piece)


def test_lumped_pieces_give_the_level_of_all_pieces():
    """Lumping far sections into one point source (clause 4) changes the level by less than
    0.3 dB against summing every 5 m piece, for receivers near and far."""
    xy, power, length, line = straight_road(length=1000.0)
    tree = build_source_tree(xy, power, length, line)
    flat = ObstacleRaster(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32), -1, 1, 1)

    def level(sources, weights, receiver):
        src = np.column_stack([sources, np.full(len(sources), 0.05)])
        rcv = np.tile([*receiver, 4.0], (len(sources), 1))
        a = point_source_attenuation_db(path_geometry(src, rcv, flat), 0.05, 4.0, 0, 0, 10, 70)
        return float(energetic_sum_db(10 * np.log10(weights)[:, None] - a + A_WEIGHTING_DB))

    for receiver in ([0.0, 8.0], [300.0, 60.0], [0.0, 400.0]):
        _r, s = select_pairs(tree, np.array([receiver]), max_distance_m=5000.0)
        assert len(s) < len(xy)
        lumped = level(tree.xy[s], tree.power[s, 0], receiver)
        every = level(xy, power[:, 0], receiver)
        assert lumped == pytest.approx(every, abs=0.3)


def test_a_long_road_falls_3_db_per_doubling_of_distance():
    """A line source spreads cylindrically: 10·lg 2 = 3.0 dB less per doubling of distance
    (a point source: 6 dB, ISO 9613-2 eq. 7). Divergence only, the road 4 km long."""
    xy, power, length, line = straight_road(length=4000.0)
    tree = build_source_tree(xy, power, length, line)
    levels = []
    for distance in (10.0, 20.0, 40.0):
        _, s = select_pairs(tree, np.array([[0.0, distance]]), max_distance_m=5000.0)
        d = np.hypot(*(tree.xy[s] - [0.0, distance]).T)
        levels.append(float(energetic_sum_db(10 * np.log10(tree.power[s, 0]) - 20 * np.log10(d))))
    assert levels[0] - levels[1] == pytest.approx(3.0, abs=0.15)
    assert levels[1] - levels[2] == pytest.approx(3.0, abs=0.15)
