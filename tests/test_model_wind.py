"""The wind-turbines model end to end: a small twin with turbines and buildings, runs through
the run service, scenarios that add and change turbines, reproduction, and bad input.

Physical properties checked (what a user relies on): noise falls by 20·lg of the distance
ratio plus absorption; two identical turbines give +3 dB; fewer operating hours lower the
level by 10·lg of the ratio; no shadow flicker due south of a turbine at 52° N but some
north-east and north-west of it; objects inside the safety contours are exactly those
nearer than the contour distance.
"""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
import rasterio
import shapely

from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, FieldType, ImportBatch, LayerSchema
from tweeling.core.interventions import Intervention
from tweeling.methods import noise_iso9613 as iso
from tweeling.methods import shadow_flicker as sf
from tweeling.models.input_layers import OCTAVE_FIELDS
from tweeling.services import runs
from tweeling.services import scenarios as sc
from tweeling.services.importing import import_source
from tweeling.services.workspace import init_workspace

X0, Y0 = 85000.0, 447000.0  # the turbine
HUB, ROTOR = 120.0, 120.0
# illustrative A-weighted octave sound power, 63 Hz .. 8 kHz: 105.9 dB(A) in total
SPECTRUM = [88.0, 95.0, 98.5, 100.0, 100.0, 97.5, 92.5, 83.0]
FAST = {"flicker_time_step_min": 30}  # coarse sun path: keeps the tests quick
HALF = 5.0  # buildings are 10 m squares

# building id -> centre offset (dx, dy) from the turbine
BUILDINGS = {
    "east-205": (210.0, 0.0),  # facade 205 m east
    "east-405": (410.0, 0.0),
    "east-805": (810.0, 0.0),
    "south-300": (0.0, -305.0),  # due south: never flicker at 52° N
    "ne-250": (180.0, 180.0),
    "nw-250": (-180.0, 180.0),
    "west-1600": (-1600.0, 0.0),  # beyond 12 rotor diameters: no flicker
    "far-2500": (0.0, 2500.0),  # beyond the relevance distance
}


def turbine_properties(**kw) -> dict:
    props = {
        "name": "T1",
        "turbine_type": "Test 120/120",
        "hub_height_m": HUB,
        "rotor_diameter_m": ROTOR,
        "operating_hours_per_yr": 8760.0,
        "ground_height_m": 0.0,
        **dict(zip(OCTAVE_FIELDS, SPECTRUM, strict=True)),
    }
    props.update(kw)
    return props


@pytest.fixture
def ws(tmp_path, store_url):
    w = init_workspace(tmp_path / "twin", store=store_url())
    schema = LayerSchema(
        "buildings", "POLYGON", {"height_m": FieldType.REAL, "ground_height_m": FieldType.REAL}
    )
    records = [
        FeatureRecord(
            "buildings",
            oid,
            shapely.box(X0 + dx - HALF, Y0 + dy - HALF, X0 + dx + HALF, Y0 + dy + HALF),
            {"height_m": 8.0, "ground_height_m": 0.0},
        )
        for oid, (dx, dy) in BUILDINGS.items()
    ]
    w.store.write(ImportBatch("test:buildings", "b.json", [schema], records, total=len(records)))
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::28992"}},
        "features": [
            {
                "type": "Feature",
                "id": "t1",
                "geometry": {"type": "Point", "coordinates": [X0, Y0]},
                "properties": turbine_properties(),
            }
        ],
    }
    path = tmp_path / "turbines.geojson"
    path.write_bytes(orjson.dumps(doc))
    import_source(w, "model-inputs", [path], options={"layer": "wind_turbines"})
    yield w
    w.close()


def run(st, scenario=None, **params):
    rec, _ = runs.run_model(st, "wind-turbines", scenario=scenario, params={**FAST, **params})
    rows = orjson.loads((st.runs_dir / rec.id / "buildings.json").read_bytes())
    indicators = orjson.loads((st.runs_dir / rec.id / "indicators.json").read_bytes())
    return rec, {r["id"]: r for r in rows}, indicators


