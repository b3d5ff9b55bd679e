"""Bulk loading of an empty SQLite R-tree by Sort-Tile-Recursive packing.

Inserting rows one by one into an SQLite R-tree costs about 12 µs each (it chooses a leaf and
splits nodes as it goes). For a fresh layer we instead pack the tree bottom-up with STR
(Leutenegger, Lopez & Edgington, "STR: A Simple and Efficient Algorithm for R-Tree Packing",
ICDE 1997) and write the R-tree's shadow tables directly, as GDAL does for GeoPackage.

Shadow table format (SQLite ``ext/rtree/rtree.c``): ``%_node(nodeno, data)`` where ``data`` is
a fixed-size blob: 2 bytes tree depth (root only), 2 bytes cell count, then per cell an 8-byte
id (row id in leaves, child node number above) and ``minx, maxx, miny, maxy`` as 4-byte floats,
all big-endian; the root is node 1. ``%_rowid`` maps row ids to leaf nodes and ``%_parent``
child nodes to their parents. Coordinates are float32, rounded outwards (min down, max up) as
SQLite itself does, so no box shrinks. ``rtreecheck()`` verifies the result in the tests.

Memory: boxes are buffered at 24 bytes each up to a budget (250,000 by default, 6 MB);
larger loads are packed in subtrees of that size, joined under one root at the end (a query
then visits one more node per subtree: a few microseconds per million features).
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np

_CELL = np.dtype(
    [("id", ">i8"), ("minx", ">f4"), ("maxx", ">f4"), ("miny", ">f4"), ("maxy", ">f4")]
)


def node_size(con: sqlite3.Connection) -> int:
    """The R-tree node blob size SQLite uses for 2-D trees with this database's page size."""
    page = con.execute("PRAGMA page_size").fetchone()[0]
    return min(page - 64, 4 + _CELL.itemsize * 51)


def _down(values: np.ndarray) -> np.ndarray:
    f = values.astype(np.float32)
    return np.where(f.astype(np.float64) > values, np.nextafter(f, np.float32(-np.inf)), f)


def _up(values: np.ndarray) -> np.ndarray:
    f = values.astype(np.float32)
    return np.where(f.astype(np.float64) < values, np.nextafter(f, np.float32(np.inf)), f)


class _Packer:
    def __init__(self, con: sqlite3.Connection, table: str, fanout: int, size: int):
        self.con = con
        self.table = table
        self.fanout = fanout
        self.size = size
        self.next_node = 2  # node 1 is the root, written last

    def write_level(self, cells: np.ndarray, leaf: bool) -> np.ndarray:
        """Write nodes of ``cells`` (already in packing order); return the parent cells."""
        n_nodes = math.ceil(len(cells) / self.fanout)
        parents = np.zeros(n_nodes, dtype=_CELL)
        node_rows, map_rows = [], []
        for k in range(n_nodes):
            part = cells[k * self.fanout : (k + 1) * self.fanout]
            nodeno = self.next_node
            self.next_node += 1
            node_rows.append((nodeno, self._blob(part, depth=0)))
            ids = part["id"].astype(np.int64).tolist()
            map_rows += [(i, nodeno) for i in ids]
            parents[k] = (
                nodeno,
                part["minx"].min(),
                part["maxx"].max(),
                part["miny"].min(),
                part["maxy"].max(),
            )
        self.con.executemany(f'INSERT INTO "{self.table}_node" VALUES (?, ?)', node_rows)
        target = "_rowid" if leaf else "_parent"
        self.con.executemany(f'INSERT INTO "{self.table}{target}" VALUES (?, ?)', map_rows)
        return parents

    def _blob(self, cells: np.ndarray, depth: int) -> bytes:
        head = depth.to_bytes(2, "big") + len(cells).to_bytes(2, "big")
        body = cells.astype(_CELL, copy=False).tobytes()  # big-endian, whatever numpy did
        return head + body + b"\x00" * (self.size - 4 - len(body))

    def write_root(self, cells: np.ndarray, depth: int) -> None:
        self.con.execute(
            f'INSERT INTO "{self.table}_node" VALUES (1, ?)', (self._blob(cells, depth),)
        )
        if depth == 0:
            self.con.executemany(
                f'INSERT INTO "{self.table}_rowid" VALUES (?, 1)',
                [(i,) for i in cells["id"].astype(np.int64).tolist()],
            )
        else:
            self.con.executemany(
                f'INSERT INTO "{self.table}_parent" VALUES (?, 1)',
                [(i,) for i in cells["id"].astype(np.int64).tolist()],
            )


