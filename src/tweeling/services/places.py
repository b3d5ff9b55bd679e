"""What a scenario means at a place: the buildings standing there, the norms in force, the
model results there in the scenario and in the baseline, the scenario's interventions
nearby and its findings for those objects.

Results come from each side's up-to-date runs (:func:`results.current_runs`): grids are
sampled in the cell holding the point; per-object outputs give the rows of the buildings
at the point. The norms are those at the buildings' footprints, else at the point.

What does not depend on the point is kept between calls (bounded caches shared by the
server's threads): the rule book, per state of the norms and zoning layers; a scenario's
findings, per state of the scenario (:func:`results.view_state`), of the rule book and of
its runs; the buildings' rows of a run's per-object output, per output file (runs never
change once written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import shapely

from tweeling.core.errors import InputError
from tweeling.core.records import InterventionRecord, StoredFeature
from tweeling.core.rules import NORMS_LAYER, Norm
from tweeling.services import results
from tweeling.services.results import BASELINE, LRU
from tweeling.services.rules import BUILDINGS, ZONING_LAYER, RuleBook, checked, rule_book
from tweeling.store.base import TwinStore

NEARBY_M = 100.0
ROWS_CACHE_BYTES = 128 << 20  # buildings' rows of per-object outputs (estimated)
FINDINGS_CACHE_BYTES = 64 << 20  # scenarios' findings (estimated: 2 kB per finding)
_BOOKS = LRU(1 << 62, 4)  # rule books: one per twin and state of its norms
_FINDINGS = LRU(FINDINGS_CACHE_BYTES, 256)
_ROWS = LRU(ROWS_CACHE_BYTES, 1024)


@dataclass
class NearbyIntervention:
    record: InterventionRecord
    distance_m: float | None  # None: a parameter, which holds everywhere


@dataclass
class Place:
    x: float  # RD New
    y: float
    scenario: str
    on: date
    buildings: list[StoredFeature]
    norms: list[Norm]
    results: list[dict[str, Any]]
    interventions: list[NearbyIntervention]
    findings: list[dict[str, Any]] = field(default_factory=list)


def here(
    store: TwinStore,
    x: float,
    y: float,
    scenario: str,
    on: date,
    *,
    radius_m: float = NEARBY_M,
) -> Place:
    view = store.view(None if scenario == BASELINE else scenario)
    point = shapely.Point(x, y)
    buildings = []
    if BUILDINGS in store.vector_layers():
        box = (x - 0.01, y - 0.01, x + 0.01, y + 0.01)
        buildings = [
            f
            for f in store.features(BUILDINGS, bbox=box, view=view)
            if f.geometry is not None and f.geometry.intersects(point)
        ]
    where = shapely.union_all([b.geometry for b in buildings]) if buildings else point
    if where is None or where.is_empty:  # as rules.applies_here
        raise InputError("no location given", field="location")
    book_key, book = _rule_book(store)
    norms = book.at(where, on)
    values = _results(store, scenario, x, y, [b.id for b in buildings])
    nearby = [] if view.is_baseline_head else _nearby(store, view, point, radius_m)
    place = Place(x, y, scenario, on, buildings, norms, values, nearby)
    if not view.is_baseline_head:
        objects = {f"{BUILDINGS}/{b.id}" for b in buildings}
        objects |= {f"{n.record.layer}/{n.record.object_id}" for n in nearby if n.record.object_id}
        place.findings = [
            f
            for f in _findings(store, scenario, view, on, book_key)
            if f["object"] in objects or f["object"] == f"scenario {scenario}"
        ]
    return place


def _rule_book(store: TwinStore) -> tuple[tuple, RuleBook]:
    """The twin's rule book (rules.rule_book), kept while the baseline's norms and zoning
    plans are unchanged; with the key it is kept under."""
    baseline = store.view(None)
    present = set(store.vector_layers())
    key = (
        store.location,
        store.scenarios.info(BASELINE).created_at,
        tuple(
            (layer, layer in present and store.layer_stamp(layer, baseline))
            for layer in (NORMS_LAYER, ZONING_LAYER)
        ),
    )
    return key, _BOOKS.get_or_make(key, lambda: rule_book(store))


def _findings(store: TwinStore, scenario: str, view, on: date, book_key: tuple) -> list:
    """The scenario's findings on a date (rules.checked: stored ones while valid, else
    computed and stored), kept while the scenario, the rule book and its runs are
    unchanged — what decides whether stored findings are still valid."""
    runs = tuple(sorted(r.id for r in store.runs() if r.scenario == scenario))
    key = (scenario, on, results.view_state(store, view), book_key, runs)
    found = _FINDINGS.get_or_make(
        key,
        lambda: tuple(checked(store, scenario, on)[0].findings),
        lambda findings: 200 + 2000 * len(findings),
    )
    return list(found)


def _results(store, scenario: str, x: float, y: float, building_ids: list[str]) -> list[dict]:
    """Per model output: the value here in the scenario and in the baseline."""
    sides = {"scenario": results.current_runs(store, scenario)}
    sides["baseline"] = (
        sides["scenario"] if scenario == BASELINE else results.current_runs(store, BASELINE)
    )
    out = []
    for model in sorted(set(sides["scenario"]) | set(sides["baseline"])):
        runs = {side: runs.get(model) for side, runs in sides.items()}
        outputs = {}
        for run in runs.values():
            if run is not None:
                outputs.update({k: o for k, o in run.outputs.items() if isinstance(o, dict)})
        for name, meta in sorted(outputs.items()):
            if meta.get("kind") == "grid":
                cells = {
                    side: None
                    if r is None or name not in r.outputs
                    else _sample(store, r, name, x, y)
                    for side, r in runs.items()
                }
                out.append(_entry(model, name, None, None, meta.get("unit"), runs, cells))
            elif meta.get("kind") == "objects" and building_ids:
                rows = {
                    side: _rows(store, r, name) if r and name in r.outputs else {}
                    for side, r in runs.items()
                }
                for oid in building_ids:
                    found = {side: rows[side].get((BUILDINGS, oid)) for side in runs}
                    fields = sorted({k for row in found.values() if row for k in row})
                    for key in fields:
                        vals = {side: (row or {}).get(key) for side, row in found.items()}
                        sample = next(v for v in vals.values() if v is not None)
                        obj = f"{BUILDINGS}/{oid}"
                        unit = results.field_unit(key, sample)
                        out.append(_entry(model, name, obj, key, unit, runs, vals))
    return out


def _sample(store, run, name: str, x: float, y: float) -> float | None:
    return results.grid(store, run, name).at(x, y)


def _rows(store, run, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The buildings' rows of a per-object output, by (layer, id) (only buildings are
    looked up here); kept per output file."""
    path, _ = results.output_file(store, run, name)
    key = results.file_key(path)

    def read() -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (r.get("layer"), str(r.get("id"))): {
                k: v for k, v in r.items() if k not in ("layer", "id") and v is not None
            }
            for r in results.object_rows(store, run, name)
            if r.get("layer") == BUILDINGS
        }

    return _ROWS.get_or_make(key, read, lambda rows: 200 + 400 * len(rows))


