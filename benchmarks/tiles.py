"""Vector tiles of a 1,000,000-building twin: cold and cached latency, throughput, vs GDAL.

    .venv/bin/python benchmarks/tiles.py [--n 1000000] [--zoom 15] [--side 20] [--repeat 3]

The twin (synthetic buildings, ``tweeling synth`` + ``tweeling import file``) is built once
in ``benchmarks/out/tiles/pristine-N/`` (see ``scenarios.pristine_twin``). The tiles: a
``--side`` × ``--side`` block of zoom ``--zoom`` tiles around the densest town centre
(Amsterdam in the generator).

1. Cold: an empty tile cache (memory and disk), every tile of the block once through
   ``services.tiles.TileService`` in process: p50/p95 per tile (goal p95 < 50 ms) and the
   block's total. ``--repeat`` passes, each with a fresh cache (the OS page cache is warm
   after the first, as it is for the peer).
2. Cached: the block again and again from the memory cache, in process: tiles/s (goal
   ≥ 1,000); and the same from the disk cache only (a fresh service).
3. Through HTTP: a real ``tweeling serve`` (uvicorn, one process); the block cold with one
   client in sequence (p50/p95), then cached with ``wrk`` (2 threads, 16 connections,
   cycling through the block): requests/s and latency percentiles.
4. Peer: GDAL's MVT driver, ``ogr2ogr -f MVT`` from the twin's GeoPackage (the same
   buildings; QGIS/GDAL read it directly) over the block's area, MINZOOM = MAXZOOM = zoom,
   EXTENT 4096, BUFFER 64, uncompressed: wall time per tile set and per tile, in its own
   process (median of ``--repeat``). Ratios are printed; nothing is asserted.

Figures go to ``benchmarks/results_tiles.md``; where the cold time goes is profiled too.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import os
import platform
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import shapely

from tweeling.core.crs import RD_NEW, transformer
from tweeling.services import tiles as ts
from tweeling.services.workspace import open_workspace

iq = importlib.import_module("ingest_and_query")  # this folder is on sys.path as a script
scenarios = importlib.import_module("scenarios")
LAYER = "buildings"
DENSEST = (121000.0, 487000.0)  # RD New: the generator's largest town centre
RESULTS = Path(__file__).resolve().parent / "results_tiles.md"


def block(zoom: int, side: int) -> list[ts.TileId]:
    lon, lat = transformer(RD_NEW, "OGC:CRS84").transform(*DENSEST)
    c = ts.TMS.tile(lon, lat, zoom)
    h = side // 2
    return [
        ts.TileId(zoom, c.y + dr, c.x + dc)
        for dr in range(-h, side - h)
        for dc in range(-h, side - h)
    ]


def block_bounds(tiles: list[ts.TileId]) -> tuple[float, float, float, float]:
    b = np.array([t.bounds() for t in tiles])
    return b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()


def twin_id(ws) -> str:
    return f"{ws.root}|{ws.config['twin'].get('created', '')}"


def cold_pass(twin: Path, tiles) -> tuple[np.ndarray, list[int]]:
    """Every tile once with an empty cache (memory and disk): ms per tile, features each."""
    shutil.rmtree(twin / "cache", ignore_errors=True)
    with open_workspace(twin) as ws:
        svc = ts.TileService(twin, twin_id(ws))
        ws.store.view(None)
        svc.plan(ws.store, LAYER)  # the layer's plan (count, sample) is made once per state
        times, counts = [], []
        for t in tiles:
            t0 = time.perf_counter()
            data = svc.tile(ws.store, [LAYER], t).data
            times.append((time.perf_counter() - t0) * 1000)
            counts.append(len(mapbox_vector_tile.decode(data)[LAYER]["features"]) if data else 0)
    return np.array(times), counts


def cached_rate(twin: Path, tiles, seconds: float, *, memory: bool) -> float:
    """Tiles per second served from the cache: the memory LRU, or (``memory=False``) the
    disk cache through a fresh service each round."""
    with open_workspace(twin) as ws:
        svc = ts.TileService(twin, twin_id(ws))
        for t in tiles:  # fill (from disk, as the cold pass left it)
            svc.tile(ws.store, [LAYER], t)
        served, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            if not memory:
                svc = ts.TileService(twin, twin_id(ws))
            for t in tiles:
                svc.tile(ws.store, [LAYER], t)
            served += len(tiles)
        return served / (time.perf_counter() - t0)


def profile_cold(twin: Path, tiles) -> dict[str, float]:
    """Where a cold pass spends its time (cumulative seconds per step, under cProfile)."""
    shutil.rmtree(twin / "cache", ignore_errors=True)
    with open_workspace(twin) as ws:
        svc = ts.TileService(twin, twin_id(ws), disk=False)
        ws.store.view(None)
        svc.plan(ws.store, LAYER)
        prof = cProfile.Profile()
        prof.enable()
        for t in tiles:
            svc.tile(ws.store, [LAYER], t)
        prof.disable()
    stats = pstats.Stats(prof).stats
    wanted = {
        "tile (all)": ("services/tiles.py", "tile"),
        "store read (GeoPackageStore.features)": ("store/geopackage.py", "features"),
        "attributes (tile_properties)": ("services/tiles.py", "tile_properties"),
        "geometry (prepare_geometries)": ("services/tiles.py", "prepare_geometries"),
        "MVT encoding (encode_prepared)": ("services/tiles.py", "encode_prepared"),
    }
    out = {}
    for label, (path, func) in wanted.items():
        out[label] = sum(
            v[3] for (file, _, name), v in stats.items() if file.endswith(path) and name == func
        )
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(twin: Path, tiles, seconds: float) -> dict:
    """Cold (sequential) and cached (wrk) through a real ``tweeling serve``."""
    import httpx

    shutil.rmtree(twin / "cache", ignore_errors=True)
    port = free_port()
    server = subprocess.Popen(
        [str(iq.VENV_BIN / "tweeling"), "serve", "--twin", str(twin), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    paths = [f"/collections/{LAYER}/tiles/WebMercatorQuad/{t.z}/{t.row}/{t.col}" for t in tiles]
    out: dict = {}
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(200):
                try:
                    if client.get("/tileMatrixSets").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise SystemExit(f"tweeling serve did not start: {server.stderr.read()[-2000:]}")
            times = []
            for p in paths:
                t0 = time.perf_counter()
                r = client.get(p)
                times.append((time.perf_counter() - t0) * 1000)
                if r.status_code not in (200, 204):
                    raise SystemExit(f"{p}: {r.status_code} {r.text[:300]}")
            out["cold"] = np.array(times)
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < min(seconds, 5):  # one client, keep-alive
                for p in paths:
                    client.get(p)
                n += len(paths)
            out["one_client"] = n / (time.perf_counter() - t0)
        if shutil.which("wrk"):
            out["wrk"] = run_wrk(base, paths, seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


WRK_SCRIPT = """
paths = {%s}
i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def run_wrk(base: str, paths: list[str], seconds: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
        script = f.name
    try:
        cmd = ["wrk", "-t2", "-c16", f"-d{int(seconds)}s", "--latency", "-s", script, base]
        text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script)
    out: dict = {"text": text}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            out["rps"] = float(parts[1])
        elif parts[:1] in (["50%"], ["90%"], ["99%"]):
            out[parts[0]] = parts[1]
        elif "Non-2xx" in line:
            out["non2xx"] = int(parts[-1])
    return out


