"""OpenID Connect sign-in (api/oidc_routes.py), end to end over HTTP: the twin's app and a
real OpenID Provider (tests/oidc_provider.py, Authlib's server side) each served by uvicorn
on a free port of 127.0.0.1; an httpx client plays the browser, following the redirects
between them with its own cookie jar. No internet, no mocks of the protocol."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest
import tomli_w
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oidc_provider import OpenIDProvider, free_socket, serve
from tweeling.api import deps, oidc_routes
from tweeling.api.app import create_app
from tweeling.core.people import Role, check_username
from tweeling.core.records import AuditFilter
from tweeling.services import accounts
from tweeling.services.workspace import init_workspace, open_workspace

CLIENT_ID = "tweeling-test"
CLIENT_SECRET = "s3cret-" + "x" * 24  # must never show in an answer
SECRET_ENV = "TWEELING_TEST_OIDC_SECRET"
PROBLEM = "application/problem+json"


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    sock = free_socket()
    op = OpenIDProvider(f"http://127.0.0.1:{sock.getsockname()[1]}")
    op.add_user("alice", name="Alice de Boer", email="alice@example.org")
    op.add_user("bob", name="Bob", email="bob@example.org")
    op.add_user("Jan de Vries", name="Jan de Vries", email="jan@example.org")
    op.add_user("Piet.Jansen@Gemeente.NL", name="Piet Jansen")
    op.add_client(CLIENT_ID, CLIENT_SECRET, [])
    with serve(op.app, sock):
        yield op


@pytest.fixture(autouse=True)
def _ordinary(request) -> None:
    if "provider" in request.fixturenames:
        request.getfixturevalue("provider").reset()


class Twin:
    """A twin with an administrator and ``[oidc]`` pointing at the test provider, served."""

    def __init__(self, root: Path, url: str, provider: OpenIDProvider | None):
        self.root = root
        self.url = url
        self.provider = provider

    def store(self):
        return open_workspace(self.root).store

    def sign_in(self, browser: httpx.Client, as_user: str) -> list[httpx.Response]:
        """The whole flow; returns every response, the callback's last."""
        self.provider.login_as = as_user
        hops, _ = browse(
            browser,
            f"{self.url}/auth/oidc/login",
            stop=lambda u: u.startswith(f"{self.url}/viewer/"),
        )
        return hops

    def until_callback(self, browser: httpx.Client, as_user: str) -> str:
        """The flow up to (not into) the callback: its URL, as the provider sent it."""
        self.provider.login_as = as_user
        _, url = browse(
            browser, f"{self.url}/auth/oidc/login", stop=lambda u: "/auth/oidc/callback" in u
        )
        assert url is not None
        return url

    def account_of(self, username: str):
        """The twin's person for the provider's user ``username`` (None: no account)."""
        return self.store().people.by_oidc(self.provider.issuer, self.provider.users[username].sub)

    def me(self, browser: httpx.Client) -> dict:
        r = browser.get(f"{self.url}/auth/me")
        assert r.status_code == 200, r.text
        return r.json()


def make_twin(tmp_path: Path, oidc: dict | None) -> Path:
    root = tmp_path / "twin"
    with init_workspace(root, name="OIDC test") as ws:
        accounts.add_person(ws.store, "admin", Role.ADMINISTRATOR, password="admin-password-1")
    if oidc is not None:
        path = root / "twin.toml"
        config = tomllib.loads(path.read_text(encoding="utf-8"))
        config["oidc"] = oidc
        path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return root


@pytest.fixture
def twin(tmp_path, provider, monkeypatch) -> Iterator[Twin]:
    yield from _served(tmp_path, provider, monkeypatch, {})


