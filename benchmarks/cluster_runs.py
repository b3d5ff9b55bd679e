"""Road noise over an area 16× the Delft demo: one process, and a Dask cluster of 1 and 2
workers; the per-tile cost, the cluster's overhead per tile, and the whole country on paper.

    .venv/bin/python benchmarks/cluster_runs.py [--repeat 2] [--tile-m 500] [--busy]

1. The Delft demo twin (``tweeling demo``: 160 real buildings from the 3D city model, four
   illustrative roads, BGT vegetation) is laid out 4 × 4 — copies shifted by the width
   and height of its local extent, ids suffixed — into a new GeoPackage twin: 16 times the
   area at Delft's real building density.
2. ``tweeling run road-noise --no-reuse`` over the whole 16× extent (10 m grid, 500 m
   tiles): in this process tile after tile, then ``--workers 1`` and ``--workers 2`` (a
   local Dask cluster started for the run: its start-up is included, as a user would see
   it). Alternated ``--repeat`` times; every run's wall time and the median.
3. All three must give the same result hash (checked, the benchmark stops otherwise).
4. Per tile: the one-process time / tiles; the cluster's overhead per tile:
   (1 worker − one process) / tiles. The whole Netherlands (33,670 km² of land, CBS) in
   tiles of the same size: tiles × per-tile time / N workers, on paper — real national
   tiles hold more roads in cities and fewer in the countryside than Delft's centre.

``--busy`` keeps one of the two cores busy with another process throughout. Prints;
asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
NL_LAND_KM2 = 33_670.0  # CBS, land area of the Netherlands (excluding water), 2023


def build(out: Path) -> tuple[Path, tuple[float, float, float, float]]:
    """The 4 × 4 Delft twin (made once) and its extent."""
    import shapely.affinity

    from models import demo_twin  # benchmarks/models.py
    from tweeling.core.features import FeatureRecord, ImportBatch
    from tweeling.services.demo import local_extent
    from tweeling.services.workspace import init_workspace, open_workspace

    twin = out / "delft-4x4"
    with open_workspace(demo_twin(out)) as demo:
        ex = local_extent(demo)
        w, h = ex[2] - ex[0], ex[3] - ex[1]
        extent = (ex[0], ex[1], ex[0] + 4 * w, ex[1] + 4 * h)
        if (twin / "twin.toml").exists():
            return twin, extent
        print("laying out the Delft demo 4 × 4 …", flush=True)
        ws = init_workspace(twin)
        try:
            for layer in ("buildings", "road_traffic", "plant_cover"):
                schema = demo.store.schema(layer)
                features = list(demo.store.features(layer, bbox=ex))
                records = [
                    FeatureRecord(
                        layer,
                        f"{f.id}.{i}{j}",
                        shapely.affinity.translate(f.geometry, i * w, j * h),
                        dict(f.properties),
                    )
                    for i in range(4)
                    for j in range(4)
                    for f in features
                ]
                ws.store.write(ImportBatch(f"bench:{layer}", "delft 4x4", [schema], records))
                print(f"  {layer}: {len(records):,}", flush=True)
        finally:
            ws.close()
    return twin, extent


def run_once(twin: Path, extent, tile_m: float, workers: int | None) -> tuple[float, str, int]:
    """Wall time, result hash and tiles of one run (in this process, or on a local cluster
    of ``workers``)."""
    from tweeling.services.cluster import Cluster
    from tweeling.services.runs import run_model
    from tweeling.services.workspace import open_workspace

    with open_workspace(twin) as ws:
        t0 = time.perf_counter()
        record, _ = run_model(
            ws.store,
            "road-noise",
            extent=extent,
            params={"tile_m": tile_m},
            reuse=False,
            cluster=None if workers is None else Cluster(workers=workers),
        )
        wall = time.perf_counter() - t0
    tiles = next(int(n.split()[2]) for n in record.notes if n.startswith("computed in"))
    return wall, record.result_hash, tiles


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE.parent / "out")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tile-m", type=float, default=500.0)
    ap.add_argument("--busy", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    twin, extent = build(args.out)
    area_km2 = (extent[2] - extent[0]) * (extent[3] - extent[1]) / 1e6
    stop = multiprocessing.Event()
    spinner = None
    if args.busy:
        spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
        spinner.start()
    modes = {"one process": None, "1 worker": 1, "2 workers": 2}
    times: dict[str, list[float]] = {m: [] for m in modes}
    hashes, tiles = set(), 0
    try:
        for r in range(args.repeat):
            for mode, workers in modes.items():
                wall, digest, tiles = run_once(twin, extent, args.tile_m, workers)
                times[mode].append(wall)
                hashes.add(digest)
                print(f"run {r + 1} {mode:>12}: {wall:7.1f} s  sha256:{digest[:12]}", flush=True)
    finally:
        stop.set()
        if spinner:
            spinner.join()
    if len(hashes) != 1:
        raise SystemExit(f"result hashes differ: {sorted(hashes)}")
    med = {m: statistics.median(v) for m, v in times.items()}
    one, w1, w2 = med["one process"], med["1 worker"], med["2 workers"]
    per_tile = one / tiles
    overhead = (w1 - one) / tiles
    print()
    print(
        f"road noise, 16 × the Delft demo: {area_km2:.2f} km², {tiles} tiles of "
        f"{args.tile_m:g} m, 10 m grid{' (other core busy)' if args.busy else ''}"
    )
    for mode, values in times.items():
        spread = f"{min(values):.1f}–{max(values):.1f}"
        print(f"  {mode:>12}: median {med[mode]:6.1f} s  (runs {spread} s)")
    print(f"  speed-up 2 workers vs one process: {one / w2:.2f}×; vs 1 worker: {w1 / w2:.2f}×")
    print(
        f"  per tile: {per_tile:.2f} s; cluster overhead per tile: {overhead:+.2f} s "
        "(start-up of the local cluster included)"
    )
    national = NL_LAND_KM2 / (args.tile_m / 1000.0) ** 2
    print(
        f"  the Netherlands ({NL_LAND_KM2:,.0f} km² land) in {national:,.0f} tiles at "
        f"{per_tile:.2f} s each: "
        + ", ".join(f"{n} workers {national * per_tile / n / 3600:.1f} h" for n in (2, 16, 64, 256))
    )


if __name__ == "__main__":
    main()
