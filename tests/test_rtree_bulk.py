"""Packed bulk loading of SQLite R-trees: a valid tree that answers like a brute-force scan,
also when it is packed in several subtrees (a memory budget smaller than the load)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tweeling.store import rtree_bulk


def load(rows: list[tuple], budget: int = 2_000_000, chunk: int = 997) -> sqlite3.Connection:
    """Pack rows (id, minx, maxx, miny, maxy), handed over in chunks, into a new R-tree."""
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("BEGIN")
    con.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    tree = rtree_bulk.PackedRTree(con, "r", budget=budget)
    for i in range(0, len(rows), chunk):
        part = np.array(rows[i : i + chunk], dtype=np.float64).reshape(-1, 5)
        ids = np.array([r[0] for r in rows[i : i + chunk]], dtype=np.int64)
        tree.add(ids, part[:, [1, 3, 2, 4]])  # minx, miny, maxx, maxy
    tree.finish()
    con.execute("COMMIT")
    return con


def boxes(n: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(80000, 90000, n)
    y = rng.uniform(440000, 450000, n)
    w = rng.uniform(0.001, 30, n)
    return [(i + 1, x[i], x[i] + w[i], y[i], y[i] + w[i]) for i in range(n)]


@pytest.mark.parametrize(
    ("n", "budget"),
    [
        (0, 10**6),
        (1, 10**6),
        (51, 10**6),
        (52, 10**6),
        (2601, 10**6),
        (2652, 10**6),
        (20_000, 10**6),
        (20_000, 3000),
        (5000, 60),
        (700, 1),
    ],  # small budgets: subtrees
)
def test_tree_is_valid_and_complete(n, budget):
    rows = boxes(n, n)
    con = load(rows, budget=budget)
    assert con.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM r").fetchone()[0] == n
    # SQLite can still change the tree the ordinary way afterwards (re-imports do).
    con.execute("INSERT INTO r VALUES (?, 1, 2, 3, 4)", (n + 1,))
    con.executemany("DELETE FROM r WHERE id = ?", [(i,) for i in range(1, n + 1, 3)])
    assert con.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM r").fetchone()[0] == n + 1 - len(range(1, n + 1, 3))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 3000),
    seed=st.integers(0, 10**6),
    qx=st.floats(80000, 90000),
    qy=st.floats(440000, 450000),
    size=st.floats(0, 3000),
)
def test_window_queries_match_brute_force(n, seed, qx, qy, size):
    rows = boxes(n, seed)
    con = load(rows)
    found = {
        r[0]
        for r in con.execute(
            "SELECT id FROM r WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?",
            (qx + size, qx, qy + size, qy),
        )
    }
    expected = {
        r[0] for r in rows if r[1] <= qx + size and r[2] >= qx and r[3] <= qy + size and r[4] >= qy
    }
    # The R-tree stores float32 boxes rounded outwards: it may return a few more, never fewer.
    assert expected <= found
    extra = found - expected
    tol = 0.02  # float32 spacing at 450 km is 0.03 m; rounding outwards adds at most that
    for i in extra:
        _, x0, x1, y0, y1 = rows[i - 1]
        assert x0 <= qx + size + tol and x1 >= qx - tol and y0 <= qy + size + tol
        assert y1 >= qy - tol
