"""Accounts, sign-in, sessions with CSRF, API tokens and their scopes, throttling, the last
administrator, and `tweeling serve` refusing to expose a twin without accounts (issue 12,
"Identity")."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.scenario_support import seed_twin
from tweeling.api.app import create_app
from tweeling.cli.main import app as cli
from tweeling.core.errors import InputError, Throttled, WorkspaceError
from tweeling.core.people import Role
from tweeling.services import accounts
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace, open_workspace

PASSWORD = "correct horse battery"


@pytest.fixture
def root(tmp_path, store_url):
    root = tmp_path / "twin"
    with init_workspace(root, store=store_url()) as ws:
        seed_twin(ws, 6)
        accounts.add_person(ws.store, "ada", "administrator", password=PASSWORD)
        accounts.add_person(ws.store, "piet", "planner", password=PASSWORD, display_name="Piet")
        accounts.add_person(ws.store, "olga", "participant", password=PASSWORD)
        sc.create_scenario(ws.store, "plan")  # made by the operator: planners' common work
    return root


@pytest.fixture
def client(root):
    # https: the session cookie is Secure, as on a real server
    with TestClient(create_app(root, hosts=["testserver"]), base_url="https://testserver") as c:
        yield c


def sign_in(client, username, password=PASSWORD):
    r = client.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["csrf_token"]


def test_the_cli_stores_passwords_with_the_production_argon2id_cost(tmp_path):
    """A real ``tweeling`` process (not this test process, whose hashing is cheap): RFC 9106's
    recommended Argon2id cost, above OWASP's minimum (m >= 19 MiB, t >= 2)."""
    import subprocess
    import sys
    from pathlib import Path

    from argon2 import extract_parameters

    tweeling = Path(sys.executable).with_name("tweeling")
    subprocess.run([tweeling, "init", tmp_path / "t"], check=True, capture_output=True)
    add = [tweeling, "user", "add", "ada", "--role", "administrator", "--password-stdin"]
    subprocess.run(
        [*add, "--twin", tmp_path / "t"],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    with open_workspace(tmp_path / "t") as ws:
        _, digest = ws.store.people.password_hash("ada")
    made = extract_parameters(digest)
    production = accounts.HASHER
    assert digest.startswith("$argon2id$")
    assert (made.memory_cost, made.time_cost, made.parallelism) == (
        production.memory_cost,
        production.time_cost,
        production.parallelism,
    )
    assert made.memory_cost >= 19 * 1024 and made.time_cost >= 2


def test_passwords_are_stored_as_argon2id_hashes_only(root):
    with open_workspace(root) as ws:
        person, digest = ws.store.people.password_hash("ada")
        assert digest.startswith("$argon2id$") and PASSWORD not in digest
        assert accounts.authenticate(ws.store, "ada", PASSWORD).id == person.id
        with pytest.raises(accounts.SignInFailed):
            accounts.authenticate(ws.store, "ada", "wrong password!!")
        with pytest.raises(InputError, match="12 to 128"):
            accounts.add_person(ws.store, "short", "participant", password="tooshort")
        for weak in ("password1234", "aaaaaaaaaaaaaaaa", "ada-ada-ada-ada", "qwertyuiop12"):
            with pytest.raises(InputError, match="harder password"):
                accounts.add_person(ws.store, "weak", "participant", password=weak)
        with pytest.raises(InputError, match="username"):
            accounts.add_person(ws.store, "Bad Name", "participant")
        with pytest.raises(InputError, match="unknown role"):
            accounts.add_person(ws.store, "eve", "emperor")


def test_a_session_cookie_is_httponly_strict_and_writes_need_the_csrf_token(client):
    r = client.post("/auth/login", json={"username": "piet", "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    for attribute in (
        "__host-tweeling_session=",
        "httponly",
        "samesite=strict",
        "secure",
        "path=/",
    ):
        assert attribute in cookie
    assert "domain" not in cookie and r.headers["strict-transport-security"].startswith("max-age")
    csrf = r.json()["csrf_token"]
    me = client.get("/auth/me").json()
    assert me["person"]["username"] == "piet" and me["role"] == "planner"
    assert me["csrf_token"] == csrf and "scenario.create" in me["may"]
    body = {"name": "homes", "description": "new homes"}
    refused = client.post("/scenarios", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    wrong = client.post("/scenarios", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    made = client.post("/scenarios", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201 and made.json()["mine"] is True
    assert made.json()["author"] == "Piet"  # from the account, not from the request
    # signing out ends the session on the server: the old cookie no longer works
    old = client.cookies.get("__Host-tweeling_session")
    assert client.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.set("__Host-tweeling_session", old)
    assert client.get("/auth/me").json()["signed_in"] is False


def test_a_sign_in_from_another_site_is_refused(client):
    r = client.post(
        "/auth/login",
        json={"username": "piet", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_plain_http_sign_in_is_refused_except_on_loopback(root):
    with TestClient(create_app(root, hosts=["testserver"])) as c:  # http://testserver
        r = c.post("/auth/login", json={"username": "piet", "password": PASSWORD})
        assert r.status_code == 400 and "https" in r.json()["detail"]
    with TestClient(create_app(root), base_url="http://127.0.0.1:8000") as c:
        r = c.post("/auth/login", json={"username": "piet", "password": PASSWORD})
        assert r.status_code == 200 and "secure" not in r.headers["set-cookie"].lower()


def test_wrong_passwords_are_throttled_and_a_right_one_waits_too(root, client):
    for _ in range(accounts.USER_FAILURES):
        r = client.post("/auth/login", json={"username": "olga", "password": "not the one!!"})
        assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
    locked = client.post("/auth/login", json={"username": "olga", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    # an unknown username answers exactly as a wrong password does
    r = client.post("/auth/login", json={"username": "nobody", "password": "whatever12345"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
    with open_workspace(root) as ws:
        lock = ws.store.audit.entries()[-1]
        assert lock.action == "auth.lockout" and lock.details["username"] == "olga"
        with pytest.raises(Throttled):
            accounts.authenticate(ws.store, "olga", PASSWORD)


def test_tokens_are_shown_once_stored_hashed_scoped_and_revocable(root, client):
    csrf = sign_in(client, "piet")
    made = client.post(
        "/auth/tokens",
        json={"name": "QGIS", "scope": "read", "days": 30},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 201
    token = made.json()["token"]
    listed = client.get("/auth/tokens").json()["tokens"]
    assert listed[0]["name"] == "QGIS" and token not in str(listed)
    with open_workspace(root) as ws:
        assert token.split("_", 2)[2] not in str(ws.store.people.tokens())
    bare = TestClient(client.app, base_url="https://testserver")
    auth = {"Authorization": f"Bearer {token}"}
    assert bare.get("/scenarios/plan", headers=auth).status_code == 200
    write = bare.post("/scenarios", json={"name": "x"}, headers=auth)
    assert write.status_code == 403 and "read" in write.json()["detail"]
    # a token cannot make tokens
    more = bare.post("/auth/tokens", json={"name": "more", "scope": "write"}, headers=auth)
    assert more.status_code == 403
    tid = made.json()["id"]
    gone = client.delete(f"/auth/tokens/{tid}", headers={"X-CSRF-Token": csrf})
    assert gone.status_code == 204
    after = bare.get("/scenarios/plan", headers=auth)
    assert after.status_code == 401 and after.headers["www-authenticate"].startswith("Bearer")
    for forged in ("Bearer tw_1_forged", "Basic YTpi", "Bearer "):
        assert bare.get("/scenarios", headers={"Authorization": forged}).status_code == 401


def test_disabling_a_person_ends_their_sessions_and_tokens(root, client):
    sign_in(client, "olga")
    with open_workspace(root) as ws:
        token = accounts.create_token(ws.store, ws.store.people.by_name("olga"), "script").secret
        accounts.set_disabled(ws.store, "olga", True)
    assert client.get("/auth/me").json()["signed_in"] is False
    bare = TestClient(client.app, base_url="https://testserver")
    assert bare.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    r = client.post("/auth/login", json={"username": "olga", "password": PASSWORD})
    assert r.status_code == 401


def test_the_last_administrator_stays(root):
    with open_workspace(root) as ws:
        with pytest.raises(InputError, match="last administrator"):
            accounts.set_role(ws.store, "ada", "planner")
        with pytest.raises(InputError, match="last administrator"):
            accounts.set_disabled(ws.store, "ada", True)
        accounts.set_role(ws.store, "piet", "administrator")
        assert accounts.set_role(ws.store, "ada", "planner").role == Role.PLANNER


def test_administrators_manage_people_over_http_others_cannot(client):
    csrf = sign_in(client, "piet")
    assert client.get("/people").status_code == 403
    client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    csrf = sign_in(client, "ada")
    h = {"X-CSRF-Token": csrf}
    made = client.post("/people", json={"username": "nina", "role": "reviewer"}, headers=h)
    assert made.status_code == 201 and len(made.json()["password"]) >= 20
    again = client.get("/people").text
    assert made.json()["password"] not in again and "argon2" not in again
    r = client.put("/people/nina/role", json={"role": "data-steward"}, headers=h)
    assert r.json()["role"] == "data-steward"
    assert client.put("/access", json={"public": True}, headers=h).json() == {"public": True}


def test_a_private_twin_answers_visitors_401_a_public_one_shows_published_work(root, client):
    assert client.get("/collections").status_code == 401
    assert client.get("/").status_code == 200  # the landing page holds no data
    with open_workspace(root) as ws:
        accounts.set_public(ws.store, True)
    assert client.get("/collections").status_code == 200
    assert client.get("/scenarios").json()["scenarios"] == []  # "plan" is a draft
    assert client.get("/scenarios/plan").status_code == 404  # unknown to a visitor
    assert client.post("/scenarios", json={"name": "x"}).status_code == 401


def test_the_cli_manages_people_and_shows_secrets_once(root):
    run = CliRunner().invoke
    made = run(cli, ["user", "add", "kees", "--role", "planner", "--twin", str(root)])
    assert made.exit_code == 0, made.output
    password = made.output.strip().splitlines()[-1]
    with open_workspace(root) as ws:
        assert accounts.authenticate(ws.store, "kees", password).username == "kees"
    listed = run(cli, ["user", "list", "--twin", str(root)])
    assert "kees" in listed.output and password not in listed.output
    token = run(cli, ["token", "create", "kees", "--name", "qgis", "--twin", str(root)])
    secret = token.output.strip().splitlines()[-1]
    assert secret.startswith("tw_")
    assert secret not in run(cli, ["token", "list", "--twin", str(root)]).output
    assert run(cli, ["user", "role", "kees", "emperor", "--twin", str(root)]).exit_code == 1
    assert run(cli, ["user", "disable", "kees", "--twin", str(root)]).exit_code == 0
    with open_workspace(root) as ws:
        assert ws.store.people.by_name("kees").disabled
        assert accounts.resolve_token(ws.store, secret) is None


def test_serving_beyond_loopback_needs_accounts_and_host_names(tmp_path, root):
    empty = tmp_path / "empty"
    init_workspace(empty).close()
    with pytest.raises(WorkspaceError, match="add accounts first"):
        create_app(empty, bind="0.0.0.0")
    with pytest.raises(WorkspaceError, match="host names"):
        create_app(root, bind="0.0.0.0")
    app = create_app(root, bind="0.0.0.0", hosts=["twin.example.nl"])
    with TestClient(app, base_url="https://twin.example.nl") as c:
        assert c.get("/").status_code == 200
        assert c.get("/", headers={"Host": "rebind.attacker.example"}).status_code == 421
    # a twin without accounts on 127.0.0.1: its local user is the operator, as before
    with TestClient(create_app(empty), base_url="http://127.0.0.1:8000") as c:
        me = c.get("/auth/me").json()
        assert me["via"] == "local" and me["role"] == "administrator"
        assert c.post("/scenarios", json={"name": "mine"}).status_code == 201


def test_people_change_their_own_password_knowing_the_current_one(root, client):
    csrf = sign_in(client, "olga")
    h = {"X-CSRF-Token": csrf}
    wrong = client.put("/auth/password", json={"current": "not it at all", "new": "x"}, headers=h)
    assert wrong.status_code == 400 and "current" in wrong.json()["detail"]
    weak = client.put(
        "/auth/password", json={"current": PASSWORD, "new": "password1234"}, headers=h
    )
    assert weak.status_code == 400 and "harder" in weak.json()["detail"]
    new = "purple tulips along the canal"
    done = client.put("/auth/password", json={"current": PASSWORD, "new": new}, headers=h)
    assert done.status_code == 204
    assert client.get("/auth/me").json()["signed_in"] is False  # signed out everywhere
    sign_in(client, "olga", new)
    note = client.get("/auth/notifications").json()["notifications"][0]
    assert "password was changed" in note["text"]
