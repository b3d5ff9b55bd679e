"""OGC API Features bbox requests: ``tweeling serve`` against pygeoapi on the same buildings.

    .venv/bin/python benchmarks/api_features.py [--n 1000000] [--requests 1000]
        [--concurrency 8] [--seconds 30] [--skip-pygeoapi] [--profile]
        [--store geopackage|postgis] [--pygeoapi-table view|copy]

1. A twin of N synthetic buildings (``scenarios.pristine_twin``, cached in ``--out``/api).
2. Ours: ``tweeling serve --twin … --port …`` (one uvicorn process; ``--workers`` > 1 runs
   uvicorn with the same ``create_app``). Peer: pygeoapi (its newest release that installs on
   the Debian Python here) in its own venv ``--out``/pygeoapi-venv, installed from PyPI when
   missing, with its SQLiteGPKG provider (needs Debian's libsqlite3-mod-spatialite and a
   Python whose sqlite3 can load extensions) over the twin's own ``buildings`` table in a copy
   of ``twin.gpkg``, served by gunicorn with as many worker processes as ours. A copy, because
   spatialite's ``AutoGPKGStart()`` writes a ``VirtualGPKG`` table into the file it opens.
3. The same seeded boxes for both, sent in CRS84 as clients do, ``limit=100``; two sets:
   boxes of a few hundred metres (the issue's case) and boxes of 1-3 km, most of which fill
   the page. Per set, after a warm-up: sequential latency p50/p95 over ``--requests``
   requests (``--pygeoapi-requests`` of the same boxes for the peer, which is slow), then
   throughput with ``--concurrency`` connections for ``--seconds`` (wrk, Debian package, with
   a Lua script cycling through the URLs; installed when missing).
4. Correctness: for a few boxes of each set, given in RD New (``bbox-crs``) so that both
   servers filter on the very same rectangle, both must return the same feature ids; shared
   features must have the same attributes and (in CRS84) the same coordinates; the
   ``limit=100`` responses of the timed boxes must hold as many features on both.

``--store postgis``: both servers read the buildings from PostgreSQL/PostGIS (the server
of ``TWEELING_TEST_PG``, default postgresql://postgres@127.0.0.1:5432/postgres, as in
``postgis_ingest.py``). Ours is a PostGIS twin (``--out``/api/postgis-N) in the database
``tweeling_bench_api_N``, made by ``tweeling init --store`` + ``tweeling import file`` of the
same synthetic file, and reused while that database holds N buildings. The peer is pygeoapi
0.24 (it needs Python >= 3.12, found on PATH or in pyenv; without one, the newest release
that installs on the project's Python, which the versions line names) with its PostgreSQL
provider (psycopg2-binary, SQLAlchemy, GeoAlchemy2) in its own venv
``--out``/pygeoapi-pg-venv, on the same database: ``table`` the twin's typed view
``buildings``, ``id_field`` tw_id, ``geom_field`` geom, ``storage_crs`` RD New, served by
gunicorn. The view's ``geom`` is a cast of the version table's, which PostgreSQL cannot match
to that table's GiST index, so pygeoapi's bbox filter scans the whole baseline there (the
report shows PostgreSQL's plan). ``--pygeoapi-table copy`` points pygeoapi at a table made
from the view once instead, ``pyg_buildings`` (primary key tw_id, GiST index, clustered):
the peer with a usable index; its sequential requests then default to ``--requests``. The
PostgreSQL backends connected to the benchmark database count as the server's CPU in the
disturbance measurement below (PostgreSQL's parallel query workers, which end with their
query, mostly count as other processes).

Only one server runs at a time. The machine has two cores and may be shared: the CPU that
other processes used during each phase is measured (``/proc``: the machine's busy time minus
that of the server's process group and of this process and its children), and a phase in
which they used more than ``--disturbed`` cores is repeated (``--retries``; the quietest run
is kept). ``--profile`` then samples our server with py-spy (installed from PyPI into
``--out``/profile-venv) during one more throughput run, not a measured one.

What-ifs for our server, the project's venv untouched: ``--workers N`` (uvicorn workers on
the same ``create_app``; gunicorn -w N for pygeoapi), ``--pin`` (its one process on one CPU),
``--uvicorn-standard`` (httptools + uvloop on its PYTHONPATH), ``--pythonpath DIR`` (e.g. a
patched copy of ``src``).

Prints a table with ratios (goals: p95 < 20 ms; throughput >= 50x pygeoapi on GeoPackage,
>= 20x on PostGIS) and writes it, with machine, versions and date, to
``benchmarks/results_api.md`` (``--append`` adds a section; the PostGIS sections say so in
their heading). Asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import importlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
LAYER = "buildings"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
RD = "http://www.opengis.net/def/crs/EPSG/0/28992"
LIMIT = 100
CHECK_BOXES = 5
CLK = os.sysconf("SC_CLK_TCK")

# Helpers of the other benchmarks (this folder is on sys.path when run as a script).
scen = importlib.import_module("scenarios")

WRK_LUA = """-- cycles through the request paths of a file (one per line)
local paths, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d,'
    .. ' "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


# --- the boxes ---------------------------------------------------------------------------


class BoxSet:
    """Seeded boxes around distinct random buildings, in RD New and as CRS84 request paths."""

    def __init__(self, twin: Path, n: int, half: tuple[float, float], count: int, seed=7):
        from tweeling.services.workspace import open_workspace

        self.half = half
        ids = scen.Picker(n, seed=seed).take(min(count, n))
        with open_workspace(twin) as ws:
            self.rd = scen.query_boxes(ws.store, ids, half, seed=seed)
        self.crs84 = [to_crs84(b) for b in self.rd]
        self.paths = [items_path(b) for b in self.crs84]

    @property
    def label(self) -> str:
        lo, hi = self.half
        return f"boxes {2 * lo:.0f}-{2 * hi:.0f} m"


@functools.cache
def _to_lonlat():
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:28992", "OGC:CRS84", always_xy=True)


def to_crs84(box: tuple[float, ...]) -> str:
    """The lon/lat box enclosing an RD New box (all four corners), as a ``bbox`` value."""
    tr = _to_lonlat()
    x0, y0, x1, y1 = box
    lon, lat = tr.transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    return f"{min(lon):.7f},{min(lat):.7f},{max(lon):.7f},{max(lat):.7f}"


def items_path(bbox: str, limit: int = LIMIT, **extra: str) -> str:
    q = urlencode({"bbox": bbox, "limit": limit, **extra}, quote_via=quote, safe=",:/")
    return f"/collections/{LAYER}/items?{q}"


