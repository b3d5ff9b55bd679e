"""What only the PostgreSQL/PostGIS backend has: a twin in a database named by URL, moving a
twin between backends, several processes writing at once, the typed view QGIS reads, and
errors that name the database without its password. (Everything the backends share is
tested on both: the ``backend`` fixture in conftest.)"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import psycopg
import pytest
from typer.testing import CliRunner

from tests.scenario_support import modify, seed_twin, state
from tweeling.cli.main import app as cli
from tweeling.core.errors import InputError, WorkspaceError
from tweeling.services import scenarios as sc
from tweeling.services.migration import migrate_workspace
from tweeling.services.workspace import init_workspace, open_workspace

pytestmark = pytest.mark.postgis
RD_URI = "http://www.opengis.net/def/crs/EPSG/0/28992"


def everything(ws) -> dict:
    """All a user can see of a twin: every feature of every layer in every view (with
    geometry bytes, attributes, both time axes, transaction and source), runs, findings,
    people, the audit log and the scenarios' records."""
    st = ws.store
    refs = [None] + [s.name for s in st.scenarios.list()]
    out = {"refs": refs}
    for layer in st.vector_layers():
        for ref in refs:
            out[layer, ref] = sorted(
                (
                    f.id,
                    f.geometry.wkb,
                    orjson.dumps(f.properties, option=orjson.OPT_SORT_KEYS),
                    f.valid_from,
                    f.valid_to,
                    f.recorded_at,
                    f.record_end,
                    f.transaction,
                    f.source,
                )
                for f in st.features(layer, scenario=ref)
            )
    out["hashes"] = {ref: st.content_hash(ref) for ref in refs}
    out["runs"] = st.runs()
    out["findings"] = st.findings()
    out["people"] = st.people.list()
    out["audit"] = st.audit.entries()
    out["scenarios"] = [(s, st.scenarios.interventions(s.name)) for s in st.scenarios.list()]
    out["transactions"] = st.transactions()
    return out


def test_the_demo_twin_moves_to_postgis_and_back_unchanged(demo_master, tmp_path, pg_database):
    run = CliRunner().invoke
    r = run(
        cli, ["migrate", str(tmp_path / "pg"), "--store", pg_database, "--twin", str(demo_master)]
    )
    assert r.exit_code == 0, r.output
    assert re.search(r"\b3\d checks equal", r.output), r.output  # every view, table, the chain
    r = run(cli, ["migrate", str(tmp_path / "back"), "--twin", str(tmp_path / "pg")])
    assert r.exit_code == 0, r.output
    with (
        open_workspace(demo_master) as original,
        open_workspace(tmp_path / "pg") as on_pg,
        open_workspace(tmp_path / "back") as back,
    ):
        assert on_pg.store.location == pg_database  # no password in it to hide
        assert on_pg.config["twin"] == original.config["twin"]
        seen = everything(original)
        assert everything(on_pg) == seen
        assert everything(back) == seen
        # the raster files and run results came along: a run reproduces on the copy
        copied = Path(on_pg.store.raster_path("ahn_dsm"))
        assert copied.read_bytes() == Path(original.store.raster_path("ahn_dsm")).read_bytes()
        run_id = original.store.runs()[0].id
        assert (on_pg.store.runs_dir / run_id).is_dir()
    r = run(cli, ["reproduce", run_id, "--twin", str(tmp_path / "pg")])
    assert r.exit_code == 0 and "identical" in r.output.lower(), r.output


def test_a_failed_migration_leaves_no_twin_behind(demo_master, tmp_path, pg_database, monkeypatch):
    from tweeling.store import copy as store_copy

    def wrong(src, dst):
        return [store_copy.Check("content hash of baseline", "a", "b")]

    monkeypatch.setattr(store_copy, "compare", wrong)
    with pytest.raises(WorkspaceError, match="differs from the twin: content hash of baseline"):
        migrate_workspace(demo_master, tmp_path / "pg", store=pg_database)
    assert not (tmp_path / "pg").exists()
    with psycopg.connect(pg_database) as con:
        tables = con.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'tw%'"
        ).fetchone()[0]
    assert tables == 0
    monkeypatch.undo()
    done = migrate_workspace(demo_master, tmp_path / "pg", store=pg_database)  # now it can
    assert all(c.ok for c in done.checks)