def _served(tmp_path, provider, monkeypatch, extra: dict) -> Iterator[Twin]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    root = make_twin(tmp_path, oidc_table(provider, **extra))
    sock = free_socket()
    port = sock.getsockname()[1]
    provider.clients[CLIENT_ID].redirect_uris = [f"http://127.0.0.1:{port}/auth/oidc/callback"]
    with serve(create_app(root), sock) as url:
        yield Twin(root, url, provider)


def oidc_table(provider: OpenIDProvider, **extra) -> dict:
    return {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "default_role": "participant",
        "title": "Test provider",
        **extra,
    }


def browse(
    browser: httpx.Client, url: str, *, stop: Callable[[str], bool]
) -> tuple[list[httpx.Response], str | None]:
    """Follow redirects as a browser does, until one leads where ``stop`` says (not
    visited: its URL is returned) or an answer is not a redirect."""
    hops: list[httpx.Response] = []
    for _ in range(12):
        response = browser.get(url)
        hops.append(response)
        if not response.is_redirect:
            return hops, None
        url = urljoin(str(response.url), response.headers["location"])
        if stop(url):
            return hops, url
    raise AssertionError("too many redirects")


def new_browser() -> httpx.Client:
    return httpx.Client(timeout=20)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def assert_no_secrets(provider: OpenIDProvider, *responses: httpx.Response) -> None:
    """No client secret, code, access token or ID token in an answer's body or headers."""
    for response in responses:
        text = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        assert CLIENT_SECRET not in text
        for value in provider.issued:
            assert value not in text


def session_cookie(response: httpx.Response) -> str:
    return next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "session=" in v
    )


def logins(store, username: str) -> list[dict]:
    return [
        e.details
        for e in store.audit.entries(AuditFilter(action="auth.login"))
        if e.actor == username
    ]


# ---------------------------------------------------------------------------- the flow


def test_first_sign_in_creates_a_participant_and_a_second_finds_them(twin):
    browser = new_browser()
    hops = twin.sign_in(browser, "alice")
    callback = hops[-1]
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == f"{twin.url}/viewer/"
    assert "/auth/oidc/callback" in str(callback.url)
    cookie = session_cookie(callback).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie

    # what the app asked of the provider: code flow, state, nonce, PKCE S256, openid scope
    asked = twin.provider.authorize_requests[-1]
    assert asked["response_type"] == "code"
    assert asked["client_id"] == CLIENT_ID
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
    assert asked["state"] and asked["nonce"]
    assert "openid" in asked["scope"].split()
    assert asked["redirect_uri"] == f"{twin.url}/auth/oidc/callback"
    assert not any("secret" in k or "verifier" in k for k in asked)
    state_cookie = next(
        v for k, v in hops[0].headers.multi_items() if k == "set-cookie" and "tweeling_oidc" in v
    ).lower()
    assert "httponly" in state_cookie and "samesite=lax" in state_cookie
    assert "path=/auth/oidc/" in state_cookie and "max-age=600" in state_cookie

    me = twin.me(browser)
    assert me["signed_in"] is True
    assert me["via"] == "oidc"
    assert me["role"] == "participant"
    assert me["person"]["username"] == "alice"
    assert me["person"]["display_name"] == "Alice de Boer"
    assert me["person"]["sign_in"] == "openid-connect"
    assert me["csrf_token"]
    assert me["sign_in"]["oidc"] == {
        "title": "Test provider",
        "href": f"{twin.url}/auth/oidc/login",
    }

    alice = twin.provider.users["alice"]
    store = twin.store()
    person = store.people.by_oidc(twin.provider.issuer, alice.sub)
    assert person is not None and person.username == "alice" and person.role == Role.PARTICIPANT
    assert store.people.password_hash("alice")[1] is None  # no password to guess
    n_people = len(store.people.list())

    # a second sign-in, from another browser: the same person, no new account
    other = new_browser()
    assert twin.sign_in(other, "alice")[-1].status_code == 303
    assert twin.me(other)["person"]["username"] == "alice"
    store = twin.store()
    assert len(store.people.list()) == n_people == 2
    assert store.people.by_oidc(twin.provider.issuer, alice.sub).id == person.id

    # the audit log: the account made once (by the provider's word), two sign-ins
    added = [
        e
        for e in store.audit.entries(AuditFilter(action="person.add"))
        if e.details["username"] == "alice"
    ]
    assert len(added) == 1
    assert added[0].actor == "anonymous"  # nobody was signed in yet: the provider's word
    assert added[0].details["sign_in"] == "openid-connect"
    assert added[0].details["role"] == "participant"
    entries = logins(store, "alice")
    assert len(entries) == 2
    assert all(e["method"] == "openid-connect" and e["via"] == "oidc" for e in entries)

    # the same browser again: the provider's own session signs in without its login step
    again = twin.sign_in(browser, "alice")
    assert not any(urlsplit(str(h.url)).path == "/login" for h in again)
    assert again[-1].status_code == 303
    assert len(logins(twin.store(), "alice")) == 3

    # an OpenID Connect account has no password to sign in with
    r = new_browser().post(
        f"{twin.url}/auth/login", json={"username": "alice", "password": "x" * 12}
    )
    assert r.status_code == 401


