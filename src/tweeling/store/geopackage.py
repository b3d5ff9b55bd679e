"""The embedded store: one GeoPackage file per twin, versioned features, COG rasters beside it.

Every write is one SQLite transaction (``BEGIN IMMEDIATE`` … ``COMMIT``): a failed or
interrupted import leaves the file exactly as it was (SQLite's rollback journal also covers a
killed process). Table layout: see :mod:`tweeling.store.gpkg_schema`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely

from tweeling.core.errors import WorkspaceError
from tweeling.core.records import Bbox
from tweeling.core.timeaxis import to_text, utc_now
from tweeling.core.views import BASELINE
from tweeling.store import gpkg_connection, gpkg_geometry, gpkg_read, gpkg_schema, rtree_bulk
from tweeling.store.gpkg_import import BatchWriter
from tweeling.store.gpkg_read import CURRENT_META
from tweeling.store.gpkg_schema import quote, versions_table
from tweeling.store.sql_store import AREA_MARGIN_M, SqlStore
from tweeling.store.values import column_lists

__all__ = ["AREA_MARGIN_M", "GeoPackageStore"]

_COPY_COLS = (
    "vid, tw_id, branch, txn_from, txn_to, valid_from, valid_to, recorded_at, record_end, "
    "deleted, source, hash"
)


class GeoPackageStore(SqlStore):
    """A twin's store in one GeoPackage file; rasters as COG files in ``raster_dir``."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        raster_dir: str | os.PathLike | None = None,
        busy_timeout: float = 5.0,
    ):
        self.path = Path(path)
        self.location = str(self.path)
        self.root = self.path.parent
        self.raster_dir = Path(raster_dir) if raster_dir else self.path.parent / "rasters"
        if not self.path.exists():
            raise WorkspaceError(f"store {self.path} does not exist (run 'tweeling init')")
        try:
            self._con = _connect(self.path, busy_timeout)
        except sqlite3.DatabaseError:  # not SQLite at all
            raise WorkspaceError(f"{self.path} is not a Tweeling store") from None
        try:
            gpkg_schema.check_format(self._con, self.path)
        except BaseException:
            self._con.close()
            raise
        self._init_state()

    def reopen_config(self) -> tuple[Path, dict[str, Any]]:
        return self.root, {"file": str(self.path.resolve()), "rasters": str(self.raster_dir)}

    @classmethod
    def create(cls, path: str | os.PathLike, **kwargs) -> GeoPackageStore:
        path = Path(path)
        if path.exists():
            raise WorkspaceError(f"{path} already exists")
        tmp = path.with_name(path.name + ".creating")
        tmp.unlink(missing_ok=True)
        con = sqlite3.connect(tmp)
        try:
            with con:
                gpkg_schema.create_base_tables(con)
                now = to_text(utc_now())
                con.execute(
                    "INSERT INTO tw_branches (id, name, parent_id, base_txn, created_at, author,"
                    " description, status) VALUES (?, 'baseline', NULL, NULL, ?, '', "
                    "'The twin as recorded from its sources (root branch)', 'published')",
                    (BASELINE, now),
                )
        finally:
            con.close()
        tmp.rename(path)
        return cls(path, **kwargs)

    broken = False  # a file: nothing to lose

    def max_connections(self) -> int | None:
        return None

    def close(self) -> None:
        self._con.close()

    # ------------------------------------------------------------------ backend hooks

    _sql = gpkg_read
    IntegrityError = sqlite3.IntegrityError
    _batch_writer = BatchWriter

    @staticmethod
    def _decode(blobs):
        return gpkg_geometry.decode(blobs)

    @staticmethod
    def _wkb(blob):
        return gpkg_geometry.wkb_of(blob)

    _BEGIN = "BEGIN IMMEDIATE"  # StoreBusy when another process writes

    def _lock(self, con, name: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already lets one writer in at a time."""

    def _data_version(self) -> int:
        return self._con.execute("PRAGMA data_version").fetchone()[0]

    def _layer_stats(self, name: str) -> tuple[int, Bbox | None]:
        count = self._con.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0]
        ext = self._con.execute(
            "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?", (name,)
        ).fetchone()
        return count, None if ext is None or ext[0] is None else tuple(ext)

    def _features_extent(self) -> Bbox | None:
        ext = self._con.execute(
            "SELECT min(min_x), min(min_y), max(max_x), max(max_y) FROM gpkg_contents "
            "WHERE data_type = 'features'"
        ).fetchone()
        return None if ext is None or ext[0] is None else tuple(ext)

    def _insert_versions(self, con, layer: str, rows: list[tuple], *, deleted: bool) -> None:
        """A scenario edit's new versions (``vid, tw_id, branch, txn_from, recorded_at,
        source, hash, blob, props, minx, miny, maxx, maxy``), into the versions R-tree too."""
        vt = quote(versions_table(layer))
        con.executemany(
            f"INSERT INTO {vt} (vid, tw_id, branch, txn_from, recorded_at, source, hash, geom, "
            f"props, minx, miny, maxx, maxy, deleted) VALUES "
            f"(?,?,?,?,?,?,?,?,?,?,?,?,?,{1 if deleted else 0})",
            rows,
        )
        if not deleted:
            con.executemany(
                f"INSERT INTO {quote(versions_table(layer) + '_rtree')} VALUES (?,?,?,?,?)",
                [(r[0], r[9], r[11], r[10], r[12]) for r in rows if r[9] is not None],
            )

    # ------------------------------------------------------------------ copying (store.copy)

    def _version_rows(self, layer: str):
        """Every version of ``layer`` in vid order: ``vid, tw_id, branch, txn_from, txn_to,
        valid_from, valid_to, recorded_at, record_end, deleted, source, hash, ISO WKB,
        props``."""
        cur = self._con.execute(
            f"SELECT {_COPY_COLS}, geom, props FROM {quote(versions_table(layer))} ORDER BY vid"
        )
        for row in cur:
            yield (*row[:12], gpkg_geometry.wkb_of(row[12]), row[13])

    def _create_layer(self, con, schema) -> None:
        gpkg_schema.create_layer(con, schema, schema.description or schema.title)

    def _load_versions(self, con, schema, batches) -> int:
        """Versions copied from another store (as :meth:`_version_rows` gives them), with
        the layer table of the current baseline, both R-trees and the layer's extent."""
        name = schema.name
        vt = versions_table(name)
        current = rtree_bulk.PackedRTree(con, f"rtree_{name}_geom")
        others = rtree_bulk.PackedRTree(con, f"{vt}_rtree")
        cols = "".join(", " + quote(f) for f in schema.fields)
        n = fid = 0
        for rows in batches:
            blobs, bounds = _blobs([r[12] for r in rows], gpkg_schema.srs_id_for(schema))
            con.executemany(
                f"INSERT INTO {quote(vt)} ({_COPY_COLS}, geom, props, minx, miny, maxx, maxy) "
                f"VALUES ({','.join('?' * 18)})",
                [
                    (*r[:12], g, r[13], *box)
                    for r, g, box in zip(rows, blobs, bounds.tolist(), strict=True)
                ],
            )
            now = [i for i, r in enumerate(rows) if r[2] == BASELINE and r[4] is None]
            fids = np.arange(fid + 1, fid + 1 + len(now), dtype=np.int64)
            con.executemany(
                f"INSERT INTO {quote(name)} (fid, geom, tw_id, {CURRENT_META}{cols}) "
                f"VALUES ({','.join('?' * (9 + len(schema.fields)))})",
                _current_rows(schema, [rows[i] for i in now], [blobs[i] for i in now], fids),
            )
            current.add(fids, bounds[now])
            rest = [i for i in range(len(rows)) if blobs[i] is not None and i not in set(now)]
            others.add(np.array([rows[i][0] for i in rest], dtype=np.int64), bounds[rest])
            fid += len(now)
            n += len(rows)
        current.finish()
        others.finish()
        rtree = quote(f"rtree_{name}_geom")
        ext = con.execute(
            f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {rtree}"
        ).fetchone()
        con.execute(
            "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? "
            "WHERE table_name = ?",
            (*ext, name),
        )
        return n

    def _after_copy(self, con) -> None:
        """Nothing to do: SQLite numbers new rows after the largest id."""

    def _drop_branch(self, con, layer: str, branch: int) -> None:
        """Every version a (deleted) scenario holds of ``layer``."""
        vt = quote(versions_table(layer))
        b = int(branch)
        con.execute(
            f"DELETE FROM {quote(versions_table(layer) + '_rtree')} WHERE id IN "
            f"(SELECT vid FROM {vt} WHERE branch = {b} AND branch <> {BASELINE})"
        )
        con.execute(f"DELETE FROM {vt} WHERE branch = {b} AND branch <> {BASELINE}")

    def integrity_check(self) -> str:
        return self._con.execute("PRAGMA integrity_check").fetchone()[0]


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    con = gpkg_connection.connect(path, busy_timeout)
    con.execute("PRAGMA foreign_keys = OFF")
    con.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache: bounded memory for imports
    return con


def _current_rows(schema, rows: list[tuple], blobs: list[bytes], fids) -> list[tuple]:
    """Rows of the layer table (typed columns) for current baseline versions."""
    props = [orjson.loads(r[13]) for r in rows]
    columns = {f: [p.get(f) for p in props] for f in schema.fields}
    values = column_lists(schema, columns, len(rows))
    return [
        (int(f), blob, r[1], r[0], r[3], *r[5:9], *(v[k] for v in values))
        for k, (f, r, blob) in enumerate(zip(fids, rows, blobs, strict=True))
    ]


def _blobs(wkbs: list[bytes | None], srs_id: int) -> tuple[list[bytes | None], np.ndarray]:
    """GeoPackage blobs and bounds of ISO WKB (None, a tombstone's, stays None)."""
    geoms = shapely.from_wkb(wkbs)
    bounds = np.full((len(wkbs), 4), np.nan)
    blobs: list[bytes | None] = [None] * len(wkbs)
    have = [i for i, w in enumerate(wkbs) if w is not None]
    if have:
        encoded, b = gpkg_geometry.encode(geoms[have], srs_id)
        bounds[have] = b
        for i, blob in zip(have, encoded, strict=True):
            blobs[i] = blob
    return blobs, bounds
