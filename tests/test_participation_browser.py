"""Consultation in the web viewer, in real Chromium over the Delft demo twin (round 1 open on
example-wind-turbines): each role signs in through the viewer's own dialog and does what
that role does. A visitor sees no drafts and no drawing tools; a participant comments on a
building, supports and withdraws, forks a variant, moves a turbine (drag and arrow keys),
sees the model rerun and the variant against its alternative, makes it public, and sees
what changes at an address; the planner hides a comment with a reason and its author is
told. And nothing people write runs as script: payloads in every field a person can write,
through the API, then every panel and the HTML pages that show them, with the viewer's
Content Security Policy on. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.browser_support import (
    CHROMIUM_FLAGS,
    Server,
    api_client,
    chromium_path,
    set_passwords,
    shot,
    sign_in,
    sign_out,
    wait_until,
)
from tests.conftest import copy_demo

pytestmark = pytest.mark.slow
ROUND = 1
ALTERNATIVE = "example-wind-turbines"
TALLER = "b31bc4dc2-00ba-11e6-b420-2bdcc4ab5d7f"  # a building in the demo's centre
MAP_IDLE = "window.tweelingMap?.loaded() && window.tweelingMap.areTilesLoaded()"
CENTRE_ON = """(id) => {
  const m = window.tweelingMap;
  const f = m.querySourceFeatures('twin',
    {sourceLayer: 'buildings', filter: ['==', ['get', 'id'], id]})[0];
  const g = f.geometry;
  const ring = (g.type === 'Polygon' ? g.coordinates[0] : g.coordinates[0][0]).slice(0, -1);
  const c = ring.reduce((a, p) => [a[0] + p[0] / ring.length, a[1] + p[1] / ring.length], [0, 0]);
  m.jumpTo({center: c});
  const p = m.project(c);
  return [p.x, p.y];
}"""
# What an attacker would write: an element with an event handler, a script, and a quote
# that leaves an attribute. Each sets window.__xss if it ever runs.
PAYLOAD = (
    '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
    '"><svg onload=window.__xss=1>'
)
# nothing of the payloads became an element, nothing ran
NO_SCRIPT_RAN = """() => window.__xss === undefined
  && document.querySelectorAll('[onerror], [onload], img[src="x"], script:not([src])').length === 0
  && ![...document.querySelectorAll('svg')].some((s) => s.getAttribute('onload') !== null)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_master):
    twin = copy_demo(tmp_path_factory, demo_master)
    set_passwords(twin)
    srv = Server(twin)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield b
        b.close()


