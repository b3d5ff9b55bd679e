"""The gazetteer (``GET /search``): names of places (CBS, Natura 2000, zoning plans, roads),
ranked; feature and BAG ids; coordinates in RD New or lon/lat; bad queries; the name index
is built once per store state and rebuilt after a change."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient

from tests.scenario_support import seed_twin
from tweeling.api import search as search_api
from tweeling.api.app import create_app
from tweeling.core.crs import RD_NEW, transformer
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.core.interventions import Intervention
from tweeling.services import scenarios as sc
from tweeling.services import search as gazetteer
from tweeling.services.workspace import init_workspace, open_workspace

X, Y = 85_000, 447_500  # Delft centre, RD New


def box(dx: float, dy: float, size: float) -> shapely.Polygon:
    return shapely.box(X + dx, Y + dy, X + dx + size, Y + dy + size)


def layer(name: str, fields: dict, records: list[tuple[str, shapely.Geometry, dict]]):
    schema = LayerSchema(name, "MULTIPOLYGON", fields, title=name)
    return schema, [FeatureRecord(name, fid, g, props) for fid, g, props in records]


def places_batch() -> ImportBatch:
    layers = [
        layer(
            "cbs_gemeenten",
            {"gemeentenaam": "TEXT", "gemeentecode": "TEXT", "water": "TEXT"},
            [
                (
                    "GM0503",
                    box(-4000, -4000, 8000),
                    {"gemeentenaam": "Delft", "gemeentecode": "GM0503", "water": "NEE"},
                ),
                (
                    "GM0503-water",
                    box(-4100, -4100, 50),
                    {"gemeentenaam": "Delft", "gemeentecode": "GM0503", "water": "JA"},
                ),
                (
                    "GM1900",
                    box(40000, 100000, 9000),
                    {"gemeentenaam": "Súdwest-Fryslân", "gemeentecode": "GM1900", "water": "NEE"},
                ),
                (
                    "GM0599",
                    box(-20000, -10000, 9000),
                    {"gemeentenaam": "Rotterdam", "gemeentecode": "GM0599", "water": "NEE"},
                ),
            ],
        ),
        layer(
            "cbs_buurten",
            {"statnaam": "TEXT", "statcode": "TEXT", "rubriek": "TEXT"},
            [
                (
                    "BU05031100",
                    box(0, 0, 500),
                    {"statnaam": "Centrum", "statcode": "BU05031100", "rubriek": "buurt"},
                ),
                (
                    "BU05990100",
                    box(-19000, -9000, 800),
                    {"statnaam": "Centrum", "statcode": "BU05990100", "rubriek": "buurt"},
                ),
                (
                    "BU05032700",
                    box(600, 0, 300),
                    {"statnaam": "Delftzicht", "statcode": "BU05032700", "rubriek": "buurt"},
                ),
                (
                    "BU05030000",
                    box(900, 0, 300),
                    {"statnaam": "Oud Delft", "statcode": "BU05030000", "rubriek": "buurt"},
                ),
                (
                    "BU05039900",
                    box(1200, 0, 300),
                    {"statnaam": "Nieuwdelftbuurt", "statcode": "BU05039900", "rubriek": "buurt"},
                ),
            ],
        ),
        layer(
            "natura2000",
            {"naam": "TEXT", "sitecode": "TEXT"},
            [
                (
                    "NL1000017",
                    box(-30000, -30000, 5000),
                    {"naam": "Oude Maas", "sitecode": "NL1000017"},
                )
            ],
        ),
        layer(
            "zoning_plan_objects",
            {"plan_id": "TEXT", "naam": "TEXT", "object_type": "TEXT"},
            [
                (
                    "NL.IMRO.0503.BP1",
                    box(0, 0, 900),
                    {
                        "plan_id": "NL.IMRO.0503.BP1",
                        "naam": "Binnenstad Delft",
                        "object_type": "Bestemmingsplangebied",
                    },
                ),
                (
                    "NL.IMRO.0503.BV1",
                    box(0, 0, 10),
                    {"plan_id": "NL.IMRO.0503.BP1", "naam": "bouwvlak", "object_type": "Bouwvlak"},
                ),
            ],
        ),
        layer(
            "buildings",
            {"bag_id": "TEXT"},
            [("b1", box(10, 10, 10), {"bag_id": "NL.IMBAG.Pand.0503100000018603"})],
        ),
    ]
    schemas = [s for s, _ in layers]
    records = [r for _, rs in layers for r in rs]
    return ImportBatch("test:places", "places.json", schemas, records, total=len(records))


def road_batch(name: str) -> ImportBatch:
    schema = LayerSchema("road_traffic", "MULTILINESTRING", {"name": "TEXT"}, title="Roads")
    line = shapely.MultiLineString([[(X, Y), (X + 200, Y + 50)]])
    rec = FeatureRecord("road_traffic", "road-1", line, {"name": name})
    return ImportBatch("test:roads", "roads.json", [schema], [rec], total=1)


def make_twin(root):
    ws = init_workspace(root)
    seed_twin(ws)  # houses h0…h29 (their "name" is not a place name)
    ws.store.write(places_batch())
    ws.store.write(road_batch("Oude Delft (illustrative)"))
    ws.store.set_area_of_interest((X - 2000, Y - 2000, X + 2000, Y + 2000))
    sc.create_scenario(ws.store, "plan")
    added = Intervention("add", "new", layer="houses", id="new-house", geometry=box(50, 50, 10))
    sc.apply_interventions(ws.store, "plan", [added])
    ws.close()
    return root


def serve(twin):
    app = create_app(twin, hosts=["testserver"])
    if not any(getattr(r, "path", None) == "/search" for r in app.routes):
        app.include_router(search_api.router)  # until app.py includes it
    return TestClient(app)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One twin for the tests that only read it."""
    with serve(make_twin(tmp_path_factory.mktemp("search") / "twin")) as c:
        yield c


