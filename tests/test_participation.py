"""Participation on the Delft demo twin (issue 12, "Participation"): participants see exactly
what planners see of a published plan; comments pinned to points, lines, areas and objects,
threaded, supported once per person, editable for a while, moderated with a reason their
author is told; participants' variants changed only as the round allows, computed by the
same model under a quota, public or private; what the alternatives and variants mean at an
address; the round's report."""

from __future__ import annotations

import sqlite3

import morecantile
import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import copy_demo
from tweeling.api.app import create_app
from tweeling.core.crs import RD_NEW, transformer
from tweeling.services import accounts
from tweeling.services.demo_people import MOVED_TURBINE, ROUND_SCENARIO
from tweeling.services.workspace import open_workspace

pytestmark = pytest.mark.slow
PLAN = ROUND_SCENARIO
VARIANT = "r1-bram-1"  # bram's public variant in the demo
PEOPLE = ("beheer", "planner", "anna", "bram")


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_master):
    root = copy_demo(tmp_path_factory, demo_master)
    with open_workspace(root) as ws:
        tokens = {
            n: accounts.create_token(
                ws.store, ws.store.people.by_name(n), "t", scope="write"
            ).secret
            for n in PEOPLE
        }
        accounts.add_person(ws.store, "cees", "participant", password="correct horse battery")
        tokens["cees"] = accounts.create_token(
            ws.store, ws.store.people.by_name("cees"), "t", scope="write"
        ).secret
    with TestClient(create_app(root, hosts=["testserver"])) as client:
        yield {"root": root, "client": client, "tokens": tokens}


def as_(demo, who):
    return {"Authorization": f"Bearer {demo['tokens'][who]}"} if who else {}


def get(demo, url, who=None, status=200):
    r = demo["client"].get(url, headers=as_(demo, who))
    assert r.status_code == status, f"{url} as {who}: {r.status_code} {r.text[:300]}"
    return r


def lonlat(x, y):
    return list(transformer(RD_NEW, "OGC:CRS84").transform(x, y))


PERSONAL = {"mine", "can_edit", "can_run", "can_publish", "can_share", "may", "supported_by_me"}


def _impersonal(value):
    """A document without the fields that say what the asker may do (which differ by role)."""
    if isinstance(value, dict):
        return {k: _impersonal(v) for k, v in value.items() if k not in PERSONAL}
    if isinstance(value, list):
        return [_impersonal(v) for v in value]
    return value


def test_participants_and_visitors_see_exactly_what_planners_see_of_the_published_plan(demo):
    runs = get(demo, f"/runs?scenario={PLAN}", "planner").json()["runs"]
    assert runs, "the demo computed the published plan"
    urls = [
        f"/scenarios/{PLAN}",
        f"/scenarios/{PLAN}/interventions",
        f"/scenarios/{PLAN}/diff?features=true",
        f"/scenarios/{PLAN}/findings",
        f"/runs?scenario={PLAN}",
        f"/comparisons?scenarios={PLAN}",
        f"/collections/wind_turbines/items?scenario={PLAN}&limit=100",
        f"/audit?scenario={PLAN}&limit=1000",
        "/rounds/1",
        "/rounds/1/comments",
        "/rounds/1/report",
    ]
    for run in runs:
        urls += [f"/runs/{run['id']}", f"/runs/{run['id']}/objects"]
        for name, output in run["outputs"].items():
            if output.get("kind") == "grid":
                urls.append(f"/runs/{run['id']}/outputs/{name}/overlay")
    for url in urls:
        planner = _impersonal(get(demo, url, "planner").json())
        for who in ("anna", None):  # a participant, a visitor of the public twin
            assert _impersonal(get(demo, url, who).json()) == planner, f"{url} differs for {who}"
    # the same tile, byte for byte
    t = morecantile.tms.get("WebMercatorQuad").tile(*lonlat(85350.0, 446700.0), 15)
    tile = f"/collections/wind_turbines/tiles/WebMercatorQuad/15/{t.y}/{t.x}"
    assert (
        get(demo, f"{tile}?scenario={PLAN}", "anna").content
        == get(demo, f"{tile}?scenario={PLAN}", "planner").content
    )