class Viewer:
    """One person's browser (its own cookies) on the viewer, collecting script errors and
    dialogs (an alert() from injected script would be one)."""

    def __init__(self, browser, server, path: str = "/viewer/"):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="nl-NL")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.failed: list[str] = []  # which requests failed: the console does not say
        self.page.on(
            "response",
            lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.open(server.url + path)

    def open(self, url: str) -> None:
        self.page.goto(url)
        wait_until(self.page, "document.body.dataset.ready !== undefined", timeout=60_000)
        assert self.page.evaluate("document.body.dataset.ready") == "true", self.errors
        self.idle()

    def idle(self) -> None:
        wait_until(self.page, MAP_IDLE, timeout=60_000)
        self.page.wait_for_timeout(200)

    def round_tab(self) -> None:
        self.page.locator("#tab-round").click()
        wait_until(self.page, "!document.querySelector('#round-page').hidden")
        wait_until(self.page, "document.querySelectorAll('#comment-list article').length > 0")

    def close(self) -> None:
        self.context.close()
        # a 204 (empty tile) is not an error; anything else in the console is
        assert not [e for e in self.errors if "204" not in e], (self.errors, self.failed)
        assert not self.dialogs, self.dialogs


@pytest.fixture
def viewer(browser, server):
    opened: list[Viewer] = []

    def make(path: str = "/viewer/") -> Viewer:
        v = Viewer(browser, server, path)
        opened.append(v)
        return v

    yield make
    for v in opened:
        v.close()


def options(page) -> list[str]:
    return page.eval_on_selector_all("#scenario option", "os => os.map(o => o.value)")


def wait_pressed(page, selector: str, pressed: bool) -> None:
    wait_until(
        page,
        "([s, v]) => document.querySelector(s)?.getAttribute('aria-pressed') === v",
        arg=[selector, "true" if pressed else "false"],
    )


def comments(server, username: str | None = None) -> dict[int, dict]:
    with api_client(server.url, username) as api:
        doc = api.get(f"/rounds/{ROUND}/comments").json()
    return {f["properties"]["id"]: f["properties"] for f in doc["features"]}


# ---------------------------------------------------------------------------- visitor


def test_a_visitor_sees_no_drafts_and_no_drawing_tools(viewer):
    v = viewer()
    page = v.page
    # the baseline, the published plan and the variant its author made public: no drafts,
    # no shared work of the staff
    assert options(page) == ["baseline", ALTERNATIVE, "r1-bram-1"]
    assert page.locator("#sec-draw").is_hidden()  # no drawing tools
    assert page.locator("#status-wrap").is_hidden()
    assert page.locator("#sign-in-open").is_visible()
    v.round_tab()
    assert page.locator("#round-title").inner_text().startswith("Windturbines")
    # reading, not writing: no comment form, no supports, no variants of one's own
    assert page.locator("#comment-form").is_hidden()
    assert page.locator("#comment-signin").is_visible()
    assert page.locator("#fork-form").is_hidden()
    assert page.locator("#comment-list button.support").count() == 0
    assert "keer gesteund" in page.locator("#comment-list").inner_text()
    assert (
        page.evaluate("window.tweelingMap.querySourceFeatures('comments').length") >= 1
    )  # the comments' places on the map
    shot(page, "participation-visitor")

    # the planner signs in in the same page: shared work and drawing tools appear ...
    page.locator("#tab-map").click()
    sign_in(page, "planner")
    assert "Planner gemeente Delft (demo) (planner)" in page.locator("#who").inner_text()
    assert {"example-taller-building", "example-traffic-calming"} <= set(options(page))
    assert page.locator("#sec-draw").is_visible()
    page.select_option("#scenario", "example-taller-building")
    wait_until(page, "!document.querySelector('#status-wrap').hidden")  # may publish it
    # ... and go again when they sign out
    sign_out(page)
    assert options(page) == ["baseline", ALTERNATIVE, "r1-bram-1"]
    # the administrator sees it all too
    sign_in(page, "beheer")
    assert "(beheerder)" in page.locator("#who").inner_text()
    assert {"example-taller-building", "example-nitrogen-sources"} <= set(options(page))
    assert page.locator("#sec-draw").is_visible()
    sign_out(page)
    assert options(page) == ["baseline", ALTERNATIVE, "r1-bram-1"]
    assert page.locator("#sec-draw").is_hidden()
    assert page.locator("#scenario").input_value() == "baseline"
    v.idle()

    # the round in English
    page.get_by_role("button", name="English").click()
    assert page.locator("#tab-round").inner_text() == "Consultation"
    v.round_tab()
    assert page.locator("#h-comments").inner_text() == "Comments"
    assert "supported" in page.locator("#comment-list").inner_text()
    page.get_by_role("button", name="Nederlands").click()
    assert page.locator("#h-comments").inner_text() == "Reacties"


# ---------------------------------------------------------------------------- participant


def test_a_participant_comments_supports_forks_moves_a_turbine_and_sees_what_changes(
    viewer, server
):
    v = viewer()
    page = v.page
    sign_in(page, "anna")
    assert "Anna, bewoner (demo) (deelnemer)" in page.locator("#who").inner_text()
    assert page.locator("#sec-draw").is_hidden()  # participants draw in their variants only
    v.round_tab()

    # a comment pinned to a building clicked on the map
    page.evaluate("window.tweelingMap.jumpTo({pitch: 0, bearing: 0, zoom: 18})")
    v.idle()
    page.evaluate(CENTRE_ON, TALLER)
    v.idle()
    x, y = page.evaluate(CENTRE_ON, TALLER)
    page.locator("#comment-place [data-place='building']").click()
    assert (
        page.locator("#comment-place [data-place='building']").get_attribute("aria-pressed")
        == "true"
    )
    page.locator("#map canvas").click(position={"x": x, "y": y})
    wait_until(page, f"document.querySelector('#place-status').innerText.includes('{TALLER}')")
    page.locator("#comment-body").fill("Dit gebouw krijgt meer geluid van de turbines. (test)")
    page.select_option("#comment-theme", "noise")
    page.select_option("#comment-scenario", ALTERNATIVE)
    page.locator("#comment-submit").click()
    wait_until(
        page, "document.querySelector('#comment-status').innerText === 'Uw reactie is geplaatst.'"
    )
    mine = [c for c in comments(server, "anna").values() if c["mine"] and "(test)" in c["body"]]
    assert len(mine) == 1
    assert mine[0]["object"] == f"buildings/{TALLER}"
    assert mine[0]["theme"] == "noise" and mine[0]["scenario"] == ALTERNATIVE
    new = mine[0]["id"]
    assert page.locator(f"#comment-{new}").is_visible()
    assert page.locator(f"#comment-{new}").evaluate("e => e.classList.contains('selected')")
    # its place is on the map, at the building
    assert page.evaluate(
        f"window.tweelingMap.querySourceFeatures('comments').some(f => f.properties.cid === {new})"
    )
    shot(page, "participation-comment-on-a-building")

    # support bram's reply (#3); withdraw the support anna gave #2 in the demo
    third = page.locator("#comment-3 button.support")
    assert third.get_attribute("aria-pressed") == "false"
    third.click()
    wait_pressed(page, "#comment-3 button.support", True)
    assert third.inner_text() == "Steunen (1)"
    second = page.locator("#comment-2 button.support")
    assert second.get_attribute("aria-pressed") == "true"
    second.click()
    wait_pressed(page, "#comment-2 button.support", False)
    found = comments(server, "anna")
    assert found[3]["supports"] == 1 and found[3]["supported_by_me"]
    assert found[2]["supports"] == 0 and not found[2]["supported_by_me"]
    # one's own comment cannot be supported: no button; it can be edited for a while
    assert page.locator(f"#comment-{new} button.support").count() == 0
    page.get_by_role("button", name=f"Reactie #{new} bewerken").click()
    assert page.locator("#comment-body").input_value().startswith("Dit gebouw")
    page.locator("#comment-body").fill("Dit gebouw krijgt meer slagschaduw. (test)")
    page.locator("#comment-submit").click()
    wait_until(page, f"document.querySelector('#comment-{new}').innerText.includes('slagschaduw')")
    assert "bewerkt" in page.locator(f"#comment-{new}").inner_text()
    assert comments(server, "anna")[new]["body"] == "Dit gebouw krijgt meer slagschaduw. (test)"

    # an answer to bram (#2) about an area drawn on the map: three corners clicked, the
    # fourth from the keyboard (the map centre), Enter ends the drawing
    page.get_by_role("button", name="Reageren op reactie #2").click()
    assert page.locator("#comment-reply").is_visible()
    page.locator("#comment-place [data-place='area']").click()
    canvas = page.locator("#map canvas")
    size = canvas.bounding_box()
    for dx, dy in [(-80, -60), (80, -60), (80, 60)]:
        canvas.click(position={"x": size["width"] / 2 + dx, "y": size["height"] / 2 + dy})
    page.locator("#place-centre").click()
    wait_until(page, "document.querySelector('#place-status').innerText.startsWith('vlak: 4')")
    page.locator("#map").press("Enter")
    wait_until(page, "document.querySelector('#place-centre').disabled")
    page.locator("#comment-body").fill("Hier zou de turbine beter passen. (test)")
    page.locator("#comment-submit").click()
    wait_until(page, "document.querySelector('#comment-status').innerText.endsWith('geplaatst.')")
    answer = next(c for c in comments(server, "anna").values() if c["parent"] == 2 and c["mine"])
    with api_client(server.url, "anna") as api:
        doc = api.get(f"/rounds/{ROUND}/comments").json()
    area = next(f["geometry"] for f in doc["features"] if f["id"] == answer["id"])
    assert area["type"] == "Polygon" and len(area["coordinates"][0]) == 5
    # threaded under #2
    assert page.locator(f"#comment-2 ~ ul.thread #comment-{answer['id']}").count() == 1

    # fork the alternative into a variant of one's own
    page.select_option("#fork-alternative", ALTERNATIVE)
    page.locator("#fork-description").fill("Turbine 2 verder van de wijk (test)")
    page.locator("#fork-submit").click()
    wait_until(
        page, "document.querySelector('#scenario').value.startsWith('r1-anna-')", timeout=30_000
    )
    variant = page.locator("#scenario").input_value()
    wait_until(page, "!document.querySelector('#variant-editor').hidden")
    wait_until(page, "document.querySelectorAll('#turbine-pick option').length === 4")
    v.idle()

    # move turbine 2: drag it on the map, then 25 m north with the arrow key
    page.select_option("#turbine-pick", "example-turbine-2")
    marker = page.locator(".turbine-marker")
    marker.wait_for(state="visible")
    page.wait_for_timeout(1200)  # the map eases to the turbine
    v.idle()
    box = marker.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 50, steps=8)
    page.mouse.up()
    wait_until(
        page,
        "document.querySelector('#variant-status').innerText.includes('m van de huidige plek')",
    )
    dragged = page.locator("#variant-status").inner_text()
    marker.focus()
    page.keyboard.press("ArrowUp")
    wait_until(
        page, "(t) => document.querySelector('#variant-status').innerText !== t", arg=dragged
    )
    page.locator("#turbine-rationale").fill("Verder van de woningen. (test)")
    page.locator("#turbine-save").click()
    wait_until(
        page,
        "/^(Klaar|Fout)/.test(document.querySelector('#variant-status').innerText)",
        timeout=120_000,
    )
    assert page.locator("#variant-status").inner_text().startswith("Klaar"), page.locator(
        "#variant-status"
    ).inner_text()
    # the variant against its alternative on the same indicators, what changes first
    results = page.locator("#variant-results")
    assert results.locator("table caption").first.inner_text() == "Indicatoren die veranderen"
    compared = results.text_content()
    assert "wind-turbines" in compared and "max_flicker_worst_h_per_yr" in compared
    assert ALTERNATIVE in compared and variant in compared
    # its noise map is shown
    assert page.locator("#overlay").input_value().endswith("/lden")
    v.idle()
    shot(page, "participation-variant-moved-turbine")
    with api_client(server.url, "anna") as api:
        diff = api.get(f"/scenarios/{variant}/diff").json()
        runs = api.get("/runs", params={"scenario": variant}).json()["runs"]
        log = api.get(f"/scenarios/{variant}/interventions").json()["interventions"]
    assert diff["layers"]["wind_turbines"]["modified"] == ["example-turbine-2"]
    assert [r["model"] for r in runs] == ["wind-turbines"]
    assert log[0]["rationale"] == "Verder van de woningen. (test)"
    # not public yet: visitors do not see it
    assert httpx.get(f"{server.url}/scenarios/{variant}").status_code == 404

    # make it public within the round
    page.locator("#variant-public").click()
    wait_pressed(page, "#variant-public", True)
    public = httpx.get(f"{server.url}/rounds/{ROUND}").json()["variants"]
    assert {"scenario": variant, "public": True} in [
        {"scenario": x["scenario"], "public": x["public"]} for x in public
    ]

    # what changes at an address, per alternative and variant
    page.locator("#address-q").fill(TALLER)
    page.locator("#address-form button[type=submit]").click()
    wait_until(
        page, "document.querySelector('#info-body').innerText.includes('Wat verandert er bij')"
    )
    wait_until(
        page, "(n) => document.querySelector('#info-body').innerText.includes(n)", arg=variant
    )
    text = page.locator("#info-body").inner_text()
    assert ALTERNATIVE in text and "r1-bram-1" in text
    assert "wind-turbines · lden_db" in text
    assert "t.o.v. alternatief" in text  # a variant against its alternative
    shot(page, "participation-address")