@pytest.fixture
def own(tmp_path):
    """A twin of its own, for a test that changes it."""
    twin = make_twin(tmp_path / "twin")
    with serve(twin) as c:
        yield c, twin


def find(client, q: str, **params) -> list[dict]:
    response = client.get("/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["results"]


def labels(client, q: str, **params) -> list[str]:
    return [h["label"] for h in find(client, q, **params)]


def test_a_place_name_gives_label_kind_layer_id_point_and_bbox_in_crs84(client):
    hit = find(client, "Delft")[0]
    assert (hit["label"], hit["kind"], hit["layer"], hit["id"]) == (
        "Delft",
        "gemeente",
        "cbs_gemeenten",
        "GM0503",
    )
    lon, lat = hit["point"]
    lon0, lat0, lon1, lat1 = hit["bbox"]
    assert lon0 < lon < lon1 and lat0 < lat < lat1
    assert 4.2 < lon < 4.5 and 51.9 < lat < 52.1  # Delft, longitude first
    assert hit["href"].endswith("/collections/cbs_gemeenten/items/GM0503")


def test_ranking_exact_then_prefix_then_word_then_substring(client):
    assert labels(client, "delft") == [
        "Delft",  # exact
        "Delftzicht, Delft",  # the name starts with the query
        "Binnenstad Delft",  # a word of the name starts with it; the largest area first
        "Oud Delft, Delft",  # (a buurt)
        "Oude Delft (illustrative)",  # (a road: no area)
        "Nieuwdelftbuurt, Delft",  # the name contains it
    ]


def test_same_name_the_one_in_the_twins_area_first_and_the_water_part_left_out(client):
    hits = find(client, "Centrum")
    assert [h["label"] for h in hits] == ["Centrum, Delft", "Centrum, Rotterdam"]
    assert [h["id"] for h in find(client, "delft") if h["layer"] == "cbs_gemeenten"] == ["GM0503"]


def test_case_and_accents_do_not_matter_and_words_may_name_the_gemeente(client):
    for q in ("sudwest fryslan", "SÚDWEST-FRYSLÂN", "fryslan"):
        assert labels(client, q) == ["Súdwest-Fryslân"]
    assert labels(client, "centrum rotterdam") == ["Centrum, Rotterdam"]


def test_zoning_plan_names_not_their_objects_and_natura2000(client):
    assert labels(client, "bouwvlak") == []  # a plan object's type, not a place
    hit = find(client, "oude maas")[0]
    assert (hit["kind"], hit["layer"]) == ("natura2000", "natura2000")


def test_feature_ids_and_bag_ids(client):
    assert [(h["kind"], h["id"]) for h in find(client, "gm0503")][:1] == [("feature", "GM0503")]
    for q in ("NL.IMBAG.Pand.0503100000018603", "0503100000018603", "503100000018603"):
        hits = find(client, q)
        assert [(h["kind"], h["layer"], h["id"]) for h in hits] == [
            ("bag pand", "buildings", "b1")
        ], q
    assert find(client, "0503010000018603") == []  # object type 01: not a pand


def test_a_scenario_s_feature_is_found_in_that_scenario_only(client):
    assert find(client, "new-house") == []
    hit = find(client, "new-house", scenario="plan")[0]
    assert (hit["layer"], hit["id"]) == ("houses", "new-house")
    assert client.get("/search", params={"q": "x", "scenario": "nope"}).status_code == 404


@pytest.mark.parametrize(
    ("q", "lonlat"),
    [
        (f"{X},{Y}", None),  # RD New
        (f"{X} {Y}", None),
        ("4.3571,52.0116", (4.3571, 52.0116)),  # lon, lat
        ("52.0116, 4.3571", (4.3571, 52.0116)),  # lat, lon as a map site copies it
    ],
)
def test_coordinates(client, q, lonlat):
    hit = find(client, q)[0]
    assert hit["kind"] == "coordinate" and hit["layer"] is None
    if lonlat is None:
        lonlat = transformer(RD_NEW, "OGC:CRS84").transform(X, Y)
    assert hit["point"] == pytest.approx(list(lonlat), abs=1e-6)
    assert hit["bbox"] == pytest.approx(list(lonlat) * 2, abs=1e-6)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"q": ""}, 400),
        ({"q": "   "}, 400),
        ({"q": "x" * 1000}, 400),
        ({}, 400),
        ({"q": "delft", "limit": 0}, 400),
        ({"q": "delft", "limit": 1000}, 400),
        ({"q": "delft", "limit": "many"}, 400),
        ({"q": "delft", "f": "xml"}, 400),
        ({"q": "!!!"}, 200),
        ({"q": "%_*'\"; DROP TABLE houses;--"}, 200),
        ({"q": "1e999,1e999"}, 200),
        ({"q": "999999999999,1"}, 200),
    ],
)
def test_bad_queries_are_a_400_or_nothing_never_a_500(client, params, status):
    response = client.get("/search", params=params)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["results"] == []


def test_limit(client):
    assert len(find(client, "e", limit=2)) == 2


def test_the_index_is_built_once_per_store_state(own, monkeypatch):
    client, twin = own
    builds = []
    real = gazetteer.build_index
    monkeypatch.setattr(gazetteer, "build_index", lambda s: builds.append(1) or real(s))
    gazetteer._cache.clear()
    for q in ("delft", "centrum", "oude maas"):
        find(client, q)
    assert len(builds) == 1
    with open_workspace(twin) as ws:  # another process (or thread) changes the twin
        ws.store.write(road_batch("Phoenixstraat"))
    assert labels(client, "phoenix") == ["Phoenixstraat"]
    assert labels(client, "oude delft") == []  # the road's old name is gone
    assert len(builds) == 2


def test_html_page_of_results_escapes_the_query(client):
    response = client.get(
        "/search", params={"q": "<script>alert(1)</script>"}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>" not in response.text and "&lt;script&gt;" in response.text
    page = client.get("/search", params={"q": "delft", "f": "html"}).text
    assert 'href="http://testserver/collections/cbs_gemeenten/items/GM0503"' in page
