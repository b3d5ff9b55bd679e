"""Scenario use cases: create, apply interventions, diff, fork, merge, rebase, freeze.

The Python API of scenarios (the CLI calls these and nothing else)::

    from tweeling.services import scenarios
    from tweeling.services.workspace import open_workspace

    with open_workspace("demo-twin") as ws:
        scenarios.create_scenario(ws.store, "more-homes", description="800 homes")
        scenarios.apply_interventions(ws.store, "more-homes", read_interventions("homes.yaml"))
        d = scenarios.diff_scenarios(ws.store, "more-homes")   # against what it is built on
        v = scenarios.freeze_scenario(ws.store, "more-homes", "v1")   # v.hash

The semantics (overlay, diff, apply, three-way merge) are the pure functions of
:mod:`tweeling.core.changes`; the store supplies the contents of just the objects that can
differ (:meth:`TwinStore.candidate_ids`), so costs follow the changes, not the twin.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import shapely

from tweeling.core import changes as ch
from tweeling.core.errors import (
    InputError,
    NotFoundError,
    StoreBusy,
    TweelingError,
    WorkspaceError,
)
from tweeling.core.features import FeatureChunk, FieldType
from tweeling.core.interventions import Intervention
from tweeling.core.records import FrozenVersion, ScenarioInfo
from tweeling.core.views import View
from tweeling.services import audit
from tweeling.store.base import ScenarioEditor, TwinStore

PARAMETERS = "parameters"  # the pseudo-layer name of parameters in diffs and conflicts


@contextmanager
def _changing(store: TwinStore, name: str) -> Iterator[None]:
    """A unit of work changing scenario ``name`` (its edit and audit entry together)."""
    try:
        with store.unit():
            yield
    except StoreBusy as exc:
        raise WorkspaceError(
            f"scenario {name!r} was not changed: another process is writing to the twin "
            f"({exc}); try again when it has finished"
        ) from None


class MergeConflicts(TweelingError):
    """Both sides changed the same objects differently; nothing was changed."""

    def __init__(self, what: str, conflicts: list[tuple[str, ch.Conflict]]):
        self.conflicts = conflicts
        shown = [f"{layer}/{c.describe()}" for layer, c in conflicts[:20]]
        more = f" … and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
        super().__init__(
            f"{what}: {len(conflicts)} conflict(s), nothing was changed: "
            + "; ".join(shown)
            + more
            + ". Resolve each with --resolve LAYER/ID=ours|theirs (parameters: "
            "parameters/NAME=…), or change one side so both agree."
        )


@dataclass
class ApplyReport:
    scenario: str
    applied: list[tuple[Intervention, str | None]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for iv, _ in self.applied:
            out[iv.kind] = out.get(iv.kind, 0) + 1
        return out


@dataclass
class ScenarioDiff:
    """The changes that turn view ``a`` into view ``b``, per layer and for parameters."""

    a: str
    b: str
    layers: dict[str, list[ch.Change]]
    parameters: list[ch.Change]

    def counts(self) -> dict[str, dict[str, int]]:
        out = {}
        for layer, changes in [*self.layers.items(), (PARAMETERS, self.parameters)]:
            if changes:
                per = {"added": 0, "modified": 0, "removed": 0}
                for c in changes:
                    per[c.kind] += 1
                out[layer] = per
        return out

    @property
    def empty(self) -> bool:
        return not self.parameters and not any(self.layers.values())


@dataclass
class MergeReport:
    source: str
    target: str
    written: dict[str, int]  # layer -> objects changed in the target
    resolved: int


# ---------------------------------------------------------------------------- basics


def create_scenario(
    store: TwinStore,
    name: str,
    *,
    parent: str = "baseline",
    author: str = "",
    description: str = "",
) -> ScenarioInfo:
    """A new draft scenario, owned by whoever acts (``services.audit.current``)."""
    who = audit.current()
    with store.unit():
        info = store.scenarios.create(
            name,
            parent=parent,
            author=author or who.label,
            description=description,
            owner_id=who.person_id,
        )
        audit.record(
            store,
            "scenario.create",
            f"scenarios/{name}",
            scenario=name,
            version=info.head_transaction,
            data={"parent": parent, "description": description[:200]},
        )
    return info


def fork_scenario(
    store: TwinStore, source: str, name: str, *, author: str = "", description: str = ""
) -> ScenarioInfo:
    """A new scenario built on ``source`` (its latest state, or a frozen ``NAME@LABEL``):
    it shows exactly what ``source`` shows until it is changed."""
    return create_scenario(
        store, name, parent=source, author=author, description=description or f"fork of {source}"
    )


def freeze_scenario(
    store: TwinStore, name: str, label: str, *, author: str = "", note: str = ""
) -> FrozenVersion:
    with store.unit():
        v = store.scenarios.freeze(name, label, author=author or audit.current().label, note=note)
        audit.record(
            store,
            "scenario.freeze",
            f"scenarios/{name}@{label}",
            scenario=name,
            version=v.transaction,
            data={"label": label, "hash": v.hash, "note": note[:200]},
        )
    return v


def set_status(store: TwinStore, name: str, status: str) -> ScenarioInfo:
    """Change a scenario's status (draft, shared, published, decided, archived). Publishing
    needs what it is built on to be public too: the baseline, or a published scenario, so
    that everyone can see everything a published scenario shows."""
    before = store.scenarios.info(name)
    if status in ("published", "decided") and before.parent not in (None, "baseline"):
        parent = store.scenarios.info(before.parent)
        if parent.status not in ("published", "decided"):
            raise InputError(
                f"{name!r} is built on {before.parent!r}, which is {parent.status}: publish "
                "that first (a published scenario shows what its parent holds)",
                field="status",
            )
    with store.unit():
        info = store.scenarios.set_status(name, status, author=audit.current().label)
        audit.record(
            store,
            "scenario.publish" if status == "published" else "scenario.status",
            f"scenarios/{name}",
            scenario=name,
            version=info.head_transaction,
            data={"from": before.status, "to": status},
        )
    return info


def delete_scenario(store: TwinStore, name: str) -> None:
    with store.unit():
        info = store.scenarios.info(name)
        store.scenarios.delete(name)
        audit.record(
            store,
            "scenario.delete",
            f"scenarios/{name}",
            scenario=name,
            version=info.head_transaction,
            data={"interventions": info.interventions},
        )


def share_scenario(store: TwinStore, name: str, username: str, right: str | None) -> None:
    """Share a scenario with a person to ``read`` or ``edit`` it, or stop (``None``)."""
    if right not in ("read", "edit", None):
        raise InputError(f"{right!r}: share to read or edit", field="right")
    person = store.people.by_name(username)
    with store.unit():
        store.people.share(name, person.id, None if right is None else right == "edit")
        audit.record(
            store,
            "scenario.share" if right else "scenario.unshare",
            f"scenarios/{name}",
            scenario=name,
            data={"person": person.username, "right": right},
        )


def verify_frozen(store: TwinStore, ref: str) -> tuple[str, str]:
    """(hash recorded at freezing, hash of what the version shows now); equal when intact."""
    view = store.view(ref)
    if view.frozen is None:
        raise InputError(f"{ref!r} is not a frozen version (NAME@LABEL)")
    recorded = next(f.hash for f in store.scenarios.info(ref).frozen if f.label == view.frozen)
    return recorded, store.content_hash(view=view)


# ---------------------------------------------------------------------------- interventions


def apply_interventions(
    store: TwinStore,
    scenario: str,
    interventions: Iterable[Intervention],
    *,
    author: str = "",
    path: str | None = None,
    expected_head: int | None = None,
) -> ApplyReport:
    """Apply interventions in order, all or none, checking each against the layer's schema,
    the twin's area and the scenario's current content (unknown or existing objects)."""
    report = ApplyReport(scenario)
    area = store.area_of_interest()
    with _changing(store, scenario):
        with store.scenarios.edit(
            scenario,
            author=author or audit.current().label,
            path=path,
            expected_head=expected_head,
        ) as edit:
            for iv in interventions:
                iv.check()
                report.applied.append((iv, _apply_one(store, edit, iv, area)))
        if edit.changed:
            audit.record(
                store,
                "scenario.edit",
                f"scenarios/{scenario}",
                scenario=scenario,
                version=edit.txn,
                data={
                    "interventions": [
                        {
                            "kind": iv.kind,
                            "layer": iv.layer,
                            "id": oid,
                            "parameter": iv.parameter,
                            "title": iv.title[:200],
                        }
                        for iv, oid in report.applied[:100]
                    ],
                    "count": len(report.applied),
                    "file": path,
                },
            )
    return report


def _apply_one(store: TwinStore, edit: ScenarioEditor, iv: Intervention, area) -> str | None:
    if iv.kind == "parameter":
        edit.set_parameter(iv.parameter, iv.value, iv.unit)
        edit.log(
            "parameter",
            iv.title,
            iv.rationale,
            detail={"parameter": iv.parameter, "value": iv.value, "unit": iv.unit},
        )
        return None
    try:
        schema = store.schema(iv.layer)
    except NotFoundError:
        raise iv.error(
            f"unknown layer {iv.layer!r} (see 'tweeling layers')", field="layer"
        ) from None
    _check_integers(iv, schema.fields)
    if iv.geometry is not None:
        _check_in_area(iv, area)
    oid = iv.id
    if iv.kind == "add":
        oid = oid or _new_id(edit, iv.layer)
        if edit.lookup(iv.layer, [oid])[oid] is not None:
            raise iv.error(
                f"layer {iv.layer!r} already has an object {oid!r} in scenario "
                f"{edit.view.name!r}; use a modify intervention to change it",
                field="id",
            )
        geometry, props = iv.geometry, dict(iv.properties)
    else:
        current = edit.lookup(iv.layer, [oid])[oid]
        if current is None:
            raise iv.error(
                f"layer {iv.layer!r} has no object {oid!r} in scenario {edit.view.name!r}",
                field="id",
            )
        if iv.kind == "remove":
            edit.remove(iv.layer, [oid])
            edit.log("remove", iv.title, iv.rationale, layer=iv.layer, object_id=oid)
            return oid
        geometry = iv.geometry if iv.geometry is not None else current.geometry
        props = {**current.properties, **iv.properties}
    try:
        edit.put(iv.layer, _chunk(iv.layer, [oid], [geometry], [props]))
    except InputError as exc:  # name the intervention, keep the field
        raise iv.error(exc.reason, field=exc.field) from None
    edit.log(
        iv.kind,
        iv.title,
        iv.rationale,
        layer=iv.layer,
        object_id=oid,
        detail={"properties": sorted(iv.properties), "geometry": iv.geometry is not None},
    )
    return oid


INT64 = 2**63  # SQLite INTEGER and orjson (the properties' JSON) hold [-2**63, 2**63)


def _check_integers(iv: Intervention, fields: Mapping[str, FieldType]) -> None:
    """Integers the store can hold (it would fail deep inside the write): within 64 bits,
    also a whole number given as a float for an INTEGER field, and inside JSON values."""
    for name, value in iv.properties.items():
        todo = [value]
        while todo:
            v = todo.pop()
            if isinstance(v, dict | list):
                todo += v.values() if isinstance(v, dict) else v
                continue
            if isinstance(v, float) and fields.get(name) is FieldType.INTEGER and v.is_integer():
                v = int(v)  # as the store takes it
            if isinstance(v, int) and not isinstance(v, bool) and not -INT64 <= v < INT64:
                raise iv.error(
                    f"an integer of {v.bit_length()} bits does not fit 64 bits", field=name
                )


def _check_in_area(iv: Intervention, area) -> None:
    if area is None:
        return
    minx, miny, maxx, maxy = iv.geometry.bounds
    if not (minx >= area[0] and miny >= area[1] and maxx <= area[2] and maxy <= area[3]):
        raise iv.error(
            f"geometry {tuple(round(b, 1) for b in iv.geometry.bounds)} lies outside the "
            f"twin's area {tuple(round(a, 1) for a in area)} (RD New); is its coordinate "
            "reference system right?",
            field="geometry",
        )


def _new_id(edit: ScenarioEditor, layer: str) -> str:
    """An id for an added object without one: scenario, transaction and a counter."""
    while True:
        edit.new_ids += 1
        oid = f"{edit.view.name}-{edit.txn}-{edit.new_ids}"
        if edit.lookup(layer, [oid])[oid] is None:
            return oid


def _chunk(layer: str, ids: list[str], geoms: list, props: list[dict[str, Any]]) -> FeatureChunk:
    keys = sorted({k for p in props for k in p})
    return FeatureChunk(
        layer=layer,
        ids=ids,
        geometries=np.array(geoms, dtype=object),
        columns={k: [p.get(k) for p in props] for k in keys},
    )


# ---------------------------------------------------------------------------- diff


def diff_scenarios(store: TwinStore, a: str, b: str | None = None) -> ScenarioDiff:
    """Changes from ``a`` to ``b``; with one scenario, from what it is built on to it."""
    if b is None:
        vb = store.view(a)
        if vb.is_baseline_head:
            raise InputError("the baseline has no parent to compare with; name two scenarios")
        parent = vb.parent_view()
        info = store.scenarios.info(vb.name)
        label = f"{info.parent} as of transaction {parent.levels[0].txn}"
        va = View(label, parent.name, parent.branch, parent.levels)
    else:
        va, vb = store.view(a), store.view(b)
    return diff_views(store, va, vb)


def diff_views(
    store: TwinStore, va: View, vb: View, *, only: list[str] | None = None
) -> ScenarioDiff:
    """Changes from view ``va`` to ``vb`` (in the layers ``only``, else all)."""
    layers = {}
    for layer in store.vector_layers() if only is None else only:
        ids = sorted(store.candidate_ids(layer, va, vb))
        if not ids:
            continue
        sa, sb = _present(store.contents(layer, ids, va)), _present(store.contents(layer, ids, vb))
        found = ch.diff(sa, sb)
        if found:
            layers[layer] = _with_geometries(found)
    params = ch.diff(store.parameters(view=va), store.parameters(view=vb))
    return ScenarioDiff(va.ref, vb.ref, layers, params)


def _with_geometries(changes: list[ch.Change]) -> list[ch.Change]:
    """The changes with their contents' geometries as shapely geometries (the store hands
    out ISO WKB, compared byte for byte; readers of a diff want shapes), decoded at once."""
    contents = [c for change in changes for c in (change.before, change.after) if c]
    shapes = iter(shapely.from_wkb([c.get("geometry") for c in contents]))
    decoded = {id(c): {**c, "geometry": next(shapes)} for c in contents}
    return [
        replace(
            change,
            before=decoded.get(id(change.before)) if change.before else change.before,
            after=decoded.get(id(change.after)) if change.after else change.after,
        )
        for change in changes
    ]


def _present(contents: Mapping[str, dict | None]) -> dict[str, dict]:
    return {k: v for k, v in contents.items() if v is not None}


# ---------------------------------------------------------------------------- merge, rebase


def merge_scenarios(
    store: TwinStore,
    source: str,
    target: str,
    *,
    author: str = "",
    resolutions: Mapping[str, str] | None = None,
    title: str | None = None,
) -> MergeReport:
    """Bring the changes of ``source`` into ``target`` by a three-way merge with their
    common ancestor. Objects both changed differently are conflicts: reported, never
    resolved silently; ``resolutions`` ("layer/id" or "parameters/name" -> "ours" keeps
    the target's, "theirs" takes the source's) settle them explicitly."""
    ours, theirs = store.view(target), store.view(source)
    if ours.frozen is not None:
        raise InputError(f"{target} is a frozen version and never changes; merge into a scenario")
    base = _common_ancestor(store, ours, theirs)
    merged, params, resolved = _three_way(
        store, base, ours, theirs, resolutions, f"merge {source} into {target}"
    )
    written: dict[str, int] = {}
    with (
        store.unit(),
        store.scenarios.edit(
            target, author=author or audit.current().label, kind="scenario-merge"
        ) as edit,
    ):
        for layer, (ids, desired, current) in merged.items():
            n = _write_state(edit, layer, ids, desired, current)
            if n:
                written[layer] = n
        n = _write_parameters(edit, params, store.parameters(view=ours))
        if n:
            written[PARAMETERS] = n
        if written:
            edit.log(
                "merge",
                title or f"Merged {source} into {target}",
                "",
                detail={"source": source, "written": written, "resolved": resolved},
            )
            audit.record(
                store,
                "scenario.merge",
                f"scenarios/{target}",
                scenario=target,
                version=edit.txn,
                data={"source": source, "written": written, "resolved": resolved},
            )
    return MergeReport(source, target, written, resolved)


def rebase_scenario(
    store: TwinStore,
    name: str,
    *,
    author: str = "",
    resolutions: Mapping[str, str] | None = None,
) -> MergeReport:
    """Build a scenario on its parent's latest state (for the baseline: after re-imports),
    keeping its own changes. An object the scenario changed that also changed in the parent
    since is a conflict ("ours" keeps the scenario's, "theirs" takes the parent's)."""
    ours = store.view(name)
    if ours.frozen is not None:
        raise InputError(f"{name} is a frozen version and never changes; rebase the scenario")
    if ours.is_baseline_head:
        raise InputError("the baseline has no parent to rebase onto")
    old_parent = ours.parent_view()
    new_parent = store.view_at(old_parent.branch, None)
    info = store.scenarios.info(name)
    if not info.parent_changed_since_base:
        return MergeReport(info.parent or "", name, {}, 0)
    merged, params, resolved = _three_way(
        store, old_parent, ours, new_parent, resolutions, f"rebase {name}"
    )
    written: dict[str, int] = {}
    with (
        store.unit(),
        store.scenarios.edit(
            name, author=author or audit.current().label, kind="scenario-rebase"
        ) as edit,
    ):
        edit.rebase()
        for layer, (ids, desired, _) in merged.items():
            own = _present(store.contents(layer, ids, edit.view))
            n = _write_state(edit, layer, ids, desired, own)
            if n:
                written[layer] = n
        _write_parameters(edit, params, store.parameters(view=edit.view))
        edit.log(
            "rebase",
            f"Rebased {name} onto the latest {info.parent}",
            "",
            detail={"old_base": info.base_transaction, "written": written, "resolved": resolved},
        )
        audit.record(
            store,
            "scenario.rebase",
            f"scenarios/{name}",
            scenario=name,
            version=edit.txn,
            data={"old_base": info.base_transaction, "written": written, "resolved": resolved},
        )
    return MergeReport(info.parent or "", name, written, resolved)


def _common_ancestor(store: TwinStore, a: View, b: View) -> View:
    """The state both views derive from: the nearest branch in both chains, as of the
    earlier of the two transactions at which they see it."""
    in_a = {lv.branch: lv.txn for lv in a.levels}
    for lv in b.levels:
        if lv.branch in in_a:
            ta, tb = in_a[lv.branch], lv.txn
            txn = tb if ta is None else ta if tb is None else min(ta, tb)
            return store.view_at(lv.branch, txn)
    raise AssertionError("every view ends in the baseline")


def _three_way(store, base: View, ours: View, theirs: View, resolutions, what: str):
    """Per layer (candidate ids, merged state, our state) and the merged parameters."""
    resolutions = dict(resolutions or {})
    conflicts: list[tuple[str, ch.Conflict]] = []
    merged: dict[str, tuple[list[str], dict, dict]] = {}
    resolved = 0
    for layer in store.vector_layers():
        ids = sorted(
            store.candidate_ids(layer, base, ours) | store.candidate_ids(layer, base, theirs)
        )
        if not ids:
            continue
        sb, so, st = (_present(store.contents(layer, ids, v)) for v in (base, ours, theirs))
        state, n = _settle(ch.merge3(sb, so, st), layer, resolutions, conflicts)
        resolved += n
        merged[layer] = (ids, state, so)
    pb, po, pt = (store.parameters(view=v) for v in (base, ours, theirs))
    pstate, n = _settle(ch.merge3(pb, po, pt), PARAMETERS, resolutions, conflicts)
    resolved += n
    if conflicts:
        raise MergeConflicts(what, conflicts)
    if resolutions:
        raise InputError(
            f"{what}: --resolve names objects that are not in conflict: "
            + ", ".join(sorted(resolutions))
        )
    return merged, pstate, resolved


def _settle(
    result: ch.MergeResult,
    layer: str,
    resolutions: dict[str, str],
    conflicts: list[tuple[str, ch.Conflict]],
) -> tuple[dict, int]:
    """The merged state with the conflicts the caller resolved settled (their resolutions
    used up); unresolved ones are added to ``conflicts``."""
    state, resolved = result.state, 0
    for c in result.conflicts:
        choice = resolutions.pop(f"{layer}/{c.id}", None)
        if choice is None:
            conflicts.append((layer, c))
            continue
        state = _resolve(state, c, choice, f"{layer}/{c.id}")
        resolved += 1
    return state, resolved


def _resolve(state: dict, c: ch.Conflict, choice: str, key: str) -> dict:
    if choice not in ("ours", "theirs"):
        raise InputError(f"resolution of {key} must be 'ours' or 'theirs', not {choice!r}")
    state = dict(state)
    pick = c.ours if choice == "ours" else c.theirs
    if pick is None:
        state.pop(c.id, None)
    else:
        state[c.id] = pick
    return state


def _write_state(
    edit: ScenarioEditor, layer: str, ids: list[str], desired: dict, current: dict
) -> int:
    """Make the scenario show ``desired`` for ``ids`` (``current`` is what it shows now):
    objects equal to the parent's need no own version; others get one, or a tombstone."""
    parent = _present(edit.store.contents(layer, ids, edit.parent))
    revert, remove, put = [], [], []
    for i in ids:
        want, now, before = desired.get(i), current.get(i), parent.get(i)
        if want == now:
            continue
        if want == before:
            revert.append(i)
        elif want is None:
            remove.append(i)
        else:
            put.append(i)
    if revert:
        edit.revert(layer, revert)
    if remove:
        edit.remove(layer, remove)
    if put:
        geoms = shapely.from_wkb([desired[i]["geometry"] for i in put])
        props = [{k: v for k, v in desired[i].items() if k != "geometry"} for i in put]
        edit.put(layer, _chunk(layer, put, list(geoms), props))
    return len(revert) + len(remove) + len(put)


def _write_parameters(edit: ScenarioEditor, desired: dict, current: dict) -> int:
    n = 0
    for name in sorted(set(desired) | set(current)):
        want = desired.get(name)
        if want == current.get(name):
            continue
        if want is None:
            edit.remove_parameter(name)
        else:
            edit.set_parameter(name, want["value"], want["unit"])
        n += 1
    return n


def parse_resolutions(items: Iterable[str]) -> dict[str, str]:
    """``LAYER/ID=ours|theirs`` strings (from the CLI) as a mapping."""
    out = {}
    for item in items:
        key, sep, choice = item.rpartition("=")
        if not sep or "/" not in key or choice not in ("ours", "theirs"):
            raise InputError(f"--resolve {item!r}: expected LAYER/ID=ours or LAYER/ID=theirs")
        out[key] = choice
    return out


__all__ = [
    "ApplyReport",
    "MergeConflicts",
    "MergeReport",
    "ScenarioDiff",
    "apply_interventions",
    "create_scenario",
    "delete_scenario",
    "diff_scenarios",
    "fork_scenario",
    "freeze_scenario",
    "merge_scenarios",
    "rebase_scenario",
    "set_status",
    "share_scenario",
    "verify_frozen",
]
