"""The store on both backends (GeoPackage, PostGIS): versions, time travel, idempotent
re-import, atomicity; GDAL reads the GeoPackage back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import numpy as np
import pyogrio
import pytest
import shapely

from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.services.workspace import init_workspace

SCHEMA = LayerSchema(
    "houses",
    "MULTIPOLYGON",
    {"height_m": "REAL", "name": "TEXT", "storeys": "INTEGER", "listed": "BOOLEAN"},
)
T2016 = datetime(2016, 3, 15, 11, 2, 49, tzinfo=UTC)
T2018 = datetime(2018, 1, 1, tzinfo=UTC)


def house(i: int, height: float = 6.0, **kw) -> FeatureRecord:
    x, y = 85000 + 20 * (i % 500), 447500 + 20 * (i // 500)
    return FeatureRecord(
        "houses",
        f"h{i}",
        shapely.box(x, y, x + 10, y + 8),
        {"height_m": height, "name": f"house {i}", "storeys": 2, "listed": i % 2 == 0},
        valid_from=datetime(2014, 7, 9, tzinfo=UTC),
        recorded_at=T2016,
        **kw,
    )


def batch(records, source="test:houses") -> ImportBatch:
    records = list(records)
    return ImportBatch(source, "houses.json", [SCHEMA], records, total=len(records))


@pytest.fixture
def ws(tmp_path, store_url):
    w = init_workspace(tmp_path / "twin", store=store_url())
    yield w
    w.close()


@pytest.fixture
def gpkg_ws(tmp_path):
    """A twin in a GeoPackage (for what only that backend has: a file GDAL opens)."""
    w = init_workspace(tmp_path / "twin")
    yield w
    w.close()


def snapshot(ws) -> dict:
    """Everything a user can see of the store (for 'nothing changed' checks)."""
    out = {"txns": len(ws.store.transactions()), "layers": {}}
    for info in ws.store.layers():
        if info.kind == "vector":
            out["layers"][info.name] = sorted(
                (f.id, f.version, shapely.to_wkb(f.geometry), repr(f.properties))
                for f in ws.store.features(info.name)
            )
    return out


def test_write_and_read_back(ws):
    report = ws.store.write(batch(house(i) for i in range(5)))
    assert report.layers["houses"].added == 5
    feats = list(ws.store.features("houses"))
    assert [f.id for f in feats] == [f"h{i}" for i in range(5)]
    f0 = feats[0]
    assert f0.properties == {"height_m": 6.0, "name": "house 0", "storeys": 2, "listed": True}
    assert f0.geometry.geom_type == "MultiPolygon"  # promoted to the layer's type
    assert f0.geometry.area == pytest.approx(80.0)
    assert f0.recorded_at == T2016
    assert f0.valid_from == datetime(2014, 7, 9, tzinfo=UTC)
    info = ws.store.layer("houses")
    assert info.count == 5
    assert info.extent == (85000.0, 447500.0, 85090.0, 447508.0)


def test_bbox_is_exact_and_where_filters(ws):
    ring = shapely.Polygon([(85000, 447500), (85010, 447500), (85000, 447510)])  # a triangle
    recs = [FeatureRecord("houses", "tri", ring, {"name": "t"}), house(3)]
    ws.store.write(batch(recs))
    # The box touches the triangle's envelope but not the triangle itself.
    assert [f.id for f in ws.store.features("houses", bbox=(85008, 447508, 85009, 447509))] == []
    assert [f.id for f in ws.store.features("houses", bbox=(85001, 447501, 85002, 447502))] == [
        "tri"
    ]
    assert [f.id for f in ws.store.features("houses", where={"name": "house 3"})] == ["h3"]
    assert ws.store.count("houses", where={"listed": False}) == 1
    with pytest.raises(InputError, match="no field 'colour'"):
        list(ws.store.features("houses", where={"colour": "red"}))


def test_reimport_is_idempotent_and_versions_changes(ws):
    ws.store.write(batch(house(i) for i in range(3)))
    again = ws.store.write(batch(house(i) for i in range(3)))
    assert vars(again.layers["houses"]) == {"added": 0, "changed": 0, "unchanged": 3, "ended": 0}
    assert ws.store.count("houses") == 3

    # h1 is raised (the source registers it in 2018); h2 disappears from the source.
    changed = [house(0), _replace(house(1, height=9.0), recorded_at=T2018), house(3)]
    rep = ws.store.write(batch(changed))
    assert vars(rep.layers["houses"]) == {"added": 1, "changed": 1, "unchanged": 1, "ended": 1}
    assert ws.store.count("houses") == 3
    assert {f.id for f in ws.store.features("houses")} == {"h0", "h1", "h3"}
    versions = ws.store.history("houses", "h1")
    assert [v.properties["height_m"] for v in versions] == [6.0, 9.0]
    assert versions[0].record_end == versions[1].recorded_at == T2018
    ended = ws.store.history("houses", "h2")
    assert len(ended) == 1 and ended[0].record_end is not None


def _replace(rec: FeatureRecord, **changes) -> FeatureRecord:
    fields = {k: getattr(rec, k) for k in FeatureRecord.__slots__}
    fields.update(changes)
    return FeatureRecord(**fields)


def test_time_travel_as_of(ws):
    ws.store.write(batch(house(i) for i in range(2)))
    ws.store.write(batch([_replace(house(0, height=12.0), recorded_at=T2018), house(1)]))
    before = datetime(2015, 1, 1, tzinfo=UTC)  # registered in 2016: not yet known
    assert list(ws.store.features("houses", as_of=before)) == []
    in2017 = {
        f.id: f.properties["height_m"]
        for f in ws.store.features("houses", as_of=datetime(2017, 1, 1, tzinfo=UTC))
    }
    assert in2017 == {"h0": 6.0, "h1": 6.0}
    now = {f.id: f.properties["height_m"] for f in ws.store.features("houses")}
    assert now == {"h0": 12.0, "h1": 6.0}
    # Spatial time travel uses both indexes (current and superseded versions).
    box = (85000, 447500, 85005, 447505)
    assert [
        f.properties["height_m"]
        for f in ws.store.features("houses", bbox=box, as_of=datetime(2017, 1, 1, tzinfo=UTC))
    ] == [6.0]
    assert [
        f.properties["height_m"]
        for f in ws.store.features("houses", bbox=box, as_of=datetime(2019, 1, 1, tzinfo=UTC))
    ] == [12.0]
    # Valid time: an object that ended in the world (objectEindTijd) is gone after that.
    gone = _replace(house(5), valid_to=datetime(2017, 6, 1, tzinfo=UTC))
    ws.store.write(batch([gone], source="test:other"))
    assert ws.store.count("houses", as_of=datetime(2017, 1, 1, tzinfo=UTC)) == 3
    assert ws.store.count("houses", as_of=datetime(2018, 1, 1, tzinfo=UTC)) == 2


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            FeatureRecord(
                "houses",
                "bow",
                shapely.Polygon(
                    [(85000, 447500), (85010, 447510), (85010, 447500), (85000, 447510)]
                ),
                {},
            ),
            "object 'bow': invalid geometry: Self-intersection",
        ),
        (
            FeatureRecord("houses", "far", shapely.box(4.3, 52.0, 4.4, 52.1), {}),
            "object 'far': coordinates .* lie outside the Netherlands",
        ),
        (
            FeatureRecord(
                "houses", "typo", shapely.box(85000, 447500, 85001, 447501), {"hieght_m": 3.0}
            ),
            "object 'typo': field 'hieght_m': field not declared",
        ),
        (
            FeatureRecord(
                "houses", "word", shapely.box(85000, 447500, 85001, 447501), {"storeys": "two"}
            ),
            "field 'storeys': value 'two' is not a valid INTEGER",
        ),
        (
            FeatureRecord(
                "houses", "line", shapely.LineString([(85000, 447500), (85001, 447501)]), {}
            ),
            "object 'line': geometry type LineString does not fit",
        ),
        (house(1), "object 'h1': the same identifier occurs twice"),
    ],
)
def test_bad_records_leave_the_store_unchanged(ws, record, message):
    ws.store.write(batch(house(i) for i in range(3)))
    before = snapshot(ws)
    recs = [house(i, height=20.0) for i in range(3)] + [house(7)] + [record]
    with pytest.raises(InputError, match=message):
        ws.store.write(batch(recs, source="test:bad"))
    assert snapshot(ws) == before
    assert ws.store.integrity_check() == "ok"


def test_interrupted_import_leaves_the_store_unchanged(ws):
    ws.store.write(batch(house(i) for i in range(3)))
    before = snapshot(ws)

    def stream():
        for i in range(20_000):  # more than one chunk is written before the interrupt
            yield house(i, height=30.0)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ws.store.write(ImportBatch("test:big", "big", [SCHEMA], stream()))
    assert snapshot(ws) == before


KILL_SCRIPT = """
import sys, shapely
from tweeling.services.workspace import open_workspace
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
schema = LayerSchema("houses", "MULTIPOLYGON", {"height_m": "REAL"})
def stream():
    for i in range(10_000_000):
        if i == 30_000:
            print("WRITING", flush=True)
        yield FeatureRecord("houses", f"k{i}", shapely.box(85000, 447500, 85010, 447510),
                            {"height_m": 1.0})
