"""Model results, findings, comparisons and places as JSON over the Delft demo twin: output
files download unchanged, the overlay PNG shows each cell in its legend class's colour (no
value: transparent) at corners around the run's extent, per-object values equal the run's
file, findings and comparisons agree with the services, and /here tells what a scenario
means on a building."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import date

import numpy as np
import pytest
import rasterio
import shapely
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import bearer, copy_demo
from tests.test_api_resources import PROBLEM
from tweeling.api.app import create_app
from tweeling.core.crs import RD_NEW, transformer
from tweeling.services.rules import checked
from tweeling.services.workspace import open_workspace

# road-noise runs of the demo twin (ids depend on the model code: found in the fixture)
BASELINE_NOISE = CALMING_NOISE = HOUSING_NOISE = ""
HOUSING_BLOCK = (84970.0, 447512.0)  # RD New, inside the block the example adds


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_master):
    global BASELINE_NOISE, CALMING_NOISE, HOUSING_NOISE
    root = copy_demo(tmp_path_factory, demo_master)
    with open_workspace(root) as ws:
        noise = {r.scenario: r.id for r in ws.store.runs(model="road-noise")}
    BASELINE_NOISE = noise["baseline"]
    CALMING_NOISE = noise["example-traffic-calming"]
    HOUSING_NOISE = noise["example-housing-block"]
    with TestClient(create_app(root, hosts=["testserver"]), headers=bearer(root)) as c:
        yield c, root


def lonlat(x: float, y: float) -> str:
    lon, lat = transformer(RD_NEW, "OGC:CRS84").transform(x, y)
    return f"{lon},{lat}"


def test_runs_list_and_one_run(demo):
    client, root = demo
    runs = client.get("/runs?model=road-noise").json()["runs"]
    assert {r["scenario"] for r in runs} >= {"baseline", "example-traffic-calming"}
    assert all(r["model"] == "road-noise" and r["current"] for r in runs)
    only = client.get("/runs?scenario=example-traffic-calming").json()["runs"]
    assert [r["id"] for r in only] == [CALMING_NOISE]
    one = client.get(f"/runs/{BASELINE_NOISE}").json()
    recorded = json.loads((root / "runs" / BASELINE_NOISE / "run.json").read_text())
    assert one["result_hash"] == recorded["result_hash"] and one["inputs"] == recorded["inputs"]
    rels = {(link["rel"], link.get("title")) for link in one["links"]}
    assert {("overlay", "lden"), ("objects", "facades"), ("output", "indicators")} <= rels
    lon0, lat0, lon1, lat1 = one["bbox"]
    assert 4.36 < lon0 < lon1 < 4.38 and 52.0 < lat0 < lat1 < 52.02


def test_outputs_download_unchanged(demo):
    client, root = demo
    folder = root / "runs" / BASELINE_NOISE
    tif = client.get(f"/runs/{BASELINE_NOISE}/outputs/lden")
    assert tif.status_code == 200 and tif.headers["content-type"] == "image/tiff"
    with rasterio.MemoryFile(tif.content) as mem, mem.open() as got:
        values, crs = got.read(1), got.crs
    with rasterio.open(folder / "lden.tif") as src:
        assert np.array_equal(values, src.read(1), equal_nan=True) and crs == src.crs
    facades = client.get(f"/runs/{BASELINE_NOISE}/outputs/facades")
    assert facades.json() == json.loads((folder / "facades.json").read_text())
    table = client.get(f"/runs/{BASELINE_NOISE}/outputs/indicators")
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(table.text)))
    assert rows[0] == ["indicator", "value", "unit"] and len(rows) > 10
    as_json = client.get(f"/runs/{BASELINE_NOISE}/outputs/indicators.json").json()
    assert as_json["max_facade_lden"]["unit"] == "dB"


def test_overlay_png_colours_each_cell_by_its_legend_class(demo):
    client, root = demo
    overlay = client.get(f"/runs/{BASELINE_NOISE}/outputs/lden/overlay").json()
    assert overlay["unit"] == "dB" and overlay["url"].endswith("/lden/image.png")
    png = client.get(overlay["url"].replace("http://testserver", ""))
    assert png.headers["content-type"] == "image/png"
    rgba = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGBA"))
    with rasterio.open(root / "runs" / BASELINE_NOISE / "lden.tif") as src:
        grid, bounds = src.read(1), src.bounds
    assert rgba.shape[:2] == grid.shape
    empty = ~np.isfinite(grid)
    assert empty.any() and (rgba[empty][:, 3] == 0).all()  # no value: transparent
    legend = overlay["legend"]
    assert [c["from"] for c in legend[1:]] == list(range(35, 85, 5))  # 5 dB classes
    # the Dutch/EU noise map colours (Infomil), 35–39 dB … ≥ 80 dB
    assert [c["color"] for c in legend[1:]] == [
        "#238443",
        "#78C679",
        "#C2E699",
        "#FFFFB2",
        "#FECC5C",
        "#FD8D3C",
        "#FF0909",
        "#B30622",
        "#67033B",
        "#1C0054",
    ]
    seen = set()
    for (r, c), v in np.ndenumerate(grid):
        if not np.isfinite(v):
            continue
        cls = next(
            k
            for k in legend
            if (k["from"] is None or v >= k["from"]) and (k["to"] is None or v < k["to"])
        )
        colour = tuple(int(cls["color"][i : i + 2], 16) for i in (1, 3, 5))
        assert tuple(rgba[r, c]) == (*colour, 255), (r, c, v, cls)
        seen.add(cls["label"])
    assert len(seen) >= 5  # the demo spans 42–72 dB
    # the corners (TL, TR, BR, BL) enclose the run's extent, in CRS84
    tl, tr, br, bl = overlay["coordinates"]
    assert tl[1] > bl[1] and tr[0] > tl[0] and br[1] < tr[1]
    quad = shapely.Polygon([tl, tr, br, bl])
    run = client.get(f"/runs/{BASELINE_NOISE}").json()
    to84 = transformer(RD_NEW, "OGC:CRS84")
    x0, y0, x1, y1 = run["extent"]
    for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]:
        # within 1e-7° (about 1 cm): RD's straight edges bend slightly in CRS84
        assert quad.buffer(1e-7).contains(shapely.Point(*to84.transform(x, y)))
    # and no more than the grid: its own corners are the quad's
    assert quad.area == pytest.approx(
        shapely.Polygon(
            [
                to84.transform(x, y)
                for x, y in [
                    (bounds.left, bounds.top),
                    (bounds.right, bounds.top),
                    (bounds.right, bounds.bottom),
                    (bounds.left, bounds.bottom),
                ]
            ]
        ).area,
        rel=1e-6,
    )


def test_objects_values_equal_the_runs_file(demo):
    client, root = demo
    body = client.get(f"/runs/{BASELINE_NOISE}/objects?output=facades").json()
    rows = json.loads((root / "runs" / BASELINE_NOISE / "facades.json").read_text())
    assert body["units"]["lden_db"] == "dB" and body["keyed_by"] == "id"
    assert body["objects"] == {
        r["id"]: {k: v for k, v in r.items() if k not in ("layer", "id")} for r in rows
    }
    assert client.get(f"/runs/{BASELINE_NOISE}/objects").json()["output"] == "facades"


def test_findings_are_those_of_checked(demo):
    client, root = demo
    body = client.get("/scenarios/example-housing-block/findings?date=2026-06-01").json()
    with open_workspace(root) as ws:
        record, reused = checked(ws.store, "example-housing-block", date(2026, 6, 1))
    assert reused  # the API stored them; the service re-uses them
    assert body["total"] == len(record.findings) > 0 and body["stale"] is False
    counts = Counter(f["verdict"] for f in record.findings)
    assert {k: v for k, v in body["counts"].items() if v} == dict(counts)
    assert body["computed_at"] == record.computed_at
    one = client.get(
        "/scenarios/example-housing-block/findings?date=2026-06-01&object=example-housing-block"
    ).json()
    mine = [f for f in record.findings if f["object"] == "buildings/example-housing-block"]
    assert one["findings"] == mine and one["total"] == len(mine) > 0
    stored = client.get(
        "/scenarios/example-housing-block/findings?date=2026-06-01&compute=false"
    ).json()
    assert stored["stale"] is False and stored["total"] == body["total"]


def test_comparisons_of_road_noise_baseline_and_traffic_calming(demo):
    client, root = demo
    body = client.get(
        "/comparisons?scenarios=example-traffic-calming,example-nitrogen-sources"
    ).json()
    assert body["scenarios"] == ["baseline", "example-traffic-calming", "example-nitrogen-sources"]
    noise = body["models"]["road-noise"]
    assert noise["runs"]["baseline"]["id"] == BASELINE_NOISE
    assert noise["runs"]["example-traffic-calming"]["id"] == CALMING_NOISE
    assert noise["runs"]["example-nitrogen-sources"] is None  # no road-noise run there
    for run_id, ref in [(BASELINE_NOISE, "baseline"), (CALMING_NOISE, "example-traffic-calming")]:
        table = json.loads((root / "runs" / run_id / "indicators.json").read_text())
        for key, item in table.items():
            assert noise["indicators"][key]["values"][ref] == item["value"]
            assert noise["indicators"][key]["unit"] == item["unit"]
    lden = noise["indicators"]["max_facade_lden"]["values"]
    assert lden["example-traffic-calming"] < lden["baseline"]  # calmer street, quieter facade
    assert lden["example-nitrogen-sources"] is None
    assert body["models"]["nitrogen-deposition"]["runs"]["baseline"] is None


def test_here_on_the_housing_block_shows_it_its_results_and_findings(demo):
    client, root = demo
    body = client.get(
        f"/here?point={lonlat(*HOUSING_BLOCK)}&scenario=example-housing-block&date=2026-06-01"
    ).json()
    assert [(b["id"], b["height_m"]) for b in body["buildings"]] == [
        ("example-housing-block", 13.0)
    ]
    assert {n["subject"] for n in body["norms"]} >= {"building_height_m"}
    kinds = {(i["kind"], i["object_id"]): i["distance_m"] for i in body["interventions"]}
    assert kinds[("add", "example-housing-block")] == 0.0
    assert body["findings"] and all(
        f["object"]
        in {"buildings/example-housing-block"}
        | {f"{i['layer']}/{i['object_id']}" for i in body["interventions"]}
        or f["object"].startswith("scenario ")
        for f in body["findings"]
    )
    assert any(f["object"] == "buildings/example-housing-block" for f in body["findings"])
    rows = json.loads((root / "runs" / HOUSING_NOISE / "facades.json").read_text())
    expected = next(r["lden_db"] for r in rows if r["id"] == "example-housing-block")
    facade = next(r for r in body["results"] if r["field"] == "lden_db")
    assert facade["scenario"] == expected and facade["runs"]["scenario"] == HOUSING_NOISE
    assert facade["baseline"] is None and facade["difference"] is None  # a new building


def test_here_in_the_street_gives_the_difference_of_the_grids(demo):
    client, root = demo
    x, y = 85013.0, 447546.5  # on the calmed street (road-east), 3 m or more from buildings
    body = client.get(f"/here?point={lonlat(x, y)}&scenario=example-traffic-calming").json()
    assert body["buildings"] == []
    cell = next(r for r in body["results"] if r["output"] == "lden")

    def sample(run_id):
        with rasterio.open(root / "runs" / run_id / "lden.tif") as src:
            return float(next(src.sample([(x, y)]))[0])

    a, b = sample(CALMING_NOISE), sample(BASELINE_NOISE)
    assert np.isfinite(a) and np.isfinite(b)
    assert cell["scenario"] == pytest.approx(a, abs=1e-3)
    assert cell["baseline"] == pytest.approx(b, abs=1e-3)
    assert cell["runs"] == {"scenario": CALMING_NOISE, "baseline": BASELINE_NOISE}
    assert cell["difference"] == pytest.approx(a - b, abs=1e-3)
    assert cell["difference"] < -5  # 30 km/h and less traffic: 5.5 dB quieter here
    assert [(i["object_id"], i["distance_m"]) for i in body["interventions"]] == [
        ("road-east", pytest.approx(0.6, abs=0.1))
    ]


def test_a_changed_scenario_loses_its_up_to_date_run(tmp_path_factory, demo_master):
    root = copy_demo(tmp_path_factory, demo_master)
    with TestClient(create_app(root, hosts=["testserver"]), headers=bearer(root)) as client:
        item = {
            "kind": "modify",
            "layer": "road_traffic",
            "id": "road-east",
            "title": "back to 50 km/h",
            "properties": {"speed_light_kmh": 50.0},
        }
        r = client.post(
            "/scenarios/example-traffic-calming/interventions", json={"interventions": [item]}
        )
        assert r.status_code == 201, r.text
        body = client.get("/comparisons?scenarios=example-traffic-calming").json()
        assert body["models"]["road-noise"]["runs"]["example-traffic-calming"] is None
        runs = client.get("/runs?scenario=example-traffic-calming").json()["runs"]
        assert [r["current"] for r in runs] == [False]


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/runs/" + "a" * 100, 400),
        ("/runs/%2E%2E", 400),
        ("/runs/0000000000000000", 404),
        ("/runs/{BASELINE}/outputs/run.json", 404),
        ("/runs/{BASELINE}/outputs/%2E%2E", 400),
        ("/runs/{BASELINE}/outputs/nope", 404),
        ("/runs/{BASELINE}/outputs/facades/overlay", 404),
        ("/runs/{BASELINE}/outputs/indicators/image.png", 404),
        ("/runs/{BASELINE}/objects?output=lden", 404),
        ("/runs?scenario=..%2F..", 400),
        ("/scenarios/example-housing-block/findings?date=tomorrow", 400),
        ("/scenarios/example-housing-block/findings?date=2026-13-01", 400),
        ("/scenarios/nope/findings", 404),
        ("/scenarios/baseline/findings", 400),
        ("/scenarios/example-taller-building/findings?date=1999-01-01&compute=false", 404),
        ("/comparisons", 400),
        ("/comparisons?scenarios=nope", 404),
        ("/comparisons?scenarios=,,", 400),
        ("/comparisons?scenarios=" + "a" * 300, 400),
        ("/here?point=abc", 400),
        ("/here?point=4.36", 400),
        ("/here?point=400,52", 400),
        ("/here?point=nan,52", 400),
        ("/here?point=4.36,52.01&scenario=nope", 404),
        ("/here?point=4.36,52.01&scenario=..%2Fx", 400),
        ("/here?point=4.36,52.01&date=x", 400),
        ("/here?point=4.36,52.01&radius=-1", 400),
        ("/here?point=4.36,52.01&point-crs=EPSG:3857", 400),
    ],
)
def test_hostile_requests_get_a_problem(demo, url, status):
    client, _ = demo
    r = client.get(url.replace("{BASELINE}", BASELINE_NOISE))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_run_paths_never_leave_the_run_folder(demo):
    client, _ = demo
    for url in (
        "/runs/../../etc/passwd",
        "/runs/..%2F..%2Fetc%2Fpasswd",
        f"/runs/{BASELINE_NOISE}/outputs/..%2F..%2Ftwin.gpkg",
        f"/runs/{BASELINE_NOISE}/outputs/%2Fetc%2Fpasswd",
    ):
        r = client.get(url)
        assert 400 <= r.status_code < 500 and "root:" not in r.text, url


def test_other_quantities_get_a_sequential_ramp_with_stated_breaks():
    from tweeling.services import rendering
    from tweeling.services.results import GridData

    values = np.array([[0.5, 3.0, 12.0], [np.nan, 45.0, 200.0]], dtype="float32")
    g = GridData(values, 85000.0, 447600.0, 10.0, "h/yr")
    classes = rendering.legend("h/yr")
    assert [c.lower for c in classes] == [None, 1, 5, 10, 20, 30, 50]
    assert classes[0].color == "#FFFFB2" and classes[-1].color == "#B10026"  # YlOrRd
    rgba = np.asarray(Image.open(io.BytesIO(rendering.png(g, classes))).convert("RGBA"))
    assert rgba[1, 0, 3] == 0 and tuple(rgba[1, 2]) == (0xB1, 0x00, 0x26, 255)
    assert tuple(rgba[0, 2]) == (0xFD, 0x8D, 0x3C, 255)  # 12 h/yr: class 10–20, the 4th
    # a unit without a fixed scale: rounded equal steps over the grid's range
    steps = rendering.legend("kg", 0.0, 70.0)
    assert [c.lower for c in steps][1:] == [10, 20, 30, 40, 50, 60]
    assert rendering.classify(np.array([5.0, 65.0, np.nan]), steps).tolist() == [0, 6, -1]
