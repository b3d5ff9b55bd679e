"""Scenario views: the branch levels a scenario sees, and reading features through them.

A view is a chain of levels, nearest first: the scenario itself (as of a transaction, or
its latest state), its parent as of the transaction the scenario is built on, that
parent's parent as of *its* base, … down to the baseline (branch 0). For each object the
nearest level that has a version of it decides: its content, or its absence when that
version is a tombstone (``deleted = 1``). These are the semantics of
:func:`tweeling.core.changes.overlay`, evaluated in SQL level by level.

Costs: the levels above the baseline are read through the partial branch index (their
size is the number of changes, not the twin's); the baseline level is the layer table
itself while the layer has not changed since the scenario's base, else the version table
at that transaction.
"""

from __future__ import annotations

import hashlib
import heapq
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import orjson

from tweeling.core.errors import NotFoundError
from tweeling.core.features import LayerSchema
from tweeling.core.records import Bbox
from tweeling.core.views import BASELINE, BASELINE_NAME, Level, View, parse_ref
from tweeling.store import gpkg_read
from tweeling.store.gpkg_read import BRANCH, DELETED, TXN_TO, field_type
from tweeling.store.gpkg_schema import quote, versions_table
from tweeling.store.values import column_value

_PART = 900  # ids per IN (...) list: below SQLite's default limit of bound parameters