def add_turbine(oid: str, dx: float, dy: float, **props) -> Intervention:
    return Intervention(
        "add",
        f"turbine {oid}",
        "test",
        layer="wind_turbines",
        id=oid,
        geometry=shapely.Point(X0 + dx, Y0 + dy),
        properties=turbine_properties(name=oid, **props),
    )


def modify_turbine(**props) -> Intervention:
    return Intervention("modify", "change t1", "test", layer="wind_turbines", id="t1",
                        properties=props)  # fmt: skip


def test_noise_falls_with_distance_by_divergence_and_absorption(ws):
    rec, rows, ind = run(ws.store, ground_factor=0.0)
    assert "far-2500" not in rows and len(rows) == len(BUILDINGS) - 1
    assert any("farther than 2000 m" in n for n in rec.notes)

    def slant(facade_m):  # source at hub height, receiver 5 m above the same ground
        return math.hypot(facade_m, HUB - 5.0)

    for near, far in (("east-205", "east-405"), ("east-405", "east-805")):
        d1, d2 = (slant(float(k.split("-")[1])) for k in (near, far))
        drop = rows[near]["lden_db"] - rows[far]["lden_db"]
        spreading = 20 * math.log10(d2 / d1)
        # hard ground (G = 0) gives a constant A_gr here (q = 0), so the rest is absorption
        assert spreading < drop < spreading + 3.0
    # L_night is the equivalent level; L_den of equal day, evening and night levels is +6.4 dB
    for r in rows.values():
        assert r["lden_db"] - r["lnight_db"] == pytest.approx(6.4, abs=0.02)
    assert ind["max_lden_db"]["value"] == rows["east-205"]["lden_db"]
    # a hand calculation at 405 m from ISO 9613-2 with hard ground: A_gr = -3 dB in each band
    d = slant(405.0)
    band = np.array(SPECTRUM) - (20 * math.log10(d) + 11) + 3.0
    band -= iso.atmospheric_attenuation_db(d, 10.0, 80.0)
    assert rows["east-405"]["lnight_db"] == pytest.approx(iso.energetic_sum_db(band), abs=0.01)
    # porous ground lowers the levels at a distance
    _, soft, _ = run(ws.store, ground_factor=1.0)
    assert soft["east-805"]["lden_db"] < rows["east-805"]["lden_db"]