def test_usernames_are_made_valid_and_unique(twin):
    with open_workspace(twin.root) as ws:
        accounts.add_person(ws.store, "jan.de.vries", Role.PLANNER, password="a-long-password")
    browser = new_browser()
    assert twin.sign_in(browser, "Jan de Vries")[-1].status_code == 303
    me = twin.me(browser)["person"]
    assert me["username"] == "jan.de.vries-2"  # the existing jan.de.vries is not linked
    assert me["display_name"] == "Jan de Vries"
    assert me["role"] == "participant"


def test_names_from_the_userinfo_endpoint_when_the_id_token_has_none(twin):
    twin.provider.profile_in_id_token = False
    browser = new_browser()
    assert twin.sign_in(browser, "Piet.Jansen@Gemeente.NL")[-1].status_code == 303
    me = twin.me(browser)["person"]
    assert me["username"] == "piet.jansen"  # not the e-mail address: others see usernames
    assert me["display_name"] == "Piet Jansen"


def test_a_disabled_person_is_refused(twin):
    browser = new_browser()
    assert twin.sign_in(browser, "bob")[-1].status_code == 303
    with open_workspace(twin.root) as ws:
        accounts.set_disabled(ws.store, "bob", True)
    assert twin.me(browser)["signed_in"] is False  # the running session ends too

    hops = twin.sign_in(new_browser(), "bob")
    body = assert_problem(hops[-1], 403, "disabled")
    assert "bob" in body["detail"]
    assert not any(k == "set-cookie" and "session=" in v for k, v in hops[-1].headers.multi_items())
    assert_no_secrets(twin.provider, hops[-1])
    assert len(logins(twin.store(), "bob")) == 1


def test_a_forged_state_is_refused(twin):
    browser = new_browser()
    url = twin.until_callback(browser, "alice")
    forged = browser.get(with_query(url, state="forged-state-value"))
    assert_problem(forged, 400, "state")
    assert twin.me(browser)["signed_in"] is False
    assert_no_secrets(twin.provider, forged)

    # without any state at all
    bare = browser.get(f"{twin.url}/auth/oidc/callback?code=abc")
    assert_problem(bare, 400, "state")


def test_a_callback_from_another_browser_is_refused(twin):
    """Login CSRF: Mallory's own, valid callback URL opened in Alice's browser."""
    url = twin.until_callback(new_browser(), "alice")
    victim = new_browser()
    r = victim.get(url)
    assert_problem(r, 400, "started in this browser")
    assert twin.me(victim)["signed_in"] is False
    assert_no_secrets(twin.provider, r)
    assert (
        twin.store().people.by_oidc(twin.provider.issuer, twin.provider.users["alice"].sub) is None
    )


