"""Tests of the IMRO zoning plan importer and its GML geometry reader (arcs in particular).

Expected numbers are read from the real plans in ``shared/data/imro`` by hand (grep, cited
below) or computed here from the GML text independently of the importer.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tweeling.core.errors import InputError
from tweeling.sources.gml_geometry import (
    GmlError,
    circle_through,
    linearise_arc,
    linearise_circle,
    max_step_angle,
    parse_gml_geometry,
    srs_epsg,
)
from tweeling.sources.imro import LAYER, parse_waarde, read_imro

GOES_ON99 = "NL.IMRO.0664.BPBS03-ON99.gml"
GOES_VG99 = "stationspleinzuidoost.gml"
DOORNBOOM = "NL.IMRO.0798.BPDoornboom-ON01.gml"
GIETERVEEN = "NL.IMRO.1680.1800030105-0000.gml"
ALL_FILES = [GOES_ON99, GOES_VG99, DOORNBOOM, GIETERVEEN]

GML32 = "http://www.opengis.net/gml/3.2"


def imro_path(shared_data: Path, name: str) -> Path:
    return shared_data / "imro" / name


def records_by_id(batch) -> dict:
    """Records by their IMRO identificatie (IMRO2008 twin ids carry a 'plan_id/' prefix)."""
    return {r.id.split("/")[-1]: r for r in batch.features}


def test_imro2008_ids_are_prefixed_with_the_plan(shared_data):
    """IMRO2008 numbers objects NL.IMRO.1, NL.IMRO.2, …: unique only within one plan."""
    batch = read_imro(shared_data / "imro" / "NL.IMRO.1680.1800030105-0000.gml")
    ids = [r.id for r in batch.features]
    assert all(i.startswith("NL.IMRO.1680.1800030105-0000/") for i in ids)
    goes = read_imro(shared_data / "imro" / "stationspleinzuidoost.gml")
    assert "NL.IMRO.0664.BPBS02-VG99" in {r.id for r in goes.features}


# --------------------------------------------------------------------------------------------
# Arc linearisation (pure functions)
# --------------------------------------------------------------------------------------------


def on_circle(centre, r, angle_deg):
    a = math.radians(angle_deg)
    return (centre[0] + r * math.cos(a), centre[1] + r * math.sin(a))


def max_sagitta(points: np.ndarray, centre, r) -> float:
    """Largest distance between the circle and the chords: r − distance(centre, chord mid)."""
    mids = (points[1:] + points[:-1]) / 2.0
    return float(np.max(r - np.hypot(mids[:, 0] - centre[0], mids[:, 1] - centre[1])))


def turning(points: np.ndarray, centre) -> np.ndarray:
    """Signed angle steps (radians) of consecutive points as seen from the centre."""
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    return (np.diff(angles) + math.pi) % math.tau - math.pi


@pytest.mark.parametrize("tolerance", [0.1, 0.01, 0.001])
@pytest.mark.parametrize(
    ("start", "mid", "end", "direction"),
    [
        (0, 45, 90, 1),  # quarter circle, counter-clockwise
        (90, 45, 0, -1),  # the same, clockwise
        (10, 180, 350, 1),  # major arc (340°) counter-clockwise
        (10, 0, 350, -1),  # minor arc (20°) clockwise through 0°
        (350, 0, 10, 1),  # minor arc (20°) counter-clockwise through 0°
        (30, 200, 120, -1),  # major arc (270°) clockwise
    ],
)
def test_linearise_arc_known_circle(start, mid, end, direction, tolerance):
    centre, r = (155000.0, 463000.0), 25.0
    p0, p1, p2 = (on_circle(centre, r, a) for a in (start, mid, end))
    pts = linearise_arc(p0, p1, p2, tolerance)

    # start and end exactly preserved
    assert tuple(pts[0]) == p0
    assert tuple(pts[-1]) == p2
    # every point on the circle
    dist = np.hypot(pts[:, 0] - centre[0], pts[:, 1] - centre[1])
    assert np.allclose(dist, r, atol=1e-8)
    # every chord's sagitta within tolerance (and not absurdly small: points are not wasted)
    assert max_sagitta(pts, centre, r) <= tolerance + 1e-9
    assert max_sagitta(pts, centre, r) > tolerance / 4
    # direction of travel as given by the mid point; total sweep as expected
    steps = turning(pts, centre)
    assert np.all(np.sign(steps) == direction)
    expected_sweep = ((end - start) * direction) % 360
    assert math.degrees(abs(steps.sum())) == pytest.approx(expected_sweep, abs=1e-6)


def test_linearise_arc_step_count_follows_formula():
    # r = 10, s = 0.01: θ = 2·acos(1 − 0.001) ≈ 0.0894 rad; a half circle needs ceil(π/θ) = 36
    theta = 2 * math.acos(1 - 0.01 / 10)
    assert max_step_angle(10.0, 0.01) == pytest.approx(theta, rel=1e-12)
    pts = linearise_arc((10.0, 0.0), (0.0, 10.0), (-10.0, 0.0), 0.01)
    assert len(pts) - 1 == math.ceil(math.pi / theta) == 36


def test_max_step_angle_stable_for_huge_radius():
    # acos(1 − s/r) loses precision for r ≫ s; the asin form matches the series 2·√(2s/r).
    r, s = 1e9, 0.001
    assert max_step_angle(r, s) == pytest.approx(2 * math.sqrt(2 * s / r), rel=1e-6)
    assert max_step_angle(0.5, 1.0) == math.pi  # tolerance beyond the radius: half circles
    with pytest.raises(ValueError):
        max_step_angle(1.0, 0.0)


def test_linearise_arc_collinear_is_straight():
    pts = linearise_arc((0.0, 0.0), (1.0, 1.0), (2.0, 2.0), 0.01)
    assert pts.tolist() == [[0.0, 0.0], [2.0, 2.0]]
    with pytest.raises(ValueError, match="collinear"):
        linearise_arc((0.0, 0.0), (3.0, 3.0), (2.0, 2.0), 0.01)
    with pytest.raises(ValueError, match="coincide"):
        linearise_arc((1.0, 1.0), (2.0, 3.0), (1.0, 1.0), 0.01)


def test_linearise_arc_flat_arc_within_tolerance_is_one_chord():
    # mid point 1 mm off the chord of a 10 m arc: the whole arc is within 1 cm of its chord
    pts = linearise_arc((0.0, 0.0), (5.0, 0.001), (10.0, 0.0), 0.01)
    assert pts.tolist() == [[0.0, 0.0], [10.0, 0.0]]


def test_circle_through_known_points():
    cx, cy, r = circle_through((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0))
    assert (cx, cy, r) == pytest.approx((0.0, 0.0, 1.0))
    assert circle_through((0.0, 0.0), (1.0, 0.0), (2.0, 0.0)) is None


@pytest.mark.parametrize("direction", [1, -1])
def test_linearise_circle(direction):
    centre, r = (1000.0, 2000.0), 3.0
    p0, p1, p2 = (on_circle(centre, r, a * direction) for a in (0, 120, 240))
    ring = linearise_circle(p0, p1, p2, 0.001)
    assert tuple(ring[0]) == tuple(ring[-1]) == p0
    assert max_sagitta(ring, centre, r) <= 0.001 + 1e-12
    poly = shapely.Polygon(ring)
    assert poly.is_valid
    assert poly.area == pytest.approx(math.pi * r * r, rel=1e-3)
    assert np.all(np.sign(turning(ring, centre)) == direction)


@settings(max_examples=200, deadline=None)
@given(
    r=st.floats(0.5, 5000.0),
    a0=st.floats(-720.0, 720.0),
    sweep=st.floats(1.0, 359.0),
    mid_fraction=st.floats(0.05, 0.95),
    direction=st.sampled_from([1, -1]),
    tolerance=st.sampled_from([0.001, 0.01, 0.05]),
)
def test_linearise_arc_properties(r, a0, sweep, mid_fraction, direction, tolerance):
    centre = (120000.0, 480000.0)
    p0 = on_circle(centre, r, a0)
    p1 = on_circle(centre, r, a0 + direction * sweep * mid_fraction)
    p2 = on_circle(centre, r, a0 + direction * sweep)
    pts = linearise_arc(p0, p1, p2, tolerance)
    assert tuple(pts[0]) == p0 and tuple(pts[-1]) == p2
    dist = np.hypot(pts[:, 0] - centre[0], pts[:, 1] - centre[1])
    assert np.allclose(dist, r, atol=1e-6)
    assert max_sagitta(pts, centre, r) <= tolerance + 1e-6
    if len(pts) > 2:
        assert np.all(np.sign(turning(pts, centre)) == direction)


# --------------------------------------------------------------------------------------------
# GML geometry reader
# --------------------------------------------------------------------------------------------


def gml(fragment: str, ns: str = GML32) -> etree._Element:
    return etree.fromstring(f'<root xmlns:gml="{ns}">{fragment}</root>')[0]


SRS = 'srsName="urn:ogc:def:crs:EPSG::28992"'


def test_gml_point_polygon_coordinates_forms():
    assert parse_gml_geometry(
        gml(f"<gml:Point {SRS}><gml:pos>155000 463000</gml:pos></gml:Point>"),
        arc_tolerance_m=0.01,
    ).equals(shapely.Point(155000, 463000))
    ring = "0 0 10 0 10 10 0 10 0 0"
    poly = parse_gml_geometry(
        gml(
            f"<gml:Polygon {SRS}><gml:exterior><gml:LinearRing><gml:posList>{ring}"
            "</gml:posList></gml:LinearRing></gml:exterior><gml:interior><gml:LinearRing>"
            "<gml:pos>2 2</gml:pos><gml:pos>2 4</gml:pos><gml:pos>4 4</gml:pos>"
            "<gml:pos>2 2</gml:pos></gml:LinearRing></gml:interior></gml:Polygon>"
        ),
        arc_tolerance_m=0.01,
    )
    assert poly.area == pytest.approx(100 - 2)
    # GML 3.1.1 gml:coordinates with a decimal comma and custom separators
    line = parse_gml_geometry(
        gml(
            f'<gml:LineString {SRS}><gml:coordinates decimal="," cs=";" ts="|">'
            "1,5;2|3;4,25</gml:coordinates></gml:LineString>",
            ns="http://www.opengis.net/gml",
        ),
        arc_tolerance_m=0.01,
    )
    assert list(line.coords) == [(1.5, 2.0), (3.0, 4.25)]


def test_gml_multi_geometries():
    sq = (
        "<gml:exterior><gml:LinearRing><gml:posList>{}</gml:posList></gml:LinearRing>"
        "</gml:exterior>"
    )
    multi = parse_gml_geometry(
        gml(
            f"<gml:MultiSurface {SRS}>"
            f"<gml:surfaceMember><gml:Polygon>{sq.format('0 0 1 0 1 1 0 0')}</gml:Polygon>"
            "</gml:surfaceMember><gml:surfaceMember><gml:Surface><gml:patches><gml:PolygonPatch>"
            f"{sq.format('5 5 6 5 6 6 5 5')}</gml:PolygonPatch></gml:patches></gml:Surface>"
            "</gml:surfaceMember></gml:MultiSurface>"
        ),
        arc_tolerance_m=0.01,
    )
    assert multi.geom_type == "MultiPolygon" and len(multi.geoms) == 2
    points = parse_gml_geometry(
        gml(
            f"<gml:MultiPoint {SRS}><gml:pointMember><gml:Point><gml:pos>1 2</gml:pos>"
            "</gml:Point></gml:pointMember><gml:pointMember><gml:Point><gml:pos>3 4</gml:pos>"
            "</gml:Point></gml:pointMember></gml:MultiPoint>"
        ),
        arc_tolerance_m=0.01,
    )
    assert [p.coords[0] for p in points.geoms] == [(1, 2), (3, 4)]
    curves = parse_gml_geometry(
        gml(
            f"<gml:MultiCurve {SRS}><gml:curveMember><gml:LineString><gml:posList>0 0 1 1"
            "</gml:posList></gml:LineString></gml:curveMember><gml:curveMember><gml:Curve>"
            "<gml:segments><gml:ArcString><gml:posList>0 0 1 1 2 0 3 -1 4 0</gml:posList>"
            "</gml:ArcString></gml:segments></gml:Curve></gml:curveMember></gml:MultiCurve>"
        ),
        arc_tolerance_m=0.01,
    )
    assert curves.geom_type == "MultiLineString"
    wave = curves.geoms[1]
    assert wave.coords[0] == (0, 0) and wave.coords[-1] == (4, 0)
    assert (2.0, 0.0) in list(wave.coords)  # the joint of the two arcs is kept exactly


def test_gml_circle_polygon_area():
    circle = parse_gml_geometry(
        gml(
            f"<gml:Polygon {SRS}><gml:exterior><gml:Ring><gml:curveMember><gml:Curve>"
            "<gml:segments><gml:Circle><gml:posList>10 0 0 10 -10 0</gml:posList></gml:Circle>"
            "</gml:segments></gml:Curve></gml:curveMember></gml:Ring></gml:exterior>"
            "</gml:Polygon>"
        ),
        arc_tolerance_m=0.001,
    )
    assert circle.is_valid
    # the chords cut off at most sagitta × circumference
    exact = math.pi * 100
    assert exact - 0.001 * 2 * math.pi * 10 <= circle.area <= exact


@pytest.mark.parametrize(
    ("srs", "code"),
    [
        ("urn:ogc:def:crs:EPSG::28992", 28992),
        ("urn:ogc:def:crs:EPSG:6.9:28992", 28992),
        ("EPSG:28992", 28992),
        ("http://www.opengis.net/def/crs/EPSG/0/28992", 28992),
        ("http://www.opengis.net/gml/srs/epsg.xml#28992", 28992),
        ("urn:ogc:def:crs:EPSG::4326", 4326),
        ("RD_New", None),
    ],
)
def test_srs_epsg(srs, code):
    assert srs_epsg(srs) == code


def test_gml_errors_name_the_line():
    with pytest.raises(GmlError, match=r"line 1: .*gml:Arc has 2 points"):
        parse_gml_geometry(
            gml(
                f"<gml:Curve {SRS}><gml:segments><gml:Arc><gml:posList>0 0 1 1</gml:posList>"
                "</gml:Arc></gml:segments></gml:Curve>"
            ),
            arc_tolerance_m=0.01,
        )
    with pytest.raises(GmlError, match="not contiguous"):
        parse_gml_geometry(
            gml(
                f"<gml:Curve {SRS}><gml:segments><gml:LineStringSegment><gml:posList>0 0 1 1"
                "</gml:posList></gml:LineStringSegment><gml:LineStringSegment><gml:posList>"
                "2 2 3 3</gml:posList></gml:LineStringSegment></gml:segments></gml:Curve>"
            ),
            arc_tolerance_m=0.01,
        )
    with pytest.raises(GmlError, match="unsupported GML geometry gml:Solid"):
        parse_gml_geometry(gml(f"<gml:Solid {SRS}/>"), arc_tolerance_m=0.01)
    with pytest.raises(GmlError, match="not a number"):
        parse_gml_geometry(
            gml(f"<gml:Point {SRS}><gml:pos>1 x</gml:pos></gml:Point>"), arc_tolerance_m=0.01
        )


# --------------------------------------------------------------------------------------------
# The four real plans
# --------------------------------------------------------------------------------------------

# Plan objects per type, by hand: grep -o '<imro:[A-Za-z_]*' FILE | sort | uniq -c
# (the counts of the element names of the objects in featureMember; MetadataIMRObestand is
# not a plan object).
EXPECTED_COUNTS = {
    GOES_ON99: {
        "Bestemmingsplangebied": 1,
        "Bouwvlak": 9,
        "Dubbelbestemming": 1,
        "Enkelbestemming": 13,
        "Functieaanduiding": 9,
        "Maatvoering": 14,
    },
    GOES_VG99: {
        "Bestemmingsplangebied": 1,
        "Bouwaanduiding": 3,
        "Bouwvlak": 25,
        "Dubbelbestemming": 4,
        "Enkelbestemming": 11,
        "Functieaanduiding": 11,
        "Maatvoering": 26,
    },
    DOORNBOOM: {
        "Bestemmingsplangebied": 1,
        "Bouwaanduiding": 4,
        "Enkelbestemming": 4,
        "Figuur": 7,
        "Maatvoering": 12,
    },
    GIETERVEEN: {
        "Bestemmingsplangebied": 1,
        "Bouwaanduiding": 6,
        "Bouwvlak": 88,
        "Dubbelbestemming": 6,
        "Enkelbestemming": 84,
        "Functieaanduiding": 18,
        "Gebiedsaanduiding": 7,
        "Maatvoering": 8,
    },
}

PLAN_IDS = {
    GOES_ON99: ("NL.IMRO.0664.BPBS03-ON99", "IMRO2012"),
    GOES_VG99: ("NL.IMRO.0664.BPBS02-VG99", "IMRO2012"),
    DOORNBOOM: ("NL.IMRO.0798.BPDoornboom-ON01", "IMRO2012"),
    GIETERVEEN: ("NL.IMRO.1680.1800030105-0000", "IMRO2008"),
}


@pytest.mark.parametrize("name", ALL_FILES)
def test_real_plan_counts_per_type(shared_data, name):
    path = imro_path(shared_data, name)
    batch = read_imro(path)
    counts = Counter(r.properties["object_type"] for r in batch.features)
    assert counts == EXPECTED_COUNTS[name]
    # and the same read straight from the file text, independently of the importer
    text = path.read_text(encoding="utf-8")
    in_text = Counter(re.findall(r"<imro:featureMember>\s*<imro:(\w+)[\s>]", text))
    del in_text["MetadataIMRObestand"]
    assert counts == in_text
    assert batch.total == len(list(batch.features)) == sum(EXPECTED_COUNTS[name].values())
    plan_id, version = PLAN_IDS[name]
    assert batch.source == f"imro:{plan_id}"
    assert batch.metadata["arc_tolerance_m"] == 0.01
    assert "0.01 m" in batch.layers[0].description
    assert [layer.name for layer in batch.layers] == [LAYER]
    fields = set(batch.layers[0].fields)
    for record in batch.features:
        assert record.layer == LAYER
        assert record.properties["plan_id"] == plan_id
        assert record.properties["imro_version"] == version
        assert set(record.properties) == fields
        assert shapely.is_valid(record.geometry)
        assert record.valid_from is not None and record.valid_from.tzinfo is not None
    assert len({r.id for r in batch.features}) == batch.total


def test_stationsplein_maximum_bouwhoogte(shared_data):
    batch = read_imro(imro_path(shared_data, GOES_VG99))
    # grep -c '<imro:waardeType>maximum bouwhoogte (m)</imro:waardeType>' → 26, and the file has
    # 26 Maatvoering objects, each with one (README: "26 × maximum bouwhoogte (m)")
    heights = [r for r in batch.features if r.properties["maximum_bouwhoogte_m"] is not None]
    assert len(heights) == 26
    assert {r.properties["object_type"] for r in heights} == {"Maatvoering"}
    # grep -c '<imro:waardeType>maximum goothoogte (m)' → 8;
    # grep -c '<imro:waardeType>maximum bebouwingspercentage (%)' → 5
    assert sum(r.properties["maximum_goothoogte_m"] is not None for r in batch.features) == 8
    assert (
        sum(r.properties["maximum_bebouwingspercentage"] is not None for r in batch.features) == 5
    )


def test_stationsplein_maatvoering_of_named_object(shared_data):
    records = records_by_id(read_imro(imro_path(shared_data, GOES_VG99)))
    # stationspleinzuidoost.gml line 7322:
    #   <imro:Maatvoering gml:id="NL.IMRO.0664.MP19259068664-00">
    # maatvoeringInfo/WaardeEnType: waarde 8 "maximum goothoogte (m)",
    # 8 "maximum bouwhoogte (m)", 15 "maximum bebouwingspercentage (%)";
    # aanduiding xlink:href="#NL.IMRO.0664.BP3260883833-00" (its last child element)
    props = records["NL.IMRO.0664.MP19259068664-00"].properties
    assert props["maatvoering"] == [
        {"waarde_type": "maximum goothoogte (m)", "waarde": 8.0},
        {"waarde_type": "maximum bouwhoogte (m)", "waarde": 8.0},
        {"waarde_type": "maximum bebouwingspercentage (%)", "waarde": 15.0},
    ]
    assert props["maximum_goothoogte_m"] == 8.0
    assert props["maximum_bouwhoogte_m"] == 8.0
    assert props["maximum_bebouwingspercentage"] == 15.0
    assert props["maximum_bouwlagen"] is None
    assert props["naam"] == (
        "maximum goothoogte (m), maximum bouwhoogte (m), maximum bebouwingspercentage (%)"
    )
    assert props["attributes"]["symboolInfo"][0]["symboolCode"] == "s124"
    assert props["aanduiding"] == ["NL.IMRO.0664.BP3260883833-00"]
    # line 753, NL.IMRO.0664.MP9259147840-00: goothoogte 4, bouwhoogte 7, aanduiding → the
    # Bouwvlak NL.IMRO.0664.BP20255442525-00 (line 843)
    props = records["NL.IMRO.0664.MP9259147840-00"].properties
    assert (props["maximum_goothoogte_m"], props["maximum_bouwhoogte_m"]) == (4.0, 7.0)
    assert props["aanduiding"] == ["NL.IMRO.0664.BP20255442525-00"]


def test_stationsplein_vertex_and_references(shared_data):
    records = records_by_id(read_imro(imro_path(shared_data, GOES_VG99)))
    # line 7: <imro:Bouwvlak gml:id="NL.IMRO.0664.BP20255442525-00">, first posList (line 27):
    # "51657.384 390820.769 51652.7 390840.2 51651.036 390847.103"; bestemmingsvlak (line 16)
    # xlink:href="#NL.IMRO.0664.EP3255434989-00"
    bouwvlak = records["NL.IMRO.0664.BP20255442525-00"]
    coords = list(bouwvlak.geometry.exterior.coords)
    assert coords[:3] == [(51657.384, 390820.769), (51652.7, 390840.2), (51651.036, 390847.103)]
    assert coords[-1] == coords[0]
    assert bouwvlak.properties["bestemmingsvlak"] == ["NL.IMRO.0664.EP3255434989-00"]
    assert bouwvlak.properties["object_type"] == "Bouwvlak"
    assert bouwvlak.properties["type_planobject"] == "bouwvlak"


def test_stationsplein_plan_area(shared_data):
    batch = read_imro(imro_path(shared_data, GOES_VG99))
    plan = records_by_id(batch)["NL.IMRO.0664.BPBS02-VG99"]
    props = plan.properties
    # the plan area is a gml:MultiSurface with two surfaceMembers
    assert plan.geometry.geom_type == "MultiPolygon" and len(plan.geometry.geoms) == 2
    assert props["object_type"] == "Bestemmingsplangebied"
    assert props["naam"] == "Stationsomgeving Zuid-Oost"
    assert props["type_plan"] == "bestemmingsplan"
    assert (props["planstatus"], props["planstatus_datum"]) == ("vastgesteld", "2014-02-13")
    assert props["naam_overheid"] == "Goes" and props["overheidscode"] == "0664"
    assert props["beleidsmatig_verantwoordelijke_overheid"] == "gemeentelijke overheid"
    assert props["attributes"]["besluitnummer"] == "14INT00014"
    assert props["attributes"]["verwijzingNorm"] == ["IMRO2012", "PRBP2012", "PRABPK2012"]
    assert plan.valid_from.date() == date(2014, 2, 13)
    assert batch.metadata["imro_metadata"]["codeReferentiesysteem"] == "28992"


def test_gieterveen_imro2008(shared_data):
    batch = read_imro(imro_path(shared_data, GIETERVEEN))
    records = records_by_id(batch)
    assert batch.metadata["imro_version"] == "IMRO2008"
    # line 7419: Bestemmingsplangebied, identificatie as plain text (IMRO2008), planstatusInfo/
    # PlanstatusEnDatum_BP: planstatus "concept", datum 2009-07-07; ondergrond as text
    plan = records["NL.IMRO.1680.1800030105-0000"].properties
    assert plan["naam"] == "Gieterveen"
    assert (plan["planstatus"], plan["planstatus_datum"]) == ("concept", "2009-07-07")
    assert plan["naam_overheid"] == "Gemeente Aa en Hunze"
    assert plan["overheidscode"] == "1680"
    assert plan["attributes"]["locatieNaam"] == "Dorp"
    assert plan["attributes"]["ondergrond"].startswith("o_NL.IMRO.1680.1800030105-0000")
    # line 6315, <imro:Maatvoering gml:id="NL.IMRO.284">: waarde 4,
    # waardeType "maximaal aantal wooneenheden" (IMRO2008 wording), aanduiding NL.IMRO.25
    mv = records["NL.IMRO.284"].properties
    assert mv["maatvoering"] == [{"waarde_type": "maximaal aantal wooneenheden", "waarde": 4.0}]
    assert mv["maximum_wooneenheden"] == 4.0
    assert mv["aanduiding"] == ["NL.IMRO.25"]
    # grep -c '<imro:waardeType>maximaal aantal wooneenheden' → 5
    assert sum(r.properties["maximum_wooneenheden"] is not None for r in batch.features) == 5
    # line 6340: its LinearRing posList starts "252336.9 561102.74 252310.686 561087.049"
    coords = list(records["NL.IMRO.284"].geometry.exterior.coords)
    assert coords[:2] == [(252336.9, 561102.74), (252310.686, 561087.049)]
    # 'other: vrije tekst' values (maximum oppervlakte (m2)) stay in the list only
    free = records["NL.IMRO.281"].properties
    assert free["maatvoering"] == [{"waarde_type": "other: vrije tekst", "waarde": 370.0}]
    assert all(free[c] is None for c in ("maximum_bouwhoogte_m", "maximum_wooneenheden"))


def test_doornboom_figuur_and_wooneenheden(shared_data):
    records = records_by_id(read_imro(imro_path(shared_data, DOORNBOOM)))
    # line 426, NL.IMRO.63e98a6916aa41da9910e066923d988a: waarde 7 "maximum aantal wooneenheden";
    # its geometry is a Ring with a gml:Arc
    mv = records["NL.IMRO.63e98a6916aa41da9910e066923d988a"].properties
    assert mv["maximum_wooneenheden"] == 7.0
    figuren = [r for r in records.values() if r.properties["object_type"] == "Figuur"]
    assert len(figuren) == 7
    assert {f.geometry.geom_type for f in figuren} == {"LineString"}
    assert {f.properties["naam"] for f in figuren} == {"gevellijn"}


# ---- arcs in the real data ------------------------------------------------------------------


def _xy(text: str) -> np.ndarray:
    return np.array(text.split(), dtype=float).reshape(-1, 2)


def _circle(p0, p1, p2):
    """Centre and radius by solving |c − p0|² = |c − p1|² = |c − p2|² (test-side, numpy)."""
    a = 2 * np.array([p1 - p0, p2 - p0])
    b = np.array([p1 @ p1 - p0 @ p0, p2 @ p2 - p0 @ p0])
    c = np.linalg.solve(a, b)
    return c, float(np.hypot(*(p0 - c)))


def _arc_sweep(p0, p1, p2, c) -> float:
    """Signed sweep (ccw positive) of the arc p0 → p1 → p2 about c."""
    a0, a1, a2 = (math.atan2(p[1] - c[1], p[0] - c[0]) for p in (p0, p1, p2))
    ccw = (a2 - a0) % math.tau
    # counter-clockwise iff the mid point lies on the ccw way from start to end
    return ccw if (a1 - a0) % math.tau < ccw else ccw - math.tau


def exact_ring_area(ring: etree._Element, origin: np.ndarray) -> tuple[float, float]:
    """Signed area of a GML ring with true circular arcs, and the total arc length.

    Green's theorem: a straight piece a → b adds ½·(a × b); an arc a → b of signed sweep φ on
    radius r adds ½·(a × b) + ½·r²·(φ − sin φ) (chord plus the circular segment).
    """
    area = arc_length = 0.0
    pieces = [e for e in ring.iter() if etree.QName(e).localname in ("posList",)]
    for pos_list in pieces:
        kind = etree.QName(pos_list.getparent()).localname
        pts = _xy(pos_list.text) - origin
        if kind == "Arc":
            c, r = _circle(*pts)
            phi = _arc_sweep(*pts, c)
            pts = pts[[0, 2]]  # the chord, plus the circular segment
            area += 0.5 * r * r * (phi - math.sin(phi))
            arc_length += abs(phi) * r
        area += 0.5 * float(np.sum(pts[:-1, 0] * pts[1:, 1] - pts[1:, 0] * pts[:-1, 1]))
    return area, arc_length


def exact_polygon_area(geometrie: etree._Element) -> tuple[float, float]:
    """Area of an IMRO surface geometry with exact arcs; and the total arc length."""
    first = next(e for e in geometrie.iter() if etree.QName(e).localname == "posList")
    origin = _xy(first.text)[0]
    total = arcs = 0.0
    for boundary in geometrie.iter():
        name = etree.QName(boundary).localname if isinstance(boundary.tag, str) else ""
        if name in ("exterior", "interior"):
            area, length = exact_ring_area(boundary, origin)
            total += abs(area) if name == "exterior" else -abs(area)
            arcs += length
    return total, arcs


@pytest.mark.parametrize("name", ALL_FILES)
def test_real_polygon_areas_match_exact_arc_areas(shared_data, name):
    """Every surface's area is within tolerance × arc length of its exact area."""
    path = imro_path(shared_data, name)
    tolerance = 0.01
    records = records_by_id(read_imro(path, arc_tolerance_m=tolerance))
    root = etree.parse(str(path)).getroot()
    checked = with_arcs = 0
    for member in root:
        if not isinstance(member.tag, str) or etree.QName(member).localname != "featureMember":
            continue
        obj = member[0] if isinstance(member[0].tag, str) else member[1]
        geometrie = obj.find("{*}geometrie")
        if geometrie is None or etree.QName(geometrie[0]).localname == "Curve":
            continue
        gml_id = obj.get(f"{{{GML32}}}id") or obj.get("{http://www.opengis.net/gml}id")
        exact, arc_length = exact_polygon_area(geometrie)
        actual = records[gml_id].geometry.area
        assert abs(actual - exact) <= tolerance * arc_length + 1e-6, gml_id
        checked += 1
        with_arcs += arc_length > 0
    assert checked == sum(EXPECTED_COUNTS[name].values()) - EXPECTED_COUNTS[name].get("Figuur", 0)
    assert with_arcs > 0  # every one of the four files has gml:Arc segments


