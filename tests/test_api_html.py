"""HTML pages of the OGC API (OGC 17-069r4 §8.2): content negotiation (browsers get HTML,
GIS clients JSON), alternate links both ways, the items table with paging and the scenario
in the title, escaping of hostile input, language switch, and accessibility basics."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest
import shapely
from fastapi.testclient import TestClient

from tests.scenario_support import modify, seed_twin
from tweeling.api import html as html_api
from tweeling.api.app import create_app
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PAGES = [
    "/",
    "/conformance",
    "/collections",
    "/collections/houses",
    "/collections/houses/items",
    "/collections/houses/items/h1",
]


def notes_batch() -> ImportBatch:
    schema = LayerSchema(
        "notes",
        "POINT",
        {"label": "TEXT", "url": "TEXT", "geometry_3d": "JSON"},
        title="Notes <i>on</i> things",
    )
    point = shapely.Point(85_010, 447_510)
    records = [
        FeatureRecord(
            "notes",
            "n1",
            point,
            {"label": "<b>bold</b> & co", "url": "javascript:alert(1)", "geometry_3d": [1, 2]},
        ),
        FeatureRecord("notes", "n2", point, {"label": "plain", "url": "https://example.org/x"}),
    ]
    return ImportBatch("test:notes", "notes.json", [schema], records, total=2)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("html")  # one twin for the module: tests only read
    ws = init_workspace(tmp_path / "twin")
    seed_twin(ws)
    ws.store.write(notes_batch())
    sc.create_scenario(ws.store, "taller")
    sc.apply_interventions(ws.store, "taller", [modify("h1", height_m=30.0)])
    ws.close()
    with TestClient(create_app(tmp_path / "twin", hosts=["testserver"])) as c:
        yield c


class Page(HTMLParser):
    """What a test needs of a page: tags with attributes, headings, link texts, text."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.headings: list[int] = []
        self.style = ""
        self._a: dict | None = None
        self._text: list[str] = []
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "a":
            self._a, self._text = a, []
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "a" and self._a is not None:
            self.links.append((self._a.get("href", ""), "".join(self._text).strip()))
            self._a = None
        self._in_style = False

    def handle_data(self, data):
        if self._a is not None:
            self._text.append(data)
        if self._in_style:
            self.style += data

    def attrs(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]

    def href(self, text: str) -> str:
        return next(h for h, t in self.links if t == text).replace("http://testserver", "")


