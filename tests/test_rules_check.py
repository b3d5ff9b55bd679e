"""Checking a scenario against norms in force, and "what applies here": a small twin with two
buildings, a road and a hand-written set of norms."""

from __future__ import annotations

from datetime import date

import pytest
import shapely

from tests.test_model_road_noise import road
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.core.interventions import Intervention
from tweeling.core.rules import (
    NORM_FIELDS,
    NORMS_LAYER,
    LegalReference,
    Norm,
    NormValue,
    judge,
    norm_properties,
)
from tweeling.models.input_layers import ROAD_TRAFFIC
from tweeling.services import rules, runs
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace

ZONE = shapely.box(85000, 447500, 85100, 447600)  # where the height limit holds
NL = shapely.box(0, 300000, 300000, 625000)  # stands for "everywhere" in the stored layer
TODAY = date(2026, 11, 28)


def norm(nid, subject, comparison, value, unit="", *, location=ZONE, activity="bouwen", **kw):
    nv = NormValue(value, unit) if unit else NormValue(values=tuple(value))
    return Norm(
        nid,
        "omgevingsnorm",
        kw.pop("name", nid),
        activity,
        subject,
        comparison,
        nv,
        LegalReference("Test rule set", kw.pop("article", "art. 1"), "https://example.org/r"),
        "gemeente Test",
        location=location,
        **kw,
    )


NORMS = [
    norm("height-10", "building_height_m", "maximum", 10.0, "m", valid_from=date(2020, 1, 1)),
    norm(
        "height-5-from-2030", "building_height_m", "maximum", 5.0, "m", valid_from=date(2030, 1, 1)
    ),
    norm("height-ended", "building_height_m", "maximum", 3.0, "m", valid_until=date(2019, 1, 1)),
    norm("function", "function", "allowed", ["wonen"]),
    norm(
        "road-standard",
        "lden_db",
        "permit_above",
        53.0,
        "dB",
        activity="weg",
        location=None,
        extra={"everywhere": True},
    ),
    norm(
        "road-limit",
        "lden_db",
        "maximum",
        70.0,
        "dB",
        activity="weg",
        location=None,
        extra={"everywhere": True},
    ),
]


@pytest.fixture
def ws(tmp_path, store_url):
    w = init_workspace(tmp_path / "twin", store=store_url())
    buildings = LayerSchema("buildings", "POLYGON", {"height_m": "REAL", "function": "TEXT"})
    green = LayerSchema("plant_cover", "POLYGON", {"kind": "TEXT"})
    schema = LayerSchema(NORMS_LAYER, "GEOMETRY", NORM_FIELDS)
    records = [
        FeatureRecord(
            NORMS_LAYER, n.id, n.location if n.location is not None else NL, norm_properties(n)
        )
        for n in NORMS
    ]
    w.store.write(
        ImportBatch(
            "test:town",
            "test",
            [buildings, green, schema, ROAD_TRAFFIC.schema()],
            [
                FeatureRecord(
                    "buildings",
                    "in-zone",
                    shapely.box(85020, 447520, 85040, 447540),
                    {"height_m": 8.0, "function": "wonen"},
                ),
                FeatureRecord(
                    "buildings",
                    "outside",
                    shapely.box(85200, 447520, 85220, 447540),
                    {"height_m": 8.0, "function": "wonen"},
                ),
                road(),
                *records,
            ],
        )
    )
    yield w
    w.close()


def taller(ws, name="taller", height=14.0, function="wonen"):
    sc.create_scenario(ws.store, name)
    sc.apply_interventions(
        ws.store,
        name,
        [
            Intervention(
                "modify",
                "taller",
                layer="buildings",
                id="in-zone",
                properties={"height_m": height, "function": function},
            )
        ],
    )


def test_what_applies_here_respects_location_and_validity(ws):
    inside = rules.applies_here(ws.store, shapely.Point(85050, 447550), TODAY)
    assert {n.id for n in inside} == {"height-10", "function", "road-standard", "road-limit"}
    outside = rules.applies_here(ws.store, shapely.Point(85300, 447550), TODAY)
    assert {n.id for n in outside} == {"road-standard", "road-limit"}  # everywhere only
    later = rules.applies_here(ws.store, shapely.Point(85050, 447550), date(2031, 1, 1))
    assert "height-5-from-2030" in {n.id for n in later}  # in force from 2030 on
    past = rules.applies_here(ws.store, shapely.Point(85050, 447550), date(2018, 6, 1))
    assert "height-ended" in {n.id for n in past} and "height-10" not in {n.id for n in past}
    footprint = rules.building_geometry(ws.store, "in-zone")
    assert {n.id for n in rules.applies_here(ws.store, footprint, TODAY)} >= {"height-10"}
    with pytest.raises(InputError, match="no building"):
        rules.building_geometry(ws.store, "nope")