def test_real_arc_in_goes_on99(shared_data):
    """A real gml:Arc: NL.IMRO.0664.BPBS03-ON99.gml line 3921, Maatvoering
    NL.IMRO.0664.MP7317225873-00 (maximum aantal bouwlagen 8), whose ring is one Arc
    "50959.65 390906.965 50957.145 390926.599 50950.878 390945.37" (line 3960) and straight
    segments back to its start."""
    arc = _xy("50959.65 390906.965 50957.145 390926.599 50950.878 390945.37")
    straight = _xy(
        "50950.878 390945.37 50913.919 390946.133 50914.224 390882.057 50943.453 390882.057 "
        "50960.276 390882.057 50959.65 390906.965"
    )
    c, r = _circle(*arc)
    for tolerance in (0.01, 0.001):
        batch = read_imro(imro_path(shared_data, GOES_ON99), arc_tolerance_m=tolerance)
        record = records_by_id(batch)["NL.IMRO.0664.MP7317225873-00"]
        assert record.properties["maximum_bouwlagen"] == 8.0
        ring = np.array(record.geometry.exterior.coords)
        # the ring starts at the arc start; the arc part runs up to the arc end point
        assert tuple(ring[0]) == tuple(arc[0])
        end = next(i for i, p in enumerate(ring) if tuple(p) == tuple(arc[2]))
        arc_part = ring[: end + 1]
        assert len(arc_part) > 3
        assert np.allclose(np.hypot(*(arc_part - c).T), r, atol=1e-6)  # on the true circle
        assert max_sagitta(arc_part, c, r) <= tolerance + 1e-9  # chords within tolerance
        # the rest are the straight segments' vertices, exactly
        assert ring[end:].tolist() == straight.tolist()
        # area: polygon of the control points plus the circular segment of the arc
        phi = _arc_sweep(*arc, c)
        shoelace = shapely.Polygon(np.vstack([arc[:1], straight])).area
        segment = 0.5 * r * r * (abs(phi) - math.sin(abs(phi)))
        exact = shoelace + segment  # the arc bulges outwards here
        assert exact - tolerance * r * abs(phi) <= record.geometry.area < exact
        assert record.geometry.area == pytest.approx(exact, abs=2 * tolerance * r * abs(phi))


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