def get_html(client, url: str, **kw) -> Page:
    response = client.get(url, headers=BROWSER, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


@pytest.mark.parametrize("url", PAGES)
def test_a_browser_gets_html_and_gis_clients_keep_getting_json(client, url):
    page = get_html(client, url)
    assert page.attrs("html")[0]["lang"] == "nl"
    for accept in (None, "*/*", "application/geo+json, application/json", "application/json",
                   "text/html;q=0.5, application/json"):  # fmt: skip
        headers = {"Accept": accept} if accept else {}
        response = client.get(url, headers=headers)
        assert response.headers["content-type"] in ("application/json", "application/geo+json")
        assert "Accept" in {v.strip() for v in response.headers["vary"].split(",")}
    assert client.get(url, headers={"Accept": "text/html, */*"}).text.startswith("<!doctype")


@pytest.mark.parametrize("url", PAGES)
def test_f_overrides_accept(client, url):
    joiner = "&" if "?" in url else "?"
    as_json = client.get(f"{url}{joiner}f=json", headers=BROWSER)
    assert as_json.headers["content-type"] in ("application/json", "application/geo+json")
    as_html = client.get(f"{url}{joiner}f=html", headers={"Accept": "application/json"})
    assert as_html.headers["content-type"].startswith("text/html")
    assert client.get(f"{url}{joiner}f=xml").status_code == 400


@pytest.mark.parametrize("url", PAGES)
def test_json_links_to_its_html_page_and_back(client, url):
    body = client.get(url).json()
    alternate = [link for link in body["links"] if link["rel"] == "alternate"]
    assert [link["type"] for link in alternate] == ["text/html"]
    page = get_html(client, alternate[0]["href"].replace("http://testserver", ""))
    (back,) = [a for a in page.attrs("link") if a.get("rel") == "alternate"]
    again = client.get(back["href"].replace("http://testserver", ""), headers=BROWSER)
    assert again.headers["content-type"] == back["type"]
    assert again.json()["links"][0]["rel"] == "self"
    # every link of the JSON document is an <a> on the page (/req/html/content); the page's
    # own links (self, alternate, paging) point to pages in its own format
    hrefs = {h for h, _ in page.links}
    own = ("self", "alternate", "next", "prev")
    assert {x["href"] for x in body["links"] if x["rel"] not in own} <= hrefs
    rels = {x["rel"] for x in body["links"]}
    assert rels <= {a.get("rel") for a in page.attrs("a")}


def test_items_page_table_paging_and_scenario_in_the_title(client):
    page = get_html(client, "/collections/notes/items")
    headers = [a.get("scope") for a in page.attrs("th")]
    assert headers and set(headers) == {"col", "row"}
    assert "geometry_3d" not in client.get("/collections/notes/items", headers=BROWSER).text
    seen, url = [], "/collections/houses/items?limit=7"
    while url:
        page = get_html(client, url)
        seen += [t for h, t in page.links if "/collections/houses/items/h" in h]
        nxt = [h for h, t in page.links if t == "Volgende pagina"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert sorted(seen) == sorted(f"h{i}" for i in range(30))
    back = get_html(client, "/collections/houses/items?limit=7&offset=7")
    assert "offset=0" in back.href("Vorige pagina")
    title = client.get("/collections/houses/items?scenario=taller", headers=BROWSER).text
    assert re.search(r"<h1>[^<]*scenario taller</h1>", title)
    item = client.get("/collections/houses/items/h1?scenario=taller", headers=BROWSER).text
    assert "<td>30.0</td>" in item and "scenario taller" in item


def test_hostile_input_is_escaped_or_refused(client):
    script = "<script>alert(1)</script>"
    for url in (
        f"/collections/houses/items?scenario={script}",
        f"/collections/houses/items/h1?scenario={script}",
        f"/collections/{script}/items",
        f"/collections/houses/items/{script}",
    ):
        response = client.get(url, headers=BROWSER)
        assert 400 <= response.status_code < 500, url
        assert not response.headers["content-type"].startswith("text/html")
    text = client.get("/collections/notes/items/n1", headers=BROWSER).text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in text and "<b>bold" not in text
    assert "Notes &lt;i&gt;on&lt;/i&gt; things" in text and "<i>on" not in text
    page = Page(text)
    assert not [h for h, _ in page.links if h.startswith("javascript")]
    plain = Page(client.get("/collections/notes/items/n2", headers=BROWSER).text)
    assert ("https://example.org/x", "https://example.org/x") in plain.links
    items = client.get(f"/collections/notes/items?datetime={script}", headers=BROWSER)
    assert items.status_code == 400


@pytest.mark.parametrize("url", PAGES)
def test_pages_load_nothing_else_and_are_accessible(client, url):
    response = client.get(url, headers=BROWSER)
    page = Page(response.text)
    # no JavaScript, no CDN, no fonts: nothing but the page itself is loaded
    assert not page.attrs("script") and not page.attrs("img") and not page.attrs("iframe")
    assert not [a for _, a in page.tags if "src" in a or "style" in a]
    assert [a["rel"] for a in page.attrs("link")] == ["alternate"]
    csp = response.headers["content-security-policy"]
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    # one h1, headings in order (no level skipped), tables with header cells and scopes
    assert page.headings[0] == 1 and page.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False))
    for th in page.attrs("th"):
        assert th.get("scope") in ("col", "row")
    # link texts say where they go: none empty, none a bare "here"
    assert all(text and text.lower() not in ("here", "hier", "link") for _, text in page.links)
    assert any(h == "http://testserver/viewer/" for h, _ in page.links)
    # a form's inputs have labels
    labelled = {a.get("for") for a in page.attrs("label")}
    for field in page.attrs("input"):
        assert field.get("type") == "hidden" or field.get("id") in labelled


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_colours_have_enough_contrast():
    """WCAG 2.1 SC 1.4.3: at least 4.5:1 for text, on every background the pages use."""
    colours = set(re.findall(r"(?:^|[;{])color:(#[0-9a-f]{6})", html_api.CSS))
    backgrounds = set(re.findall(r"background:(#[0-9a-f]{6})", html_api.CSS))
    assert colours and backgrounds
    for fg in colours:
        for bg in backgrounds:
            hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
            assert (hi + 0.05) / (lo + 0.05) >= 4.5, (fg, bg)


def test_english_labels_with_lang_en(client):
    page = get_html(client, "/collections?lang=en")
    assert page.attrs("html")[0]["lang"] == "en"
    assert page.href("Items of houses").endswith("/collections/houses/items?lang=en")
    to_dutch = page.href("Nederlands")
    assert "lang" not in to_dutch and get_html(client, to_dutch).attrs("html")[0]["lang"] == "nl"
    assert client.get("/collections?lang=de", headers=BROWSER).status_code == 400
    nl = get_html(client, "/collections")
    assert nl.href("Objecten van houses").endswith("/collections/houses/items")


def test_the_json_responses_are_unchanged_for_clients(client):
    """Plain JSON clients see the same documents as before, plus the alternate links."""
    body = client.get("/collections/houses/items?limit=5").json()
    assert body["numberReturned"] == 5 and body["numberMatched"] == 30
    assert {"self", "alternate", "collection", "next"} == {x["rel"] for x in body["links"]}
    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html"
        in (client.get("/conformance").json()["conformsTo"])
    )
