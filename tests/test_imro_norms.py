"""Zoning plans (IMRO) as norms: the four real plans in ``shared/data/imro``, imported into a
twin and converted, checked the way a planner would.

Expected numbers are counted in the GML files by hand (grep on ``imro:waardeType`` /
``imro:waarde`` pairs and on the object elements), cited next to each number:

- ``stationspleinzuidoost.gml`` (NL.IMRO.0664.BPBS02-VG99, Goes, vastgesteld 2014-02-13):
  11 Enkelbestemming, 25 Bouwvlak in 9 bestemmingsvlakken, 11 Functieaanduiding,
  4 Dubbelbestemming, 3 Bouwaanduiding; maatvoering: 26 × maximum bouwhoogte (m)
  (3: 1, 6: 3, 7: 2, 8: 3, 9: 1, 10: 2, 11: 14), 8 × maximum goothoogte (m), 5 × maximum
  bebouwingspercentage (%).
- ``NL.IMRO.0664.BPBS03-ON99.gml`` (Goes, ontwerp 2015-02-25): 13 Enkelbestemming, 9 Bouwvlak
  in 7 bestemmingsvlakken, 9 Functieaanduiding, 1 Dubbelbestemming; 11 × maximum aantal
  bouwlagen (2: 1, 5: 7, 6: 1, 8: 2), 3 × maximum bebouwingspercentage (%) (50, 60, 60).
- ``NL.IMRO.0798.BPDoornboom-ON01.gml`` (naamOverheid "Gemeente Hilvarenbeek", ontwerp
  2015-06-10): 4 Enkelbestemming, no Bouwvlak, 4 Bouwaanduiding, 7 Figuur (gevellijn);
  7 × maximum bouwhoogte (m) 9, 7 × maximum goothoogte (m) 6, 5 × maximum aantal
  wooneenheden (3, 3, 4, 7, 7).
- ``NL.IMRO.1680.1800030105-0000.gml`` (Gieterveen, Aa en Hunze, IMRO2008, concept
  2009-07-07): 84 Enkelbestemming, 88 Bouwvlak in 54 bestemmingsvlakken, 18
  Functieaanduiding, 6 Dubbelbestemming, 7 Gebiedsaanduiding, 6 Bouwaanduiding;
  5 × maximaal aantal wooneenheden (3, 3, 4, 4, 6) and 3 × "other: vrije tekst" (maximum
  oppervlakte (m2) 370, 120, 360).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta

import pytest
import shapely

from tweeling.core.rules import judge, norm_from_properties, norm_properties
from tweeling.services.importing import import_source
from tweeling.services.workspace import init_workspace
from tweeling.sources.imro import LAYER
from tweeling.sources.imro_norms import (
    ASSESSED,
    SLIVER_WIDTH_M,
    building_plane_value,
    imro_norms,
    plan_status_note,
)

VG99 = "NL.IMRO.0664.BPBS02-VG99"  # stationspleinzuidoost.gml
BS03 = "NL.IMRO.0664.BPBS03-ON99"  # NL.IMRO.0664.BPBS03-ON99.gml
DOORNBOOM = "NL.IMRO.0798.BPDoornboom-ON01"  # NL.IMRO.0798.BPDoornboom-ON01.gml
GIETERVEEN = "NL.IMRO.1680.1800030105-0000"  # NL.IMRO.1680.1800030105-0000.gml
FILES = [
    "stationspleinzuidoost.gml",
    "NL.IMRO.0664.BPBS03-ON99.gml",
    "NL.IMRO.0798.BPDoornboom-ON01.gml",
    "NL.IMRO.1680.1800030105-0000.gml",
]


@pytest.fixture(scope="module")
def objects(shared_data, tmp_path_factory):
    """All four plans imported into a fresh twin, read back from the store."""
    ws = init_workspace(tmp_path_factory.mktemp("imro-norms") / "t")
    try:
        import_source(ws, "imro", [shared_data / "imro" / f for f in FILES])
        return [(f.id, f.geometry, f.properties) for f in ws.store.features(LAYER)]
    finally:
        ws.close()


@pytest.fixture(scope="module")
def converted(objects):
    return imro_norms(objects)


def of(result, plan_id, subject):
    return [n for n in result.norms if n.source == plan_id and n.subject == subject]


def values(norms):
    return Counter(n.value.value for n in norms)


def at(result, footprint, subject, plan_id=None):
    """The norms of a subject whose location shares area with a footprint."""
    return [
        n
        for n in result.norms
        if n.subject == subject
        and (plan_id is None or n.source == plan_id)
        and shapely.relate_pattern(n.location, footprint, "2********")
    ]


def square_inside(area, half_m=3.0):
    """A small building footprint around the area's representative point, inside it."""
    p = area.point_on_surface()
    for h in (half_m, half_m / 2, half_m / 4, 0.25):
        box = shapely.box(p.x - h, p.y - h, p.x + h, p.y + h)
        if area.contains(box):
            return box
    raise AssertionError("no footprint fits inside the area")


