"""The command line as a user runs it: init, import, demo, queries, time travel, bad input."""

from __future__ import annotations

import json
import shutil

import pyogrio
import pytest
import shapely
from typer.testing import CliRunner

from tweeling.cli.main import app

runner = CliRunner()


def tw(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory, shared_data):
    """The Delft demo twin, built once through the CLI."""
    root = tmp_path_factory.mktemp("demo") / "delft"
    result = tw("demo", "--twin", root, "--data", shared_data)
    assert result.exit_code == 0, result.output
    return root, result.output


def test_demo_builds_every_source(demo):
    root, output = demo
    assert "Built the Delft demo twin" in output
    layers = tw("layers", "--twin", root)
    assert layers.exit_code == 0
    for name in (
        "buildings",
        "bgt_pand",
        "ahn_dtm",
        "ahn_dsm",
        "natura2000",
        "cbs_gemeenten",
        "cbs_buurten",
        "zoning_plan_objects",
    ):
        assert name in layers.output


def test_demo_counts_and_extent(demo):
    from tweeling.services.workspace import open_workspace

    root, _ = demo
    with open_workspace(root) as ws:
        counts = {i.name: i.count for i in ws.store.layers() if i.kind == "vector"}
        assert counts["buildings"] == 160  # delft.city.json: 160 Building objects
        assert counts["bgt_pand"] == 160
        assert counts["bgt_wegdeel"] == 151
        assert counts["natura2000"] == 144
        assert counts["cbs_provincies"] == 12
        assert counts["zoning_plan_objects"] == 47 + 81 + 28 + 218  # four IMRO plans
        # The Delft area of data/README.md: RD x 84616-85141, y 447423-447751.
        ext = ws.store.layer("buildings").extent
        assert 84616 <= ext[0] < ext[2] <= 85141 and 447423 <= ext[1] < ext[3] <= 447751


def test_demo_runs_every_model_and_each_run_reproduces(demo):
    """The issue's acceptance: noise on the baseline and on a scenario with changed traffic,
    a wind scenario, a nitrogen scenario; stored with provenance; reproduce passes."""
    from tweeling.services.workspace import open_workspace

    root, _ = demo
    with open_workspace(root) as ws:
        runs = {(r.model, r.scenario): r for r in ws.store.runs()}
        road_inputs = {r.inputs["road_traffic"] for r in runs.values() if r.model == "road-noise"}
    assert set(runs) >= {
        ("road-noise", "baseline"),
        ("road-noise", "example-traffic-calming"),
        ("wind-turbines", "example-wind-turbines"),
        ("nitrogen-deposition", "example-nitrogen-sources"),
    }
    assert len(road_inputs) >= 2  # the scenario's traffic differs from the baseline's
    nitrogen = runs[("nitrogen-deposition", "example-nitrogen-sources")]
    assert "baseline/nitrogen_sources" in nitrogen.inputs
    for key, run in runs.items():
        if key[1] in ("example-housing-block", "example-cycle-path"):
            continue  # same model as others; keeps the test short
        assert run.result_hash and run.code_hash and run.outputs
        result = tw("reproduce", run.id, "--twin", root)
        assert result.exit_code == 0, result.output
        assert "identical" in result.output
    # the calmer street is quieter at its facades than in the baseline
    base = json.loads(
        (root / "runs" / runs[("road-noise", "baseline")].id / "facades.json").read_text()
    )
    calm = json.loads(
        (
            root / "runs" / runs[("road-noise", "example-traffic-calming")].id / "facades.json"
        ).read_text()
    )
    before = {r["id"]: r["lden_db"] for r in base}
    drops = [before[r["id"]] - r["lden_db"] for r in calm]
    assert max(drops) > 3.0 and min(drops) >= -0.01


def test_demo_scenarios_get_findings(demo):
    """Issue 5's acceptance: the demo's scenarios produce findings, at least one exceedance."""
    from tweeling.services.workspace import open_workspace

    root, output = demo
    assert "check example-taller-building:" in output
    with open_workspace(root) as ws:
        stored = {r.scenario: r for r in ws.store.findings()}
    assert len(stored) == 6
    taller = stored["example-taller-building"].findings
    height = [f for f in taller if f["subject"] == "building_height_m"]
    assert [(f["verdict"], f["value"], f["norm_value"]) for f in height] == [
        ("exceeds", 24.0, "15 m")  # rules/delft-illustrative.yaml: at most 15 m
    ]
    assert "illustrative" in height[0]["status_note"].lower()
    wind = stored["example-wind-turbines"].findings
    assert {f["subject"] for f in wind} >= {"lden_db", "flicker_days_over_20_min"}
    nitrogen = stored["example-nitrogen-sources"].findings
    assert nitrogen and {f["verdict"] for f in nitrogen} == {"needs_permit"}  # any increase
    result = tw("check", "-s", "example-taller-building", "--twin", root)
    assert result.exit_code == 0 and "exceeds" in result.output
    here = tw("rules", "--point", "84950,447550", "--date", "2025-06-01", "--twin", root)
    assert here.exit_code == 0 and "15 m" in here.output  # the illustrative height limit
    before = tw("rules", "--point", "84950,447550", "--date", "2020-06-01", "--twin", root)
    assert before.exit_code == 0 and "15 m" not in before.output  # in force from 2024


