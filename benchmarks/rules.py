"""Checking a scenario against the norms: 1,000 interventions against 10,000 rule locations.

    .venv/bin/python benchmarks/rules.py [--buildings 10000] [--norms 10000] [--changes 1000]

A twin of synthetic buildings (boxes over 5 × 5 km in RD New) and a `norms` layer of
maximum-height norms on random zones (50-200 m); a scenario raises ``--changes`` buildings.
Times ``services.rules.check_scenario`` (goal: under 2 s) and, for comparison, the same
judgement by nested loops (every changed building against every norm, shapely intersects one
pair at a time). Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import shapely

from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.core.interventions import Intervention
from tweeling.core.rules import (
    NORM_FIELDS,
    NORMS_LAYER,
    LegalReference,
    Norm,
    NormValue,
    judge,
    norm_properties,
)
from tweeling.services import rules
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace

X0, Y0, SIZE = 80000.0, 440000.0, 5000.0


def build(root: Path, n_buildings: int, n_norms: int, n_changes: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    ws = init_workspace(root)
    x = rng.uniform(X0, X0 + SIZE, n_buildings)
    y = rng.uniform(Y0, Y0 + SIZE, n_buildings)
    buildings = [
        FeatureRecord(
            "buildings",
            f"b{i}",
            shapely.box(x[i], y[i], x[i] + 12, y[i] + 10),
            {"height_m": float(rng.uniform(3, 20))},
        )
        for i in range(n_buildings)
    ]
    zx = rng.uniform(X0, X0 + SIZE, n_norms)
    zy = rng.uniform(Y0, Y0 + SIZE, n_norms)
    zs = rng.uniform(50, 200, n_norms)
    norms = [
        Norm(
            f"n{i}",
            "omgevingsnorm",
            "maximum bouwhoogte",
            "bouwen",
            "building_height_m",
            "maximum",
            NormValue(float(rng.choice([6.0, 10.0, 15.0, 25.0])), "m"),
            LegalReference("Benchmark plan", f"art. {i}"),
            "benchmark",
            location=shapely.box(zx[i], zy[i], zx[i] + zs[i], zy[i] + zs[i]),
        )
        for i in range(n_norms)
    ]
    ws.store.write(
        ImportBatch(
            "bench:twin",
            "bench",
            [
                LayerSchema("buildings", "POLYGON", {"height_m": "REAL"}),
                LayerSchema(NORMS_LAYER, "GEOMETRY", NORM_FIELDS),
            ],
            buildings
            + [FeatureRecord(NORMS_LAYER, n.id, n.location, norm_properties(n)) for n in norms],
        )
    )
    changed = rng.choice(n_buildings, n_changes, replace=False)
    sc.create_scenario(ws.store, "bench")
    sc.apply_interventions(
        ws.store,
        "bench",
        [
            Intervention(
                "modify",
                f"raise b{i}",
                layer="buildings",
                id=f"b{i}",
                properties={"height_m": 30.0},
            )
            for i in changed
        ],
    )
    return ws, norms, [buildings[i] for i in changed]


def nested_loops(norms, changed, on: date) -> int:
    count = 0
    for b in changed:
        for n in norms:
            if n.in_force(on) and n.location.intersects(b.geometry):
                judge(n, 30.0)
                count += 1
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--buildings", type=int, default=10_000)
    ap.add_argument("--norms", type=int, default=10_000)
    ap.add_argument("--changes", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tweeling-rules-bench-"))
    try:
        t0 = time.perf_counter()
        ws, norms, changed = build(tmp / "twin", args.buildings, args.norms, args.changes)
        print(
            f"twin: {args.buildings:,} buildings, {args.norms:,} norm locations, "
            f"{args.changes:,} interventions (built in {time.perf_counter() - t0:.1f} s)"
        )
        on = date(2026, 11, 28)
        times, count = [], 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            record = rules.check_scenario(ws.store, "bench", on)
            times.append(time.perf_counter() - t0)
            count = len(record.findings)
        check = float(np.median(times))
        t0 = time.perf_counter()
        loops = nested_loops(norms, changed, on)
        naive = time.perf_counter() - t0
        print(
            f"check_scenario: {check:.2f} s (median of {args.repeat}; goal < 2 s), "
            f"{count:,} findings"
        )
        print(
            f"nested loops (judging only, no reading or storing): {naive:.2f} s, "
            f"{loops:,} findings -> ratio {naive / check:.1f}×"
        )
        ws.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
