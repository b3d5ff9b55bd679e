"""BGT import from the OGR SQLite sample files of Delft (shared/data/delft/bgt)."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyogrio
import pytest
import shapely

from tweeling.core.errors import InputError
from tweeling.core.features import FieldType
from tweeling.sources.bgt import bag_pand_id, bgt_object_type, read_bgt

AMS = ZoneInfo("Europe/Amsterdam")

# Counts per layer, also given in shared/data/README.md (and checked with sqlite3 count(*)).
COUNTS = {
    "bgt_pand": 160,
    "bgt_wegdeel": 151,
    "bgt_begroeidterreindeel": 126,
    "bgt_onbegroeidterreindeel": 81,
    "bgt_scheiding": 57,
    "bgt_waterdeel": 3,
    "bgt_overbruggingsdeel": 3,
    "bgt_kunstwerkdeel": 1,
    "bgt_ondersteunendwaterdeel": 0,
    "bgt_ondersteunendwegdeel": 0,
    "bgt_overigbouwwerk": 0,
    "bgt_tunneldeel": 0,
}

# The pand with the text label "6" near the Oude Delft; record id as in the task brief.
PAND_ID = "NL.IMGeo.G0503.032e68eff7ec49cce0532ee22091b28c"


@pytest.fixture(scope="module")
def bgt_dir(shared_data):
    return shared_data / "delft" / "bgt"


@pytest.fixture(scope="module")
def batch(bgt_dir):
    return read_bgt(sorted(bgt_dir.glob("bgt_*.sqlite")))


@pytest.fixture(scope="module")
def records(batch):
    return list(batch)


def test_all_twelve_layers_declared_and_counted(batch, records):
    assert {s.name for s in batch.layers} == set(COUNTS)
    counts = Counter(r.layer for r in records)
    assert {layer: counts.get(layer, 0) for layer in COUNTS} == COUNTS
    assert batch.total == sum(COUNTS.values()) == len(records)
    assert batch.metadata["counts"] == COUNTS


def test_counts_match_sqlite(bgt_dir, batch):
    for layer, n in batch.metadata["counts"].items():
        path = bgt_dir / f"{layer}.sqlite"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            table = db.execute("select f_table_name from geometry_columns").fetchone()[0]
            assert db.execute(f"select count(*) from '{table}'").fetchone()[0] == n


def test_source_path_and_ogr_layer_names(batch, bgt_dir):
    assert batch.source == "bgt:bgt"
    assert batch.path == str(bgt_dir)
    assert batch.metadata["ogr_layers"]["bgt_pand"] == "buildingpart"
    assert batch.metadata["ogr_layers"]["bgt_wegdeel"] == "trafficarea"
    assert batch.metadata["ogr_layers"]["bgt_begroeidterreindeel"] == "plantcover"


def test_schemas_keep_imgeo_attributes_with_types(batch):
    schemas = {s.name: s for s in batch.layers}
    pand = schemas["bgt_pand"].fields
    for name in ("bronhouder", "bgt_status", "plus_status", "namespace", "lokaalid", "gml_id"):
        assert pand[name] is FieldType.TEXT
    assert pand["relatievehoogteligging"] is FieldType.INTEGER
    assert pand["inonderzoek"] is FieldType.BOOLEAN
    assert pand["identificatiebagpnd"] is FieldType.INTEGER
    assert pand["lv_publicatiedatum"] is FieldType.DATETIME
    assert pand["bag_id"] is FieldType.TEXT
    for name in ("tekst", "hoek", "plaatsingspunt"):
        assert pand[name] is FieldType.TEXT
    # the time axes are record axes, not attributes
    assert not {"creationdate", "tijdstipregistratie"} & set(pand)
    weg = schemas["bgt_wegdeel"].fields
    assert weg["function"] is FieldType.TEXT and weg["surfacematerial"] is FieldType.TEXT
    assert weg["wegdeeloptalud"] is FieldType.BOOLEAN
    assert schemas["bgt_begroeidterreindeel"].fields["class"] is FieldType.TEXT
    assert schemas["bgt_scheiding"].fields["bgt_type"] is FieldType.TEXT
    assert schemas["bgt_tunneldeel"].geometry_type == "POLYGON"  # empty, still declared
    assert schemas["bgt_pand"].geometry_type == "MULTIPOLYGON"  # as the OGR layer says


def test_one_pand_against_the_sqlite_file(bgt_dir, records):
    """Attributes, times and first coordinate of one pand, read independently with sqlite3."""
    pand = next(r for r in records if r.id == PAND_ID)
    with sqlite3.connect(f"file:{bgt_dir / 'bgt_pand.sqlite'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "select * from buildingpart where namespace || '.' || lokaalid = ?", (PAND_ID,)
        ).fetchone()
    # Values noted from that row: bronhouder G0503, creationdate 2014-07-09,
    # tijdstipregistratie 2016-03-15T12:02:49.000, identificatiebagpnd 503100000000035,
    # tekst (1:6), hoek (1:-52.4), plaatsingspunt (1:85012.966 447473.243).
    p = pand.properties
    assert p["bronhouder"] == row["bronhouder"] == "G0503"
    assert p["bgt_status"] == row["bgt_status"] == "bestaand"
    assert p["plus_status"] == row["plus_status"] == "geenWaarde"
    assert p["lokaalid"] == row["lokaalid"] == "G0503.032e68eff7ec49cce0532ee22091b28c"
    assert p["relatievehoogteligging"] == row["relatievehoogteligging"] == 0
    assert p["inonderzoek"] is False and row["inonderzoek"] == 0
    assert p["identificatiebagpnd"] == row["identificatiebagpnd"] == 503100000000035
    assert p["bag_id"] == "NL.IMBAG.Pand.0503100000000035"
    assert p["tekst"] == row["tekst"] == "(1:6)"  # OGR-encoded string lists, kept raw
    assert p["hoek"] == row["hoek"] == "(1:-52.4)"
    assert p["plaatsingspunt"] == row["plaatsingspunt"] == "(1:85012.966 447473.243)"
    assert p["identificatiebagvbolaagstehuisnummer"] == "(1:503010000027121)"
    assert p["lv_publicatiedatum"] == datetime(2016, 4, 12, 11, 54, 23, tzinfo=AMS)

    assert row["creationdate"] == "2014-07-09"
    assert pand.valid_from == datetime(2014, 7, 9, tzinfo=AMS)
    assert row["tijdstipregistratie"] == "2016-03-15T12:02:49.000"
    assert pand.recorded_at == datetime(2016, 3, 15, 12, 2, 49, tzinfo=AMS)
    assert pand.recorded_at.astimezone(UTC) == datetime(2016, 3, 15, 11, 2, 49, tzinfo=UTC)
    assert row["terminationdate"] is None and pand.valid_to is None
    assert row["eindregistratie"] is None and pand.record_end is None

    source_geom = shapely.from_wkb(row["GEOMETRY"])  # plain WKB, parsed without GDAL
    assert shapely.equals_exact(pand.geometry, shapely.multipolygons([source_geom]))
    first = shapely.get_coordinates(pand.geometry)[0]
    assert tuple(first) == (85032.569, 447484.294)
    assert pand.geometry.is_valid


def test_record_ids_are_namespace_dot_lokaalid_and_unique(records):
    ids = [r.id for r in records]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("NL.IMGeo.") for i in ids)
    assert all(r.id == f"{r.properties['namespace']}.{r.properties['lokaalid']}" for r in records)


def test_all_times_are_aware(records):
    times = [
        t
        for r in records
        for t in (r.valid_from, r.valid_to, r.recorded_at, r.record_end)
        if t is not None
    ]
    times += [
        r.properties["lv_publicatiedatum"]
        for r in records
        if r.properties.get("lv_publicatiedatum")
    ]
    assert len(times) > 2 * 580
    assert all(t.tzinfo is not None and t.utcoffset() is not None for t in times)


def test_every_pand_has_a_bag_id(records):
    panden = [r for r in records if r.layer == "bgt_pand"]
    assert all(len(r.properties["bag_id"]) == len("NL.IMBAG.Pand.") + 16 for r in panden)
    assert len({r.properties["bag_id"] for r in panden}) == 160


def test_kunstwerkdeel_without_times_has_open_axes(records):
    (stuw,) = [r for r in records if r.layer == "bgt_kunstwerkdeel"]
    assert stuw.properties["bgt_type"] == "stuw"
    assert stuw.valid_from is None and stuw.recorded_at is None


def test_geometries_in_delft_rd_and_valid(records):
    for r in records:
        assert r.geometry.is_valid
        minx, miny, maxx, maxy = r.geometry.bounds
        assert minx > 84000 and maxx < 86000 and miny > 447000 and maxy < 448000


def test_a_folder_stands_for_its_files(bgt_dir, batch):
    assert read_bgt([bgt_dir]).metadata["counts"] == batch.metadata["counts"]


def test_bag_pand_id_normalisation():
    assert bag_pand_id(503100000000035) == "NL.IMBAG.Pand.0503100000000035"
    assert bag_pand_id("0503100000000035") == "NL.IMBAG.Pand.0503100000000035"
    assert bag_pand_id(None) is None
    with pytest.raises(ValueError):
        bag_pand_id("12345678901234567")


def test_file_names_must_name_a_bgt_object_type(tmp_path):
    assert bgt_object_type(tmp_path / "bgt_Wegdeel.sqlite") == "wegdeel"
    with pytest.raises(InputError, match="bgt_<objecttype>"):
        bgt_object_type(tmp_path / "wegen.sqlite")
    with pytest.raises(InputError, match="not a BGT"):
        bgt_object_type(tmp_path / "bgt_snoepwinkel.sqlite")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        read_bgt([tmp_path / "bgt_pand.sqlite"])
    assert "bgt_pand.sqlite" in str(err.value)


def test_corrupt_sqlite(tmp_path):
    path = tmp_path / "bgt_pand.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\x00\xff" * 400)
    with pytest.raises(InputError) as err:
        read_bgt([path])
    assert "bgt_pand.sqlite" in str(err.value)


def test_same_object_type_twice_and_mixed_folders(bgt_dir, tmp_path):
    pand = bgt_dir / "bgt_pand.sqlite"
    with pytest.raises(InputError, match="twice"):
        read_bgt([pand, pand])
    copy = tmp_path / "bgt_wegdeel.sqlite"
    shutil.copy(bgt_dir / "bgt_wegdeel.sqlite", copy)
    with pytest.raises(InputError, match="one folder"):
        read_bgt([pand, copy])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no bgt_"):
        read_bgt([empty])


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_file_without_crs_is_refused(tmp_path):
    path = tmp_path / "bgt_pand.sqlite"
    pyogrio.raw.write(
        path,
        np.array([shapely.to_wkb(shapely.box(85000, 447000, 85010, 447010))], dtype=object),
        [np.array(["NL.IMGeo"], dtype=object), np.array(["G0503.x"], dtype=object)],
        fields=["namespace", "lokaalid"],
        geometry_type="Polygon",
        crs=None,
        driver="SQLite",
        layer="buildingpart",
    )
    with pytest.raises(InputError, match="coordinate reference system") as err:
        read_bgt([path])
    assert "bgt_pand.sqlite" in str(err.value)
