"""The server store: a twin in a PostgreSQL/PostGIS database, for a province, a national
twin or several server processes at once.

The same semantics as the GeoPackage backend, from the same SQL where the tables are the
same (:mod:`store.sql_store`): layers with declared schemas, versions with valid and record
time, copy-on-write scenarios at any depth, frozen versions whose content hashes equal the
GeoPackage backend's for the same content, runs, findings, people, audit and rounds.
Rasters stay Cloud Optimised GeoTIFF files in the twin's folder (``rasters/``), which every
server process of the twin reads (a shared volume where they run on several machines).

Concurrency: readers never wait (MVCC). Writes that create a transaction of the twin
(imports, scenario edits, freezes, status changes) take one advisory lock, so transaction
numbers commit in order and a frozen version can never gain an edit that committed late;
appends to the audit log take another, so the hash chain has one order; everything else
(sessions, tokens, comments, runs, findings) only locks the rows it writes. A writer that
waits longer than the lock timeout gets ``StoreBusy`` (503 with Retry-After).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import shapely

from tweeling.core.errors import WorkspaceError
from tweeling.core.records import Bbox
from tweeling.core.timeaxis import to_text, utc_now
from tweeling.core.views import BASELINE
from tweeling.store import pg_read, pg_schema
from tweeling.store.gpkg_schema import STORE_FORMAT, quote, srs_id_for, versions_table
from tweeling.store.pg_connection import PgCon, check_url, connect, redacted
from tweeling.store.pg_import import (
    PgBatchWriter,
    build_indexes,
    drop_indexes,
    iso_to_ewkb,
    json_value,
    to_ewkb,
    update_stats,
)
from tweeling.store.sql_store import SqlStore

_COPY_COLS = (
    "vid, tw_id, branch, txn_from, txn_to, valid_from, valid_to, recorded_at, record_end, "
    "deleted, source, hash"
)
_COPY_TYPES = [
    "int8", "text", "int8", "int8", "int8", "text", "text", "text", "text", "int2", "text",
    "text", "bytea", "jsonb",
]  # fmt: skip
# Keys of the advisory locks (pg_advisory_xact_lock): fixed numbers, one per kind of writer.
_LOCKS = {"transactions": 0x7477_0001, "audit": 0x7477_0002, "jobs": 0x7477_0003}


class PostgisStore(SqlStore):
    """A twin's store in a PostgreSQL database with PostGIS; rasters as files in
    ``raster_dir`` (default ``root/rasters``)."""

    _sql = pg_read
    _BEGIN = "BEGIN"
    IntegrityError = psycopg.IntegrityError
    _batch_writer = PgBatchWriter

    def __init__(
        self,
        url: str,
        *,
        root: str | os.PathLike,
        raster_dir: str | os.PathLike | None = None,
    ):
        self.url = check_url(url)
        self.location = redacted(url)
        self.root = Path(root)
        self.raster_dir = Path(raster_dir) if raster_dir else self.root / "rasters"
        self._con = PgCon(connect(url, autocommit=True), url)
        try:
            pg_schema.check_format(self._con, self.location)
        except BaseException:
            self._con.close()
            raise
        self._init_state()

    def render_tile(self, layer, view, fields, mercator_bounds, rd_box, limit) -> bytes | None:
        """The current baseline's tiles by PostGIS (``ST_AsMVT``): no geometry crosses to
        Python. Scenario and past views are rendered by the caller from their features."""
        if not view.is_baseline_head:
            return None
        sql = pg_read.mvt_sql(self.schema(layer), list(fields), limit)
        params = [layer, *map(float, mercator_bounds), *map(float, rd_box)]
        row = self._con.execute(sql, params).fetchone()
        return bytes(row[0]) if row and row[0] else b""

    def reopen_config(self) -> tuple[Path, dict[str, Any]]:
        return self.root, {"url": self.url, "rasters": str(self.raster_dir)}

    @classmethod
    def create(cls, url: str, *, root, raster_dir=None) -> PostgisStore:
        """A new, empty twin in the database ``url`` names (which must exist and hold no
        twin); PostGIS is enabled in it when the role may, else the error says what to ask
        the database's administrator."""
        check_url(url)
        where = redacted(url)
        con = PgCon(connect(url, autocommit=True), url)
        try:
            if con.execute("SELECT to_regclass('tw_meta') IS NOT NULL").fetchone()[0]:
                raise WorkspaceError(f"the database {where} already holds a twin")
            _enable_postgis(con, where)
            from tweeling import __version__

            con.execute("BEGIN")
            try:
                pg_schema.create_tables(con)
                con.execute(
                    "INSERT INTO tw_branches (id, name, parent_id, base_txn, created_at, "
                    "author, description, status) VALUES (?, 'baseline', NULL, NULL, ?, '', "
                    "'The twin as recorded from its sources (root branch)', 'published')",
                    (BASELINE, to_text(utc_now())),
                )
                con.executemany(
                    "INSERT INTO tw_meta VALUES (?, ?)",
                    [("store_format", str(STORE_FORMAT)), ("tweeling_version", __version__)],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()
        return cls(url, root=root, raster_dir=raster_dir)

    def close(self) -> None:
        self._con.close()

    @property
    def broken(self) -> bool:
        return self._con.raw.broken or self._con.raw.closed

    def max_connections(self) -> int | None:
        row = self._con.execute(
            "SELECT current_setting('max_connections')::int - "
            "current_setting('superuser_reserved_connections')::int"
        ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ backend hooks

    @staticmethod
    def _decode(wkbs):
        return shapely.from_wkb(wkbs)

    @staticmethod
    def _wkb(wkb):
        return None if wkb is None else bytes(wkb)

    def _lock(self, con, name: str) -> None:
        con.execute("SELECT pg_advisory_xact_lock(?)", (_LOCKS[name],))

    def _data_version(self):
        """Every change that scenario views depend on is a transaction of the twin."""
        return self._con.execute("SELECT max(txn) FROM tw_transactions").fetchone()[0]

    def _layer_stats(self, name: str) -> tuple[int, Bbox | None]:
        row = self._con.execute(
            "SELECT count, minx, miny, maxx, maxy FROM tw_layer_stats WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return 0, None
        return row[0], None if row[1] is None else tuple(row[1:])

    def _features_extent(self) -> Bbox | None:
        row = self._con.execute(
            "SELECT min(minx), min(miny), max(maxx), max(maxy) FROM tw_layer_stats"
        ).fetchone()
        return None if row is None or row[0] is None else tuple(row)

    def _insert_versions(self, con, layer: str, rows: list[tuple], *, deleted: bool) -> None:
        """A scenario edit's new versions (the GeoPackage row shape; envelopes unused)."""
        srid = srs_id_for(self.schema(layer))
        con.executemany(
            f"INSERT INTO {quote(versions_table(layer))} (vid, tw_id, branch, txn_from, "
            "recorded_at, source, hash, geom, props, deleted) VALUES "
            f"(?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, {1 if deleted else 0})",
            [(*r[:7], to_ewkb(r[7], srid), r[8]) for r in rows],
        )

    # ------------------------------------------------------------------ copying (store.copy)

    def _version_rows(self, layer: str):
        """Every version of ``layer`` in vid order (the row shape of store.copy), read
        through a server-side cursor: memory stays flat however large the layer."""
        cur = self._con.raw.cursor(name=f"tw_copy_{layer}", binary=True, withhold=True)
        cur.itersize = 5000
        try:
            cur.execute(
                f"SELECT {_COPY_COLS}, ST_AsBinary(geom), props::text "
                f"FROM {quote(versions_table(layer))} ORDER BY vid"
            )
            for row in cur:
                yield (*row[:12], None if row[12] is None else bytes(row[12]), row[13])
        finally:
            cur.close()

    def _create_layer(self, con, schema) -> None:
        pg_schema.create_layer(con, schema)

    def _load_versions(self, con, schema, batches) -> int:
        """Versions copied from another store, by binary COPY; indexes built after."""
        name = schema.name
        srid = srs_id_for(schema)
        drop_indexes(con, schema)
        n = 0
        for rows in batches:
            con.copy(
                f"COPY {quote(versions_table(name))} ({_COPY_COLS}, geom, props) "
                "FROM STDIN (FORMAT BINARY)",
                ((*r[:12], iso_to_ewkb(r[12], srid), json_value(r[13])) for r in rows),
                _COPY_TYPES,
            )
            n += len(rows)
        build_indexes(con, schema, None)
        con.execute(f"ANALYZE {quote(versions_table(name))}")
        update_stats(con, name)
        return n

    def _after_copy(self, con) -> None:
        """Identity columns continue after the largest id copied."""
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_identity = 'YES'"
        ).fetchall():
            con.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?), coalesce(max({quote(column)}), 0)"
                f" + 1, false) FROM {quote(table)}",
                (table, column),
            )

    def _drop_branch(self, con, layer: str, branch: int) -> None:
        b = int(branch)
        con.execute(
            f"DELETE FROM {quote(versions_table(layer))} WHERE branch = {b} "
            f"AND branch <> {BASELINE}"
        )

    def integrity_check(self) -> str:
        """``ok``, or the first problem found: an object with two current versions, or a
        layer's kept count that differs from its rows."""
        for name in self.vector_layers():
            vt = quote(versions_table(name))
            n = self._con.execute(
                f"SELECT count(*) FROM {vt} WHERE branch = {BASELINE} AND txn_to IS NULL"
            ).fetchone()[0]
            kept = self._layer_stats(name)[0]
            if n != kept:
                return f"layer {name!r}: {n} current objects, {kept} counted"
        return "ok"