def test_a_url_with_a_password_is_refused_and_nothing_is_made(tmp_path, pg_database):
    with_password = pg_database.replace("postgres@", "postgres:s3cret@")
    r = CliRunner().invoke(cli, ["init", str(tmp_path / "t"), "--store", with_password])
    assert r.exit_code != 0
    assert "carries a password" in r.output and "PGPASSWORD" in r.output
    assert "s3cret" not in r.output
    assert not (tmp_path / "t").exists()


def test_errors_name_the_database_and_never_its_password(tmp_path, pg_database):
    with init_workspace(tmp_path / "a", store=pg_database):
        pass
    with pytest.raises(WorkspaceError, match="already holds a twin"):
        init_workspace(tmp_path / "b", store=pg_database)
    empty = pg_database.rsplit("/", 1)[0] + "/postgres"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "twin.toml").write_text(
        f'[twin]\nname = "c"\n\n[store]\nurl = "{empty}"\n', encoding="utf-8"
    )
    with pytest.raises(WorkspaceError, match="holds no Tweeling twin"):
        open_workspace(tmp_path / "c")
    (tmp_path / "c" / "twin.toml").write_text(
        '[twin]\nname = "c"\n\n[store]\nurl = "postgresql://nobody@127.0.0.1:1/nowhere"\n',
        encoding="utf-8",
    )
    with pytest.raises(
        WorkspaceError,
        match=r"cannot reach the twin's database postgresql://nobody@127\.0\.0\.1:1/nowhere",
    ):
        open_workspace(tmp_path / "c")
    with pytest.raises(InputError, match="carries a password"):
        init_workspace(tmp_path / "d", store="postgresql://u:pw@127.0.0.1/x")


WRITER = """
import sys
from tests.scenario_support import modify
from tweeling.core import audit
from tweeling.services import scenarios as sc
from tweeling.services.workspace import open_workspace
name = sys.argv[2]
with open_workspace(sys.argv[1]) as ws:
    sc.create_scenario(ws.store, name)
    for k in range(8):
        for attempt in range(50):  # a writer that finds the twin busy tries again
            try:
                sc.apply_interventions(ws.store, name, [modify(f"h{k}", height_m=float(k))])
                break
            except Exception as exc:
                if "busy" not in str(exc) and "another process" not in str(exc):
                    raise
"""


def test_several_processes_write_at_once_and_nothing_is_lost(tmp_path, pg_database):
    root = tmp_path / "twin"
    with init_workspace(root, store=pg_database) as ws:
        seed_twin(ws)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(root), f"plan{i}"]) for i in range(4)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    with open_workspace(root) as ws:
        st = ws.store
        for i in range(4):
            info = st.scenarios.info(f"plan{i}")
            assert info.interventions == 8
            shown = st.lookup("houses", [f"h{k}" for k in range(8)], scenario=f"plan{i}")
            assert [shown[f"h{k}"].properties["height_m"] for k in range(8)] == [
                float(k) for k in range(8)
            ]
        txns = [t["transaction"] for t in st.transactions()]
        assert txns == sorted(set(txns))  # one number each, committed in order
        assert st.audit.verify().ok  # one chain through all processes' entries
        assert st.audit.count() >= 4 * 9


SLOW_IMPORT = """
import sys, time, shapely
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.services.workspace import open_workspace
schema = LayerSchema("houses", "MULTIPOLYGON", {"height_m": "REAL"})
def stream():
    for i in range(6000):
        if i == 5500:
            print("WRITING", flush=True)
            time.sleep(4)
        yield FeatureRecord("houses", f"k{i}", shapely.box(85000, 447500, 85010, 447510),
                            {"height_m": 1.0})
with open_workspace(sys.argv[1]) as ws:
    ws.store.write(ImportBatch("test:slow", "slow", [schema], stream()))
"""


