"""Which rules apply here, and does a scenario comply?

The rule book is every norm the twin knows: the ``norms`` layer (YAML rule sets imported
with ``tweeling import rules``) and the zoning plans (``zoning_plan_objects``, converted by
``sources.imro_norms``). A spatial index finds the norms at a location; validity periods
pick those in force on a date.

``check_scenario`` judges what a scenario changes against the norms in force on a date:
the buildings it adds or changes (height, dwellings, function, storeys, standing inside a
bouwvlak, coverage of the zone), and the results of its up-to-date model runs (noise at
facades, shadow flicker, safety contours, nitrogen deposition increase per hexagon). A model
whose inputs the scenario changes but that has no run on the current version gives
"cannot judge". The findings are stored with the content hash of the scenario version they
were computed for (``tw_findings``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import orjson
import shapely
from shapely.strtree import STRtree

from tweeling.core.errors import InputError
from tweeling.core.records import FindingsRecord
from tweeling.core.rules import NORMS_LAYER, Norm, judge
from tweeling.core.timeaxis import to_text, utc_now
from tweeling.services import audit
from tweeling.services.scenarios import diff_views
from tweeling.store.base import TwinStore

ZONING_LAYER = "zoning_plan_objects"
BUILDINGS = "buildings"
# Building attributes judged against "bouwen" norms (subject -> attribute).
BUILDING_SUBJECTS = {
    "building_height_m": "height_m",
    "gutter_height_m": "gutter_height_m",
    "storeys": "storeys",
    "dwellings": "dwellings",
    "function": "function",
}
# Model outputs judged against norms: model -> (activity, the layer of its sources, output,
# {subject: row column}). A scenario without sources for a model has nothing to judge.
MODEL_SUBJECTS = {
    "road-noise": (
        "weg",
        "road_traffic",
        "facades",
        {"lden_db": "lden_db", "lnight_db": "lnight_db"},
    ),
    "wind-turbines": (
        "windturbine",
        "wind_turbines",
        "buildings",
        {
            "lden_db": "lden_db",
            "lnight_db": "lnight_db",
            "flicker_days_over_20_min": "flicker_worst_days_over_20_min",
            "within_ir_1e-5": "within_ir_1e-5",
            "within_ir_1e-6": "within_ir_1e-6",
        },
    ),
    "nitrogen-deposition": (
        "stikstof",
        "nitrogen_sources",
        "hexagons",
        {"deposition_increase_mol_n_per_ha_per_yr": "difference_mol_n_per_ha_per_yr"},
    ),
}


@dataclass(frozen=True)
class Finding:
    rule: str
    rule_name: str
    activity: str
    subject: str
    object: str  # "layer/id", or "run <id>: layer/id" for a model result
    value: Any
    unit: str
    norm_value: str
    verdict: str
    explanation: str
    document: str
    article: str
    url: str
    authority: str
    status_note: str
    origin: str  # "intervention" or "model <name>, run <id>"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RuleBook:
    """Norms with a spatial index; ``at`` gives those at a geometry in force on a date."""

    def __init__(self, norms: Iterable[Norm]):
        self.norms = list(norms)
        self._everywhere = [n for n in self.norms if n.location is None]
        self._located = [n for n in self.norms if n.location is not None]
        self._tree = STRtree([n.location for n in self._located]) if self._located else None
        text = orjson.dumps(
            sorted(
                [n.id, n.value.text(), str(n.valid_from), str(n.valid_until)] for n in self.norms
            )
        )
        self.hash = hashlib.sha256(text).hexdigest()

    def at(
        self,
        geometry,
        on: date,
        *,
        activity: str | None = None,
        subject: str | None = None,
    ) -> list[Norm]:
        found = list(self._everywhere)
        if self._tree is not None and geometry is not None:
            found += [self._located[i] for i in self._tree.query(geometry, predicate="intersects")]
        return sorted(
            (
                n
                for n in found
                if n.in_force(on)
                and (activity is None or n.activity == activity)
                and (subject is None or n.subject == subject)
            ),
            key=lambda n: (n.activity, n.subject, n.id),
        )


def rule_book(store: TwinStore) -> RuleBook:
    """Every norm the twin holds: imported rule sets and converted zoning plans."""
    layers = set(store.vector_layers())
    norms: list[Norm] = []
    if NORMS_LAYER in layers:
        from tweeling.sources.rulesets import stored_norm

        norms += [stored_norm(f.id, f.geometry, f.properties) for f in store.features(NORMS_LAYER)]
    if ZONING_LAYER in layers:
        from tweeling.sources.imro_norms import imro_norms

        objects = [(f.id, f.geometry, f.properties) for f in store.features(ZONING_LAYER)]
        converted = imro_norms(objects)
        norms += list(getattr(converted, "norms", converted))
    return RuleBook(norms)


def applies_here(store: TwinStore, geometry, on: date) -> list[Norm]:
    """The norms in force on ``on`` at a point, polygon or building footprint."""
    if geometry is None or geometry.is_empty:
        raise InputError("no location given", field="location")
    return rule_book(store).at(geometry, on)


def building_geometry(store: TwinStore, building_id: str, scenario: str | None = None):
    """A building's footprint (by object id or BAG id) as the scenario shows it."""
    found = store.lookup(BUILDINGS, [building_id], scenario=scenario).get(building_id)
    if found is None:
        matches = [
            f
            for f in store.features(BUILDINGS, scenario=scenario)
            if str(f.properties.get("bag_id", "")).endswith(building_id)
        ]
        if len(matches) != 1:
            raise InputError(
                f"no building {building_id!r} (an object id or a BAG pand id)",
                object_id=building_id,
            )
        found = matches[0]
    return found.geometry


