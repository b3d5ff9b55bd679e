"""OGC API Features Part 1 over a small twin: landing, conformance, collections, items with
bbox / limit / offset / next links, single items, scenarios, and hostile requests (4xx)."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient

from tests.scenario_support import modify, seed_twin
from tweeling.api.app import create_app
from tweeling.core.crs import RD_NEW, transformer
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace


@pytest.fixture
def client(tmp_path, store_url):
    ws = init_workspace(tmp_path / "twin", store=store_url())
    seed_twin(ws)
    sc.create_scenario(ws.store, "taller")
    sc.apply_interventions(ws.store, "taller", [modify("h1", height_m=30.0)])
    ws.close()
    with TestClient(create_app(tmp_path / "twin", hosts=["testserver"])) as c:
        yield c


def test_landing_conformance_and_collections(client):
    landing = client.get("/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    # the same app serves OGC API Tiles and Processes, and says so
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conf
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core" in conf
    hrefs = {link["href"].removeprefix("http://testserver") for link in landing["links"]}
    assert {"/tiles", "/processes", "/jobs", "/viewer/"} <= hrefs
    cols = client.get("/collections").json()["collections"]
    houses = next(c for c in cols if c["id"] == "houses")
    lon0, lat0, lon1, lat1 = houses["extent"]["spatial"]["bbox"][0]
    assert 4.3 < lon0 < lon1 < 4.5 and 52.0 < lat0 < lat1 < 52.1  # Delft, in CRS84
    assert client.get("/collections/houses").json()["id"] == "houses"
    assert client.get("/openapi.json").status_code == 200


def test_items_page_with_next_links_until_all_are_read(client):
    seen, url = [], "/collections/houses/items?limit=7"
    while url:
        page = client.get(url)
        assert page.status_code == 200 and page.headers["content-type"] == "application/geo+json"
        body = page.json()
        assert body["numberReturned"] == len(body["features"]) <= 7
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert len(seen) == len(set(seen)) == 30  # every house once


def test_bbox_selects_and_coordinates_are_crs84(client):
    tr = transformer(RD_NEW, "OGC:CRS84")
    (x0, x1), (y0, y1) = tr.transform([84995, 85045], [447495, 447530])
    body = client.get(f"/collections/houses/items?bbox={x0},{y0},{x1},{y1}&limit=100").json()
    ids = {f["id"] for f in body["features"]}
    assert ids and len(ids) < 30
    for f in body["features"]:
        lon, lat = shapely.geometry.shape(f["geometry"]).centroid.coords[0]
        assert 4.3 < lon < 4.5 and 52.0 < lat < 52.1


def test_single_items_and_scenarios(client):
    base = client.get("/collections/houses/items/h1").json()
    taller = client.get("/collections/houses/items/h1?scenario=taller").json()
    assert base["id"] == "h1" and taller["properties"]["height_m"] == 30.0
    assert base["properties"]["height_m"] != 30.0


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/collections/nope", 404),
        ("/collections/nope/items", 404),
        ("/collections/houses/items/nope", 404),
        ("/collections/houses/items?bbox=1,2,3", 400),
        ("/collections/houses/items?bbox=a,b,c,d", 400),
        ("/collections/houses/items?bbox=4,53,3,52", 400),
        ("/collections/houses/items?bbox=0,0,999,999", 400),
        ("/collections/houses/items?bbox=nan,0,1,1", 400),
        ("/collections/houses/items?limit=0", 400),
        ("/collections/houses/items?limit=-5", 400),
        ("/collections/houses/items?limit=abc", 400),
        ("/collections/houses/items?offset=-1", 400),
        ("/collections/houses/items?scenario=nope", 404),
        ("/collections/houses/items?scenario=%27%3B%20DROP%20TABLE%20houses%3B--", 400),
        ("/collections/%27%20OR%201%3D1--/items", 404),
    ],
)
def test_hostile_requests_get_a_4xx_never_a_500(client, url, status):
    response = client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/collections/houses/items?limit=1").status_code == 200  # still serving


def test_a_huge_limit_is_capped(client):
    body = client.get("/collections/houses/items?limit=100000000").json()
    assert body["numberReturned"] == 30


@pytest.fixture
def live(tmp_path):
    """``tweeling serve`` on a free local port, in its own process (GDAL holds the GIL while
    it reads, so the server cannot share the test's process)."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    ws = init_workspace(tmp_path / "live")
    seed_twin(ws)
    ws.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "tweeling"
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--twin", str(tmp_path / "live")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/conformance", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"tweeling serve exited: {proc.stderr.read().decode()}")
                time.sleep(0.1)
        yield url, tmp_path / "live"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_gdal_and_owslib_read_the_same_features_as_the_store(live):
    """GDAL's OAPIF driver (through pyogrio) and OWSLib read a collection unchanged."""
    import pyogrio.raw
    from owslib.ogcapi.features import Features

    from tweeling.services.workspace import open_workspace

    url, root = live
    with open_workspace(root) as ws:
        expected = {f.id: f.properties["height_m"] for f in ws.store.features("houses")}
    meta, _, geometry, fields = pyogrio.raw.read(f"OAPIF:{url}", layer="houses")
    names = list(meta["fields"])
    ids = fields[names.index("id")]
    heights = fields[names.index("height_m")]
    assert dict(zip(ids, heights, strict=True)) == expected and len(geometry) == 30
    api = Features(url)
    assert "houses" in [c["id"] for c in api.collections()["collections"]]
    page = api.collection_items("houses", limit=100)
    assert {f["id"]: f["properties"]["height_m"] for f in page["features"]} == expected