def test_readers_never_wait_for_a_long_import(tmp_path, pg_database):
    root = tmp_path / "twin"
    with init_workspace(root, store=pg_database) as ws:
        seed_twin(ws)
        sc.create_scenario(ws.store, "plan")
        sc.apply_interventions(ws.store, "plan", [modify("h1", height_m=40.0)])
        before = state(ws.store, "plan")
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_IMPORT, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "WRITING"  # the import holds its transaction
    with open_workspace(root) as ws:
        start = time.perf_counter()
        assert state(ws.store, "plan") == before
        assert ws.store.count("houses") == 30
        waited = time.perf_counter() - start
        assert proc.poll() is None  # still importing: the reads did not wait for it
    assert waited < 3.5, waited
    assert proc.wait(timeout=60) == 0
    with open_workspace(root) as ws:
        assert ws.store.count("houses") == 30 + 6000  # another source adds its houses


def test_qgis_reads_the_current_baseline_with_typed_columns(tmp_path, pg_database):
    with init_workspace(tmp_path / "twin", store=pg_database) as ws:
        seed_twin(ws, 5)
        sc.create_scenario(ws.store, "plan")
        sc.apply_interventions(ws.store, "plan", [modify("h1", height_m=99.0)])
    with psycopg.connect(pg_database) as con:
        rows = con.execute(
            "SELECT tw_id, height_m, storeys, listed, ST_SRID(geom), GeometryType(geom) "
            "FROM houses ORDER BY tw_id"
        ).fetchall()
        kinds = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'houses'"
            ).fetchall()
        )
    assert [r[0] for r in rows] == ["h0", "h1", "h2", "h3", "h4"]
    assert rows[1][1:] == (6.0, 2, False, 28992, "MULTIPOLYGON")  # the baseline, not the plan
    assert kinds["height_m"] == "double precision" and kinds["listed"] == "boolean"
    # a bbox on the view (QGIS's, pygeoapi's query) finds its rows through an index
    with psycopg.connect(pg_database) as con:
        con.execute("SET enable_seqscan = off")  # 5 rows: a scan would be cheaper
        plan = "\n".join(
            r[0]
            for r in con.execute(
                "EXPLAIN SELECT tw_id FROM houses "
                "WHERE geom && ST_MakeEnvelope(85000, 447500, 85030, 447510, 28992)"
            )
        )
    assert "tw_houses_versions_view_geom" in plan, plan


def test_duplicate_ids_are_refused_naming_the_object_and_nothing_is_stored(tmp_path, pg_database):
    from tests.test_store import batch, house

    with init_workspace(tmp_path / "twin", store=pg_database) as ws:
        with pytest.raises(InputError, match="occurs twice") as err:
            ws.store.write(batch([house(1), house(2), house(1)]))
        assert err.value.object_id == "h1"
        assert ws.store.vector_layers() == [] and ws.store.transactions() == []
        seed_twin(ws, 3)
        with pytest.raises(InputError, match="occurs twice"):
            ws.store.write(batch([house(7), *(house(i) for i in range(6000)), house(7)]))
        assert ws.store.count("houses") == 3


def test_a_big_fresh_layer_is_clustered_on_its_spatial_index(tmp_path, pg_database, monkeypatch):
    """Objects near each other end up on the same pages (bbox queries read few pages), and
    duplicates are still named."""
    from tests.test_store import batch, house
    from tweeling.store import pg_import

    monkeypatch.setattr(pg_import, "CLUSTER_ROWS", 100)
    with init_workspace(tmp_path / "twin", store=pg_database) as ws:
        with pytest.raises(InputError, match="occurs twice") as err:
            ws.store.write(batch([house(9), *(house(i) for i in range(200))]))
        assert err.value.object_id == "h9"
        ws.store.write(batch([house(i) for i in range(300)]))
        with psycopg.connect(pg_database) as con:
            clustered = con.execute(
                "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indisclustered"
            ).fetchall()
        assert clustered == [("tw_houses_versions_geom",)]
        assert ws.store.count("houses") == 300
        assert len(list(ws.store.features("houses", bbox=(85000, 447500, 85010, 447508)))) > 0