# ------------------------------------------------------------------ checking a scenario


def check_scenario(store: TwinStore, scenario: str, on: date, *, user: str = "") -> FindingsRecord:
    """Judge a scenario's interventions and model results against the norms in force on
    ``on``; the findings are stored with the scenario version's content hash."""
    return checked(store, scenario, on, user=user, reuse=False)[0]


def checked(
    store: TwinStore, scenario: str, on: date, *, user: str = "", reuse: bool = True
) -> tuple[FindingsRecord, bool]:
    """The findings of a scenario on a date: the stored ones while the scenario version,
    the norms and the model runs are unchanged, else computed again; and whether they were
    re-used."""
    view = store.view(scenario)
    if view.is_baseline_head:
        raise InputError("name a scenario to check (the baseline has no interventions)")
    book = rule_book(store)
    if reuse:
        # one stored check per scenario and date (the table's key)
        stored = [r for r in store.findings(scenario) if r.on_date == on.isoformat()]
        if (
            stored
            and stored[0].content_hash == store.content_hash(scenario)
            and stored[0].rules_hash == _rules_and_runs_hash(store, scenario, book)
        ):
            return stored[0], True
    return _check(store, scenario, view, book, on, user), False


def _rules_and_runs_hash(store: TwinStore, scenario: str, book: RuleBook) -> str:
    """The norms and the scenario's model runs: a new run can turn 'cannot judge' around."""
    runs = sorted(r.id for r in store.runs() if r.scenario == scenario)
    return hashlib.sha256((book.hash + "\n" + ",".join(runs)).encode()).hexdigest()


def _check(store, scenario, view, book: RuleBook, on: date, user: str) -> FindingsRecord:
    findings = _check_buildings(store, scenario, view, book, on)
    findings += _check_models(store, scenario, view, book, on)
    record = FindingsRecord(
        scenario,
        on.isoformat(),
        store.content_hash(scenario),
        _rules_and_runs_hash(store, scenario, book),
        to_text(utc_now()),
        user or audit.current().actor,
        [f.to_dict() for f in findings],
    )
    with store.unit():
        store.record_findings(record)
        audit.record(
            store,
            "scenario.check",
            f"scenarios/{scenario}/findings/{record.on_date}",
            scenario=scenario,
            data={
                "on_date": record.on_date,
                "content_hash": record.content_hash,
                "rules_hash": record.rules_hash,
                "findings": len(record.findings),
            },
        )
    return record


def stale(store: TwinStore, record: FindingsRecord) -> bool:
    """Whether the scenario, the norms or its model runs changed since the findings were
    computed."""
    return store.content_hash(record.scenario) != record.content_hash or (
        _rules_and_runs_hash(store, record.scenario, rule_book(store)) != record.rules_hash
    )


def _finding(norm: Norm, obj: str, value: Any, origin: str) -> Finding:
    j = judge(norm, value)
    return Finding(
        norm.id,
        norm.name,
        norm.activity,
        norm.subject,
        obj,
        value,
        norm.value.unit,
        norm.value.text(),
        j.verdict,
        j.explanation,
        norm.reference.document,
        norm.reference.article,
        norm.reference.url,
        norm.authority,
        norm.status_note,
        origin,
    )


def _check_buildings(store, scenario, view, book: RuleBook, on: date) -> list[Finding]:
    if BUILDINGS not in store.vector_layers():
        return []
    diff = diff_views(store, view.root_view(), view, only=[BUILDINGS])
    changed = [c.id for c in diff.layers.get(BUILDINGS, []) if c.kind in ("added", "modified")]
    if not changed:
        return []
    found = store.lookup(BUILDINGS, changed, view=view)
    out = []
    for oid in changed:
        feature = found.get(oid)
        if feature is None:
            continue
        geom, props = feature.geometry, feature.properties
        for norm in book.at(geom, on, activity="bouwen"):
            value = _building_value(store, view, norm, geom, props)
            out.append(_finding(norm, f"{BUILDINGS}/{oid}", value, "intervention"))
    return out


