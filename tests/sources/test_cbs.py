"""CBS TopoJSON import: the decoder on hand-made topologies, and the real CBS files."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import orjson
import pyogrio
import pytest
import shapely

from tweeling.core.errors import InputError
from tweeling.core.features import FieldType
from tweeling.sources.cbs import (
    TopologyError,
    decode_arcs,
    decode_topojson,
    infer_field_types,
    is_sentinel,
    read_cbs,
    ring_area,
)

# A tiny quantised topology: squares A and B share the arc 0 (x = 11 from y = 20 to 20.5);
# B uses it reversed (index -1 = ~0). Positions: x = q * 0.5 + 10, y = q * 0.25 + 20.
TINY = {
    "type": "Topology",
    "transform": {"scale": [0.5, 0.25], "translate": [10, 20]},
    "arcs": [
        [[2, 0], [0, 2]],  # (11, 20) -> (11, 20.5)
        [[2, 2], [-2, 0], [0, -2], [2, 0]],  # (11, 20.5) -> (10, 20.5) -> (10, 20) -> (11, 20)
        [[2, 0], [2, 0], [0, 2], [-2, 0]],  # (11, 20) -> (12, 20) -> (12, 20.5) -> (11, 20.5)
        [[4, 4], [0, 0]],  # a ring collapsed to one point
    ],
    "objects": {
        "vlakken": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Polygon", "arcs": [[0, 1]], "id": "A", "properties": {"n": 1}},
                {"type": "Polygon", "arcs": [[2, -1]], "id": "B"},
                {"type": "MultiPolygon", "arcs": [[[0, 1]], [[3]]], "id": "C"},
                {"type": "Point", "coordinates": [4, 2], "id": "P"},
                {"type": None, "id": "N"},
            ],
        }
    },
}


def test_decode_known_output_with_negative_arc_index():
    (features,) = decode_topojson(TINY).values()
    a, b, c, p, n = features
    assert a.id == "A" and a.properties == {"n": 1} and b.properties == {}
    assert shapely.get_coordinates(a.geometry).tolist() == [
        [11, 20],
        [11, 20.5],
        [10, 20.5],
        [10, 20],
        [11, 20],
    ]
    assert shapely.get_coordinates(b.geometry).tolist() == [
        [11, 20],
        [12, 20],
        [12, 20.5],
        [11, 20.5],
        [11, 20],  # the end of arc 0 reversed: its start
    ]
    assert a.geometry.area == b.geometry.area == 0.5
    assert a.geometry.intersection(b.geometry).area == 0
    assert a.geometry.boundary.intersection(b.geometry.boundary).length == 0.5
    # the collapsed ring is dropped and counted
    assert c.geometry.geom_type == "MultiPolygon" and len(c.geometry.geoms) == 1
    assert c.collapsed_rings == 1 and a.collapsed_rings == 0
    assert (p.geometry.x, p.geometry.y) == (12.0, 20.5)  # quantised, not delta-encoded
    assert n.geometry is None


def test_decode_arcs_undoes_delta_encoding():
    arcs = decode_arcs(TINY["arcs"], (0.5, 0.25), (10, 20))
    assert arcs[1].tolist() == [[11, 20.5], [10, 20.5], [10, 20], [11, 20]]
    raw = decode_arcs([[[1.5, 2.5], [3.0, 4.0]]], None, None)  # no transform: absolute
    assert raw[0].tolist() == [[1.5, 2.5], [3.0, 4.0]]


def test_decode_untransformed_topology():
    topo = {
        "type": "Topology",
        "arcs": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
        "objects": {"o": {"type": "Polygon", "arcs": [[-1]]}},
    }
    ((feature,),) = decode_topojson(topo).values()
    assert shapely.get_coordinates(feature.geometry).tolist() == [
        [0, 0],
        [0, 1],
        [1, 1],
        [1, 0],
        [0, 0],
    ]


def test_decode_errors():
    bad = json.loads(json.dumps(TINY))
    bad["objects"]["vlakken"]["geometries"][0]["arcs"] = [[0, 9]]
    with pytest.raises(TopologyError, match="out of range"):
        decode_topojson(bad)
    with pytest.raises(TopologyError, match="Topology"):
        decode_topojson({"type": "FeatureCollection"})


def test_ring_area_is_exact_on_quantised_positions():
    assert ring_area(np.array([[0, 0], [2, 0], [4, 0], [0, 0]])) == 0  # collinear
    assert ring_area(np.array([[0, 0], [1, 0], [0, 0]])) == 0  # too short
    assert ring_area(np.array([[0, 0], [2, 0], [2, 2], [0, 0]])) == 2


def test_field_types_and_sentinels():
    rows = [{"a": 1, "b": 1.5, "c": "x", "d": None, "e": True}, {"a": 2, "b": 2, "c": None}]
    assert infer_field_types(rows) == {
        "a": FieldType.INTEGER,
        "b": FieldType.REAL,
        "c": FieldType.TEXT,
        "d": FieldType.TEXT,
        "e": FieldType.BOOLEAN,
    }
    assert is_sentinel(-99999999) and is_sentinel(-99999997.0)
    assert not is_sentinel(-5) and not is_sentinel(True) and not is_sentinel("-99999999")


def cbs_like(tmp_path, name="gemeenten_2015", inwoners=-99999999):
    """A small CBS-like topology in Delft (lon/lat quantised to 0.001 degree)."""
    topo = json.loads(json.dumps(TINY))
    topo["transform"] = {"scale": [0.001, 0.001], "translate": [4.35, 52.0]}
    topo["objects"] = {
        name: {
            "type": "GeometryCollection",
            "geometries": [
                {
                    "type": "Polygon",
                    "arcs": [[0, 1]],
                    "properties": {"gemeentecode": "GM0001", "aantal_inwoners": 10, "water": "NEE"},
                },
                {
                    "type": "Polygon",
                    "arcs": [[2, -1]],
                    "properties": {
                        "gemeentecode": "GM0001",
                        "aantal_inwoners": inwoners,
                        "water": "JA",
                    },
                },
            ],
        }
    }
    path = tmp_path / "klein.topojson"
    path.write_bytes(orjson.dumps(topo))
    return path


def test_read_small_cbs_topology(tmp_path):
    batch = read_cbs(cbs_like(tmp_path))
    assert [s.name for s in batch.layers] == ["cbs_gemeenten"]
    records = list(batch)
    assert [r.id for r in records] == ["GM0001", "GM0001-water"]
    assert records[0].properties["aantal_inwoners"] == 10
    assert records[1].properties["aantal_inwoners"] is None  # CBS sentinel -> null
    assert batch.metadata["sentinels_to_null"] == {"cbs_gemeenten": {"aantal_inwoners": 1}}
    for r in records:
        assert r.geometry.geom_type == "MultiPolygon" and r.geometry.is_valid
        assert 82000 < r.geometry.centroid.x < 86000  # Delft, in RD New
        assert 445000 < r.geometry.centroid.y < 449000


def test_layer_from_codes_when_object_name_says_nothing(tmp_path):
    batch = read_cbs(cbs_like(tmp_path, name="layer"))
    assert batch.layers[0].name == "cbs_gemeenten"


def test_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        read_cbs(tmp_path / "weg.topojson")
    assert "weg.topojson" in str(err.value)
    bad = tmp_path / "kapot.topojson"
    bad.write_text('{"type": "Topology", "arcs": [[[0, 0]')
    with pytest.raises(InputError, match="not valid JSON") as err:
        read_cbs(bad)
    assert "kapot.topojson" in str(err.value)
    geo = tmp_path / "geo.topojson"
    geo.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InputError, match="not a TopoJSON"):
        read_cbs(geo)
    arcs = tmp_path / "arcs.topojson"
    topo = json.loads(cbs_like(tmp_path).read_text())
    topo["objects"]["gemeenten_2015"]["geometries"][0]["arcs"] = [[0, 17]]
    arcs.write_text(json.dumps(topo))
    with pytest.raises(InputError, match="out of range") as err:
        read_cbs(arcs)
    assert "arcs.topojson" in str(err.value)


# ---------------------------------------------------------------------------------------------
# The real CBS files

COUNTS = {
    "gemeente_2015": ("cbs_gemeenten", 484),  # 393 gemeenten + 90 water parts + GM9999
    "provincie_2015": ("cbs_provincies", 12),
    "wijk_2014": ("cbs_wijken", 2738),
    "buurt_2014": ("cbs_buurten", 11691),
}


@pytest.fixture(scope="module")
def cbs_dir(shared_data):
    return shared_data / "cbs"


@pytest.fixture(scope="module")
def gemeenten(cbs_dir):
    return read_cbs(cbs_dir / "gemeente_2015.topojson", repair=True)


@pytest.fixture(scope="module")
def by_id(gemeenten):
    return {r.id: r for r in gemeenten}


@pytest.mark.parametrize("name", list(COUNTS))
def test_counts_layers_and_validity(cbs_dir, name):
    layer, count = COUNTS[name]
    path = cbs_dir / f"{name}.topojson"
    batch = read_cbs(path, repair=True)
    records = list(batch)
    assert [s.name for s in batch.layers] == [layer]
    assert batch.total == len(records) == count
    assert len({r.id for r in records}) == count
    assert batch.source == f"cbs:{name}.topojson" and batch.path == str(path)
    assert all(r.geometry.geom_type == "MultiPolygon" for r in records)
    assert all(shapely.is_valid(np.array([r.geometry for r in records])))
    source = orjson.loads(path.read_bytes())
    (obj,) = source["objects"].values()
    assert len(obj["geometries"]) == count


def test_gemeenten_ids_and_kinds(by_id):
    kinds = Counter(
        "water" if i.endswith("-water") else "GM9999" if i == "GM9999" else "gemeente"
        for i in by_id
    )
    assert kinds == {"gemeente": 393, "water": 90, "GM9999": 1}


def test_delft_with_its_statistics(by_id, cbs_dir, gemeenten):
    source = orjson.loads((cbs_dir / "gemeente_2015.topojson").read_bytes())
    (obj,) = source["objects"].values()
    raw = next(g for g in obj["geometries"] if g["properties"]["gemeentecode"] == "GM0503")
    delft = by_id["GM0503"]
    assert delft.properties["gemeentenaam"] == "Delft"
    assert delft.properties["aantal_inwoners"] == raw["properties"]["aantal_inwoners"] == 101030
    assert delft.properties["gemiddelde_huishoudsgrootte"] == 1.8
    fields = gemeenten.layers[0].fields
    assert fields["aantal_inwoners"] is FieldType.INTEGER
    assert fields["gemiddelde_huishoudsgrootte"] is FieldType.REAL
    assert fields["gemeentenaam"] is FieldType.TEXT and fields["water"] is FieldType.TEXT


def test_delft_area_matches_the_published_area(by_id):
    # CBS Kerncijfers wijken en buurten 2015, Delft: oppervlakte totaal 2 406 ha (land 2 283,
    # water 123), as also given in the file's oppervlakte_totaal_in_ha. The TopoJSON is
    # quantised to about 270 x 310 m, so allow 3 %.
    delft = by_id["GM0503"]
    assert delft.properties["oppervlakte_totaal_in_ha"] == 2406
    assert delft.geometry.area / 1e4 == pytest.approx(2406, rel=0.03)
    minx, miny, maxx, maxy = delft.geometry.bounds
    assert minx > 80000 and maxx < 90000 and miny > 440000 and maxy < 452000


def test_shared_border_coincides_exactly(cbs_dir, by_id):
    """Delft and Rijswijk share an arc: decoded, their outlines hold the same positions."""
    source = orjson.loads((cbs_dir / "gemeente_2015.topojson").read_bytes())
    (name,) = source["objects"]
    geoms = {g["properties"]["gemeentecode"]: g for g in source["objects"][name]["geometries"]}

    def arc_ids(g):
        return {i if i >= 0 else ~i for ring in g["arcs"] for i in ring}

    (shared,) = arc_ids(geoms["GM0503"]) & arc_ids(geoms["GM0603"])
    arc = decode_arcs(
        [source["arcs"][shared]], source["transform"]["scale"], source["transform"]["translate"]
    )[0]
    decoded = {f.properties.get("gemeentecode"): f for f in decode_topojson(source)[name]}
    delft = shapely.get_coordinates(decoded["GM0503"].geometry)
    rijswijk = shapely.get_coordinates(decoded["GM0603"].geometry)

    def contains_run(coords, run):
        n = len(run)
        return any(np.array_equal(coords[i : i + n], run) for i in range(len(coords) - n + 1))

    assert len(arc) >= 2
    # one uses the arc forward, the other reversed; positions identical to the bit
    assert contains_run(delft, arc) != contains_run(delft, arc[::-1])
    assert contains_run(rijswijk, arc) != contains_run(rijswijk, arc[::-1])
    assert contains_run(delft, arc) != contains_run(rijswijk, arc)
    # and in RD New: a common border of some km, no overlap
    d, r = by_id["GM0503"].geometry, by_id["GM0603"].geometry
    assert d.boundary.intersection(r.boundary).length > 2000
    assert d.intersection(r).area < 1.0


def test_decoder_agrees_with_gdal(cbs_dir):
    """GDAL's TopoJSON driver decodes the same rings (it drops collapsed rings silently)."""
    path = cbs_dir / "provincie_2015.topojson"
    source = orjson.loads(path.read_bytes())
    (features,) = decode_topojson(source).values()
    _, _, wkb, _ = pyogrio.raw.read(f"TopoJSON:{path}")
    gdal = shapely.from_wkb(wkb)

    def rings(geom):
        out = Counter()
        for poly in shapely.get_parts(geom):
            for ring in [poly.exterior, *poly.interiors]:
                xy = shapely.get_coordinates(ring)
                if len(np.unique(xy, axis=0)) >= 3 and shapely.Polygon(xy).area > 0:
                    out[frozenset(map(tuple, xy.tolist()))] += 1
        return out

    assert len(features) == len(gdal) == 12
    for mine, theirs in zip(features, gdal, strict=True):
        assert rings(mine.geometry) == rings(theirs)