def test_a_second_server_process_sees_changes_of_the_first(tmp_path, pg_database):
    """Views are cached per process; a change by another process is seen at once."""
    root = tmp_path / "twin"
    with init_workspace(root, store=pg_database) as ws:
        seed_twin(ws)
    with open_workspace(root) as a, open_workspace(root) as b:
        sc.create_scenario(a.store, "plan")
        assert state(b.store, "plan") == state(b.store, None)
        sc.apply_interventions(a.store, "plan", [modify("h3", height_m=12.5)])
        assert (
            b.store.lookup("houses", ["h3"], scenario="plan")["h3"].properties["height_m"] == 12.5
        )
        code = textwrap.dedent(
            f"""
            from tweeling.services.workspace import open_workspace
            from tweeling.services import scenarios as sc
            with open_workspace({str(root)!r}) as w:
                sc.freeze_scenario(w.store, "plan", "v1")
            """
        )
        subprocess.run([sys.executable, "-c", code], check=True)
        assert [f.label for f in b.store.scenarios.info("plan").frozen] == ["v1"]
        assert b.store.content_hash("plan@v1") == a.store.content_hash("plan")


def test_serve_with_several_processes_shares_requests_and_the_job_queue(tmp_path, pg_database):
    """``tweeling serve --workers 2`` on a PostGIS twin: both processes answer, jobs
    submitted to either are each run once, by whichever process is free, and every
    process reports every job."""
    import json
    import socket
    import urllib.request

    from tests.test_api_processes import NOISE
    from tests.test_model_road_noise import write_town

    root = tmp_path / "twin"
    with init_workspace(root, store=pg_database) as ws:
        write_town(ws.store)
    with (root / "twin.toml").open("a", encoding="utf-8") as f:
        f.write("\n[server]\njobs_active_per_person = 10\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "tweeling"
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--workers", "2", "--twin", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    def call(path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Prefer": "respond-async"}
        req = urllib.request.Request(url + path, data=data, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    try:
        for _ in range(300):
            try:
                call("/conformance")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"tweeling serve exited: {proc.stderr.read().decode()}")
                time.sleep(0.1)
        ids = [
            call("/processes/road-noise/execution", {"inputs": {**NOISE, "cell_m": cell}})["jobID"]
            for cell in (20, 21, 22, 23, 24, 25)
        ]
        deadline = time.monotonic() + 120
        while True:
            states = [call(f"/jobs/{i}")["status"] for i in ids]
            if all(s == "successful" for s in states):
                break
            assert "failed" not in states and time.monotonic() < deadline, states
            time.sleep(0.3)
        with open_workspace(root) as ws:
            jobs = [ws.store.jobs.get(i) for i in ids]
            assert len({j.result["run_id"] for j in jobs}) == 6  # each ran once
            pids = {j.worker.split(":")[1] for j in jobs}
            assert len(pids) == 2, pids  # both processes took jobs
            assert len(ws.store.runs(model="road-noise")) == 6
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    "wkt",
    [
        "POINT Z (85000 447500 1.5)",
        "LINESTRING Z (85000 447500 0, 85010 447510 2.25)",
        "POLYGON Z ((85000 447500 0, 85010 447500 0, 85010 447510 9, 85000 447500 0))",
        "MULTIPOLYGON Z (((85000 447500 1, 85010 447500 1, 85010 447510 1, 85000 447500 1)),"
        " ((85020 447500 2, 85030 447500 2, 85030 447510 2, 85020 447500 2)))",
        "GEOMETRYCOLLECTION Z (POINT Z (85000 447500 3), LINESTRING Z (85000 447500 0, 85001 "
        "447501 1))",
        "POINT (85000.123456789 447500.987654321)",
    ],
)
def test_geometries_come_back_byte_for_byte_on_both_backends(tmp_path, pg_database, wkt):
    """What PostGIS stores is exactly the WKB that was hashed: ISO WKB in, ISO WKB out, with
    heights (EPSG:7415) and full double precision."""
    import shapely

    from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema

    geom = shapely.from_wkt(wkt)
    schema = LayerSchema("things", "GEOMETRY", {"n": "INTEGER"}, has_z=bool(shapely.has_z(geom)))
    records = [FeatureRecord("things", "t1", geom, {"n": 1})]
    out = []
    for store in (None, pg_database):
        with init_workspace(tmp_path / f"twin-{len(out)}", store=store) as ws:
            ws.store.write(ImportBatch("test:things", "things", [schema], records))
            view = ws.store.view(None)
            content = ws.store.contents("things", ["t1"], view)["t1"]
            (feature,) = ws.store.features("things")
            out.append((content["geometry"], feature.geometry.wkb, ws.store.content_hash()))
    assert out[0] == out[1]
    assert out[0][0] == shapely.to_wkb(geom, flavor="iso", byte_order=1)