def _enable_postgis(con: PgCon, where: str) -> None:
    try:
        con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error as exc:
        raise WorkspaceError(
            f"PostGIS is not enabled in the database {where} and this role may not enable "
            f"it ({str(exc).strip().splitlines()[0]}); ask its administrator to run "
            "'CREATE EXTENSION postgis' in it (Debian: apt-get install "
            "postgresql-15-postgis-3)"
        ) from None


def drop_twin(url: str) -> None:
    """Drop every table and view of the twin in the database ``url`` names (used to undo a
    failed copy into a twin just created there; other tables are left alone)."""
    con = PgCon(connect(url, autocommit=True), url)
    try:
        con.execute("BEGIN")
        layers = []
        if con.execute("SELECT to_regclass('tw_layers') IS NOT NULL").fetchone()[0]:
            layers = [r[0] for r in con.execute("SELECT name FROM tw_layers WHERE kind = 'vector'")]
        for name in layers:
            con.execute(f"DROP VIEW IF EXISTS {quote(name)}")
            con.execute(f"DROP TABLE IF EXISTS {quote(versions_table(name))}")
        for (table,) in con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename LIKE 'tw\\_%'"
        ).fetchall():
            con.execute(f"DROP TABLE IF EXISTS {quote(table)}")
        con.execute("COMMIT")
    finally:
        con.close()
