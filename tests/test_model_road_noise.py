"""The road-noise model end to end: a road, two rows of buildings, a scenario with more
traffic; runs stored, reproduced, and bad input refused before any work."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
import shapely

from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.core.interventions import Intervention
from tweeling.models.input_layers import ROAD_TRAFFIC
from tweeling.services import runs
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace

Y_ROAD = 447500.0
EXTENT = (84980.0, 447470.0, 85220.0, 447600.0)
# A row of houses 10 m north of the road (12 m high, 8 dwellings), a second row behind it
# (9 m, 4 dwellings), and an open strip to the west with no buildings.
FRONT = shapely.box(85080, Y_ROAD + 10, 85140, Y_ROAD + 22)
BACK = shapely.box(85080, Y_ROAD + 40, 85140, Y_ROAD + 50)


def road(aadt=10000.0, **extra):
    props = {
        "name": "Teststraat",
        "aadt_veh_per_day": aadt,
        "share_medium": 0.05,
        "share_heavy": 0.03,
        "speed_light_kmh": 50.0,
        "surface": "reference road surface",
        "traffic_source": "test figures",
        **extra,
    }
    line = shapely.LineString([(84800, Y_ROAD), (85400, Y_ROAD)])
    return FeatureRecord("road_traffic", "r1", line, ROAD_TRAFFIC.check("r1", line, props))


def write_town(store) -> None:
    """Two rows of houses along one road with a park: the twin the road-noise tests (and the
    API tests that run the model) compute on."""
    buildings = LayerSchema("buildings", "POLYGON", {"height_m": "REAL", "dwellings": "INTEGER"})
    green = LayerSchema("plant_cover", "POLYGON", {"kind": "TEXT"})
    park = shapely.box(84990, 447560, 85060, 447600)
    store.write(
        ImportBatch(
            "test:town",
            "test",
            [buildings, green],
            [
                FeatureRecord("buildings", "front", FRONT, {"height_m": 12.0, "dwellings": 8}),
                FeatureRecord("buildings", "back", BACK, {"height_m": 9.0, "dwellings": 4}),
                FeatureRecord("plant_cover", "park", park, {"kind": "grass"}),
            ],
        )
    )
    store.write(ImportBatch("test:roads", "test", [ROAD_TRAFFIC.schema()], [road()]))


@pytest.fixture
def ws(tmp_path, store_url):
    w = init_workspace(tmp_path / "twin", store=store_url())
    write_town(w.store)
    yield w
    w.close()


def facades(store, record) -> dict[str, dict]:
    rows = json.loads((store.runs_dir / record.id / "facades.json").read_text())
    return {r["id"]: r for r in rows}


def grid(store, record, name="lden"):
    with rasterio.open(store.runs_dir / record.id / f"{name}.tif") as src:
        return src.read(1), src.transform


def test_noise_at_facades_grid_and_dwellings(ws):
    st = ws.store
    rec, reused = runs.run_model(st, "road-noise", extent=EXTENT, params={"cell_m": 5})
    assert not reused and set(rec.inputs) == {"road_traffic", "buildings", "plant_cover"}
    rows = facades(st, rec)
    front, back = rows["front"], rows["back"]
    # 10 000 vehicles a day at 50 km/h, 10 m from the axis: a busy urban street
    assert 62.0 < front["lden_db"] < 72.0
    # the back row is screened by the front row and farther away; sound still reaches it
    # around the ends of the 60 m front row
    assert front["lden_db"] - back["lden_db"] > 6.0
    # Lden - Lnight depends only on the hourly fractions (same traffic mix in each period):
    # 10·lg[(12·0.065 + 4·0.035·10^0.5 + 8·0.01·10) / 24 / 0.01] = 9.26 dB
    expected = 10 * math.log10((12 * 0.065 + 4 * 0.035 * 10**0.5 + 8 * 0.01 * 10) / 24 / 0.01)
    for r in rows.values():
        assert r["lden_db"] - r["lnight_db"] == pytest.approx(expected, abs=0.02)
    values, transform = grid(st, rec)
    col = int((85010 - transform.c) / 5)  # the open strip west of the buildings
    row_near, row_far = (
        int((transform.f - (Y_ROAD + 12.5)) / 5),
        int((transform.f - (Y_ROAD + 47.5)) / 5),
    )
    assert values[row_near, col] > values[row_far, col] + 3.0  # farther from the road: quieter
    inside = int((transform.f - (Y_ROAD + 16)) / 5), int((85110 - transform.c) / 5)
    assert np.isnan(values[inside])  # no receivers inside buildings
    indicators = json.loads((st.runs_dir / rec.id / "indicators.json").read_text())
    per_class = {k: v["value"] for k, v in indicators.items() if k.startswith("dwellings_lden_")}
    assert sum(per_class.values()) == 12  # every dwelling in exactly one 5 dB class
    assert indicators["max_facade_lden"]["value"] == front["lden_db"]
    assert any("test figures" in n for n in rec.notes)


def test_twice_the_traffic_is_3_db_more_and_runs_reproduce(ws):
    st = ws.store
    base, _ = runs.run_model(st, "road-noise", extent=EXTENT)
    sc.create_scenario(st, "busier")
    sc.apply_interventions(
        st,
        "busier",
        [
            Intervention(
                "modify",
                "twice the traffic",
                layer="road_traffic",
                id="r1",
                properties={"aadt_veh_per_day": 20000.0},
            )
        ],
    )
    busier, _ = runs.run_model(st, "road-noise", scenario="busier", extent=EXTENT)
    assert busier.inputs["road_traffic"] != base.inputs["road_traffic"]
    a, b = facades(st, base), facades(st, busier)
    for oid in a:
        assert b[oid]["lden_db"] - a[oid]["lden_db"] == pytest.approx(10 * math.log10(2), abs=0.02)
    # demolishing the front row exposes the back row (its most exposed facade point, a
    # corner, already saw much of the road past the ends of the front row)
    sc.create_scenario(st, "demolished")
    sc.apply_interventions(
        st, "demolished", [Intervention("remove", "demolish", layer="buildings", id="front")]
    )
    open_, _ = runs.run_model(st, "road-noise", scenario="demolished", extent=EXTENT)
    assert facades(st, open_)["back"]["lden_db"] - a["back"]["lden_db"] > 2.0
    again = runs.reproduce(st, busier.id)
    assert again.identical and again.inputs_equal and again.code_equal
    _, reused = runs.run_model(st, "road-noise", scenario="busier", extent=EXTENT)
    assert reused


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"aadt_veh_per_day": -5.0}, "aadt_veh_per_day"),
        ({"surface": "cobbles"}, "cobbles"),
        ({"share_heavy": 0.7, "share_medium": 0.5}, "exceeds 1"),
        ({"speed_light_kmh": 0.0}, "speed_light_kmh"),
    ],
)
def test_bad_traffic_in_a_scenario_is_refused_by_name(ws, change, message):
    st = ws.store
    sc.create_scenario(st, "bad")
    sc.apply_interventions(
        st, "bad", [Intervention("modify", "bad", layer="road_traffic", id="r1", properties=change)]
    )
    with pytest.raises(InputError, match=message) as err:
        runs.run_model(st, "road-noise", scenario="bad", extent=EXTENT)
    assert "road_traffic/r1" in str(err.value)
    assert st.runs() == [] and not (st.runs_dir.exists() and any(st.runs_dir.iterdir()))


def test_bad_parameters_extent_and_scenario_are_refused(ws):
    st = ws.store
    with pytest.raises(InputError, match="cell_m"):
        runs.run_model(st, "road-noise", extent=EXTENT, params={"cell_m": 0})
    with pytest.raises(InputError, match="hourly traffic fractions"):
        runs.run_model(st, "road-noise", extent=EXTENT, params={"night_fraction_per_h": 0.05})
    with pytest.raises(InputError, match="empty"):
        runs.run_model(st, "road-noise", extent=(85000, 447500, 85000, 447600))
    with pytest.raises(NotFoundError):
        runs.run_model(st, "road-noise", scenario="nope", extent=EXTENT)
    far = (95000.0, 457000.0, 95100.0, 457100.0)
    st.set_area_of_interest((84000.0, 446000.0, 96000.0, 458000.0))
    with pytest.raises(InputError, match="no road_traffic"):
        runs.run_model(st, "road-noise", extent=far)
    assert st.runs() == []