def _entry(model, output, obj, key, unit, runs, vals) -> dict[str, Any]:
    a, b = vals.get("scenario"), vals.get("baseline")
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    return {
        "model": model,
        "output": output,
        "object": obj,
        "field": key,
        "unit": unit,
        "scenario": a,
        "baseline": b,
        "difference": round(a - b, 4) if numeric else None,
        "runs": {side: r and r.id for side, r in runs.items()},
    }


def _nearby(store, view, point, radius_m: float) -> list[NearbyIntervention]:
    """The scenario's logged interventions on objects within ``radius_m`` of the point
    (removed objects where they stood), and its parameters."""
    records = store.scenarios.interventions(view.name)
    if view.frozen is not None:  # a frozen version shows the log up to its freezing
        txn = next(
            f.transaction for f in store.scenarios.info(view.name).frozen if f.label == view.frozen
        )
        records = [r for r in records if r.transaction <= txn]
    per_layer: dict[str, set[str]] = {}
    for r in records:
        if r.layer and r.object_id:
            per_layer.setdefault(r.layer, set()).add(r.object_id)
    where: dict[tuple[str, str], Any] = {}
    present = set(store.vector_layers())
    for layer, ids in per_layer.items():
        if layer not in present:
            continue
        now = store.lookup(layer, sorted(ids), view=view)
        gone = [i for i, f in now.items() if f is None]
        before = store.lookup(layer, gone, view=view.parent_view()) if gone else {}
        for oid in ids:
            f = now.get(oid) or before.get(oid)
            if f is not None and f.geometry is not None:
                where[(layer, oid)] = f.geometry
    out = []
    for r in records:
        if r.kind == "parameter":
            out.append(NearbyIntervention(r, None))
            continue
        geom = where.get((r.layer, r.object_id))
        if geom is None:
            continue
        d = float(shapely.distance(geom, point))
        if d <= radius_m:
            out.append(NearbyIntervention(r, round(d, 1)))
    return out


__all__ = ["NEARBY_M", "NearbyIntervention", "Place", "here"]
