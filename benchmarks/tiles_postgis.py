"""Vector tiles of a twin in PostGIS: tiles rendered by the database (ST_AsMVT) against the
same tiles rendered in Python from the same store, and against GDAL's MVT driver.

    .venv/bin/python benchmarks/tiles_postgis.py [--n 1000000] [--repeat 3] [--busy]

1. A PostGIS twin of N synthetic buildings (``tweeling synth N`` + ``tweeling init --store``
   + ``tweeling import file``), kept in the database ``tweeling_bench_tiles_N`` and the
   folder ``--out``/tiles-pg-N (re-used while it holds N buildings).
2. Cold tiles (a fresh tile service, no cache) of a ``--side`` × ``--side`` block of zoom 15
   and of zoom 14 around the densest town centre (as ``tiles.py``), in process through
   ``services.tiles.TileService``: with the database rendering (``ST_AsMVT``,
   ``ST_AsMVTGeom``: what a PostGIS twin does), and with the Python renderer on the same
   store (what it did before, and what GeoPackage twins do). Alternated ``--repeat`` times;
   p50/p95 per tile (goal: z15 cold p95 < 50 ms) and the ratio; the tiles' bytes.
3. Peer: ``ogr2ogr -f MVT`` from the twin's database (``PG:`` source, the current-baseline
   view ``buildings``) over the z15 block: wall time per tile (one process, also writing
   files).

``--busy`` keeps one of the two cores busy with another process throughout. Prints ratios;
asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ingest_and_query import VENV_BIN, ensure_ogr2ogr, synth  # noqa: E402
from postgis_ingest import ADMIN, fresh_db  # noqa: E402
from tiles import block, block_bounds  # noqa: E402
from tweeling.services import tiles as ts  # noqa: E402
from tweeling.services.workspace import open_workspace  # noqa: E402


def pg_twin(out: Path, n: int) -> tuple[Path, str]:
    """The PostGIS twin of N synthetic buildings (made when missing) and its URL."""
    twin = out / f"tiles-pg-{n}"
    name = f"tweeling_bench_tiles_{n}"
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    if (twin / "twin.toml").exists():
        try:
            with open_workspace(twin) as ws:
                if ws.store.layer("buildings").count == n:
                    return twin, url
        except Exception:  # a half-made twin from an interrupted run: build it again
            pass
    src = synth(n, out)
    print(f"building the PostGIS twin of {n:,} buildings …", flush=True)
    subprocess.run(["rm", "-rf", str(twin)], check=True)
    fresh_db(name)
    tw = str(VENV_BIN / "tweeling")
    subprocess.run([tw, "init", str(twin), "--store", url], check=True, capture_output=True)
    subprocess.run(
        [
            tw,
            "import",
            "file",
            str(src),
            "--twin",
            str(twin),
            "--layer",
            "buildings",
            "--crs",
            "EPSG:28992",
        ],
        check=True,
        capture_output=True,
    )
    return twin, url


def cold(twin: Path, tiles: list[ts.TileId], database: bool) -> tuple[list[float], int]:
    """Seconds per tile with an empty cache, and the tiles' bytes."""
    with open_workspace(twin) as ws:
        store = ws.store
        if not database:  # the Python renderer on the same store
            store.render_tile = lambda *args, **kwargs: None
        service = ts.TileService(twin, "bench", disk=False)
        service.plans(store, ["buildings"])
        times, size = [], 0
        for t in tiles:
            t0 = time.perf_counter()
            size += len(service.tile(store, ["buildings"], t).data)
            times.append(time.perf_counter() - t0)
    return times, size


def gdal_mvt(url: str, tiles: list[ts.TileId], zoom: int) -> float:
    """Seconds per tile of ``ogr2ogr -f MVT`` over the block (one process)."""
    ogr2ogr = ensure_ogr2ogr()
    minx, miny, maxx, maxy = block_bounds(tiles)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [
                ogr2ogr,
                "-f",
                "MVT",
                f"{tmp}/mvt",
                "PG:" + url,
                "buildings",
                "-spat",
                str(minx),
                str(miny),
                str(maxx),
                str(maxy),
                "-spat_srs",
                "EPSG:3857",
                "-dsco",
                f"MINZOOM={zoom}",
                "-dsco",
                f"MAXZOOM={zoom}",
                "-dsco",
                "EXTENT=4096",
                "-dsco",
                "BUFFER=64",
                "-dsco",
                "COMPRESS=NO",
                "-dsco",
                "MAX_SIZE=100000000",
                "-dsco",
                "MAX_FEATURES=10000",
            ],
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - t0
    return wall / len(tiles)


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def ms(values) -> str:
    v = np.asarray(values) * 1000
    return f"p50 {np.percentile(v, 50):6.1f} ms  p95 {np.percentile(v, 95):6.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--side", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--busy", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    twin, url = pg_twin(args.out, args.n)
    stop = multiprocessing.Event()
    spinner = None
    if args.busy:
        spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
        spinner.start()
    try:
        for zoom, side in ((15, args.side), (14, max(2, args.side // 2))):
            tiles = block(zoom, side)
            results: dict[str, list[float]] = {"ST_AsMVT": [], "Python": []}
            sizes: dict[str, int] = {}
            p95s: dict[str, list[float]] = {"ST_AsMVT": [], "Python": []}
            for _ in range(args.repeat):
                for mode in results:
                    times, sizes[mode] = cold(twin, tiles, database=mode == "ST_AsMVT")
                    results[mode] += times
                    p95s[mode].append(float(np.percentile(times, 95)) * 1000)
            print(
                f"\nzoom {zoom}, {len(tiles)} tiles, {args.n:,} buildings in PostGIS, cold"
                + (" (other core busy)" if args.busy else "")
            )
            for mode, values in results.items():
                spread = f"{min(p95s[mode]):.1f}–{max(p95s[mode]):.1f}"
                print(
                    f"  {mode:>9}: {ms(values)}  (p95 per pass {spread} ms)  {sizes[mode]:,} bytes"
                )
            ratio = np.percentile(results["Python"], 95) / np.percentile(results["ST_AsMVT"], 95)
            med = np.median(results["Python"]) / np.median(results["ST_AsMVT"])
            print(f"  database vs Python renderer: {med:.2f}× at p50, {ratio:.2f}× at p95")
            if zoom == 15:
                per_tile = gdal_mvt(url, tiles, zoom)
                print(
                    f"  peer ogr2ogr -f MVT (PG source): {per_tile * 1000:.1f} ms per tile; "
                    f"ST_AsMVT p50 is {per_tile / np.median(results['ST_AsMVT']):.2f}× faster"
                )
    finally:
        stop.set()
        if spinner:
            spinner.join()


if __name__ == "__main__":
    main()
