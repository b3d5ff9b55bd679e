"""Generic vector file import: GeoJSON, GeoPackage, shapefile, CSV into one twin layer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyogrio
import pyproj
import pytest
import shapely

from tweeling.core.errors import InputError
from tweeling.core.features import FieldType, ImportBatch
from tweeling.services.workspace import init_workspace
from tweeling.sources.file import field_renames, read_file

# The Oude Kerk of Delft, approximately, in lon/lat (CRS84 order).
DELFT_LONLAT = (4.3553, 52.0129)


def geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def point_feature(lon: float, lat: float, **props) -> dict:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def test_geojson_in_crs84_ends_up_in_rd(tmp_path):
    path = geojson(tmp_path / "kerk.geojson", [point_feature(*DELFT_LONLAT, naam="Oude Kerk")])
    batch = read_file(path, layer_name="kerken")
    assert isinstance(batch, ImportBatch)
    assert batch.source == "file:kerk.geojson" and batch.path == str(path)
    assert batch.total is None  # a streamed file is not counted in advance
    (schema,) = batch.layers
    assert schema.name == "kerken" and schema.geometry_type == "POINT"
    assert schema.fields == {"naam": FieldType.TEXT}
    (record,) = list(batch)
    x, y = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:28992", always_xy=True).transform(
        *DELFT_LONLAT
    )
    assert (record.geometry.x, record.geometry.y) == pytest.approx((x, y), abs=1e-6)
    assert 84000 < record.geometry.x < 86000 and 447000 < record.geometry.y < 448000
    assert record.id == "0" and record.layer == "kerken"
    assert record.properties == {"naam": "Oude Kerk"}
    assert batch.metadata["source_crs"] in ("EPSG:4326", "OGC:CRS84")


def test_geopackage_in_rd_round_trips(tmp_path):
    polys = [shapely.box(85000, 447000, 85010, 447010), shapely.box(85020, 447000, 85030, 447012)]
    path = tmp_path / "percelen.gpkg"
    pyogrio.raw.write(
        path,
        np.array(shapely.to_wkb(polys), dtype=object),
        [np.array(["A1", "A2"], dtype=object), np.array([100.0, 120.5]), np.array([3, 4])],
        fields=["code", "opp", "n"],
        geometry_type="Polygon",
        crs="EPSG:28992",
        layer="percelen",
    )
    batch = read_file(path, layer_name="percelen", id_field="code")
    assert batch.layers[0].fields == {
        "code": FieldType.TEXT,
        "opp": FieldType.REAL,
        "n": FieldType.INTEGER,
    }
    records = list(batch)
    assert [r.id for r in records] == ["A1", "A2"]
    assert [r.properties["opp"] for r in records] == [100.0, 120.5]
    for rec, poly in zip(records, polys, strict=True):
        assert shapely.equals_exact(rec.geometry, poly)  # RD stays RD, bit for bit
    with pytest.raises(InputError, match="only once"):  # streamed: one pass, not silently empty
        list(batch)
    # without id_field: the OGR FID (1-based in a GeoPackage)
    assert [r.id for r in read_file(path, layer_name="percelen")] == ["1", "2"]


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_without_crs_fails_unless_crs_given(tmp_path):
    path = tmp_path / "punten.shp"
    pyogrio.raw.write(
        path,
        np.array([shapely.to_wkb(shapely.Point(85000, 447000))], dtype=object),
        [np.array([7])],
        fields=["nr"],
        geometry_type="Point",
        crs=None,
    )
    with pytest.raises(InputError, match="coordinate reference system") as err:
        read_file(path, layer_name="punten")
    assert "punten.shp" in str(err.value)
    batch = read_file(path, layer_name="punten", crs="EPSG:28992")
    (record,) = list(batch)
    assert (record.geometry.x, record.geometry.y) == (85000.0, 447000.0)


def test_csv_without_crs_fails_unless_crs_given(tmp_path):
    path = tmp_path / "bomen.csv"
    path.write_text('id,WKT,soort\n1,"POINT (85000 447000)",linde\n2,"POINT (85001 447002)",eik\n')
    with pytest.raises(InputError, match="coordinate reference system") as err:
        read_file(path, layer_name="bomen")
    assert "bomen.csv" in str(err.value)
    batch = read_file(path, layer_name="bomen", crs="EPSG:28992", id_field="id")
    records = list(batch)
    assert [r.id for r in records] == ["1", "2"]
    assert records[1].properties["soort"] == "eik"
    # CSV layers declare no geometry type and a streamed file is not scanned in advance.
    assert batch.layers[0].geometry_type == "GEOMETRY"


def test_nonexistent_path(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        read_file(tmp_path / "nergens.gpkg", layer_name="x")
    assert "nergens.gpkg" in str(err.value)


def test_truncated_geojson(tmp_path):
    full = json.dumps(
        {"type": "FeatureCollection", "features": [point_feature(*DELFT_LONLAT, a=1)] * 3}
    )
    path = tmp_path / "kapot.geojson"
    path.write_text(full[: len(full) // 2])
    with pytest.raises(InputError) as err:
        read_file(path, layer_name="x")
    assert "kapot.geojson" in str(err.value)


def test_bad_layer_name_is_refused(tmp_path):
    path = geojson(tmp_path / "a.geojson", [point_feature(*DELFT_LONLAT)])
    with pytest.raises(InputError, match="lower case"):
        read_file(path, layer_name="Bad Name")


def test_id_field_must_exist_and_be_unique_and_present(tmp_path):
    path = geojson(
        tmp_path / "dup.geojson",
        [point_feature(*DELFT_LONLAT, code="a"), point_feature(*DELFT_LONLAT, code="a")],
    )
    # Duplicates are refused by the store, which sees every id of a streamed file.
    twin = init_workspace(tmp_path / "twin")
    with pytest.raises(InputError, match="occurs twice") as err:
        twin.store.write(read_file(path, layer_name="x", id_field="code"))
    assert err.value.object_id == "a" and "dup.geojson" in str(err.value)
    assert twin.store.transactions() == []  # nothing stored
    twin.close()
    with pytest.raises(InputError, match="no field 'nope'"):
        read_file(path, layer_name="x", id_field="nope")
    path = geojson(
        tmp_path / "gap.geojson",
        [point_feature(*DELFT_LONLAT, code="a"), point_feature(*DELFT_LONLAT, code=None)],
    )
    with pytest.raises(InputError, match="empty") as err:
        list(read_file(path, layer_name="x", id_field="code"))
    assert err.value.field == "code"


def test_reserved_field_names_are_renamed(tmp_path):
    path = geojson(tmp_path / "r.geojson", [point_feature(*DELFT_LONLAT, geom="x", naam="y")])
    batch = read_file(path, layer_name="r")
    assert set(batch.layers[0].fields) == {"src_geom", "naam"}
    assert next(iter(batch)).properties == {"src_geom": "x", "naam": "y"}
    assert batch.metadata["renamed_fields"] == {"geom": "src_geom"}
    assert field_renames(["fid", "src_fid"]) == {"fid": "src_src_fid", "src_fid": "src_fid"}


def test_invalid_geometry_refused_or_repaired(tmp_path):
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[4.35, 52.01], [4.36, 52.02], [4.36, 52.01], [4.35, 52.02], [4.35, 52.01]]
        ],
    }
    path = geojson(
        tmp_path / "strik.geojson",
        [{"type": "Feature", "properties": {"k": "b"}, "geometry": bowtie}],
    )
    with pytest.raises(InputError, match="Self-intersection") as err:
        list(read_file(path, layer_name="x", id_field="k"))
    assert err.value.object_id == "b" and "strik.geojson" in str(err.value)
    batch = read_file(path, layer_name="x", repair=True)
    assert batch.metadata["repair"] is True
    record = next(iter(batch))
    assert [r["feature"] for r in batch.metadata["repaired"]] == ["0"]
    assert record.geometry.is_valid and record.geometry.geom_type == "MultiPolygon"
    assert batch.layers[0].geometry_type == "MULTIPOLYGON"  # the repair made it multi