# --- processes and tools -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def apt_install(package: str, why: str) -> None:
    print(f"installing {package} from Debian's packages ({why}) …", flush=True)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", package], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        raise SystemExit(
            f"CANNOT INSTALL {package} ({why}): {exc}\n{err.decode(errors='replace')[-1500:]}"
        ) from None


def ensure_wrk() -> str:
    exe = shutil.which("wrk")
    if exe is None:
        apt_install("wrk", "the HTTP load generator of the throughput runs")
        exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("CANNOT INSTALL wrk: apt-get succeeded but there is no wrk on PATH")
    return exe


PYGEOAPI_PYTHONS = ("/usr/bin/python3.11", "/usr/bin/python3")
CAN_LOAD = "import sqlite3; sqlite3.connect(':memory:').enable_load_extension(True)"
SPATIALITE = (
    "import sqlite3; c = sqlite3.connect(':memory:'); c.enable_load_extension(True); "
    "c.execute(\"select load_extension('mod_spatialite.so')\"); "
    "print(c.execute('select spatialite_version()').fetchone()[0])"
)


def debian_python(what: str) -> str:
    """A Python whose sqlite3 can load extensions (the project's pyenv build cannot; pygeoapi's
    SQLiteGPKG provider loads spatialite)."""
    for p in PYGEOAPI_PYTHONS:
        if Path(p).exists() and subprocess.run([p, "-c", CAN_LOAD]).returncode == 0:
            return p
    raise SystemExit(
        f"CANNOT INSTALL {what}: no Python whose sqlite3 can load extensions "
        f"(tried {', '.join(PYGEOAPI_PYTHONS)}). Use --skip-pygeoapi to measure tweeling alone."
    )


def pip_venv(venv: Path, packages: list[str], exe: str, base: str | None = None) -> Path:
    """``packages`` from PyPI in their own venv (not the project's), made with ``base``
    (default: a Python that can load SQLite extensions); the venv's bin folder."""
    if (venv / "bin" / exe).exists():
        return venv / "bin"
    base = base or debian_python(" + ".join(packages))
    print(f"installing {' + '.join(packages)} from PyPI into {venv} ({base}) …", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *packages],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        err = (exc.stderr or b"").decode(errors="replace")[-2000:]
        raise SystemExit(f"CANNOT INSTALL {' + '.join(packages)} from PyPI: {exc}\n{err}") from None
    if not (venv / "bin" / exe).exists():
        raise SystemExit(f"CANNOT INSTALL {' + '.join(packages)}: no {exe} in {venv}/bin")
    return venv / "bin"


def ensure_pygeoapi(venv: Path) -> Path:
    """pygeoapi + gunicorn in their own venv, with spatialite loadable; the venv's python."""
    py = pip_venv(venv, ["pygeoapi", "gunicorn"], "gunicorn") / "python"
    probe = subprocess.run([str(py), "-c", SPATIALITE], capture_output=True, text=True)
    if probe.returncode != 0:
        apt_install("libsqlite3-mod-spatialite", "spatialite, needed by pygeoapi's SQLiteGPKG")
        probe = subprocess.run([str(py), "-c", SPATIALITE], capture_output=True, text=True)
        if probe.returncode != 0:
            raise SystemExit(f"CANNOT LOAD spatialite in {py}: {probe.stderr[-1500:]}")
    return py


def gpkg_provider(gpkg: Path) -> str:
    """pygeoapi's SQLiteGPKG provider on the ``buildings`` table of a GeoPackage (YAML)."""
    return f"""      - type: feature
        name: SQLiteGPKG
        data: {gpkg}
        id_field: tw_id
        table: {LAYER}
        storage_crs: {RD}
        crs: ['{CRS84}', '{RD}']
"""


