"""Natura 2000 import from shared/data/natura2000/natura2000.geojson (CRS84 -> RD New)."""

from __future__ import annotations

import json

import orjson
import pyproj
import pytest
import shapely

from tweeling.core.errors import InputError
from tweeling.core.features import FieldType
from tweeling.sources.natura2000 import clean_sitecode, read_natura2000, to_bool


@pytest.fixture(scope="module")
def path(shared_data):
    return shared_data / "natura2000" / "natura2000.geojson"


@pytest.fixture(scope="module")
def source(path):
    return orjson.loads(path.read_bytes())


@pytest.fixture(scope="module")
def batch(path):
    # 36 sites have self-intersecting outlines in this file: import with repair.
    return read_natura2000(path, repair=True)


@pytest.fixture(scope="module")
def sites(batch):
    return {r.properties["naam"]: r for r in batch}


def test_counts(batch, sites):
    assert batch.total == 144 and len(sites) == 144
    assert sum(r.properties["stikstofgevoelig"] for r in sites.values()) == 112
    assert batch.source == "natura2000:natura2000.geojson"
    (schema,) = batch.layers
    assert schema.name == "natura2000" and schema.geometry_type == "MULTIPOLYGON"
    assert schema.fields["stikstofgevoelig"] is FieldType.BOOLEAN
    assert schema.fields["n2000_nummer"] is FieldType.INTEGER
    for name in ("naam", "sitecode", "richtlijn", "besluit"):
        assert schema.fields[name] is FieldType.TEXT


def test_ids_are_sitecodes_else_site_numbers(sites, batch):
    ids = [r.id for r in sites.values()]
    assert len(set(ids)) == 144
    assert sites["Aamsveen"].id == "NL2003001"
    # Bird-directive-only sites have sitecode "-" in this file: the Natura 2000 number is used.
    abtskolk = sites["Abtskolk & De Putten"]
    assert abtskolk.id == "N2000-162" and abtskolk.properties["sitecode"] is None
    assert len(batch.metadata["ids_from_n2000_nummer"]) == 23
    assert sum(i.startswith("NL") for i in ids) == 121


def test_invalid_outlines_are_refused_without_repair(path):
    with pytest.raises(InputError, match="Self-intersection") as err:
        read_natura2000(path)
    assert "natura2000.geojson" in str(err.value)
    assert err.value.object_id == "Bemelerberg & Schiepersberg"  # first invalid site


def test_repairs_are_listed_and_results_valid(batch, sites):
    repaired = batch.metadata["repaired"]
    assert batch.metadata["repair"] is True and len(repaired) == 36
    assert "Veluwe" in {r["feature"] for r in repaired}
    for r in sites.values():
        assert r.geometry.is_valid and r.geometry.geom_type == "MultiPolygon"


def test_rd_coordinate_matches_an_independent_transform(sites, source):
    aamsveen = next(f for f in source["features"] if f["properties"]["naam"] == "Aamsveen")
    lon, lat = aamsveen["geometry"]["coordinates"][0][0][0]
    assert (lon, lat) == (6.956009557584667, 52.194936537159236)  # first position in the file
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True).transform(
        lon, lat
    )
    first = shapely.get_coordinates(sites["Aamsveen"].geometry)[0]
    assert tuple(first) == pytest.approx((x, y), abs=1e-6)
    assert 258000 < x < 266000 and 464000 < y < 472000  # south of Enschede, at the border


def test_area_matches_the_geodesic_area(sites, source):
    """RD area of a (valid) site against its area on the WGS84 ellipsoid (pyproj.Geod)."""
    feature = next(f for f in source["features"] if f["properties"]["naam"] == "Aamsveen")
    lonlat = shapely.geometry.shape(feature["geometry"])
    assert lonlat.is_valid
    geodesic, _ = pyproj.Geod(ellps="WGS84").geometry_area_perimeter(lonlat)
    rd_area = sites["Aamsveen"].geometry.area
    assert rd_area == pytest.approx(abs(geodesic), rel=5e-4)  # RD scale error < 0.02 %
    assert 100e4 < rd_area < 200e4  # about 150 ha


def test_area_matches_a_published_area(sites):
    # Natura 2000-gebied 94 Naardermeer, gebiedendocument (Natura 2000 profile): "Oppervlakte:
    # 1.169 ha". The outline here is the current one (the profile is older): within 3 %.
    assert sites["Naardermeer"].geometry.area / 1e4 == pytest.approx(1169, rel=0.03)


def test_north_sea_sites_are_included(sites):
    dogger = sites["Doggersbank"].geometry
    assert dogger.bounds[3] > 629000  # beyond core RD bounds: checked against the Dutch EEZ


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        read_natura2000(tmp_path / "natura2000.geojson")
    assert "natura2000.geojson" in str(err.value)


def test_corrupt_json(tmp_path, path):
    bad = tmp_path / "kapot.geojson"
    bad.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(InputError) as err:
        read_natura2000(bad)
    assert "kapot.geojson" in str(err.value)


def test_required_fields(tmp_path):
    bad = tmp_path / "n.geojson"
    bad.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"naam": "X"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[5, 52], [5.01, 52], [5.01, 52.01], [5, 52]]],
                        },
                    }
                ],
            }
        )
    )
    with pytest.raises(InputError, match="missing") as err:
        read_natura2000(bad)
    assert "n.geojson" in str(err.value)


def test_small_helpers():
    assert clean_sitecode("-") is None
    assert clean_sitecode(" nl2003001 ") == "NL2003001"
    assert to_bool("ja") is True and to_bool("Nee") is False and to_bool(None) is None
    with pytest.raises(ValueError):
        to_bool("misschien")