# ---------------------------------------------------------------------------- moderation


def test_the_planner_hides_a_comment_with_a_reason_and_its_author_is_told(viewer, server):
    with api_client(server.url, "bram") as api:
        r = api.post(
            f"/rounds/{ROUND}/comments",
            json={"body": "Mijn buurman heet Jan de Vries en woont op nummer 3. (test)"},
        )
        assert r.status_code == 201, r.text
        cid = r.json()["properties"]["id"]
    reason = "Persoonsgegevens van een ander. (test)"

    planner = viewer()
    page = planner.page
    sign_in(page, "planner")
    planner.round_tab()
    page.get_by_role("button", name=f"Reactie #{cid} verbergen").click()
    page.get_by_label("Reden van verbergen").fill(reason)
    page.get_by_role("button", name="Verbergen met deze reden").click()
    wait_until(page, f"document.querySelector('#comment-{cid}').innerText.includes('Reden: ')")
    assert reason in page.locator(f"#comment-{cid}").inner_text()
    assert page.get_by_role("button", name=f"Reactie #{cid} weer tonen").is_visible()
    shot(page, "participation-moderated")
    # visitors see that a comment was hidden, not what it said
    hidden = comments(server)[cid]
    assert hidden["hidden"] and hidden["body"] == "" and hidden["author"] == ""

    # its author is told, in the viewer, with the reason
    bram = viewer()
    page = bram.page
    sign_in(page, "bram")
    wait_until(page, "document.querySelector('#notifications-open').innerText.includes('nieuw')")
    page.locator("#notifications-open").click()
    wait_until(page, "document.querySelector('#notifications').open")
    note = page.locator("#notification-list li").first.inner_text()
    assert f"Uw reactie {cid} in ronde {ROUND} is verborgen door een moderator" in note
    assert reason in note
    shot(page, "participation-notification")
    page.get_by_role("button", name="Toon de reactie").first.click()
    wait_until(page, f"document.activeElement?.id === 'comment-{cid}'")
    assert reason in page.locator(f"#comment-{cid}").inner_text()  # the author sees why
    assert page.locator("#notifications-open").inner_text() == "Berichten"  # read now