def pygeoapi_config(folder: Path, py: Path, provider: str, port: int) -> tuple[Path, Path]:
    """pygeoapi's configuration (collection ``buildings`` with the ``provider`` block) and its
    OpenAPI document, made by ``pygeoapi openapi generate``."""
    name = "pygeoapi" if "SQLiteGPKG" in provider else "pygeoapi-pg"
    cfg, oas = folder / f"{name}.yml", folder / f"{name}-openapi.yml"
    cfg.write_text(
        f"""server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  gzip: false
  languages: [en-US]
  pretty_print: false
  limits: {{default_items: 10, max_items: 10000}}
  map: {{url: 'http://127.0.0.1:{port}/no-tiles/{{z}}/{{x}}/{{y}}.png', attribution: none}}
logging:
  level: ERROR
metadata:
  identification:
    title: Tweeling benchmark peer
    description: pygeoapi serving the synthetic buildings of a Tweeling twin
    keywords: [benchmark]
    keywords_type: theme
    terms_of_service: https://creativecommons.org/licenses/by/4.0/
    url: http://127.0.0.1:{port}
  license: {{name: CC-BY 4.0, url: 'https://creativecommons.org/licenses/by/4.0/'}}
  provider: {{name: Tweeling, url: 'http://127.0.0.1:{port}'}}
  contact: {{name: bench, position: bench, address: none, city: Delft, stateorprovince: ZH,
    postalcode: 0000 AA, country: NL, phone: none, fax: none, email: bench@example.org,
    url: 'http://127.0.0.1:{port}', hours: none, instructions: none, role: pointOfContact}}
resources:
  {LAYER}:
    type: collection
    title: Synthetic buildings
    description: Synthetic buildings of a Tweeling twin (not real data)
    keywords: [buildings]
    links: []
    extents:
      spatial: {{bbox: [3.2, 50.7, 7.3, 53.6], crs: '{CRS84}'}}
    providers:
{provider}""",
        encoding="utf-8",
    )
    run = subprocess.run(
        [str(py.parent / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(oas)],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise SystemExit(f"pygeoapi openapi generate failed:\n{run.stderr[-2000:]}")
    return cfg, oas


def peer_gpkg(twin: Path, out: Path) -> Path:
    """A copy of the twin's GeoPackage for pygeoapi (spatialite writes into what it opens)."""
    copy = out / f"pygeoapi-{twin.name}.gpkg"
    src = twin / "twin.gpkg"
    if not copy.exists() or copy.stat().st_mtime < src.stat().st_mtime:
        print(f"copying {src} for pygeoapi …", flush=True)
        shutil.copyfile(src, copy.with_suffix(".part"))
        copy.with_suffix(".part").rename(copy)
    return copy


# --- PostGIS (--store postgis) -------------------------------------------------------------

PG_ADMIN = os.environ.get("TWEELING_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "tweeling_bench_api_{n}"
PYGEOAPI_PG = "0.24"  # the release the issue names; it needs Python >= 3.12
PG_PEER_PACKAGES = ["gunicorn", "psycopg2-binary", "sqlalchemy", "geoalchemy2"]


def pg_url(db: str) -> str:
    """The URL of database ``db`` on the server of ``PG_ADMIN`` (env TWEELING_TEST_PG)."""
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + db


def _pg_buildings(url: str) -> int | None:
    """Rows of the typed view ``buildings`` in ``url``; None without that database or view."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10) as con:
            if con.execute("SELECT to_regclass(%s)", (LAYER,)).fetchone()[0] is None:
                return None
            return con.execute(f"SELECT count(*) FROM {LAYER}").fetchone()[0]
    except psycopg.OperationalError:
        return None


def postgis_twin(n: int, work: Path) -> tuple[Path, str, float | None]:
    """A twin of N synthetic buildings kept in the PostgreSQL database
    ``tweeling_bench_api_N`` (made anew: ``tweeling init --store`` + ``tweeling import
    file``), reused when the twin folder points at that database and it holds N buildings.
    The folder, the database's URL, and the import time (None when reused)."""
    import tomllib

    import psycopg

    url = pg_url(PG_DB.format(n=n))
    db = url.rsplit("/", 1)[1]
    twin, toml = work / f"postgis-{n}", work / f"postgis-{n}" / "twin.toml"
    if toml.exists():
        store = tomllib.loads(toml.read_text(encoding="utf-8")).get("store", {})
        if store.get("url") == url and _pg_buildings(url) == n:
            return twin, url, None
    src = scen.iq.synth(n, work.parent)
    print(f"creating the database {db} and importing {n:,} buildings into it …", flush=True)
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{db}"')
    shutil.rmtree(twin, ignore_errors=True)
    tw = str(scen.iq.VENV_BIN / "tweeling")
    scen.iq.run_measured([tw, "init", str(twin), "--store", url])
    cmd = [tw, "import", "file", str(src), "--layer", LAYER, "--id-field", "bag_id"]
    t, _ = scen.iq.run_measured([*cmd, "--crs", "EPSG:28992", "--twin", str(twin)])
    return twin, url, t


def pygeoapi_pg_python() -> tuple[str, str]:
    """(interpreter, requirement) for pygeoapi's venv: a Python >= 3.12 on PATH or in pyenv
    with pygeoapi 0.24 (the project's Python is 3.11, on which 0.21 is the newest that
    installs); without one, the project's interpreter and the newest pygeoapi for it."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = [shutil.which(f"python3.{minor}") for minor in (12, 13, 14)]
    found += sorted(str(p) for p in root.glob("versions/3.1[2-9]*/bin/python3"))
    probe = "import sys, ensurepip; print(sys.executable if sys.version_info >= (3, 12) else '')"
    for exe in filter(None, found):
        run = subprocess.run([exe, "-c", probe], capture_output=True, text=True)
        if run.returncode == 0 and run.stdout.strip():
            return run.stdout.strip(), f"pygeoapi=={PYGEOAPI_PG}.*"
    return getattr(sys, "_base_executable", sys.executable), "pygeoapi"


def ensure_pygeoapi_pg(venv: Path) -> Path:
    """pygeoapi + gunicorn + its PostgreSQL provider's drivers (psycopg2, SQLAlchemy,
    GeoAlchemy2) in their own venv; the venv's python."""
    if not (venv / "bin" / "gunicorn").exists():
        base, req = pygeoapi_pg_python()
        pip_venv(venv, [req, *PG_PEER_PACKAGES], "gunicorn", base)
    return venv / "bin" / "python"


def pg_provider(url: str, table: str = LAYER) -> str:
    """pygeoapi's PostgreSQL provider on ``table`` of the database ``url`` (YAML)."""
    from urllib.parse import unquote, urlsplit

    u = urlsplit(url)
    data = {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 5432,
        "dbname": u.path.lstrip("/"),
        "user": unquote(u.username or "postgres"),
    }
    if u.password:  # else libpq's PGPASSWORD or ~/.pgpass, as for tweeling
        data["password"] = unquote(u.password)
    conn = ", ".join(f"{k}: {json.dumps(v)}" for k, v in data.items())
    return f"""      - type: feature
        name: PostgreSQL
        data: {{{conn}, search_path: [public]}}
        id_field: tw_id
        table: {table}
        geom_field: geom
        storage_crs: {RD}
        crs: ['{CRS84}', '{RD}']
"""


def _backend_db(pid: str, depth: int = 0) -> str | None:
    """The database a PostgreSQL backend process serves, from its title (``postgres:
    [cluster: ]user database host(port) state``; a parallel worker's, ``… parallel worker for
    PID n``, is that of its leader n)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    m = re.search(r"parallel worker for PID (\d+)", title)
    if m:
        return None if depth else _backend_db(m.group(1), 1)
    m = re.match(r"postgres: (?:[^ :]+: )?\S+ (\S+) ", title)
    return m.group(1) if m else None


PYG_COPY = "pyg_buildings"


def pg_peer_table(url: str, kind: str) -> str:
    """The relation pygeoapi reads: the twin's view ``buildings`` (``view``), or (``copy``)
    a table made from it once, ``pyg_buildings``, with primary key ``tw_id`` and a GiST
    index on ``geom``, clustered on it as the twin clusters its version table."""
    import psycopg

    if kind == "view":
        return LAYER
    with psycopg.connect(url, autocommit=True) as con:
        if con.execute("SELECT to_regclass(%s)", (PYG_COPY,)).fetchone()[0] is None:
            print(f"materialising {LAYER} as the table {PYG_COPY} for pygeoapi …", flush=True)
            con.execute(f"CREATE TABLE {PYG_COPY}_part AS SELECT * FROM {LAYER}")
            con.execute(f"ALTER TABLE {PYG_COPY}_part ADD PRIMARY KEY (tw_id)")
            con.execute(f"CREATE INDEX {PYG_COPY}_geom ON {PYG_COPY}_part USING gist (geom)")
            con.execute(f"CLUSTER {PYG_COPY}_part USING {PYG_COPY}_geom")
            con.execute(f"ANALYZE {PYG_COPY}_part")
            con.execute(f"ALTER TABLE {PYG_COPY}_part RENAME TO {PYG_COPY}")
    return PYG_COPY


def pg_plan(url: str, table: str, box: tuple[float, ...]) -> str:
    """The scans of PostgreSQL's plan for pygeoapi's bbox filter on ``table`` (its query
    with ``ST_Intersects(ST_MakeEnvelope(…), geom)``, ``ORDER BY tw_id LIMIT 100``)."""
    import psycopg

    env = ", ".join(f"{v:.3f}" for v in box)
    sql = (
        f"EXPLAIN (FORMAT JSON) SELECT * FROM {table} WHERE ST_Intersects("
        f"ST_MakeEnvelope({env}, 28992), geom) ORDER BY tw_id LIMIT {LIMIT}"
    )
    with psycopg.connect(url) as con:
        plan = con.execute(sql).fetchone()[0][0]["Plan"]
    scans: list[str] = []

    def walk(node):
        if "Scan" in node["Node Type"]:
            on = node.get("Index Name") or node.get("Relation Name") or ""
            scans.append(f"{node['Node Type']} on {on}".strip())
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return ", ".join(scans) or plan["Node Type"]


class Server:
    """A server in its own process group, ready when ``/conformance`` answers."""

    def __init__(self, name: str, cmd: list[str], port: int, log: Path, env=None, db=None):
        self.name, self.port, self.log, self.db = name, port, log, db
        self.fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, stdout=self.fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                self.fh.close()
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited at start-up ({self.proc.returncode}):\n{tail}")
            try:
                if get(port, "/conformance")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{name} did not answer within 120 s (log: {log})")
            time.sleep(0.2)

    def cpu_ticks(self) -> int:
        """CPU time (clock ticks) of the server's processes (its process group) and, with a
        database, of the PostgreSQL backends serving that database (its connections)."""
        total = 0
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                s = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            f = s[s.rindex(")") + 2 :].split()
            ours = int(f[2]) == self.proc.pid  # pgrp: start_new_session made it the leader
            if not ours and self.db and s[s.index("(") + 1 : s.rindex(")")] == "postgres":
                ours = _backend_db(d) == self.db
            if ours:
                total += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)  # its own process group: the server and its workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.fh.close()


def get(port: int, path: str, conn: http.client.HTTPConnection | None = None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("GET", path, headers={"Accept": "application/geo+json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        if own:
            conn.close()


# --- measurements ------------------------------------------------------------------------


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _machine_busy() -> int:
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(v) - v[3] - v[4]  # all but idle and iowait (ticks)


def _own_seconds() -> float:
    t = os.times()  # this process (the sequential client) and its reaped children (wrk)
    return t.user + t.system + t.children_user + t.children_system


class Outside:
    """Cores' worth of CPU that processes other than the server, this script and wrk used
    during a phase: the machine is shared with other work."""

    def __init__(self, server: Server):
        self.server = server
        self.t, self.busy = time.perf_counter(), _machine_busy()
        self.ours = server.cpu_ticks() / CLK + _own_seconds()

    def cores(self) -> float:
        wall = time.perf_counter() - self.t
        busy = (_machine_busy() - self.busy) / CLK
        ours = self.server.cpu_ticks() / CLK + _own_seconds() - self.ours
        return max(0.0, busy - ours) / wall


def sequential(port: int, paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Latency (ms) of each request in turn over one keep-alive connection, and the
    number of features each returned."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    ms, counts = [], []
    try:
        for p in paths:
            t = time.perf_counter()
            status, body = get(port, p, conn)
            ms.append((time.perf_counter() - t) * 1000)
            if status != 200:
                raise SystemExit(f"GET {p} -> {status}: {body[:500]!r}")
            counts.append(len(json.loads(body)["features"]))
    finally:
        conn.close()
    return np.array(ms), np.array(counts)


def wrk_run(wrk: str, port: int, paths: list[str], args, seconds: int | None = None) -> dict:
    """wrk with ``--concurrency`` connections for ``--seconds``, cycling through ``paths``."""
    seconds = seconds or args.seconds
    lua, urls = args.work / "cycle.lua", args.work / "paths.txt"
    lua.write_text(WRK_LUA, encoding="utf-8")
    urls.write_text("\n".join(paths) + "\n", encoding="utf-8")
    cmd = [wrk, "-t1", f"-c{args.concurrency}", f"-d{seconds}s", "--timeout", "600s"]
    run = subprocess.run(
        [*cmd, "-s", str(lua), f"http://127.0.0.1:{port}", "--", str(urls)],
        capture_output=True,
        text=True,
    )
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if run.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    r = json.loads(line[len("WRKJSON ") :])
    r["errors"] = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    r["ok_per_s"] = (r["requests"] - r["status"]) / (r["duration_us"] / 1e6)
    return r


def measure_once(server: Server, boxes: BoxSet, n_seq: int, warm: int, args, wrk) -> dict:
    for p in boxes.paths[-warm:] if warm else []:
        get(server.port, p)
    res: dict = {"load_seq": load()}
    watch = Outside(server)
    res["ms"], res["returned"] = sequential(server.port, boxes.paths[:n_seq])
    res["out_seq"] = watch.cores()
    ms = res["ms"]
    print(
        f"    sequential {n_seq}: p50 {np.percentile(ms, 50):.2f} ms, p95 "
        f"{np.percentile(ms, 95):.2f} ms, {np.mean(res['returned']):.1f} features/response; "
        f"load avg before {res['load_seq']}, other processes {res['out_seq']:.2f} cores",
        flush=True,
    )
    res["load_wrk"] = load()
    watch = Outside(server)
    res["wrk"] = w = wrk_run(wrk, server.port, boxes.paths, args)
    res["out_wrk"] = watch.cores()
    print(
        f"    wrk -c{args.concurrency} {args.seconds} s: {w['ok_per_s']:.1f} ok requests/s "
        f"({w['requests']} requests, {w['errors']} errors), under load p50 "
        f"{w['p50_us'] / 1000:.1f} ms, p99 {w['p99_us'] / 1000:.1f} ms; load avg before "
        f"{res['load_wrk']}, other processes {res['out_wrk']:.2f} cores",
        flush=True,
    )
    return res


def measure(name: str, server: Server, boxes: BoxSet, n_seq: int, warm: int, args, wrk) -> dict:
    """The quietest of up to 1 + ``--retries`` runs (other processes' CPU during it)."""
    best = None
    for attempt in range(1 + args.retries):
        print(f"  {name}, {boxes.label}, run {attempt + 1}", flush=True)
        res = measure_once(server, boxes, n_seq, warm, args, wrk)
        res["outside"] = max(res["out_seq"], res["out_wrk"])
        res["runs"] = attempt + 1
        if best is None or res["outside"] < best["outside"]:
            best = res
        if res["outside"] <= args.disturbed:
            break
        print(f"    disturbed (> {args.disturbed} cores used by other processes)", flush=True)
    best["runs"] = res["runs"]
    return best


def fetch_check(port: int, sets: list[BoxSet]) -> dict:
    """Features of the check boxes: in RD New (same rectangle for both servers, output in RD
    New) and the same boxes in CRS84 (output in CRS84), limit 10,000."""
    out = {}
    for k, bs in enumerate(sets):
        for i in range(min(CHECK_BOXES, len(bs.rd))):
            rd_text = ",".join(f"{v:.3f}" for v in bs.rd[i])
            for key, path in (
                ("rd", items_path(rd_text, 10_000, **{"bbox-crs": RD, "crs": RD})),
                ("crs84", items_path(bs.crs84[i], 10_000)),
            ):
                status, body = get(port, path)
                if status != 200:
                    raise SystemExit(f"GET {path} -> {status}: {body[:500]!r}")
                out[k, i, key] = {f["id"]: f for f in json.loads(body)["features"]}
    return out


def compare(ours: dict, peer: dict, sets: list[BoxSet], r_ours, r_peer) -> list[str]:
    """Lines of the correctness check."""
    lines, ok = [], True
    for k, i in sorted({(k, i) for k, i, _ in ours}):
        a, b = ours[k, i, "rd"], peer[k, i, "rd"]
        same = set(a) == set(b)
        ok &= same
        a84, b84 = ours[k, i, "crs84"], peer[k, i, "crs84"]
        d_coord, d_attr = 0.0, 0
        for fid in set(a84) & set(b84):
            ca = np.array(_coords(a84[fid]["geometry"]))
            cb = np.array(_coords(b84[fid]["geometry"]))
            if ca.shape != cb.shape:
                d_coord = float("inf")
                continue
            d_coord = max(d_coord, float(np.abs(ca - cb).max()))
            pa, pb = a84[fid]["properties"], b84[fid]["properties"]
            d_attr += any(pa[x] != pb.get(x) for x in pa)
        ok &= d_coord < 1e-8 and d_attr == 0
        lines.append(
            f"{sets[k].label}, box {i}: RD New bbox {len(a)} / {len(b)} ids "
            + ("(same ids)" if same else f"(DIFFERENT: {len(set(a) ^ set(b))} ids differ)")
            + f"; CRS84 bbox {len(a84)} / {len(b84)} ids ({len(set(a84) ^ set(b84))} in one "
            f"only), shared features: coordinates differ by at most {d_coord:.0e} deg, "
            f"{d_attr} with different attributes"
        )
    for k, bs in enumerate(sets):
        m = min(len(r_ours[k]["returned"]), len(r_peer[k]["returned"]))
        same = int((r_ours[k]["returned"][:m] == r_peer[k]["returned"][:m]).sum())
        lines.append(
            f"{bs.label}: the timed limit={LIMIT} responses of the first {m} boxes hold as many "
            f"features on both servers for {same} of {m} (the lon/lat box becomes a slightly "
            "different RD New rectangle in each: ours encloses all four corners and the edge "
            "midpoints, pygeoapi transforms two corners)"
        )
    lines.append("correctness: " + ("PASS" if ok else "FAIL"))
    return lines


def _coords(geom) -> list:
    out: list = []

    def walk(c):
        if c and isinstance(c[0], (int, float)):
            out.append(c[:2])
        else:
            for x in c:
                walk(x)

    walk(geom["coordinates"])
    return out


# --- profile -----------------------------------------------------------------------------


def profile(server: Server, boxes: BoxSet, args, wrk: str) -> list[str]:
    """py-spy samples of our server during a throughput run (not a measured one): the
    functions with the largest inclusive and self shares."""
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter under .venv
    spy = pip_venv(args.out / "profile-venv", ["py-spy"], "py-spy", base) / "py-spy"
    raw = args.work / "profile.txt"  # collapsed stacks (flamegraph.pl, speedscope read it)
    # --gil: only the thread holding the GIL, which one process of Python threads is bound by
    # (other threads wait for it, or run SQLite's C code beside it).
    cmd = [str(spy), "record", "--pid", str(server.proc.pid), "--rate", "250", "--gil"]
    cmd += ["--nonblocking"]
    cmd += ["--duration", str(args.seconds), "--subprocesses", "--format", "raw", "-o", str(raw)]
    spying = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # py-spy attaches; the load lasts past the end of its recording
    wrk_run(wrk, server.port, boxes.paths, args, args.seconds + 2)
    if spying.wait() != 0 or not raw.exists():
        raise SystemExit(f"py-spy failed ({spying.returncode}); it needs ptrace (root here)")
    inclusive, self_, total, idle = Counter(), Counter(), 0, 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        if not frames or frames[-1] in IDLE:
            idle += int(n)  # a worker thread waiting for work, the event loop for sockets
            continue
        total += int(n)
        for f in set(frames):
            inclusive[f] += int(n)
        self_[frames[-1]] += int(n)
    out = [
        f"py-spy --gil ({args.seconds} s at 250 Hz, wrk -c{args.concurrency}, {boxes.label}): "
        f"{total} samples of the thread holding the GIL ({idle} of a thread about to wait "
        f"for work or sockets left out); raw stacks in `{_shown(raw)}`. Some thread held "
        f"the GIL at {(total + idle) / (250 * args.seconds):.0%} of the ticks: the rest is "
        "spent outside it (SQLite, sockets) or handing it from thread to thread.",
        "",
        "| share of GIL time (inclusive) | function |",
        "|---|---|",
    ]
    out += [f"| {n / total:.0%} | `{f}` |" for f, n in _interesting(inclusive, 25)]
    out += ["", "| share of GIL time (self) | function |", "|---|---|"]
    out += [f"| {n / total:.0%} | `{f}` |" for f, n in self_.most_common(15)]
    return out


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# Leaves of threads that wait: for work (the thread pool), for sockets (the event loop; under
# uvloop its C loop shows as Runner.run, mostly waiting in epoll too).
IDLE = {
    "threading.Condition.wait",
    "threading.Event.wait",
    "selectors.EpollSelector.select",
    "asyncio.runners.Runner.run",
}
WRAPPERS = (
    ".process",
    "threading.",
    "asyncio.",
    "anyio.",
    "concurrent.",
    "typer.",
    "tweeling.<module>",
    "tweeling.cli.",
    "<module>",
    "runpy.",
    "uvloop.",
)


def _frame(f: str) -> str:
    """``fn (path/to/module.py:12)`` as ``module.fn``, without the line."""
    name, _, where = f.strip().partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", "src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path.removesuffix('.py').replace('/', '.')}.{name}"


def _interesting(counter: Counter, k: int):
    """The largest inclusive shares, leaving out the thread and CLI plumbing that wraps
    everything."""
    return [(f, n) for f, n in counter.most_common() if not f.startswith(WRAPPERS)][:k]


# --- report ------------------------------------------------------------------------------


def versions(pyg_py: Path | None, wrk: str, pg_url: str | None = None) -> dict[str, str]:
    import sqlite3
    from importlib.metadata import version

    v = {"python (tweeling)": platform.python_version()}
    v.update({p: version(p) for p in ("tweeling", "fastapi", "uvicorn", "orjson", "shapely")})
    v["pyproj"] = version("pyproj")
    if pg_url is not None:
        import psycopg

        v["psycopg (tweeling)"] = version("psycopg")
        with psycopg.connect(pg_url) as con:
            v["PostgreSQL"] = con.execute("SHOW server_version").fetchone()[0].split()[0]
            v["PostGIS"] = con.execute("SELECT postgis_lib_version()").fetchone()[0]
        if pyg_py is not None:
            names = ["pygeoapi", "gunicorn", "flask", "sqlalchemy", "geoalchemy2"]
            names += ["psycopg2-binary", "pyproj"]
            probe = (
                "import platform; from importlib.metadata import version as v; "
                f"print(platform.python_version(), *(v(p) for p in {names!r}))"
            )
            out = subprocess.run([str(pyg_py), "-c", probe], capture_output=True, text=True)
            names = ["python (pygeoapi)", *names[:-1], "pyproj (pygeoapi)"]
            v.update(zip(names, out.stdout.split(), strict=False))
    else:
        v["sqlite (tweeling)"] = sqlite3.sqlite_version
    if pyg_py is not None and pg_url is None:
        probe = (
            "import platform, sqlite3; from importlib.metadata import version as v; "
            "print(platform.python_version(), v('pygeoapi'), v('gunicorn'), v('flask'), "
            "sqlite3.sqlite_version)"
        )
        out = subprocess.run([str(pyg_py), "-c", probe], capture_output=True, text=True)
        names = ["python (pygeoapi)", "pygeoapi", "gunicorn", "flask", "sqlite (pygeoapi)"]
        v.update(zip(names, out.stdout.split(), strict=False))
        spl = subprocess.run([str(pyg_py), "-c", SPATIALITE], capture_output=True, text=True)
        v["spatialite"] = spl.stdout.strip()
    wv = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    v["wrk"] = (wv.stdout + wv.stderr).split("\n")[0].split(" [")[0].replace("wrk ", "")
    return v


def code_fingerprint() -> str:
    """The served code, as the start of a SHA-256 over ``src/tweeling/{api,store}`` (the
    code changes while benchmarks are run), and the time of its latest change."""
    import hashlib

    files = sorted(f for d in ("api", "store") for f in (ROOT / "src/tweeling" / d).glob("*.py"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    latest = datetime.fromtimestamp(max(f.stat().st_mtime for f in files), UTC)
    return f"src/tweeling/api+store sha256 {digest}…, changed {latest:%Y-%m-%d %H:%M} UTC"


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.platform()}"


def table(boxes: BoxSet, ours: dict, peer: dict | None, args) -> list[str]:
    label = f"{boxes.label}, {store_label(args)}" if args.store == "postgis" else boxes.label
    rows = [f"| {label} | tweeling | pygeoapi | ratio |", "|---|---|---|---|"]

    def row(label, a, b="", ratio=""):
        rows.append(f"| {label} | {a} | {b} | {ratio} |")

    def pct(r, q):
        return np.percentile(r["ms"], q)

    row("sequential requests", len(ours["ms"]), len(peer["ms"]) if peer else "skipped")
    for q in (50, 95):
        goal = " (goal < 20 ms)" if q == 95 else ""
        ratio = f"pygeoapi / tweeling **{pct(peer, q) / pct(ours, q):.0f}x**" if peer else ""
        row(f"latency p{q}", f"{pct(ours, q):.2f} ms{goal}", _ms(peer, q), ratio)

    def feats(r):
        c = r["returned"]
        return f"{np.median(c):.0f} / {np.mean(c):.1f} / {(c == LIMIT).mean():.0%}"

    row(f"features per response: median / mean / full pages ({LIMIT})", feats(ours), "")
    if peer:
        rows[-1] = rows[-1].replace("|  |  |", f"| {feats(peer)} |  |")
    wo, wp = ours["wrk"], peer["wrk"] if peer else None
    ratio = (
        f"tweeling / pygeoapi **{wo['ok_per_s'] / wp['ok_per_s']:.0f}x** (goal >= {args.goal_x}x)"
        if wp
        else ""
    )
    row(
        f"throughput, {args.concurrency} connections, {args.seconds} s (ok requests/s)",
        f"{wo['ok_per_s']:.1f}",
        f"{wp['ok_per_s']:.2f}" if wp else "",
        ratio,
    )
    row(
        "requests (errors) in the throughput run",
        f"{wo['requests']} ({wo['errors']})",
        f"{wp['requests']} ({wp['errors']})" if wp else "",
    )
    row(
        "latency under load p50 / p99",
        f"{wo['p50_us'] / 1000:.1f} / {wo['p99_us'] / 1000:.1f} ms",
        f"{wp['p50_us'] / 1000:.0f} / {wp['p99_us'] / 1000:.0f} ms" if wp else "",
    )
    row(
        "other processes' CPU, sequential / throughput (cores); runs",
        _outside(ours),
        _outside(peer) if peer else "",
    )
    return rows


def store_label(args) -> str:
    where = f"the table {PYG_COPY}" if args.pygeoapi_table == "copy" else "the view"
    return f"PostGIS (pygeoapi on {where})"


def _ms(r, q) -> str:
    return f"{np.percentile(r['ms'], q):.0f} ms" if r else ""


def _outside(r) -> str:
    return f"{r['out_seq']:.2f} / {r['out_wrk']:.2f}; {r['runs']}"


def _whatif(args) -> str:
    labels = [
        label
        for label, on in (
            ("httptools + uvloop", args.uvicorn_standard),
            ("pinned to one CPU", args.pin),
            (f"code from {args.pythonpath}", args.pythonpath),
        )
        if on
    ]
    return f" — what-if: {', '.join(labels)}" if labels else ""


def write_report(path: Path, tables, check, loads, prof, args, vers, notes) -> None:
    cmd = " ".join(["benchmarks/api_features.py", *sys.argv[1:]])
    store = f"{store_label(args)}, " if args.store == "postgis" else ""
    lines = [
        f"## {args.n:,} buildings, {store}{args.workers} worker process(es) per server"
        + _whatif(args),
        "",
        f"`.venv/bin/python {cmd}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}.",
        "",
        *notes,
        "",
    ]
    for t in tables:
        lines += [*t, ""]
    lines += ["Load average (1, 5, 15 min) at the start of each phase:", ""]
    lines += [f"- {x}" for x in loads]
    lines += ["", "Correctness (limit 10,000 unless said otherwise):", ""]
    lines += [f"- {c}" for c in check]
    if prof:
        lines += ["", "Profile of `tweeling serve` under load:", "", *prof]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()), ""]
    text = "\n".join(lines)
    if args.append and path.exists():
        path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    else:
        head = "# OGC API Features bbox requests: tweeling vs pygeoapi\n\n"
        path.write_text(head + text, encoding="utf-8")


# --- main --------------------------------------------------------------------------------


def app_from_env():
    """``uvicorn --factory`` entry for ``--workers`` > 1 (``tweeling serve`` has one process)."""
    from tweeling.api.app import create_app

    return create_app(Path(os.environ["TWEELING_BENCH_TWIN"]))


def uvicorn_standard(out: Path) -> Path:
    """httptools + uvloop (what ``uvicorn[standard]`` adds) in a folder of their own, put on
    the server's PYTHONPATH: a what-if for the project's dependencies, the venv untouched."""
    target = out / "uvicorn-standard"
    if not (target / "httptools").exists() or not (target / "uvloop").exists():
        print(f"installing httptools + uvloop from PyPI into {target} …", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "-q", "--target", str(target)]
        run = subprocess.run(
            [*pip, "httptools", "uvloop"],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise SystemExit(f"CANNOT INSTALL httptools + uvloop from PyPI:\n{run.stderr[-2000:]}")
    return target


def serve_workers(port: int, workers: int) -> None:
    """``uvicorn --workers N`` as ``tweeling serve --workers N`` runs it (its listening socket
    made so that responses are not held back by delayed ACKs: uvicorn issue #3149)."""
    from tweeling.api.server_processes import run_processes

    # this folder is on sys.path (start_ours); spawned workers inherit it
    run_processes("api_features:app_from_env", workers=workers, host="127.0.0.1", port=port,
                  log_level="warning")  # fmt: skip


def start_ours(twin: Path, args, db: str | None = None) -> Server:
    port = free_port()
    log = args.work / "tweeling-serve.log"
    env = dict(os.environ)
    extra = [str(args.pythonpath)] if args.pythonpath else []
    if args.uvicorn_standard:
        extra.append(str(uvicorn_standard(args.out)))
    if extra:
        env["PYTHONPATH"] = os.pathsep.join(extra)
    if args.workers == 1:
        cmd = [str(VENV_BIN / "tweeling"), "serve", "--twin", str(twin), "--port", str(port)]
        if args.pin:  # every thread of the process on one CPU: no GIL hand-off across cores
            cmd = ["taskset", "-c", str(os.cpu_count() - 1), *cmd]
        return Server("tweeling serve", cmd, port, log, env, db)
    here = str(Path(__file__).parent)
    code = f"import sys; sys.path.insert(0, {here!r}); import api_features as a; "
    cmd = [sys.executable, "-c", code + f"a.serve_workers({port}, {args.workers})"]
    env["TWEELING_BENCH_TWIN"] = str(twin)
    return Server(f"uvicorn x{args.workers}", cmd, port, log, env, db)


def start_pygeoapi(py: Path, provider: str, args, db: str | None = None) -> Server:
    port = free_port()
    cfg, oas = pygeoapi_config(args.work, py, provider, port)
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oas)}
    cmd = [str(py.parent / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}"]
    cmd += ["--timeout", "600", "pygeoapi.flask_app:APP"]
    log = args.work / ("pygeoapi-pg.log" if db else "pygeoapi.log")
    return Server("pygeoapi (gunicorn)", cmd, port, log, env, db)


def pygeoapi_how(db: str | None, table: str | None, plan: str | None) -> str:
    """The note on the peer's set-up."""
    if db is not None and table is None:
        return "pygeoapi: skipped (--skip-pygeoapi)."
    if db is None:
        return (
            "pygeoapi: its SQLiteGPKG provider (spatialite) on the twin's own `buildings` table "
            "in a copy of `twin.gpkg` (spatialite's `AutoGPKGStart()` writes a `VirtualGPKG` "
            "table into the file it opens), served by gunicorn (its Flask app)."
        )
    if table == LAYER:
        what = (
            f"the twin's own typed view `{LAYER}` (the provider reflects views and declares "
            "`id_field` their primary key). The view's `geom` is a cast of the version "
            f"table's (`geom::geometry(Geometry, 28992)`), which PostgreSQL cannot match to "
            "the GiST index on that table's `geom`"
        )
    else:
        what = (
            f"`{table}`, a table made once from the twin's view (`CREATE TABLE {table} AS "
            f"SELECT * FROM {LAYER}`, primary key `tw_id`, GiST index on `geom`, clustered on "
            "it as the twin's version table is; `--pygeoapi-table copy`)"
        )
    return (
        "pygeoapi: its PostgreSQL provider (SQLAlchemy + GeoAlchemy2 over psycopg2) in the "
        f"same database `{db}`, on {what}. Configuration: `table: {table}`, `id_field: "
        "tw_id`, `geom_field: geom`, `storage_crs` EPSG:28992, other options at their "
        "defaults (`count: true`: every page also counts the features in the box, for "
        "`numberMatched`); served by gunicorn (its Flask app). PostgreSQL's plan for its "
        f"query on the first box: {plan}."
    )


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="buildings in the twin")
    ap.add_argument("--requests", type=int, default=1000, help="sequential requests, tweeling")
    ap.add_argument(
        "--pygeoapi-requests",
        type=int,
        help="sequential requests, pygeoapi (default: 30, where it is slow; --requests with "
        "--pygeoapi-table copy)",
    )
    ap.add_argument(
        "--store",
        choices=("geopackage", "postgis"),
        default="geopackage",
        help="where both servers read the buildings: the twin's GeoPackage (pygeoapi's "
        "SQLiteGPKG provider on a copy) or a PostGIS twin (pygeoapi's PostgreSQL provider "
        "on its view, same database)",
    )
    ap.add_argument(
        "--pygeoapi-table",
        choices=("view", "copy"),
        default="view",
        help="--store postgis: pygeoapi reads the twin's view `buildings`, or a table made "
        f"from it once, `{PYG_COPY}` (primary key, GiST index on geom): the view's geometry "
        "column is a cast, for which PostgreSQL does not use the GiST index",
    )
    ap.add_argument("--concurrency", type=int, default=8, help="connections of wrk")
    ap.add_argument("--seconds", type=int, default=30, help="duration of each throughput run")
    ap.add_argument(
        "--boxes",
        default="50-250,500-1500",
        help="box sets: half widths in metres, LO-HI, comma-separated",
    )
    ap.add_argument("--warmup", type=int, default=20, help="warm-up requests (pygeoapi: 2)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes of each server")
    ap.add_argument("--retries", type=int, default=2, help="repeats of a disturbed phase")
    ap.add_argument(
        "--disturbed", type=float, default=0.3, help="other processes' cores that disturb"
    )
    ap.add_argument("--skip-pygeoapi", action="store_true", help="measure tweeling only")
    ap.add_argument("--profile", action="store_true", help="py-spy profile of our server")
    ap.add_argument(
        "--uvicorn-standard",
        action="store_true",
        help="what-if: our server with httptools + uvloop (uvicorn[standard])",
    )
    ap.add_argument(
        "--pin",
        action="store_true",
        help="what-if: our (single) server process on one CPU (taskset)",
    )
    ap.add_argument(
        "--pythonpath",
        type=Path,
        help="what-if: put DIR first on our server's PYTHONPATH (e.g. a patched copy of src)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results_api.md")
    ap.add_argument("--append", action="store_true", help="add a section to the report")
    args = ap.parse_args()
    if args.pin and args.workers != 1:
        ap.error("--pin pins the one process of --workers 1")
    args.halves = [tuple(float(v) for v in s.split("-")) for s in args.boxes.split(",")]
    pg = args.store == "postgis"
    if args.pygeoapi_requests is None:
        copy = pg and args.pygeoapi_table == "copy"
        args.pygeoapi_requests = args.requests if copy else 30
    args.goal_x = 20 if pg else 50  # the throughput goals per store
    args.work = args.out / "api"
    args.work.mkdir(parents=True, exist_ok=True)
    return args


