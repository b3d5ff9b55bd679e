"""Tests of the CityJSON importer on the real sample files and on small hand-made files."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import shapely

from tweeling.core.errors import InputError
from tweeling.core.timeaxis import AMSTERDAM
from tweeling.sources.cityjson import layer_name, normalise_bag_id, read_cityjson

RD_NAP_URL = "https://www.opengis.net/def/crs/EPSG/0/7415"
# Files whose metadata has no referenceSystem (they are RD New + NAP).
NO_CRS = ("denhaag-lod2", "rotterdam-delfshaven", "s-hertogenbosch-3dbag-multilod")


@pytest.fixture(scope="module")
def data(shared_data: Path) -> Path:
    return shared_data


@pytest.fixture(scope="module")
def delft(data: Path):
    batch = read_cityjson(data / "delft" / "delft.city.json")
    return batch, {(r.layer, r.id): r for r in batch}


def _read(data: Path, name: str):
    crs = "EPSG:7415" if name in NO_CRS else None
    return read_cityjson(data / "cityjson" / f"{name}.city.json", crs=crs)


# --------------------------------------------------------------------------------------------
# Real files


def test_all_sample_files_import(data: Path) -> None:
    files = [*sorted((data / "cityjson").glob("*.city.json")), data / "delft" / "delft.city.json"]
    assert len(files) == 5
    for path in files:
        crs = "EPSG:7415" if path.name.removesuffix(".city.json") in NO_CRS else None
        batch = read_cityjson(path, crs=crs)
        records = list(batch)
        assert batch.total == len(records) > 0
        assert batch.source == f"cityjson:{path.name}"
        assert all(r.geometry.is_valid and not r.geometry.is_empty for r in records)
        assert all(not r.geometry.has_z for r in records)
        declared = {s.name for s in batch.layers}
        assert declared == {r.layer for r in records}  # only layers that receive objects
        for schema in batch.layers:
            for r in records:
                if r.layer == schema.name:
                    assert set(r.properties) <= set(schema.fields), (r.id, schema.name)


def test_delft_counts_per_layer(delft) -> None:
    batch, _ = delft
    # Counted in delft.city.json: the 'type' of its 570 CityObjects (see the data README).
    assert Counter(r.layer for r in batch) == {
        "buildings": 160,
        "roads": 143,
        "land_use": 81,
        "plant_cover": 126,
        "water_bodies": 3,
        "bridges": 3,
        "generic_city_objects": 54,
    }
    assert batch.total == 570
    assert batch.metadata["cityjson_version"] == "2.0"
    assert batch.metadata["crs"] == "EPSG:7415"


def test_delft_building_by_hand(delft) -> None:
    _, by_key = delft
    rec = by_key[("buildings", "b1105d28c-00ba-11e6-b420-2bdcc4ab5d7f")]
    props = rec.properties
    # Attributes of object "b1105d28c-00ba-11e6-b420-2bdcc4ab5d7f" in delft.city.json.
    attrs = props["attributes"]
    assert attrs["identificatiebagpnd"] == "503100000000035"
    assert attrs["measuredHeight"] == 6
    assert attrs["min-height-surface"] == -0.1
    assert attrs["lokaalid"] == "G0503.032e68eff7ec49cce0532ee22091b28c"
    assert props["cityjson_type"] == "Building"
    assert props["lods"] == "1"
    assert props["bag_id"] == "NL.IMBAG.Pand.0503100000000035"
    assert props["construction_year"] is None
    # Its Solid starts with vertex 40 = [393347, 59669, 6452]; transform scale 0.001 and
    # translate [84616.468, 447422.999, -0.452]: x = 393.347 + 84616.468, y = 59.669 +
    # 447422.999, z = 6.452 - 0.452.
    (geom,) = props["geometry_3d"]
    assert (geom["lod"], geom["type"], geom["object"]) == ("1", "Solid", rec.id)
    assert geom["boundaries"][0][0][0][0] == [85009.815, 447482.668, 6.0]
    # Ground = min z (-0.1 = min-height-surface), roof = max z (6.0 = measuredHeight: in this
    # file measuredHeight is the roof's NAP level), so the height above ground is 6.1.
    assert props["ground_height_m"] == -0.1
    assert props["roof_height_m"] == 6.0
    assert props["height_m"] == 6.1
    # creationdate "2014-07-09", tijdstipregistratie "2016-03-15T12:02:49.000", the end
    # times are empty strings.
    assert rec.valid_from == datetime(2014, 7, 9, tzinfo=AMSTERDAM)
    assert rec.recorded_at == datetime(2016, 3, 15, 12, 2, 49, tzinfo=AMSTERDAM)
    assert rec.valid_to is None and rec.record_end is None
    assert rec.geometry.geom_type == "Polygon"
    assert rec.geometry.bounds[0] > 84616 and rec.geometry.bounds[2] < 85141


def test_delft_heights_measured_height_is_roof_level(delft) -> None:
    batch, _ = delft
    for rec in batch:
        if rec.layer != "buildings":
            continue
        p, a = rec.properties, rec.properties["attributes"]
        assert p["roof_height_m"] == pytest.approx(a["measuredHeight"], abs=1e-9)
        assert p["ground_height_m"] == pytest.approx(a["min-height-surface"], abs=1e-9)
        assert p["height_m"] == pytest.approx(p["roof_height_m"] - p["ground_height_m"])
        assert 0 < p["height_m"] < 40  # includes a 0.73 m low structure


def test_delft_footprints_match_bgt_pand(delft, data: Path) -> None:
    """Independent check: 3dfier extruded the BGT pand polygons, so footprints equal them."""
    batch, _ = delft
    con = sqlite3.connect(f"file:{data / 'delft' / 'bgt' / 'bgt_pand.sqlite'}?mode=ro", uri=True)
    bgt = {
        gid: shapely.from_wkb(wkb)
        for wkb, gid in con.execute("SELECT GEOMETRY, gml_id FROM buildingpart")
    }
    con.close()
    buildings = [r for r in batch if r.layer == "buildings"]
    assert len(buildings) == 160
    for rec in buildings:
        pand = bgt[rec.id]
        assert rec.geometry.symmetric_difference(pand).area < 1e-3 * pand.area, rec.id
    rec = next(r for r in buildings if r.id == "b1105d28c-00ba-11e6-b420-2bdcc4ab5d7f")
    assert rec.geometry.area == pytest.approx(bgt[rec.id].area, rel=1e-6)
    assert rec.geometry.area == pytest.approx(992.93, abs=0.01)


def test_delft_other_layers(delft) -> None:
    batch, by_key = delft
    schemas = {s.name: s for s in batch.layers}
    assert schemas["roads"].fields["function"] == "TEXT"
    assert schemas["roads"].fields["relatievehoogteligging"] == "INTEGER"
    roads = [r for r in batch if r.layer == "roads"]
    assert {r.properties["cityjson_type"] for r in roads} == {"Road"}
    assert all(r.geometry.area > 0 for r in roads)
    # Object "b80066d8d-00c9-11e6-b420-2bdcc4ab5d7f": a footpath of two triangles.
    road = by_key[("roads", "b80066d8d-00c9-11e6-b420-2bdcc4ab5d7f")]
    assert road.properties["function"] == "voetpad"
    assert road.properties["surfacematerial"] == "open verharding"
    assert road.properties["relatievehoogteligging"] == 0
    assert road.geometry.geom_type == "Polygon"
    assert road.valid_from == datetime(2014, 7, 9, tzinfo=AMSTERDAM)
    bridge = by_key[("bridges", "b0a8da4cc-2d2a-11e6-9a38-393caa90be70")]
    assert bridge.properties["class"] == "dek"
    assert bridge.properties["relatievehoogteligging"] == 1
    assert bridge.properties["geometry_3d"][0]["type"] == "MultiSurface"


def test_multi_lod_s_hertogenbosch(data: Path) -> None:
    batch = _read(data, "s-hertogenbosch-3dbag-multilod")
    recs = {r.id: r for r in batch}
    assert len(recs) == 10
    assert {r.properties["lods"] for r in recs.values()} == {"1.2,1.3,2.2"}
    rec = recs["6751773"]
    p = rec.properties
    assert [g["lod"] for g in p["geometry_3d"]] == ["1.2", "1.3", "2.2"]
    # Key "6751773" is no BAG id; the attribute identificatie is.
    assert p["bag_id"] == "NL.IMBAG.Pand.0796100000236261"
    assert p["construction_year"] == 1965  # oorspronkelijk_bouwjaar
    # h_maaiveld 5.254; max z is in LoD 2.2 (raw z 10523 x 0.001 + 2.701 = 13.224).
    assert p["ground_height_m"] == 5.254
    assert p["roof_height_m"] == 13.224
    assert p["height_m"] == pytest.approx(13.224 - 5.254)
    # 3DBAG time axes: begingeldigheid, tijdstipregistratielv (eindgeldigheid is null).
    assert rec.valid_from == datetime(2019, 1, 9, tzinfo=AMSTERDAM)
    assert rec.recorded_at == datetime.fromisoformat("2019-01-09T16:00:26.607000+01:00")
    assert rec.valid_to is None and rec.record_end is None


def _ground_area_by_hand(path: Path, key: str) -> float:
    """Area of the GroundSurfaces of the lowest LoD that has them, decoded here on its own."""
    doc = json.loads(path.read_text())
    scale, translate = doc["transform"]["scale"], doc["transform"]["translate"]

    def xy(i: int) -> tuple[float, float]:
        v = doc["vertices"][i]
        return (v[0] * scale[0] + translate[0], v[1] * scale[1] + translate[1])

    polys = []
    geoms = [g for g in doc["CityObjects"][key]["geometry"] if "semantics" in g]
    geom = min(geoms, key=lambda g: float(g["lod"]))
    kinds = geom["semantics"]["surfaces"]
    for surface, value in zip(geom["boundaries"][0], geom["semantics"]["values"][0], strict=True):
        if kinds[value]["type"] == "GroundSurface":
            polys.append(
                shapely.Polygon(
                    [xy(i) for i in surface[0]], [[xy(i) for i in r] for r in surface[1:]]
                )
            )
    return shapely.union_all(polys).area


def test_footprint_area_equals_ground_surfaces(data: Path) -> None:
    path = data / "cityjson" / "s-hertogenbosch-3dbag-multilod.city.json"
    recs = {r.id: r for r in _read(data, "s-hertogenbosch-3dbag-multilod")}
    for key in ("6751773", "596872"):
        expected = _ground_area_by_hand(path, key)
        assert 5 < expected < 500
        assert recs[key].geometry.area == pytest.approx(expected, rel=1e-9)


def test_lod2_semantics_and_parts_denhaag(data: Path) -> None:
    batch = _read(data, "denhaag-lod2")
    recs = list(batch)
    # 12 objects: 4 Buildings and 8 BuildingParts folded into them.
    assert len(recs) == 4 and {r.layer for r in recs} == {"buildings"}
    assert sum(len(r.properties.get("parts", [])) for r in recs) == 8
    geoms = [g for r in recs for g in r.properties["geometry_3d"]]
    assert len(geoms) == 9
    kinds = {s["type"] for g in geoms for s in g["semantics"]["surfaces"]}
    assert kinds == {"GroundSurface", "RoofSurface", "WallSurface"}
    rec = next(r for r in recs if r.id == "GUID_13974D93-CB4F-4B5A-AB1E-577DD9928CF2")
    assert [p["type"] for p in rec.properties["parts"]] == ["BuildingPart"] * 3
    assert {g["object"] for g in rec.properties["geometry_3d"]} == {
        p["id"] for p in rec.properties["parts"]
    }
    # The highest part has AbsoluteRidgeHeight 14.467 (NAP), which is its max z.
    assert rec.properties["roof_height_m"] == 14.467
    assert rec.properties["bag_id"] is None
    assert all(r.properties["lods"] == "2" for r in recs)
    assert all(r.geometry.area > 40 for r in recs)


def test_cityjson_1_0_with_children(data: Path) -> None:
    batch = _read(data, "denhaag-3dbag-sample")
    recs = {r.id: r for r in batch}
    assert batch.metadata["cityjson_version"] == "1.0"
    assert list(recs) == [
        "NL.IMBAG.Pand.0518100000285075",
        "NL.IMBAG.Pand.0518100000346770",
        "NL.IMBAG.Pand.0518100000269458",
    ]
    p = recs["NL.IMBAG.Pand.0518100000285075"].properties
    # LoDs are numbers in 1.0 (0 on the Building, 1.2/1.3/2.2 on its BuildingPart).
    assert p["lods"] == "0,1.2,1.3,2.2"
    assert p["parts"][0]["id"] == "NL.IMBAG.Pand.0518100000285075-0"
    assert p["bag_id"] == "NL.IMBAG.Pand.0518100000285075"
    assert p["construction_year"] == 1980  # oorspronkelijkbouwjaar
    assert p["ground_height_m"] == pytest.approx(0.266)  # h_maaiveld, not the LoD0's z = 0
    assert p["roof_height_m"] == 11.987
    lod0 = next(g for g in p["geometry_3d"] if g["lod"] == "0")
    outline = shapely.Polygon([c[:2] for c in lod0["boundaries"][0][0]])
    # The footprint (LoD 1.2 GroundSurface) and the LoD0 outline describe the same pand.
    assert recs["NL.IMBAG.Pand.0518100000285075"].geometry.area == pytest.approx(
        outline.area, rel=0.01
    )


@pytest.mark.parametrize("name", NO_CRS)
def test_files_without_crs_need_one(data: Path, name: str) -> None:
    path = data / "cityjson" / f"{name}.city.json"
    with pytest.raises(InputError, match="pass a CRS") as err:
        read_cityjson(path)
    assert str(path) in str(err.value) and "--crs" in str(err.value)
    assert read_cityjson(path, crs="EPSG:7415").total > 0


def test_rotterdam_heights_relative_to_terrain(data: Path) -> None:
    recs = {r.id: r for r in _read(data, "rotterdam-delfshaven")}
    assert len(recs) == 16
    p = recs["{C9D4A5CF-094A-47DA-97E4-4A3BFD75D3AE}"].properties
    # GroundSurface at z = 0, TerrainHeight 3.03, max z 15.211: shifted to NAP.
    assert p["ground_height_m"] == 3.03
    assert p["roof_height_m"] == pytest.approx(18.241)
    assert p["height_m"] == pytest.approx(15.211)
    zs = [c[2] for s in p["geometry_3d"][0]["boundaries"] for r in s for c in r]
    assert min(zs) == 3.03
    assert p["bag_id"] is None


# --------------------------------------------------------------------------------------------
# BAG ids and layer names


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("503100000000035", "NL.IMBAG.Pand.0503100000000035"),  # BGT (Delft): no leading 0
        (503100000000035, "NL.IMBAG.Pand.0503100000000035"),
        ("NL.IMBAG.Pand.0518100000285075", "NL.IMBAG.Pand.0518100000285075"),
        (" 0796100000236261 ", "NL.IMBAG.Pand.0796100000236261"),
        ("", None),
        (None, None),
        (True, None),
        ("G0503.032e68eff7ec", None),
        ("12345678901234567", None),  # 17 digits
    ],
)
def test_normalise_bag_id(value: object, expected: str | None) -> None:
    assert normalise_bag_id(value) == expected


def test_layer_names() -> None:
    assert layer_name("Building") == "buildings"
    assert layer_name("TINRelief") == "terrain"
    assert layer_name("CityFurniture") == "cityjson_cityfurniture"
    assert layer_name("+NoiseBarrier") == "cityjson_noisebarrier"


# --------------------------------------------------------------------------------------------
# Small hand-made files

# A 10 x 10 x 5 m box at RD (85000, 447000), in millimetres (transform scale 0.001).
BOX = [
    [0, 0, 0],
    [10000, 0, 0],
    [10000, 10000, 0],
    [0, 10000, 0],
    [0, 0, 5000],
    [10000, 0, 5000],
    [10000, 10000, 5000],
    [0, 10000, 5000],
]
BOX_SOLID = [
    [[[0, 3, 2, 1]], [[4, 5, 6, 7]], [[0, 1, 5, 4]], [[1, 2, 6, 5]], [[2, 3, 7, 6]], [[3, 0, 4, 7]]]
]
BOX_SEMANTICS = {
    "surfaces": [{"type": "GroundSurface"}, {"type": "RoofSurface"}, {"type": "WallSurface"}],
    "values": [[0, 1, 2, 2, 2, 2]],
}


def _box(lod: Any = "2.2", **extra: Any) -> dict:
    return {
        "type": "Solid",
        "lod": lod,
        "boundaries": BOX_SOLID,
        "semantics": BOX_SEMANTICS,
    } | extra


def write(
    tmp_path: Path,
    objects: dict,
    vertices: list | None = None,
    *,
    version: str = "2.0",
    crs: str | None = RD_NAP_URL,
    transform: dict | None = None,
    **extra: Any,
) -> Path:
    doc: dict[str, Any] = {"type": "CityJSON", "version": version}
    doc["transform"] = transform or {"scale": [0.001] * 3, "translate": [85000.0, 447000.0, 0.0]}
    if crs:
        doc["metadata"] = {"referenceSystem": crs}
    doc["CityObjects"] = objects
    doc["vertices"] = BOX if vertices is None else vertices
    doc |= extra
    path = tmp_path / "test.city.json"
    path.write_text(json.dumps(doc))
    return path


def test_box_building(tmp_path: Path) -> None:
    attrs = {"identificatie": "NL.IMBAG.Pand.0503100000000001", "measuredHeight": 4.5}
    path = write(tmp_path, {"b1": {"type": "Building", "attributes": attrs, "geometry": [_box()]}})
    (rec,) = read_cityjson(path)
    assert rec.id == "b1" and rec.layer == "buildings"
    assert rec.geometry.equals(shapely.box(85000, 447000, 85010, 447010))
    p = rec.properties
    assert (p["ground_height_m"], p["roof_height_m"]) == (0.0, 5.0)
    assert p["height_m"] == 4.5  # a measuredHeight that is not the roof level is a height
    assert p["bag_id"] == "NL.IMBAG.Pand.0503100000000001"


def test_solid_without_semantics_uses_projection(tmp_path: Path) -> None:
    box = {"type": "Solid", "lod": 1, "boundaries": BOX_SOLID}
    path = write(tmp_path, {"b1": {"type": "Building", "geometry": [box]}}, version="1.0")
    (rec,) = read_cityjson(path)
    assert rec.geometry.equals(shapely.box(85000, 447000, 85010, 447010))
    assert rec.properties["lods"] == "1"


def test_multisolid_and_multisurface(tmp_path: Path) -> None:
    shifted = [[x + 20000, y, z] for x, y, z in BOX]
    ms = {"type": "MultiSolid", "lod": "1", "boundaries": [BOX_SOLID, _shift(BOX_SOLID, 8)]}
    roof = {"type": "MultiSurface", "lod": 0, "boundaries": [[[4, 5, 6, 7]]]}
    objects = {"b1": {"type": "Building", "geometry": [ms, roof]}}
    (rec,) = read_cityjson(write(tmp_path, objects, BOX + shifted))
    assert rec.properties["lods"] == "0,1"
    # LoD 0 is the lowest LoD (no GroundSurfaces anywhere): the roof outline of box 1.
    assert rec.geometry.area == pytest.approx(100.0)
    assert rec.properties["roof_height_m"] == 5.0


def _shift(boundaries: Any, by: int) -> Any:
    if isinstance(boundaries, int):
        return boundaries + by
    return [_shift(b, by) for b in boundaries]


def test_geometry_template(tmp_path: Path) -> None:
    templates = {
        "templates": [
            {"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 2, 3]]]},
        ],
        "vertices-templates": [
            [-1.0, -1.0, 0.0],
            [1.0, -1.0, 0.0],
            [1.0, 1.0, 0.0],
            [-1.0, 1.0, 0.0],
        ],
    }
    instance = {
        "type": "GeometryInstance",
        "template": 0,
        "boundaries": [0],
        # Scale by 2 and move 5 m east of the anchor vertex (85000, 447000, 0).
        "transformationMatrix": [2, 0, 0, 5, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
    }
    objects = {"tree": {"type": "SolitaryVegetationObject", "geometry": [instance]}}
    (rec,) = read_cityjson(
        write(tmp_path, objects, [[0, 0, 0]], **{"geometry-templates": templates})
    )
    assert rec.layer == "cityjson_solitaryvegetationobject"
    assert rec.geometry.equals(shapely.box(85003, 446998, 85007, 447002))
    (g,) = rec.properties["geometry_3d"]
    assert g["template"] == 0 and g["lod"] == "1"
    assert g["boundaries"][0][0][0] == [85003.0, 446998.0, 0.0]


def test_lines_points_terrain_and_other_types(tmp_path: Path) -> None:
    vertices = [[0, 0, 0], [5000, 0, 0], [5000, 5000, 1000], [0, 5000, 0]]
    objects = {
        "line": {
            "type": "GenericCityObject",
            "geometry": [{"type": "MultiLineString", "lod": "1", "boundaries": [[0, 1, 2]]}],
        },
        "pts": {
            "type": "CityFurniture",
            "attributes": {"function": "lamp", "class": 3},
            "geometry": [{"type": "MultiPoint", "lod": "1", "boundaries": [0, 2]}],
        },
        "tin": {
            "type": "TINRelief",
            "geometry": [
                {"type": "CompositeSurface", "lod": "1", "boundaries": [[[0, 1, 2]], [[0, 2, 3]]]}
            ],
        },
        "group": {"type": "CityObjectGroup", "children": ["line"]},
    }
    batch = read_cityjson(write(tmp_path, objects, vertices))
    recs = {r.id: r for r in batch}
    assert recs["line"].layer == "generic_city_objects"
    assert recs["line"].geometry.geom_type == "LineString"
    assert recs["pts"].layer == "cityjson_cityfurniture"
    assert recs["pts"].geometry.geom_type == "MultiPoint"
    assert (recs["pts"].properties["function"], recs["pts"].properties["class"]) == ("lamp", "3")
    assert recs["tin"].layer == "terrain"
    assert recs["tin"].geometry.area == pytest.approx(25.0)
    # A group is no part: its member stays a record of its own.
    assert recs["group"].layer == "cityjson_cityobjectgroup"
    assert recs["group"].geometry.is_empty
    types = {s.name: s.geometry_type for s in batch.layers}
    assert types["generic_city_objects"] == "LINESTRING"
    assert types["cityjson_cityfurniture"] == "MULTIPOINT"


def test_vertical_sheet_becomes_line(tmp_path: Path) -> None:
    wall = {"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 5, 4]]]}
    (rec,) = read_cityjson(
        write(tmp_path, {"w": {"type": "GenericCityObject", "geometry": [wall]}})
    )
    assert rec.geometry.geom_type == "LineString"
    assert rec.geometry.length == pytest.approx(10.0)


def test_mixed_polygons_promoted_to_multipolygon(tmp_path: Path) -> None:
    far = [[x + 20000, y, z] for x, y, z in BOX]
    two = {"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 2, 3]], [[8, 9, 10, 11]]]}
    objects = {
        "a": {"type": "Building", "geometry": [_box()]},
        "b": {"type": "Building", "geometry": [two]},
    }
    batch = read_cityjson(write(tmp_path, objects, BOX + far))
    assert batch.layers[0].geometry_type == "MULTIPOLYGON"
    assert {r.geometry.geom_type for r in batch} == {"MultiPolygon"}


def test_other_crs_is_transformed(tmp_path: Path) -> None:
    # The Oude Kerk in Delft in WGS 84 (lon/lat), without transform (as CityJSON 1.0 allows).
    lon, lat = 4.35558, 52.01268
    vertices = [[lon, lat, 0.0], [lon + 0.0001, lat, 0.0], [lon, lat + 0.0001, 0.0]]
    surface = {"type": "MultiSurface", "lod": 1, "boundaries": [[[0, 1, 2]]]}
    path = tmp_path / "wgs84.city.json"
    doc = {
        "type": "CityJSON",
        "version": "1.0",
        "metadata": {"referenceSystem": "urn:ogc:def:crs:EPSG::4326"},
        "CityObjects": {"r": {"type": "Road", "geometry": [surface]}},
        "vertices": vertices,
    }
    path.write_text(json.dumps(doc))
    batch = read_cityjson(path)
    (rec,) = batch
    assert batch.metadata["transformed_to_rd"] is True
    x, y = rec.geometry.exterior.coords[0]
    assert 84000 < x < 85500 and 446500 < y < 448500
    assert rec.properties["geometry_3d"][0]["boundaries"][0][0][0][:2] == [
        pytest.approx(x),
        pytest.approx(y),
    ]


def test_crs_argument_must_agree(tmp_path: Path) -> None:
    path = write(tmp_path, {"b1": {"type": "Building", "geometry": [_box()]}})
    assert read_cityjson(path, crs="EPSG:28992").total == 1  # same horizontal CRS
    with pytest.raises(InputError, match="disagrees"):
        read_cityjson(path, crs="EPSG:4326")


def test_building_without_geometry(tmp_path: Path) -> None:
    (rec,) = read_cityjson(write(tmp_path, {"b1": {"type": "Building"}}))
    assert rec.geometry.is_empty
    assert rec.properties["ground_height_m"] is None


# --------------------------------------------------------------------------------------------
# Bad input


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.city.json"
    with pytest.raises(InputError, match="does not exist") as err:
        read_cityjson(path)
    assert str(path) in str(err.value)


def test_truncated_json(tmp_path: Path, data: Path) -> None:
    path = tmp_path / "cut.city.json"
    path.write_bytes((data / "delft" / "delft.city.json").read_bytes()[:5000])
    with pytest.raises(InputError, match=r"not valid JSON.*line \d+, column \d+") as err:
        read_cityjson(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("drop", "message"),
    [("type", "'type' is missing"), ("CityObjects", "'CityObjects'"), ("vertices", "'vertices'")],
)
def test_not_cityjson(tmp_path: Path, drop: str, message: str) -> None:
    path = write(tmp_path, {})
    doc = json.loads(path.read_text())
    del doc[drop]
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=f"not a CityJSON file: {message}"):
        read_cityjson(path)


def test_geojson_is_not_cityjson(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match="'type' is 'FeatureCollection'"):
        read_cityjson(path)


@pytest.mark.parametrize("version", ["3.0", "0.9", None])
def test_unsupported_version(tmp_path: Path, version: str | None) -> None:
    with pytest.raises(InputError, match=r"version .* is not supported"):
        read_cityjson(write(tmp_path, {}, version=version))


@pytest.mark.parametrize("index", [99, -1])
def test_vertex_index_out_of_range(tmp_path: Path, index: int) -> None:
    bad = {"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, index]]]}
    path = write(
        tmp_path, {"ok": {"type": "Road"}, "broken-road": {"type": "Road", "geometry": [bad]}}
    )
    with pytest.raises(InputError, match=rf"object 'broken-road'.*vertex index {index}") as err:
        read_cityjson(path)
    assert str(path) in str(err.value)


def test_self_intersecting_polygon(tmp_path: Path) -> None:
    vertices = [[0, 0, 0], [10000, 10000, 0], [10000, 0, 0], [0, 5000, 0]]
    bowtie = {"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 2, 3]]]}
    path = write(tmp_path, {"bowtie": {"type": "LandUse", "geometry": [bowtie]}}, vertices)
    with pytest.raises(InputError, match=r"object 'bowtie'.*Self-intersection"):
        read_cityjson(path)


def test_self_intersecting_ground_surface(tmp_path: Path) -> None:
    vertices = [*BOX, [5000, 12000, 0]]
    solid = [[[[0, 1, 3, 2]], *BOX_SOLID[0][1:]]]  # ground ring 0-1-3-2 crosses itself
    geom = {"type": "Solid", "lod": "2", "boundaries": solid, "semantics": BOX_SEMANTICS}
    path = write(tmp_path, {"b9": {"type": "Building", "geometry": [geom]}}, vertices)
    with pytest.raises(InputError, match=r"object 'b9'.*surface 0 .*Self-intersection"):
        read_cityjson(path)


def test_too_few_points(tmp_path: Path) -> None:
    bad = {"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1, 2]], [[0, 1]]]}
    path = write(tmp_path, {"sliver": {"type": "PlantCover", "geometry": [bad]}})
    with pytest.raises(InputError, match=r"object 'sliver'.*fewer than 3"):
        read_cityjson(path)


def test_collapsed_surface_only(tmp_path: Path) -> None:
    flat = {"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 0, 1]]]}
    path = write(tmp_path, {"b": {"type": "Building", "geometry": [flat]}})
    with pytest.raises(InputError, match=r"object 'b'.*no surface has an area"):
        read_cityjson(path)


def test_missing_crs(tmp_path: Path) -> None:
    path = write(tmp_path, {}, crs=None)
    with pytest.raises(InputError, match="pass a CRS") as err:
        read_cityjson(path)
    assert str(path) in str(err.value)
    assert read_cityjson(path, crs="EPSG:7415").total == 0


def test_unknown_crs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown coordinate reference system"):
        read_cityjson(write(tmp_path, {}, crs="urn:ogc:def:crs:EPSG::999999"))


def test_coordinates_outside_the_netherlands(tmp_path: Path) -> None:
    lonlat = {"scale": [1e-6] * 3, "translate": [4.3, 52.0, 0.0]}
    with pytest.raises(InputError, match="outside the Netherlands"):
        read_cityjson(write(tmp_path, {}, transform=lonlat))


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"type": "Polyhedron", "lod": "1", "boundaries": []}, "unsupported geometry type"),
        ({"type": "MultiSurface", "boundaries": [[[0, 1, 2]]]}, "no valid 'lod'"),
        ({"type": "MultiSurface", "lod": "1", "boundaries": [[0, 1, 2]]}, "nested lists"),
        ({"type": "MultiSurface", "lod": "1", "boundaries": [[[0, 1.5, 2]]]}, "other than vertex"),
        ({"type": "GeometryInstance", "template": 3, "boundaries": [0]}, "unknown template"),
    ],
)
def test_bad_geometry(tmp_path: Path, geometry: dict, message: str) -> None:
    path = write(tmp_path, {"obj-1": {"type": "Road", "geometry": [geometry]}})
    with pytest.raises(InputError, match=rf"object 'obj-1'.*{message}"):
        read_cityjson(path)


def test_bad_time_value(tmp_path: Path) -> None:
    objects = {"b1": {"type": "Building", "attributes": {"creationdate": "gisteren"}}}
    with pytest.raises(InputError, match=r"object 'b1': field 'creationdate'"):
        read_cityjson(write(tmp_path, objects))


def test_missing_parent(tmp_path: Path) -> None:
    objects = {"p": {"type": "BuildingPart", "parents": ["gone"], "geometry": [_box()]}}
    with pytest.raises(InputError, match=r"object 'p': field 'parents'.*not in CityObjects"):
        read_cityjson(write(tmp_path, objects))
