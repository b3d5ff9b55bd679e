"""Ingest and bbox queries of a twin in PostgreSQL/PostGIS against GDAL's ogr2ogr into the
same server, from the same file.

    .venv/bin/python benchmarks/postgis_ingest.py [--n 1000000] [--repeat 3] [--busy]

1. ``tweeling synth N`` writes N synthetic buildings (GeoJSON text sequence, RD New), once.
2. Peer: ``ogr2ogr -f PostgreSQL`` with ``PG_USE_COPY=YES`` (binary-free COPY, GiST index
   built after the load) into a new database. Tweeling: ``tweeling init --store URL`` +
   ``tweeling import file`` into another new database — end to end: parsing, schema and
   geometry checks, content hashes, versions, binary COPY, indexes, statistics. Alternated
   ``--repeat`` times; wall time (the database server's work included), median and spread.
   ``--busy`` keeps one core busy with another process throughout (2-core machine: the
   figure users see when the machine does other work).
3. Bbox queries returning up to 1,000 buildings: through the twin's store API on the
   PostGIS twin, and as the floor, one SQL query on ogr2ogr's table (``&&`` on its GiST
   index, ``ST_AsBinary``, decoded by shapely), both from this process: p50/p95.

Needs ``ogr2ogr`` (Debian package gdal-bin; installed when missing) and the PostgreSQL
server of scripts/postgis.sh. Prints ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_and_query import ROOT, VENV_BIN, ensure_ogr2ogr, query_boxes, synth

ADMIN = os.environ.get("TWEELING_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def fresh_db(name: str) -> str:
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE EXTENSION postgis")
    return url


def timed(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} … failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start


def ogr2ogr_load(ogr2ogr: str, src: Path) -> float:
    url = fresh_db("bench_ogr2ogr")
    dsn = "PG:" + " ".join(
        f"{k}={v}"
        for k, v in (("host", "127.0.0.1"), ("user", "postgres"), ("dbname", url.rsplit("/", 1)[1]))
    )
    return timed(
        [
            ogr2ogr, "--config", "PG_USE_COPY", "YES", "-f", "PostgreSQL", dsn, str(src),
            "-nln", "synthetic_buildings", "-a_srs", "EPSG:28992", "-lco", "GEOMETRY_NAME=geom",
        ]
    )  # fmt: skip


def twin_load(src: Path, twin: Path) -> float:
    import shutil

    shutil.rmtree(twin, ignore_errors=True)
    url = fresh_db("bench_twin")
    start = time.perf_counter()
    subprocess.run(
        [str(VENV_BIN / "tweeling"), "init", str(twin), "--store", url],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    timed(
        [
            str(VENV_BIN / "tweeling"), "import", "file", str(src), "--layer",
            "synthetic_buildings", "--id-field", "bag_id", "--crs", "EPSG:28992",
            "--twin", str(twin),
        ]
    )  # fmt: skip
    return time.perf_counter() - start


def spread(runs: list[float]) -> str:
    return f"median {statistics.median(runs):6.1f} s (runs {', '.join(f'{r:.1f}' for r in runs)})"


def queries(twin: Path, n: int, count: int) -> None:
    import psycopg
    import shapely

    from tweeling.services.workspace import open_workspace

    boxes = query_boxes(n, count)
    tw, raw, got = [], [], []
    url = ADMIN.rsplit("/", 1)[0] + "/bench_ogr2ogr"
    with open_workspace(twin) as ws, psycopg.connect(url) as con:
        con.execute("SELECT 1")
        for box in boxes:
            t = time.perf_counter()
            feats = list(ws.store.features("synthetic_buildings", bbox=box, limit=1000))
            tw.append(time.perf_counter() - t)
            got.append(len(feats))
            t = time.perf_counter()
            rows = con.execute(
                "SELECT ST_AsBinary(geom), * FROM synthetic_buildings WHERE geom && "
                "ST_MakeEnvelope(%s, %s, %s, %s, 28992) LIMIT 1000",
                box,
                binary=True,
            ).fetchall()
            shapely.from_wkb([r[0] for r in rows])
            raw.append(time.perf_counter() - t)
    tw_ms, raw_ms = np.array(tw) * 1000, np.array(raw) * 1000
    print(
        f"\nBbox queries ({len(boxes)} boxes 0.2-3 km, limit 1000; the twin returned median "
        f"{np.median(got):.0f}, max {max(got)} features)"
    )
    for name, ms in (("tweeling store (PostGIS)", tw_ms), ("SQL on ogr2ogr's table", raw_ms)):
        print(
            f"  {name:25s} p50 {np.percentile(ms, 50):6.2f} ms  p95 {np.percentile(ms, 95):6.2f} ms"
        )
    print(f"  ratio SQL/tweeling p95: {np.percentile(raw_ms, 95) / np.percentile(tw_ms, 95):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--busy", action="store_true", help="keep one core busy throughout")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ogr2ogr = ensure_ogr2ogr()
    src = synth(args.n, args.out)
    hog = None
    if args.busy:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        ogr, tw = [], []
        for _ in range(args.repeat):  # alternated: machine noise hits both alike
            ogr.append(ogr2ogr_load(ogr2ogr, src))
            tw.append(twin_load(src, args.out / "pg-twin"))
        print(
            f"Ingest into PostGIS, {args.n:,} buildings from {src.name}"
            + (" (one core kept busy)" if args.busy else "")
        )
        print(f"  ogr2ogr PG_USE_COPY   {spread(ogr)}  {args.n / statistics.median(ogr):9,.0f} /s")
        print(f"  tweeling import       {spread(tw)}  {args.n / statistics.median(tw):9,.0f} /s")
        ratio = statistics.median(ogr) / statistics.median(tw)
        print(f"  ratio ogr2ogr/tweeling (speed): {ratio:.2f}x")
        queries(args.out / "pg-twin", args.n, args.queries)
    finally:
        if hog is not None:
            hog.kill()


if __name__ == "__main__":
    main()