# --------------------------------------------------------------------------------------------
# Per plan: the numbers a planner would check
# --------------------------------------------------------------------------------------------


def test_stationsomgeving_zuid_oost_heights_and_coverage(converted):
    """stationspleinzuidoost.gml: 26 maximum bouwhoogte values → 26 building_height_m norms."""
    heights = of(converted, VG99, "building_height_m")
    assert len(heights) == 26
    assert values(heights) == {3: 1, 6: 3, 7: 2, 8: 3, 9: 1, 10: 2, 11: 14}
    assert all(n.comparison == "maximum" and n.value.unit == "m" for n in heights)
    gutters = of(converted, VG99, "gutter_height_m")
    assert len(gutters) == 8  # 8 × maximum goothoogte (m)
    assert values(gutters) == {3: 1, 4: 4, 6: 2, 8: 1}
    coverage = of(converted, VG99, "coverage_pct")
    assert values(coverage) == {80: 2, 90: 1, 100: 1, 15: 1}  # 5 × bebouwingspercentage
    assert all(n.value.unit == "%" for n in coverage)
    assert len(of(converted, VG99, "within_building_plane")) == 9  # 25 bouwvlakken, 9 vlakken
    double = of(converted, VG99, "double_zoning")
    assert Counter((n.location_name, n.reference.article) for n in double) == {
        ("Waarde - Archeologie - 2", "artikel 11"): 2,
        ("Leiding - Riool", "artikel 10"): 2,
    }
    assert len(of(converted, VG99, "building_designation")) == 3  # 3 Bouwaanduiding
    plan = converted.plans[VG99]
    assert (plan.authority, plan.planstatus, plan.planstatus_datum) == (
        "Goes",
        "vastgesteld",
        date(2014, 2, 13),
    )
    assert all("not yet irrevocable" in n.status_note for n in converted.by_plan(VG99))
    assert not any(n.extra["draft"] for n in converted.by_plan(VG99))


def test_stationsomgeving_zuid_west_storeys_and_coverage(converted):
    """NL.IMRO.0664.BPBS03-ON99.gml: bouwlagen and bebouwingspercentage; a draft plan."""
    storeys = of(converted, BS03, "storeys")
    assert values(storeys) == {2: 1, 5: 7, 6: 1, 8: 2}  # 11 × maximum aantal bouwlagen
    assert all(n.value.unit == "1" for n in storeys)
    assert values(of(converted, BS03, "coverage_pct")) == {50: 1, 60: 2}
    assert len(of(converted, BS03, "within_building_plane")) == 7  # 9 bouwvlakken, 7 vlakken
    assert len(of(converted, BS03, "double_zoning")) == 1
    assert of(converted, BS03, "building_height_m") == []  # no bouwhoogte in this plan
    assert all(n.extra["draft"] for n in converted.by_plan(BS03))
    assert all(n.status_note.startswith("Draft plan") for n in converted.by_plan(BS03))

    # Two bouwlagen on the Maatschappelijk vlak (artikel 5): three storeys exceed.
    (two,) = [n for n in storeys if n.value.value == 2]
    assert two.reference.article == "artikel 5"
    assert judge(two, 3).verdict == "exceeds"
    assert judge(two, 2).verdict == "complies"