IMRO2012 = "http://www.geonovum.nl/imro/2012/1.1"
IMRO2008 = "http://www.geonovum.nl/imro/2008/1"
SQUARE = "155000 463000 155010 463000 155010 463010 155000 463010 155000 463000"


def surface(ring_xml: str, srs: str = SRS) -> str:
    return (
        f"<gml:Surface {srs}><gml:patches><gml:PolygonPatch><gml:exterior>{ring_xml}"
        "</gml:exterior></gml:PolygonPatch></gml:patches></gml:Surface>"
    )


def linear_ring(pos_list: str = SQUARE) -> str:
    return f"<gml:LinearRing><gml:posList>{pos_list}</gml:posList></gml:LinearRing>"


def plan_xml(geometry: str | None = None, extra: str = "", ns: str = IMRO2012) -> str:
    """A minimal IMRO 2012 plan: a plan area and one Bouwvlak with ``geometry``."""
    geometry = geometry or surface(linear_ring())
    return (
        f'<imro:FeatureCollectionIMRO xmlns:imro="{ns}" xmlns:gml="{GML32}" '
        'xmlns:xlink="http://www.w3.org/1999/xlink">\n'
        '<imro:featureMember><imro:Bestemmingsplangebied gml:id="NL.IMRO.9999.TEST-ON01">\n'
        "<imro:identificatie><imro:NEN3610ID><imro:namespace>NL.IMRO</imro:namespace>"
        "<imro:lokaalID>9999.TEST</imro:lokaalID><imro:versie>ON01</imro:versie>"
        "</imro:NEN3610ID></imro:identificatie>\n"
        "<imro:typePlan>bestemmingsplan</imro:typePlan><imro:naam>Test</imro:naam>\n"
        "<imro:planstatusInfo><imro:PlanstatusEnDatum><imro:planstatus>ontwerp</imro:planstatus>"
        "<imro:datum>2020-01-02</imro:datum></imro:PlanstatusEnDatum></imro:planstatusInfo>\n"
        f"<imro:geometrie>{surface(linear_ring())}</imro:geometrie>\n"
        "</imro:Bestemmingsplangebied></imro:featureMember>\n"
        '<imro:featureMember><imro:Bouwvlak gml:id="NL.IMRO.9999.BV1">\n'
        "<imro:identificatie><imro:NEN3610ID><imro:namespace>NL.IMRO</imro:namespace>"
        "<imro:lokaalID>9999.BV1</imro:lokaalID></imro:NEN3610ID></imro:identificatie>\n"
        f"<imro:typePlanobject>bouwvlak</imro:typePlanobject>{extra}\n"
        f"<imro:geometrie>\n{geometry}\n</imro:geometrie>\n"
        "</imro:Bouwvlak></imro:featureMember>\n"
        "</imro:FeatureCollectionIMRO>\n"
    )


