"""The audit log (issue 12, "Audit log"): append-only and hash-chained, written in the same
transaction as the change it records; `tweeling audit verify` finds any changed, removed or
inserted entry (tested by tampering with the table as an attacker with the file would);
filters by person, scenario, object and period; PROV-O export; runs and findings linked to
the person who made them."""

from __future__ import annotations

import sqlite3
from datetime import date

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.scenario_support import modify, seed_twin
from tweeling.api.app import create_app
from tweeling.cli.main import app as cli
from tweeling.core.audit import GENESIS, entry_hash, seal, verify_chain
from tweeling.core.errors import InputError
from tweeling.core.people import acting_as
from tweeling.core.records import AuditFilter
from tweeling.services import accounts, audit, participation
from tweeling.services import scenarios as sc
from tweeling.services.rules import check_scenario
from tweeling.services.workspace import init_workspace, open_workspace

PASSWORD = "correct horse battery"


def chain(n: int) -> list[tuple]:
    rows, prev = [], GENESIS
    for i in range(1, n + 1):
        e = seal(i, f"2026-01-01T00:00:{i:02d}.000000Z", "ada", 1, "x.y", f"o/{i}", None, None,
                 {"i": i}, prev)  # fmt: skip
        rows.append((e.seq, e.at, e.actor, e.actor_id, e.action, e.object, e.scenario,
                     e.version, e.data, e.prev, e.hash))  # fmt: skip
        prev = e.hash
    return rows


def test_the_chain_finds_changed_removed_inserted_and_rewritten_entries():
    rows = chain(6)
    head = (6, rows[-1][-1])
    assert verify_chain(rows, head=head).ok
    changed = [*rows[:2], (*rows[2][:8], '{"i":99}', *rows[2][9:]), *rows[3:]]
    assert "entry 3: its content was changed" in verify_chain(changed, head=head).problems[0]
    removed = rows[:2] + rows[3:]
    assert "entry 3: missing" in verify_chain(removed, head=head).problems[0]
    # an entry slipped in after 2, renumbered, with its own correct hash: the next link breaks
    forged = seal(3, "2026-01-01T00:00:02.500000Z", "eve", None, "x.y", "o/x", None, None, {},
                  rows[1][-1])  # fmt: skip
    inserted = [*rows[:2], tuple(forged.__getattribute__(f) for f in forged.__slots__)]
    inserted += [(r[0] + 1, *r[1:]) for r in rows[2:]]
    assert "entry 4: its link" in verify_chain(inserted, head=head).problems[0]
    truncated = rows[:4]
    assert "removed from the end" in verify_chain(truncated, head=head).problems[0]
    # the whole chain recomputed by someone with the file: caught by a head copied earlier
    rewritten, prev = [], GENESIS
    for r in rows:
        data = '{"i":0}' if r[0] == 2 else r[8]
        h = entry_hash(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], data, prev)
        rewritten.append((*r[:8], data, prev, h))
        prev = h
    new_head = (6, prev)
    assert verify_chain(rewritten, head=new_head).ok  # self-consistent …
    anchored = verify_chain(rewritten, head=new_head, anchors=[(4, rows[3][-1])])
    assert "chain rewritten" in anchored.problems[0]  # … but not what was published


@pytest.fixture
def root(tmp_path, store_url):
    root = tmp_path / "twin"
    with init_workspace(root, store=store_url()) as ws:
        seed_twin(ws, 6)
        for name, role in (("ada", "administrator"), ("piet", "planner"), ("olga", "participant")):
            accounts.add_person(ws.store, name, role, password=PASSWORD)
    return root


def test_every_change_is_logged_with_who_what_which_version_and_data(root):
    with open_workspace(root) as ws:
        piet = acting_as(ws.store.people.by_name("piet"), "session")
        with audit.acting(piet):
            info = sc.create_scenario(ws.store, "plan", description="taller house")
            sc.apply_interventions(ws.store, "plan", [modify("h1", height_m=30.0)])
            sc.set_status(ws.store, "plan", "published")
            record = check_scenario(ws.store, "plan", date(2026, 1, 1))
        entries = ws.store.audit.entries(AuditFilter(scenario="plan"))
        actions = [e.action for e in entries]
        assert actions == ["scenario.create", "scenario.edit", "scenario.publish", "scenario.check"]
        assert all(e.actor == "piet" and e.actor_id == piet.person_id for e in entries)
        assert entries[0].version == info.head_transaction
        edit = entries[1].details
        assert edit["interventions"][0] == {
            "kind": "modify", "layer": "houses", "id": "h1", "parameter": None,
            "title": "change h1",
        }  # fmt: skip
        assert entries[3].details["content_hash"] == record.content_hash
        assert record.user == "piet"  # the findings name the person, the log the act
    r = CliRunner().invoke(cli, ["audit", "verify", "--twin", str(root)])
    assert r.exit_code == 0 and "intact" in r.output, r.output