def test_a_callback_is_used_once(twin):
    browser = new_browser()
    url = twin.until_callback(browser, "alice")
    assert browser.get(url).status_code == 303
    replay = browser.get(url)
    assert_problem(replay, 400, "state")
    assert_no_secrets(twin.provider, replay)


def test_the_provider_refusing_is_a_403(twin):
    twin.provider.deny = True
    browser = new_browser()
    hops = twin.sign_in(browser, "alice")
    assert "error=access_denied" in str(hops[-1].url)
    assert_problem(hops[-1], 403, "access_denied")
    assert twin.me(browser)["signed_in"] is False

    # an error link made by someone else: its text is not repeated
    r = new_browser().get(
        f"{twin.url}/auth/oidc/callback",
        params={"error": "access_denied", "error_description": "Call +31 6 12345678 now"},
    )
    body = assert_problem(r, 403, "access_denied")
    assert "Call" not in body["detail"]
    r = new_browser().get(f"{twin.url}/auth/oidc/callback", params={"error": "<script>"})
    assert "<script>" not in assert_problem(r, 400)["detail"]


@pytest.mark.parametrize(
    ("tamper", "rogue", "named"),
    [
        ({"aud": ["another-client"]}, None, "aud"),
        # aud without us but azp naming us: Authlib alone would let this pass
        ({"aud": ["another-client"], "azp": CLIENT_ID}, None, "aud"),
        ({"iss": "http://127.0.0.1:9/another-issuer"}, None, "iss"),
        ({"nonce": "another-nonce"}, None, "nonce"),
        ({"exp": 1_000_000_000}, None, "expired"),
        ({}, "signature", "signature"),
        ({}, "kid", "kid"),
    ],
    ids=["audience", "audience-azp", "issuer", "nonce", "expired", "signature", "kid"],
)
def test_an_invalid_id_token_is_refused(twin, tamper, rogue, named):
    twin.provider.tamper = tamper
    twin.provider.rogue = rogue
    browser = new_browser()
    hops = twin.sign_in(browser, "alice")
    body = assert_problem(hops[-1], 401, "ID token was refused")
    assert named in body["detail"].lower()
    assert twin.me(browser)["signed_in"] is False
    assert (
        twin.store().people.by_oidc(twin.provider.issuer, twin.provider.users["alice"].sub) is None
    )
    assert_no_secrets(twin.provider, hops[-1])


def test_an_unknown_client_secret_is_a_502_naming_no_secret(twin, provider):
    provider.clients[CLIENT_ID].client_secret = "another-secret-entirely"
    try:
        hops = twin.sign_in(new_browser(), "alice")
    finally:
        provider.clients[CLIENT_ID].client_secret = CLIENT_SECRET
    assert_problem(hops[-1], 502, "invalid_client")
    assert_no_secrets(provider, hops[-1])
    assert "another-secret-entirely" not in hops[-1].text


@pytest.fixture
def misnamed(tmp_path, provider, monkeypatch) -> Iterator[Twin]:
    """[oidc] whose issuer is not the one the discovery document names."""
    yield from _served(
        tmp_path,
        provider,
        monkeypatch,
        {
            "issuer": f"{provider.issuer}/elsewhere",
            "metadata_url": f"{provider.issuer}/.well-known/openid-configuration",
        },
    )


def test_a_discovery_document_of_another_issuer_is_refused(misnamed):
    r = new_browser().get(f"{misnamed.url}/auth/oidc/login")
    assert_problem(r, 502, "issuer")
    assert_no_secrets(misnamed.provider, r)