def main() -> None:
    args = parse_args()
    pg = args.store == "postgis"
    wrk = ensure_wrk()
    pyg_py, url, db, provider, table_ = None, None, None, None, None
    if not args.skip_pygeoapi:
        if pg:
            pyg_py = ensure_pygeoapi_pg(args.out / "pygeoapi-pg-venv")
        else:
            pyg_py = ensure_pygeoapi(args.out / "pygeoapi-venv")
    if pg:
        twin, url, t_import = postgis_twin(args.n, args.work)
        db = url.rsplit("/", 1)[1]
    else:
        twin, t_import = scen.pristine_twin(args.n, args.work)
    if t_import is not None:
        print(f"imported {args.n:,} buildings in {t_import:.1f} s (cached for later runs)")
    if not args.skip_pygeoapi:
        if pg:
            table_ = pg_peer_table(url, args.pygeoapi_table)
            provider = pg_provider(url, table_)
        else:
            provider = gpkg_provider(peer_gpkg(twin, args.work))
    peer_warm = args.warmup if pg else min(args.warmup, 2)

    count = max(args.requests, args.pygeoapi_requests) + args.warmup
    sets = [BoxSet(twin, args.n, h, count) for h in args.halves]
    plan = pg_plan(url, table_, sets[0].rd[0]) if table_ else None
    if plan:
        print(f"PostgreSQL's plan for pygeoapi's bbox query on {table_}: {plan}")
    notes = [
        f"Request: `GET /collections/{LAYER}/items?bbox=<lon/lat, CRS84>&limit={LIMIT}`; per "
        f"set {count} distinct boxes around random buildings (seeded; the same for both "
        f"servers), the last {args.warmup} the warm-up (pygeoapi: {peer_warm}). Sequential: one "
        "keep-alive connection, one request at a time. Throughput: wrk -t1 "
        f"-c{args.concurrency} cycling through all boxes of the set; ok = status 200.",
        "",
        pygeoapi_how(db, table_, plan),
        "",
        "Other processes' CPU: the machine's busy time minus that of the server"
        + (f" (with the PostgreSQL backends connected to `{db}`)" if pg else "")
        + f", the client and wrk, in cores; a phase above {args.disturbed} is repeated (at "
        f"most {args.retries} times, the quietest run is shown; 'runs' counts them).",
    ]
    ours_how = (
        "`tweeling serve` (one uvicorn process)"
        if args.workers == 1
        else f"uvicorn with {args.workers} worker processes on the same `create_app` (its "
        "listening socket made with IPPROTO_TCP: see `serve_workers`)"
    )
    if pg:
        ours_how = f"the PostGIS twin (its `twin.toml` names the same database), {ours_how}"
    if args.uvicorn_standard:
        ours_how += ", WHAT-IF: with httptools + uvloop on its path (uvicorn[standard])"
    if args.pin:
        ours_how += f", WHAT-IF: pinned to CPU {os.cpu_count() - 1} (taskset)"
    if args.pythonpath:
        ours_how += f", WHAT-IF: tweeling imported from `{args.pythonpath}` (PYTHONPATH)"
    else:
        ours_how += f", code {code_fingerprint()}"
    peer_how = "skipped" if args.skip_pygeoapi else f"gunicorn -w {args.workers}"
    notes += ["", f"tweeling: {ours_how}; pygeoapi: {peer_how}."]
    loads = []

    print(f"\n{args.n:,} buildings; load avg {load()}", flush=True)
    server = start_ours(twin, args, db)
    try:
        n_seq, warm = args.requests, args.warmup
        ours = [measure("tweeling", server, bs, n_seq, warm, args, wrk) for bs in sets]
        check_ours = fetch_check(server.port, sets)
        prof = profile(server, sets[0], args, wrk) if args.profile else None
    finally:
        server.stop()
    if prof:
        print("\n" + "\n".join(prof))

    peers, check = None, ["pygeoapi skipped (--skip-pygeoapi)"]
    if pyg_py is not None:
        server = start_pygeoapi(pyg_py, provider, args, db)
        try:
            n_peer, warm = args.pygeoapi_requests, peer_warm
            peers = [measure("pygeoapi", server, bs, n_peer, warm, args, wrk) for bs in sets]
            check_peer = fetch_check(server.port, sets)
        finally:
            server.stop()
        check = compare(check_ours, check_peer, sets, ours, peers)

    tables = []
    for k, bs in enumerate(sets):
        peer = peers[k] if peers else None
        tables.append(table(bs, ours[k], peer, args))
        for name, r in (("tweeling", ours[k]), ("pygeoapi", peer)):
            if r:
                loads.append(
                    f"{name}, {bs.label}: {r['load_seq']} (sequential), {r['load_wrk']} (wrk)"
                )
    vers = versions(pyg_py, wrk, url)
    if pg and pyg_py is not None and not vers.get("pygeoapi", "").startswith(PYGEOAPI_PG):
        notes += [
            "",
            f"pygeoapi {vers.get('pygeoapi')}, not {PYGEOAPI_PG}: {PYGEOAPI_PG} needs Python "
            ">= 3.12 and none was found (PATH, pyenv), or its venv was made earlier "
            f"(delete {args.out / 'pygeoapi-pg-venv'} to make it anew).",
        ]
    for t in tables:
        print("\n" + "\n".join(t).replace("**", ""))
    print("\n" + "\n".join(check))
    print("\nVersions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    write_report(args.report, tables, check, loads, prof, args, vers, notes)
    print(f"\n(written to {args.report})")


if __name__ == "__main__":
    main()
