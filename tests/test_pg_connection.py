"""The PostgreSQL side of a twin's store: URLs without passwords, and what goes wrong with
a database said in the twin's terms — unreachable (naming the URL, never a password),
another writer holding a lock (StoreBusy), a connection lost mid-request (rolled back)."""

from __future__ import annotations

import pytest

from tweeling.core.errors import InputError, StoreBusy, WorkspaceError
from tweeling.store import pg_connection as pg

pytestmark = pytest.mark.postgis


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://tw:geheim@db.example.nl/twin", "carries a password"),
        ("postgresql://tw@db.example.nl/twin?password=geheim", "carries a password"),
        ("postgresql://tw@db.example.nl/twin?sslpassword=x", "carries a password"),
        ("postgresql://tw@db.example.nl/", "names no database"),
        ("mysql://tw@db.example.nl/twin", "not a postgresql:// URL"),
    ],
)
def test_twin_toml_never_holds_a_password(url, says):
    with pytest.raises(InputError, match=says) as info:
        pg.check_url(url)
    assert "geheim" not in str(info.value)


def test_redacted_urls_keep_everything_but_the_password():
    assert (
        pg.redacted("postgresql://tw:geheim@db:6543/twin?x=1") == "postgresql://tw@db:6543/twin?x=1"
    )
    assert pg.redacted("postgresql://db/twin") == "postgresql://db/twin"


def test_an_unreachable_database_is_named_without_its_password():
    url = "postgresql://postgres@127.0.0.1:9/tweeling_nowhere"
    with pytest.raises(
        WorkspaceError,
        match=r"cannot reach the twin's database postgresql://postgres@127\.0\.0\.1:9/tweeling_nowhere",
    ):
        pg.connect(url)
    secret = "postgresql://postgres:s3cret-pw@127.0.0.1:9/tweeling_nowhere"
    with pytest.raises(WorkspaceError) as info:
        pg.connect(secret)
    assert "s3cret-pw" not in str(info.value)


def test_a_lock_held_by_another_writer_is_store_busy(pg_database):
    a, b = pg.connect(pg_database), pg.connect(pg_database)
    try:
        with a.cursor() as cur:
            cur.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            cur.execute("INSERT INTO t VALUES (1, 'x')")
        a.commit()
        with a.cursor() as cur:
            cur.execute("UPDATE t SET v = 'a' WHERE id = 1")  # holds the row until commit
        with b.cursor() as cur, pytest.raises(StoreBusy, match="busy"):
            try:
                cur.execute("UPDATE t SET v = 'b' WHERE id = 1")
            except Exception as exc:
                raise pg.translated(exc, pg_database) from exc
        b.rollback()
        a.commit()
    finally:
        a.close()
        b.close()


def test_a_connection_lost_mid_request_is_said_and_rolled_back(pg_database):
    a, admin = pg.connect(pg_database), pg.connect(pg_database, autocommit=True)
    try:
        with a.cursor() as cur:
            cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
        a.commit()
        pid = a.info.backend_pid
        with a.cursor() as cur:
            cur.execute("INSERT INTO t VALUES (1)")
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))  # the server goes away
        with a.cursor() as cur, pytest.raises(WorkspaceError, match="lost the connection"):
            try:
                cur.execute("INSERT INTO t VALUES (2)")
            except Exception as exc:
                raise pg.translated(exc, pg_database) from exc
        assert admin.execute("SELECT count(*) FROM t").fetchone()[0] == 0  # nothing stored
    finally:
        a.close()
        admin.close()
