"""OGC API Tiles with Mapbox Vector Tiles over a small twin: features land in the right tile
with their attributes, cross tile edges, dataset tiles stack layers, scenarios and their
edits show (cache invalidation), metadata templates resolve, hostile requests are 4xx and
empty tiles 204."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from tests.scenario_support import modify, seed_twin
from tweeling.api.app import create_app
from tweeling.api.tiles import CONFORMANCE
from tweeling.core.crs import RD_NEW, transformer
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.core.interventions import Intervention
from tweeling.services import scenarios as sc
from tweeling.services import tiles as svc
from tweeling.services.workspace import init_workspace, open_workspace

Z = 16
BUILDINGS = LayerSchema(
    "buildings",
    "POLYGON",
    {
        "bag_id": "TEXT",
        "height_m": "REAL",
        "ground_height_m": "REAL",
        "roof_height_m": "REAL",
        "storeys": "INTEGER",
        "geometry_3d": "JSON",
    },
)
TRAFFIC = LayerSchema("traffic", "LINESTRING", {"aadt_veh_per_day": "REAL"})
TURBINES = LayerSchema("turbines", "POINT", {"hub_height_m": "REAL"})
T = datetime(2024, 1, 1, tzinfo=UTC)


def to_rd(x: float, y: float) -> tuple[float, float]:
    return transformer("EPSG:3857", RD_NEW).transform(x, y)


def to_mercator(x: float, y: float) -> tuple[float, float]:
    return transformer(RD_NEW, "EPSG:3857").transform(x, y)


def anchor() -> svc.TileId:
    """The zoom-16 tile that holds house h5 of the seeded twin."""
    lon, lat = transformer(RD_NEW, "OGC:CRS84").transform(85105.0, 447504.0)
    t = svc.TMS.tile(lon, lat, Z)
    return svc.TileId(Z, t.y, t.x)


def rd_box_around(mx: float, my: float, half_m: float) -> shapely.Polygon:
    cx, cy = to_rd(mx, my)
    return shapely.box(cx - half_m, cy - half_m, cx + half_m, cy + half_m)


def building(fid: str, geom, height: float, **extra) -> FeatureRecord:
    props = {
        "bag_id": f"NL.{fid}",
        "height_m": height,
        "ground_height_m": -0.5,
        "roof_height_m": height - 0.5,
        "storeys": 3,
        "geometry_3d": {"type": "Solid", "boundaries": [[1, 2], [3]]},
        **extra,
    }
    return FeatureRecord("buildings", fid, geom, props, recorded_at=T)


def twin_records(heights: dict[str, float] | None = None) -> ImportBatch:
    """Buildings around the anchor tile: one in its middle, one with a courtyard, one across
    its left edge; a road through it and a turbine in it."""
    heights = heights or {}
    minx, miny, maxx, maxy = anchor().bounds()
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    middle = rd_box_around(mx, my, 6)
    courtyard = shapely.Polygon(
        rd_box_around(mx + 150, my + 150, 20).exterior.coords,
        [rd_box_around(mx + 150, my + 150, 8).exterior.coords],
    )
    edge = rd_box_around(minx, my, 12)  # straddles the boundary with the tile to the west
    road = shapely.LineString([to_rd(minx + 50, miny + 100), to_rd(maxx - 50, miny + 120)])
    turbine = shapely.Point(to_rd(mx - 100, my - 100))
    recs = [
        building("b-middle", middle, heights.get("b-middle", 9.5)),
        building("b-courtyard", courtyard, 14.0),
        building("b-edge", edge, 7.0),
        FeatureRecord("traffic", "r1", road, {"aadt_veh_per_day": 12000.0}, recorded_at=T),
        FeatureRecord("turbines", "t1", turbine, {"hub_height_m": 120.0}, recorded_at=T),
    ]
    return ImportBatch("test:tiles", "tiles.json", [BUILDINGS, TRAFFIC, TURBINES], recs)


@pytest.fixture
def twin(tmp_path, store_url):
    ws = init_workspace(tmp_path / "twin", store=store_url())
    seed_twin(ws)  # 30 houses (layer "houses"), 85000-85590 x 447500-447508
    ws.store.write(twin_records())
    sc.create_scenario(ws.store, "taller")
    sc.apply_interventions(
        ws.store,
        "taller",
        [
            Intervention(
                "modify", "raise", layer="buildings", id="b-middle", properties={"height_m": 30.0}
            ),
            modify("h5", height_m=21.0),
        ],
    )
    ws.close()
    return tmp_path / "twin"


@pytest.fixture
def client(twin):
    with TestClient(create_app(twin, hosts=["testserver"])) as c:
        yield c


def tile_url(t: svc.TileId, layer: str | None = "buildings", query: str = "") -> str:
    path = f"/collections/{layer}/tiles" if layer else "/tiles"
    return f"{path}/WebMercatorQuad/{t.z}/{t.row}/{t.col}{query}"


def decode(response, **options) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(response.content, default_options=options or None)


def surveyor(ring: np.ndarray) -> float:
    """Twice the signed area of a closed ring (the surveyor's formula, MVT 2.1 §4.3.4.4)."""
    x, y = ring[:, 0], ring[:, 1]
    return float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def features(layer: dict) -> dict[str, dict]:
    return {f["properties"]["id"]: f for f in layer["features"]}


def test_building_is_in_its_tile_with_heights_and_id(client):
    t = anchor()
    layers = decode(client.get(tile_url(t)), y_coord_down=True)
    assert list(layers) == ["buildings"]  # one MVT layer, named after the collection
    assert layers["buildings"]["extent"] == 4096
    found = features(layers["buildings"])
    assert set(found) == {"b-middle", "b-courtyard", "b-edge"}
    middle = found["b-middle"]
    assert middle["properties"] == {
        "id": "b-middle",
        "bag_id": "NL.b-middle",
        "height_m": 9.5,
        "ground_height_m": -0.5,
        "roof_height_m": 9.0,
        "storeys": 3,
    }  # nested JSON (geometry_3d) is left out
    # Where it is: its centre in tile units matches the stored footprint's, to a unit (~2 m).
    minx, miny, maxx, maxy = t.bounds()
    ring = np.array(middle["geometry"]["coordinates"][0], dtype=float)
    got = ring[:-1].mean(axis=0)
    expected_x = (minx + maxx) / 2  # the footprint was put at the tile's middle
    expected_y = (miny + maxy) / 2
    want = [(expected_x - minx) / (maxx - minx) * 4096, (maxy - expected_y) / (maxy - miny) * 4096]
    assert np.allclose(got, want, atol=1.5), (got, want)
    # A footprint 12 m wide is ~130 tile units (9.2 cm each at zoom 16, 52° N).
    width = ring[:, 0].max() - ring[:, 0].min()
    assert 125 < width < 136
    # The courtyard stays a hole, with the windings of MVT 2.1 §4.3.4.4: by the surveyor's
    # formula in tile coordinates (y down) the exterior ring's area is positive, the hole's
    # negative.
    court = found["b-courtyard"]["geometry"]
    assert court["type"] == "Polygon" and len(court["coordinates"]) == 2
    outer, hole = (np.array(r, dtype=float) for r in court["coordinates"])
    assert surveyor(outer) > 0 > surveyor(hole)
    # It lies 150 m north-east of the middle: right of and above it (y grows downwards).
    x, y = outer[:-1].mean(axis=0)
    assert x > 2048 + 1000 and y < 2048 - 1000
    # The neighbour to the east does not hold the building in the middle.
    east = client.get(tile_url(svc.TileId(Z, t.row, t.col + 1)))
    assert east.status_code == 204 or "b-middle" not in features(decode(east)["buildings"])


def test_a_feature_across_a_tile_edge_is_in_both_tiles(client):
    t = anchor()
    west = svc.TileId(Z, t.row, t.col - 1)
    here = decode(client.get(tile_url(t)), y_coord_down=True)["buildings"]
    there = decode(client.get(tile_url(west)), y_coord_down=True)["buildings"]
    a = np.array(features(here)["b-edge"]["geometry"]["coordinates"][0])
    b = np.array(features(there)["b-edge"]["geometry"]["coordinates"][0])
    # 24 m wide (~260 units), half on each side of the edge; clipped to each tile plus its
    # 64-unit buffer: the east half here, the west half there.
    assert a[:, 0].min() == -64 and 100 < a[:, 0].max() < 160
    assert b[:, 0].max() == 4096 + 64 and 4096 - 160 < b[:, 0].min() < 4096 - 100
    assert set(features(there)) == {"b-edge"}


def test_lines_and_points_are_encoded_with_their_types(client):
    layers = decode(client.get(tile_url(anchor(), None, "?collections=traffic,turbines")))
    assert list(layers) == ["traffic", "turbines"]
    road = layers["traffic"]["features"][0]
    assert road["geometry"]["type"] == "LineString" and road["properties"]["id"] == "r1"
    turbine = layers["turbines"]["features"][0]
    assert turbine["geometry"]["type"] == "Point"
    assert turbine["properties"] == {"id": "t1", "hub_height_m": 120.0}


def test_dataset_tile_holds_the_named_layers_in_order(client):
    t = anchor()
    layers = decode(client.get(tile_url(t, None, "?collections=buildings,houses")))
    assert list(layers) == ["buildings", "houses"]
    h5 = features(layers["houses"])["h5"]["properties"]
    assert h5 == {"id": "h5", "height_m": 6.0, "name": "house 5", "storeys": 2, "listed": False}
    reverse = decode(client.get(tile_url(t, None, "?collections=houses,buildings")))
    assert list(reverse) == ["houses", "buildings"]
    # A collection's URL names it too (OGC 20-057 /req/collections-selection C).
    by_url = client.get(tile_url(t, None, "?collections=http://testserver/collections/houses"))
    assert list(decode(by_url)) == ["houses"]
    # Without the parameter: every layer with data here.
    assert set(decode(client.get(tile_url(t, None)))) == {
        "buildings",
        "houses",
        "traffic",
        "turbines",
    }


def heights(client, t, scenario: str | None = None, layer: str = "buildings") -> dict:
    query = f"?scenario={scenario}" if scenario else ""
    found = features(decode(client.get(tile_url(t, layer, query)))[layer])
    return {k: f["properties"]["height_m"] for k, f in found.items()}


def test_scenario_tiles_show_the_scenario(client):
    t = anchor()
    assert heights(client, t)["b-middle"] == 9.5
    assert heights(client, t, "taller")["b-middle"] == 30.0
    assert heights(client, t, "taller", "houses")["h5"] == 21.0
    both = decode(client.get(tile_url(t, None, "?collections=houses&scenario=taller")))
    assert features(both["houses"])["h5"]["properties"]["height_m"] == 21.0


def test_cached_tiles_follow_scenario_edits_and_imports(client, twin):
    t = anchor()
    url = tile_url(t, query="?scenario=taller")
    first = client.get(url)
    again = client.get(url)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    cache = client.app.state.tiles.cache
    assert cache.hits >= 1  # the second request was served from the cache
    assert any((twin / "cache" / "tiles").rglob("*.mvt"))  # and kept on disk
    baseline_etag = client.get(tile_url(t)).headers["etag"]
    # Another connection (as another process would) edits the scenario …
    with open_workspace(twin) as ws:
        sc.apply_interventions(
            ws.store,
            "taller",
            [
                Intervention(
                    "modify",
                    "higher",
                    layer="buildings",
                    id="b-middle",
                    properties={"height_m": 45},
                )
            ],
        )
    edited = client.get(url)
    assert edited.headers["etag"] != first.headers["etag"]
    assert heights(client, t, "taller")["b-middle"] == 45.0
    # … which leaves the baseline's tile as it was.
    assert client.get(tile_url(t)).headers["etag"] == baseline_etag
    # A new import of the baseline shows in its tiles; the scenario keeps its own version.
    with open_workspace(twin) as ws:
        ws.store.write(twin_records({"b-middle": 12.0}))
    assert heights(client, t)["b-middle"] == 12.0
    assert heights(client, t, "taller")["b-middle"] == 45.0


def test_frozen_versions_and_conditional_requests(client, twin):
    t = anchor()
    with open_workspace(twin) as ws:
        sc.freeze_scenario(ws.store, "taller", "v1")
    frozen = client.get(tile_url(t, query="?scenario=taller@v1"))
    assert "max-age" in frozen.headers["cache-control"]
    assert features(decode(frozen)["buildings"])["b-middle"]["properties"]["height_m"] == 30.0
    live = client.get(tile_url(t))
    assert live.headers["cache-control"] == "no-cache"
    same = client.get(tile_url(t), headers={"If-None-Match": live.headers["etag"]})
    assert same.status_code == 304 and not same.content


def test_metadata_templates_resolve_to_tiles(client):
    t = anchor()
    listing = client.get("/collections/buildings/tiles?scenario=taller").json()
    (tileset,) = listing["tilesets"]
    assert tileset["dataType"] == "vector" and tileset["crs"].endswith("/3857")
    self_link = next(x["href"] for x in tileset["links"] if x["rel"] == "self")
    meta = client.get(self_link.replace("http://testserver", "")).json()
    item = next(x for x in meta["links"] if x["rel"] == "item")
    assert item["templated"] and item["type"] == "application/vnd.mapbox-vector-tile"
    url = item["href"].format(tileMatrix=t.z, tileRow=t.row, tileCol=t.col)
    by_ogc = client.get(url.replace("http://testserver", ""))
    # TileJSON 3.0.0 keys, as MapLibre reads a source url
    assert meta["tilejson"] == "3.0.0" and meta["maxzoom"] >= 16
    assert meta["minzoom"] <= Z
    by_xyz = client.get(
        meta["tiles"][0].format(z=t.z, x=t.col, y=t.row).replace("http://testserver", "")
    )
    assert by_ogc.content == by_xyz.content  # the same tile, of the scenario
    assert features(decode(by_ogc)["buildings"])["b-middle"]["properties"]["height_m"] == 30.0
    west, south, east, north = meta["bounds"]
    assert 4.3 < west < east < 4.5 and 51.9 < south < north < 52.1
    (layer,) = meta["vector_layers"]
    assert layer["id"] == "buildings"
    assert layer["fields"]["height_m"] == "Number" and "geometry_3d" not in layer["fields"]
    ogc_layer = meta["layers"][0]
    assert ogc_layer["propertiesSchema"]["properties"]["storeys"] == {"type": "integer"}
    assert int(ogc_layer["minTileMatrix"]) == meta["minzoom"]
    scheme = next(x["href"] for x in meta["links"] if x["rel"].endswith("tiling-scheme"))
    tms = client.get(scheme.replace("http://testserver", "")).json()
    assert tms["id"] == "WebMercatorQuad" and len(tms["tileMatrices"]) == 25
    assert tms["tileMatrices"][Z]["matrixWidth"] == 2**Z
    sets = client.get("/tileMatrixSets").json()["tileMatrixSets"]
    assert [s["id"] for s in sets] == ["WebMercatorQuad"]
    # The dataset tileset lists every layer and carries `collections` into its templates.
    dataset = client.get("/tiles/WebMercatorQuad?collections=houses,buildings").json()
    assert [x["id"] for x in dataset["layers"]] == ["houses", "buildings"]
    xyz = dataset["tiles"][0].format(z=t.z, x=t.col, y=t.row).replace("http://testserver", "")
    assert list(decode(client.get(xyz))) == ["houses", "buildings"]
    assert client.get("/tiles").json()["tilesets"][0]["links"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in CONFORMANCE


@pytest.mark.parametrize(
    "url",
    [
        "/collections/buildings/tiles/WebMercatorQuad/-1/0/0",
        "/collections/buildings/tiles/WebMercatorQuad/25/0/0",
        "/collections/buildings/tiles/WebMercatorQuad/2/0/4",
        "/collections/buildings/tiles/WebMercatorQuad/2/4/0",
        "/collections/buildings/tiles/WebMercatorQuad/abc/0/0",
        "/collections/buildings/tiles/WebMercatorQuad/16/1.5/0",
        "/collections/buildings/tiles/WebMercatorQuad/16/0/%EF%BC%91",  # a fullwidth digit
        "/collections/buildings/tiles/WebMercatorQuad/99999999999999999999999/0/0",
        "/collections/buildings/tiles/WorldCRS84Quad/0/0/0",
        "/collections/buildings/tiles/WebMercatorQuad/16/0/0?scenario=nope",
        "/collections/buildings/tiles/WebMercatorQuad/16/0/0?scenario=taller@",
        "/collections/buildings/tiles/WebMercatorQuad/16/0/0?scenario=x'%3B DROP TABLE tw_branches",
        "/collections/houses%3B DROP TABLE houses/tiles/WebMercatorQuad/16/0/0",
        "/collections/' OR 1=1 --/tiles",
        "/collections/nope/tiles/WebMercatorQuad",
        "/tiles/WebMercatorQuad/16/0/0?collections=houses,nope",
        "/tiles/WebMercatorQuad/16/0/0?collections=houses,,buildings",
        "/tiles/WebMercatorQuad?collections=houses') --",
        "/tiles/Foo",
        "/tileMatrixSets/Foo",
    ],
)
def test_hostile_requests_are_4xx_problems(client, url):
    r = client.get(url)
    assert 400 <= r.status_code < 500, (url, r.status_code)
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == r.status_code


def test_the_twin_survives_hostile_names(client):
    client.get("/collections/houses%3B DROP TABLE houses/tiles/WebMercatorQuad/16/0/0")
    client.get(tile_url(anchor(), query="?scenario=x'%3B DROP TABLE tw_branches"))
    assert heights(client, anchor(), "taller")["b-middle"] == 30.0
    assert "h5" in heights(client, anchor(), layer="houses")


def test_empty_tiles_are_204(client):
    t = anchor()
    lon, lat = transformer(RD_NEW, "OGC:CRS84").transform(85100.0, 447504.0)
    low = svc.TMS.tile(lon, lat, 5)  # below the buildings' minimum zoom
    assert client.get(tile_url(svc.TileId(5, low.y, low.x))).status_code == 204
    assert client.get(tile_url(svc.TileId(0, 0, 0))).status_code == 204
    far = svc.TileId(Z, t.row + 3000, t.col)  # in the sea south of Africa, outside the data
    assert client.get(tile_url(far)).status_code == 204
    near = svc.TileId(Z, t.row - 2, t.col)  # inside the twin's area, but nothing there
    empty = client.get(tile_url(near))
    assert empty.status_code == 204 and not empty.content and empty.headers["etag"]


def test_tiles_are_the_same_from_many_threads(twin):
    """Each thread has its own store connection (as the server's thread pool does) and all
    share one tile service and cache."""
    t = anchor()
    wanted = [svc.TileId(Z, t.row + dr, t.col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
    refs = ["taller", None]
    with open_workspace(twin) as ws:
        alone = svc.TileService(twin, "alone", disk=False)
        expected = {
            (x, r): alone.tile(ws.store, ["buildings", "houses"], x, r).data
            for x in wanted
            for r in refs
        }
    shared = svc.TileService(twin, "shared", disk=False)
    got: dict = {}
    errors: list = []

    def work(seed: int):
        try:
            with open_workspace(twin) as ws:
                order = np.random.default_rng(seed).permutation(len(wanted) * len(refs))
                for k in order:
                    x, r = wanted[k // 2], refs[k % 2]
                    data = shared.tile(ws.store, ["buildings", "houses"], x, r).data
                    got.setdefault((x, r), set()).add(data)
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert {k: v.pop() for k, v in got.items() if len(v) == 1} == expected


def test_minimum_zoom_follows_object_size_and_density():
    delft = (84800.0, 447400.0, 85100.0, 447700.0)
    nl = (13000.0, 306000.0, 278000.0, 619000.0)
    assert svc.minimum_zoom(160, delft, 15.0) == 13  # buildings: a pixel at zoom 13
    assert svc.minimum_zoom(12, nl, 80_000.0) <= 2  # provinces from the country view
    assert svc.minimum_zoom(12_000, nl, 1_000.0) == 8  # neighbourhoods: density decides
    assert svc.minimum_zoom(10_000_000, nl, 12.0) == 13  # all Dutch buildings (BAG)
    city = (115000.0, 480000.0, 125000.0, 490000.0)
    assert svc.minimum_zoom(10_000_000, city, 12.0) == svc.MAX_MINZOOM  # at most 14
    assert svc.minimum_zoom(0, None, None) == svc.EMPTY_MINZOOM


def test_encoding_drops_what_collapses_and_keeps_attributes_scalar():
    lon, lat = transformer(RD_NEW, "OGC:CRS84").transform(85100.0, 447504.0)
    z10 = svc.TMS.tile(lon, lat, 10)
    minx, miny, maxx, maxy = svc.TileId(10, z10.y, z10.x).bounds()  # 6 m per tile unit
    mx, my = minx + (maxx - minx) * 0.3, miny + (maxy - miny) * 0.3
    speck = rd_box_around(mx, my, 0.05)  # 10 cm: a sixtieth of a unit
    assert svc.encode_layer("x", [speck], [{"id": "speck"}], (minx, miny, maxx, maxy)) == b""
    bounds = anchor().bounds()
    minx, miny, maxx, maxy = bounds
    big = rd_box_around((minx + maxx) / 2, (miny + maxy) / 2, 20)
    f = type("F", (), {"id": "b", "properties": {"n": 2**70, "ok": True, "t": None}})()
    props = svc.tile_properties(f, ["n", "ok", "t"])
    assert props == {"n": float(2**70), "ok": True, "id": "b"}
    layer = mapbox_vector_tile.decode(svc.encode_layer("x", [big], [props], bounds))["x"]
    assert layer["features"][0]["properties"]["ok"] is True


def test_vectorised_encoding_equals_mapbox_vector_tile(twin):
    """The command encoder gives the tile mapbox-vector-tile's reference encoder gives for
    the same prepared geometries: polygons with holes, multi-polygons, lines, points."""
    t = anchor()
    minx, miny, maxx, maxy = bounds = t.bounds()
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    with open_workspace(twin) as ws:
        stored = [f.geometry for f in ws.store.features("buildings")]
        stored += [f.geometry for f in ws.store.features("houses")]
    extra = [
        shapely.MultiPolygon([rd_box_around(mx, my, 30), rd_box_around(mx + 100, my, 5)]),
        shapely.MultiLineString(
            [[to_rd(mx, my), to_rd(mx + 80, my + 9)], [to_rd(mx, my - 50), to_rd(mx + 1, my)]]
        ),
        shapely.MultiPoint([to_rd(mx, my), to_rd(mx + 40, my - 40)]),
        shapely.Point(to_rd(mx - 40, my + 40)),
    ]
    geoms = stored + extra
    props = [{"id": f"g{i}", "n": i, "even": i % 2 == 0, "x": i / 3} for i in range(len(geoms))]
    prepared, kept = svc.prepare_geometries(geoms, props, bounds)
    ours = mapbox_vector_tile.decode(svc.encode_prepared("x", prepared, kept))
    reference = mapbox_vector_tile.decode(
        mapbox_vector_tile.encode(
            {
                "name": "x",
                "features": [
                    {"geometry": g, "properties": p} for g, p in zip(prepared, kept, strict=True)
                ],
            },
            default_options={"y_coord_down": True, "check_winding_order": False},
        )
    )
    assert len(ours["x"]["features"]) == len(kept) > 20
    assert ours == reference


def test_seeded_tiles_are_served_without_rendering_also_in_a_copy(twin, tmp_path):
    """`tweeling tiles seed` renders ahead of visitors; a copied twin keeps its seeded cache
    (as it keeps everything else); an edit after seeding is shown, not the seeded tile."""
    import shutil

    from typer.testing import CliRunner

    from tweeling.cli.main import app as cli

    with open_workspace(twin) as ws:
        assert ws.store.area_of_interest() is not None
    r = CliRunner().invoke(
        cli, ["tiles", "seed", "--scenario", "taller", "--zoom", "15-16", "--twin", str(twin)]
    )
    assert r.exit_code == 0, r.output
    assert "Seeded" in r.output and "taller" in r.output
    copy = tmp_path / "copy"
    shutil.copytree(twin, copy)
    app = create_app(copy, hosts=["testserver"])
    with TestClient(app) as client:
        t = anchor()
        both = decode(client.get(tile_url(t, None, "?scenario=taller")))
        assert features(both["buildings"])["b-middle"]["properties"]["height_m"] == 30.0
        assert features(both["houses"])["h5"]["properties"]["height_m"] == 21.0
        cache = app.state.tiles.cache
        assert cache.misses == 0 and cache.hits > 0  # nothing was rendered
        with open_workspace(copy) as ws:
            sc.apply_interventions(ws.store, "taller", [modify("h5", height_m=40.0)])
        assert heights(client, t, "taller", "houses")["h5"] == 40.0
        assert cache.misses > 0


def test_seeding_refuses_bad_zooms_and_unknown_scenarios(twin):
    from typer.testing import CliRunner

    from tweeling.cli.main import app as cli

    for args, says in (
        (["--zoom", "12-40"], "zoom levels run from 0 to 16"),
        (["--zoom", "x"], "give a zoom level or a range"),
        (["--scenario", "nope"], "unknown scenario 'nope'"),
    ):
        r = CliRunner().invoke(cli, ["tiles", "seed", *args, "--twin", str(twin)])
        assert r.exit_code == 1 and says in r.output, r.output
    assert not (twin / "cache" / "tiles").exists()  # nothing was rendered


@pytest.mark.postgis
def test_postgis_renders_baseline_tiles_as_the_python_renderer_does(tmp_path, pg_database):
    """On PostGIS the current baseline's tiles come from ST_AsMVT: the same features with
    the same attributes as the tile the Python renderer makes of the same view, polygons
    of the same area (to a few tile units) and the same orientation; scenario tiles are
    still rendered in Python."""
    ws = init_workspace(tmp_path / "twin", store=pg_database)
    ws.store.write(twin_records())
    store, t = ws.store, anchor()
    view = store.view(None)
    service = svc.TileService(tmp_path / "twin", "t", disk=False)
    plan = service.plan(store, "buildings")
    bounds = t.bounds()
    pad = (bounds[2] - bounds[0]) * svc.BUFFER / svc.EXTENT
    padded = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
    box = svc._rd_box(padded)
    fields = list(plan.fields)
    by_sql = store.render_tile("buildings", view, fields, bounds, box, svc.MAX_FEATURES)
    rows = list(store.features("buildings", bbox=box, view=view))
    by_python = svc.encode_layer(
        "buildings",
        [f.geometry for f in rows],
        [svc.tile_properties(f, fields) for f in rows],
        bounds,
    )
    a = features(
        mapbox_vector_tile.decode(by_sql, default_options={"y_coord_down": True})["buildings"]
    )
    b = features(
        mapbox_vector_tile.decode(by_python, default_options={"y_coord_down": True})["buildings"]
    )
    assert a.keys() == b.keys() == {"b-middle", "b-courtyard", "b-edge"}
    for fid in a:
        assert a[fid]["properties"] == b[fid]["properties"]
        ga, gb = (
            shapely.geometry.shape(a[fid]["geometry"]),
            shapely.geometry.shape(b[fid]["geometry"]),
        )
        assert ga.geom_type == gb.geom_type
        assert ga.area == pytest.approx(gb.area, rel=0.02, abs=8)
        assert ga.symmetric_difference(gb).area < 0.05 * gb.area + 8
    assert a["b-middle"]["properties"]["height_m"] == 9.5
    assert isinstance(a["b-middle"]["properties"]["storeys"], int)
    # not the baseline head: the caller renders
    sc.create_scenario(store, "s")
    assert store.render_tile("buildings", store.view("s"), fields, bounds, box, 10) is None
    ws.close()