def _str_order(cells: np.ndarray, fanout: int) -> np.ndarray:
    """Cells in STR order: vertical slices by x centre, each sorted by y centre."""
    n = len(cells)
    if n <= fanout:
        return cells
    slices = math.ceil(math.sqrt(math.ceil(n / fanout)))
    per_slice = fanout * math.ceil(n / (fanout * slices))
    cx = cells["minx"].astype(np.float64) + cells["maxx"]
    cells = cells[np.argsort(cx, kind="stable")]
    out = []
    for start in range(0, n, per_slice):
        part = cells[start : start + per_slice]
        cy = part["miny"].astype(np.float64) + part["maxy"]
        out.append(part[np.argsort(cy, kind="stable")])
    return np.concatenate(out)


class PackedRTree:
    """Packs an *empty* SQLite R-tree from boxes handed over chunk by chunk.

    Boxes are buffered (24 bytes each) up to ``budget``; each full buffer is packed with STR
    into a subtree, and :meth:`finish` joins the subtrees under one root (subtrees of lower
    height are lifted by single-entry nodes so that all leaves share one depth, as SQLite
    requires). Up to ``budget`` boxes the tree is one globally packed STR tree; beyond it,
    memory stays bounded and queries visit one more node per subtree.
    """

    def __init__(self, con: sqlite3.Connection, rtree: str, *, budget: int = 250_000):
        size = node_size(con)
        self.fanout = (size - 4) // _CELL.itemsize
        self.packer = _Packer(con, rtree, self.fanout, size)
        self.con = con
        self.rtree = rtree
        self.budget = budget
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.subtrees: list[tuple[np.ndarray, int]] = []  # (root cell, height in node levels)
        con.execute(f'DELETE FROM "{rtree}_node"')  # the empty tree's root node

    def add(self, ids: np.ndarray, bounds: np.ndarray) -> None:
        """Boxes of rows ``ids``; ``bounds`` is (n, 4) minx, miny, maxx, maxy (NaN: empty)."""
        keep = ~np.isnan(bounds[:, 0])
        if not keep.all():
            ids, bounds = ids[keep], bounds[keep]
        if not len(ids):
            return
        cells = np.zeros(len(ids), dtype=_CELL)
        cells["id"] = ids
        cells["minx"] = _down(bounds[:, 0])
        cells["miny"] = _down(bounds[:, 1])
        cells["maxx"] = _up(bounds[:, 2])
        cells["maxy"] = _up(bounds[:, 3])
        self.buffer.append(cells)
        self.buffered += len(cells)
        if self.buffered >= self.budget:
            self._pack_buffer()

    def _pack_buffer(self) -> None:
        """Pack the buffered boxes into a subtree; keep its top level (at most one node's
        worth of cells) and its height (0: the cells are row entries)."""
        if not self.buffer:
            return
        cells = np.concatenate(self.buffer)
        self.buffer, self.buffered = [], 0
        height = 0
        while len(cells) > self.fanout:
            cells = self.packer.write_level(_str_order(cells, self.fanout), leaf=height == 0)
            height += 1
        self.subtrees.append((cells, height))

    def finish(self) -> None:
        self._pack_buffer()
        if not self.subtrees:
            self.con.execute(
                f'INSERT INTO "{self.rtree}_node" VALUES (1, ?)', (b"\x00" * self.packer.size,)
            )
            return
        if len(self.subtrees) == 1:  # one packed tree: its top level is the root
            cells, height = self.subtrees[0]
            self.packer.write_root(cells, height)
            return
        # Several subtrees: one node over each top level, lifted to a common height by
        # single-entry nodes (all leaves must share one depth), then packed under the root.
        roots = []
        for cells, height in self.subtrees:
            roots.append((self.packer.write_level(cells, leaf=height == 0)[0], height + 1))
        top = max(h for _, h in roots)
        lifted = []
        for cell, height in roots:
            while height < top:
                cell = self.packer.write_level(np.array([cell], dtype=_CELL), leaf=False)[0]
                height += 1
            lifted.append(cell)
        cells = np.array(lifted, dtype=_CELL)
        depth = top
        while len(cells) > self.fanout:
            cells = self.packer.write_level(_str_order(cells, self.fanout), leaf=False)
            depth += 1
        self.packer.write_root(cells, depth)