def test_over_https_the_cookies_are_secure_and_prefixed(tmp_path, provider, monkeypatch):
    """The twin behind TLS (TestClient on https://127.0.0.1), the provider as before."""
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    root = make_twin(tmp_path, oidc_table(provider))
    provider.clients[CLIENT_ID].redirect_uris = ["https://127.0.0.1/auth/oidc/callback"]
    provider.login_as = "alice"
    with TestClient(create_app(root), base_url="https://127.0.0.1") as app, new_browser() as op:
        r = app.get("/auth/oidc/login", follow_redirects=False)
        assert r.status_code == 302, r.text
        state = next(v for k, v in r.headers.multi_items() if k == "set-cookie")
        assert state.startswith("__Secure-tweeling_oidc=") and "secure" in state.lower()
        _, url = browse(op, r.headers["location"], stop=lambda u: u.startswith("https://"))
        assert url is not None and url.startswith("https://127.0.0.1/auth/oidc/callback?")
        r = app.get(url, follow_redirects=False)
        assert r.status_code == 303, r.text
        cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
        session = next(c for c in cookies if "session=" in c)
        assert session.startswith("__Host-tweeling_session=") and "secure" in session.lower()
        assert any(c.startswith('__Secure-tweeling_oidc=""') for c in cookies)  # cleared
        me = app.get("/auth/me").json()
        assert me["via"] == "oidc" and me["person"]["username"] == "alice"


def test_without_oidc_the_routes_are_404(tmp_path):
    root = make_twin(tmp_path, None)
    sock = free_socket()
    with serve(create_app(root), sock) as url, new_browser() as browser:
        for path in ("/auth/oidc/login", "/auth/oidc/callback?code=x&state=y"):
            assert_problem(browser.get(url + path), 404, "not configured")
        assert browser.get(f"{url}/auth/me").json()["sign_in"]["oidc"] is None


def test_the_routes_are_public_and_documented(twin):
    routes = [r for r in oidc_routes.router.routes if isinstance(r, APIRoute)]
    assert {r.path for r in routes} == {"/auth/oidc/login", "/auth/oidc/callback"}
    for route in routes:
        assert deps.rules_of(route) == [deps.PUBLIC]
    doc = new_browser().get(f"{twin.url}/openapi.json").json()
    for path in ("/auth/oidc/login", "/auth/oidc/callback"):
        assert {"400", "404", "502"} <= set(doc["paths"][path]["get"]["responses"])


# ---------------------------------------------------------------------------- usernames


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"preferred_username": "alice"}, "alice"),
        ({"preferred_username": "Jan de Vries"}, "jan.de.vries"),
        ({"preferred_username": "J.deVries@Gemeente.nl"}, "j.devries"),
        ({"email": "anne-marie@example.org"}, "anne-marie"),
        ({"name": "Renée Ørsted-Ĳzerman"}, "renee.orsted-ijzerman"),
        ({"preferred_username": "__x__", "name": "Straße"}, "strasse"),
        ({"preferred_username": "王", "email": "@example.org"}, "user"),
        ({}, "user"),
        ({"preferred_username": "a" * 200}, "a" * 64),
    ],
)
def test_username_from_claims(claims, expected):
    assert oidc_routes.username_from(claims) == expected


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(oidc_routes.NAME_CLAIMS), st.text(max_size=300)))
def test_a_derived_username_is_always_valid(claims):
    name = oidc_routes.username_from(claims)
    assert check_username(name) == name
    for attempt in (1, 25):
        candidate = oidc_routes._candidate(name, attempt)
        assert check_username(candidate) == candidate


def test_display_name_is_printable_and_short():
    assert oidc_routes.display_name_from({"name": "A\x00b\nc" + "d" * 300}) == "Abc" + "d" * 97
    assert oidc_routes.display_name_from({"given_name": "Jan", "family_name": "Smit"}) == (
        "Jan Smit"
    )


def test_a_sign_in_that_took_too_long_starts_again(twin, monkeypatch):
    browser = new_browser()
    url = twin.until_callback(browser, "alice")
    monkeypatch.setattr(oidc_routes, "STATE_MAX_AGE_S", -1)  # every state cookie is too old
    assert_problem(browser.get(url), 400, "state")