def write(tmp_path: Path, text: str, name: str = "plan.gml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_plan_reads(tmp_path):
    extra = (
        "<imro:maatvoeringInfo><imro:WaardeEnType><imro:waarde>7,5</imro:waarde>"
        "<imro:waardeType>maximum bouwhoogte (m)</imro:waardeType></imro:WaardeEnType>"
        "</imro:maatvoeringInfo><imro:omvang><imro:WaardeEnType><imro:waarde>zie regels"
        "</imro:waarde><imro:waardeType>maximum goothoogte (m)</imro:waardeType>"
        "</imro:WaardeEnType></imro:omvang>"
    )
    batch = read_imro(write(tmp_path, plan_xml(extra=extra)))
    assert batch.source == "imro:NL.IMRO.9999.TEST-ON01"
    bv = records_by_id(batch)["NL.IMRO.9999.BV1"]
    assert bv.properties["maatvoering"] == [
        {"waarde_type": "maximum bouwhoogte (m)", "waarde": 7.5},
        {"waarde_type": "maximum goothoogte (m)", "waarde": "zie regels"},
    ]
    assert bv.properties["maximum_bouwhoogte_m"] == 7.5
    assert bv.properties["maximum_goothoogte_m"] is None
    assert bv.properties["planstatus"] == "ontwerp"
    assert bv.geometry.area == pytest.approx(100.0)


def test_parse_waarde():
    assert parse_waarde("11") == 11.0
    assert parse_waarde(" 7,5 ") == 7.5
    assert parse_waarde("-0.25") == -0.25
    assert parse_waarde("3 à 4") == "3 à 4"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.gml"
    with pytest.raises(InputError, match="file not found") as exc:
        read_imro(path)
    assert exc.value.path == str(path)


def test_truncated_xml_names_line(tmp_path):
    text = plan_xml()
    lines = text.splitlines(keepends=True)
    path = write(tmp_path, "".join(lines[:9]))  # cut in the middle of the document
    with pytest.raises(InputError, match=r"not well-formed XML \(line \d+") as exc:
        read_imro(path)
    assert str(path) in str(exc.value)
    line = int(re.search(r"\(line (\d+)", str(exc.value)).group(1))
    assert line in (9, 10)  # the end of the truncated data (9 complete lines)
    assert "Premature end of data" in str(exc.value)


def test_invalid_xml_names_line(tmp_path):
    text = plan_xml().replace("<imro:naam>Test</imro:naam>", "<imro:naam>T&amp</imro:naam>")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "T&amp<" in t)
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=rf"not well-formed XML \(line {line}, column \d+\)"):
        read_imro(path)


