"""The nitrogen-deposition model end to end: sources and Natura 2000 sites in a small twin,
run through the run service, compared with the baseline, reproduced; bad input refused
before any computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from tests.test_cli import tw
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.core.interventions import Intervention
from tweeling.methods import gaussian_plume as gp
from tweeling.methods import hexgrid as hg
from tweeling.models.input_layers import NITROGEN_SOURCES
from tweeling.services import runs
from tweeling.services import scenarios as sc
from tweeling.services.importing import import_source
from tweeling.services.workspace import init_workspace
from tweeling.sources.interventions import read_interventions

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WIND_ROSE_FILE = EXAMPLES / "model-inputs" / "wind-rose-illustrative.json"
MODEL = "nitrogen-deposition"

SITES_SCHEMA = LayerSchema(
    "natura2000",
    "MULTIPOLYGON",
    {
        "naam": "TEXT",
        "sitecode": "TEXT",
        "n2000_nummer": "INTEGER",
        "stikstofgevoelig": "BOOLEAN",
        "richtlijn": "TEXT",
    },
)
# A farm at (150 000, 450 000) between two 1 km² sites 2.5–3.5 km north and south of it; a
# site without nitrogen-sensitive habitats to the east; a sensitive site 40 km away and a
# source 30 km east of everything (both beyond the 25 km cutoff).
SITES = {
    "N1": ("Noordduin", True, (149_500, 452_500, 150_500, 453_500)),
    "N2": ("Zuidheide", True, (149_500, 446_500, 150_500, 447_500)),
    "N3": ("Vogelpolder", False, (152_500, 449_500, 153_500, 450_500)),
    "N4": ("Verre Ven", True, (149_500, 489_500, 150_500, 490_500)),
}
FARM = ("farm", shapely.Point(150_000, 450_000), 5_000.0)
REMOTE = ("remote", shapely.Point(180_000, 450_000), 1_000.0)


def wind_rose(from_sector: int = 6) -> dict:
    """A 2 % breeze in class D from every sector, the rest from ``from_sector`` (6: south)."""
    f = np.zeros((12, 6))
    f[:, 3] = 0.02
    f[from_sector, 3] += 0.76
    return {"frequency": f.tolist(), "wind_speed_m_s": [2.0, 3.0, 4.0, 5.0, 3.0, 2.0]}


ROSE = wind_rose()


def site(fid, name, sensitive, box) -> FeatureRecord:
    props = {"naam": name, "sitecode": fid, "n2000_nummer": int(fid[1:]), "richtlijn": "HR"}
    props["stikstofgevoelig"] = sensitive
    return FeatureRecord("natura2000", fid, shapely.MultiPolygon([shapely.box(*box)]), props)


def source(fid, geom, nh3=0.0, nox=0.0, height=5.0, heat=0.0) -> FeatureRecord:
    props = {"name": fid, "sector": "test", "nh3_kg_per_yr": nh3, "nox_kg_per_yr": nox}
    props |= {"emission_height_m": height, "heat_content_mw": heat}
    return FeatureRecord("nitrogen_sources", fid, geom, NITROGEN_SOURCES.check(fid, geom, props))


def write_sites(ws, sites=SITES) -> None:
    records = [site(fid, *v) for fid, v in sites.items()]
    ws.store.write(ImportBatch("test:natura2000", "n2000.json", [SITES_SCHEMA], records))


def write_sources(ws, records) -> None:
    ws.store.write(ImportBatch("test:sources", "src.json", [NITROGEN_SOURCES.schema()], records))


@pytest.fixture
def ws(tmp_path, store_url):
    w = init_workspace(tmp_path / "twin", store=store_url())
    write_sites(w)
    write_sources(w, [source(FARM[0], FARM[1], nh3=FARM[2]), source(*REMOTE[:2], nh3=REMOTE[2])])
    yield w
    w.close()


def run(ws, scenario=None, **params):
    rec, _ = runs.run_model(
        ws.store, MODEL, scenario=scenario, params={"wind_rose": ROSE, **params}
    )
    return rec


def rows_of(ws, rec) -> dict[str, dict]:
    import orjson

    rows = orjson.loads((ws.store.runs_dir / rec.id / "hexagons.json").read_bytes())
    return {r["id"]: r for r in rows}


def indicators_of(ws, rec) -> dict:
    import orjson

    data = orjson.loads((ws.store.runs_dir / rec.id / "indicators.json").read_bytes())
    return {k: v["value"] for k, v in data.items()}


def add(fid, geom, **kw) -> Intervention:
    rec = source(fid, geom, **kw)
    return Intervention(
        "add",
        f"add {fid}",
        layer="nitrogen_sources",
        id=fid,
        geometry=geom,
        properties=rec.properties,
    )


def scenario(ws, name, interventions) -> str:
    sc.create_scenario(ws.store, name)
    sc.apply_interventions(ws.store, name, interventions)
    return name


def test_hexagons_of_sensitive_sites_downwind_get_more(ws):
    rec = run(ws)
    rows = rows_of(ws, rec)
    sites = {r["site"] for r in rows.values()}
    assert sites == {"Noordduin", "Zuidheide"}  # not the insensitive one, not the far one
    # ids are AERIUS receptor ids whose centres lie in the site
    ids = np.array([int(i) for i in rows], dtype=np.int64)
    x, y = hg.hexagon_centres(ids)
    np.testing.assert_allclose(x, [r["x_m"] for r in rows.values()], atol=1e-3)
    np.testing.assert_allclose(y, [r["y_m"] for r in rows.values()], atol=1e-3)
    north = [r for r in rows.values() if r["site"] == "Noordduin"]
    south = [r for r in rows.values() if r["site"] == "Zuidheide"]
    assert len(north) == pytest.approx(100, abs=8) and len(south) == pytest.approx(100, abs=8)
    # wind mostly from the south: the northern site lies downwind
    dep = "deposition_mol_n_per_ha_per_yr"
    assert min(r[dep] for r in south) > 0
    assert max(r[dep] for r in north) > 5 * max(r[dep] for r in south)
    for r in rows.values():
        assert (
            r[dep] == pytest.approx(r["nh3_mol_n_per_ha_per_yr"])
            and r["nox_mol_n_per_ha_per_yr"] == 0
        )
    ind = indicators_of(ws, rec)
    assert ind["hexagons"] == len(rows) and ind["sites"] == 2
    assert ind["deposition_max_mol_n_per_ha_per_yr"] == max(r[dep] for r in north)
    assert ind["site_max_mol_n_per_ha_per_yr: Zuidheide"] == max(r[dep] for r in south)
    assert ind["deposition_sum_mol_n_per_yr"] == pytest.approx(sum(r[dep] for r in rows.values()))
    assert (ind["sources_used"], ind["sources_skipped"], ind["cutoff_distance_m"]) == (1, 1, 25_000)
    assert "difference_max_mol_n_per_ha_per_yr" not in ind  # a baseline run compares nothing
    notes = " ".join(rec.notes)
    left_out = "Sources left out, without any receptor hexagon within the cutoff distance"
    assert f"{left_out} of 25000 m: 1 of 2 (remote)." in notes
    assert "Vogelpolder" in notes and "Verre Ven" not in notes
    # every site when asked; a wind from the north turns the picture round
    every = rows_of(ws, run(ws, sensitive_sites_only=False))
    assert {r["site"] for r in every.values()} == {"Noordduin", "Zuidheide", "Vogelpolder"}
    rec_n, _ = runs.run_model(ws.store, MODEL, params={"wind_rose": wind_rose(from_sector=0)})
    turned = rows_of(ws, rec_n)
    assert max(turned[i][dep] for i in rows if rows[i]["site"] == "Zuidheide") > 5 * max(
        turned[i][dep] for i in rows if rows[i]["site"] == "Noordduin"
    )


def test_deposition_is_linear_in_the_emission(ws):
    base = rows_of(ws, run(ws))
    half = scenario(
        ws,
        "half",
        [
            Intervention(
                "modify",
                "half the farm",
                layer="nitrogen_sources",
                id="farm",
                properties={"nh3_kg_per_yr": FARM[2] / 2},
            )
        ],
    )
    rows = rows_of(ws, run(ws, half))
    assert rows.keys() == base.keys()
    for rid, r in rows.items():
        b = base[rid]["deposition_mol_n_per_ha_per_yr"]
        assert r["deposition_mol_n_per_ha_per_yr"] == pytest.approx(b / 2, abs=2e-6)
        assert r["baseline_mol_n_per_ha_per_yr"] == b
        assert r["difference_mol_n_per_ha_per_yr"] == pytest.approx(-b / 2, abs=2e-6)
    # without any source the scenario deposits nothing: the whole baseline is the decrease
    remove = [
        Intervention("remove", f"no {fid}", layer="nitrogen_sources", id=fid)
        for fid in ("farm", "remote")
    ]
    rec = run(ws, scenario(ws, "none", remove))
    for rid, r in rows_of(ws, rec).items():
        b = base[rid]["deposition_mol_n_per_ha_per_yr"]
        assert (r["deposition_mol_n_per_ha_per_yr"], r["baseline_mol_n_per_ha_per_yr"]) == (0, b)
        assert r["difference_mol_n_per_ha_per_yr"] == -b
    ind = indicators_of(ws, rec)
    assert ind["hexagons_with_decrease"] == len(base) and ind["sources"] == 0


def test_a_line_source_equals_the_sum_of_its_points(ws):
    line = shapely.LineString([(149_000, 450_000), (151_000, 450_000)])
    quarters = [shapely.Point(x, 450_000) for x in (149_250, 149_750, 150_250, 150_750)]
    without_farm = Intervention("remove", "no farm", layer="nitrogen_sources", id="farm")
    as_line = scenario(ws, "line", [without_farm, add("road", line, nox=8_000.0, nh3=400.0)])
    as_points = scenario(
        ws,
        "points",
        [without_farm] + [add(f"p{i}", p, nox=2_000.0, nh3=100.0) for i, p in enumerate(quarters)],
    )
    points = rows_of(ws, run(ws, as_points))
    # split into 4 pieces of 500 m, the line is exactly its 4 centre points
    coarse = rows_of(ws, run(ws, as_line, line_spacing_m=500.0))
    assert coarse.keys() == points.keys()
    for key in ("deposition", "nox", "nh3"):
        col = f"{key}_mol_n_per_ha_per_yr"
        for rid, r in coarse.items():
            assert r[col] == pytest.approx(points[rid][col], abs=2e-6)
    # at the default 25 m spacing it stays close to the 4-point approximation
    fine_rec = run(ws, as_line)
    fine = rows_of(ws, fine_rec)
    col = "deposition_mol_n_per_ha_per_yr"
    for rid, r in fine.items():
        assert r[col] == pytest.approx(points[rid][col], rel=0.05)
    total = sum(r[col] for r in fine.values())
    assert total == pytest.approx(sum(r[col] for r in points.values()), rel=0.01)
    assert "Line sources: 1, split into 80 points at most 25 m apart" in " ".join(fine_rec.notes)


def test_a_scenario_source_raises_deposition_only_where_it_reaches(ws):
    cutoff = 4_000.0
    new = shapely.Point(150_000, 457_000)  # 3.5–4.5 km north of Noordduin
    plan = scenario(ws, "new-farm", [add("new", new, nh3=2_000.0)])
    base_rec = run(ws, cutoff_distance_m=cutoff)
    rec = run(ws, plan, cutoff_distance_m=cutoff)
    assert set(rec.inputs) == {
        "nitrogen_sources",
        "natura2000",
        "baseline/nitrogen_sources",
        "baseline/natura2000",
    }
    base, rows = rows_of(ws, base_rec), rows_of(ws, rec)
    assert base.keys() <= rows.keys()
    reach = 0
    for rid, r in rows.items():
        # the baseline columns are the baseline run's values on the same hexagons
        expected = base[rid]["deposition_mol_n_per_ha_per_yr"] if rid in base else 0.0
        assert r["baseline_mol_n_per_ha_per_yr"] == expected
        if np.hypot(r["x_m"] - new.x, r["y_m"] - new.y) <= cutoff:
            assert r["difference_mol_n_per_ha_per_yr"] > 0
            reach += 1
        else:
            assert r["difference_mol_n_per_ha_per_yr"] == 0
    assert 0 < reach < len(rows)
    ind = indicators_of(ws, rec)
    assert ind["hexagons_with_increase"] == reach and ind["hexagons_with_decrease"] == 0
    diffs = [r["difference_mol_n_per_ha_per_yr"] for r in rows.values()]
    assert ind["hexagons_with_increase_reported"] == sum(d >= 0.005 for d in diffs)
    assert ind["difference_max_mol_n_per_ha_per_yr"] == max(diffs)
    assert ind["site_max_increase_mol_n_per_ha_per_yr: Zuidheide"] == 0
    assert ind["baseline_sources"] == 2 and ind["sources"] == 3


def test_runs_are_reused_and_reproduce_identically(ws):
    plan = scenario(
        ws,
        "plan",
        [add("stack", shapely.Point(150_500, 449_000), nox=30_000.0, height=40.0, heat=2.0)],
    )
    rec = run(ws, plan)
    again, reused = runs.run_model(ws.store, MODEL, scenario=plan, params={"wind_rose": ROSE})
    assert reused and again.id == rec.id
    rep = runs.reproduce(ws.store, rec.id)
    assert rep.identical and rep.inputs_equal and rep.code_equal
    assert indicators_of(ws, rec)["deposition_max_mol_n_per_ha_per_yr"] > 0


def _rose(**change):
    rose = wind_rose()
    rose.update(change)
    return {k: v for k, v in rose.items() if v is not None}


def _freq(shape, value, times=1.0):
    return (np.full(shape, value) * times).tolist()


WIND_ROSE_CASES = [
    (None, "is required"),
    ([0.5, 0.5], "must be an object with 'frequency' and 'wind_speed_m_s'"),
    (_rose(frequency=None), "'frequency' is missing"),
    (_rose(frequency=_freq((8, 6), 1 / 48)), "12 or 16 sectors, got 8"),
    (_rose(frequency=_freq((12, 5), 1 / 60)), "sector 0 must be a list of 6 numbers"),
    (_rose(frequency=_freq((12, 6), 100 / 72)), r"sum to 100, not 1 .* \(percentages\?"),
    (_rose(frequency=_freq((12, 6), 1 / 72, [-1, 1, 1, 1, 1, 3])), "sector 0 class A is negative"),
    (_rose(frequency=[[True, *row[1:]] for row in _freq((12, 6), 1 / 72)]), "finite numbers"),
    (_rose(frequency=[["x", *row[1:]] for row in _freq((12, 6), 1 / 72)]), "numbers only"),
    (_rose(wind_speed_m_s=[2, 3, 4, 0, 3, 2]), "above 0 m/s"),
    (_rose(wind_speed_m_s=[2, 3, 4]), "list of 6 speeds"),
    (_rose(stability_classes=list("ABCDEG")), "'stability_classes' must be A–F"),
    (_rose(sector_from_deg=[0, 10]), "'sector_from_deg' must be 0, 30, 60"),
    (_rose(colour="red"), "unknown keys colour"),
]


@pytest.mark.parametrize(
    "params, field, message",
    [({"wind_rose": rose}, "wind_rose", message) for rose, message in WIND_ROSE_CASES]
    + [
        ({"wind_rose": ROSE, "colour": 1}, "colour", "has no parameter 'colour'"),
        ({"wind_rose": ROSE, "deposition_velocity_nh3_m_s": -0.01}, None, r"within \[0, 0.1\]"),
        ({"wind_rose": ROSE, "cutoff_distance_m": 0}, "cutoff_distance_m", "must be within"),
        ({"wind_rose": ROSE, "source_depletion": "maybe"}, "source_depletion", "true or false"),
    ],
)
def test_bad_parameters_are_refused_before_any_computation(ws, monkeypatch, params, field, message):
    monkeypatch.setattr(gp, "nitrogen_deposition", _no_computation)
    with pytest.raises(InputError, match=message) as err:
        runs.run_model(ws.store, MODEL, params=params)
    assert err.value.field == (field or next(iter(set(params) - {"wind_rose"})))
    assert ws.store.runs() == []


def _no_computation(*args, **kwargs):
    raise AssertionError("computed despite bad input")


def test_bad_sources_and_empty_extents_are_refused(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(gp, "nitrogen_deposition", _no_computation)
    bad = scenario(
        ws,
        "bad",
        [
            Intervention(
                "modify",
                "negative",
                layer="nitrogen_sources",
                id="farm",
                properties={"nh3_kg_per_yr": -5.0},
            )
        ],
    )
    with pytest.raises(InputError, match=r"nh3_kg_per_yr = -5\.0 must be within") as err:
        run(ws, bad)
    assert (err.value.object_id, err.value.field) == ("nitrogen_sources/farm", "nh3_kg_per_yr")
    # an extent inside the twin without any source
    with pytest.raises(InputError, match="no nitrogen sources within the extent"):
        runs.run_model(
            ws.store, MODEL, params={"wind_rose": ROSE}, extent=(149_000, 470_000, 151_000, 472_000)
        )
    assert ws.store.runs() == []
    # a twin whose source layer is empty, and one without it
    empty = init_workspace(tmp_path / "empty")
    write_sites(empty)
    write_sources(empty, [])
    with pytest.raises(InputError, match="no nitrogen sources within the extent") as err:
        runs.run_model(empty.store, MODEL, params={"wind_rose": ROSE})
    assert err.value.field == "nitrogen_sources"
    none = init_workspace(tmp_path / "none")
    write_sites(none)
    with pytest.raises(InputError, match="import model-inputs FILE --layer nitrogen_sources"):
        runs.run_model(none.store, MODEL, params={"wind_rose": ROSE})
    empty.close()
    none.close()


def test_the_delft_examples_run_from_the_command_line(tmp_path):
    """The example sources, scenario and wind rose, on a twin with a synthetic dune site
    north-west of Delft (the real demo uses the natura2000 layer)."""
    w = init_workspace(tmp_path / "delft")
    dunes = {"N9": ("Synthetische duinen", True, (77_000, 452_000, 80_000, 458_000))}
    write_sites(w, dunes)
    src = EXAMPLES / "model-inputs" / "delft-nitrogen-sources.geojson"
    import_source(w, "model-inputs", [src], options={"layer": "nitrogen_sources"})
    sc.create_scenario(w.store, "n-test")
    sc.apply_interventions(
        w.store, "n-test", read_interventions(EXAMPLES / "scenarios" / "nitrogen-sources.yaml")
    )
    root = w.root
    w.close()
    out = tw("run", MODEL, "-s", "n-test", "-p", f"wind_rose=@{WIND_ROSE_FILE}", "--twin", root)
    assert out.exit_code == 0, out.output
    assert "result sha256:" in out.output and "Synthetische duinen" in out.output
    out = tw("run", MODEL, "--twin", root)
    assert out.exit_code == 1 and "wind_rose" in out.output and "required" in out.output