def test_a_change_and_its_entry_commit_together(root):
    with open_workspace(root) as ws:
        before = ws.store.audit.count()
        sc.create_scenario(ws.store, "plan")
        n = ws.store.audit.count()
        assert n == before + 1
        # a refused edit writes neither the change nor an entry
        with pytest.raises(InputError):
            sc.apply_interventions(ws.store, "plan", [modify("nope", height_m=1.0)])
        assert ws.store.audit.count() == n
        # an entry that cannot be written takes the change with it
        original = ws.store.audit.append

        def broken(**kwargs):
            raise sqlite3.OperationalError("disk I/O error")

        ws.store.audit.append = broken
        with pytest.raises(sqlite3.OperationalError):
            sc.apply_interventions(ws.store, "plan", [modify("h1", height_m=31.0)])
        ws.store.audit.append = original
        assert ws.store.audit.count() == n
        assert ws.store.scenarios.info("plan").interventions == 0
        houses = {f.id: f for f in ws.store.features("houses", scenario="plan")}
        assert houses["h1"].properties["height_m"] != 31.0


def tamper(root, sql: str, *args) -> None:
    """Someone with write access to the store's file or database changes it behind
    Tweeling's back."""
    with open_workspace(root) as ws, ws.store.unit():
        ws.store._con.execute(sql, args)


@pytest.mark.parametrize(
    "attack, found",
    [
        ("UPDATE tw_audit SET data = '{\"username\":\"eve\"}' WHERE seq = 2", "entry 2: its"),
        ("UPDATE tw_audit SET actor = 'mallory' WHERE seq = 3", "entry 3: its content"),
        ("DELETE FROM tw_audit WHERE seq = 2", "entry 2: missing"),
        ("DELETE FROM tw_audit WHERE seq = (SELECT max(seq) FROM tw_audit)", "from the end"),
        ("UPDATE tw_audit SET seq = seq + 1000 WHERE seq >= 3", "entry 3: missing"),
        (
            "INSERT INTO tw_audit SELECT 1000, at, 'mallory', NULL, action, object, scenario,"
            " version, data, prev, hash FROM tw_audit WHERE seq = 1",
            "entry",
        ),
    ],
)  # fmt: skip
def test_tweeling_audit_verify_finds_tampering(root, attack, found):
    with open_workspace(root) as ws:
        sc.create_scenario(ws.store, "plan")
    run = CliRunner().invoke
    assert run(cli, ["audit", "verify", "--twin", str(root)]).exit_code == 0
    tamper(root, attack)
    r = run(cli, ["audit", "verify", "--twin", str(root)])
    assert r.exit_code == 1 and found in r.output, r.output


def test_a_rewritten_chain_is_caught_by_an_anchor(root):
    run = CliRunner().invoke
    anchor = run(cli, ["audit", "head", "--twin", str(root)]).output.strip()
    # an attacker who knows the scheme recomputes every hash and the head
    with open_workspace(root) as ws, ws.store.unit():
        con = ws.store._con
        rows = con.execute("SELECT * FROM tw_audit ORDER BY seq").fetchall()
        prev = GENESIS
        for r in rows:
            data = '{"username":"mallory"}' if r[0] == 1 else r[8]
            h = entry_hash(*r[:8], data, prev)
            con.execute("UPDATE tw_audit SET data = ?, prev = ?, hash = ? WHERE seq = ?",
                        (data, prev, h, r[0]))  # fmt: skip
            prev = h
        con.execute("UPDATE tw_meta SET value = ? WHERE key = 'audit_head_hash'", (prev,))
    assert run(cli, ["audit", "verify", "--twin", str(root)]).exit_code == 0
    r = run(cli, ["audit", "verify", "--anchor", anchor, "--twin", str(root)])
    assert r.exit_code == 1 and "chain rewritten" in r.output