def test_not_imro(tmp_path):
    path = write(tmp_path, plan_xml(ns="http://www.geonovum.nl/imgeo/2.1"))
    with pytest.raises(InputError, match="not an IMRO document") as exc:
        read_imro(path)
    assert str(path) in str(exc.value)


def test_imro2008_namespace_accepted(tmp_path):
    batch = read_imro(write(tmp_path, plan_xml(ns=IMRO2008)))
    assert batch.metadata["imro_version"] == "IMRO2008"


def test_missing_srs_name(tmp_path):
    path = write(tmp_path, plan_xml(surface(linear_ring(), srs="")))
    with pytest.raises(InputError, match="has no srsName") as exc:
        read_imro(path)
    assert exc.value.object_id == "NL.IMRO.9999.BV1"
    assert str(path) in str(exc.value)


def test_unknown_and_foreign_srs_name(tmp_path):
    unknown = write(tmp_path, plan_xml(surface(linear_ring(), srs='srsName="RD"')), "a.gml")
    with pytest.raises(InputError, match="unknown srsName 'RD'"):
        read_imro(unknown)
    wgs = write(
        tmp_path,
        plan_xml(surface(linear_ring(), srs='srsName="urn:ogc:def:crs:EPSG::4326"')),
        "b.gml",
    )
    with pytest.raises(InputError, match=r"EPSG:4326, expected RD New"):
        read_imro(wgs)


