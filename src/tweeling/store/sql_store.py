"""What the SQL backends share: the store interface implemented once over a DB-API-like
connection, with each backend supplying its connection, its SQL builders and a few hooks.

The GeoPackage backend (:mod:`store.geopackage`, SQLite) and the PostGIS backend
(:mod:`store.pg_store`, PostgreSQL) keep the same bookkeeping tables (``tw_*``, see
:mod:`store.gpkg_schema`) and per layer a version table with the same columns, so that
scenario views (:mod:`store.gpkg_views`), scenarios, people, audit and rounds run the same
SQL on both (``?`` parameters; the PostGIS connection translates them). What differs is
supplied by the subclass:

=========================  =========================================================
``_con``                   the connection (``execute``, ``executemany``, cursors)
``_sql``                   the SQL builders of feature reads (:mod:`store.gpkg_read`,
                           :mod:`store.pg_read`)
``_BEGIN``                  how a write transaction begins (savepoints inside a unit)
``_lock(con, name)``       serialise writers of one kind (``"transactions"`` of the
                           twin, so they commit in number order; ``"audit"``)
``_batch_writer(...)``     an import's writer (:mod:`store.gpkg_import`, ``pg_import``)
``_insert_versions(...)``  a scenario edit's new versions
``_drop_branch(...)``      a deleted scenario's versions
``_decode``, ``_wkb``      geometry column values to shapely / ISO WKB
``_layer_stats(name)``     a layer's count and extent
``_features_extent()``     the extent of every vector layer
``_data_version()``        a number that changes when another process wrote
=========================  =========================================================
"""

from __future__ import annotations

import gc
import hashlib
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely

from tweeling.core.crs import check_rd_bounds, union_bounds
from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.features import (
    FieldType,
    ImportBatch,
    LayerSchema,
    RasterLayer,
)
from tweeling.core.records import (
    Bbox,
    FindingsRecord,
    LayerInfo,
    Progress,
    RunRecord,
    StoredFeature,
    WriteReport,
)
from tweeling.core.timeaxis import from_text, to_text, utc_now
from tweeling.core.views import BASELINE, Level, View
from tweeling.store import gpkg_views
from tweeling.store.gpkg_audit import GpkgAudit
from tweeling.store.gpkg_branches import GpkgScenarios
from tweeling.store.gpkg_jobs import GpkgJobs
from tweeling.store.gpkg_people import GpkgPeople
from tweeling.store.gpkg_rounds import GpkgRounds
from tweeling.store.gpkg_schema import quote, versions_table

AREA_MARGIN_M = 1000.0  # default twin area: the layers' extent plus this margin