def resolve(con: sqlite3.Connection, ref: str | None) -> View:
    """The view of a scenario reference; ``None`` or ``"baseline"`` is the latest baseline."""
    if ref is None or ref == BASELINE_NAME:
        return View(BASELINE_NAME, BASELINE_NAME, BASELINE, (Level(BASELINE, None),))
    name, label = parse_ref(ref)
    row = con.execute("SELECT id FROM tw_branches WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFoundError(f"unknown scenario {name!r} (see 'tweeling scenario list')")
    branch, txn = row[0], None
    if label is not None:
        frozen = con.execute(
            "SELECT txn FROM tw_frozen WHERE branch = ? AND label = ?", (branch, label)
        ).fetchone()
        if frozen is None:
            raise NotFoundError(f"scenario {name!r} has no frozen version {label!r}")
        txn = frozen[0]
    elif branch == BASELINE:
        return resolve(con, None)
    return View(ref, name, branch, chain(con, branch, txn), label)


def pinned(con: sqlite3.Connection, ref: str, name: str, branch: int, txn: int | None) -> View:
    """The view of ``branch`` as of ``txn`` (None: its latest state), named ``ref``."""
    return View(ref, name, branch, chain(con, branch, txn))


def chain(con: sqlite3.Connection, branch: int, txn: int | None) -> tuple[Level, ...]:
    levels = [Level(branch, txn)]
    while branch != BASELINE:
        parent = con.execute("SELECT parent_id FROM tw_branches WHERE id = ?", (branch,)).fetchone()
        base = base_of(con, branch, txn)
        branch, txn = parent[0], base
        levels.append(Level(branch, txn))
    return tuple(levels)


def base_of(con: sqlite3.Connection, branch: int, txn: int | None) -> int:
    """The parent's transaction a branch was built on, as it stood at ``txn``."""
    if txn is None:
        row = con.execute(
            "SELECT base_txn FROM tw_branch_bases WHERE branch = ? ORDER BY txn DESC LIMIT 1",
            (branch,),
        ).fetchone()
    else:
        row = con.execute(
            "SELECT base_txn FROM tw_branch_bases WHERE branch = ? AND txn <= ? "
            "ORDER BY txn DESC LIMIT 1",
            (branch, txn),
        ).fetchone()
    if row is None:
        raise NotFoundError(f"scenario {branch} has no base as of transaction {txn}")
    return row[0]


def level_conds(level: Level, alias: str = "v") -> tuple[list[str], list[Any]]:
    """Conditions selecting the versions a level holds (live ones and tombstones)."""
    conds = [f"{alias}.branch = {int(level.branch)}"]
    if level.branch != BASELINE:
        # SQLite uses a partial index only when the query repeats its condition literally.
        conds.append(f"{alias}.branch <> {BASELINE}")
    if level.txn is None:
        return [*conds, f"{alias}.txn_to IS NULL"], []
    return (
        [*conds, f"{alias}.txn_from <= ?", f"({alias}.txn_to IS NULL OR {alias}.txn_to > ?)"],
        [level.txn, level.txn],
    )


class Catalog:
    """Per-call facts the view functions need: when each layer's baseline last changed and
    each branch's latest transaction (to treat "as of T" as "latest" when nothing changed);
    and the backend's SQL builders (``sql``: a module like :mod:`store.gpkg_read`)."""

    def __init__(self, con: sqlite3.Connection, sql=gpkg_read):
        self.con = con
        self.sql = sql  # the backend's SQL builders: store.gpkg_read or store.pg_read
        self._layer: dict[str, int] = {}
        self._head: dict[int, int | None] = {}

    def changed_txn(self, layer: str) -> int:
        if layer not in self._layer:
            row = self.con.execute(
                "SELECT changed_txn FROM tw_layers WHERE name = ?", (layer,)
            ).fetchone()
            self._layer[layer] = (row[0] if row else None) or 0
        return self._layer[layer]

    def head_txn(self, branch: int) -> int | None:
        if branch not in self._head:
            row = self.con.execute(
                "SELECT head_txn FROM tw_branches WHERE id = ?", (branch,)
            ).fetchone()
            self._head[branch] = row[0] if row else None
        return self._head[branch]

    def normalise(self, layer: str, level: Level) -> Level:
        """``level`` as the latest state when nothing in it changed after its transaction."""
        if level.txn is None:
            return level
        last = self.changed_txn(layer) if level.branch == BASELINE else self.head_txn(level.branch)
        if last is not None and level.txn >= last:
            return Level(level.branch, None)
        return level


IdsAt = Callable[[str, Level], frozenset[str]]


def ids_at(con: sqlite3.Connection, layer: str, level: Level) -> frozenset[str]:
    """Ids of every object a (non-baseline) level holds a version of, tombstones included."""
    conds, params = level_conds(level)
    sql = f"SELECT v.tw_id FROM {quote(versions_table(layer))} v WHERE {' AND '.join(conds)}"
    return frozenset(r[0] for r in con.execute(sql, params))


def cursors(
    con: sqlite3.Connection,
    cat: Catalog,
    schema: LayerSchema,
    view: View,
    *,
    bbox: Bbox | None,
    where: Mapping[str, Any] | None,
    decided: Callable[[str, tuple[Level, ...]], tuple[list[frozenset[str]], frozenset[str]]],
) -> Iterator[tuple[Iterator[list[tuple]], bool, frozenset[str]]]:
    """Row batches of a read, each with: rows are version rows, and the ids to skip in
    them (decided by a nearer level).

    All scenario levels come from one query (through the versions R-tree for a bbox); each
    row is kept when its level holds it at that level's transaction and no nearer level
    decided its object. Then the baseline level, skipping every object a scenario decided.
    """
    upper = [cat.normalise(schema.name, lv) for lv in view.upper]
    hidden: frozenset[str] = frozenset()
    if upper:
        branches = ",".join(str(int(lv.branch)) for lv in upper)
        sql, params = cat.sql.versions_sql(
            schema,
            [f"v.branch IN ({branches})", f"v.branch <> {BASELINE}"],
            [],
            bbox=bbox,
            where=where,
            spatial="versions",
        )
        depth = {lv.branch: i for i, lv in enumerate(upper)}
        before, hidden = decided(schema.name, tuple(upper))  # see decided_before
        rows = []
        for row in con.execute(sql, params):
            i = depth[row[BRANCH]]
            txn = upper[i].txn
            if txn is None:
                live = row[TXN_TO] is None
            else:
                live = row[4] <= txn and (row[TXN_TO] is None or row[TXN_TO] > txn)
            if live and row[2] not in before[i]:
                rows.append(row)
        yield iter([rows]), True, frozenset()
    rows, from_versions = root_rows(con, cat, schema, view.root, bbox=bbox, where=where)
    yield rows, from_versions, hidden


def root_rows(
    con, cat: Catalog, schema: LayerSchema, level: Level, *, bbox, where
) -> tuple[Iterator[list[tuple]], bool]:
    """Row batches of the baseline level, and whether they are version rows (else rows of
    the layer table, which a backend with one keeps for the latest state)."""
    root = cat.normalise(schema.name, level)
    if root.txn is None and cat.sql.HAS_CURRENT_TABLE:
        sql, params = cat.sql.current_sql(schema, bbox=bbox, where=where)
        return batches(streamed(con, sql, params)), False
    conds, params = level_conds(root)
    sql, params = cat.sql.versions_sql(schema, conds, params, bbox=bbox, where=where)
    return batches(streamed(con, sql, params)), True


def streamed(con, sql: str, params) -> Any:
    """A cursor over a read that may be large, taken as it is consumed: SQLite's cursors
    are; a backend whose are not offers ``stream`` (PostgreSQL: :meth:`PgCon.stream`)."""
    stream = getattr(con, "stream", None)
    return con.execute(sql, params) if stream is None else stream(sql, params)


def decided_before(
    layer: str, levels: tuple[Level, ...], hidden_at: IdsAt
) -> tuple[list[frozenset[str]], frozenset[str]]:
    """Per level, the ids nearer levels decide; and the ids all the levels decide."""
    hidden: frozenset[str] = frozenset()
    before = []
    for lv in levels:
        before.append(hidden)
        hidden = hidden | hidden_at(layer, lv)
    return before, hidden


def batches(cursor: sqlite3.Cursor, size: int = 1000, first: int = 128) -> Iterator[list[tuple]]:
    """Rows in batches that grow from ``first`` to ``size``: a page of a dense bbox needs
    only its first rows, and each fetched row is decoded and tested. The cursor is closed
    when the reader stops, however early (a streamed read then ends on the server)."""
    try:
        while rows := cursor.fetchmany(first):
            yield rows
            first = min(size, first * 4)
    finally:
        cursor.close()


def count(
    con: sqlite3.Connection,
    cat: Catalog,
    schema: LayerSchema,
    view: View,
    *,
    where: Mapping[str, Any] | None,
    hidden_at: IdsAt,
) -> int:
    """Number of objects a view shows in a layer: the baseline's count, minus the objects
    nearer levels decide, plus their live versions (cost in proportion to the changes)."""
    total = 0
    upper = tuple(cat.normalise(schema.name, lv) for lv in view.upper)
    before, hidden = decided_before(schema.name, upper, hidden_at)
    for level, nearer in zip(upper, before, strict=True):
        conds, params = level_conds(level)
        sql, params = cat.sql.versions_sql(schema, conds, params, bbox=None, where=where)
        total += sum(1 for r in con.execute(sql, params) if r[2] not in nearer)
    total += root_count(con, cat, schema, view.root, where=where)
    if hidden:
        present = lookup(con, cat, schema, view.root_view(), sorted(hidden), where=where)
        total -= sum(1 for row in present.values() if row is not None)
    return total


def root_count(con, cat: Catalog, schema: LayerSchema, level: Level, *, where) -> int:
    """Number of objects the baseline level shows."""
    root = cat.normalise(schema.name, level)
    kept = getattr(cat.sql, "current_count", None)  # a backend that keeps the count
    if root.txn is None and not where and kept is not None:
        return kept(con, schema.name)
    if root.txn is None and cat.sql.HAS_CURRENT_TABLE:
        sql, params = cat.sql.current_sql(schema, bbox=None, where=where, count=True)
    else:
        conds, params = level_conds(root)
        sql, params = cat.sql.versions_sql(
            schema, conds, params, bbox=None, where=where, count=True
        )
    return con.execute(sql, params).fetchone()[0]


def lookup(
    con: sqlite3.Connection,
    cat: Catalog,
    schema: LayerSchema,
    view: View,
    ids: Iterable[str],
    *,
    where: Mapping[str, Any] | None = None,
) -> dict[str, tuple | None]:
    """The version row each id has in the view (``None``: absent or removed)."""
    remaining = set(ids)
    out: dict[str, tuple | None] = {}
    vt = quote(versions_table(schema.name))
    for level in view.upper:
        if not remaining:
            break
        conds, params = level_conds(cat.normalise(schema.name, level))
        for part in _parts(sorted(remaining)):
            sql, p = cat.sql.versions_sql(
                schema,
                [*conds, f"v.tw_id IN ({','.join('?' * len(part))})"],
                [*params, *part],
                bbox=None,
                where=None,
                live_only=False,
            )
            for row in con.execute(sql, p):
                out[row[2]] = None if row[DELETED] else row
                remaining.discard(row[2])
    root = cat.normalise(schema.name, view.root)
    for part in _parts(sorted(remaining)):
        marks = ",".join("?" * len(part))
        if root.txn is None and cat.sql.HAS_CURRENT_TABLE:
            sql = (
                f"SELECT {cat.sql.VERSION_COLS} FROM {quote(schema.name)} t JOIN {vt} v "
                f"ON v.vid = t.tw_vid WHERE t.tw_id IN ({marks})"
            )
            rows = con.execute(sql, part).fetchall()
        else:
            conds, params = level_conds(root)
            sql, p = cat.sql.versions_sql(
                schema,
                [*conds, f"v.tw_id IN ({marks})"],
                [*params, *part],
                bbox=None,
                where=None,
            )
            rows = con.execute(sql, p).fetchall()
        for row in rows:
            out[row[2]] = row
    for i in remaining:
        out.setdefault(i, None)
    if where:
        out = {
            i: (r if r is not None and _matches(schema, r, where) else None) for i, r in out.items()
        }
    return out


def _matches(schema: LayerSchema, row: tuple, where: Mapping[str, Any]) -> bool:
    props = orjson.loads(row[3])
    for field, value in where.items():
        ftype = field_type(schema, field)
        stored = props.get(field)
        if column_value(ftype, stored) != column_value(ftype, value):
            return False
    return True


def candidate_ids(
    con: sqlite3.Connection, cat: Catalog, layer: str, a: View, b: View, hidden_at: IdsAt
) -> set[str]:
    """Ids of the objects in which two views of one layer may differ.

    Walking both chains from the baseline up, the levels they share show the same; from the
    first level that differs, every object any remaining level holds a version of may
    differ, and where both sides see one branch as of different transactions, so may the
    objects that branch changed in between. Cost: in proportion to those changes.
    """
    la = [cat.normalise(layer, lv) for lv in reversed(a.levels)]
    lb = [cat.normalise(layer, lv) for lv in reversed(b.levels)]
    i = 0
    while i < min(len(la), len(lb)) and la[i] == lb[i]:
        i += 1
    rest_a, rest_b = la[i:], lb[i:]
    out: set[str] = set()
    if rest_a and rest_b and rest_a[0].branch == rest_b[0].branch:
        out |= touched_between(con, layer, rest_a[0].branch, rest_a[0].txn, rest_b[0].txn)
        rest_a, rest_b = rest_a[1:], rest_b[1:]
    for level in rest_a + rest_b:
        if level.branch == BASELINE:  # only reached when a view's root differs entirely
            raise AssertionError("views of one twin share the baseline")
        out |= hidden_at(layer, level)
    return out


def touched_between(
    con: sqlite3.Connection, layer: str, branch: int, t1: int | None, t2: int | None
) -> set[str]:
    """Ids whose versions in ``branch`` began or ended between two transactions."""
    known = [t for t in (t1, t2) if t is not None]
    lo = min(known)
    hi = None if len(known) < 2 else max(known)
    upper = "" if hi is None else " AND {col} <= ?"
    scenario = f" AND branch <> {BASELINE}" if branch != BASELINE else ""
    sql = (
        f"SELECT tw_id FROM {quote(versions_table(layer))} "
        f"WHERE branch = {int(branch)}{scenario} AND "
        f"((txn_from > ?{upper.format(col='txn_from')}) OR "
        f"(txn_to > ?{upper.format(col='txn_to')}))"
    )
    params = [lo] if hi is None else [lo, hi]
    return {r[0] for r in con.execute(sql, params * 2)}


def parameters(con: sqlite3.Connection, view: View) -> dict[str, dict[str, Any]]:
    """The scenario parameters a view sees (nearest level wins; removals hide)."""
    out: dict[str, dict[str, Any]] = {}
    decided: set[str] = set()
    for level in view.upper:
        conds, params = level_conds(level)
        rows = con.execute(
            f"SELECT v.name, v.value, v.unit, v.deleted FROM tw_parameters v "
            f"WHERE {' AND '.join(conds)}",
            params,
        ).fetchall()
        for name, value, unit, deleted in rows:
            if name in decided:
                continue
            decided.add(name)
            if not deleted:
                out[name] = {"value": orjson.loads(value), "unit": unit}
    return dict(sorted(out.items()))


def content_hash(
    con: sqlite3.Connection,
    cat: Catalog,
    view: View,
    schemas: list[LayerSchema],
    *,
    rasters: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> str:
    """SHA-256 of everything a view shows: per layer (sorted by name) every object's id and
    content hash in id order, the rasters of its baseline, and its parameters.

    The same content gives the same hash in any process and on any machine, however it came
    about; any change of geometry, attribute or time axis of any object changes it.
    ``rasters`` limits the rasters hashed to those names (None: all).
    """
    h = hashlib.sha256(b"tweeling-view/1\n")
    for schema in sorted(schemas, key=lambda s: s.name):
        if progress:
            progress(schema.name)
        overrides: dict[str, str | None] = {}
        vt = quote(versions_table(schema.name))
        for level in view.upper:
            conds, params = level_conds(cat.normalise(schema.name, level))
            for tw_id, digest, deleted in con.execute(
                f"SELECT v.tw_id, v.hash, v.deleted FROM {vt} v WHERE {' AND '.join(conds)}",
                params,
            ):
                overrides.setdefault(tw_id, None if deleted else digest)
        root = cat.normalise(schema.name, view.root)
        if root.txn is None and cat.sql.HAS_CURRENT_TABLE:
            base = con.execute(
                f"SELECT t.tw_id, v.hash FROM {quote(schema.name)} t JOIN {vt} v "
                "ON v.vid = t.tw_vid ORDER BY t.tw_id"
            )
        else:
            conds, params = level_conds(root)
            base = con.execute(
                f"SELECT v.tw_id, v.hash FROM {vt} v WHERE {' AND '.join(conds)} "
                "AND v.deleted = 0 ORDER BY v.tw_id",
                params,
            )
        kept = (row for row in base if row[0] not in overrides)
        added = sorted((i, d) for i, d in overrides.items() if d is not None)
        header = f"layer\x00{schema.name}\n".encode()
        for n, (tw_id, digest) in enumerate(heapq.merge(kept, added)):
            if n == 0:  # layers empty in this view leave no trace (new layers keep the hash)
                h.update(header)
            h.update(f"{tw_id}\x00{digest}\n".encode())
    root_txn = view.root.txn
    for name, sha in con.execute(
        "SELECT name, sha256 FROM tw_rasters WHERE "
        + (
            "txn_to IS NULL"
            if root_txn is None
            else "txn_from <= ? AND (txn_to IS NULL OR txn_to > ?)"
        )
        + " ORDER BY name",
        [] if root_txn is None else [root_txn, root_txn],
    ):
        h.update(f"raster\x00{name}\x00{sha}\n".encode())
    for name, p in parameters(con, view).items():
        h.update(b"parameter\x00" + orjson.dumps([name, p], option=orjson.OPT_SORT_KEYS) + b"\n")
    return h.hexdigest()


def _parts(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), _PART):
        yield ids[i : i + _PART]