def test_bad_rule_sets_are_refused_by_name(demo, tmp_path):
    root, _ = demo
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "ruleset: {name: bad}\nrules:\n  - id: r1\n    kind: omgevingsnorm\n    name: x\n"
        "    activity: bouwen\n    subject: building_height_m\n    comparison: maximum\n"
        "    value: 10\n    reference: {document: d}\n    authority: a\n    colour: red\n"
    )
    result = tw("import", "rules", bad, "--twin", root)
    assert result.exit_code == 1 and "colour" in result.output and "r1" in result.output
    clash = tmp_path / "clash.yaml"
    clash.write_text(
        "ruleset: {name: clash}\nrules:\n  - id: clash-height\n    kind: omgevingsnorm\n"
        "    name: x\n    activity: bouwen\n    subject: building_height_m\n"
        "    comparison: maximum\n    value: 40\n    unit: m\n    reference: {document: d}\n"
        "    authority: a\n    valid_from: 2024-01-01\n"
        "    location: POLYGON ((84900 447500, 85000 447500, 85000 447600, 84900 447500))\n"
    )
    result = tw("import", "rules", clash, "--twin", root)
    assert result.exit_code == 1 and "contradict" in result.output


def test_demo_is_idempotent(demo, shared_data):
    root, _ = demo
    again = tw("demo", "--twin", root, "--data", shared_data)
    assert again.exit_code == 0, again.output
    assert "0 new feature versions" in again.output.replace("\n", " ")


def test_gdal_reads_the_demo_twin(demo):
    """QGIS/GDAL open twin.gpkg directly and see the current baseline in RD New."""
    root, _ = demo
    path = root / "twin.gpkg"
    layers = dict(pyogrio.list_layers(path))
    assert layers["buildings"] in ("Polygon", "MultiPolygon")
    info = pyogrio.read_info(path, layer="buildings")
    assert info["crs"] == "EPSG:28992"
    assert info["features"] == 160
    meta, _, wkb, fields = pyogrio.raw.read(path, layer="bgt_pand")
    cols = dict(zip(meta["fields"], fields, strict=True))
    i = list(cols["tw_id"]).index("NL.IMGeo.G0503.032e68eff7ec49cce0532ee22091b28c")
    # bgt_pand.sqlite, this pand: identificatiebagpnd 503100000000035, first vertex
    # (85032.569, 447484.294) (read with sqlite3 in tests/sources/test_bgt.py).
    assert cols["bag_id"][i] == "NL.IMBAG.Pand.0503100000000035"
    first = shapely.get_coordinates(shapely.from_wkb(wkb[i]))[0]
    assert first == pytest.approx((85032.569, 447484.294), abs=1e-3)


def test_features_as_geojson_and_bbox(demo):
    root, _ = demo
    result = tw(
        "features",
        "bgt_pand",
        "--twin",
        root,
        "--bbox",
        "84990,447460,85010,447480",
        "-f",
        "geojson",
    )
    assert result.exit_code == 0, result.output
    fc = json.loads(result.output)
    assert fc["type"] == "FeatureCollection" and fc["features"]
    box = shapely.box(84990, 447460, 85010, 447480)
    for f in fc["features"]:
        assert shapely.from_geojson(json.dumps(f["geometry"])).intersects(box)
        assert f["properties"]["tw:recorded_at"].startswith("2")


def test_time_travel_in_the_cli(demo):
    """BGT panden were registered (tijdstipRegistratie) between 2014 and 2016."""
    root, _ = demo
    early = tw("features", "bgt_pand", "--twin", root, "--as-of", "2010-01-01")
    assert early.exit_code == 0 and "0 feature(s)" in early.output
    late = tw("features", "bgt_pand", "--twin", root, "--as-of", "2020-01-01", "--limit", "500")
    assert "160 feature(s)" in late.output


def test_where_filter_and_history(demo):
    root, _ = demo
    result = tw(
        "features",
        "bgt_pand",
        "--twin",
        root,
        "--where",
        "bag_id=NL.IMBAG.Pand.0503100000000035",
        "-f",
        "geojson",
    )
    fc = json.loads(result.output)
    assert [f["id"] for f in fc["features"]] == ["NL.IMGeo.G0503.032e68eff7ec49cce0532ee22091b28c"]
    hist = tw(
        "history", "bgt_pand", "NL.IMGeo.G0503.032e68eff7ec49cce0532ee22091b28c", "--twin", root
    )
    assert hist.exit_code == 0 and "bgt:bgt" in hist.output


