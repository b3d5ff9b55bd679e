"""Scenario branches in the GeoPackage store: create, edit, rebase, freeze, status, delete.

A scenario is a row of ``tw_branches`` with a parent and, in ``tw_branch_bases``, the
parent's transaction it is built on. Edits are copy-on-write: each changed object gets a
new version in the layer's version table with ``branch`` = the scenario (a removal is a
tombstone, ``deleted = 1``); the scenario's earlier version of that object is closed
(``txn_to``), never overwritten, so frozen versions keep showing what they showed. Every
edit is one transaction of the store (``BEGIN IMMEDIATE``): a second process editing at
the same time waits, then gets a clear error; a failed edit leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from tweeling.core.branches import EDITABLE, STATUSES, check_name
from tweeling.core.errors import (
    AlreadyExists,
    ConcurrentEdit,
    InputError,
    StoreBusy,
    WorkspaceError,
)
from tweeling.core.features import FeatureChunk
from tweeling.core.records import FrozenVersion, InterventionRecord, ScenarioInfo, StoredFeature
from tweeling.core.timeaxis import to_text, utc_now
from tweeling.core.views import BASELINE, BASELINE_NAME, View, parse_ref
from tweeling.store import gpkg_views
from tweeling.store.gpkg_read import HASH
from tweeling.store.gpkg_schema import quote, versions_table
from tweeling.store.prepare import prepare_chunk
from tweeling.store.values import canonical_json_columns

if TYPE_CHECKING:
    from tweeling.store.sql_store import SqlStore

_TOMBSTONE_HASH = "-"


class _Unchanged(Exception):
    """An edit that changed nothing: its transaction is rolled back, not logged."""


class GpkgScenarios:
    """The scenario operations of a :class:`SqlStore` (``store.scenarios``)."""

    def __init__(self, store: SqlStore):
        self.store = store

    @property
    def con(self):
        return self.store._con

    # ------------------------------------------------------------------ reading

    def list(self) -> list[ScenarioInfo]:
        ids = [r[0] for r in self.con.execute("SELECT id FROM tw_branches ORDER BY id")]
        return [self._info(i) for i in ids if i != BASELINE]

    def info(self, ref: str) -> ScenarioInfo:
        name, _ = parse_ref(ref)
        return self._info(self.store.view(name).branch)

    def _info(self, branch: int) -> ScenarioInfo:
        con = self.con
        row = con.execute(
            "SELECT b.id, b.name, p.name, b.base_txn, b.status, b.author, b.description, "
            "b.created_at, b.updated_at, b.head_txn, p.id, p.head_txn, b.owner_id "
            "FROM tw_branches b "
            "LEFT JOIN tw_branches p ON p.id = b.parent_id WHERE b.id = ?",
            (branch,),
        ).fetchone()
        n = con.execute(
            "SELECT count(*) FROM tw_interventions WHERE branch = ?", (branch,)
        ).fetchone()[0]
        frozen = tuple(
            FrozenVersion(row[1], *r)
            for r in con.execute(
                "SELECT label, txn, hash, at, coalesce(author, ''), coalesce(note, '') "
                "FROM tw_frozen WHERE branch = ? ORDER BY txn",
                (branch,),
            )
        )
        base = row[3]
        if row[10] is None:
            moved = False
        elif row[10] == BASELINE:
            last = con.execute("SELECT max(changed_txn) FROM tw_layers").fetchone()[0]
            moved = last is not None and base is not None and last > base
        else:
            moved = row[11] is not None and base is not None and row[11] > base
        return ScenarioInfo(
            id=row[0],
            name=row[1],
            parent=row[2],
            base_transaction=base,
            status=row[4],
            author=row[5] or "",
            description=row[6] or "",
            created_at=row[7],
            updated_at=row[8],
            head_transaction=row[9],
            interventions=n,
            frozen=frozen,
            parent_changed_since_base=moved,
            owner_id=row[12],
        )

    def interventions(self, ref: str) -> list[InterventionRecord]:
        view = self.store.view(parse_ref(ref)[0])
        rows = self.con.execute(
            "SELECT id, txn, kind, layer, object_id, title, coalesce(rationale, ''), "
            "coalesce(author, ''), at, detail FROM tw_interventions WHERE branch = ? "
            "ORDER BY id",
            (view.branch,),
        ).fetchall()
        return [
            InterventionRecord(r[0], view.name, *r[1:9], orjson.loads(r[9]) if r[9] else {})
            for r in rows
        ]

    def children(self, branch: int) -> list[str]:
        return [
            r[0]
            for r in self.con.execute(
                "SELECT name FROM tw_branches WHERE parent_id = ? ORDER BY id", (branch,)
            )
        ]

    # ------------------------------------------------------------------ writing

    def create(
        self,
        name: str,
        *,
        parent: str = BASELINE_NAME,
        author: str = "",
        description: str = "",
        owner_id: int | None = None,
    ) -> ScenarioInfo:
        """A new draft scenario on the latest state of ``parent`` (or on a frozen version
        of it, ``NAME@LABEL``)."""
        check_name(name)
        with self.store._transaction() as con:
            self.store._lock(con, "transactions")
            if con.execute("SELECT 1 FROM tw_branches WHERE name = ?", (name,)).fetchone():
                raise AlreadyExists(f"scenario {name!r} already exists", field="name")
            pview = gpkg_views.resolve(con, parent)
            now = to_text(utc_now())
            txn = _log_txn(con, "scenario-create", name, author, now)
            base = pview.levels[0].txn if pview.frozen else txn
            branch = con.execute(
                "INSERT INTO tw_branches (name, parent_id, base_txn, created_at, author, "
                "description, status, updated_at, head_txn, owner_id) VALUES (?, ?, ?, ?, ?, "
                "?, 'draft', ?, ?, ?) RETURNING id",
                (name, pview.branch, base, now, author, description, now, txn, owner_id),
            ).fetchone()[0]
            con.execute("INSERT INTO tw_branch_bases VALUES (?, ?, ?)", (branch, txn, base))
        self.store._changed()
        return self._info(branch)

    @contextmanager
    def edit(
        self,
        ref: str,
        *,
        author: str = "",
        kind: str = "scenario-edit",
        path: str | None = None,
        expected_head: int | None = None,
    ) -> Iterator[ScenarioEdit]:
        """Change a scenario in one transaction: all of the edit, or (on any error) none."""
        try:
            with self.store._transaction() as con:
                self.store._lock(con, "transactions")
                view = gpkg_views.resolve(con, ref)
                _check_editable(con, view)
                head = con.execute(
                    "SELECT head_txn FROM tw_branches WHERE id = ?", (view.branch,)
                ).fetchone()[0]
                if expected_head is not None and head != expected_head:
                    raise ConcurrentEdit(
                        f"scenario {view.name!r} changed since it was read (transaction "
                        f"{head}, expected {expected_head}); read it again and redo the edit"
                    )
                now = to_text(utc_now())
                txn = _log_txn(con, kind, view.name, author, now, path)
                edit = ScenarioEdit(self.store, con, view, txn, now, author)
                yield edit
                if not edit.changed:
                    raise _Unchanged
                con.execute(
                    "UPDATE tw_branches SET head_txn = ?, updated_at = ? WHERE id = ?",
                    (txn, now, view.branch),
                )
                con.execute(
                    "UPDATE tw_transactions SET summary = ? WHERE txn = ?",
                    (orjson.dumps(edit.summary).decode(), txn),
                )
        except _Unchanged:
            pass
        except StoreBusy as exc:
            raise WorkspaceError(
                f"scenario {ref!r} was not changed: another process is writing to the "
                f"twin ({exc}); try again when it has finished"
            ) from None
        finally:
            self.store._changed()

    def freeze(self, ref: str, label: str, *, author: str = "", note: str = "") -> FrozenVersion:
        """An immutable named version of the scenario's current state, with its hash."""
        check_name(label, "version label")
        with self.store._transaction() as con:
            self.store._lock(con, "transactions")
            view = _scenario(con, ref, "frozen")
            name = view.name
            if con.execute(
                "SELECT 1 FROM tw_frozen WHERE branch = ? AND label = ?", (view.branch, label)
            ).fetchone():
                raise AlreadyExists(f"scenario {name!r} already has a frozen version {label!r}")
            now = to_text(utc_now())
            txn = _log_txn(con, "scenario-freeze", name, author, now)
            pinned = gpkg_views.pinned(con, f"{name}@{label}", name, view.branch, txn)
            digest = self.store._content_hash(pinned)
            con.execute(
                "INSERT INTO tw_frozen VALUES (?, ?, ?, ?, ?, ?, ?)",
                (view.branch, label, txn, digest, now, author, note),
            )
            con.execute(
                "UPDATE tw_transactions SET summary = ? WHERE txn = ?",
                (orjson.dumps({"label": label, "hash": digest}).decode(), txn),
            )
        self.store._changed()
        return FrozenVersion(name, label, txn, digest, now, author, note)

    def set_status(self, ref: str, status: str, *, author: str = "") -> ScenarioInfo:
        if status not in STATUSES:
            raise InputError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        with self.store._transaction() as con:
            self.store._lock(con, "transactions")
            view = _scenario(con, ref, "given a status")
            now = to_text(utc_now())
            _log_txn(con, "scenario-status", view.name, author, now, summary={"status": status})
            con.execute(
                "UPDATE tw_branches SET status = ?, updated_at = ? WHERE id = ?",
                (status, now, view.branch),
            )
        self.store._changed()
        return self._info(view.branch)

    def delete(self, ref: str) -> None:
        """Delete a draft scenario with no children and no frozen versions, entirely."""
        with self.store._transaction() as con:
            self.store._lock(con, "transactions")
            view = _scenario(con, ref, "deleted")
            name = view.name
            status = con.execute(
                "SELECT status FROM tw_branches WHERE id = ?", (view.branch,)
            ).fetchone()[0]
            if status != "draft":
                raise InputError(
                    f"scenario {name!r} is {status}: only drafts can be deleted "
                    "(archive it instead: 'tweeling scenario status NAME archived')"
                )
            kids = self.children(view.branch)
            if kids:
                raise InputError(
                    f"scenario {name!r} has scenarios built on it ({', '.join(kids)}); "
                    "delete those first"
                )
            if con.execute("SELECT 1 FROM tw_frozen WHERE branch = ?", (view.branch,)).fetchone():
                raise InputError(
                    f"scenario {name!r} has frozen versions; they are kept, so it cannot be "
                    "deleted (archive it instead)"
                )
            layers = [r[0] for r in con.execute("SELECT name FROM tw_layers WHERE kind = 'vector'")]
            b = int(view.branch)
            for layer in layers:
                self.store._drop_branch(con, layer, b)
            for table in (
                "tw_parameters",
                "tw_interventions",
                "tw_branch_bases",
                "tw_scenario_shares",
                "tw_variants",
            ):
                con.execute(f"DELETE FROM {table} WHERE branch = ?", (b,))
            con.execute("DELETE FROM tw_branches WHERE id = ?", (b,))
            _log_txn(con, "scenario-delete", name, "", to_text(utc_now()))
        self.store._changed()