def test_the_api_filters_and_shows_each_person_what_they_may_see(root):
    with open_workspace(root) as ws:
        accounts.set_public(ws.store, True)
        piet = acting_as(ws.store.people.by_name("piet"), "session")
        with audit.acting(piet):
            sc.create_scenario(ws.store, "secret-draft")
            sc.create_scenario(ws.store, "open-plan")
            sc.apply_interventions(ws.store, "open-plan", [modify("h2", height_m=12.0)])
            sc.set_status(ws.store, "open-plan", "published")
        tokens = {
            n: accounts.create_token(ws.store, ws.store.people.by_name(n), "t").secret
            for n in ("ada", "olga")
        }
    with TestClient(create_app(root, hosts=["testserver"])) as c:

        def get(url, who=None):
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            r = c.get(url, headers=headers)
            assert r.status_code == 200, r.text
            return r.json()

        everything = get("/audit?limit=1000", "ada")["entries"]
        assert {"person.add", "token.create", "scenario.create"} <= {
            e["action"] for e in everything
        }
        mine = get("/audit?actor=piet&scenario=open-plan", "ada")["entries"]
        assert [e["action"] for e in mine] == [
            "scenario.create",
            "scenario.edit",
            "scenario.publish",
        ]
        assert get("/audit?object=scenarios/", "ada")["entries"][0]["object"].startswith(
            "scenarios/"
        )
        later = get(f"/audit?since={mine[1]['at']}&actor=piet", "ada")["entries"]
        assert [e["action"] for e in later] == ["scenario.edit", "scenario.publish"]
        for who in ("olga", None):
            seen = get("/audit?limit=1000", who)["entries"]
            text = orjson.dumps(seen).decode()
            assert "open-plan" in text and "secret-draft" not in text
            assert not [e for e in seen if e["action"].startswith(("person.", "token."))
                        and e["actor"] != "olga"]  # fmt: skip
        head = get("/audit/head")
        assert head["seq"] == len(everything)
        verified = c.get("/audit/verify", headers={"Authorization": f"Bearer {tokens['ada']}"})
        assert verified.json()["ok"] is True
        assert (
            c.get(
                "/audit/verify", headers={"Authorization": f"Bearer {tokens['olga']}"}
            ).status_code
            == 403
        )
        prov = c.get(
            "/audit?f=prov&scenario=open-plan", headers={"Authorization": f"Bearer {tokens['ada']}"}
        )
        assert prov.headers["content-type"] == "application/ld+json"
        doc = prov.json()
        assert doc["@context"]["prov"] == "http://www.w3.org/ns/prov#"
        acts = [g for g in doc["@graph"] if g["@type"] == "prov:Activity"]
        assert len(acts) == 3 and all(
            a["prov:wasAssociatedWith"]["@id"].endswith("/piet") for a in acts
        )
        agents = [g for g in doc["@graph"] if "prov:Agent" in g.get("@type", [])]
        assert any("prov:Person" in a["@type"] for a in agents)


def test_comments_and_moderation_are_logged_without_their_text(root):
    with open_workspace(root) as ws:
        ada, olga = (acting_as(ws.store.people.by_name(n), "session") for n in ("ada", "olga"))
        with audit.acting(ada):
            sc.create_scenario(ws.store, "plan")
            sc.set_status(ws.store, "plan", "published")
            r = participation.open_round(
                ws.store, title="t", question="q", opens_at="2020-01-01",
                closes_at="2099-01-01", alternatives=["plan"],
            )  # fmt: skip
        with audit.acting(olga):
            c = participation.add_comment(ws.store, r.id, "my private words about h1")
        with audit.acting(ada):
            participation.moderate(ws.store, c.id, hide=True, reason="personal data")
        entries = ws.store.audit.entries(AuditFilter(object=f"comments/{c.id}"))
        assert [e.action for e in entries] == ["comment.create", "comment.hide"]
        assert "my private words" not in entries[0].data and entries[0].details["sha256"]
        assert entries[1].details["reason"] == "personal data" and entries[1].actor == "ada"
        note = ws.store.rounds.notifications(olga.person_id)[0]
        assert "personal data" in note["text"]


def test_an_import_is_logged_with_its_file_hash_by_the_local_operator(root, tmp_path):
    rows = [orjson.loads(orjson.dumps({"type": "Feature", "id": f"p{i}", "properties":
            {"name": f"park {i}"}, "geometry": {"type": "Point", "coordinates":
            [4.36 + i / 1000, 52.01]}})) for i in range(3)]  # fmt: skip
    path = tmp_path / "parks.geojson"
    path.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": rows}))
    r = CliRunner().invoke(
        cli, ["import", "file", str(path), "--layer", "parks", "--twin", str(root)]
    )
    assert r.exit_code == 0, r.output
    with open_workspace(root) as ws:
        e = ws.store.audit.entries(AuditFilter(action="data.import"))[-1]
        import hashlib

        assert e.actor.startswith("local:") and e.actor_id is None
        assert e.details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert e.details["layers"]["parks"]["added"] == 3
        assert e.version == ws.store.transactions()[-1]["transaction"]
