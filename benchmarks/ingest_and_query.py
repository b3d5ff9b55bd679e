"""Ingest and bbox-query speed of the twin store against GDAL's ogr2ogr on the same file.

    .venv/bin/python benchmarks/ingest_and_query.py [--n 1000000] [--queries 1000]

1. Writes N synthetic buildings as GeoJSON text sequence (``tweeling synth``), once.
2. Times ``ogr2ogr -f GPKG`` from that file (the peer) and ``tweeling import file`` from the
   same file into a new twin (end to end: reading, checking, versioning, indexing), each in its
   own process, with its peak resident memory (from ``wait4``).
3. Repeats the twin import at N/4 and N/2 to show whether memory grows with N.
4. Runs bbox queries returning up to 1,000 buildings against the twin (the store API) and
   against the ogr2ogr GeoPackage through GDAL (pyogrio), and prints p50/p95.

Needs ``ogr2ogr`` (Debian package gdal-bin; installed when missing). Prints ratios; asserts
nothing (timings do not belong in tests).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


CPU_SECONDS: list[float] = []  # CPU time (user + system) of each run_measured command


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MiB) of a command run in its own process; its CPU time
    (with that of the children it waited for: the import worker) goes to CPU_SECONDS."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed ({code}): {err[-2000:]}")
    CPU_SECONDS.append(usage.ru_utime + usage.ru_stime)
    return elapsed, usage.ru_maxrss / 1024


def ensure_ogr2ogr() -> str:
    exe = shutil.which("ogr2ogr")
    if exe is None:
        print("installing gdal-bin (ogr2ogr) from Debian packages …", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "gdal-bin"], check=True, stdout=subprocess.DEVNULL
        )
        exe = shutil.which("ogr2ogr")
    if exe is None:
        raise SystemExit("ogr2ogr not available")
    return exe


def synth(n: int, out: Path) -> Path:
    path = out / f"synthetic-{n}.geojsons"
    if not path.exists():
        subprocess.run(
            [str(VENV_BIN / "tweeling"), "synth", str(n), str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def twin_import(path: Path, twin: Path) -> tuple[float, float]:
    shutil.rmtree(twin, ignore_errors=True)
    subprocess.run(
        [str(VENV_BIN / "tweeling"), "init", str(twin)], check=True, stdout=subprocess.DEVNULL
    )
    return run_measured(
        [
            str(VENV_BIN / "tweeling"),
            "import",
            "file",
            str(path),
            "--layer",
            "synthetic_buildings",
            "--id-field",
            "bag_id",
            "--crs",
            "EPSG:28992",
            "--twin",
            str(twin),
        ]
    )


def query_boxes(n: int, queries: int, seed: int = 7) -> list[tuple[float, ...]]:
    """Boxes around random synthetic buildings, 0.2 to 3 km wide (a few to 1,000+ buildings).

    Centres come from the generator itself (same seed as ``tweeling synth``), not from a
    query, so that choosing boxes costs nothing.
    """
    from tweeling.services.demo import default_data_dir
    from tweeling.sources.synthetic import MUNICIPALITIES, generate, municipalities

    rng = np.random.default_rng(seed)
    places = municipalities(default_data_dir() / MUNICIPALITIES)
    cols = generate(min(n, 100_000), seed=1, places=places)
    picks = rng.integers(0, len(cols["cx"]), queries)
    halves = rng.uniform(100, 1500, queries)
    return [
        (cols["cx"][i] - h, cols["cy"][i] - h, cols["cx"][i] + h, cols["cy"][i] + h)
        for i, h in zip(picks, halves, strict=True)
    ]


def time_twin_queries(twin: Path, boxes) -> tuple[np.ndarray, np.ndarray]:
    from tweeling.services.workspace import open_workspace

    times, counts = [], []
    with open_workspace(twin) as ws:
        for box in boxes:
            t = time.perf_counter()
            feats = list(ws.store.features("synthetic_buildings", bbox=box, limit=1000))
            times.append(time.perf_counter() - t)
            counts.append(len(feats))
    return np.array(times) * 1000, np.array(counts)


def time_gdal_queries(gpkg: Path, boxes) -> np.ndarray:
    import pyogrio

    times = []
    for box in boxes:
        t = time.perf_counter()
        pyogrio.raw.read(gpkg, bbox=box, max_features=1000)
        times.append(time.perf_counter() - t)
    return np.array(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--skip-scaling", action="store_true", help="no N/4, N/2 memory runs")
    ap.add_argument("--repeat", type=int, default=3, help="ingest runs each (median shown)")
    ap.add_argument("--busy", action="store_true", help="keep one core busy during ingest")
    ap.add_argument(
        "--queries-only",
        action="store_true",
        help="reuse the twin and GeoPackage of an earlier run in --out",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ogr2ogr = ensure_ogr2ogr()
    n = args.n
    src = synth(n, args.out)
    print(f"source: {src.name} ({src.stat().st_size / 2**20:.0f} MiB, {n:,} buildings)")

    gpkg = args.out / "ogr2ogr.gpkg"
    twin = args.out / "twin"
    if args.queries_only:
        run_queries(twin, gpkg, args.n, args.queries)
        return
    gpkg.unlink(missing_ok=True)
    ogr_cmd = [
        ogr2ogr,
        "-f",
        "GPKG",
        str(gpkg),
        str(src),
        "-nln",
        "synthetic_buildings",
        "-a_srs",
        "EPSG:28992",
    ]
    ogr_runs, tw_runs, ogr_cpu, tw_cpu = [], [], [], []
    hog = None
    if args.busy:  # the other core kept busy: what users see when the machine does more
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for _ in range(args.repeat):  # alternate, so that machine noise hits both alike
            gpkg.unlink(missing_ok=True)
            ogr_runs.append(run_measured(ogr_cmd))
            ogr_cpu.append(CPU_SECONDS[-1])
            tw_runs.append(twin_import(src, twin))
            tw_cpu.append(CPU_SECONDS[-1])
    finally:
        if hog is not None:
            hog.kill()
    t_ogr, m_ogr = float(np.median([r[0] for r in ogr_runs])), max(r[1] for r in ogr_runs)
    t_tw, m_tw = float(np.median([r[0] for r in tw_runs])), max(r[1] for r in tw_runs)
    print(f"\nIngest, end to end from the same GeoJSONSeq file (median of {args.repeat} runs)")
    print(
        f"  ogr2ogr -f GPKG     {t_ogr:7.1f} s  {n / t_ogr:9,.0f} features/s  "
        f"peak {m_ogr:6.0f} MiB  runs {[round(r[0], 1) for r in ogr_runs]}"
    )
    print(
        f"  tweeling import     {t_tw:7.1f} s  {n / t_tw:9,.0f} features/s  "
        f"peak {m_tw:6.0f} MiB  runs {[round(r[0], 1) for r in tw_runs]}"
    )
    print("  (peak = the largest resident set of the process or its import worker)")
    print(f"  ratio tweeling/ogr2ogr (speed): {t_ogr / t_tw:.2f}x  (goal >= 1.5x)")
    print(
        f"  CPU time (user + system, median): ogr2ogr {np.median(ogr_cpu):.1f} s, "
        f"tweeling {np.median(tw_cpu):.1f} s ({np.median(tw_cpu) / np.median(ogr_cpu):.2f}x "
        "ogr2ogr's)" + ("; the other core was kept busy" if args.busy else "")
    )

    if not args.skip_scaling:
        print("\nMemory while streaming (peak RSS of the import process)")
        for k in (4, 2):
            part = synth(n // k, args.out)
            t, m = twin_import(part, args.out / f"twin-{k}")
            print(f"  N = {n // k:>9,}: {t:6.1f} s, peak {m:6.0f} MiB")
            shutil.rmtree(args.out / f"twin-{k}", ignore_errors=True)
        print(f"  N = {n:>9,}: {t_tw:6.1f} s, peak {m_tw:6.0f} MiB")

    run_queries(twin, gpkg, args.n, args.queries)


def run_queries(twin: Path, gpkg: Path, n: int, queries: int) -> None:
    boxes = query_boxes(n, queries)
    tw_ms, counts = time_twin_queries(twin, boxes)
    gd_ms = time_gdal_queries(gpkg, boxes)
    print(
        f"\nBbox queries ({len(boxes)} boxes 0.2-3 km, limit 1000; returned "
        f"median {np.median(counts):.0f}, max {counts.max()} features)"
    )
    for name, ms in (("tweeling store", tw_ms), ("GDAL on ogr2ogr GPKG", gd_ms)):
        print(
            f"  {name:22s} p50 {np.percentile(ms, 50):6.2f} ms  "
            f"p95 {np.percentile(ms, 95):6.2f} ms  (goal p95 < 20 ms)"
        )
    print(f"  ratio GDAL/tweeling p95: {np.percentile(gd_ms, 95) / np.percentile(tw_ms, 95):.2f}x")


if __name__ == "__main__":
    main()