class ScenarioEdit:
    """One edit of one scenario, inside its store transaction (from ``scenarios.edit``).

    ``view`` is the scenario as it stands within the edit (earlier steps of the same edit
    included); ``parent`` is what it is built on.
    """

    def __init__(
        self,
        store: SqlStore,
        con,
        view: View,
        txn: int,
        now: str,
        author: str,
    ):
        self.store = store
        self.con = con
        self.view = view
        self.parent = view.parent_view()
        self.txn = txn
        self.now = now
        self.author = author
        self.source = f"scenario:{view.name}"
        self.changed = False
        self.new_ids = 0  # ids made up for added objects in this edit
        self.summary: dict[str, Any] = {"layers": {}, "parameters": 0, "interventions": 0}
        self._next_vid: dict[str, int] = {}

    # -- reading within the edit

    def lookup(self, layer: str, ids: list[str]) -> dict[str, StoredFeature | None]:
        return self.store.lookup(layer, ids, view=self.view)

    def parent_lookup(self, layer: str, ids: list[str]) -> dict[str, StoredFeature | None]:
        return self.store.lookup(layer, ids, view=self.parent)

    # -- changing

    def put(self, layer: str, chunk: FeatureChunk) -> int:
        """Give objects new content in this scenario (added or modified); geometry and
        attributes are checked against the layer's schema. Returns the versions written
        (content equal to the parent's only drops this scenario's own version)."""
        schema = self.store.schema(layer)
        ids = chunk.ids
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InputError(f"object {dup!r} is changed twice in one step", object_id=dup)
        chunk = replace(chunk, columns=canonical_json_columns(schema, chunk.columns))
        prepared = prepare_chunk(schema, chunk, path=None)
        parent = self.store._lookup_rows(schema, self.parent, ids)
        self._close_own(layer, ids)
        rows = []
        for i, (tw_id, blob, props, digest) in enumerate(
            zip(ids, prepared.blobs, prepared.props, prepared.hashes, strict=True)
        ):
            before = parent.get(tw_id)
            if before is not None and before[HASH] == digest:
                continue  # back to the parent's content: no own version needed
            box = prepared.boxes[i]
            box_vals = [None] * 4 if np.isnan(box[0]) else [float(b) for b in box]
            rows.append(
                (
                    self._vid(layer),
                    tw_id,
                    self.view.branch,
                    self.txn,
                    self.now,
                    self.source,
                    digest,
                    blob,
                    props.decode(),
                    *box_vals,
                )
            )
        self._insert(layer, rows, deleted=False)
        self._count(layer, "put", len(ids))
        return len(rows)

    def remove(self, layer: str, ids: list[str]) -> None:
        """Remove objects in this scenario: a tombstone hides the parent's version."""
        schema = self.store.schema(layer)
        parent = self.store._lookup_rows(schema, self.parent, ids)
        self._close_own(layer, ids)
        rows = [
            (
                self._vid(layer),
                tw_id,
                self.view.branch,
                self.txn,
                self.now,
                self.source,
                _TOMBSTONE_HASH,
                None,
                "{}",
                None,
                None,
                None,
                None,
            )
            for tw_id in dict.fromkeys(ids)
            if parent.get(tw_id) is not None
        ]
        self._insert(layer, rows, deleted=True)
        self._count(layer, "removed", len(ids))

    def revert(self, layer: str, ids: list[str]) -> None:
        """Drop this scenario's own versions of objects: they show the parent's again."""
        self.store.schema(layer)
        self._close_own(layer, ids)
        self._count(layer, "reverted", len(ids))

    def set_parameter(self, name: str, value: Any, unit: str) -> None:
        self._close_parameter(name)
        self.con.execute(
            "INSERT INTO tw_parameters (branch, name, value, unit, txn_from) VALUES (?,?,?,?,?)",
            (self.view.branch, name, orjson.dumps(value).decode(), unit, self.txn),
        )
        self.summary["parameters"] += 1
        self.changed = True

    def remove_parameter(self, name: str) -> None:
        self._close_parameter(name)
        self.con.execute(
            "INSERT INTO tw_parameters (branch, name, value, unit, txn_from, deleted) "
            "VALUES (?, ?, 'null', NULL, ?, 1)",
            (self.view.branch, name, self.txn),
        )
        self.summary["parameters"] += 1
        self.changed = True

    def rebase(self) -> None:
        """Build the scenario on the parent's latest state from now on (frozen versions
        keep their base)."""
        self.con.execute(
            "INSERT INTO tw_branch_bases VALUES (?, ?, ?)", (self.view.branch, self.txn, self.txn)
        )
        self.con.execute(
            "UPDATE tw_branches SET base_txn = ? WHERE id = ?", (self.txn, self.view.branch)
        )
        self.view = gpkg_views.pinned(
            self.con, self.view.ref, self.view.name, self.view.branch, None
        )
        self.parent = self.view.parent_view()
        self.store._changed()
        self.changed = True

    def log(
        self,
        kind: str,
        title: str,
        rationale: str = "",
        *,
        layer: str | None = None,
        object_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Record an intervention (what was done and why) with this edit."""
        self.summary["interventions"] += 1
        self.changed = True
        return self.con.execute(
            "INSERT INTO tw_interventions (branch, txn, kind, layer, object_id, title, "
            "rationale, author, at, detail) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id",
            (
                self.view.branch,
                self.txn,
                kind,
                layer,
                object_id,
                title,
                rationale,
                self.author,
                self.now,
                orjson.dumps(detail or {}, default=str).decode(),
            ),
        ).fetchone()[0]

    # -- internals

    def _vid(self, layer: str) -> int:
        if layer not in self._next_vid:
            self._next_vid[layer] = self.con.execute(
                f"SELECT coalesce(max(vid), 0) + 1 FROM {quote(versions_table(layer))}"
            ).fetchone()[0]
        vid = self._next_vid[layer]
        self._next_vid[layer] = vid + 1
        return vid

    def _close_own(self, layer: str, ids: list[str]) -> None:
        vt = quote(versions_table(layer))
        for part in gpkg_views._parts(list(dict.fromkeys(ids))):
            self.con.execute(
                f"UPDATE {vt} SET txn_to = ?, record_end = ? WHERE branch = ? AND "
                f"txn_to IS NULL AND tw_id IN ({','.join('?' * len(part))})",
                (self.txn, self.now, self.view.branch, *part),
            )
        self.store._changed()
        self.changed = True

    def _insert(self, layer: str, rows: list[tuple], *, deleted: bool) -> None:
        if not rows:
            return
        self.store._insert_versions(self.con, layer, rows, deleted=deleted)
        self.store._changed()

    def _close_parameter(self, name: str) -> None:
        self.con.execute(
            "UPDATE tw_parameters SET txn_to = ? WHERE branch = ? AND name = ? AND txn_to IS NULL",
            (self.txn, self.view.branch, name),
        )

    def _count(self, layer: str, what: str, n: int) -> None:
        per = self.summary["layers"].setdefault(layer, {})
        per[what] = per.get(what, 0) + n


def _check_editable(con, view: View) -> None:
    if view.branch == BASELINE:
        raise InputError(
            "the baseline changes only by importing its sources; plan changes in a scenario "
            "('tweeling scenario create NAME')"
        )
    if view.frozen is not None:
        raise InputError(
            f"{view.ref} is a frozen version and never changes; to change it, create a "
            f"scenario on it ('tweeling scenario create NEW --parent {view.ref}')"
        )
    status = con.execute("SELECT status FROM tw_branches WHERE id = ?", (view.branch,)).fetchone()[
        0
    ]
    if status not in EDITABLE:
        raise InputError(
            f"scenario {view.name!r} is {status}: only draft and shared scenarios change; "
            f"fork it or set its status back to draft"
        )


def _log_txn(
    con,
    kind: str,
    name: str,
    author: str,
    now: str,
    path: str | None = None,
    summary: dict[str, Any] | None = None,
) -> int:
    return con.execute(
        'INSERT INTO tw_transactions (at, kind, source, path, "user", summary) '
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING txn",
        (
            now,
            kind,
            f"scenario:{name}",
            path,
            author,
            None if summary is None else orjson.dumps(summary).decode(),
        ),
    ).fetchone()[0]


def _scenario(con, ref: str, action: str) -> View:
    """The latest state of a named scenario that ``action`` applies to (not a frozen
    version, not the baseline)."""
    name, at = parse_ref(ref)
    if at is not None:
        raise InputError(f"{ref!r} is a frozen version: it cannot be {action}")
    view = gpkg_views.resolve(con, name)
    if view.branch == BASELINE:
        raise InputError(f"the baseline cannot be {action}")
    return view
