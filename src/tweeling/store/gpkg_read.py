"""SQL for reading feature rows: from a layer's current table, or from its version table.

Two row shapes come out (callers know which they asked for):

* current rows: ``fid, geom, tw_id, tw_vid, tw_txn, valid_from, valid_to, recorded_at,
  record_end, <typed field columns>`` (the baseline as GDAL sees it: no join needed);
* version rows (:data:`VERSION_COLS`): ``vid, geom, tw_id, props, txn_from, source,
  valid_from, valid_to, recorded_at, record_end, hash, deleted, branch, txn_to``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tweeling.core.errors import InputError
from tweeling.core.features import FieldType, LayerSchema
from tweeling.core.records import Bbox
from tweeling.store.gpkg_schema import quote, versions_table
from tweeling.store.values import column_value

# The latest baseline state has a table of its own (the GeoPackage feature table).
HAS_CURRENT_TABLE = True
# Version columns kept on the current-state table, in this order.
CURRENT_META = "tw_vid, tw_txn, tw_valid_from, tw_valid_to, tw_recorded_at, tw_record_end"
_TIME_COLS = ("txn_from", "source", "valid_from", "valid_to", "recorded_at", "record_end")
VERSION_COLS = (
    "v.vid, v.geom, v.tw_id, v.props, "
    + ", ".join(f"v.{c}" for c in _TIME_COLS)
    + ", v.hash, v.deleted, v.branch, v.txn_to"
)
# Positions in a version row beyond the StoredFeature fields.
HASH, DELETED, BRANCH, TXN_TO = 10, 11, 12, 13

_BOX = "r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?"


def field_type(schema: LayerSchema, field: str) -> FieldType:
    if field not in schema.fields:
        raise InputError(f"layer {schema.name!r} has no field {field!r}", field=field)
    return schema.fields[field]


def json_key(field: str) -> str:
    return '"' + field.replace('"', '\\"') + '"'


def box_params(bbox: Bbox) -> list[float]:
    """Parameters of an envelope-overlap test ``minx <= ? AND maxx >= ? AND …``."""
    return [bbox[2], bbox[0], bbox[3], bbox[1]]


def current_sql(
    schema: LayerSchema,
    *,
    bbox: Bbox | None,
    where: Mapping[str, Any] | None,
    count: bool = False,
    max_txn: int | None = None,
) -> tuple[str, list[Any]]:
    """Rows of the layer table (the current baseline); ``max_txn`` keeps only rows written
    by that transaction or earlier."""
    name = schema.name
    params: list[Any] = []
    conds: list[str] = []
    cols = ", ".join(
        ["t.fid", "t.geom", "t.tw_id"]
        + [f"t.{c}" for c in CURRENT_META.split(", ")]
        + [f"t.{quote(f)}" for f in schema.fields]
    )
    frm = f"{quote(name)} t"
    if bbox is not None:
        frm += f" JOIN {quote('rtree_' + name + '_geom')} r ON r.id = t.fid"
        conds.append(_BOX)
        params += box_params(bbox)
    if max_txn is not None:
        conds.append("t.tw_txn <= ?")
        params.append(max_txn)
    for field, value in (where or {}).items():
        conds.append(f"t.{quote(field)} IS ?")
        params.append(column_value(field_type(schema, field), value))
    # Spatial reads come in R-tree order (stable for a given state of the layer): sorting
    # them by fid would make SQLite gather every candidate before the first.
    order = "t.fid" if bbox is None else None
    return _finish(cols, frm, conds, params, order, count)


def versions_sql(
    schema: LayerSchema,
    conds: list[str],
    params: list[Any],
    *,
    bbox: Bbox | None,
    where: Mapping[str, Any] | None,
    spatial: str = "rtrees",
    count: bool = False,
    live_only: bool = True,
) -> tuple[str, list[Any]]:
    """Rows of the version table that meet ``conds`` (on alias ``v``).

    ``spatial`` says how a bbox is found: ``"rtrees"`` through both spatial indexes (current
    baseline versions sit in the layer's R-tree, all others in the versions R-tree), or
    ``"versions"`` through the versions R-tree only (scenario versions are all there).
    """
    name = schema.name
    conds = list(conds)
    params = list(params)
    frm = f"{quote(versions_table(name))} v"
    if live_only:
        conds.append("v.deleted = 0")
    if bbox is not None:
        if spatial == "rtrees":
            conds.append(
                f"v.vid IN (SELECT t.tw_vid FROM {quote(name)} t JOIN "
                f"{quote('rtree_' + name + '_geom')} r ON r.id = t.fid WHERE {_BOX} "
                f"UNION ALL SELECT r.id FROM {quote(versions_table(name) + '_rtree')} r "
                f"WHERE {_BOX})"
            )
            params += box_params(bbox) * 2
        else:
            # CROSS JOIN makes SQLite start from the R-tree, not from the branch index.
            frm = (
                f"{quote(versions_table(name) + '_rtree')} r CROSS JOIN "
                f"{quote(versions_table(name))} v ON v.vid = r.id"
            )
            conds.insert(0, _BOX)
            params = box_params(bbox) + params
    for field, value in (where or {}).items():
        conds.append("json_extract(v.props, ?) IS ?")
        params += ["$." + json_key(field), column_value(field_type(schema, field), value)]
    order = "v.vid" if bbox is None else None
    return _finish(VERSION_COLS, frm, conds, params, order, count)


def _finish(cols, frm, conds, params, order, count) -> tuple[str, list[Any]]:
    where_sql = (" WHERE " + " AND ".join(conds)) if conds else ""
    if count:
        return f"SELECT count(*) FROM {frm}{where_sql}", params
    order_sql = f" ORDER BY {order}" if order else ""
    return f"SELECT {cols} FROM {frm}{where_sql}{order_sql}", params