with open_workspace(sys.argv[1]) as ws:
    ws.store.write(ImportBatch("test:kill", "kill", [schema], stream()))
"""


def test_killed_import_leaves_the_store_unchanged(ws):
    """A process killed (SIGKILL) half-way: SQLite's journal, or PostgreSQL's rollback of
    the lost connection's transaction, restores the previous state."""
    ws.store.write(batch(house(i) for i in range(3)))
    before = snapshot(ws)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(ws.root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "WRITING"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    from tweeling.services.workspace import open_workspace

    with open_workspace(ws.root) as again:
        assert snapshot(again) == before
        assert again.store.integrity_check() == "ok"


def test_gdal_sees_current_baseline_with_crs(gpkg_ws):
    ws = gpkg_ws
    ws.store.write(batch(house(i) for i in range(4)))
    ws.store.write(batch([_replace(house(0, height=15.0), recorded_at=T2018), house(1)]))
    ws.close()
    path = ws.root / "twin.gpkg"
    names = dict(pyogrio.list_layers(path))
    assert names.get("houses") == "MultiPolygon"
    assert set(names) == {"houses", "tw_transactions"}  # internal tables stay hidden
    info = pyogrio.read_info(path, layer="houses")
    assert info["crs"] == "EPSG:28992"
    assert info["features"] == 2  # h2, h3 ended by the second import of the same source
    meta, _, geometry, fields = pyogrio.raw.read(path, layer="houses")
    cols = dict(zip(meta["fields"], fields, strict=True))
    assert list(cols["tw_id"]) == ["h0", "h1"]
    assert list(cols["height_m"]) == [15.0, 6.0]
    geoms = shapely.from_wkb(geometry)
    assert np.allclose(shapely.area(geoms), 80.0)
    # GDAL uses the spatial index.
    _, _, geometry, fields = pyogrio.raw.read(
        path, layer="houses", bbox=(85019, 447500, 85021, 447501)
    )
    assert list(fields[0]) == ["h1"]


def test_unknown_layer_and_feature(ws):
    with pytest.raises(NotFoundError, match="unknown layer 'nope'"):
        list(ws.store.features("nope"))
    ws.store.write(batch([house(0)]))
    with pytest.raises(NotFoundError, match="no feature 'h9'"):
        ws.store.history("houses", "h9")
