"""Packed bulk loading of SQLite R-trees: a valid tree that answers like a brute-force scan."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tweeling.store import rtree_bulk


def load(rows: list[tuple]) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("BEGIN")
    con.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    rows = sorted(rows, key=lambda r: r[1] + r[2])
    chunks = iter([rows[i : i + 997] for i in range(0, len(rows), 997)])
    rtree_bulk.bulk_load(con, "r", chunks, len(rows))
    con.execute("COMMIT")
    return con


def boxes(n: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(80000, 90000, n)
    y = rng.uniform(440000, 450000, n)
    w = rng.uniform(0.001, 30, n)
    return [(i + 1, x[i], x[i] + w[i], y[i], y[i] + w[i]) for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 51, 52, 2601, 2652, 20_000])
def test_tree_is_valid_and_complete(n):
    rows = boxes(n, n)
    con = load(rows)
    assert con.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM r").fetchone()[0] == n
    # New rows can still be added the ordinary way afterwards.
    con.execute("INSERT INTO r VALUES (?, 1, 2, 3, 4)", (n + 1,))
    assert con.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"


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
