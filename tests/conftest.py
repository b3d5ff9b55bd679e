"""Shared fixtures. The real Dutch sample data lives in ../shared/data (read-only)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("TWEELING_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """Argon2id at its lowest cost inside the test process: fixtures add hundreds of
    accounts, and each hash at the real cost takes 0.3–0.7 s of CPU. Servers the tests start
    as processes hash at the real cost (test_people checks a hash one made), and verifying
    works for hashes of either cost."""
    from argon2 import PasswordHasher

    from tweeling.services import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "_hasher", cheap)
        mp.setattr(accounts, "_DUMMY", cheap.hash("not the password of anyone"))
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = data_dir()
    if not (path / "delft" / "delft.city.json").exists():
        # Never skip: CI must have the data beside the checkout.
        pytest.fail(f"sample data not found at {path} (set TWEELING_DATA)")
    return path


@pytest.fixture(scope="session")
def demo_master(tmp_path_factory, shared_data) -> Path:
    """The Delft demo twin (with its model runs and checked scenarios), built once per test
    session through the CLI as a user builds it; tests work on copies (``copy_demo``)."""
    from typer.testing import CliRunner

    from tweeling.cli.main import app

    root = tmp_path_factory.mktemp("demo-master") / "delft"
    result = CliRunner().invoke(app, ["demo", "--twin", str(root), "--data", str(shared_data)])
    assert result.exit_code == 0, result.output
    return root


def copy_demo(tmp_path_factory, master: Path) -> Path:
    import shutil

    root = tmp_path_factory.mktemp("demo") / "twin"
    shutil.copytree(master, root)
    return root


def bearer(root: Path, username: str = "planner", scope: str = "write") -> dict[str, str]:
    """The Authorization header of a fresh API token for a person of the twin in ``root``
    (the demo has beheer, planner, anna and bram): tests act as that person."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    with open_workspace(root) as ws:
        person = ws.store.people.by_name(username)
        token = accounts.create_token(ws.store, person, "tests", scope=scope)
    return {"Authorization": f"Bearer {token.secret}"}


# ---------------------------------------------------------------------------- PostgreSQL

# The server the PostGIS tests use (scripts/postgis.sh installs PostGIS and starts it);
# each test gets a database of its own, dropped afterwards.
PG_ADMIN = os.environ.get("TWEELING_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_pg_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN, connect_timeout=5).close()
    except psycopg.OperationalError as exc:  # never skip: the test command starts it
        pytest.fail(f"PostgreSQL does not answer at {PG_ADMIN} ({exc}); run scripts/postgis.sh")
    return PG_ADMIN


@pytest.fixture(scope="session")
def pg_template(pg_admin_url) -> str:
    """A database with PostGIS enabled, the template of every test database (creating
    the extension takes a second; copying a template a tenth of that)."""
    import psycopg

    name = f"tweeling_template_{os.getpid()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(_db_url(pg_admin_url, name), autocommit=True) as con:
        con.execute("CREATE EXTENSION postgis")
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _db_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


class PgDatabases:
    """New, empty databases with PostGIS (from the template), dropped at the end."""

    def __init__(self, admin_url: str, template: str):
        self.admin_url, self.template, self.made = admin_url, template, []

    def new(self, template: str | None = None) -> str:
        import psycopg

        name = f"tweeling_test_{os.getpid()}_{next(_pg_databases)}"
        with psycopg.connect(self.admin_url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or self.template}"')
        self.made.append(name)
        return _db_url(self.admin_url, name)

    def drop_all(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as con:
            for name in self.made:
                con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()


@pytest.fixture
def pg_databases(pg_admin_url, pg_template):
    dbs = PgDatabases(pg_admin_url, pg_template)
    yield dbs
    dbs.drop_all()


@pytest.fixture
def pg_database(pg_databases) -> str:
    """The URL of a new, empty database with PostGIS, dropped after the test."""
    return pg_databases.new()


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def backend(request) -> str:
    """The store backend under test: every test that asks for it runs on both."""
    return request.param


@pytest.fixture
def store_url(request, backend):
    """A function giving ``init_workspace(store=…)`` for a new twin on the backend under
    test: None (a GeoPackage in the folder) or a new PostgreSQL database."""
    if backend == "geopackage":
        return lambda: None
    dbs = request.getfixturevalue("pg_databases")
    return dbs.new
