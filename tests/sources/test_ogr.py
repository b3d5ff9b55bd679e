"""The shared GDAL vector reader: CRS, bounds, field types, values, validity, errors."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyogrio
import pyproj
import pytest
import shapely

from tweeling.core.errors import InputError
from tweeling.core.features import FieldType
from tweeling.sources.ogr import (
    check_geometries,
    conform_geometry_type,
    make_valid,
    ogr_field_type,
    read_vector,
    read_vector_layer,
    schema_geometry_type,
)

# A 10 x 10 m square and a self-intersecting "bow tie" in Delft (RD New).
SQUARE = shapely.box(85000, 447000, 85010, 447010)
BOWTIE = shapely.Polygon([(85000, 447000), (85010, 447010), (85010, 447000), (85000, 447010)])


def write(
    path: Path,
    geoms: list,
    fields: dict[str, np.ndarray] | None = None,
    *,
    crs: str | None = "EPSG:28992",
    layer: str | None = None,
    geometry_type: str = "Polygon",
    driver: str | None = None,
    append: bool = False,
) -> Path:
    fields = fields or {"name": np.array([f"f{i}" for i in range(len(geoms))], dtype=object)}
    pyogrio.raw.write(
        path,
        np.array([None if g is None else shapely.to_wkb(g) for g in geoms], dtype=object),
        list(fields.values()),
        fields=list(fields),
        geometry_type=geometry_type,
        crs=crs,
        layer=layer,
        driver=driver,
        append=append,
    )
    return path


def test_ogr_field_types_map_to_twin_types():
    assert ogr_field_type("OFTInteger", "OFSTBoolean") is FieldType.BOOLEAN
    assert ogr_field_type("OFTInteger", "OFSTInt16") is FieldType.INTEGER
    assert ogr_field_type("OFTInteger64") is FieldType.INTEGER
    assert ogr_field_type("OFTReal", "OFSTFloat32") is FieldType.REAL
    assert ogr_field_type("OFTString") is FieldType.TEXT
    assert ogr_field_type("OFTString", "OFSTJSON") is FieldType.JSON
    assert ogr_field_type("OFTDate") is FieldType.DATE
    assert ogr_field_type("OFTDateTime") is FieldType.DATETIME
    assert ogr_field_type("OFTStringList") is FieldType.JSON
    assert ogr_field_type("OFTSomethingNew") is FieldType.TEXT


def test_geopackage_values_and_types_round_trip(tmp_path):
    path = write(
        tmp_path / "t.gpkg",
        [SQUARE, SQUARE],
        {
            "n": np.array([1, 2], dtype=np.int32),
            "big": np.array([5031_0000_0000_0035, 1], dtype=np.int64),
            "x": np.array([1.5, np.nan]),
            "ok": np.array([True, False]),
            "s": np.array(["a", None], dtype=object),
            "d": np.array(["2014-07-09", "2020-02-29"], dtype="datetime64[D]"),
        },
    )
    geoms, columns, types = read_vector(path)
    assert types == {
        "n": FieldType.INTEGER,
        "big": FieldType.INTEGER,
        "x": FieldType.REAL,
        "ok": FieldType.BOOLEAN,
        "s": FieldType.TEXT,
        "d": FieldType.DATE,
    }
    assert columns["n"] == [1, 2]
    assert columns["big"] == [5031_0000_0000_0035, 1]
    assert columns["x"][0] == 1.5 and columns["x"][1] is None
    assert columns["ok"] == [True, False]
    assert columns["s"] == ["a", None]
    assert columns["d"] == [date(2014, 7, 9), date(2020, 2, 29)]
    assert all(shapely.equals_exact(g, SQUARE) for g in geoms)


def test_nulls_in_integer_and_boolean_columns_become_none(tmp_path):
    path = tmp_path / "nulls.geojson"
    path.write_text(
        '{"type":"FeatureCollection","features":['
        '{"type":"Feature","properties":{"i":1,"b":true,"t":"2016-03-15T12:02:49"},'
        '"geometry":{"type":"Point","coordinates":[4.36,52.01]}},'
        '{"type":"Feature","properties":{"i":null,"b":null,"t":null},'
        '"geometry":{"type":"Point","coordinates":[4.37,52.02]}}]}'
    )
    data = read_vector_layer(path)
    assert data.field_types["i"] is FieldType.INTEGER
    assert data.field_types["b"] is FieldType.BOOLEAN
    assert data.columns["i"] == [1, None]
    assert data.columns["b"] == [True, None]
    assert data.field_types["t"] is FieldType.DATETIME
    first = data.columns["t"][0]
    assert isinstance(first, datetime) and first.tzinfo is not None  # naive -> Amsterdam
    assert first.utcoffset().total_seconds() == 3600
    assert data.columns["t"][1] is None


def test_reprojects_to_rd_and_keeps_z(tmp_path):
    lon, lat, z = 4.3571, 52.0116, 12.5
    path = write(
        tmp_path / "z.gpkg",
        [shapely.Point(lon, lat, z)],
        crs="EPSG:4326",
        geometry_type="Point Z",
    )
    data = read_vector_layer(path)
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True).transform(
        lon, lat
    )
    (px, py, pz) = shapely.get_coordinates(data.geometries[0], include_z=True)[0]
    assert (px, py) == pytest.approx((x, y), abs=1e-6)
    assert pz == z
    assert data.has_z
    assert data.source_crs.to_epsg() == 4326


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_missing_crs_is_refused_unless_given(tmp_path):
    path = write(tmp_path / "nocrs.shp", [SQUARE], crs=None)
    with pytest.raises(InputError) as err:
        read_vector(path)
    assert "nocrs.shp" in str(err.value) and "'nocrs'" in str(err.value)
    assert "coordinate reference system" in str(err.value)
    geoms, _, _ = read_vector(path, crs="EPSG:28992")
    assert shapely.equals(geoms[0], SQUARE)


def test_conflicting_crs_is_refused(tmp_path):
    path = write(tmp_path / "rd.gpkg", [SQUARE])
    with pytest.raises(InputError, match="declares"):
        read_vector(path, crs="EPSG:4326")
    read_vector(path, crs="EPSG:28992")  # the same CRS is fine


def test_coordinates_outside_the_netherlands_are_refused(tmp_path):
    # RD metres labelled as lon/lat: the classic wrong-CRS mistake.
    path = write(
        tmp_path / "wrong.gpkg", [shapely.Point(5, 52)], crs="EPSG:3857", geometry_type="Point"
    )
    with pytest.raises(InputError, match="outside the Netherlands") as err:
        read_vector(path)
    assert "wrong.gpkg" in str(err.value)


def test_invalid_geometry_names_file_layer_feature_and_reason(tmp_path):
    path = write(tmp_path / "bad.gpkg", [SQUARE, BOWTIE], layer="parcels")
    with pytest.raises(InputError) as err:
        read_vector(path)
    message = str(err.value)
    assert "bad.gpkg" in message
    assert "'parcels'" in message
    assert err.value.object_id == "2"  # GeoPackage FIDs start at 1
    assert "Self-intersection" in message


def test_invalid_geometry_is_repaired_on_request_and_listed(tmp_path):
    path = write(tmp_path / "bad.gpkg", [SQUARE, BOWTIE], layer="parcels")
    data = read_vector_layer(path, repair=True)
    assert shapely.is_valid(data.geometries).all()
    assert data.geometry_type == "MULTIPOLYGON"
    assert [g.geom_type for g in data.geometries] == ["MultiPolygon", "MultiPolygon"]
    assert data.geometries[1].area == pytest.approx(50.0)  # the two triangles of the bow tie
    assert [(r.feature, r.reason.split("[")[0]) for r in data.repairs] == [
        ("2", "Self-intersection")
    ]
    assert "make_valid" in data.repairs[0].method


def test_id_field_names_the_feature_in_messages(tmp_path):
    path = write(tmp_path / "bad.gpkg", [BOWTIE], {"code": np.array(["P-7"], dtype=object)})
    with pytest.raises(InputError) as err:
        read_vector_layer(path, id_field="code")
    assert err.value.object_id == "P-7"


def test_missing_geometry_is_refused(tmp_path):
    path = tmp_path / "nogeom.geojson"
    path.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","id":3,'
        '"properties":{"a":1},"geometry":null}]}'
    )
    with pytest.raises(InputError, match="no geometry"):
        read_vector(path)


def test_several_layers_need_a_layer_name(tmp_path):
    path = write(tmp_path / "two.gpkg", [SQUARE], layer="a")
    write(path, [SQUARE], layer="b", append=True)
    with pytest.raises(InputError, match="2 layers"):
        read_vector(path)
    with pytest.raises(InputError, match="no layer 'c'"):
        read_vector(path, layer="c")
    geoms, _, _ = read_vector(path, layer="b")
    assert len(geoms) == 1


@pytest.mark.filterwarnings("ignore:GPKG")
def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        read_vector(tmp_path / "absent.gpkg")
    assert "absent.gpkg" in str(err.value)
    corrupt = tmp_path / "corrupt.gpkg"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x13" * 200)
    with pytest.raises(InputError) as err:
        read_vector(corrupt)
    assert "corrupt.gpkg" in str(err.value)


def test_empty_layer_reads_as_empty(tmp_path):
    path = write(tmp_path / "empty.gpkg", [], {"a": np.array([], dtype=object)})
    data = read_vector_layer(path)
    assert len(data) == 0 and data.columns == {"a": []}
    assert data.geometry_type == "POLYGON"


def test_schema_geometry_type_from_layer_or_data():
    assert schema_geometry_type("MultiPolygon", np.array([SQUARE])) == "MULTIPOLYGON"
    assert schema_geometry_type("3D Polygon", np.array([])) == "POLYGON"
    assert schema_geometry_type("Polygon Z", np.array([])) == "POLYGON"
    mixed = np.array([SQUARE, shapely.multipolygons([SQUARE])])
    assert schema_geometry_type("Unknown", mixed) == "MULTIPOLYGON"
    assert schema_geometry_type("Unknown", np.array([SQUARE, shapely.Point(0, 0)])) == "GEOMETRY"
    multi = np.array([SQUARE, shapely.multipolygons([SQUARE, SQUARE])])
    assert schema_geometry_type("Polygon", multi) == "MULTIPOLYGON"


def test_conform_promotes_single_to_multi():
    out = conform_geometry_type(np.array([SQUARE]), "MULTIPOLYGON")
    assert out[0].geom_type == "MultiPolygon" and shapely.equals(out[0], SQUARE)
    assert conform_geometry_type(np.array([SQUARE]), "POLYGON")[0] is SQUARE


def test_check_geometries_passes_valid_input_through():
    geoms = np.array([SQUARE])
    out, repairs = check_geometries(geoms, ["1"], path="x", layer="l")
    assert out is geoms and repairs == []


def test_make_valid_keeps_dimension_and_empties_collapsed_input():
    fixed, method = make_valid(BOWTIE)
    assert fixed.geom_type == "MultiPolygon" and fixed.is_valid and "structure" in method
    flat = shapely.Polygon([(0, 0), (1, 0), (2, 0), (0, 0)])  # collapsed to a line
    fixed, _ = make_valid(flat)
    assert fixed.is_empty and shapely.get_dimensions(fixed) == 2
