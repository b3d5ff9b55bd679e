"""YAML rule sets: every kind of norm, validity periods, the shipped rule sets, bad input,
conflicts, and the ``norms`` layer round trip through a real twin."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyproj
import pytest
import shapely
import yaml

from tweeling.core.errors import InputError
from tweeling.core.rules import NORMS_LAYER, LegalReference, judge, norm_from_properties
from tweeling.services.workspace import init_workspace
from tweeling.sources.interventions import read_interventions
from tweeling.sources.rulesets import (
    EVERYWHERE,
    SUBJECTS,
    find_conflicts,
    read_ruleset,
    read_ruleset_file,
    ruleset_batch,
    stored_norm,
)

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules"
SHIPPED = [
    "national-wind-turbines.yaml",
    "national-road-noise.yaml",
    "national-nitrogen.yaml",
    "delft-illustrative.yaml",
]
ZONE_WKT = "POLYGON ((85000 447500, 85100 447500, 85100 447600, 85000 447600, 85000 447500))"
ZONE = shapely.from_wkt(ZONE_WKT)
REF = {"document": "Test plan", "article": "art. 1", "url": "https://example.org/plan"}


def rule(rid="r1", **kw) -> dict:
    """A valid maximum building height rule, with fields replaced or added by ``kw``."""
    out = {
        "id": rid,
        "kind": "omgevingsnorm",
        "name": f"Rule {rid}",
        "activity": "bouwen",
        "subject": "building_height_m",
        "comparison": "maximum",
        "value": 10,
        "unit": "m",
        "reference": dict(REF),
        "valid_from": date(2020, 1, 1),
        "location": ZONE_WKT,
    }
    out.update(kw)
    return {k: v for k, v in out.items() if v is not DROP}


DROP = object()  # marks a field to leave out of rule()


def write(tmp_path: Path, rules: list, *, name="test.yaml", **top) -> Path:
    doc = {"ruleset": {"name": "Test rules", "authority": "gemeente Test"}, "rules": rules}
    doc.update(top)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------ every kind of norm


def test_every_kind_of_norm_is_read(tmp_path):
    geojson_zone = shapely.geometry.mapping(shapely.box(84900, 447400, 85000, 447500))
    path = write(
        tmp_path,
        [
            rule("height", value=15.5),
            rule(
                "storeys-min",
                kind="omgevingswaarde",
                subject="storeys",
                comparison="minimum",
                value=2,
                unit="1",
                location=geojson_zone,
                location_name="Block B",
            ),
            rule(
                "road-standard",
                activity="weg",
                subject="lden_db",
                comparison="permit_above",
                value=53,
                unit="dB",
                location=DROP,
            ),
            rule(
                "function",
                subject="function",
                comparison="allowed",
                value=DROP,
                unit=DROP,
                values=["wonen", "kantoor"],
            ),
            rule(
                "ir",
                activity="windturbine",
                subject="within_ir_1e-6",
                comparison="allowed",
                value=DROP,
                unit=DROP,
                values=[False],  # an unquoted YAML false is read as the text "false"
                extra={"otherwise": "exceeds"},
                location=DROP,
            ),
        ],
    )
    norms = {n.id: n for n in read_ruleset(path)}
    assert list(norms) == ["height", "storeys-min", "road-standard", "function", "ir"]

    height = norms["height"]
    assert (height.kind, height.activity, height.subject) == (
        "omgevingsnorm",
        "bouwen",
        "building_height_m",
    )
    assert (height.comparison, height.value.value, height.value.unit) == ("maximum", 15.5, "m")
    assert height.reference.document == "Test plan" and height.reference.article == "art. 1"
    assert height.reference.url == "https://example.org/plan"
    assert height.authority == "gemeente Test"  # from the ruleset header
    assert height.location.equals(ZONE) and height.source == "test.yaml"
    assert judge(height, 24.0).verdict == "exceeds"
    assert judge(height, 15.5).verdict == "complies"

    storeys = norms["storeys-min"]
    assert storeys.kind == "omgevingswaarde" and storeys.location_name == "Block B"
    assert storeys.location.equals(shapely.box(84900, 447400, 85000, 447500))
    assert judge(storeys, 1).verdict == "exceeds" and judge(storeys, 3).verdict == "complies"

    road = norms["road-standard"]
    assert road.location is None  # no location: everywhere
    assert judge(road, 58.0).verdict == "needs_permit" and judge(road, 50).verdict == "complies"

    function = norms["function"]
    assert function.value.values == ("wonen", "kantoor") and not function.value.is_quantity
    assert judge(function, "kantoor").verdict == "complies"
    assert judge(function, "industrie").verdict == "needs_permit"

    ir = norms["ir"]
    assert ir.value.values == ("false",) and ir.extra["otherwise"] == "exceeds"
    assert judge(ir, "true").verdict == "exceeds" and judge(ir, "false").verdict == "complies"


def test_locations_in_another_crs_are_transformed_to_rd(tmp_path):
    # RD New (85000, 447500), in the demo area, as WGS 84 longitude/latitude (PROJ inverse)
    lon, lat = pyproj.Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True).transform(
        85000.0, 447500.0
    )
    assert 4.35 < lon < 4.37 and 52.00 < lat < 52.02  # the centre of Delft
    path = write(
        tmp_path, [rule(location={"type": "Point", "coordinates": [lon, lat]})], crs="EPSG:4326"
    )
    (norm,) = read_ruleset(path)
    assert norm.location.distance(shapely.Point(85000, 447500)) < 0.01


def test_defaults_are_merged_into_every_rule(tmp_path):
    path = write(
        tmp_path,
        [
            rule("a", reference={"article": "art. 2"}, location=DROP, extra={"note": "a"}),
            rule("b", subject="gutter_height_m", location=None, kind=DROP, reference=DROP),
        ],
        defaults={
            "kind": "omgevingswaarde",
            "valid_until": date(2040, 1, 1),
            "reference": {"document": "Default plan", "url": "https://example.org/d"},
            "location": "POINT (85050 447550)",
            "location_name": "Default place",
            "status_note": "Shared note",
            "extra": {"shared": 1},
        },
    )
    a, b = read_ruleset(path)
    assert a.kind == "omgevingsnorm" and b.kind == "omgevingswaarde"  # the rule's own wins
    assert a.reference == LegalReference("Default plan", "art. 2", "https://example.org/d")
    assert b.reference.document == "Default plan" and b.reference.article == ""
    assert a.valid_until == date(2040, 1, 1) and a.valid_from == date(2020, 1, 1)
    assert a.location.equals(shapely.Point(85050, 447550)) and a.location_name == "Default place"
    assert b.location is None  # location: null in the rule means everywhere
    assert a.status_note == "Shared note"
    assert a.extra["shared"] == 1 and a.extra["note"] == "a" and b.extra["shared"] == 1
    assert a.extra["ruleset"] == "Test rules"


def test_an_illustrative_rule_set_says_so_in_every_rule(tmp_path):
    path = write(
        tmp_path,
        [rule("a", status_note="A demo value."), rule("b", subject="gutter_height_m")],
        ruleset={"name": "Demo", "authority": "gemeente X (illustrative)", "illustrative": True},
    )
    rs = read_ruleset_file(path)
    assert rs.illustrative and rs.name == "Demo"
    for n in rs.norms:
        assert "illustrative" in n.status_note.lower() and n.extra["illustrative"] is True
    assert rs.norms[0].status_note.endswith("A demo value.")


# ------------------------------------------------------------------ validity periods


def test_validity_periods_decide_whether_a_rule_is_in_force(tmp_path):
    path = write(
        tmp_path,
        [
            rule("future", valid_from=date(2030, 1, 1)),
            rule("ended", valid_from=date(2010, 1, 1), valid_until=date(2020, 1, 1)),
            rule("open", valid_from=DROP),
            rule("quoted", valid_from="2024-01-01", valid_until="2025-01-01"),
        ],
    )
    n = {x.id: x for x in read_ruleset(path)}
    today = date(2026, 1, 15)
    assert not n["future"].in_force(today)  # not yet in force: does not apply
    assert n["future"].in_force(date(2030, 1, 1))  # from valid_from on (inclusive)
    assert not n["ended"].in_force(today)  # already ended
    assert n["ended"].in_force(date(2019, 12, 31))
    assert not n["ended"].in_force(date(2020, 1, 1))  # valid_until is exclusive
    assert n["open"].valid_from is None and n["open"].in_force(date(1900, 1, 1))
    assert n["quoted"].valid_from == date(2024, 1, 1)  # dates as text are read too
    assert n["quoted"].valid_until == date(2025, 1, 1)


# ------------------------------------------------------------------ the shipped rule sets


@pytest.fixture(scope="module")
def shipped():
    return {name: {n.id: n for n in read_ruleset(RULES / name)} for name in SHIPPED}


def test_the_shipped_rule_sets_read_without_error_or_conflict(shipped):
    everything = [n for norms in shipped.values() for n in norms.values()]
    assert len(everything) == len({n.id for n in everything})  # ids unique across the sets
    assert find_conflicts(everything) == []
    for n in everything:
        assert n.reference.document and n.authority and n.valid_from is not None
        assert n.subject in SUBJECTS[n.activity]


def test_shipped_wind_turbine_norms(shipped):
    w = shipped["national-wind-turbines.yaml"]
    # Activiteitenbesluit milieubeheer art. 3.14a: Lden 47 dB, Lnight 41 dB at
    # noise-sensitive buildings (RVO, "Geluidnormering windmolens", checked 1 Feb 2024).
    for suffix in ("abm", "ow"):
        assert w[f"nl-wind-lden-{suffix}"].value.value == 47
        assert w[f"nl-wind-lden-{suffix}"].value.unit == "dB"
        assert w[f"nl-wind-lnight-{suffix}"].value.value == 41
    lden = w["nl-wind-lden-abm"]
    assert lden.reference.article.startswith("art. 3.14a") and lden.comparison == "maximum"
    assert (lden.valid_from, lden.valid_until) == (date(2011, 1, 1), date(2024, 1, 1))
    # Activiteitenregeling milieubeheer art. 3.12: shutdown where flicker can occur within 12
    # rotor diameters on more than 17 days a year for more than 20 minutes a day.
    flicker = w["nl-wind-flicker-arim"]
    assert (flicker.comparison, flicker.value.value, flicker.value.unit) == (
        "permit_above",
        17,
        "d/yr",
    )
    assert flicker.extra["within_rotor_diameters"] == 12
    assert flicker.extra["minutes_per_day"] == 20
    assert "stilstandvoorziening" in flicker.extra["consequence"]
    assert judge(flicker, 25).verdict == "needs_permit"
    # Activiteitenbesluit art. 3.15a: PR 10^-6 at kwetsbare, 10^-5 at beperkt kwetsbare objecten.
    for rid, subject in (
        ("nl-wind-ir-kwetsbaar-abm", "within_ir_1e-6"),
        ("nl-wind-ir-beperkt-kwetsbaar-abm", "within_ir_1e-5"),
    ):
        ir = w[rid]
        assert ir.subject == subject and ir.value.values == ("false",)
        assert ir.extra["otherwise"] == "exceeds" and ir.reference.article.startswith("art. 3.15a")
        assert judge(ir, "true").verdict == "exceeds"
    # Nevele: the Raad van State ruling of 30 June 2021 (ECLI:NL:RVS:2021:1395) is in the notes
    for n in w.values():
        assert "ECLI:NL:RVS:2021:1395" in n.status_note
    now = date(2026, 1, 1)
    in_force = {n.id for n in w.values() if n.in_force(now)}
    assert in_force == {i for i in w if i.endswith("-ow")}
    assert all("UNCERTAIN" in w[i].status_note for i in in_force)


def test_shipped_road_noise_norms(shipped):
    r = shipped["national-road-noise.yaml"]
    # Bkl: gemeentewegen standaardwaarde 53 dB Lden; grenswaarde 70 dB Lden (Bkl tabel 3.35).
    std, limit = r["nl-road-standaardwaarde-bkl"], r["nl-road-grenswaarde-bkl"]
    assert (std.comparison, std.value.value, std.value.unit) == ("permit_above", 53, "dB")
    assert (limit.comparison, limit.value.value, limit.value.unit) == ("maximum", 70, "dB")
    assert std.reference.document == "Besluit kwaliteit leefomgeving"
    assert std.valid_from == date(2024, 1, 1) and std.valid_until is None
    assert std.status_note and limit.status_note
    # Wet geluidhinder art. 82: voorkeursgrenswaarde 48 dB; art. 83(2): 63 dB, until 2024.
    wgh = r["nl-road-voorkeursgrenswaarde-wgh"]
    assert wgh.value.value == 48 and wgh.valid_until == date(2024, 1, 1)
    assert r["nl-road-maximale-ontheffingswaarde-wgh"].value.value == 63
    assert judge(std, 58.0).verdict == "needs_permit" and judge(limit, 72.0).verdict == "exceeds"
    assert all(n.activity == "weg" and n.subject == "lden_db" for n in r.values())


def test_shipped_nitrogen_threshold(shipped):
    n = shipped["national-nitrogen.yaml"]
    # The file's value: 0.00 mol/ha/yr (any increase needs a permit since the PAS ruling,
    # ECLI:NL:RVS:2019:1603, 29 May 2019).
    for rid in ("nl-nitrogen-deposition-wnb", "nl-nitrogen-deposition-ow"):
        norm = n[rid]
        assert (norm.comparison, norm.value.value, norm.value.unit) == (
            "permit_above",
            0.0,
            "mol/ha/yr",
        )
        assert "ECLI:NL:RVS:2019:1603" in norm.status_note
        assert "rekenkundige ondergrens" in norm.status_note
    assert n["nl-nitrogen-deposition-wnb"].reference.document == "Wet natuurbescherming"
    assert n["nl-nitrogen-deposition-wnb"].reference.article == "art. 2.7, tweede lid"
    assert judge(n["nl-nitrogen-deposition-ow"], 0.02).verdict == "needs_permit"
    assert judge(n["nl-nitrogen-deposition-ow"], -0.5).verdict == "complies"


def test_shipped_delft_rules_make_the_demo_exceed(shipped):
    d = shipped["delft-illustrative.yaml"]
    height = d["delft-demo-max-building-height"]
    assert (height.value.value, height.value.unit) == (15, "m")
    assert height.authority == "gemeente Delft (illustrative)"
    demo_buildings = shapely.box(84826, 447457, 85056, 447624)
    for n in d.values():
        assert "illustrative" in n.status_note.lower() and n.extra["illustrative"] is True
        assert n.location.contains(demo_buildings)
        assert n.in_force(date(2026, 1, 1))
    # examples/scenarios/taller-building.yaml raises a building to 24 m: exceeds
    assert judge(height, 24.0).verdict == "exceeds"
    # examples/scenarios/housing-block.yaml: a 13 m block on a plot inside the area complies
    (block, *_) = read_interventions(REPO / "examples" / "scenarios" / "housing-block.yaml")
    assert height.location.contains(block.geometry)
    assert judge(height, block.properties["height_m"]).verdict == "complies"
    assert judge(d["delft-demo-functions"], "wonen").verdict == "complies"


# ------------------------------------------------------------------ bad input

BAD = [
    # (case, rules, extra top-level keys, object id, field, message)
    ("unknown top-level key", [rule()], {"rulez": []}, None, "rulez", "unknown top-level"),
    (
        "unknown ruleset key",
        [rule()],
        {"ruleset": {"name": "X", "authority": "A", "version": 2}},
        "ruleset",
        "version",
        "unknown keys",
    ),
    ("unknown rule key", [rule(maximum=3)], {}, "r1", "maximum", "unknown keys: maximum"),
    (
        "unknown reference key",
        [rule(reference={**REF, "page": 3})],
        {},
        "r1",
        "reference.page",
        "unknown keys in reference",
    ),
    (
        "a value in defaults",
        [rule()],
        {"defaults": {"value": 3}},
        "defaults",
        "value",
        "unknown keys in defaults",
    ),
    ("missing unit", [rule(unit=DROP)], {}, "r1", "unit", "needs its unit"),
    ("empty unit", [rule(unit="")], {}, "r1", "unit", "needs its unit"),
    ("quantity without value", [rule(value=DROP)], {}, "r1", "value", "needs its value"),
    (
        "no value at all",
        [rule(value=DROP, unit=DROP)],
        {},
        "r1",
        "value",
        "needs a value",
    ),
    ("value as text", [rule(value="47")], {}, "r1", "value", "not a finite number"),
    ("value not finite", [rule(value=float("inf"))], {}, "r1", "value", "not a finite number"),
    ("wrong unit", [rule(unit="cm")], {}, "r1", "unit", "is in 'm', not 'cm'"),
    ("value and values", [rule(values=["x"])], {}, "r1", "values", "not both"),
    (
        "values with a unit",
        [rule(subject="function", comparison="allowed", value=DROP, values=["wonen"])],
        {},
        "r1",
        "unit",
        "take no unit",
    ),
    (
        "a value for a qualitative subject",
        [rule(subject="function", comparison="allowed", unit=DROP)],
        {},
        "r1",
        "value",
        "is qualitative",
    ),
    (
        "allowed with a quantity",
        [rule(comparison="allowed")],
        {},
        "r1",
        "value",
        "'allowed' takes qualitative values",
    ),
    ("invalid date", [rule(valid_from="2024-13-01")], {}, "r1", "valid_from", "not a valid date"),
    (
        "date with a time",
        [rule(valid_until=datetime(2024, 1, 1, 12, 0))],
        {},
        "r1",
        "valid_until",
        "date and time",
    ),
    (
        "until before from",
        [rule(valid_from=date(2024, 1, 1), valid_until=date(2023, 1, 1))],
        {},
        "r1",
        "valid_until",
        "does not lie after",
    ),
    (
        "until equal to from",
        [rule(valid_from=date(2024, 1, 1), valid_until=date(2024, 1, 1))],
        {},
        "r1",
        "valid_until",
        "does not lie after",
    ),
    ("unknown kind", [rule(kind="regel")], {}, "r1", "kind", "kind 'regel' is not one of"),
    (
        "unknown comparison",
        [rule(comparison="at_most")],
        {},
        "r1",
        "comparison",
        "comparison 'at_most' is not one of",
    ),
    ("unknown activity", [rule(activity="slopen")], {}, "r1", "activity", "unknown activity"),
    ("unknown subject", [rule(subject="height")], {}, "r1", "subject", "unknown subject"),
    ("missing kind", [rule(kind=DROP)], {}, "r1", "kind", "'kind' is missing"),
    ("missing name", [rule(name=DROP)], {}, "r1", "name", "'name' is missing"),
    ("missing id", [rule(rid=DROP)], {}, "rule 1", "id", "needs an 'id'"),
    (
        "duplicate ids",
        [rule("same"), rule("same", subject="gutter_height_m")],
        {},
        "same",
        "id",
        "id used by two rules",
    ),
    ("missing reference", [rule(reference=DROP)], {}, "r1", "reference", "legal source"),
    (
        "missing document",
        [rule(reference={"article": "art. 1"})],
        {},
        "r1",
        "reference.document",
        "is missing",
    ),
    (
        "missing authority",
        [rule()],
        {"ruleset": {"name": "No authority"}},
        "r1",
        "authority",
        "competent authority",
    ),
    (
        "self-intersecting location",
        [rule(location="POLYGON ((0 300000, 10 300010, 10 300000, 0 300010, 0 300000))")],
        {},
        "r1",
        "location",
        "invalid geometry: Self-intersection",
    ),
    ("unreadable location", [rule(location="POLYGON ((1 2")], {}, "r1", "location", "cannot"),
    (
        "location outside the Netherlands",
        [rule(location="POINT (4.36 52.01)")],  # lon/lat read as RD metres
        {},
        "r1",
        "location",
        "outside the Netherlands",
    ),
    ("location of another type", [rule(location=[1, 2])], {}, "r1", "location", "WKT text"),
    (
        "extra not JSON",
        [rule(extra={"tags": {"a", "b"}})],  # a YAML !!set
        {},
        "r1",
        "extra",
        "not JSON",
    ),
    ("empty rules", [], {}, None, "rules", "non-empty list"),
    ("rule not a mapping", ["r1"], {}, "rule 1", None, "a rule is a mapping"),
]


@pytest.mark.parametrize(
    ("rules", "top", "object_id", "field", "message"),
    [c[1:] for c in BAD],
    ids=[c[0] for c in BAD],
)
def test_bad_rule_sets_are_refused_naming_file_rule_and_field(
    tmp_path, rules, top, object_id, field, message
):
    path = write(tmp_path, rules, **top)
    with pytest.raises(InputError) as info:
        read_ruleset(path)
    err = info.value
    assert message in err.reason
    assert err.path == str(path) and "test.yaml" in str(err)
    assert err.object_id == object_id
    assert err.field == field
    if object_id is not None:
        assert repr(object_id) in str(err)


def test_files_that_are_no_rule_sets_are_refused(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_ruleset(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("ruleset: {name: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"not valid YAML \(line"):
        read_ruleset(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(InputError, match="expected a mapping"):
        read_ruleset(listed)
    headless = tmp_path / "headless.yaml"
    headless.write_text(yaml.safe_dump({"rules": [rule()]}), encoding="utf-8")
    with pytest.raises(InputError, match="'ruleset' header"):
        read_ruleset(headless)
    text = tmp_path / "rules.txt"
    text.write_text("ruleset: {name: x}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"\.yaml or \.yml"):
        read_ruleset(text)


# ------------------------------------------------------------------ conflicts


def test_a_rule_set_with_contradicting_rules_is_refused_naming_both(tmp_path):
    path = write(tmp_path, [rule("height-10"), rule("height-12", value=12)])
    with pytest.raises(InputError) as info:
        read_ruleset(path)
    message = str(info.value)
    assert "'height-10'" in message and "'height-12'" in message
    assert "10 m" in message and "12 m" in message and "contradict" in message
    assert info.value.object_id == "height-12"


def norms_of(tmp_path, rules, name="set.yaml"):
    return read_ruleset(write(tmp_path, rules, name=name))


@pytest.mark.parametrize(
    ("second", "conflict"),
    [
        ({}, True),  # same place, same period, another value
        ({"value": 10}, False),  # the same value: no contradiction
        ({"comparison": "permit_above"}, False),  # another comparison
        ({"subject": "gutter_height_m"}, False),  # another subject
        ({"valid_from": date(2030, 1, 1)}, True),  # open-ended first period reaches 2030
        ({"location": None}, True),  # everywhere overlaps every place
        ({"location": "POINT (85050 447550)"}, True),  # a point inside the zone
        (  # a zone beside it, sharing only its edge
            {
                "location": "POLYGON ((85100 447500, 85200 447500, 85200 447600, 85100 447600, "
                "85100 447500))"
            },
            False,
        ),
        (  # a zone elsewhere
            {"location": "POLYGON ((86000 448000, 86100 448000, 86100 448100, 86000 448000))"},
            False,
        ),
    ],
)
def test_conflicts_need_the_same_subject_place_and_period(tmp_path, second, conflict):
    first = norms_of(tmp_path, [rule("a")], "a.yaml")
    other = norms_of(tmp_path, [rule("b", **{"value": 12, **second})], "b.yaml")
    found = find_conflicts(first + other)
    assert bool(found) == conflict
    if conflict:
        assert "'a' (a.yaml)" in found[0].message and "'b' (b.yaml)" in found[0].message


def test_periods_that_follow_each_other_do_not_conflict(tmp_path):
    old = norms_of(
        tmp_path,
        [rule("old", valid_from=date(2010, 1, 1), valid_until=date(2024, 1, 1))],
        "old.yaml",
    )
    new = norms_of(tmp_path, [rule("new", value=15, valid_from=date(2024, 1, 1))], "new.yaml")
    assert find_conflicts(old + new) == []
    overlapping = norms_of(
        tmp_path, [rule("overlapping", value=20, valid_from=date(2023, 6, 1))], "ov.yaml"
    )
    found = find_conflicts(old + new + overlapping)
    assert {(c.first.id, c.second.id) for c in found} == {
        ("old", "overlapping"),
        ("new", "overlapping"),
    }


def test_many_located_norms_are_checked_with_an_index(tmp_path):
    # 400 adjacent 10 m cells with alternating limits: they touch, so they do not conflict;
    # one cell overlapping two others does.
    rules_ = [
        rule(
            f"cell-{i}",
            value=10 + i % 2,
            location=shapely.box(85000 + 10 * i, 447500, 85010 + 10 * i, 447510).wkt,
        )
        for i in range(400)
    ]
    norms = norms_of(tmp_path, rules_, "cells.yaml")
    assert find_conflicts(norms) == []
    odd = norms_of(
        tmp_path,
        [rule("odd", value=30, location=shapely.box(85005, 447500, 85015, 447510).wkt)],
        "odd.yaml",
    )
    assert {c.first.id for c in find_conflicts(norms + odd)} == {"cell-0", "cell-1"}


# ------------------------------------------------------------------ the norms layer


def test_norms_batch_round_trip_through_a_twin(tmp_path):
    own = write(
        tmp_path,
        [
            rule("located", location_name="Zone A", status_note="Note"),
            rule(
                "everywhere",
                activity="weg",
                subject="lden_db",
                comparison="maximum",
                value=70,
                unit="dB",
                location=DROP,
                valid_until=date(2030, 1, 1),
            ),
            rule(
                "function",
                subject="function",
                comparison="allowed",
                value=DROP,
                unit=DROP,
                values=["wonen", "kantoor"],
                kind="omgevingswaarde",
            ),
        ],
        name="own.yaml",
    )
    files = [own, *(RULES / name for name in SHIPPED)]
    expected = {n.id: n for f in files for n in read_ruleset(f)}

    ws = init_workspace(tmp_path / "t")
    try:
        for f in files:
            batch = ruleset_batch(f)
            (schema,) = batch.layers
            assert schema.name == NORMS_LAYER and schema.geometry_type == "GEOMETRY"
            assert batch.source == f"ruleset:{Path(f).name}"
            report = ws.store.write(batch)
            assert report.total.added == len(read_ruleset(f))
        stored = list(ws.store.features(NORMS_LAYER))
        back = {s.id: stored_norm(s.id, s.geometry, s.properties) for s in stored}
        assert back == expected  # every field, location and period as read
        for s in stored:
            raw = norm_from_properties(s.id, s.geometry, s.properties)
            if expected[s.id].location is None:
                # stored with the RD New domain as its geometry, marked "everywhere"
                assert s.geometry.equals(EVERYWHERE) and raw.extra["everywhere"] is True
                assert back[s.id].location is None and "everywhere" not in back[s.id].extra
            else:
                assert raw == expected[s.id]
        assert back["function"].value.values == ("wonen", "kantoor")
        assert back["everywhere"].valid_until == date(2030, 1, 1)
        assert back["located"].status_note == "Note" and back["located"].source == "own.yaml"
        # reading the same file again changes nothing
        again = ws.store.write(ruleset_batch(own))
        assert again.total.unchanged == 3 and again.total.added == 0
    finally:
        ws.close()