def test_drafts_stay_private_to_participants_and_visitors(demo):
    listed = {s["name"] for s in get(demo, "/scenarios", "anna").json()["scenarios"]}
    assert {PLAN, VARIANT} <= listed
    assert not [n for n in listed if n.startswith("example-") and n != PLAN]  # shared: staff
    for who in ("anna", None):
        get(demo, "/scenarios/example-housing-block", who, status=404)
        get(demo, "/collections/buildings/items?scenario=example-housing-block", who, status=404)
    assert "example-housing-block" in {
        s["name"] for s in get(demo, "/scenarios", "planner").json()["scenarios"]
    }


def test_comments_pin_thread_support_and_edit(demo):
    c = demo["client"]
    x, y = MOVED_TURBINE[1]
    shapes = {
        "point": {"type": "Point", "coordinates": lonlat(x, y)},
        "line": {"type": "LineString", "coordinates": [lonlat(x, y), lonlat(x + 50, y + 50)]},
        "area": {
            "type": "Polygon",
            "coordinates": [
                [lonlat(x, y), lonlat(x + 40, y), lonlat(x + 40, y + 40), lonlat(x, y)]
            ],
        },
    }
    made = {}
    for kind, geometry in shapes.items():
        body = {"body": f"about this {kind}", "theme": "nature", "geometry": geometry}
        r = c.post("/rounds/1/comments", headers=as_(demo, "cees"), json=body)
        assert r.status_code == 201, r.text
        made[kind] = r.json()
        assert made[kind]["geometry"]["type"] == geometry["type"]
    on_object = c.post(
        "/rounds/1/comments",
        headers=as_(demo, "cees"),
        json={
            "body": "about turbine 2",
            "scenario": PLAN,
            "object": "wind_turbines/example-turbine-2",
        },
    )
    assert on_object.status_code == 201, on_object.text
    nope = {"body": "x", "scenario": PLAN, "object": "wind_turbines/nope"}
    missing = c.post("/rounds/1/comments", headers=as_(demo, "cees"), json=nope)
    assert missing.status_code == 400 and "no object" in missing.json()["detail"]
    cid = made["point"]["id"]
    reply = c.post("/rounds/1/comments", headers=as_(demo, "anna"),
                   json={"body": "I agree", "parent": cid})  # fmt: skip
    assert reply.json()["properties"]["parent"] == cid
    for _ in range(2):  # one support per person, however often asked
        r = c.put(f"/comments/{cid}/support", headers=as_(demo, "anna"))
        assert r.status_code == 200 and r.json()["properties"]["supports"] == 1
    own = c.put(f"/comments/{cid}/support", headers=as_(demo, "cees"))
    assert own.status_code == 409
    withdrawn = c.delete(f"/comments/{cid}/support", headers=as_(demo, "anna"))
    assert withdrawn.json()["properties"]["supports"] == 0
    edited = c.patch(
        f"/comments/{cid}", headers=as_(demo, "cees"), json={"body": "about this point!"}
    )
    assert edited.status_code == 200 and edited.json()["properties"]["edited"]
    assert (
        c.patch(
            f"/comments/{cid}", headers=as_(demo, "anna"), json={"body": "mine now"}
        ).status_code
        == 403
    )
    # a quarter of an hour later the author cannot change it any more
    con = sqlite3.connect(demo["root"] / "twin.gpkg")
    with con:
        con.execute(
            "UPDATE tw_comments SET created_at = '2000-01-01T00:00:00.000000Z' WHERE id = ?", (cid,)
        )
    con.close()
    late = c.patch(f"/comments/{cid}", headers=as_(demo, "cees"), json={"body": "changed my mind"})
    assert late.status_code == 409 and "15 minutes" in late.json()["detail"]
    assert c.post("/rounds/1/comments", json={"body": "anonymous"}).status_code == 401