def test_a_building_raised_above_the_maximum_exceeds(ws):
    taller(ws)
    record = rules.check_scenario(ws.store, "taller", TODAY, user="ana")
    by_rule = {f["rule"]: f for f in record.findings}
    height = by_rule["height-10"]
    assert height["verdict"] == "exceeds" and height["value"] == 14.0
    assert height["object"] == "buildings/in-zone" and height["document"] == "Test rule set"
    assert by_rule["function"]["verdict"] == "complies"
    assert "height-5-from-2030" not in by_rule  # not yet in force
    # the same scenario checked for 2031 also meets the stricter future norm
    later = {
        f["rule"]: f for f in rules.check_scenario(ws.store, "taller", date(2031, 1, 1)).findings
    }
    assert later["height-5-from-2030"]["verdict"] == "exceeds"
    stored = ws.store.findings("taller")
    assert [r.on_date for r in stored] == ["2026-11-28", "2031-01-01"]
    assert not rules.stale(ws.store, stored[0])


def test_a_building_within_the_maximum_complies_and_findings_go_stale(ws):
    taller(ws, height=9.5, function="kantoor")
    record = rules.check_scenario(ws.store, "taller", TODAY)
    verdicts = {f["rule"]: f["verdict"] for f in record.findings}
    # a changed building also changes road-noise screening: without a run, not judged
    assert verdicts == {"height-10": "complies", "function": "needs_permit", "*": "cannot_judge"}
    sc.apply_interventions(
        ws.store,
        "taller",
        [
            Intervention(
                "modify", "higher", layer="buildings", id="in-zone", properties={"height_m": 12.0}
            )
        ],
    )
    assert rules.stale(ws.store, ws.store.findings("taller")[0])
    again, reused = rules.checked(ws.store, "taller", TODAY)
    assert not reused  # the scenario changed: computed again
    assert {f["rule"]: f["verdict"] for f in again.findings}["height-10"] == "exceeds"
    same, reused = rules.checked(ws.store, "taller", TODAY)
    assert reused and same == again  # nothing changed: the stored findings


def test_every_comparison_is_judged():
    def n(comparison, value, unit="m", **kw):
        return norm("x", "building_height_m", comparison, value, unit, **kw)

    assert judge(n("maximum", 10.0), 10.0).verdict == "complies"
    assert judge(n("maximum", 10.0), 10.5).verdict == "exceeds"
    assert judge(n("minimum", 2.5), 2.4).verdict == "exceeds"
    assert judge(n("minimum", 2.5), 2.5).verdict == "complies"
    assert judge(n("permit_above", 53.0, "dB"), 55.0).verdict == "needs_permit"
    allowed = norm("f", "function", "allowed", ["wonen"])
    assert judge(allowed, "wonen").verdict == "complies"
    assert judge(allowed, "industrie").verdict == "needs_permit"
    hard = norm("p", "within_building_plane", "allowed", ["true"], extra={"otherwise": "exceeds"})
    assert judge(hard, "false").verdict == "exceeds"
    assert judge(n("maximum", 10.0), None).verdict == "cannot_judge"
    with pytest.raises(InputError, match="unit"):
        NormValue(3.0, "")
    with pytest.raises(InputError, match="allowed"):
        norm("bad", "function", "allowed", 3.0, "m")


def test_model_results_are_judged_and_a_missing_run_cannot_be(ws):
    sc.create_scenario(ws.store, "busier")
    sc.apply_interventions(
        ws.store,
        "busier",
        [
            Intervention(
                "modify",
                "more traffic",
                layer="road_traffic",
                id="r1",
                properties={"aadt_veh_per_day": 40000.0},
            )
        ],
    )
    first = rules.check_scenario(ws.store, "busier", TODAY).findings
    assert [f["verdict"] for f in first] == ["cannot_judge"]
    assert "tweeling run road-noise --scenario busier" in first[0]["explanation"]
    extent = (84980.0, 447470.0, 85260.0, 447620.0)
    run, _ = runs.run_model(ws.store, "road-noise", scenario="busier", extent=extent)
    found = rules.check_scenario(ws.store, "busier", TODAY).findings
    per_building = {(f["object"], f["rule"]): f for f in found}
    near = per_building[("buildings/in-zone", "road-standard")]
    assert near["origin"] == f"model road-noise, run {run.id}"
    assert near["value"] > 53.0 and near["verdict"] == "needs_permit"
    assert per_building[("buildings/in-zone", "road-limit")]["verdict"] in ("complies", "exceeds")


def test_checking_needs_a_scenario(ws):
    with pytest.raises(InputError, match="name a scenario"):
        rules.check_scenario(ws.store, None, TODAY)