RD_URI = "http://www.opengis.net/def/crs/EPSG/0/28992"
ETRS89_URI = "http://www.opengis.net/def/crs/EPSG/0/4258"


def test_part2_crs_rd_and_etrs89_with_bbox_crs(client, tmp_path):
    from tweeling.services.workspace import open_workspace

    with open_workspace(tmp_path / "twin") as ws:
        stored = {f.id: f.geometry for f in ws.store.features("houses")}
    rd = client.get(f"/collections/houses/items?limit=100&crs={RD_URI}")
    assert rd.headers["content-crs"] == f"<{RD_URI}>"
    for f in rd.json()["features"]:
        assert shapely.geometry.shape(f["geometry"]).equals_exact(stored[f["id"]], 1e-6)
    # ETRS89 is latitude first (EPSG:4258 axis order)
    one = client.get(f"/collections/houses/items/h1?crs={ETRS89_URI}")
    lat, lon = shapely.geometry.shape(one.json()["geometry"]).centroid.coords[0]
    assert 52.0 < lat < 52.1 and 4.3 < lon < 4.5
    assert one.headers["content-crs"] == f"<{ETRS89_URI}>"
    # a bbox in RD New selects the same houses as in CRS84
    box = "84995,447495,85045,447530"
    by_rd = client.get(f"/collections/houses/items?bbox={box}&bbox-crs={RD_URI}&limit=100")
    tr = transformer(RD_NEW, "OGC:CRS84")
    (x0, x1), (y0, y1) = tr.transform([84995, 85045], [447495, 447530])
    by_84 = client.get(f"/collections/houses/items?bbox={x0},{y0},{x1},{y1}&limit=100")
    ids_rd = {f["id"] for f in by_rd.json()["features"]}
    assert ids_rd and ids_rd <= {f["id"] for f in by_84.json()["features"]}
    assert RD_URI in client.get("/collections/houses").json()["crs"]


@pytest.mark.parametrize(
    "query",
    [
        "crs=EPSG:3857",
        "crs=http://www.opengis.net/def/crs/EPSG/0/3857",
        "bbox=1,2,3,4&bbox-crs=nope",
        f"bbox=0,0,1,1&bbox-crs={RD_URI}",
    ],
)
def test_unsupported_crs_is_a_400(client, query):
    response = client.get(f"/collections/houses/items?{query}")
    assert response.status_code == 400, response.text


def test_datetime_reads_the_twin_as_it_was_and_counts_are_given(client):
    now = client.get("/collections/houses/items?limit=5").json()
    assert now["numberMatched"] == 30 and now["numberReturned"] == 5
    before = client.get("/collections/houses/items?datetime=2000-01-01T00:00:00Z").json()
    assert before["numberReturned"] == 0  # the houses were recorded later
    later = client.get("/collections/houses/items?datetime=2100-01-01T00:00:00Z&limit=100")
    assert later.json()["numberReturned"] == 30
    for bad in ("2020-01-01/2021-01-01", "not-a-time"):
        assert client.get(f"/collections/houses/items?datetime={bad}").status_code == 400
    both = client.get("/collections/houses/items?datetime=2100-01-01T00:00:00Z&scenario=taller")
    assert both.status_code == 400  # a scenario's state is pinned by a frozen version


def test_number_matched_for_bbox_datetime_and_scenario_when_cheap(client, monkeypatch):
    from tweeling.api import features

    tr = transformer(RD_NEW, "OGC:CRS84")
    (x0, x1), (y0, y1) = tr.transform([84995, 85045], [447495, 447530])
    url = f"/collections/houses/items?bbox={x0},{y0},{x1},{y1}"
    everything = client.get(url + "&limit=100").json()
    n = everything["numberReturned"]
    assert 2 < n < 30 and everything["numberMatched"] == n
    page = client.get(url + "&limit=1&offset=1").json()
    assert page["numberReturned"] == 1 and page["numberMatched"] == n
    assert "numberMatched" not in client.get(url + "&offset=1000").json()  # past the end
    assert client.get("/collections/houses/items?scenario=taller").json()["numberMatched"] == 30
    later = client.get("/collections/houses/items?datetime=2100-01-01T00:00:00Z").json()
    assert later["numberMatched"] == 30
    # more than max(COUNT_AHEAD, limit) features after the page: counting would cost more
    # than the page, numberMatched is left out
    monkeypatch.setattr(features, "COUNT_AHEAD", 0)
    (x0, x1), (y0, y1) = tr.transform([84990, 85600], [447490, 447520])
    url = f"/collections/houses/items?bbox={x0},{y0},{x1},{y1}"
    assert "numberMatched" not in client.get(url + "&limit=10").json()  # 19 after the page
    assert client.get(url + "&limit=15").json()["numberMatched"] == 30  # 14 after the page