@pytest.mark.slow
def test_the_demo_built_on_postgis_gives_the_answers_of_the_geopackage_demo(
    demo_master, tmp_path, pg_database, shared_data
):
    """'tweeling init --store postgresql://…' and the demo's usual imports, scenarios, model
    runs and checks, built from the files as a user builds it: the same content (hashes of
    the baseline, every scenario and frozen version), the same run results, the same
    findings, and the same answers from the HTTP API as the GeoPackage demo."""
    from fastapi.testclient import TestClient

    from tweeling.api.app import create_app

    root = tmp_path / "pg"
    run = CliRunner().invoke
    r = run(cli, ["init", str(root), "--store", pg_database])
    assert r.exit_code == 0, r.output
    r = run(cli, ["demo", "--twin", str(root), "--data", str(shared_data)])
    assert r.exit_code == 0, r.output
    with open_workspace(demo_master) as gp, open_workspace(root) as pg:
        a, b = gp.store, pg.store
        assert a.vector_layers() == b.vector_layers()
        refs = [None] + [s.name for s in a.scenarios.list()]
        assert refs == [None] + [s.name for s in b.scenarios.list()]
        frozen = [f"{s.name}@{f.label}" for s in a.scenarios.list() for f in s.frozen]
        for ref in [*refs, *frozen]:
            assert a.content_hash(ref) == b.content_hash(ref), ref
        runs = {(x.model, x.scenario, x.id, x.result_hash) for x in a.runs()}
        assert runs and runs == {(x.model, x.scenario, x.id, x.result_hash) for x in b.runs()}
        findings = {(f.scenario, f.content_hash, f.rules_hash) for f in a.findings()}
        assert findings == {(f.scenario, f.content_hash, f.rules_hash) for f in b.findings()}
        for f in a.findings():
            (g,) = [g for g in b.findings() if (g.scenario, g.on_date) == (f.scenario, f.on_date)]
            assert g.findings == f.findings
        minx, miny, maxx, maxy = a.layer("buildings").extent
        box = f"{minx + 50},{miny + 50},{(minx + maxx) / 2},{(miny + maxy) / 2}"
    paths = [
        "/collections?f=json",
        f"/collections/buildings/items?f=json&limit=1000&bbox={box}&bbox-crs={RD_URI}",
        "/collections/buildings/items?f=json&limit=25&offset=50",
        "/processes?f=json",
    ]
    answers = []
    for twin in (demo_master, root):
        with TestClient(create_app(twin, hosts=["testserver"])) as client:
            got = {}
            for path in paths:
                res = client.get(path)
                assert res.status_code == 200, (twin, path, res.text)
                body = res.json()
                body.pop("timeStamp", None)
                if "features" in body and "bbox" in path:  # all of them: in id order (the
                    # order of a bbox query is each backend's index order)
                    body["features"].sort(key=lambda f: f["id"])
                got[path] = body
            answers.append(got)
    assert 10 < len(answers[0][paths[1]]["features"]) < 1000  # a box with some, not all
    for path in paths:
        same(answers[0][path], answers[1][path], path)


