"""Scenarios through the command line, on the Delft demo twin built from the real data."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import copy_demo
from tests.test_cli import tw

TALL = "b31bc4dc2-00ba-11e6-b420-2bdcc4ab5d7f"  # BAG pand 0503100000017311, 6.17 m
BLOCK = "POLYGON ((84990 447600, 85000 447600, 85000 447610, 84990 447610, 84990 447600))"


@pytest.fixture(scope="module")
def demo_twin(tmp_path_factory, demo_master):
    """The session's demo twin (built through the CLI once), copied for this module."""
    return copy_demo(tmp_path_factory, demo_master)


@pytest.fixture
def twin(demo_twin, tmp_path):
    """A private copy of the demo twin for tests that change it."""
    root = tmp_path / "delft"
    shutil.copytree(demo_twin, root)
    return root


def ok(*args):
    result = tw(*args)
    assert result.exit_code == 0, result.output
    return result.output


def fails(*args, match: str):
    result = tw(*args)
    assert result.exit_code == 1, result.output
    assert match in " ".join(result.output.split()), result.output
    return result.output


def diff_counts(twin, *refs) -> dict:
    return json.loads(ok("scenario", "diff", *refs, "-f", "json", "--twin", twin))["counts"]


def test_demo_has_its_example_scenarios(demo_twin):
    info = " ".join(ok("info", "--twin", demo_twin).split())
    assert "scenarios: example-housing-block (shared)" in info
    out = ok("scenario", "list", "--twin", demo_twin)
    for name in ("example-housing-block", "example-taller-building", "example-cycle-path"):
        assert name[:10] in out
    assert diff_counts(demo_twin, "example-housing-block") == {
        "buildings": {"added": 1, "modified": 0, "removed": 0},
        "plant_cover": {"added": 0, "modified": 0, "removed": 2},
    }
    assert diff_counts(demo_twin, "example-cycle-path") == {
        "plant_cover": {"added": 0, "modified": 0, "removed": 1},
        "roads": {"added": 1, "modified": 0, "removed": 0},
        "parameters": {"added": 1, "modified": 0, "removed": 0},
    }
    out = ok("scenario", "diff", "example-taller-building", "-f", "json", "--twin", demo_twin)
    (change,) = json.loads(out)["layers"]["buildings"]
    assert change == {
        "kind": "modified",
        "id": TALL,
        "attributes": ["height_m", "roof_height_m"],
    }
    gj = ok(
        "features",
        "buildings",
        "--where",
        "bag_id=NL.IMBAG.Pand.0503100000017311",
        "-s",
        "example-taller-building",
        "-f",
        "geojson",
        "--twin",
        demo_twin,
    )
    (feature,) = json.loads(gj)["features"]
    assert feature["properties"]["height_m"] == 24.0
    gj = ok(
        "features",
        "buildings",
        "--where",
        "bag_id=NL.IMBAG.Pand.0503100000017311",
        "-f",
        "geojson",
        "--twin",
        demo_twin,
    )
    assert json.loads(gj)["features"][0]["properties"]["height_m"] == 6.17
    # the baseline count is unchanged; the housing scenario has one building more
    base = json.loads(ok("features", "buildings", "-f", "geojson", "--twin", demo_twin))
    plan = json.loads(
        ok(
            "features",
            "buildings",
            "-s",
            "example-housing-block",
            "-f",
            "geojson",
            "--twin",
            demo_twin,
        )
    )
    assert len(plan["features"]) == len(base["features"]) + 1 == 161