def test_doornboom_heights_and_dwellings(converted):
    """NL.IMRO.0798.BPDoornboom-ON01.gml: bouwhoogte 9, goothoogte 6, wooneenheden."""
    assert values(of(converted, DOORNBOOM, "building_height_m")) == {9: 7}
    assert values(of(converted, DOORNBOOM, "gutter_height_m")) == {6: 7}
    dwellings = of(converted, DOORNBOOM, "dwellings")
    assert values(dwellings) == {3: 2, 4: 1, 7: 2}  # 5 × maximum aantal wooneenheden
    assert of(converted, DOORNBOOM, "within_building_plane") == []  # no bouwvlak in the plan
    assert len(of(converted, DOORNBOOM, "building_designation")) == 4
    # The 7 gevellijnen (Figuur) are not converted, and say so.
    figures = [s for s in converted.skipped if s.plan_id == DOORNBOOM]
    assert [s.object_type for s in figures] == ["Figuur"] * 7
    assert all("gevellijn" in s.reason for s in figures)
    # Eight dwellings where the plan map allows seven exceed; the article is Wonen (4).
    seven = next(n for n in dwellings if n.value.value == 7)
    assert seven.reference.article == "artikel 4"
    assert judge(seven, 8).verdict == "exceeds"
    # As written in the file (naamOverheid), whatever the municipality code says.
    assert converted.plans[DOORNBOOM].authority == "Gemeente Hilvarenbeek"


def test_gieterveen_imro2008_dwellings(converted):
    """NL.IMRO.1680.1800030105-0000.gml (IMRO2008): 'maximaal aantal wooneenheden'."""
    dwellings = of(converted, GIETERVEEN, "dwellings")
    assert values(dwellings) == {3: 2, 4: 2, 6: 1}  # 5 × maximaal aantal wooneenheden
    assert len(of(converted, GIETERVEEN, "within_building_plane")) == 54  # 88 bouwvlakken
    assert len(of(converted, GIETERVEEN, "double_zoning")) == 6
    assert len(of(converted, GIETERVEEN, "area_designation")) == 7
    assert len(of(converted, GIETERVEEN, "building_designation")) == 6
    # The three "other: vrije tekst" values (maximum oppervlakte) are reported, not dropped.
    skipped = [s for s in converted.skipped if s.plan_id == GIETERVEEN]
    assert len(skipped) == 3
    assert all("maximum oppervlakte (m2)" in s.reason for s in skipped)
    # NL.IMRO.299 refers to bestemmingsvlak NL.IMRO.134 but lies in NL.IMRO.204: remarked.
    (remark,) = converted.remarks
    assert remark.object_id == f"{GIETERVEEN}/NL.IMRO.299"
    assert "'NL.IMRO.204'" in remark.reason
    plan = converted.plans[GIETERVEEN]
    assert (plan.authority, plan.planstatus) == ("Gemeente Aa en Hunze", "concept")
    six = next(n for n in dwellings if n.value.value == 6)
    assert judge(six, 6).verdict == "complies"
    assert judge(six, 7).verdict == "exceeds"


# --------------------------------------------------------------------------------------------
# The planner's checks on a placed building
# --------------------------------------------------------------------------------------------


def test_building_of_14_m_in_a_bouwvlak_of_10_m_exceeds(converted):
    """The issue's example: stationspleinzuidoost.gml has two maatvoeringen of maximum
    bouwhoogte 10 m (on bouwvlakken of the Bedrijf bestemming, artikel 3)."""
    ten = sorted(
        (n for n in of(converted, VG99, "building_height_m") if n.value.value == 10),
        key=lambda n: n.id,
    )
    assert len(ten) == 2
    footprint = square_inside(ten[0].location)
    (norm,) = at(converted, footprint, "building_height_m")
    assert norm is ten[0]
    assert norm.reference.article == "artikel 3"
    assert norm.reference.document == f"{VG99} (bestemmingsplan Stationsomgeving Zuid-Oost)"
    assert norm.reference.url.startswith(f"r_{VG99}.html#")
    assert judge(norm, 14.0).verdict == "exceeds"
    assert judge(norm, 10.0).verdict == "complies"
    # Standing in a bouwvlak: within_building_plane complies there.
    (plane,) = at(converted, footprint, "within_building_plane")
    assert judge(plane, building_plane_value(plane, footprint)).verdict == "complies"
    # The function there: Bedrijf, with the aanduiding on that bouwvlak.
    (function,) = at(converted, footprint, "function")
    assert "bedrijf" in function.value.values
    assert judge(function, "bedrijf").verdict == "complies"


