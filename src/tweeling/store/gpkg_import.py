"""Writing one import batch into the GeoPackage store, inside the store's transaction.

The bulk path for layers that are empty when the import starts (rows without look-ups,
R-tree packed at the end, identifier indexes built last) and the versioning path for
re-imports (unchanged records skipped by content hash, changed ones closed and re-added,
vanished ones ended). See docs/architecture.md, "Writes" and "Bulk speed".
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

import numpy as np
import orjson

from tweeling.core.errors import InputError
from tweeling.core.features import FeatureChunk, ImportBatch, LayerSchema, chunked
from tweeling.core.records import LayerReport, Progress, WriteReport
from tweeling.core.timeaxis import to_text
from tweeling.core.views import BASELINE
from tweeling.store import gpkg_geometry, gpkg_schema, rtree_bulk
from tweeling.store.gpkg_read import CURRENT_META
from tweeling.store.gpkg_schema import quote, versions_table
from tweeling.store.prepare import PreparedChunk, prepare_chunk

CHUNK = 5000


class BatchWriter:
    """The state of one import inside its transaction."""

    def __init__(
        self,
        con: sqlite3.Connection,
        batch: ImportBatch,
        txn: int,
        now: datetime,
        report: WriteReport,
    ):
        self.con = con
        self.batch = batch
        self.txn = txn
        self.now = now
        self.now_text = to_text(now)
        self.report = report
        self.schemas: dict[str, LayerSchema] = {}
        self.fresh: dict[str, bool] = {}
        self.rtrees: dict[
            str, rtree_bulk.PackedRTree
        ] = {}  # packed at the end, fresh layers  # layer had no current features before
        self.next_vid: dict[str, int] = {}
        self.next_fid: dict[str, int] = {}
        self.extents: dict[str, list[float]] = {}

    def declare_layers(self) -> None:
        for schema in self.batch.layers:
            self._declare(schema)
            self.report.layers[schema.name] = LayerReport()

    def _register_layer(self, schema: LayerSchema) -> LayerSchema:
        """The layer as the twin keeps it: created when new (:meth:`_create_layer`), its
        schema evolved when the source brings new fields."""
        row = self.con.execute(
            "SELECT kind, schema FROM tw_layers WHERE name = ?", (schema.name,)
        ).fetchone()
        if row is None:
            self._create_layer(schema)
            self.con.execute(
                "INSERT INTO tw_layers VALUES (?, 'vector', ?, ?, ?)",
                (schema.name, orjson.dumps(schema.to_dict()).decode(), self.txn, self.txn),
            )
            stored = schema
        else:
            if row[0] != "vector":
                raise InputError(
                    f"layer {schema.name!r} exists and is a {row[0]} layer", path=self.batch.path
                )
            stored = self._evolve(LayerSchema.from_dict(orjson.loads(row[1])), schema)
        self.schemas[schema.name] = stored
        return stored

    def _create_layer(self, schema: LayerSchema) -> None:
        gpkg_schema.create_layer(self.con, schema, schema.description or schema.title)

    def _declare(self, schema: LayerSchema) -> None:
        con = self.con
        self._register_layer(schema)
        vt = quote(versions_table(schema.name))
        self.next_vid[schema.name] = con.execute(
            f"SELECT coalesce(max(vid), 0) + 1 FROM {vt}"
        ).fetchone()[0]
        self.next_fid[schema.name] = con.execute(
            f"SELECT coalesce(max(fid), 0) + 1 FROM {quote(schema.name)}"
        ).fetchone()[0]
        # A layer without current features needs no look-ups of existing versions.
        self.fresh[schema.name] = (
            con.execute(f"SELECT 1 FROM {quote(schema.name)} LIMIT 1").fetchone() is None
        )
        if self.fresh[schema.name]:
            for index, _ in gpkg_schema.identifier_indexes(schema.name):
                con.execute(f"DROP INDEX IF EXISTS {quote(index)}")
            self.rtrees[schema.name] = rtree_bulk.PackedRTree(con, f"rtree_{schema.name}_geom")

    def _evolve(self, stored: LayerSchema, new: LayerSchema) -> LayerSchema:
        """Accept new fields; refuse changed types or geometry types (name the field)."""
        if new.geometry_type != stored.geometry_type and stored.geometry_type != "GEOMETRY":
            raise InputError(
                f"layer {stored.name!r} holds {stored.geometry_type}, the source gives "
                f"{new.geometry_type}",
                path=self.batch.path,
            )
        added = {}
        for field, ftype in new.fields.items():
            old = stored.fields.get(field)
            if old is None:
                added[field] = ftype
            elif old != ftype:
                raise InputError(
                    f"layer {stored.name!r}: field type {old} in the twin, {ftype} in the source",
                    path=self.batch.path,
                    field=field,
                )
        if not added:
            return stored
        merged = LayerSchema.from_dict({**stored.to_dict(), "fields": {**stored.fields, **added}})
        self._add_fields(merged, added)
        self.con.execute(
            "UPDATE tw_layers SET schema = ? WHERE name = ?",
            (orjson.dumps(merged.to_dict()).decode(), stored.name),
        )
        return merged

    def _add_fields(self, merged: LayerSchema, added: dict) -> None:
        gpkg_schema.add_fields(self.con, merged.name, added)

    def write_records(self, progress: Progress | None) -> None:
        self._start_seen()
        for chunk in chunked(self.batch.features, CHUNK):
            self._write_chunk(chunk)
            if progress:
                progress(len(chunk))

    def _write_chunk(self, chunk: FeatureChunk | PreparedChunk) -> None:
        schema = self.schemas.get(chunk.layer)
        if schema is None:
            raise InputError(
                f"record {chunk.ids[0]!r} is for undeclared layer {chunk.layer!r}",
                path=self.batch.path,
            )
        if len(chunk):
            self._write_layer_chunk(schema, chunk)

    def _write_layer_chunk(self, schema: LayerSchema, chunk: FeatureChunk | PreparedChunk) -> None:
        if isinstance(chunk, FeatureChunk):
            chunk = prepare_chunk(schema, chunk, path=self.batch.path)
        name = schema.name
        ids, n = chunk.ids, len(chunk.ids)
        blobs, props, hashes = chunk.blobs, chunk.props, chunk.hashes
        boxes = chunk.boxes.tolist()
        values = chunk.values
        if chunk.fields != list(schema.fields):  # prepared against the source's own schema
            by_field = dict(zip(chunk.fields, values, strict=True))
            values = [by_field.get(f, [None] * n) for f in schema.fields]
        axes = chunk.axes
        fresh = self.fresh[name]
        existing = {} if fresh else self._open_versions(name, ids)
        if not fresh:
            self._mark_seen(name, ids)
        rep = self.report.layers[name]
        vid0, fid0 = self.next_vid[name], self.next_fid[name]
        txn, source, now_text = self.txn, self.batch.source, self.now_text
        valid_from, valid_to, recorded, record_end = axes
        if not existing:  # all new: build the rows column-wise
            recorded = [r or now_text for r in recorded]
            vids = range(vid0, vid0 + n)
            new_versions = [
                (v, i, BASELINE, txn, vf, vt, rec, re, source, h, g, p.decode(), *box)
                for v, i, vf, vt, rec, re, h, g, p, box in zip(
                    vids,
                    ids,
                    valid_from,
                    valid_to,
                    recorded,
                    record_end,
                    hashes,
                    blobs,
                    props,
                    boxes,
                    strict=True,
                )
            ]
            inserts = list(
                zip(
                    range(fid0, fid0 + n),
                    blobs,
                    ids,
                    vids,
                    [txn] * n,
                    valid_from,
                    valid_to,
                    recorded,
                    record_end,
                    *values,
                    strict=True,
                )
            )
            rep.added += n
            if fresh:
                self.rtrees[name].add(np.arange(fid0, fid0 + n, dtype=np.int64), chunk.boxes)
            self.next_vid[name] = vid0 + n
            self.next_fid[name] = fid0 + n
            self._apply(schema, new_versions, inserts, [], [])
            return
        new_versions, inserts, updates, closes = [], [], [], []
        vid, fid = vid0, fid0
        rows = zip(
            ids,
            blobs,
            props,
            hashes,
            valid_from,
            valid_to,
            recorded,
            record_end,
            boxes,
            zip(*values, strict=True) if values else [()] * n,
            strict=True,
        )
        for tw_id, blob, pj, digest, vf, vt, rec, re, box, vals in rows:
            old = existing.get(tw_id)
            if old is not None:
                old_vid, old_hash, old_recorded, old_fid = old
                if old_hash == digest:
                    rep.unchanged += 1
                    continue
                # A changed object: the new version is recorded from the source's
                # registration time when that is newer, else from now.
                if rec is None or rec <= old_recorded:
                    rec = now_text
                closes.append((txn, rec, old_vid))
                rep.changed += 1
                updates.append((blob, vid, txn, vf, vt, rec, re, *vals, old_fid))
            else:
                rec = rec or now_text
                rep.added += 1
                inserts.append((fid, blob, tw_id, vid, txn, vf, vt, rec, re, *vals))
                fid += 1
            new_versions.append(
                (
                    vid,
                    tw_id,
                    BASELINE,
                    txn,
                    vf,
                    vt,
                    rec,
                    re,
                    source,
                    digest,
                    blob,
                    pj.decode(),
                    *box,
                )
            )
            vid += 1
        self.next_vid[name] = vid
        self.next_fid[name] = fid
        self._apply(schema, new_versions, inserts, updates, closes)

    def _apply(self, schema, new_versions, inserts, updates, closes) -> None:
        """Write one chunk. Each version sits in exactly one spatial index: current baseline
        versions in the layer's GeoPackage R-tree, all others in the versions R-tree."""
        con = self.con
        name = schema.name
        vt = quote(versions_table(name))
        rtree = quote("rtree_" + name + "_geom")
        if closes:
            con.executemany(
                f"UPDATE {vt} SET txn_to = ?, record_end = coalesce(record_end, ?) WHERE vid = ?",
                closes,
            )
            self._index_closed(name, [c[2] for c in closes])
        con.executemany(
            f"INSERT INTO {vt} (vid, tw_id, branch, txn_from, valid_from, valid_to, "
            "recorded_at, record_end, source, hash, geom, props, minx, miny, maxx, maxy) "
            f"VALUES ({','.join('?' * 16)})",
            new_versions,
        )
        cols = ", ".join(quote(f) for f in schema.fields)
        ncols = len(schema.fields)
        try:
            con.executemany(
                f"INSERT INTO {quote(name)} (fid, geom, tw_id, {CURRENT_META}"
                f"{', ' + cols if cols else ''}) VALUES ({','.join('?' * (9 + ncols))})",
                inserts,
            )
        except sqlite3.IntegrityError:
            dup = _first_duplicate([r[2] for r in inserts], con, name) or _first_existing(
                con, name, [r[2] for r in inserts]
            )
            raise InputError(
                "the same identifier occurs twice in the source",
                path=self.batch.path,
                object_id=dup,
            ) from None
        if updates:
            sets = ", ".join(
                ["geom = ?"]
                + [f"{c} = ?" for c in CURRENT_META.split(", ")]
                + [f"{quote(f)} = ?" for f in schema.fields]
            )
            con.executemany(f"UPDATE {quote(name)} SET {sets} WHERE fid = ?", updates)
            con.executemany(f"DELETE FROM {rtree} WHERE id = ?", [(u[-1],) for u in updates])
        # Into a fresh layer's R-tree the rows go in one packed bulk load at the end.
        boxes = [] if self.fresh[name] else [(r[0], _blob_box(r[1])) for r in inserts]
        boxes += [(u[-1], _blob_box(u[0])) for u in updates]
        con.executemany(
            f"INSERT INTO {rtree} VALUES (?,?,?,?,?)",
            [(fid, *box) for fid, box in boxes if box is not None],
        )

    def _start_seen(self) -> None:
        """An empty table of the ids this import holds (to end the missing ones)."""
        self.con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tw_seen (layer TEXT, tw_id TEXT, "
            "PRIMARY KEY (layer, tw_id))"
        )
        self.con.execute("DELETE FROM temp.tw_seen")

    def _mark_seen(self, layer: str, ids: list[str]) -> None:
        """Remember the ids of this import (to end the missing ones); refuse duplicates."""
        dup = _first_duplicate(ids, self.con, layer)
        if dup is not None:
            raise InputError(
                "the same identifier occurs twice in the source",
                path=self.batch.path,
                object_id=dup,
            )
        self.con.executemany("INSERT INTO temp.tw_seen VALUES (?, ?)", [(layer, i) for i in ids])

    def _open_versions(self, layer: str, ids: list[str]) -> dict[str, tuple]:
        vt = quote(versions_table(layer))
        out = {}
        for i in range(0, len(ids), 900):
            part = ids[i : i + 900]
            marks = ",".join("?" * len(part))
            for row in self.con.execute(
                f"SELECT t.tw_id, v.vid, v.hash, v.recorded_at, t.fid FROM {quote(layer)} t "
                f"JOIN {vt} v ON v.vid = t.tw_vid WHERE t.tw_id IN ({marks})",
                part,
            ):
                out[row[0]] = row[1:]
        return out

    def _create_identifier_indexes(self, name: str) -> None:
        for _, sql in gpkg_schema.identifier_indexes(name):
            try:
                self.con.execute(sql)
            except sqlite3.IntegrityError:
                dup = self.con.execute(
                    f"SELECT tw_id FROM {quote(name)} GROUP BY tw_id HAVING count(*) > 1 LIMIT 1"
                ).fetchone()
                raise InputError(
                    "the same identifier occurs twice in the source",
                    path=self.batch.path,
                    object_id=dup[0] if dup else None,
                ) from None

    def _index_closed(self, layer: str, vids: list[int]) -> None:
        """Versions leaving the current state move into the versions R-tree."""
        vt = quote(versions_table(layer))
        for i in range(0, len(vids), 900):
            part = vids[i : i + 900]
            self.con.execute(
                f"INSERT INTO {quote(versions_table(layer) + '_rtree')} "
                f"SELECT vid, minx, maxx, miny, maxy FROM {vt} "
                f"WHERE vid IN ({','.join('?' * len(part))}) AND minx IS NOT NULL",
                part,
            )

    def end_missing(self) -> None:
        """Objects of this source that the new import no longer holds are ended (not deleted)."""
        con = self.con
        for name in self.schemas:
            if self.fresh[name]:
                continue
            vt = quote(versions_table(name))
            gone = con.execute(
                f"SELECT v.vid, t.fid FROM {quote(name)} t JOIN {vt} v ON v.vid = t.tw_vid "
                "WHERE v.source = ? AND t.tw_id NOT IN "
                "(SELECT tw_id FROM temp.tw_seen WHERE layer = ?)",
                (self.batch.source, name),
            ).fetchall()
            if not gone:
                continue
            con.executemany(
                f"UPDATE {vt} SET txn_to = ?, record_end = coalesce(record_end, ?) WHERE vid = ?",
                [(self.txn, self.now_text, vid) for vid, _ in gone],
            )
            self._index_closed(name, [vid for vid, _ in gone])
            con.executemany(f"DELETE FROM {quote(name)} WHERE fid = ?", [(f,) for _, f in gone])
            con.executemany(
                f"DELETE FROM {quote('rtree_' + name + '_geom')} WHERE id = ?",
                [(f,) for _, f in gone],
            )
            self.report.layers[name].ended += len(gone)

    def finish(self) -> None:
        """Spatial indexes of fresh layers; layer extents and change times in gpkg_contents;
        the source register."""
        con = self.con
        for name in self.schemas:
            if self.fresh[name]:
                self._create_identifier_indexes(name)
                self.rtrees[name].finish()
            rtree = quote("rtree_" + name + "_geom")
            ext = con.execute(
                f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {rtree}"
            ).fetchone()
            con.execute(
                "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ?, "
                "last_change = ? WHERE table_name = ?",
                (
                    *ext,
                    self.now.strftime("%Y-%m-%dT%H:%M:%S.")
                    + f"{self.now.microsecond // 1000:03d}Z",
                    name,
                ),
            )
        self._register_changes()

    def _register_changes(self) -> None:
        """The layers this import changed (their ``changed_txn``), and the source register."""
        con = self.con
        changed = [
            name
            for name, rep in self.report.layers.items()
            if rep.added or rep.changed or rep.ended
        ] + [r for r, what in self.report.rasters.items() if what != "unchanged"]
        # Scenario reads use the layer table as the baseline only while nothing changed since.
        con.executemany(
            "UPDATE tw_layers SET changed_txn = ? WHERE name = ?", [(self.txn, n) for n in changed]
        )
        layers = sorted(self.schemas) + [r.name for r in self.batch.rasters]
        con.execute(
            "INSERT INTO tw_sources VALUES (?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
            "path = excluded.path, layers = excluded.layers, last_txn = excluded.last_txn",
            (self.batch.source, self.batch.path, orjson.dumps(layers).decode(), self.txn),
        )


def _blob_box(blob: bytes) -> tuple[float, float, float, float] | None:
    """The (minx, maxx, miny, maxy) envelope from a GeoPackage blob header."""
    if blob[3] & 0b0001_0000:  # empty
        return None
    return gpkg_geometry._HEADER_XY.unpack_from(blob)[4:]


def _first_duplicate(ids: list[str], con: sqlite3.Connection, layer: str) -> str | None:
    """An identifier that occurs twice: within ``ids`` or earlier in the same import."""
    found = set()
    for i in ids:
        if i in found:
            return i
        found.add(i)
    for start in range(0, len(ids), 900):
        part = ids[start : start + 900]
        row = con.execute(
            f"SELECT tw_id FROM temp.tw_seen WHERE layer = ? AND tw_id IN "
            f"({','.join('?' * len(part))}) LIMIT 1",
            (layer, *part),
        ).fetchone()
        if row:
            return row[0]
    return None


def _first_existing(con: sqlite3.Connection, layer: str, ids: list[str]) -> str:
    for i in ids:
        if con.execute(f"SELECT 1 FROM {quote(layer)} WHERE tw_id = ?", (i,)).fetchone():
            return i
    return ids[0]
