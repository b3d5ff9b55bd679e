"""SQL for reading feature rows from a layer's version table in PostgreSQL/PostGIS: the
same row shape as :data:`store.gpkg_read.VERSION_COLS` (geometry as ISO WKB, attributes as
JSON text), so that scenario views (:mod:`store.gpkg_views`) run on both backends.

PostgreSQL keeps no separate table of the current baseline: the latest baseline state is
``branch = 0 AND txn_to IS NULL`` of the version table, found through its partial indexes;
a bbox is an index test (``&&`` on the GiST index), the exact intersection test follows in
Python as on the GeoPackage backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tweeling.core.features import FieldType, LayerSchema
from tweeling.core.records import Bbox
from tweeling.core.views import BASELINE
from tweeling.store.gpkg_read import field_type
from tweeling.store.gpkg_schema import quote, srs_id_for, versions_table
from tweeling.store.values import normalise_columns

HAS_CURRENT_TABLE = False
VERSION_COLS = (
    "v.vid, ST_AsBinary(v.geom), v.tw_id, v.props::text, v.txn_from, v.source, "
    "v.valid_from, v.valid_to, v.recorded_at, v.record_end, v.hash, v.deleted, v.branch, "
    "v.txn_to"
)


def versions_sql(
    schema: LayerSchema,
    conds: list[str],
    params: list[Any],
    *,
    bbox: Bbox | None,
    where: Mapping[str, Any] | None,
    spatial: str = "gist",
    count: bool = False,
    live_only: bool = True,
) -> tuple[str, list[Any]]:
    """Rows of the version table that meet ``conds`` (on alias ``v``); ``spatial`` is
    accepted for the GeoPackage builder's signature (one GiST index holds every version)."""
    conds = list(conds)
    params = list(params)
    if live_only:
        conds.append("v.deleted = 0")
    if bbox is not None:
        conds.append(f"v.geom && ST_MakeEnvelope(?, ?, ?, ?, {srs_id_for(schema)})")
        params += [float(b) for b in bbox]
    for field, value in (where or {}).items():
        field_type(schema, field)  # an unknown field is an error naming it
        if value is None:  # null values are not stored
            conds.append("(v.props -> ?) IS NULL")
            params.append(field)
            continue
        stored = normalise_columns(schema, {field: [value]}, ["where"], path=None)[field][0]
        conds.append("(v.props -> ?) = ?::jsonb")
        params += [field, orjson.dumps(stored).decode()]
    frm = f"{quote(versions_table(schema.name))} v"
    where_sql = (" WHERE " + " AND ".join(conds)) if conds else ""
    if count:
        return f"SELECT count(*) FROM {frm}{where_sql}", params
    order = "" if bbox is not None else " ORDER BY v.vid"
    return f"SELECT {VERSION_COLS} FROM {frm}{where_sql}{order}", params


def current_count(con, layer: str) -> int:
    """Objects in the current baseline of ``layer``, as imports keep it in
    ``tw_layer_stats`` (counting 10 million rows per request is not cheap)."""
    row = con.execute("SELECT count FROM tw_layer_stats WHERE name = ?", (layer,)).fetchone()
    return 0 if row is None else row[0]


def mvt_sql(schema: LayerSchema, fields: list[str], limit: int) -> str:
    """One MVT layer of the current baseline by PostGIS (``ST_AsMVT``): geometries into
    EPSG:3857 tile units with ``ST_AsMVTGeom`` (extent 4096, buffer 64, clipped; what
    collapses is left out), attributes ``id`` and ``fields`` typed as their schema says
    (dates as the text they are stored as). Parameters: layer name, the tile's EPSG:3857
    bounds, the RD New box to read."""
    casts = {FieldType.INTEGER: "::bigint", FieldType.REAL: "::double precision"}
    casts[FieldType.BOOLEAN] = "::boolean"
    cols = "".join(
        f", (v.props ->> {_literal(k)}){casts.get(schema.fields[k], '')} AS {quote(k)}"
        for k in fields
    )
    srid = srs_id_for(schema)
    return (
        "SELECT ST_AsMVT(q, ?, 4096, 'tw_mvt_geom') FROM (SELECT ST_AsMVTGeom("
        "ST_Transform(ST_Force2D(v.geom), 3857), ST_MakeEnvelope(?, ?, ?, ?, 3857), 4096, 64, "
        f"true) AS tw_mvt_geom, v.tw_id AS id{cols} FROM {quote(versions_table(schema.name))} "
        f"v WHERE v.branch = {BASELINE} AND v.txn_to IS NULL AND v.deleted = 0 AND v.geom && "
        f"ST_MakeEnvelope(?, ?, ?, ?, {srid}) LIMIT {int(limit)}) q "
        "WHERE q.tw_mvt_geom IS NOT NULL"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