def test_moderation_hides_with_a_reason_the_author_is_told(demo):
    c = demo["client"]
    r = c.post("/rounds/1/comments", headers=as_(demo, "cees"),
               json={"body": "my neighbour at number 12 is a fraud", "theme": "other"})  # fmt: skip
    cid = r.json()["id"]
    assert c.put(f"/comments/{cid}/hidden", headers=as_(demo, "anna"),
                 json={"hidden": True, "reason": "x"}).status_code == 403  # fmt: skip
    hidden = c.put(f"/comments/{cid}/hidden", headers=as_(demo, "planner"),
                   json={"hidden": True, "reason": "Personal accusation"})  # fmt: skip
    assert hidden.status_code == 200
    for who in ("anna", None):
        shown = next(
            f for f in get(demo, "/rounds/1/comments", who).json()["features"] if f["id"] == cid
        )
        assert shown["properties"]["hidden"] and shown["properties"]["body"] == ""
        assert "fraud" not in get(demo, "/rounds/1/report", who).text
    own = next(
        f for f in get(demo, "/rounds/1/comments", "cees").json()["features"] if f["id"] == cid
    )
    assert own["properties"]["body"].endswith("fraud") and own["properties"]["hidden_reason"]
    note = get(demo, "/auth/notifications", "cees").json()["notifications"][0]
    assert "Personal accusation" in note["text"] and note["read_at"] is None
    entries = get(demo, f"/audit?object=comments/{cid}", "beheer").json()["entries"]
    assert entries[-1]["action"] == "comment.hide"
    assert entries[-1]["data"]["reason"] == "Personal accusation"
    assert c.put(f"/comments/{cid}/support", headers=as_(demo, "anna")).status_code == 404


def test_a_variant_changes_only_what_the_round_allows_and_is_computed_like_the_plan(demo):
    c = demo["client"]
    r = c.post("/rounds/1/variants", headers=as_(demo, "anna"), json={"alternative": PLAN})
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    assert r.json()["mine"] and r.json()["can_edit"] and r.json()["can_run"]
    # private: nobody else sees it
    for who in ("cees", None):
        get(demo, f"/scenarios/{name}", who, status=404)
        assert name not in get(demo, "/rounds/1", who).text
    url = f"/scenarios/{name}/interventions"
    x, y = 85300.0, 446650.0
    point = {"type": "Point", "coordinates": lonlat(x, y)}
    move = {"kind": "modify", "layer": "wind_turbines", "id": "example-turbine-1",
            "title": "verder weg", "geometry": point}  # fmt: skip
    moved = c.post(url, headers=as_(demo, "anna"), json={"interventions": [move]})
    assert moved.status_code == 201, moved.text
    raise_it = {"interventions": [{"kind": "modify", "layer": "buildings",
                "id": "b31bc4dc2-00ba-11e6-b420-2bdcc4ab5d7f", "title": "hoger",
                "properties": {"height_m": 50.0}}]}  # fmt: skip
    refused = c.post(url, headers=as_(demo, "anna"), json=raise_it)
    assert refused.status_code == 400 and "only be lowered" in refused.json()["detail"]
    power = {"interventions": [{**move, "title": "more power", "geometry": None,
                                "properties": {"hub_height_m": 200.0}}]}  # fmt: skip
    assert c.post(url, headers=as_(demo, "anna"), json=power).status_code == 400
    # the same model as the planner's, run by the participant on their own variant
    plan_run = next(r for r in get(demo, f"/runs?scenario={PLAN}", "anna").json()["runs"]
                    if r["model"] == "wind-turbines")  # fmt: skip
    params = get(demo, f"/runs/{plan_run['id']}", "anna").json()["parameters"]
    body = {"inputs": {"scenario": name, **params}}
    done = c.post("/processes/wind-turbines/execution", headers=as_(demo, "anna"), json=body)
    assert done.status_code == 200, done.text
    assert c.post("/processes/wind-turbines/execution", headers=as_(demo, "anna"),
                  json={"inputs": {"scenario": PLAN, **params}}).status_code == 403  # fmt: skip
    run = get(demo, f"/runs/{done.json()['run_id']}", "anna").json()
    assert (
        run["scenario"] == name
        and run["user"] == "anna"
        and run["code_hash"] == get(demo, f"/runs/{plan_run['id']}", "anna").json()["code_hash"]
    )
    # the run links its audit entry: who ran it, from which inputs
    link = next(x["href"] for x in run["links"] if x["rel"] == "audit")
    entry = get(demo, link.replace("http://testserver", ""), "anna").json()["entries"][0]
    assert entry["action"] == "model.run" and entry["actor"] == "anna"
    assert entry["data"]["result_hash"] == run["result_hash"]
    assert entry["data"]["inputs"] == run["inputs"]
    made_public = c.put(f"/rounds/1/variants/{name}/public", headers=as_(demo, "anna"),
                        json={"public": True})  # fmt: skip
    assert made_public.status_code == 200
    assert name in get(demo, "/rounds/1", "cees").text
    compared = get(demo, f"/comparisons?scenarios={PLAN},{name}", "cees").json()["models"]
    values = compared["wind-turbines"]["indicators"]
    assert any(
        v["values"][name] is not None and v["values"][PLAN] is not None for v in values.values()
    )