def _building_value(store, view, norm: Norm, geom, props) -> Any:
    value = _measured(store, view, norm, geom, props)
    # informative norms (a dubbelbestemming: "assess against artikel N") judge a default
    return norm.extra.get("value_if_unknown") if value is None else value


def _measured(store, view, norm: Norm, geom, props) -> Any:
    if norm.subject in BUILDING_SUBJECTS:
        return props.get(BUILDING_SUBJECTS[norm.subject])
    if norm.subject == "within_building_plane":
        planes = norm.extra.get("building_planes_wkt")
        if not planes:
            return None
        inside = shapely.from_wkt(planes).buffer(0.01).covers(geom)
        return "true" if inside else "false"
    if norm.subject == "coverage_pct" and norm.location is not None:
        zone = norm.location
        built = [
            f.geometry.intersection(zone).area
            for f in store.features(BUILDINGS, bbox=zone.bounds, view=view)
        ]
        return round(100.0 * sum(built) / zone.area, 2) if zone.area > 0 else None
    return None


def _check_models(store, scenario, view, book: RuleBook, on: date) -> list[Finding]:
    from tweeling.models import registry

    out: list[Finding] = []
    runs = [r for r in store.runs() if r.scenario == scenario]
    cache: dict[tuple[str, str], str] = {}

    def hashed(v, layer: str) -> str:  # models share input layers (buildings): hash once
        key = (v.ref, layer)
        if key not in cache:
            cache[key] = store.content_hash(view=v, layers=[layer])
        return cache[key]

    present = set(store.vector_layers())
    for model_name, (activity, sources, output, columns) in MODEL_SUBJECTS.items():
        if not any(n.activity == activity for n in book.norms):
            continue
        if sources not in present or store.count(sources, scenario=scenario) == 0:
            continue
        inputs = registry.get(model_name).info.inputs
        layers = [layer for layer in inputs if layer in present]
        if not layers:
            continue
        current = {layer: hashed(view, layer) for layer in layers}
        base = {layer: hashed(view.root_view(), layer) for layer in layers}
        if current == base:
            continue  # the scenario does not touch what this model reads
        run = next(
            (
                r
                for r in reversed(runs)
                if r.model == model_name
                and all(r.inputs.get(layer) == h for layer, h in current.items())
            ),
            None,
        )
        if run is None:
            out.append(_no_run(book, activity, model_name, scenario))
            continue
        out += _judge_rows(store, view, book, on, run, activity, output, columns)
    return out


def _no_run(book: RuleBook, activity: str, model: str, scenario: str) -> Finding:
    return Finding(
        "*",
        f"norms for {activity}",
        activity,
        "*",
        f"scenario {scenario}",
        None,
        "",
        "",
        "cannot_judge",
        f"the scenario changes what model {model} reads, but no run of it on the current "
        f"version exists: run 'tweeling run {model} --scenario {scenario}' and check again",
        "",
        "",
        "",
        "",
        "",
        f"model {model}",
    )


def _judge_rows(store, view, book, on, run, activity, output, columns) -> list[Finding]:
    path = store.runs_dir / run.id / f"{output}.json"
    if not path.exists():
        raise InputError(f"run {run.id} has no {output} output", path=path)
    rows = json.loads(path.read_text(encoding="utf-8"))
    geoms = _row_locations(store, view, rows)
    origin = f"model {run.model}, run {run.id}"
    out = []
    for row in rows:
        where = geoms.get((row.get("layer"), str(row.get("id"))))
        if where is None:
            continue
        for subject, column in columns.items():
            if column not in row:
                continue
            value = row[column]
            if isinstance(value, bool):
                value = "true" if value else "false"
            for norm in book.at(where, on, activity=activity, subject=subject):
                out.append(_finding(norm, f"{row.get('layer')}/{row.get('id')}", value, origin))
    return out


def _row_locations(store, view, rows) -> dict:
    out = {}
    by_layer: dict[str, list[str]] = {}
    for row in rows:
        if "x_m" in row and "y_m" in row:
            out[(row.get("layer"), str(row.get("id")))] = shapely.Point(row["x_m"], row["y_m"])
        elif row.get("layer") in store.vector_layers():
            by_layer.setdefault(row["layer"], []).append(str(row["id"]))
    for layer, ids in by_layer.items():
        for oid, f in store.lookup(layer, ids, view=view).items():
            if f is not None:
                out[(layer, oid)] = f.geometry
    return out
