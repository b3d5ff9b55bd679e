"""Synthetic roads and farms (``tweeling synth --roads --farms``): valid model inputs of the
road_traffic and nitrogen_sources layers, inside the Netherlands, roads where people live and
farms where they do not, the same bytes for the same seed, importable into a twin."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from tweeling.cli.main import app
from tweeling.models.input_layers import NITROGEN_SOURCES, ROAD_TRAFFIC
from tweeling.sources.model_inputs import read_model_inputs
from tweeling.sources.synthetic import MUNICIPALITIES, generate, municipalities
from tweeling.sources.synthetic_network import (
    FARM_SECTOR,
    TRAFFIC_SOURCE,
    apportion,
    write_farms,
    write_roads,
)

ROADS, FARMS = 6_000, 1_000


@pytest.fixture(scope="module")
def places(shared_data):
    return municipalities(shared_data / MUNICIPALITIES)


@pytest.fixture(scope="module")
def files(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("synth")
    roads = write_roads(root / "roads.geojson", ROADS, data_dir=shared_data, seed=4, chunk=2_500)
    farms = write_farms(root / "farms.geojson", FARMS, data_dir=shared_data, seed=4, chunk=400)
    return roads, farms


def _features(path) -> list[dict]:
    return json.loads(path.read_bytes())["features"]


def _municipality(places, xy: np.ndarray) -> np.ndarray:
    """Index of the municipality each point lies in (-1: none)."""
    tree = shapely.STRtree(places.areas)
    point, area = tree.query(shapely.points(xy), predicate="within")
    out = np.full(len(xy), -1)
    out[point] = area
    return out


def _density(places) -> np.ndarray:
    return places.inhabitants / (places.land_m2 / 1e6)


def test_the_same_seed_gives_the_same_bytes(files, shared_data, tmp_path):
    for write, path in zip((write_roads, write_farms), files, strict=True):
        count = ROADS if write is write_roads else FARMS
        chunk = 2_500 if write is write_roads else 400
        again = write(tmp_path / "again", count, data_dir=shared_data, seed=4, chunk=chunk)
        assert again.read_bytes() == path.read_bytes()
        other = write(tmp_path / "other", count, data_dir=shared_data, seed=5, chunk=chunk)
        assert other.read_bytes() != path.read_bytes()
    assert not list(tmp_path.glob("*.part"))  # written under name.part, then renamed


def test_every_feature_is_a_valid_model_input(files):
    roads, farms = files
    layers = (
        (roads, ROAD_TRAFFIC, "SYNTH.ROAD.", ROADS),
        (farms, NITROGEN_SOURCES, "SYNTH.FARM.", FARMS),
    )
    for path, spec, prefix, n in layers:
        batch = read_model_inputs(path, layer=spec.name)  # checks every feature (crs: RD New)
        assert batch.total == n
        for feature in _features(path):
            geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
            spec.check(feature["id"], geometry, feature["properties"])
            assert feature["id"].startswith(prefix)
            coords = np.asarray(feature["geometry"]["coordinates"]).ravel()
            assert np.allclose(coords, np.round(coords, 3), rtol=0, atol=1e-9)  # millimetres
    for road in _features(roads):
        assert road["properties"]["traffic_source"] == TRAFFIC_SOURCE
    for farm in _features(farms):
        p = farm["properties"]
        assert p["sector"] == FARM_SECTOR and 2 <= p["emission_height_m"] <= 10
        assert 50 <= p["nh3_kg_per_yr"] <= 50_000  # a livestock farm, not a province


def test_road_classes_have_dutch_speeds_and_traffic(files):
    props = [f["properties"] for f in _features(files[0])]
    speed = np.array([p["speed_light_kmh"] for p in props])
    aadt = np.array([p["aadt_veh_per_day"] for p in props])
    assert set(speed) == {30.0, 50.0, 80.0, 100.0}
    assert np.mean(speed == 30) > 0.5  # most of the network: residential streets
    assert 0.01 < np.mean(speed == 100) < 0.04  # motorways, ~2 % as in the country
    assert aadt[speed == 100].min() >= 20_000  # tens of thousands of vehicles a day
    assert np.median(aadt[speed == 30]) < 2_000 < np.median(aadt[speed == 50])
    assert {p["surface"] for p in props if p["speed_light_kmh"] == 100} <= {
        "1-layer ZOAB",
        "2-layer ZOAB",
        "2-layer ZOAB (fine)",
    }


def test_roads_and_farms_lie_inside_the_municipalities(files, places):
    for path in files:
        xy = np.concatenate(
            [np.reshape(f["geometry"]["coordinates"], (-1, 2)) for f in _features(path)]
        )
        assert (_municipality(places, xy) >= 0).all(), path.name


def test_roads_cluster_where_the_buildings_are(files, places):
    roads = _features(files[0])
    middle = np.array([r["geometry"]["coordinates"][1] for r in roads])
    town = _municipality(places, middle)
    count = np.bincount(town, minlength=len(places.names))
    index = {name: i for i, name in enumerate(places.names)}
    small = places.inhabitants < 10_000
    assert count[index["Amsterdam"]] > 20 * count[small].mean()
    assert count[index["Amsterdam"]] > count[index["Delft"]] > count[index["Schiermonnikoog"]]
    # local streets lie near the buildings: the road-weighted density resembles theirs
    buildings = generate(5_000, seed=4, places=places)
    got = np.median(_density(places)[town])
    want = np.median(_density(places)[[index[m] for m in buildings["municipality"]]])
    assert 0.5 * want < got < 2 * want


def test_farms_are_rural(files, places):
    farms = _features(files[1])
    xy = np.array([f["geometry"]["coordinates"] for f in farms])
    town = _municipality(places, xy)
    buildings = generate(5_000, seed=4, places=places)
    index = {name: i for i, name in enumerate(places.names)}
    b_town = np.array([index[m] for m in buildings["municipality"]])
    density = _density(places)
    assert np.median(density[town]) < 0.3 * np.median(density[b_town])
    # and away from the centres where a municipality's buildings cluster
    away = np.hypot(xy[:, 0] - places.x[town], xy[:, 1] - places.y[town]) / places.spread_m[town]
    assert np.mean(away > 1.5) > 0.95
    b_away = np.hypot(buildings["cx"] - places.x[b_town], buildings["cy"] - places.y[b_town])
    assert np.mean(b_away / places.spread_m[b_town] > 1.5) < 0.5  # buildings: mostly central


def test_apportion_sums_exactly():
    out = apportion(10, np.array([1.0, 1.0, 1.0]))
    assert out.sum() == 10 and sorted(out) == [3, 3, 4]
    assert apportion(0, np.array([1.0])).tolist() == [0]


def test_synth_writes_roads_and_farms_a_twin_imports(tmp_path, shared_data):
    runner = CliRunner()

    def tw(*args):
        return runner.invoke(app, [str(a) for a in args])

    b, r, f = tmp_path / "b.geojsons", tmp_path / "r.geojson", tmp_path / "f.geojson"
    result = tw(
        "synth", 200, b, "--data", shared_data, "--seed", 2,
        "--roads", r, "--road-count", 300, "--farms", f, "--farm-count", 40,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "300 synthetic roads" in result.output and "40 synthetic farms" in result.output
    assert len(b.read_text().splitlines()) == 200  # the buildings as before
    root = tmp_path / "t"
    assert tw("init", root).exit_code == 0
    for path, layer, n in ((r, "road_traffic", 300), (f, "nitrogen_sources", 40)):
        result = tw("import", "model-inputs", path, "--layer", layer, "--twin", root)
        assert result.exit_code == 0, result.output
        assert f"{n} added" in result.output
    # default counts follow the number of buildings; a count without its file is refused
    assert tw("synth", 700, b, "--data", shared_data, "--roads", r).exit_code == 0
    assert len(_features(r)) == 100
    assert tw("synth", 10, b, "--data", shared_data, "--farm-count", 5).exit_code != 0