def gdal_peer(ogr2ogr: str, twin: Path, tiles, zoom: int, repeat: int, out: Path) -> dict:
    """``ogr2ogr -f MVT`` over the block's area from the twin's GeoPackage."""
    minx, miny, maxx, maxy = block_bounds(tiles)
    walls, rss = [], []
    target = out / "gdal-mvt"
    for _ in range(repeat):
        shutil.rmtree(target, ignore_errors=True)
        cmd = [ogr2ogr, "-f", "MVT", str(target), str(twin / "twin.gpkg"), LAYER]
        cmd += ["-spat", *(f"{v:.3f}" for v in (minx, miny, maxx, maxy)), "-spat_srs", "EPSG:3857"]
        for opt in (f"MINZOOM={zoom}", f"MAXZOOM={zoom}", "EXTENT=4096", "BUFFER=64"):
            cmd += ["-dsco", opt]
        cmd += ["-dsco", "COMPRESS=NO"]
        wall, peak = iq.run_measured(cmd)
        walls.append(wall)
        rss.append(peak)
    files = list((target / str(zoom)).rglob("*.pbf"))
    inside = {(t.col, t.row) for t in tiles}
    features = 0
    for f in files:
        col, row = int(f.parent.name), int(f.stem)
        if (col, row) in inside:
            features += len(mapbox_vector_tile.decode(f.read_bytes())[LAYER]["features"])
    version = subprocess.run([ogr2ogr, "--version"], capture_output=True, text=True).stdout
    return {
        "wall": float(np.median(walls)),
        "walls": walls,
        "rss": float(np.median(rss)),
        "tiles": len(files),
        "features_in_block": features,
        "version": version.strip(),
    }


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; Python {platform.python_version()}, "
        f"shapely {shapely.__version__}; load average {load:.1f} at the start"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000, help="buildings in the twin")
    ap.add_argument("--zoom", type=int, default=15)
    ap.add_argument("--side", type=int, default=20, help="tiles per side of the block")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10, help="per throughput measurement")
    ap.add_argument("--out", type=Path, default=iq.ROOT / "benchmarks" / "out" / "tiles")
    ap.add_argument("--no-http", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    host = machine()
    print(host, flush=True)
    twin, t_import = scenarios.pristine_twin(args.n, args.out)
    if t_import is not None:
        print(f"imported {args.n:,} buildings in {t_import:.1f} s (kept for later runs)")
    tiles = block(args.zoom, args.side)
    ogr2ogr = iq.ensure_ogr2ogr()

    # Alternate ours and the peer, so that machine noise hits both alike.
    colds, peers = [], []
    for k in range(args.repeat):
        times, counts = cold_pass(twin, tiles)
        colds.append(times)
        print(
            f"cold pass {k + 1}: p50 {np.median(times):.1f} ms, p95 "
            f"{np.percentile(times, 95):.1f} ms, block {times.sum() / 1000:.2f} s",
            flush=True,
        )
        peers.append(gdal_peer(ogr2ogr, twin, tiles, args.zoom, 1, args.out))
        print(f"ogr2ogr -f MVT: {peers[-1]['wall']:.2f} s for {peers[-1]['tiles']} tiles")
    cold = sorted(colds, key=lambda t: t.sum())[len(colds) // 2]  # the median pass
    peer = dict(peers[-1])
    peer["wall"] = float(np.median([p["wall"] for p in peers]))
    peer["walls"] = [p["wall"] for p in peers]
    feats = np.array(counts)
    per_tile_peer = peer["wall"] / peer["tiles"] * 1000

    mem_rate = cached_rate(twin, tiles, args.seconds, memory=True)
    disk_rate = cached_rate(twin, tiles, args.seconds / 2, memory=False)
    print(f"cached in process: {mem_rate:,.0f} tiles/s (memory), {disk_rate:,.0f} (disk)")
    web = {} if args.no_http else http(twin, tiles, args.seconds)
    if web:
        print(
            f"HTTP cold p50 {np.median(web['cold']):.1f} ms p95 "
            f"{np.percentile(web['cold'], 95):.1f} ms; one client {web['one_client']:,.0f}/s; "
            f"wrk {web.get('wrk', {}).get('rps', float('nan')):,.0f} requests/s"
        )
    prof = profile_cold(twin, tiles)
    shutil.rmtree(twin / "cache", ignore_errors=True)
    shutil.rmtree(args.out / "gdal-mvt", ignore_errors=True)

    ratio_block = peer["wall"] / (cold.sum() / 1000)
    lines = [
        "# Vector tile benchmark (`benchmarks/tiles.py`)",
        "",
        f"Run on {date.today().isoformat()}: {host}. GDAL: {peer['version']}.",
        "",
        f"Command: `.venv/bin/python {' '.join(['benchmarks/tiles.py', *sys.argv[1:]])}`",
        "",
        f"Twin: {args.n:,} synthetic buildings (`tweeling synth`, imported with `tweeling "
        f"import file`). Tiles: a {args.side} × {args.side} block of zoom-{args.zoom} tiles "
        f"around the densest town centre: {feats.mean():.0f} buildings per tile on average "
        f"(max {feats.max()}, {feats.sum():,} in all).",
        "",
        "| measure | Tweeling | goal / peer |",
        "|---|---|---|",
        f"| cold tile, in process (empty tile cache, median pass of {args.repeat}) | p50 "
        f"{np.median(cold):.1f} ms, p95 {np.percentile(cold, 95):.1f} ms, max {cold.max():.1f}"
        f" ms | goal p95 < 50 ms: {'met' if np.percentile(cold, 95) < 50 else 'missed'} |",
        f"| cold block of {len(tiles)} tiles, in process | {cold.sum() / 1000:.2f} s "
        f"({cold.mean():.1f} ms a tile) | `ogr2ogr -f MVT` {peer['wall']:.2f} s for "
        f"{peer['tiles']} tiles ({per_tile_peer:.1f} ms a tile; runs "
        f"{', '.join(f'{w:.2f}' for w in peer['walls'])} s; peak RSS {peer['rss']:.0f} MiB) |",
        f"| ratio, block (GDAL time / Tweeling time) | **{ratio_block:.2f}×** | "
        f"per tile: {per_tile_peer / cold.mean():.2f}× |",
        f"| cached, in process (memory LRU) | {mem_rate:,.0f} tiles/s | goal ≥ 1,000: "
        f"{'met' if mem_rate >= 1000 else 'missed'} |",
        f"| cached, in process (disk cache only) | {disk_rate:,.0f} tiles/s | |",
    ]
    if web:
        wrk = web.get("wrk", {})
        lines += [
            f"| cold tile through HTTP (`tweeling serve`, one client) | p50 "
            f"{np.median(web['cold']):.1f} ms, p95 {np.percentile(web['cold'], 95):.1f} ms | "
            "goal p95 < 50 ms |",
            f"| cached through HTTP, one sequential Python client (httpx, keep-alive) | "
            f"{web['one_client']:,.0f} tiles/s"
            " | |",
        ]
        if wrk:
            lines.append(
                f"| cached through HTTP, `wrk -t2 -c16` | {wrk.get('rps', 0):,.0f} requests/s "
                f"(latency p50 {wrk.get('50%')}, p90 {wrk.get('90%')}, p99 {wrk.get('99%')}; "
                f"non-2xx: {wrk.get('non2xx', 0)}) | goal ≥ 1,000: "
                f"{'met' if wrk.get('rps', 0) >= 1000 else 'missed'} |"
            )
    total = prof["tile (all)"] or 1.0
    lines += [
        "",
        f"GDAL wrote {peer['tiles']} tiles (the block plus tiles its edge buildings reach) "
        f"and {peer['features_in_block']:,} features in the block's tiles; Tweeling "
        f"{feats.sum():,} (the counts differ where the two clip and drop tiny slivers "
        "differently). GDAL's time includes its process start and writing the files; "
        "Tweeling's cold time includes writing each tile to its disk cache.",
        "",
        "Where a cold pass spends its time (cProfile, cumulative, share of the whole):",
        "",
        *(f"- {k}: {v:.2f} s ({v / total:.0%})" for k, v in prof.items()),
    ]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"\n(written to {RESULTS})")


if __name__ == "__main__":
    main()