def test_scenario_workflow_in_the_cli(twin):
    ok("scenario", "create", "plan", "--description", "test plan", "--twin", twin)
    ok(
        "scenario",
        "add",
        "plan",
        "-l",
        "buildings",
        "--geometry",
        BLOCK,
        "--id",
        "new-block",
        "--set",
        "height_m=9.5",
        "--title",
        "Block",
        "--rationale",
        "homes",
        "--twin",
        twin,
    )
    ok(
        "scenario",
        "modify",
        "plan",
        "-l",
        "buildings",
        "--id",
        TALL,
        "--set",
        "height_m=12",
        "--set",
        "construction_year=",
        "--title",
        "Taller",
        "--twin",
        twin,
    )
    ok(
        "scenario",
        "param",
        "plan",
        "traffic_growth",
        "1.2",
        "--unit",
        "1",
        "--title",
        "Growth",
        "--twin",
        twin,
    )
    assert diff_counts(twin, "plan") == {
        "buildings": {"added": 1, "modified": 1, "removed": 0},
        "parameters": {"added": 1, "modified": 0, "removed": 0},
    }
    shown = ok("scenario", "show", "plan", "--twin", twin)
    assert "traffic_growth = 1.2 [1]" in shown and "Block" in shown
    ok("scenario", "fork", "plan", "variant", "--twin", twin)
    assert diff_counts(twin, "plan", "variant") == {}
    ok(
        "scenario",
        "modify",
        "variant",
        "-l",
        "buildings",
        "--id",
        TALL,
        "--set",
        "height_m=15",
        "--title",
        "Even taller",
        "--twin",
        twin,
    )
    ok(
        "scenario",
        "modify",
        "plan",
        "-l",
        "buildings",
        "--id",
        TALL,
        "--set",
        "height_m=14",
        "--title",
        "Other height",
        "--twin",
        twin,
    )
    fails(
        "scenario",
        "merge",
        "variant",
        "plan",
        "--twin",
        twin,
        match=f"1 conflict(s), nothing was changed: buildings/object '{TALL}'",
    )
    out = ok(
        "scenario",
        "merge",
        "variant",
        "plan",
        "--resolve",
        f"buildings/{TALL}=theirs",
        "--twin",
        twin,
    )
    assert "1 conflict(s) settled" in out
    frozen = ok("scenario", "freeze", "plan", "v1", "--note", "for the council", "--twin", twin)
    assert "plan@v1 sha256:" in " ".join(frozen.split())
    assert "intact" in ok("scenario", "verify", "plan@v1", "--twin", twin)
    fails(
        "scenario",
        "remove",
        "plan@v1",
        "-l",
        "buildings",
        "--id",
        TALL,
        "--title",
        "x",
        "--twin",
        twin,
        match="plan@v1 is a frozen version and never changes",
    )
    ok("scenario", "status", "plan", "decided", "--twin", twin)
    fails(
        "scenario",
        "remove",
        "plan",
        "-l",
        "buildings",
        "--id",
        TALL,
        "--title",
        "x",
        "--twin",
        twin,
        match="scenario 'plan' is decided",
    )
    fails("scenario", "delete", "plan", "--twin", twin, match="only drafts can be deleted")
    ok("scenario", "delete", "variant", "--twin", twin)


def test_bad_scenario_input_in_the_cli(twin, tmp_path):
    ok("scenario", "create", "plan", "--twin", twin)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "interventions:\n"
        f"  - {{kind: modify, layer: buildings, id: {TALL}, title: ok,\n"
        "      properties: {height_m: 9}}\n"
        "  - {kind: remove, layer: buildings, id: no-such-building, title: gone}\n"
    )
    fails(
        "scenario",
        "apply",
        "plan",
        bad,
        "--twin",
        twin,
        match="bad.yaml: object 'item 2 (no-such-building)': field 'id'",
    )
    assert diff_counts(twin, "plan") == {}  # the good first item was not applied either
    amsterdam = "POLYGON ((121000 487000, 121010 487000, 121010 487010, 121000 487000))"
    fails(
        "scenario",
        "add",
        "plan",
        "-l",
        "buildings",
        "--geometry",
        amsterdam,
        "--title",
        "x",
        "--twin",
        twin,
        match="lies outside the twin's area",
    )
    fails(
        "scenario",
        "add",
        "plan",
        "-l",
        "buildings",
        "--geometry",
        "POINT (4.36 52.0)",
        "--crs",
        "EPSG:4326",
        "--title",
        "x",
        "--twin",
        twin,
        match="geometry type Point does not fit layer 'buildings'",
    )
    fails(
        "scenario",
        "modify",
        "plan",
        "-l",
        "buildings",
        "--id",
        TALL,
        "--set",
        "floors=3",
        "--title",
        "x",
        "--twin",
        twin,
        match="layer 'buildings' has no field 'floors'",
    )
    fails("scenario", "create", "plan", "--twin", twin, match="scenario 'plan' already exists")
    fails("scenario", "show", "nope", "--twin", twin, match="unknown scenario 'nope'")
    fails("scenario", "diff", "plan", "nope@v1", "--twin", twin, match="unknown scenario 'nope'")
    fails(
        "scenario",
        "merge",
        "plan",
        "plan",
        "--resolve",
        "oops",
        "--twin",
        twin,
        match="--resolve 'oops'",
    )
    fails(
        "features",
        "buildings",
        "-s",
        "plan",
        "--as-of",
        "2020-01-01",
        "--twin",
        twin,
        match="cannot be combined with a scenario",
    )