def same(a, b, where: str) -> None:
    """Equal JSON, numbers to 1e-6 (an extent in degrees: 0.1 m): GeoPackage keeps layer
    extents in its R-tree, as 32-bit floats rounded outwards; PostGIS keeps them exact."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-6), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where} {k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where} [{i}]")
    else:
        assert a == b, where


def test_a_first_page_of_a_large_layer_leaves_the_rest_on_the_server(tmp_path, pg_database):
    """Reading the first features of a layer (an API page, the tile planner's sample)
    takes those from the server, not the layer: while the reader is open the server holds
    the rest (an open cursor), other queries run meanwhile, and closing the reader ends the
    server's query. (A plain psycopg cursor receives the whole result at once: 10 M rows
    for ``items?limit=10`` of a national layer.)"""
    import itertools

    import numpy as np
    import shapely

    from tweeling.core.features import FeatureChunk, ImportBatch, LayerSchema

    n = 40_000
    x = 85_000 + (np.arange(n) % 200) * 10.0
    y = 445_000 + (np.arange(n) // 200) * 10.0
    squares = shapely.box(x, y, x + 8, y + 8)
    schema = LayerSchema("blocks", "POLYGON", {"label": "TEXT"})
    chunk = FeatureChunk(
        layer="blocks",
        ids=[f"b{i}" for i in range(n)],
        geometries=squares,
        columns={"label": [f"block number {i} of the test layer" for i in range(n)]},
    )

    def reading(con) -> int:
        """Sessions of the twin's database in the middle of a read (a query running, or a
        cursor open in a transaction)."""
        return con.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()"
        ).fetchone()[0]

    with init_workspace(tmp_path / "twin", store=pg_database) as ws:
        ws.store.write(ImportBatch("test:blocks", "blocks", [schema], iter([chunk])))
        with psycopg.connect(pg_database, autocommit=True) as watch:
            reader = ws.store.features("blocks")
            first = list(itertools.islice(reader, 10))
            assert [f.id for f in first] == [f"b{i}" for i in range(10)]
            assert reading(watch) == 1  # the rest waits on the server
            assert ws.store.layer("blocks").count == n  # this connection is free meanwhile
            assert next(reader).id == "b10"
            reader.close()
            assert reading(watch) == 0
        assert sum(1 for _ in ws.store.features("blocks")) == n  # and a whole read is whole


def test_request_threads_fit_the_database_connections():
    """Each request thread holds a connection and a reader connection: all processes'
    must fit in the server's max_connections, with room left for the CLI and tools."""
    from tweeling.api.app import SPARE_CONNECTIONS, request_threads

    assert request_threads(None, 4) == 40  # GeoPackage: anyio's default
    for max_conn, processes in ((97, 4), (97, 1), (500, 4), (20, 8)):
        threads = request_threads(max_conn, processes)
        assert 2 <= threads <= 40
        if threads > 2:
            assert processes * threads * 2 + SPARE_CONNECTIONS <= max_conn
    assert request_threads(97, 4) == 10


def test_the_server_survives_a_database_restart(tmp_path, pg_database):
    """When the database drops the server's connections (a restart, a failover), requests
    get 503 with Retry-After at worst — never a 500 — and the next ones are answered on
    new connections."""
    from fastapi.testclient import TestClient

    from tests.test_model_road_noise import write_town
    from tweeling.api.app import create_app

    root = tmp_path / "twin"
    with init_workspace(root, store=pg_database) as ws:
        write_town(ws.store)
    client = TestClient(create_app(root), base_url="http://127.0.0.1:8000")
    url = "/collections/buildings/items?limit=5"
    assert client.get(url).status_code == 200
    with psycopg.connect(pg_database, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    first = client.get(url)
    assert first.status_code in (200, 503), first.text
    if first.status_code == 503:
        assert first.headers["Retry-After"] and "twin's database" in first.json()["detail"]
    for _ in range(3):
        assert client.get(url).status_code == 200


def test_a_server_thread_connects_again_after_its_connection_was_lost(tmp_path, pg_database):
    """A request that meets a dropped connection fails with StoreUnavailable (a 503 with
    Retry-After); the thread's next request opens the twin again instead of failing for
    ever on the dead connection."""
    from fastapi.testclient import TestClient

    from tests.test_model_road_noise import write_town
    from tweeling.api.app import Twins, create_app
    from tweeling.core.errors import StoreUnavailable

    root = tmp_path / "twin"
    with init_workspace(root, store=pg_database) as ws:
        write_town(ws.store)
    twins = Twins(root)
    ws = twins.get()
    with psycopg.connect(pg_database, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(StoreUnavailable, match="lost the connection"):
        ws.store.layer("buildings")
    again = twins.get()
    assert again is not ws and again.store.layer("buildings").count == 2

    app = create_app(root)
    app.state.twins.get().store._con.raw.close()  # as a lost connection leaves it
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    assert client.get("/collections/buildings/items?limit=5").status_code == 200
