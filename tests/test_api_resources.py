"""Scenarios as JSON resources over the Delft demo twin and a small seed twin: listing,
the log and the diff agree with the services; a drawn building block (CRS84) enters a new
draft scenario and shows in its diff and its features; bad requests are refused whole."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from tests.conftest import bearer, copy_demo
from tests.scenario_support import modify, seed_twin
from tweeling.api.app import create_app
from tweeling.core.crs import RD_NEW, transformer
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace, open_workspace

PROBLEM = "application/problem+json"
RD_URI = "http://www.opengis.net/def/crs/EPSG/0/28992"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_master):
    root = copy_demo(tmp_path_factory, demo_master)
    with TestClient(create_app(root, hosts=["testserver"]), headers=bearer(root)) as c:
        yield c, root


def crs84(geom):
    tr = transformer(RD_NEW, "OGC:CRS84")
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


# A block of 14 x 22 m on the open plot of the housing-block example, 30 m further east.
BLOCK_RD = shapely.box(84993, 447501, 85007, 447523)


def block_item(**over):
    item = {
        "kind": "add",
        "layer": "buildings",
        "id": "drawn-block",
        "title": "Drawn block",
        "rationale": "viewer test",
        "geometry": shapely.geometry.mapping(crs84(BLOCK_RD)),
        "properties": {"height_m": 12.0, "cityjson_type": "Building"},
    }
    item.update(over)
    return item


# ------------------------------------------------------------------ reading


def test_list_and_one_scenario_match_the_store(demo):
    client, root = demo
    with open_workspace(root) as ws:
        infos = {i.name: i for i in ws.store.scenarios.list()}
    body = client.get("/scenarios").json()
    # the planner sees them all: the six examples and a participant's public variant
    assert {s["name"] for s in body["scenarios"]} == set(infos) and len(infos) == 7
    one = client.get("/scenarios/example-housing-block").json()
    info = infos["example-housing-block"]
    assert one["parent"] == "baseline" and one["status"] == info.status
    assert one["interventions"] == info.interventions == 3
    assert one["created"] == info.created_at and one["frozen"] == []
    assert one["parent_changed_since_base"] is False
    log = client.get("/scenarios/example-housing-block/interventions").json()["interventions"]
    assert [(r["kind"], r["layer"], r["object_id"]) for r in log] == [
        ("add", "buildings", "example-housing-block"),
        ("remove", "plant_cover", "b8e43e94c-00b3-11e6-b420-2bdcc4ab5d7f"),
        ("remove", "plant_cover", "b8e2209a5-00b3-11e6-b420-2bdcc4ab5d7f"),
    ]


def test_diff_matches_the_service_with_features_in_crs84(demo):
    client, root = demo
    with open_workspace(root) as ws:
        expected = sc.diff_scenarios(ws.store, "example-housing-block")
        between = sc.diff_scenarios(ws.store, "example-taller-building", "example-housing-block")
    body = client.get("/scenarios/example-housing-block/diff?features=true").json()
    assert body["counts"] == expected.counts()
    assert body["layers"]["buildings"]["added"] == ["example-housing-block"]
    assert sorted(body["layers"]["plant_cover"]["removed"]) == sorted(
        c.id for c in expected.layers["plant_cover"]
    )
    changes = {
        f["properties"]["object_id"]: f["properties"]["change"]
        for f in body["features"]["features"]
    }
    assert changes["example-housing-block"] == "added" and len(changes) == 3
    block = next(f for f in body["features"]["features"] if f["id"].endswith("housing-block"))
    lon, lat = shapely.geometry.shape(block["geometry"]).centroid.coords[0]
    assert 4.36 < lon < 4.38 and 52.0 < lat < 52.02  # the plot in Delft, lon/lat
    other = client.get("/scenarios/example-housing-block/diff?against=example-taller-building")
    assert other.json()["counts"] == between.counts() and other.json()["from"] == between.a


# ------------------------------------------------------------------ writing


def test_a_drawn_building_block_enters_a_new_draft_scenario(demo):
    client, _ = demo
    made = client.post("/scenarios", json={"name": "drawn", "description": "from the viewer"})
    assert made.status_code == 201, made.text
    assert made.headers["location"].endswith("/scenarios/drawn")
    assert made.json()["status"] == "draft" and made.json()["parent"] == "baseline"
    posted = client.post(
        "/scenarios/drawn/interventions",
        json={
            "interventions": [
                block_item(),
                {
                    "kind": "parameter",
                    "parameter": "traffic_growth",
                    "value": 1.1,
                    "unit": "1",
                    "title": "10 % more traffic",
                },
            ]
        },
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["counts"] == {"add": 1, "parameter": 1}
    diff = client.get("/scenarios/drawn/diff").json()
    assert diff["layers"]["buildings"]["added"] == ["drawn-block"]
    assert diff["parameters"][0]["name"] == "traffic_growth"
    # the features API shows it in the scenario, in place, and not in the baseline
    one = client.get("/collections/buildings/items/drawn-block?scenario=drawn")
    assert one.status_code == 200 and one.json()["properties"]["height_m"] == 12.0
    x0, y0, x1, y1 = crs84(BLOCK_RD).bounds
    items = client.get(f"/collections/buildings/items?scenario=drawn&bbox={x0},{y0},{x1},{y1}")
    assert "drawn-block" in [f["id"] for f in items.json()["features"]]
    rd = client.get(f"/collections/buildings/items/drawn-block?scenario=drawn&crs={RD_URI}")
    stored = shapely.geometry.shape(rd.json()["geometry"])
    assert stored.hausdorff_distance(BLOCK_RD) < 0.001  # the block as drawn, within 1 mm
    assert client.get("/collections/buildings/items/drawn-block").status_code == 404
    assert client.get("/scenarios/drawn").json()["interventions"] == 2


@pytest.mark.parametrize(
    ("item", "says"),
    [
        (block_item(layer="nope"), "unknown layer 'nope'"),
        (
            block_item(
                geometry="POLYGON ((4.3670 52.0115, 4.3672 52.0116, 4.3672 52.0115, "
                "4.3670 52.0116, 4.3670 52.0115))"
            ),
            "Self-intersection",
        ),
        (block_item(title=""), "field 'title'"),
        (block_item(geometry=None), "needs a geometry"),
        (block_item(colour="red"), "unknown keys: colour"),
        (block_item(geometry=shapely.geometry.mapping(BLOCK_RD)), "not longitude/latitude"),
        (block_item(kind="paint"), "unknown kind"),
        (block_item(properties={"height_m": "tall"}), "height_m"),
        (
            block_item(geometry=shapely.geometry.mapping(crs84(shapely.box(0, 300000, 9, 300009)))),
            "outside the twin's area",
        ),
        ({"kind": "remove", "layer": "buildings", "id": "no-such", "title": "x"}, "no object"),
        ("not an object", "JSON object"),
    ],
)
def test_bad_interventions_are_refused_and_nothing_is_stored(demo, item, says):
    client, _ = demo
    name = "refusals"
    if client.get(f"/scenarios/{name}").status_code == 404:
        assert client.post("/scenarios", json={"name": name}).status_code == 201
    before = client.get(f"/scenarios/{name}").json()
    good = block_item(id="fine-block")  # first and valid: must not be applied either
    r = client.post(f"/scenarios/{name}/interventions", json={"interventions": [good, item]})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert "item 2" in r.json()["detail"] and says in r.json()["detail"]
    after = client.get(f"/scenarios/{name}").json()
    assert after["head_transaction"] == before["head_transaction"]
    assert client.get(f"/scenarios/{name}/diff").json()["counts"] == {}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "../../etc/passwd"}, 400),
        ({"name": "a/b"}, 400),
        ({"name": "x" * 65}, 400),
        ({"name": "baseline"}, 400),
        ({"name": ""}, 400),
        ({"name": "example-housing-block"}, 409),
        ({"name": "orphan", "parent": "no-such-parent"}, 400),
        ({"name": "orphan", "parent": "../x"}, 400),
        ({"description": "no name"}, 400),
    ],
)
def test_bad_new_scenarios_are_refused(demo, body, status):
    client, _ = demo
    before = {s["name"] for s in client.get("/scenarios").json()["scenarios"]}
    r = client.post("/scenarios", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert {s["name"] for s in client.get("/scenarios").json()["scenarios"]} == before


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/scenarios/nope", 404),
        ("/scenarios/" + "a" * 300, 400),
        ("/scenarios/%27%3B%20DROP%20TABLE%20tw_branches%3B--", 400),
        ("/scenarios/example-housing-block@nope", 404),
        ("/scenarios/nope/interventions", 404),
        ("/scenarios/nope/diff", 404),
        ("/scenarios/example-housing-block/diff?against=nope", 404),
        ("/scenarios/example-housing-block/diff?against=..%2F..", 400),
        ("/scenarios/baseline/diff", 400),
    ],
)
def test_hostile_scenario_requests_get_a_problem(demo, url, status):
    client, _ = demo
    r = client.get(url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_path_tricks_never_reach_a_file(demo):
    client, _ = demo
    for url in ("/scenarios/..%2F..%2Fetc%2Fpasswd", "/scenarios/../../etc/passwd"):
        r = client.get(url)
        assert 400 <= r.status_code < 500 and "root:" not in r.text


# ------------------------------------------------------------------ a small seed twin


@pytest.fixture
def seeded(tmp_path):
    ws = init_workspace(tmp_path / "twin")
    seed_twin(ws)
    sc.create_scenario(ws.store, "taller")
    sc.apply_interventions(ws.store, "taller", [modify("h1", height_m=30.0)])
    sc.freeze_scenario(ws.store, "taller", "v1")
    sc.create_scenario(ws.store, "decided")
    sc.apply_interventions(ws.store, "decided", [modify("h2", height_m=9.0)])
    ws.store.scenarios.set_status("decided", "decided")
    ws.close()
    with TestClient(create_app(tmp_path / "twin", hosts=["testserver"])) as c:
        yield c


def change(oid: str) -> dict:
    return {
        "kind": "modify",
        "layer": "houses",
        "id": oid,
        "title": "t",
        "properties": {"height_m": 99.0},
    }


def test_frozen_versions_and_decided_scenarios_do_not_change(seeded):
    frozen = seeded.get("/scenarios/taller@v1").json()
    assert frozen["frozen"][0]["label"] == "v1" and len(frozen["frozen"][0]["hash"]) == 64
    for name in ("taller@v1", "decided", "baseline"):
        r = seeded.post(f"/scenarios/{name}/interventions", json={"interventions": [change("h3")]})
        assert r.status_code == 409, (name, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
    assert (
        seeded.get("/collections/houses/items/h3?scenario=taller").json()["properties"]["height_m"]
        != 99.0
    )
    # the scenario itself still changes, and a stale expected_head is a conflict
    head = seeded.get("/scenarios/taller").json()["head_transaction"]
    ok = seeded.post(
        "/scenarios/taller/interventions",
        json={"interventions": [change("h3")], "expected_head": head},
    )
    assert ok.status_code == 201, ok.text
    late = seeded.post(
        "/scenarios/taller/interventions",
        json={"interventions": [change("h4")], "expected_head": head},
    )
    assert late.status_code == 409
    assert seeded.get("/scenarios/taller/diff").json()["layers"]["houses"]["modified"] == [
        "h1",
        "h3",
    ]


def test_rd_coordinates_with_a_crs_and_a_fork_of_a_frozen_version(seeded):
    r = seeded.post("/scenarios", json={"name": "fork", "parent": "taller@v1"})
    assert r.status_code == 201 and r.json()["parent"] == "taller"
    box = shapely.box(85003, 447509, 85008, 447513)
    item = {
        "kind": "add",
        "layer": "houses",
        "id": "new",
        "title": "a house",
        "geometry": box.wkt,
        "properties": {"height_m": 7.0},
    }
    r = seeded.post(
        "/scenarios/fork/interventions", json={"interventions": [item], "crs": "EPSG:28992"}
    )
    assert r.status_code == 201, r.text
    got = seeded.get(f"/collections/houses/items/new?scenario=fork&crs={RD_URI}").json()
    assert shapely.geometry.shape(got["geometry"]).equals(box)
    diff = seeded.get("/scenarios/fork/diff?against=baseline").json()
    assert diff["layers"]["houses"] == {
        "added": ["new"],
        "modified": ["h1"],
        "removed": [],
        "attributes": {"h1": ["height_m"]},
    }


def test_openapi_documents_every_resource(demo):
    client, _ = demo
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/scenarios",
        "/scenarios/{name}",
        "/scenarios/{name}/interventions",
        "/scenarios/{name}/diff",
        "/scenarios/{name}/findings",
        "/runs",
        "/runs/{run_id}",
        "/runs/{run_id}/outputs/{name}",
        "/runs/{run_id}/outputs/{name}/overlay",
        "/runs/{run_id}/outputs/{name}/image.png",
        "/runs/{run_id}/objects",
        "/comparisons",
        "/here",
    ):
        assert path in paths, path
        for op in paths[path].values():
            assert op.get("summary"), (path, op)


def test_concurrent_creates_of_one_name_make_one_scenario_and_conflicts(seeded):
    """People creating the same name at once: one scenario, every other answer a 409
    Conflict (not a 400 from a unique constraint that caught the race)."""
    from concurrent.futures import ThreadPoolExecutor

    def create(_):
        r = seeded.post("/scenarios", json={"name": "same-name"})
        return r.status_code, r.headers["content-type"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(8)))
    codes = sorted(code for code, _ in answers)
    assert codes == [201] + [409] * 7, codes
    assert all(t.startswith(PROBLEM) for code, t in answers if code == 409)
    names = [s["name"] for s in seeded.get("/scenarios").json()["scenarios"]]
    assert names.count("same-name") == 1
