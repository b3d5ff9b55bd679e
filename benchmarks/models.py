"""Impact-model costs: time, peak memory and growth with size.

    .venv/bin/python benchmarks/models.py [--out benchmarks/out] [--cases noise,flicker,nitrogen]

1. Road noise on the Delft demo twin (its four illustrative roads, 160 buildings): the whole
   demo extent on a 2 m grid plus all facades, and on a 4 m grid (a quarter of the grid
   receivers) for growth. Run through the CLI (``tweeling run road-noise --no-reuse``), the
   model's own duration from its run record.
2. Shadow flicker, astronomical worst case: 1,000 receptors and 5 turbines over a year at one
   minute, then 2,000 receptors (about twice the time is expected), through the method
   ``shadow_flicker_worst_case``; the sun positions (NREL SPA, pvlib) separately.
3. Nitrogen deposition: 100 sources (farms and stacks, 2-15 km away) onto every hexagon of
   one Natura 2000 site (Meijendel & Berkheide, from the sample data), then 200 sources.

Each case runs in its own process (peak RSS from wait4). No peer tool for these models runs
here (NoiseModelling needs Java and H2GIS, OPS/AERIUS their own meteorological data sets,
WindPRO is proprietary), so the figures are absolute and the growth ratios are the check.
Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

VENV_BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve()


def child(args: list[str]) -> tuple[dict, float]:
    """Run this script with ``args`` in a new process: its JSON output and peak RSS (MiB)."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{args} failed: {err[-3000:]}")
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def demo_twin(out: Path) -> Path:
    twin = out / "models-demo"
    if not (twin / "twin.toml").exists():
        print("building the Delft demo twin …", flush=True)
        subprocess.run(
            [str(VENV_BIN / "tweeling"), "demo", "--twin", str(twin)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return twin


# ---------------------------------------------------------------- the cases (child side)


def case_noise(twin: str, cell: float) -> dict:
    from tweeling.services.demo import local_extent
    from tweeling.services.runs import run_model
    from tweeling.services.workspace import open_workspace

    with open_workspace(Path(twin)) as ws:
        extent = local_extent(ws)
        t0 = time.perf_counter()
        record, _ = run_model(
            ws.store, "road-noise", extent=extent, params={"cell_m": cell}, reuse=False
        )
        wall = time.perf_counter() - t0
    shape = record.outputs["lden"]["shape"]
    return {
        "seconds": wall,
        "model_seconds": record.duration_s,
        "cells": shape[0] * shape[1],
        "facades": record.outputs["facades"]["count"],
        "extent": [round(v, 1) for v in extent],
    }


def case_flicker(n_receptors: int) -> dict:
    from tweeling.methods.shadow_flicker import shadow_flicker_worst_case, sun_positions

    rng = np.random.default_rng(1)
    # five turbines 500 m apart in a row, receptors spread over 2.5 × 1.5 km around them
    turbines = np.array([[85000.0 + 500 * i, 447000.0, 0.0, 120.0, 120.0] for i in range(5)])
    receptors = np.column_stack(
        [
            rng.uniform(84000, 87000, n_receptors),
            rng.uniform(446200, 447800, n_receptors),
            np.full(n_receptors, 2.0),
        ]
    )
    t0 = time.perf_counter()
    sun = sun_positions(52.0, 4.36, year=2025, time_step_minutes=1.0)
    t_sun = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = shadow_flicker_worst_case(receptors, turbines, sun)
    t_flicker = time.perf_counter() - t0
    return {
        "sun_seconds": t_sun,
        "flicker_seconds": t_flicker,
        "time_steps": len(sun.times_utc),
        "receptors_with_flicker": int(np.count_nonzero(result.hours_per_year)),
    }


def case_nitrogen(n_sources: int, site: str) -> dict:
    import shapely

    from tweeling.methods import gaussian_plume as gp
    from tweeling.methods.hexgrid import hexagons_in_polygon
    from tweeling.sources.natura2000 import read_natura2000

    data = Path(os.environ.get("TWEELING_DATA", HERE.parents[2] / "shared" / "data"))
    batch = read_natura2000(data / "natura2000" / "natura2000.geojson", repair=True)
    polygon = next(r.geometry for r in batch if r.properties.get("naam") == site)
    t0 = time.perf_counter()
    hexes = hexagons_in_polygon(polygon, with_polygons=False)
    t_hex = time.perf_counter() - t0
    rng = np.random.default_rng(2)
    centre = shapely.centroid(polygon)
    angle = rng.uniform(0, 2 * np.pi, n_sources)
    distance = rng.uniform(2000, 15000, n_sources)
    x = centre.x + distance * np.cos(angle)
    y = centre.y + distance * np.sin(angle)
    stack = rng.choice([5.0, 30.0], n_sources)
    heat = np.where(stack > 10, 2.0, 0.0)
    frequency = np.zeros((12, 6))
    frequency[:, 3] = 1.0 / 12  # class D from every direction: a neutral test climate
    rose = gp.WindRose(frequency, np.array([2.0, 3.0, 4.0, 5.0, 3.0, 2.0]))
    t0 = time.perf_counter()
    result = gp.nitrogen_deposition(
        x,
        y,
        stack,
        heat,
        rng.uniform(0, 20000, n_sources),
        rng.uniform(0, 5000, n_sources),
        hexes.x_m,
        hexes.y_m,
        wind_rose=rose,
        deposition_velocity_nox_m_s=0.002,
        deposition_velocity_nh3_m_s=0.01,
    )
    t_dep = time.perf_counter() - t0
    return {
        "hexagon_seconds": t_hex,
        "deposition_seconds": t_dep,
        "hexagons": len(hexes.ids),
        "max_mol_n_per_ha_per_yr": float(np.max(result.total_mol_n_per_ha_per_yr)),
    }


# ---------------------------------------------------------------- the report (parent side)


def report_noise(out: Path) -> None:
    twin = str(demo_twin(out))
    print("\n## Road noise, Delft demo extent (4 roads, 160 buildings)")
    rows = {}
    for cell in (4.0, 2.0):
        result, rss = child(["--case", "noise", "--twin", twin, "--cell", str(cell)])
        rows[cell] = result
        print(
            f"  grid {cell:g} m: {result['cells']:,} cells + {result['facades']} buildings' "
            f"facades: model {result['model_seconds']:.2f} s (with I/O {result['seconds']:.2f}"
            f" s), peak RSS {rss:.0f} MiB; extent {result['extent']}"
        )
    ratio = rows[2.0]["model_seconds"] / rows[4.0]["model_seconds"]
    cells = rows[2.0]["cells"] / rows[4.0]["cells"]
    print(f"  2 m / 4 m: {cells:.1f}× the grid cells -> {ratio:.2f}× the time")


def report_flicker() -> None:
    print("\n## Shadow flicker, 5 turbines, one year at 1 minute")
    rows = {}
    for n in (1000, 2000):
        result, rss = child(["--case", "flicker", "--n", str(n)])
        rows[n] = result
        print(
            f"  {n:,} receptors: flicker {result['flicker_seconds']:.2f} s, sun positions "
            f"{result['sun_seconds']:.2f} s ({result['time_steps']:,} steps), peak RSS "
            f"{rss:.0f} MiB; {result['receptors_with_flicker']} receptors get flicker"
        )
    ratio = rows[2000]["flicker_seconds"] / rows[1000]["flicker_seconds"]
    print(f"  2,000 / 1,000 receptors: {ratio:.2f}× the time")


def report_nitrogen(site: str) -> None:
    print(f"\n## Nitrogen deposition onto every hexagon of {site}")
    rows = {}
    for n in (100, 200):
        result, rss = child(["--case", "nitrogen", "--n", str(n), "--site", site])
        rows[n] = result
        print(
            f"  {n} sources -> {result['hexagons']:,} hexagons: deposition "
            f"{result['deposition_seconds']:.2f} s (hexagon grid {result['hexagon_seconds']:.2f}"
            f" s), peak RSS {rss:.0f} MiB; max {result['max_mol_n_per_ha_per_yr']:.2f} "
            "mol N/ha/yr"
        )
    ratio = rows[200]["deposition_seconds"] / rows[100]["deposition_seconds"]
    print(f"  200 / 100 sources: {ratio:.2f}× the time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE.parent / "out")
    ap.add_argument("--cases", default="noise,flicker,nitrogen")
    ap.add_argument("--site", default="Meijendel & Berkheide")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--twin", help=argparse.SUPPRESS)
    ap.add_argument("--cell", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case == "noise":
        print(json.dumps(case_noise(args.twin, args.cell)))
    elif args.case == "flicker":
        print(json.dumps(case_flicker(args.n)))
    elif args.case == "nitrogen":
        print(json.dumps(case_nitrogen(args.n, args.site)))
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        cases = args.cases.split(",")
        if "noise" in cases:
            report_noise(args.out)
        if "flicker" in cases:
            report_flicker()
        if "nitrogen" in cases:
            report_nitrogen(args.site)


if __name__ == "__main__":
    main()