def test_sample_heights(demo):
    root, _ = demo
    result = tw("sample", "ahn_dtm", "84900,447500", "--twin", root)
    assert result.exit_code == 0, result.output
    value = float(result.output.split("│")[-2])
    assert -3.0 < value < 3.0  # Delft's centre lies around NAP


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["features", "nope"], "unknown layer 'nope'"),
        (["features", "buildings", "--bbox", "1,2,3"], "expected 4 comma-separated"),
        (["features", "buildings", "--bbox", "5,0,1,1"], "minimum larger than maximum"),
        (["features", "buildings", "--as-of", "yesterday"], "not an ISO 8601"),
        (["features", "buildings", "--where", "colour=red"], "no field 'colour'"),
        (["features", "buildings", "-f", "kml"], "unknown format"),
        (["history", "buildings", "no-such-id"], "no feature 'no-such-id'"),
        (["sample", "ahn_dtm", "x,y"], "expected 2 comma-separated"),
    ],
)
def test_bad_arguments_give_clear_errors(demo, args, message):
    root, _ = demo
    result = tw(*args, "--twin", root)
    assert result.exit_code == 1
    assert message in result.output


def test_missing_workspace_and_paths(tmp_path):
    result = tw("layers", "--twin", tmp_path / "nothing")
    assert result.exit_code == 1 and "not a twin workspace" in result.output
    assert tw("init", tmp_path / "t").exit_code == 0
    again = tw("init", tmp_path / "t")
    assert again.exit_code == 1 and "already holds a twin" in again.output
    missing = tw("import", "cityjson", tmp_path / "gone.city.json", "--twin", tmp_path / "t")
    assert missing.exit_code == 1 and "gone.city.json" in missing.output


def test_demo_without_data_says_where(tmp_path):
    result = tw("demo", "--twin", tmp_path / "d", "--data", tmp_path / "no-data")
    assert result.exit_code == 1
    assert "no-data" in result.output and "--data" in result.output


def test_bad_files_leave_the_twin_unchanged(tmp_path, shared_data):
    """Truncated CityJSON, corrupt LAZ, invalid GML: clear error naming the file, twin as before."""
    root = tmp_path / "t"
    assert tw("init", root).exit_code == 0
    ok = tw("import", "cityjson", shared_data / "delft" / "delft.city.json", "--twin", root)
    assert ok.exit_code == 0, ok.output
    before = tw("info", "--twin", root).output
    text = (shared_data / "delft" / "delft.city.json").read_bytes()
    bad_json = tmp_path / "cut.city.json"
    bad_json.write_bytes(text[: len(text) // 2])
    laz = (shared_data / "delft" / "ahn3" / "ahn3_cropped_2.laz").read_bytes()
    bad_laz = tmp_path / "cut.laz"
    bad_laz.write_bytes(laz[: len(laz) // 2])
    bad_gml = tmp_path / "cut.gml"
    gml = (shared_data / "imro" / "stationspleinzuidoost.gml").read_bytes()
    bad_gml.write_bytes(gml[: len(gml) // 3])
    for kind, path in (("cityjson", bad_json), ("ahn", bad_laz), ("imro", bad_gml)):
        result = tw("import", kind, path, "--twin", root)
        assert result.exit_code == 1, (kind, result.output)
        assert path.name in result.output.replace("\n", "")
    assert tw("info", "--twin", root).output == before
    assert not list(root.glob(".import-*"))  # no temporary files left behind


def test_synth_then_import(tmp_path):
    out = tmp_path / "s.geojsons"
    assert tw("synth", "500", out, "--seed", "3").exit_code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 500
    first = json.loads(lines[0])
    assert first["properties"]["synthetic"] is True and first["id"].startswith("SYNTH.")
    root = tmp_path / "t"
    tw("init", root)
    result = tw(
        "import",
        "file",
        out,
        "--layer",
        "synthetic_buildings",
        "--id-field",
        "bag_id",
        "--crs",
        "EPSG:28992",
        "--twin",
        root,
    )
    assert result.exit_code == 0, result.output
    assert "500 added" in result.output
    again = tw(
        "import",
        "file",
        out,
        "--layer",
        "synthetic_buildings",
        "--id-field",
        "bag_id",
        "--crs",
        "EPSG:28992",
        "--twin",
        root,
    )
    assert "0 added, 0 changed, 500 unchanged" in again.output
    shutil.rmtree(root)


def test_commands_find_the_twin_from_inside_its_folder(tmp_path, monkeypatch, shared_data):
    root = tmp_path / "t"
    assert tw("init", root).exit_code == 0
    (root / "sub").mkdir()
    monkeypatch.chdir(root / "sub")  # any folder below the twin works too
    result = tw(
        "import",
        "cityjson",
        shared_data / "cityjson" / "denhaag-lod2.city.json",
        "--crs",
        "EPSG:7415",
    )
    assert result.exit_code == 0, result.output
    assert "4 added" in result.output  # 4 Buildings (their 8 parts are folded in)
    assert "buildings" in tw("layers").output
