"""Faults of the store seen by the people using it: another process writing (readers wait,
then get 503 with Retry-After, never a 500), and a full disk (said as such, naming the
twin; nothing half-written; no raw traceback)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.scenario_support import seed_twin
from tweeling.api.app import create_app
from tweeling.cli.main import app as cli
from tweeling.core.errors import StoreFull
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace, open_workspace
from tweeling.store import gpkg_connection

PROBLEM = "application/problem+json"


@pytest.fixture
def twin(tmp_path):
    with init_workspace(tmp_path / "twin") as ws:
        seed_twin(ws, 20)
        sc.create_scenario(ws.store, "plan")
    return tmp_path / "twin"


def hold_write_lock(twin, seconds: float | None = None) -> sqlite3.Connection:
    """Another process's write, as SQLite sees it: an exclusive lock on the file (what an
    import holds while it commits, or once its changes outgrow the page cache)."""
    other = sqlite3.connect(twin / "twin.gpkg", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    if seconds is not None:
        threading.Timer(seconds, other.rollback).start()
    return other


def test_readers_wait_for_a_writer_then_answer(twin):
    with TestClient(create_app(twin, hosts=["testserver"])) as client:
        client.get("/scenarios")  # the thread's connection is open
        hold_write_lock(twin, seconds=1.0)
        t0 = time.monotonic()
        r = client.get("/collections/houses/items?limit=5")
        assert r.status_code == 200, r.text  # waited for the writer (busy timeout)
        assert time.monotonic() - t0 >= 0.8
        assert len(r.json()["features"]) == 5


def test_readers_get_503_with_retry_after_when_the_writer_takes_long(twin):
    with TestClient(create_app(twin, hosts=["testserver"])) as client:
        client.get("/scenarios")
        other = hold_write_lock(twin)
        try:
            for url in ("/collections/houses/items?limit=5", "/scenarios/plan"):
                r = client.get(url)
                assert r.status_code == 503, (url, r.status_code, r.text)
                assert r.headers["content-type"].startswith(PROBLEM)
                assert int(r.headers["retry-after"]) > 0
                assert "busy" in r.json()["detail"] and "twin.gpkg" in r.json()["detail"]
        finally:
            other.rollback()
        assert client.get("/scenarios/plan").status_code == 200  # and after it, answers


def test_the_cli_says_busy_instead_of_a_traceback(twin):
    other = hold_write_lock(twin)
    try:
        r = CliRunner().invoke(cli, ["scenario", "create", "other", "--twin", str(twin)])
    finally:
        other.rollback()
    assert r.exit_code == 1
    assert "busy" in r.output and "Traceback" not in r.output


@pytest.fixture
def small_disk(monkeypatch):
    """SQLite on a disk that holds only what is there: a database at its page limit fails
    every growth with SQLITE_FULL ("database or disk is full"), as a full disk does."""
    connect = gpkg_connection.connect

    def at_its_limit(path, busy_timeout):
        con = connect(path, busy_timeout)
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        con.execute(f"PRAGMA max_page_count = {pages}")
        return con

    monkeypatch.setattr(gpkg_connection, "connect", at_its_limit)


def _state(twin) -> tuple:
    with open_workspace(twin) as ws:
        return (
            sorted(s.name for s in ws.store.scenarios.list()),
            ws.store.content_hash(),
            ws.store.integrity_check(),
        )


def test_a_full_disk_is_said_and_nothing_is_stored(twin, tmp_path, small_disk):
    before = _state(twin)
    big = tmp_path / "many.geojson"
    big.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": f"b{i}",
                        "properties": {"name": "x" * 200},
                        "geometry": {"type": "Point", "coordinates": [85000 + i, 447000]},
                    }
                    for i in range(5000)
                ],
            }
        )
    )
    command = ["import", "file", str(big), "--layer", "points", "--crs", "EPSG:28992"]
    r = CliRunner().invoke(cli, [*command, "--twin", str(twin)])
    assert r.exit_code == 1, r.output
    assert "disk full" in r.output and "twin.gpkg" in r.output
    assert "Traceback" not in r.output and "cannot rollback" not in r.output
    assert _state(twin) == before
    with open_workspace(twin) as ws, pytest.raises(StoreFull, match="disk full"):
        sc.create_scenario(ws.store, "more", description="d" * 10_000)  # a service sees it too


def test_a_full_disk_is_a_507_problem_over_http(twin, small_disk):
    before = _state(twin)
    with TestClient(create_app(twin, hosts=["testserver"])) as client:
        r = client.post("/scenarios", json={"name": "more", "description": "d" * 10_000})
    assert r.status_code == 507, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert "disk full" in r.json()["detail"]
    assert _state(twin) == before


# ---------------------------------------------------------------------------- runs


def test_a_server_killed_mid_run_leaves_nothing_half_stored(twin):
    """What a killed run leaves (its working folder, or complete files that were never
    recorded) is removed when the server starts; a run another process is computing right
    now is left alone; recorded runs stay."""
    import fcntl
    import os

    from tweeling.services.runs import clean_unfinished

    runs = twin / "runs"
    for name in (".0123456789abcdef.partial", "fedcba9876543210", ".00aa.reproduce"):
        (runs / name).mkdir(parents=True)
        (runs / name / "noise.tif").write_bytes(b"half")
    (runs / "fedcba9876543210" / "run.json").write_text("{}")  # complete, never recorded
    busy = runs / ".1111111111111111.partial"  # another process is computing this one
    busy.mkdir()
    fd = os.open(busy, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with TestClient(create_app(twin, hosts=["testserver"])) as client:
            assert client.get("/runs").status_code == 200
        assert sorted(p.name for p in runs.iterdir()) == [busy.name]
    finally:
        os.close(fd)
    with open_workspace(twin) as ws:
        assert clean_unfinished(ws.store) == [busy.name]  # nobody holds it any more


# ---------------------------------------------------------------------------- formats


def _set_meta(twin, **values) -> None:
    con = sqlite3.connect(twin / "twin.gpkg")
    with con:
        for key, value in values.items():
            con.execute("INSERT OR REPLACE INTO tw_meta VALUES (?, ?)", (key, str(value)))
    con.close()


def test_a_store_of_a_newer_tweeling_is_refused_naming_the_versions(twin):
    import hashlib

    from tweeling import __version__
    from tweeling.core.errors import WorkspaceError
    from tweeling.store.gpkg_schema import STORE_FORMAT

    _set_meta(twin, store_format=STORE_FORMAT + 1, tweeling_version="9.9.0")
    before = hashlib.sha256((twin / "twin.gpkg").read_bytes()).hexdigest()
    with pytest.raises(WorkspaceError) as info:
        open_workspace(twin)
    said = str(info.value)
    assert f"store format {STORE_FORMAT + 1}, written by Tweeling 9.9.0" in said
    assert f"this Tweeling ({__version__}) reads store formats up to {STORE_FORMAT}" in said
    assert hashlib.sha256((twin / "twin.gpkg").read_bytes()).hexdigest() == before
    r = CliRunner().invoke(cli, ["scenario", "list", "--twin", str(twin)])
    assert r.exit_code == 1 and "upgrade Tweeling" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("content", [b"not a database at all", None], ids=["text", "sqlite"])
def test_a_file_that_is_no_tweeling_store_is_said_to_be_one(twin, content):
    from tweeling.core.errors import WorkspaceError

    path = twin / "twin.gpkg"
    path.unlink()
    if content is None:  # an SQLite file of something else
        other = sqlite3.connect(path)
        other.execute("CREATE TABLE t (x)")
        other.close()
    else:
        path.write_bytes(content)
    with pytest.raises(WorkspaceError, match="is not a Tweeling store"):
        open_workspace(twin)


def test_two_servers_migrating_one_store_at_once(twin):
    """Both open it; one migrates, the other finds it migrated (read again under the lock)."""
    from concurrent.futures import ThreadPoolExecutor

    from tweeling.store.gpkg_schema import STORE_FORMAT

    _set_meta(twin, store_format=STORE_FORMAT - 1)

    def open_it(_):
        with open_workspace(twin) as ws:
            return len(ws.store.scenarios.list())

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_it, range(4))) == [1] * 4
    con = sqlite3.connect(twin / "twin.gpkg")
    meta = dict(con.execute("SELECT key, value FROM tw_meta").fetchall())
    con.close()
    assert meta["store_format"] == str(STORE_FORMAT) and "tweeling_version" in meta