# ---------------------------------------------------------------------------- no script


def test_nothing_people_write_runs_as_script(viewer, server):
    now = datetime.now(UTC)
    turbine_at = [4.3700, 52.0060]
    with api_client(server.url, "beheer") as admin:
        r = admin.post(
            "/people",
            json={
                "username": "xss",
                "role": "participant",
                "display_name": PAYLOAD,
                "password": "xss-test-password-2024",
            },
        )
        assert r.status_code == 201, r.text
    with api_client(server.url, "planner") as planner:
        r = planner.post("/scenarios", json={"name": "xss-plan", "description": PAYLOAD})
        assert r.status_code == 201, r.text
        r = planner.post(
            "/scenarios/xss-plan/interventions",
            json={
                "interventions": [
                    {
                        "kind": "add",
                        "layer": "wind_turbines",
                        "title": PAYLOAD,
                        "rationale": PAYLOAD,
                        "geometry": {"type": "Point", "coordinates": turbine_at},
                        "properties": {**TURBINE, "name": PAYLOAD, "turbine_type": PAYLOAD},
                    }
                ]
            },
        )
        assert r.status_code == 201, r.text
        turbine = r.json()["applied"][0]["id"]
        r = planner.put("/scenarios/xss-plan/status", json={"status": "published"})
        assert r.status_code == 200, r.text
        r = planner.post(
            "/rounds",
            json={
                "title": PAYLOAD,
                "question": PAYLOAD,
                "opens_at": (now - timedelta(days=1)).isoformat(),
                "closes_at": (now + timedelta(days=30)).isoformat(),
                "alternatives": ["xss-plan"],
                "allowed": [
                    {
                        "kind": "modify",
                        "layer": "wind_turbines",
                        "fields": ["geometry"],
                        "title": PAYLOAD,
                    }
                ],
                "documents": [{"title": PAYLOAD, "href": "/rounds"}],
            },
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        r = planner.post(
            f"/rounds/{rid}/comments",
            json={"body": PAYLOAD, "scenario": "xss-plan", "object": f"buildings/{TALLER}"},
        )
        assert r.status_code == 201, r.text
    with api_client(server.url, "xss", "xss-test-password-2024") as xss:
        r = xss.post(
            f"/rounds/{rid}/comments",
            json={
                "body": PAYLOAD,
                "theme": "other",
                "scenario": "xss-plan",
                "geometry": {
                    "type": "Point",
                    "coordinates": [turbine_at[0] + 0.0005, turbine_at[1]],
                },
            },
        )
        assert r.status_code == 201, r.text
        first = r.json()["properties"]["id"]
        r = xss.post(f"/rounds/{rid}/comments", json={"body": PAYLOAD, "parent": first})
        assert r.status_code == 201, r.text
        reply = r.json()["properties"]["id"]
        r = xss.post(
            f"/rounds/{rid}/variants", json={"alternative": "xss-plan", "description": PAYLOAD}
        )
        assert r.status_code == 201, r.text
        variant = r.json()["name"]
        r = xss.post(
            f"/scenarios/{variant}/interventions",
            json={
                "interventions": [
                    {
                        "kind": "modify",
                        "layer": "wind_turbines",
                        "id": turbine,
                        "title": PAYLOAD,
                        "rationale": PAYLOAD,
                        "geometry": {
                            "type": "Point",
                            "coordinates": [turbine_at[0], turbine_at[1] - 0.002],
                        },
                    }
                ]
            },
        )
        assert r.status_code == 201, r.text
        r = xss.put(f"/rounds/{rid}/variants/{variant}/public", json={"public": True})
        assert r.status_code == 200, r.text
    with api_client(server.url, "planner") as planner:
        r = planner.put(f"/comments/{reply}/hidden", json={"hidden": True, "reason": PAYLOAD})
        assert r.status_code == 200, r.text

    # the viewer keeps its Content Security Policy: no inline script, no eval
    csp = httpx.get(f"{server.url}/viewer/").headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp

    def every_panel(v: Viewer) -> None:
        page = v.page
        page.select_option("#scenario", "xss-plan")
        wait_until(
            page, "document.querySelector('#scenario-description').innerText.includes('<script>')"
        )
        wait_until(page, "!document.querySelector('#scenario-log').hidden")
        page.locator("#scenario-log summary").click()
        # a point by the turbine: the interventions nearby (their titles)
        page.evaluate(f"window.tweelingMap.jumpTo({{center: {turbine_at}, zoom: 17, pitch: 0}})")
        v.idle()
        box = page.locator("#map canvas").bounding_box()
        page.locator("#map canvas").click(position={"x": box["width"] / 2, "y": box["height"] / 2})
        wait_until(
            page, "document.querySelector('#info-body').innerText.includes('Ingrepen in de buurt')"
        )
        page.select_option("#scenario", variant)
        wait_until(page, "document.querySelector('#scenario-meta').innerText.includes('<img')")
        page.locator("#tab-round").click()
        wait_until(page, "document.querySelectorAll('#round-list button').length === 2")
        page.locator("#round-list button").last.click()  # the rounds in order: this one last
        wait_until(page, "document.querySelector('#round-title').innerText.includes('<script>')")
        wait_until(page, "document.querySelectorAll('#comment-list article').length >= 2")
        page.get_by_role("button", name=f"Vergelijk {variant} met zijn alternatief").click()
        wait_until(page, "document.querySelector('#variant-compare h3') !== null")
        # the address page at the turbine: per alternative and variant, the interventions
        page.locator("#address-q").fill(f"{turbine_at[0]},{turbine_at[1]}")
        page.locator("#address-form button[type=submit]").click()
        wait_until(
            page, "document.querySelector('#info-body').innerText.includes('Wat verandert er bij')"
        )
        assert PAYLOAD in page.locator("#info-body").inner_text()  # shown, as text
        assert PAYLOAD in page.locator("#pane-round").inner_text()
        assert page.evaluate(NO_SCRIPT_RAN)

    visitor = viewer()
    every_panel(visitor)
    shot(visitor.page, "participation-xss-visitor")

    author = viewer()
    sign_in(author.page, "xss", "xss-test-password-2024")
    assert PAYLOAD in author.page.locator("#who").inner_text()
    every_panel(author)
    # the hidden reply's reason, to its author, in the comment and in the notification
    assert author.page.locator(f"#comment-{reply} .hidden-note").inner_text().endswith(PAYLOAD)
    author.page.locator("#notifications-open").click()
    wait_until(author.page, "document.querySelector('#notifications').open")
    assert PAYLOAD in author.page.locator("#notification-list").inner_text()
    assert author.page.evaluate(NO_SCRIPT_RAN)
    author.page.locator("#notifications-close").click()
    shot(author.page, "participation-xss-author")

    moderator = viewer()
    sign_in(moderator.page, "planner")
    every_panel(moderator)
    assert PAYLOAD in moderator.page.locator(f"#comment-{reply}").inner_text()

    # the HTML pages that show the same texts
    page = visitor.page
    for path in [
        f"/rounds/{rid}/report?f=html",
        "/collections/wind_turbines/items?f=html&scenario=xss-plan",
        f"/collections/wind_turbines/items/{turbine}?f=html&scenario=xss-plan",
    ]:
        response = page.goto(server.url + path)
        assert response.status == 200, path
        assert "text/html" in response.headers["content-type"]
        assert page.evaluate(NO_SCRIPT_RAN), path
    page.goto(server.url + f"/rounds/{rid}/report?f=html")
    assert PAYLOAD in page.locator("body").inner_text()
    visitor.errors.clear()  # the pages above are not the viewer


# the illustrative turbine of web/draw.js (examples/scenarios/wind-turbines.yaml)
TURBINE = {
    "turbine_type": "illustrative 4.2 MW class, 126 m rotor",
    "hub_height_m": 125.0,
    "rotor_diameter_m": 126.0,
    "lw_63hz_dba": 88.0,
    "lw_125hz_dba": 95.0,
    "lw_250hz_dba": 98.5,
    "lw_500hz_dba": 100.0,
    "lw_1khz_dba": 100.0,
    "lw_2khz_dba": 97.5,
    "lw_4khz_dba": 92.5,
    "lw_8khz_dba": 83.0,
}
