"""Line sources as point sources, fine near a receiver and coarse far away (ISO 9613-2:1996
clause 4: a section of a line source may be represented by a point source at its centre when
the distance to the receiver is more than twice the section's largest dimension).

Roads are split into short pieces (level 0); every four consecutive pieces of one road form
a piece of the next level, and so on. For each receiver the coarsest pieces that satisfy
d > 2·H_max are chosen, descending into finer pieces only near the receiver. Sound power is
additive, so every level carries the sum of its pieces' power. The selection is exact in
energy: every level-0 piece is represented exactly once per receiver.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

GROUP = 4  # pieces per piece of the next level
CLAUSE_4_FACTOR = 2.0  # d > 2·H_max


@dataclass(frozen=True)
class SourceTree:
    """All levels' pieces in one array; ``children[i]`` is the range of a piece's finer
    pieces (empty for level 0); ``top`` lists the coarsest pieces."""

    xy: NDArray[np.float64]  # (n, 2) centre of each piece
    power: NDArray[np.float64]  # (n, ...) additive (linear) power of each piece
    length_m: NDArray[np.float64]  # (n,) length along the line
    child_start: NDArray[np.int64]
    child_count: NDArray[np.int64]
    top: NDArray[np.int64]
    n_finest: int


def build_source_tree(
    xy: NDArray,
    power: NDArray,
    length_m: NDArray,
    line_id: NDArray,
    *,
    max_length_m: float = 100.0,
) -> SourceTree:
    """A tree over level-0 pieces given in order along each line (``line_id`` per piece);
    no level is added once a piece reaches ``max_length_m`` (so the coarsest pieces can be
    found with a spatial index)."""
    xy = np.asarray(xy, dtype=np.float64)
    power = np.asarray(power, dtype=np.float64)
    length = np.asarray(length_m, dtype=np.float64)
    line = np.asarray(line_id)
    levels_xy, levels_power, levels_len = [xy], [power], [length]
    starts, counts = [np.zeros(len(xy), np.int64)], [np.zeros(len(xy), np.int64)]
    offset = 0
    while True:
        cur_xy, cur_p, cur_len = levels_xy[-1], levels_power[-1], levels_len[-1]
        n = len(cur_xy)
        if n == 0 or cur_len.max() >= max_length_m:
            break
        # position of each piece within its line, then groups of GROUP per line
        first = np.r_[True, line[1:] != line[:-1]]
        start_of_line = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        group = (
            np.cumsum(np.r_[True, (first | ((np.arange(n) - start_of_line) % GROUP == 0))[1:]]) - 1
        )
        m = int(group[-1]) + 1
        if m == n:  # nothing merges any more
            break
        weight = cur_len / np.bincount(group, weights=cur_len, minlength=m)[group]
        g_xy = np.column_stack(
            [np.bincount(group, weights=cur_xy[:, k] * weight, minlength=m) for k in range(2)]
        )
        g_power = np.zeros((m, *cur_p.shape[1:]))
        np.add.at(g_power, group, cur_p)
        g_len = np.bincount(group, weights=cur_len, minlength=m)
        child_start = offset + np.searchsorted(group, np.arange(m))
        child_count = np.bincount(group, minlength=m)
        offset += n
        levels_xy.append(g_xy)
        levels_power.append(g_power)
        levels_len.append(g_len)
        starts.append(child_start)
        counts.append(child_count)
        line = line[np.searchsorted(group, np.arange(m))]
    total = sum(len(a) for a in levels_xy)
    top = np.arange(total - len(levels_xy[-1]), total)
    return SourceTree(
        np.vstack(levels_xy),
        np.concatenate(levels_power),
        np.concatenate(levels_len),
        np.concatenate(starts),
        np.concatenate(counts),
        top,
        len(xy),
    )


def select_pairs(
    tree: SourceTree, receivers_xy: NDArray, max_distance_m: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(receiver index, piece index) pairs: per receiver the coarsest pieces with
    d > 2·H_max, leaving out pieces wholly beyond ``max_distance_m``."""
    rcv = np.asarray(receivers_xy, dtype=np.float64).reshape(-1, 2)
    top_xy = tree.xy[tree.top]
    radius = max_distance_m + float(tree.length_m[tree.top].max(initial=0.0)) / 2.0
    near = cKDTree(top_xy).query_ball_point(rcv, radius) if len(top_xy) else []
    sizes = np.fromiter((len(x) for x in near), dtype=np.int64, count=len(near))
    r_idx = np.repeat(np.arange(len(rcv)), sizes)
    s_idx = tree.top[np.fromiter(itertools.chain.from_iterable(near), np.int64, sizes.sum())]
    out_r, out_s = [], []
    while len(r_idx):
        d = np.hypot(*(rcv[r_idx] - tree.xy[s_idx]).T)
        length = tree.length_m[s_idx]
        done = (tree.child_count[s_idx] == 0) | (d > CLAUSE_4_FACTOR * length)
        too_far = d - length / 2.0 > max_distance_m
        accept = done & ~too_far
        out_r.append(r_idx[accept])
        out_s.append(s_idx[accept])
        split = ~done & ~too_far
        counts = tree.child_count[s_idx[split]]
        starts = np.repeat(tree.child_start[s_idx[split]], counts)
        r_idx = np.repeat(r_idx[split], counts)
        s_idx = starts + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_r), np.concatenate(out_s)