def test_quantisation_effects_are_reported(gemeenten, by_id):
    meta = gemeenten.metadata
    assert meta["collapsed_rings"]["cbs_gemeenten"] > 0
    assert meta["empty_geometries"]["cbs_gemeenten"] == ["GM0056-water", "GM1708-water"]
    assert by_id["GM0056-water"].geometry.is_empty
    assert meta["repair"] is True and meta["repaired"]
    assert meta["sentinels_to_null"]["cbs_gemeenten"]["aantal_inwoners"] == 91
    assert by_id["GM9999"].properties["aantal_inwoners"] is None


def test_self_intersections_refused_without_repair(cbs_dir):
    with pytest.raises(InputError, match="Self-intersection") as err:
        read_cbs(cbs_dir / "provincie_2015.topojson")
    assert "provincie_2015.topojson" in str(err.value)
    assert err.value.object_id.startswith("PV")


def test_names_written_twice_encoded_are_repaired(cbs_dir):
    """CBS's 2015 municipality file spells Frisian names as UTF-8 read as Latin-1; the
    importer gives them back as the municipality writes them."""
    from tweeling.sources.cbs import decode_topojson, repair_double_encoding

    topology = orjson.loads((cbs_dir / "gemeente_2015.topojson").read_bytes())
    (features,) = decode_topojson(topology).values()
    names = {f.properties["gemeentenaam"] for f in features} - {None}
    assert "Súdwest-Fryslân" in names
    assert not any("Ã" in n for n in names)
    assert repair_double_encoding("Delft") == "Delft"
    assert repair_double_encoding("Súdwest-Fryslân") == "Súdwest-Fryslân"  # already right