def test_the_variant_quota_and_closed_rounds(demo):
    c = demo["client"]
    for _ in range(3):
        c.post("/rounds/1/variants", headers=as_(demo, "cees"), json={"alternative": PLAN})
    over = c.post("/rounds/1/variants", headers=as_(demo, "cees"), json={"alternative": PLAN})
    assert over.status_code == 429
    closed = c.patch("/rounds/1", headers=as_(demo, "planner"),
                     json={"closes_at": "2001-01-01", "opens_at": "2000-01-01"})  # fmt: skip
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    try:
        late = c.post("/rounds/1/comments", headers=as_(demo, "anna"), json={"body": "too late"})
        assert late.status_code == 409 and "closed" in late.json()["detail"]
    finally:
        c.patch("/rounds/1", headers=as_(demo, "planner"),
                json={"opens_at": "2020-01-01", "closes_at": "2099-01-01"})  # fmt: skip


def test_what_each_alternative_and_variant_means_at_an_address(demo):
    turbine = MOVED_TURBINE[1]
    near = lonlat(turbine[0] - 800, turbine[1] + 900)
    at = get(demo, f"/rounds/1/address?point={near[0]},{near[1]}", "anna").json()
    by = {s["scenario"]: s for s in at["scenarios"]}
    assert {PLAN, VARIANT} <= set(by) and by[PLAN]["kind"] == "alternative"
    results = [e for e in by[VARIANT]["results"] if e["model"] == "wind-turbines"]
    assert results and all("difference" in e for e in results)
    building = at["buildings"][0]["id"] if at["buildings"] else None
    if building:
        again = get(demo, f"/rounds/1/address?building={building}", None).json()
        assert {s["scenario"] for s in again["scenarios"]} >= {PLAN, VARIANT}
    get(demo, "/rounds/1/address", "anna", status=400)


def test_the_round_report_in_json_and_html(demo):
    report = get(demo, "/rounds/1/report", "anna").json()
    assert report["comments"] >= 3 and report["supports"] >= 2
    assert sum(report["by_theme"].values()) == report["comments"]
    assert sum(g["comments"] for g in report["by_place"]) == report["comments"]
    assert any(v["scenario"] == VARIANT for v in report["variants"])
    wind = report["indicators"]["wind-turbines"]
    assert set(wind["runs"]) >= {"baseline", PLAN, VARIANT}
    page = get(demo, "/rounds/1/report?f=html&lang=en", "anna")
    assert page.headers["content-type"].startswith("text/html")
    assert "Comments by theme" in page.text and VARIANT in page.text
    json_again = orjson.loads(get(demo, "/rounds/1/report?f=json", None).content)
    assert json_again["comments"] == report["comments"]