def test_arc_with_wrong_point_count(tmp_path):
    ring = (
        "<gml:Ring><gml:curveMember><gml:Curve><gml:segments>"
        "<gml:Arc><gml:posList>155000 463000 155005 462995 155008 462998 155010 463000"
        "</gml:posList></gml:Arc>"
        "<gml:LineStringSegment><gml:posList>155010 463000 155000 463000</gml:posList>"
        "</gml:LineStringSegment></gml:segments></gml:Curve></gml:curveMember></gml:Ring>"
    )
    path = write(tmp_path, plan_xml(surface(ring)))
    with pytest.raises(InputError, match=r"line \d+: gml:Arc has 4 points") as exc:
        read_imro(path)
    assert exc.value.object_id == "NL.IMRO.9999.BV1"


def test_unclosed_ring(tmp_path):
    open_ring = SQUARE.rsplit(" ", 2)[0] + " 155000 463001"
    path = write(tmp_path, plan_xml(surface(linear_ring(open_ring))))
    with pytest.raises(InputError, match="not closed") as exc:
        read_imro(path)
    assert exc.value.object_id == "NL.IMRO.9999.BV1"
    assert str(path) in str(exc.value)


def test_invalid_polygon(tmp_path):
    bowtie = "155000 463000 155010 463010 155010 463000 155000 463010 155000 463000"
    path = write(tmp_path, plan_xml(surface(linear_ring(bowtie))))
    with pytest.raises(InputError, match="Self-intersection") as exc:
        read_imro(path)
    assert exc.value.object_id == "NL.IMRO.9999.BV1"


def test_coordinates_outside_rd(tmp_path):
    lonlat = "5.1 52.1 5.2 52.1 5.2 52.2 5.1 52.1"
    path = write(tmp_path, plan_xml(surface(linear_ring(lonlat))))
    with pytest.raises(InputError, match="outside the Netherlands"):
        read_imro(path)


def test_no_plan_area_and_duplicates(tmp_path):
    text = plan_xml()
    no_plan = text.replace("<imro:typePlan>bestemmingsplan</imro:typePlan>", "")
    with pytest.raises(InputError, match="no plan area"):
        read_imro(write(tmp_path, no_plan, "a.gml"))
    duplicate = text.replace("9999.BV1", "9999.TEST-ON01").replace(
        "<imro:lokaalID>9999.TEST-ON01</imro:lokaalID>",
        "<imro:lokaalID>9999.TEST</imro:lokaalID><imro:versie>ON01</imro:versie>",
    )
    with pytest.raises(InputError, match="duplicate identificatie"):
        read_imro(write(tmp_path, duplicate, "b.gml"))


def test_bad_tolerance(tmp_path):
    with pytest.raises(InputError, match="tolerance"):
        read_imro(write(tmp_path, plan_xml()), arc_tolerance_m=0)