def test_a_function_not_allowed_needs_a_permit(converted):
    """Wonen on a Kantoor vlak of stationspleinzuidoost.gml (artikel 6) needs a permit;
    kantoor complies."""
    kantoor = [
        n
        for n in of(converted, VG99, "function")
        if n.location_name == "Kantoor" and not n.extra["functieaanduiding"]
    ]
    assert len(kantoor) == 3  # 3 Enkelbestemming Kantoor, no aanduiding on them
    norm = kantoor[0]
    assert norm.value.values == ("kantoor",)
    assert norm.reference.article == "artikel 6"
    assert judge(norm, "wonen").verdict == "needs_permit"
    assert judge(norm, "kantoor").verdict == "complies"


def test_a_functieaanduiding_adds_a_use_only_where_it_lies(converted):
    """NL.IMRO.0664.BPBS03-ON99.gml: on Kantoor vlak EP7312914753 the aanduidingen
    detailhandel and horeca (817.3 m², the same place) allow those uses there only."""
    pieces = [
        n
        for n in of(converted, BS03, "function")
        if n.extra["imro_object"] == "NL.IMRO.0664.EP7312914753-00"
    ]
    with_fa = [n for n in pieces if n.extra["functieaanduiding"]]
    without = [n for n in pieces if not n.extra["functieaanduiding"]]
    assert len(with_fa) == 1 and len(without) == 1
    assert with_fa[0].value.values == ("kantoor", "detailhandel", "horeca")
    assert with_fa[0].location.area == pytest.approx(817.3, abs=0.1)
    assert judge(with_fa[0], "horeca").verdict == "complies"
    assert judge(without[0], "horeca").verdict == "needs_permit"
    # The pieces tile the bestemmingsvlak.
    assert without[0].location.intersection(with_fa[0].location).area < 0.01


def test_a_building_outside_the_bouwvlak_is_not_allowed(converted):
    """The Bedrijf vlak of stationspleinzuidoost.gml has 5 bouwvlakken; a building on the
    rest of the vlak does not stand in one."""
    (norm,) = [
        n
        for n in of(converted, VG99, "within_building_plane")
        if n.extra["imro_object"] == "NL.IMRO.0664.EP2259065087-00"
    ]
    assert len(norm.extra["building_planes"]) == 5
    planes = shapely.from_wkt(norm.extra["building_planes_wkt"])
    outside = square_inside(norm.location.difference(planes), half_m=2.0)
    assert building_plane_value(norm, outside) == "false"
    verdict = judge(norm, building_plane_value(norm, outside)).verdict
    assert verdict == "exceeds"
    inside = square_inside(planes)
    assert judge(norm, building_plane_value(norm, inside)).verdict == "complies"


def test_a_dubbelbestemming_asks_for_an_assessment(converted):
    (archeology, *_) = [
        n for n in of(converted, BS03, "double_zoning") if "Archeologie" in n.location_name
    ]
    assert archeology.reference.article == "artikel 7"
    assert judge(archeology, archeology.extra["value_if_unknown"]).verdict == "needs_permit"
    assert judge(archeology, ASSESSED).verdict == "complies"


# --------------------------------------------------------------------------------------------
# Validity, references, completeness
# --------------------------------------------------------------------------------------------


def test_validity_starts_at_the_planstatus_date(converted):
    for plan_id, start in [
        (VG99, date(2014, 2, 13)),  # stationspleinzuidoost.gml planstatus datum
        (BS03, date(2015, 2, 25)),
        (DOORNBOOM, date(2015, 6, 10)),
        (GIETERVEEN, date(2009, 7, 7)),
    ]:
        norms = converted.by_plan(plan_id)
        assert norms and all(n.valid_from == start and n.valid_until is None for n in norms)
        assert not any(n.in_force(start - timedelta(days=1)) for n in norms)
        assert all(n.in_force(start) for n in norms)