class SqlStore:
    """A twin's store over SQL; see the module docstring for what a backend supplies."""

    location: str
    root: Path  # the twin's folder: rasters and run results are files under it
    raster_dir: Path

    def _init_state(self) -> None:
        self._schemas: dict[str, LayerSchema] = {}
        self._txn_sources: dict[int, str] = {}
        # Ids each scenario level holds, per (layer, level): valid while nothing was written.
        self._ids_cache: dict[tuple[str, Level], frozenset[str]] = {}
        self._decided_cache: dict[tuple, tuple] = {}
        self._views: dict[str | None, View] = {}
        self._catalog: gpkg_views.Catalog | None = None
        self._cache_version: Any = None
        self._depth = 0  # nesting of savepoints inside a unit of work
        self.scenarios = GpkgScenarios(self)
        self.people = GpkgPeople(self)
        self.audit = GpkgAudit(self)
        self.rounds = GpkgRounds(self)
        self.jobs = GpkgJobs(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def schema(self, layer: str) -> LayerSchema:
        if layer not in self._schemas:
            row = self._con.execute(
                "SELECT schema FROM tw_layers WHERE name = ? AND kind = 'vector'", (layer,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"unknown layer {layer!r} (see 'tweeling layers')")
            self._schemas[layer] = LayerSchema.from_dict(orjson.loads(row[0]))
        return self._schemas[layer]

    def vector_layers(self) -> list[str]:
        """Names of the vector layers (cheap: no counting)."""
        return [
            r[0]
            for r in self._con.execute(
                "SELECT name FROM tw_layers WHERE kind = 'vector' ORDER BY name"
            )
        ]

    def layer_names(self) -> list[str]:
        """Every layer's name (vector and raster), without computing their details."""
        return [r[0] for r in self._con.execute("SELECT name FROM tw_layers ORDER BY name")]

    def layers(self) -> list[LayerInfo]:
        return [self.layer(n) for n in self.layer_names()]

    def layer(self, name: str) -> LayerInfo:
        row = self._con.execute(
            "SELECT kind, schema FROM tw_layers WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"unknown layer {name!r} (see 'tweeling layers')")
        kind, schema_json = row
        if kind == "raster":
            meta = self._raster_row(name, None)
            return LayerInfo(
                name=name,
                kind="raster",
                count=1,
                extent=tuple(meta["bounds"]),
                raster=meta,
                title=meta.get("title", ""),
                source=meta.get("source", ""),
            )
        schema = LayerSchema.from_dict(orjson.loads(schema_json))
        count, extent = self._layer_stats(name)
        return LayerInfo(
            name=name,
            kind="vector",
            count=count,
            extent=extent,
            schema=schema,
            title=schema.title,
            source=schema.source,
        )

    # ------------------------------------------------------------------ writing

    def write(
        self, batch: ImportBatch, *, user: str = "", progress: Progress | None = None
    ) -> WriteReport:
        """Import a batch as one transaction; idempotent for unchanged records."""
        moved: list[Path] = []
        self._changed()
        with _no_cyclic_gc(), self._transaction() as con:
            now = utc_now()
            self._lock(con, "transactions")
            txn = con.execute(
                'INSERT INTO tw_transactions (at, kind, source, path, "user") '
                "VALUES (?, 'import', ?, ?, ?) RETURNING txn",
                (to_text(now), batch.source, batch.path, user),
            ).fetchone()[0]
            report = WriteReport(transaction=txn, source=batch.source)
            try:
                writer = self._batch_writer(con, batch, txn, now, report)
                writer.declare_layers()
                writer.write_records(progress)
                writer.end_missing()
                for raster in batch.rasters:
                    report.rasters[raster.name] = self._write_raster(
                        con, raster, txn, now, batch.source, moved
                    )
                writer.finish()
                con.execute(
                    "UPDATE tw_transactions SET summary = ? WHERE txn = ?",
                    (
                        orjson.dumps(
                            _summary(report, batch.metadata),
                            default=str,
                            option=orjson.OPT_SERIALIZE_NUMPY,
                        ).decode(),
                        txn,
                    ),
                )
            except BaseException:
                for path in moved:
                    path.unlink(missing_ok=True)
                raise
        self._changed()
        return report

    def _write_raster(
        self,
        con,
        raster: RasterLayer,
        txn: int,
        now: datetime,
        source: str,
        moved: list[Path],
    ) -> str:
        from tweeling.store.rasters import raster_info

        src = Path(raster.path)
        digest = _sha256(src)
        row = con.execute(
            "SELECT sha256, txn_from FROM tw_rasters WHERE name = ? AND txn_to IS NULL",
            (raster.name,),
        ).fetchone()
        if row is not None and row[0] == digest:
            return "unchanged"
        self.raster_dir.mkdir(parents=True, exist_ok=True)
        target = self.raster_dir / f"{raster.name}.{digest[:12]}.tif"
        if not target.exists():
            shutil.copyfile(src, target)
            moved.append(target)
        info = raster_info(target)
        meta = {
            "title": raster.title,
            "description": raster.description,
            "unit": raster.unit,
            "resolution_m": raster.resolution_m,
            "method": raster.method,
            "source": raster.source or source,
            "licence": raster.licence,
            "bounds": list(info["bounds"]),
            "crs": info["crs"],
            "width": info["width"],
            "height": info["height"],
            "nodata": info["nodata"],
        }
        if row is not None:
            con.execute(
                "UPDATE tw_rasters SET txn_to = ?, record_end = ? WHERE name = ? "
                "AND txn_to IS NULL",
                (txn, to_text(now), raster.name),
            )
        con.execute(
            "INSERT INTO tw_rasters VALUES (?, ?, ?, ?, NULL, ?, NULL, ?, ?)",
            (
                raster.name,
                target.name,
                digest,
                txn,
                to_text(now),
                source,
                orjson.dumps(meta).decode(),
            ),
        )
        kind = con.execute("SELECT kind FROM tw_layers WHERE name = ?", (raster.name,)).fetchone()
        if kind is None:
            con.execute(
                "INSERT INTO tw_layers VALUES (?, 'raster', ?, ?, ?)",
                (raster.name, orjson.dumps({"name": raster.name}).decode(), txn, txn),
            )
        elif kind[0] != "raster":
            raise InputError(f"layer {raster.name!r} exists and is not a raster layer")
        return "changed" if row is not None else "added"

    def chunk_preparer(self):
        """Checked geometries as GeoPackage blobs (the form content hashes are taken of, on
        every backend), hashes and bounds of a chunk (:func:`prepare.prepare_chunk`)."""
        return _prepare_in_worker

    @contextmanager
    def _transaction(self):
        con = self._con
        if con.in_transaction:  # inside a unit of work: a savepoint, committed with it
            self._depth += 1
            name = f"tw_sp{self._depth}"
            con.execute(f"SAVEPOINT {name}")
            try:
                yield con
            except BaseException:
                if con.in_transaction:  # else SQLite rolled all of it back (a full disk)
                    con.execute(f"ROLLBACK TO {name}")
                    con.execute(f"RELEASE {name}")
                raise
            else:
                con.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        con.execute(self._BEGIN)
        try:
            yield con
        except BaseException:
            _rollback(con)
            self._changed()  # facts cached inside the transaction may be rolled back
            raise
        else:
            con.execute("COMMIT")

    @contextmanager
    def unit(self) -> Iterator[None]:
        """One unit of work: every store write inside it, and the audit entries recording
        them, commit together or not at all (services wrap a change and its audit entry)."""
        with self._transaction():
            yield

    # ------------------------------------------------------------------ reading

    def features(
        self,
        layer: str,
        *,
        bbox: Bbox | None = None,
        where: Mapping[str, Any] | None = None,
        as_of: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
        scenario: str | None = None,
        view: View | None = None,
    ) -> Iterator[StoredFeature]:
        """Features of a layer: the current baseline, as recorded at ``as_of``, or as a
        scenario (``NAME`` or a frozen version ``NAME@LABEL``) shows it.

        ``bbox`` selects features whose geometry intersects the box (exact test, not just
        the envelope); ``where`` is attribute equality; ``as_of`` is a point on the record
        and valid time axes (the twin as it was known, and as the world was, at that time).
        ``view`` (from :meth:`view`) replaces ``scenario``.
        """
        schema = self.schema(layer)
        decoded = _decoded_fields(schema)
        box = _box(bbox)
        skipped = 0
        yielded = 0
        cursors = self._cursors(schema, bbox, where, as_of, view or self.view(scenario))
        for batches, from_versions, hidden in cursors:
            for rows in batches:
                if not rows:
                    continue
                geoms = self._decode([r[1] for r in rows])
                keep = (
                    np.ones(len(rows), dtype=bool)
                    if box is None
                    else shapely.intersects(geoms, box)
                )
                for row, geom, ok in zip(rows, geoms, keep, strict=True):
                    if not ok or (hidden and row[2] in hidden):
                        continue
                    if skipped < offset:
                        skipped += 1
                        continue
                    yield self._feature(schema, row, geom, from_versions, decoded)
                    yielded += 1
                    if limit is not None and yielded >= limit:
                        return

    def _cursors(self, schema, bbox, where, as_of, view: View):
        """Cursors over the rows a read takes, each with: rows are version rows, and the ids
        to skip in it (decided by a nearer scenario level)."""
        if not view.is_baseline_head:
            if as_of is not None:
                raise InputError(
                    "--as-of reads the baseline's history; it cannot be combined with a "
                    "scenario (a frozen version NAME@LABEL pins a scenario's state)"
                )
            yield from gpkg_views.cursors(
                self._con,
                self._cat(),
                schema,
                view,
                bbox=bbox,
                where=where,
                decided=lambda layer, levels: self._decided(layer, levels, self._ids_at),
            )
            return
        if as_of is None:
            rows, from_versions = gpkg_views.root_rows(
                self._con, self._cat(), schema, view.root, bbox=bbox, where=where
            )
            yield rows, from_versions, frozenset()
            return
        sql, params = self._sql.versions_sql(schema, *_as_of_conds(as_of), bbox=bbox, where=where)
        yield gpkg_views.batches(gpkg_views.streamed(self._con, sql, params)), True, frozenset()

    def count(
        self,
        layer: str,
        *,
        bbox: Bbox | None = None,
        where: Mapping[str, Any] | None = None,
        as_of: datetime | None = None,
        scenario: str | None = None,
    ) -> int:
        if bbox is not None:
            return sum(
                1
                for _ in self.features(
                    layer, bbox=bbox, where=where, as_of=as_of, scenario=scenario
                )
            )
        schema = self.schema(layer)
        view = self.view(scenario)
        if not view.is_baseline_head:
            if as_of is not None:
                raise InputError("--as-of cannot be combined with a scenario")
            return gpkg_views.count(
                self._con,
                self._cat(),
                schema,
                view,
                where=where,
                hidden_at=self._ids_at,
            )
        if as_of is None:
            return gpkg_views.root_count(self._con, self._cat(), schema, view.root, where=where)
        sql, params = self._sql.versions_sql(
            schema, *_as_of_conds(as_of), bbox=None, where=where, count=True
        )
        return self._con.execute(sql, params).fetchone()[0]

    def history(self, layer: str, feature_id: str) -> list[StoredFeature]:
        """All baseline versions of one object, oldest first."""
        schema = self.schema(layer)
        rows = self._con.execute(
            f"SELECT {self._sql.VERSION_COLS} FROM {quote(versions_table(layer))} v "
            "WHERE tw_id = ? AND branch = ? ORDER BY txn_from, vid",
            (feature_id, BASELINE),
        ).fetchall()
        if not rows:
            raise NotFoundError(f"layer {layer!r} has no feature {feature_id!r}")
        geoms = self._decode([r[1] for r in rows])
        decoded = _decoded_fields(schema)
        return [
            self._feature(schema, r, g, True, decoded) for r, g in zip(rows, geoms, strict=True)
        ]

    # ------------------------------------------------------------------ scenario views

    def view(self, scenario: str | None) -> View:
        """The chain of branch levels a scenario reference reads (see store.gpkg_views)."""
        self._check_cache()
        view = self._views.get(scenario)
        if view is None:
            view = self._views[scenario] = gpkg_views.resolve(self._con, scenario)
        return view

    def _cat(self) -> gpkg_views.Catalog:
        if self._catalog is None:
            self._catalog = gpkg_views.Catalog(self._con, self._sql)
        return self._catalog

    def layer_stamp(self, layer: str, view: View) -> str:
        """A text that changes whenever what ``view`` shows of ``layer`` may have changed
        (caches key on it). Per level of the view: a level pinned at a transaction shows fixed
        versions; a scenario's latest state moves with its head transaction (every edit,
        rebase or merge); the baseline's with the layer's last changing import. Cheap: the
        catalogue is kept per connection and re-read after any write."""
        cat = self._cat()
        parts = []
        for level in view.levels:
            lv = cat.normalise(layer, level)
            if lv.txn is not None:
                parts.append(f"{lv.branch}@{lv.txn}")
            elif lv.branch == BASELINE:
                parts.append(f"{lv.branch}:{cat.changed_txn(layer)}")
            else:
                parts.append(f"{lv.branch}:{cat.head_txn(lv.branch)}")
        return "/".join(parts)

    def layer_changed_txn(self, layer: str) -> int:
        """The transaction that last changed ``layer`` in the baseline."""
        return self._cat().changed_txn(layer)

    def view_at(self, branch: int, txn: int | None) -> View:
        """The view of a branch as of a transaction (``None``: its latest state)."""
        if branch == BASELINE and txn is None:
            return gpkg_views.resolve(self._con, None)
        name = self._con.execute("SELECT name FROM tw_branches WHERE id = ?", (branch,)).fetchone()
        if name is None:
            raise NotFoundError(f"unknown scenario id {branch}")
        ref = name[0] if txn is None else f"{name[0]}#{txn}"
        return gpkg_views.pinned(self._con, ref, name[0], branch, txn)

    def area_of_interest(self) -> Bbox | None:
        """The twin's area (RD New): set by its builder, else the extent of all its layers
        widened by :data:`AREA_MARGIN_M` (room for plans at the edge). Scenario
        interventions must lie inside it."""
        row = self._con.execute("SELECT value FROM tw_meta WHERE key = 'area'").fetchone()
        if row is not None:
            return tuple(orjson.loads(row[0]))
        ext = self._features_extent()
        if ext is None:
            return None
        rasters = self._con.execute("SELECT name FROM tw_layers WHERE kind = 'raster'")
        boxes = [tuple(ext), *(tuple(self.raster_metadata(r[0])["bounds"]) for r in rasters)]
        return union_bounds(boxes, AREA_MARGIN_M)

    def set_area_of_interest(self, bbox: Bbox) -> None:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
        if not (minx < maxx and miny < maxy):
            raise InputError(f"area {bbox} is not minx,miny,maxx,maxy with min < max")
        check_rd_bounds((minx, miny, maxx, maxy))
        with self._transaction() as con:
            con.execute(
                "INSERT INTO tw_meta VALUES ('area', ?) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value",
                (orjson.dumps([minx, miny, maxx, maxy]).decode(),),
            )

    def lookup(
        self,
        layer: str,
        ids: list[str],
        *,
        scenario: str | None = None,
        view: View | None = None,
    ) -> dict[str, StoredFeature | None]:
        """Each id's feature as the scenario shows it (``None``: absent or removed there)."""
        schema = self.schema(layer)
        rows = self._lookup_rows(schema, view or self.view(scenario), ids)
        decoded = _decoded_fields(schema)
        present = [r for r in rows.values() if r is not None]
        geoms = self._decode([r[1] for r in present])
        out: dict[str, StoredFeature | None] = dict.fromkeys(rows)
        for row, geom in zip(present, geoms, strict=True):
            out[row[2]] = self._feature(schema, row, geom, True, decoded)
        return out

    def _lookup_rows(self, schema: LayerSchema, view: View, ids: list[str]) -> dict:
        return gpkg_views.lookup(self._con, self._cat(), schema, view, ids)

    def contents(self, layer: str, ids: list[str], view: View) -> dict[str, dict[str, Any] | None]:
        """Each id's content in a view, as compared by diffs and merges: the attributes
        (nulls left out) and ``"geometry"`` as ISO WKB (what was written, byte for byte);
        ``None`` when absent."""
        rows = self._lookup_rows(self.schema(layer), view, ids)
        wkb = self._wkb
        return {
            i: None if r is None else {**orjson.loads(r[3]), "geometry": wkb(r[1])}
            for i, r in rows.items()
        }

    def candidate_ids(self, layer: str, a: View, b: View) -> set[str]:
        """Ids of the objects in which two views of a layer may differ (in proportion to
        the changes between them, not to the layer)."""
        self._check_cache()
        return gpkg_views.candidate_ids(self._con, self._cat(), layer, a, b, self._ids_at)

    def parameters(self, scenario: str | None = None, *, view: View | None = None) -> dict:
        return gpkg_views.parameters(self._con, view or self.view(scenario))

    def content_hash(
        self,
        scenario: str | None = None,
        *,
        view: View | None = None,
        layers: list[str] | None = None,
    ) -> str:
        """SHA-256 of everything a scenario (or the baseline) shows, or of just ``layers``
        (vector or raster) and its parameters; see gpkg_views.content_hash."""
        return self._content_hash(view or self.view(scenario), layers)

    def _content_hash(self, view: View, layers: list[str] | None = None) -> str:
        names = self.vector_layers()
        if layers is not None:
            for name in layers:
                self.layer(name)  # unknown layers are an error, not an empty hash
            names = [n for n in names if n in layers]
        schemas = [self.schema(name) for name in names]
        return gpkg_views.content_hash(self._con, self._cat(), view, schemas, rasters=layers)

    def _decided(self, layer: str, levels: tuple[Level, ...], hidden_at) -> tuple:
        key = (layer, levels)
        found = self._decided_cache.get(key)
        if found is None:
            found = self._decided_cache[key] = gpkg_views.decided_before(layer, levels, hidden_at)
        return found

    def _ids_at(self, layer: str, level: Level) -> frozenset[str]:
        key = (layer, level)
        ids = self._ids_cache.get(key)
        if ids is None:
            ids = self._ids_cache[key] = gpkg_views.ids_at(self._con, layer, level)
        return ids

    def _check_cache(self) -> None:
        """Forget cached scenario facts when another process changed the store."""
        version = self._data_version()
        if version != self._cache_version:
            self._forget()
            self._cache_version = version

    def _forget(self) -> None:
        self._ids_cache.clear()
        self._decided_cache.clear()
        self._views.clear()
        self._catalog = None

    def _changed(self) -> None:
        """This connection changed the file: cached scenario facts may be stale."""
        self._forget()
        self._schemas.clear()

    def _feature(
        self, schema: LayerSchema, row: tuple, geom, from_versions: bool, decoded: list[str]
    ) -> StoredFeature:
        if from_versions:
            (vid, _blob, tw_id, props_json, txn_from, source, vf, vt, rec, re) = row[:10]
            stored = orjson.loads(props_json)  # null values are not stored
            props = {f: stored.get(f) for f in schema.fields}
        else:
            _fid, _blob, tw_id, vid, txn_from, vf, vt, rec, re = row[:9]
            props = dict(zip(schema.fields, row[9:], strict=True))
            for f in decoded:  # only JSON and BOOLEAN columns need decoding
                if props[f] is not None:
                    props[f] = _from_column(schema.fields[f], props[f])
            source = self._source_of(txn_from)
        return StoredFeature(
            schema.name,
            tw_id,
            geom,
            props,
            vid,
            None if vf is None else from_text(vf),
            None if vt is None else from_text(vt),
            from_text(rec),
            None if re is None else from_text(re),
            txn_from,
            source or "",
        )

    def _source_of(self, txn: int) -> str:
        """The source an import transaction read (cached: transactions never change)."""
        source = self._txn_sources.get(txn)
        if source is None:
            row = self._con.execute(
                "SELECT source FROM tw_transactions WHERE txn = ?", (txn,)
            ).fetchone()
            source = self._txn_sources[txn] = (row[0] if row else "") or ""
        return source

    # ------------------------------------------------------------------ rasters, log

    def raster_path(self, name: str, *, as_of: datetime | None = None) -> str:
        meta = self._raster_row(name, as_of)
        return str(self.raster_dir / meta["file"])

    def raster_metadata(self, name: str, *, as_of: datetime | None = None) -> dict[str, Any]:
        return self._raster_row(name, as_of)

    def _raster_row(self, name: str, as_of: datetime | None) -> dict[str, Any]:
        if as_of is None:
            row = self._con.execute(
                "SELECT file, sha256, txn_from, recorded_at, metadata FROM tw_rasters "
                "WHERE name = ? AND txn_to IS NULL",
                (name,),
            ).fetchone()
        else:
            t = to_text(as_of)
            row = self._con.execute(
                "SELECT file, sha256, txn_from, recorded_at, metadata FROM tw_rasters "
                "WHERE name = ? AND recorded_at <= ? AND (record_end IS NULL OR record_end > ?)",
                (name, t, t),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"unknown raster layer {name!r}")
        meta = orjson.loads(row[4])
        meta.update(file=row[0], sha256=row[1], transaction=row[2], recorded_at=row[3])
        return meta

    def transactions(self) -> list[dict[str, Any]]:
        rows = self._con.execute(
            'SELECT txn, at, kind, source, path, "user", summary FROM tw_transactions ORDER BY txn'
        ).fetchall()
        return [
            {
                "transaction": r[0],
                "at": r[1],
                "kind": r[2],
                "source": r[3],
                "path": r[4],
                "user": r[5],
                "summary": orjson.loads(r[6]) if r[6] else None,
            }
            for r in rows
        ]

    # ------------------------------------------------------------------ model runs

    def render_tile(self, layer, view, fields, mercator_bounds, rd_box, limit) -> bytes | None:
        return None  # GeoPackage has no tile renderer: services.tiles renders in Python

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def record_run(self, run: RunRecord) -> None:
        with self._transaction() as con:
            con.execute(
                "INSERT INTO tw_runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run.id,
                    run.model,
                    run.model_version,
                    run.code_hash,
                    run.scenario,
                    orjson.dumps(run.inputs).decode(),
                    orjson.dumps(run.parameters).decode(),
                    orjson.dumps(list(run.extent)).decode(),
                    run.user,
                    run.started_at,
                    run.duration_s,
                    run.result_hash,
                    orjson.dumps(run.outputs).decode(),
                    orjson.dumps(run.notes).decode(),
                ),
            )

    def record_findings(self, record: FindingsRecord) -> None:
        """Store a check's findings, replacing an earlier check of the scenario on that date."""
        with self._transaction() as con:
            con.execute(
                "INSERT INTO tw_findings VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scenario, "
                "on_date) DO UPDATE SET content_hash = excluded.content_hash, rules_hash = "
                "excluded.rules_hash, computed_at = excluded.computed_at, "
                '"user" = excluded."user", findings = excluded.findings',
                (
                    record.scenario,
                    record.on_date,
                    record.content_hash,
                    record.rules_hash,
                    record.computed_at,
                    record.user,
                    orjson.dumps(record.findings).decode(),
                ),
            )

    def findings(self, scenario: str | None = None) -> list[FindingsRecord]:
        sql = "SELECT * FROM tw_findings" + (" WHERE scenario = ?" if scenario else "")
        rows = self._con.execute(
            sql + " ORDER BY scenario, on_date", (scenario,) if scenario else ()
        )
        return [FindingsRecord(*r[:6], orjson.loads(r[6])) for r in rows]

    def runs(self, *, model: str | None = None) -> list[RunRecord]:
        sql = "SELECT * FROM tw_runs" + (" WHERE model = ?" if model else "")
        rows = self._con.execute(sql + " ORDER BY started_at", (model,) if model else ())
        return [_run_record(r) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        row = self._con.execute("SELECT * FROM tw_runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _run_record(row)


def _run_record(row: tuple) -> RunRecord:
    (rid, model, version, code, scenario, inputs, params, extent, user, started, secs) = row[:11]
    result_hash, outputs, notes = row[11:]
    return RunRecord(
        rid,
        model,
        version,
        code,
        scenario,
        orjson.loads(inputs),
        orjson.loads(params),
        tuple(orjson.loads(extent)),
        user or "",
        started,
        secs,
        result_hash,
        orjson.loads(outputs),
        orjson.loads(notes),
    )


def _as_of_conds(as_of: datetime) -> tuple[list[str], list[Any]]:
    """Baseline versions recorded and valid at ``as_of``."""
    t = to_text(as_of)
    return (
        [
            f"v.branch = {BASELINE}",
            "v.recorded_at <= ?",
            "(v.record_end IS NULL OR v.record_end > ?)",
            "(v.valid_from IS NULL OR v.valid_from <= ?)",
            "(v.valid_to IS NULL OR v.valid_to > ?)",
        ],
        [t, t, t, t],
    )


_DECODED = (FieldType.JSON, FieldType.BOOLEAN)


def _decoded_fields(schema: LayerSchema) -> list[str]:
    """Fields whose stored column value needs decoding on read (JSON text, 0/1 booleans)."""
    return [f for f, t in schema.fields.items() if t in _DECODED]


def _from_column(ftype: FieldType, value: Any) -> Any:
    if value is None:
        return None
    if ftype is FieldType.JSON:
        return orjson.loads(value)
    if ftype is FieldType.BOOLEAN:
        return bool(value)
    return value


def _box(bbox: Bbox | None):
    if bbox is None:
        return None
    minx, miny, maxx, maxy = bbox
    if not (minx <= maxx and miny <= maxy):
        raise InputError(f"bbox {bbox} is not minx,miny,maxx,maxy with min <= max")
    return shapely.box(minx, miny, maxx, maxy)


def _summary(report: WriteReport, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "layers": {k: vars(v) for k, v in report.layers.items()},
        "rasters": report.rasters,
        "metadata": metadata,  # what the importer states: repairs, methods, tolerances
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector during a bulk write.

    Importers hold a chunk of parsed records (tens of thousands of dicts and lists) while the
    store writes; each collector pass rescans them all, which more than doubled the time of a
    GeoJSON-sequence import (measured: 4.3 s vs 1.7 s for 200,000 features). Reference counting
    still frees everything; cycles are collected when the write ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _rollback(con) -> None:
    """End a failed transaction; SQLite rolls back by itself on a full disk, and a lost
    PostgreSQL connection has nothing left to roll back (the server did)."""
    try:
        if con.in_transaction:
            con.execute("ROLLBACK")
    except Exception:
        pass


def _prepare_in_worker(schema: LayerSchema, chunk, path: str | None):
    from tweeling.store.prepare import prepare_chunk

    return prepare_chunk(schema, chunk, path=path)