def test_grid_covers_the_relevance_area(ws):
    rec, rows, _ = run(ws.store)
    with rasterio.open(ws.store.runs_dir / rec.id / "lden.tif") as src:
        assert src.crs.to_epsg() == 28992 and src.res == (10.0, 10.0)
        values = src.read(1)
        west, north = src.transform.c, src.transform.f
    # at most 2000 m around the turbine, within the twin's area
    assert west >= X0 - 2010 and north <= Y0 + 2010 and max(values.shape) <= 401
    row, col = int((north - Y0) // 10), int((X0 + 400 - west) // 10)  # 400 m east
    assert abs(values[row, col] - rows["east-405"]["lden_db"]) < 0.5
    assert np.isnan(values[0, 0])  # the corner is beyond 2000 m
    assert np.nanmax(values) > rows["east-205"]["lden_db"]


def test_progress_is_reported_and_an_extent_without_buildings_still_gives_a_grid(ws):
    seen = []
    rec, _ = runs.run_model(
        ws.store,
        "wind-turbines",
        params=FAST,
        extent=(X0 - 150, Y0 - 150, X0 + 150, Y0 + 150),
        progress=lambda fraction, what: seen.append(fraction),
    )
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert rec.outputs["buildings"]["count"] == 0
    assert rec.outputs["lden"]["shape"] == [30, 30]  # the extent at 10 m
    assert any("0 buildings assessed" in n for n in rec.notes)


def test_two_identical_turbines_add_3_db_and_fewer_hours_lower_the_level(ws):
    st = ws.store
    _, base, _ = run(st)
    sc.create_scenario(st, "pair")
    # a second turbine mirrored in the north-south line through "south-300"
    sc.apply_interventions(st, "pair", [add_turbine("t2", 0.0, -610.0)])
    rec, pair, ind = run(st, "pair")
    assert pair["south-300"]["lden_db"] - base["south-300"]["lden_db"] == pytest.approx(
        10 * math.log10(2), abs=0.02
    )
    assert ind["turbines"]["value"] == 2
    assert runs.reproduce(st, rec.id).identical

    sc.create_scenario(st, "night-stop")
    sc.apply_interventions(st, "night-stop", [modify_turbine(operating_hours_per_yr=876.0)])
    _, fewer, _ = run(st, "night-stop")
    for oid, r in base.items():
        assert r["lden_db"] - fewer[oid]["lden_db"] == pytest.approx(10.0, abs=0.02)


def test_shadow_flicker_by_direction_and_distance(ws):
    _, rows, ind = run(ws.store)
    assert rows["south-300"]["flicker_worst_h_per_yr"] == 0
    assert rows["west-1600"]["flicker_worst_h_per_yr"] == 0  # beyond 12 D = 1440 m
    for oid in ("ne-250", "nw-250", "east-205"):
        hours = rows[oid]["flicker_worst_h_per_yr"]
        # the astronomical worst case near a large turbine: tens to a few hundred hours
        # (the sun is above 3° for about 4 300 h a year, in the rotor's cone a fraction of it)
        assert 5 < hours < 500, (oid, hours)
        assert 0 < rows[oid]["flicker_worst_days_over_20_min"] <= 366
    assert rows["east-205"]["flicker_worst_h_per_yr"] > rows["east-805"]["flicker_worst_h_per_yr"]
    assert ind["buildings_with_flicker_worst_case"]["value"] >= 4
    assert "flicker_expected_h_per_yr" not in rows["ne-250"]
    # the same receptors with a finer sun path: close to the coarse estimate
    _, fine, _ = run(ws.store, flicker_time_step_min=10)
    coarse, finer = (
        rows["ne-250"]["flicker_worst_h_per_yr"],
        fine["ne-250"]["flicker_worst_h_per_yr"],
    )
    assert abs(coarse - finer) <= 0.25 * finer


def test_expected_flicker_needs_climate_and_is_at_most_the_worst_case(ws):
    rec, rows, ind = run(
        ws.store,
        sunshine_fraction_by_month=[0.4] * 12,
        wind_sector_fraction=[1 / 12] * 12,
    )
    for r in rows.values():
        assert 0 <= r["flicker_expected_h_per_yr"] <= r["flicker_worst_h_per_yr"]
    assert (
        0
        < rows["ne-250"]["flicker_expected_h_per_yr"]
        < 0.4 * rows["ne-250"]["flicker_worst_h_per_yr"]
    )
    assert ind["max_flicker_expected_h_per_yr"]["value"] > 0
    assert not any("not computed" in n for n in rec.notes)


def test_buildings_inside_the_risk_contours_are_those_nearer_than_the_distance(ws):
    rec, rows, ind = run(ws.store)
    assert "within_ir_1e-6" not in rows["east-205"]
    assert any("safety not assessed" in n for n in rec.notes)
    _, rows, ind = run(ws.store, ir_contour_distances_m={"*": [250.0, 406.0]})
    mast = shapely.Point(X0, Y0)
    d = {
        oid: shapely.box(X0 + x - HALF, Y0 + y - HALF, X0 + x + HALF, Y0 + y + HALF).distance(mast)
        for oid, (x, y) in BUILDINGS.items()
    }
    for oid, r in rows.items():
        assert r["within_ir_1e-5"] == (d[oid] <= 250.0), oid
        assert r["within_ir_1e-6"] == (d[oid] <= 406.0), oid
    assert {k for k, r in rows.items() if r["within_ir_1e-6"]} == {
        "east-205", "east-405", "south-300", "ne-250", "nw-250"
    }  # fmt: skip
    assert ind["buildings_within_ir_1e-5"]["value"] == 3  # east-205, ne-250, nw-250
    # per turbine type; a type without distances is refused
    with pytest.raises(InputError, match="no contour distances for turbine type 'Test 120/120'"):
        runs.run_model(ws.store, "wind-turbines", params={"ir_contour_distances_m": {"X": [1, 2]}})


@pytest.fixture
def no_heavy_work(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("heavy work started despite invalid input")

    monkeypatch.setattr(sf, "sun_positions", boom)
    monkeypatch.setattr(iso, "geometric_divergence_db", boom)


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        ({"hub_height_m": 50.0}, "not above the rotor radius", "hub_height_m"),
        ({OCTAVE_FIELDS[4]: -3.0}, "must be within", OCTAVE_FIELDS[4]),  # 1 kHz
        ({OCTAVE_FIELDS[3]: 200.0}, "must be within", OCTAVE_FIELDS[3]),  # 500 Hz
        ({"operating_hours_per_yr": 9000.0}, "must be within", "operating_hours_per_yr"),
    ],
)
def test_bad_turbines_are_refused_before_any_work(ws, no_heavy_work, change, message, field):
    st = ws.store
    sc.create_scenario(st, "bad")
    sc.apply_interventions(st, "bad", [modify_turbine(**change)])
    with pytest.raises(InputError, match=message) as err:
        runs.run_model(st, "wind-turbines", scenario="bad")
    assert err.value.field == field and err.value.object_id == "wind_turbines/t1"
    assert st.runs() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"params": {"colour": 1}}, "has no parameter 'colour'"),
        ({"params": {"ground_factor": 1.5}}, r"ground_factor = 1.5 must be within \[0, 1\]"),
        ({"params": {"wind_sector_fraction": [1 / 12] * 12}}, "sunshine_fraction_by_month is"),
        (
            {
                "params": {
                    "sunshine_fraction_by_month": [0.4] * 12,
                    "wind_sector_fraction": [0.1] * 12,
                }
            },
            "must sum to 1",
        ),
        (
            {
                "params": {
                    "sunshine_fraction_by_month": [0.4] * 11,
                    "wind_sector_fraction": [1 / 12] * 12,
                }
            },
            "list of 12 fractions",
        ),
        ({"params": {"ir_contour_distances_m": {"*": [300, 200]}}}, "d_1e-5 <= d_1e-6"),
        ({"params": {"grid_cell_m": 1.0, "relevance_distance_m": 5000}}, "cells"),
        (
            {
                "extent": (X0 + 400, Y0 - 50, X0 + 900, Y0 + 50),
                "params": {"relevance_distance_m": 300},
            },
            "no wind turbines within relevance_distance_m",
        ),
        ({"extent": (X0, Y0, X0, Y0 + 10)}, "is empty"),
    ],
)
def test_bad_parameters_and_extents_are_refused_before_any_work(ws, no_heavy_work, kwargs, message):
    with pytest.raises(InputError, match=message):
        runs.run_model(ws.store, "wind-turbines", **kwargs)
    assert ws.store.runs() == []


def test_parameters_as_text_from_the_command_line(ws):
    # `-p wind_sector_fraction=[...]` arrives as text; JSON text is accepted
    _, rows, _ = run(
        ws.store,
        sunshine_fraction_by_month="[" + ",".join(["0.5"] * 12) + "]",
        wind_sector_fraction="[" + ",".join(["0.25", "0.25", "0.25", "0.25"] + ["0"] * 8) + "]",
    )
    assert "flicker_expected_h_per_yr" in rows["ne-250"]
    with pytest.raises(InputError, match="not valid JSON"):
        runs.run_model(ws.store, "wind-turbines", params={"ir_contour_distances_m": "{oops"})