def test_every_norm_has_reference_authority_and_status(converted):
    assert len(converted.norms) == len({n.id for n in converted.norms})  # unique ids
    for n in converted.norms:
        assert n.kind == "omgevingsnorm" and n.activity == "bouwen"
        assert n.reference.document.startswith(n.source)
        assert n.reference.url, n.id
        assert n.authority, n.id
        assert "omgevingsplan" in n.status_note
        assert n.id.startswith(f"{n.source}/") and n.id.endswith(f"/{n.subject}")
        assert n.location.is_valid and n.location.area > 0
        assert n.location_name
    # Every bestemming, bouwvlak and maatvoering carries an article number.
    for n in converted.norms:
        if n.subject != "building_designation":
            assert n.reference.article.startswith("artikel "), n.id
    # Stored and read back as an object of the norms layer, a norm is the same.
    for n in converted.norms:
        props = norm_properties(n)
        json.dumps(props["extra"])
        assert norm_from_properties(n.id, n.location, props) == n


def test_function_norms_cover_every_bestemmingsvlak_once(objects, converted):
    """Per plan the function norms tile the enkelbestemmingen: 11, 13, 4 and 84 of them."""
    enkel = {i: g for i, g, p in objects if p["object_type"] == "Enkelbestemming"}
    counts = Counter(p["plan_id"] for _, _, p in objects if p["object_type"] == "Enkelbestemming")
    assert counts == {VG99: 11, BS03: 13, DOORNBOOM: 4, GIETERVEEN: 84}
    by_vlak: dict[str, list] = {}
    for n in converted.norms:
        if n.subject == "function":
            by_vlak.setdefault(n.extra["imro_object"], []).append(n.location)
    assert set(by_vlak) == set(enkel)
    for vlak, pieces in by_vlak.items():
        total = sum(p.area for p in pieces)
        assert total == pytest.approx(shapely.union_all(pieces).area, abs=0.01)  # no overlap
        # What the pieces leave of the vlak are slivers (mean width under 0.1 m) at most.
        rest = enkel[vlak].difference(shapely.union_all(pieces))
        for part in shapely.get_parts(rest):
            assert part.area == 0 or 2 * part.area / part.length < SLIVER_WIDTH_M, vlak


def test_every_object_is_converted_or_reported(objects, converted):
    used = set(converted.plans)  # IMRO2012 plan areas carry the plan id
    used |= {f"{p}/{p}" for p in converted.plans}  # IMRO2008: prefixed
    for n in converted.norms:
        used.add(n.extra["imro_object"])
        used.update(n.extra.get("functieaanduiding", []))
        used.update(n.extra.get("building_planes", []))
    skipped = {s.object_id for s in converted.skipped}
    assert {i for i, _, _ in objects} - used - skipped == set()
    per_plan = Counter(n.source for n in converted.norms)
    assert set(per_plan) == {VG99, BS03, DOORNBOOM, GIETERVEEN}


def test_ids_are_stable(objects, converted):
    again = imro_norms(list(reversed(objects)))
    assert [n.id for n in again.norms] == [n.id for n in converted.norms]
    assert again.norms == converted.norms


def test_a_duplicated_object_is_reported(objects):
    plan = [o for o in objects if o[2]["plan_id"] == DOORNBOOM]
    maatvoering = next(o for o in plan if o[2]["object_type"] == "Maatvoering")
    result = imro_norms([*plan, maatvoering])
    assert [s.reason for s in result.skipped if s.object_type != "Figuur"] == [
        "duplicate object id: only its first occurrence is converted"
    ]


# --------------------------------------------------------------------------------------------
# Bad input: reported, never dropped silently
# --------------------------------------------------------------------------------------------


def test_objects_without_geometry_or_plan_area_are_reported(objects):
    plan = [o for o in objects if o[2]["plan_id"] == DOORNBOOM]
    broken = [(i, None if p["object_type"] == "Maatvoering" else g, p) for i, g, p in plan]
    result = imro_norms(broken)
    assert of(result, DOORNBOOM, "dwellings") == []
    reasons = Counter(s.reason for s in result.skipped if s.object_type == "Maatvoering")
    assert reasons == {"no geometry": 12}  # 12 Maatvoering in the Doornboom plan

    without_area = [o for o in plan if o[2]["object_type"] != "Bestemmingsplangebied"]
    result = imro_norms(without_area)
    assert result.norms == []
    assert len(result.skipped) == len(without_area)
    assert all("plan area" in s.reason for s in result.skipped)


def test_status_notes():
    assert plan_status_note("onherroepelijk", date(2020, 1, 1)).startswith("Plan in force")
    assert "not legally in force" in plan_status_note("ontwerp", None)
    assert "unknown" in plan_status_note(None, None)
