"""The fast GeoJSON text sequence reader: same geometries as GEOS, types, ids, bad lines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from tweeling.core.errors import InputError
from tweeling.core.features import FieldType
from tweeling.services.workspace import init_workspace
from tweeling.sources import geojsonseq
from tweeling.sources.file import read_file

X, Y = 85000.0, 447500.0
SHAPES = [
    {"type": "Point", "coordinates": [X, Y]},
    {"type": "Point", "coordinates": [X, Y, 1.5]},
    {"type": "LineString", "coordinates": [[X, Y], [X + 5, Y + 5], [X + 9, Y]]},
    {
        "type": "Polygon",
        "coordinates": [
            [[X, Y], [X + 10, Y], [X + 10, Y + 10], [X, Y + 10], [X, Y]],
            [[X + 2, Y + 2], [X + 4, Y + 2], [X + 4, Y + 4], [X + 2, Y + 2]],
        ],
    },
    {
        "type": "MultiPolygon",
        "coordinates": [
            [[[X, Y], [X + 1, Y], [X + 1, Y + 1], [X, Y]]],
            [
                [[X + 5, Y], [X + 7, Y], [X + 7, Y + 2], [X + 5, Y + 2], [X + 5, Y]],
                [[X + 5.5, Y + 0.5], [X + 6, Y + 0.5], [X + 6, Y + 1], [X + 5.5, Y + 0.5]],
            ],
        ],
    },
    {
        "type": "MultiLineString",
        "coordinates": [[[X, Y], [X + 1, Y + 1]], [[X + 2, Y], [X + 3, Y], [X + 4, Y + 1]]],
    },
    {"type": "MultiPoint", "coordinates": [[X, Y], [X + 1, Y + 2]]},
    {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [X, Y]}]},
]


def write(path, features, rs=False):
    sep = "\x1e" if rs else ""
    path.write_text("".join(sep + json.dumps(f) + "\n" for f in features))
    return path


def feature(geometry, i, **props):
    return {"type": "Feature", "id": f"f{i}", "geometry": geometry, "properties": props}


@pytest.mark.parametrize("rs", [False, True])  # newline-delimited and RFC 8142 separators
def test_geometries_equal_those_geos_reads(tmp_path, rs):
    feats = [feature(g, i) for i, g in enumerate(SHAPES * 3)]
    path = write(tmp_path / "mix.geojsons", feats, rs=rs)
    fields, count, gtype, complete = geojsonseq.scan_schema(path)
    assert count == len(feats) and gtype == "GEOMETRY" and complete
    chunks = list(
        geojsonseq.read_chunks(
            path,
            layer="x",
            field_types=fields,
            renames={},
            id_field=None,
            crs="EPSG:28992",
            chunk_size=7,
        )
    )
    geoms = np.concatenate([c.geometries for c in chunks])
    expected = [shapely.from_geojson(json.dumps(f["geometry"])) for f in feats]
    assert all(
        shapely.equals_exact(g, e, tolerance=0) for g, e in zip(geoms, expected, strict=True)
    )
    assert shapely.has_z(geoms[1])  # the 3D point keeps its height
    assert [i for c in chunks for i in c.ids] == [f["id"] for f in feats]


def test_field_types_merge_over_the_whole_file(tmp_path):
    point = SHAPES[0]
    path = write(
        tmp_path / "t.geojsons",
        [
            feature(point, 0, n=1, x=1, label="a", flag=True, tags=[1], empty=None),
            feature(point, 1, n=2, x=2.5, label=3, flag=False, tags={"a": 1}, empty=None),
        ],
    )
    fields, _, gtype, _ = geojsonseq.scan_schema(path)
    assert gtype == "POINT"
    assert fields == {
        "n": FieldType.INTEGER,
        "x": FieldType.REAL,
        "label": FieldType.TEXT,
        "flag": FieldType.BOOLEAN,
        "tags": FieldType.JSON,
        "empty": FieldType.TEXT,
    }
    (chunk,) = geojsonseq.read_chunks(
        path, layer="x", field_types=fields, renames={}, id_field=None, crs="EPSG:28992"
    )
    assert chunk.columns["x"] == [1.0, 2.5] and chunk.columns["label"] == ["a", "3"]


def test_default_crs_is_crs84(tmp_path):
    path = write(
        tmp_path / "wgs.geojsons", [feature({"type": "Point", "coordinates": [4.3571, 52.0116]}, 0)]
    )
    fields, _, _, _ = geojsonseq.scan_schema(path)
    (chunk,) = geojsonseq.read_chunks(
        path, layer="x", field_types=fields, renames={}, id_field=None, crs=None
    )
    p = chunk.geometries[0]
    assert 84000 < p.x < 86000 and 446000 < p.y < 448000  # Delft in RD New


def test_rd_coordinates_without_a_crs_are_said_to_need_one(tmp_path):
    """GeoJSON's default CRS is longitude/latitude; a file in RD New without --crs once
    failed with "invalid geometry: Invalid Coordinate[inf inf]"."""
    path = write(tmp_path / "rd.geojsons", [feature({"type": "Point", "coordinates": [X, Y]}, 0)])
    fields, _, _, _ = geojsonseq.scan_schema(path)
    with pytest.raises(InputError, match=r"coordinates outside .*--crs EPSG:28992") as err:
        list(
            geojsonseq.read_chunks(
                path, layer="x", field_types=fields, renames={}, id_field=None, crs=None
            )
        )
    assert "rd.geojsons" in str(err.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"type": "Feature", "geometry": ', "line 2: not valid JSON"),
        ("[1, 2]", "line 2: not a GeoJSON Feature"),
        ('{"type": "Feature", "geometry": null, "properties": {}}', "line 2: feature has no"),
        (
            '{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": '
            f'[[[{X}, {Y}], [{X + 1}, {Y}], [{X + 1}, {Y + 1}]]]}}, "properties": {{}}}}',
            "line 2: unreadable geometry",
        ),
    ],
)
def test_bad_lines_are_named(tmp_path, line, message):
    path = tmp_path / "bad.geojsons"
    path.write_text(json.dumps(feature(SHAPES[0], 0)) + "\n" + line + "\n")
    with pytest.raises(InputError, match=message) as err:
        batch = read_file(path, layer_name="x", crs="EPSG:28992")
        list(batch)
    assert "bad.geojsons" in str(err.value)


def test_import_through_the_store_and_again(tmp_path):
    feats = [feature(SHAPES[3], i, code=f"c{i}", h=float(i)) for i in range(30)]
    path = write(tmp_path / "p.geojsons", feats)
    with init_workspace(tmp_path / "twin") as ws:
        rep = ws.store.write(
            read_file(path, layer_name="plots", id_field="code", crs="EPSG:28992", batch_size=8)
        )
        assert rep.layers["plots"].added == 30
        got = {f.id: f.properties["h"] for f in ws.store.features("plots")}
        assert got == {f"c{i}": float(i) for i in range(30)}
        feats[4]["properties"]["h"] = 99.0
        write(path, feats)
        rep = ws.store.write(
            read_file(path, layer_name="plots", id_field="code", crs="EPSG:28992", batch_size=8)
        )
        assert (rep.layers["plots"].changed, rep.layers["plots"].unchanged) == (1, 29)


@pytest.mark.parametrize(
    ("late", "check"),
    [
        ({"h": 1.0, "extra": "new"}, lambda f: f.properties["extra"] == "new"),  # new field
        ({"h": 2.5}, lambda f: f.properties["h"] == 2.5),  # integers widen to reals
        ("multi", lambda f: f.geometry.geom_type == "MultiPolygon"),  # polygon -> multi
    ],
)
def test_schema_growing_after_the_first_chunk_is_read_again_in_full(tmp_path, late, check):
    """The schema comes from the first chunk; a later record that does not fit makes the
    import roll back and run again after a full scan: nothing is lost or mistyped."""
    from tweeling.services.importing import import_source

    square = SHAPES[3]
    feats = [feature(square, i, h=i) for i in range(25)]
    if late == "multi":
        feats[-1]["geometry"] = SHAPES[4]
    else:
        feats[-1]["properties"] = late
    path = write(tmp_path / "grow.geojsons", feats)
    with init_workspace(tmp_path / "twin") as ws:
        (report,) = import_source(
            ws, "file", [path], options={"layer_name": "g", "crs": "EPSG:28992", "batch_size": 10}
        )
        assert report.layers["g"].added == 25
        assert len(ws.store.transactions()) == 1  # the rolled-back attempt left nothing
        last = ws.store.history("g", "f24")[0]
        assert check(last)


def test_errors_in_the_import_worker_reach_the_user_whole(tmp_path):
    """Records are read in a worker process: its error keeps file, object and reason, and the
    store is left as it was."""
    from tweeling.services.importing import import_source

    bow = {
        "type": "Polygon",
        "coordinates": [[[X, Y], [X + 10, Y + 10], [X + 10, Y], [X, Y + 10], [X, Y]]],
    }
    feats = [feature(SHAPES[3], i, code=f"c{i}") for i in range(30)]
    feats[27]["geometry"] = bow
    path = write(tmp_path / "bow.geojsons", feats)
    with init_workspace(tmp_path / "twin") as ws:
        with pytest.raises(InputError, match="Self-intersection") as err:
            import_source(
                ws,
                "file",
                [path],
                options={
                    "layer_name": "plots",
                    "id_field": "code",
                    "crs": "EPSG:28992",
                    "batch_size": 10,
                },
            )
        assert err.value.object_id == "c27" and err.value.path == str(path)
        assert ws.store.transactions() == [] and ws.store.layers() == []
