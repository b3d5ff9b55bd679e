"""Scenario costs on a small and a large twin: create, deep reads, diff, freeze.

    .venv/bin/python benchmarks/scenarios.py [--sizes 10000,1000000] [--interventions 1000]

Per twin size N (synthetic buildings, imported once and cached in ``--out``/scenarios; each run
works on a fresh copy of that twin):

1. Creating a scenario and applying ``--interventions`` interventions (60 % modify, 20 % add,
   20 % remove, all distinct objects) in one transaction — should cost the same at any N.
   Peer: the conventional scenario, a copy of the data: ``ogr2ogr -f GPKG`` of the buildings
   layer (and, for reference, a plain copy of the twin's file).
2. A chain baseline -> l1 -> … -> l5 (``--level-interventions`` each); the same bbox queries
   (limit 1,000) on the baseline and on l5, alternated: p50/p95 and their ratio (goal <= 2).
3. Diff of a scenario against its parent for 10, 100, 1,000 changes — should follow the
   changes, not N.
4. Freezing (a content hash over the whole view): grows with N by design.

Scenario operations are timed in-process (``time.perf_counter``), the peers each in their own
process. Medians of ``--repeat`` runs. Prints ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import time
from pathlib import Path

import numpy as np
import shapely

from tweeling.core.interventions import Intervention
from tweeling.services import scenarios as sc
from tweeling.services.workspace import open_workspace

# Helpers shared with the ingest benchmark (this folder is on sys.path when run as a script).
iq = importlib.import_module("ingest_and_query")
LAYER = "buildings"
BOXES = {"50-400 m": (25, 200), "0.2-3 km": (100, 1500)}  # half widths of query boxes


def pristine_twin(n: int, out: Path) -> tuple[Path, float | None]:
    """A twin of N synthetic buildings, imported once (the marker file holds the import
    time; None when the twin was imported by an earlier run)."""
    twin, marker = out / f"pristine-{n}", out / f"pristine-{n}.ok"
    if marker.exists():
        return twin, None
    src = iq.synth(n, out.parent)
    shutil.rmtree(twin, ignore_errors=True)
    tw = str(iq.VENV_BIN / "tweeling")
    iq.run_measured([tw, "init", str(twin)])
    cmd = [tw, "import", "file", str(src), "--layer", LAYER, "--id-field", "bag_id"]
    t, _ = iq.run_measured([*cmd, "--crs", "EPSG:28992", "--twin", str(twin)])
    marker.write_text(f"{t:.1f}\n")
    return twin, t


def fresh_copy(pristine: Path, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work)
    return work


class Picker:
    """Distinct random buildings of the baseline (ids are SYNTH.0 … SYNTH.{N-1})."""

    def __init__(self, n: int, seed: int = 11):
        self.order = np.random.default_rng(seed).permutation(n)
        self.used = 0

    def take(self, k: int) -> list[str]:
        if self.used + k > len(self.order):
            raise SystemExit(f"not enough buildings for {k} more distinct objects")
        ids = [f"SYNTH.{i}" for i in self.order[self.used : self.used + k]]
        self.used += k
        return ids


def interventions(store, ids: list[str], mix=(0.6, 0.2, 0.2)) -> list[Intervention]:
    """Modify, add (a 10 m box 30 m east of a building) and remove, in the ratio ``mix``."""
    n_mod, n_add = round(len(ids) * mix[0]), round(len(ids) * mix[1])
    area = store.area_of_interest()
    near = store.lookup(LAYER, ids[n_mod : n_mod + n_add])
    out = [
        Intervention("modify", "raise", "bench", layer=LAYER, id=i, properties={"height_m": 30.0})
        for i in ids[:n_mod]
    ]
    for f in near.values():
        x, y = shapely.get_coordinates(f.geometry.centroid)[0]
        x = min(x + 30, area[2] - 10)
        box = shapely.box(x, y, x + 10, min(y + 10, area[3]))
        out.append(
            Intervention(
                "add", "new", "bench", layer=LAYER, geometry=box, properties={"height_m": 15.0}
            )
        )
    out += [
        Intervention("remove", "demolish", "bench", layer=LAYER, id=i) for i in ids[n_mod + n_add :]
    ]
    return out


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t, result


def query_boxes(store, ids: list[str], half: tuple[float, float], seed: int = 7) -> list:
    rng = np.random.default_rng(seed)
    feats = store.lookup(LAYER, ids)
    cs = shapely.get_coordinates(shapely.centroid([f.geometry for f in feats.values()]))
    hs = rng.uniform(*half, len(cs))
    return [(x - h, y - h, x + h, y + h) for (x, y), h in zip(cs, hs, strict=True)]


def read_ms(store, box, scenario: str | None) -> tuple[float, int]:
    t = time.perf_counter()
    n = sum(1 for _ in store.features(LAYER, bbox=box, limit=1000, scenario=scenario))
    return (time.perf_counter() - t) * 1000, n


def bench_size(n: int, args, ogr2ogr: str) -> dict:
    pristine, t_import = pristine_twin(n, args.out)
    if t_import is not None:
        print(f"  imported {n:,} buildings in {t_import:.1f} s (cached for later runs)")
    twin = fresh_copy(pristine, args.out / f"work-{n}")
    gpkg = twin / "twin.gpkg"
    r: dict = {"n": n, "mib": gpkg.stat().st_size / 2**20}
    # Scenarios on the baseline may share objects; the levels of one chain may not.
    create_ids = Picker(n).take(args.interventions)  # every repeat applies this set anew

    # 1. create + apply vs copying the data
    create, apply, ogr, fcopy = [], [], [], []
    peer_out = args.out / f"peer-{n}.gpkg"
    for k in range(args.repeat):  # alternate, so that machine noise hits both alike
        peer_out.unlink(missing_ok=True)
        ogr.append(iq.run_measured([ogr2ogr, "-f", "GPKG", str(peer_out), str(gpkg), LAYER])[0])
        fcopy.append(timed(shutil.copyfile, gpkg, args.out / f"copy-{n}.gpkg")[0])
        os.sync()  # the copies' write-back must not land in the scenario's first commit
        with open_workspace(twin) as ws:
            ivs = interventions(ws.store, create_ids)  # not timed: making the objects
            t, _ = timed(sc.create_scenario, ws.store, f"c{k}", author="bench")
            create.append(t)
            t, rep = timed(sc.apply_interventions, ws.store, f"c{k}", ivs, author="bench")
            apply.append(t)
    peer_out.unlink(missing_ok=True)
    (args.out / f"copy-{n}.gpkg").unlink(missing_ok=True)
    r.update(create=np.median(create), apply=np.median(apply), ogr=np.median(ogr))
    r.update(fcopy=np.median(fcopy), counts=rep.counts)
    print(
        f"  create {r['create'] * 1000:.1f} ms + apply {len(ivs)} {rep.counts} "
        f"{r['apply']:.2f} s  | ogr2ogr {r['ogr']:.2f} s  | file copy {r['fcopy']:.2f} s"
    )

    # 4. freeze (hash over the whole view of c0, with its interventions)
    with open_workspace(twin) as ws:
        r["freeze"] = np.median(
            [timed(sc.freeze_scenario, ws.store, "c0", f"v{k}")[0] for k in range(args.repeat)]
        )

    # 2. five levels deep: baseline -> l1 -> … -> l5
    with open_workspace(twin) as ws:
        store, parent, build, pick = ws.store, "baseline", [], Picker(n, seed=13)
        for lv in range(1, args.levels + 1):
            ivs = interventions(store, pick.take(args.level_interventions))
            t0 = time.perf_counter()
            sc.create_scenario(store, f"l{lv}", parent=parent, author="bench")
            sc.apply_interventions(store, f"l{lv}", ivs, author="bench")
            build.append(time.perf_counter() - t0)
            parent = f"l{lv}"
        r["chain_build"] = build
    deep = f"l{args.levels}"
    r["reads"] = {}
    centre_ids = Picker(n, seed=23).take(min(args.queries, n))
    with open_workspace(twin) as ws:
        store = ws.store
        for label, half in BOXES.items():
            boxes = query_boxes(store, centre_ids, half)
            read_ms(store, boxes[0], None)  # warm up each once (hidden-id sets, page cache)
            read_ms(store, boxes[0], deep)
            base, scen, got = [], [], []
            for i, box in enumerate(boxes):  # alternate which goes first (page cache)
                for ref in (None, deep) if i % 2 else (deep, None):
                    t, found = read_ms(store, box, ref)
                    (base if ref is None else scen).append(t)
                    if ref == deep:
                        got.append(found)  # features the l5 read returned
            r["reads"][label] = (np.array(base), np.array(scen), np.array(got))
            print(
                f"  {len(boxes)} reads {label}: p50 baseline {np.median(base):.2f} ms, "
                f"{deep} {np.median(scen):.2f} ms",
                flush=True,
            )

    # 3. diff in proportion to the changes
    r["diff"] = {}
    with open_workspace(twin) as ws:
        for k in args.changes:
            ivs = interventions(ws.store, Picker(n, seed=k).take(k), mix=(1.0, 0.0, 0.0))
            sc.create_scenario(ws.store, f"d{k}", author="bench")
            sc.apply_interventions(ws.store, f"d{k}", ivs, author="bench")
    for k in args.changes:
        times = []
        for _ in range(args.repeat):  # a fresh connection each time: no cached id sets
            with open_workspace(twin) as ws:
                t, d = timed(sc.diff_scenarios, ws.store, f"d{k}")
                times.append(t)
        r["diff"][k] = (np.median(times), d.counts().get(LAYER, {}))
        print(f"  diff d{k}: {r['diff'][k][0] * 1000:.1f} ms, found {r['diff'][k][1]}")
    with open_workspace(twin) as ws:  # five levels down, against the baseline
        r["diff_deep"] = timed(sc.diff_scenarios, ws.store, "baseline", deep)
    print(
        f"  diff baseline..{deep}: {r['diff_deep'][0] * 1000:.1f} ms, found "
        f"{r['diff_deep'][1].counts().get(LAYER, {})}"
    )
    return r


def summary(results: list[dict], args) -> list[str]:
    """The summary as markdown table rows (printed as plain text, too)."""
    sz = [f"N = {r['n']:,}" for r in results]
    out = ["| | " + " | ".join(sz) + " |", "|---" * (len(sz) + 1) + "|"]

    def row(label, cells):
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    row("twin file", [f"{r['mib']:.0f} MiB" for r in results])
    ni = args.interventions
    row("create scenario", [f"{r['create'] * 1000:.1f} ms" for r in results])
    row(f"apply {ni} interventions", [f"{r['apply']:.2f} s" for r in results])
    row(
        f"create + {ni}, per intervention",
        [f"{(r['create'] + r['apply']) / ni * 1000:.2f} ms" for r in results],
    )
    row("peer: ogr2ogr copy of the layer", [f"{r['ogr']:.2f} s" for r in results])
    row(
        "ratio ogr2ogr / (create + apply)",
        [f"{r['ogr'] / (r['create'] + r['apply']):.1f}x" for r in results],
    )
    row("(plain file copy of twin.gpkg)", [f"{r['fcopy']:.2f} s" for r in results])
    a = [r["create"] + r["apply"] for r in results]
    if len(results) > 1:
        row("create + apply, largest / smallest twin", [f"{a[-1] / a[0]:.2f}x (goal ~1x)", ""])
    row(
        f"build l1..l{args.levels} ({args.level_interventions} each)",
        [f"{sum(r['chain_build']):.2f} s" for r in results],
    )
    for label in BOXES:
        for q in (50, 95):
            cells = []
            for r in results:
                base, scen, _ = r["reads"][label]
                pb, ps = np.percentile(base, q), np.percentile(scen, q)
                cells.append(f"{pb:.2f} / {ps:.2f} ms = **{ps / pb:.2f}x**")
            row(f"bbox {label} p{q}: baseline / l{args.levels}", cells)
        row(
            f"(features per {label} read, median / max)",
            [
                f"{np.median(r['reads'][label][2]):.0f} / {r['reads'][label][2].max()}"
                for r in results
            ],
        )
    for k in args.changes:
        row(f"diff, {k} changes", [f"{r['diff'][k][0] * 1000:.1f} ms" for r in results])
    row(
        f"diff baseline..l{args.levels} ({args.levels * args.level_interventions} changes)",
        [f"{r['diff_deep'][0] * 1000:.1f} ms" for r in results],
    )
    row("freeze (hash of the whole view; grows with N)", [f"{r['freeze']:.2f} s" for r in results])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,1000000", help="twin sizes (buildings)")
    ap.add_argument("--interventions", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="runs each (median shown)")
    ap.add_argument("--levels", type=int, default=5)
    ap.add_argument("--level-interventions", type=int, default=200)
    ap.add_argument("--changes", default="10,100,1000", help="diff sizes")
    ap.add_argument("--out", type=Path, default=iq.ROOT / "benchmarks" / "out")
    args = ap.parse_args()
    args.changes = [int(c) for c in args.changes.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    args.out = args.out / "scenarios"
    args.out.mkdir(parents=True, exist_ok=True)
    ogr2ogr = iq.ensure_ogr2ogr()
    results = []
    for n in sizes:
        print(f"\nTwin of {n:,} buildings", flush=True)
        results.append(bench_size(n, args, ogr2ogr))
        shutil.rmtree(args.out / f"work-{n}", ignore_errors=True)
    table = summary(results, args)
    title = (
        f"scenarios.py --sizes {args.sizes} --interventions {args.interventions} "
        f"--queries {args.queries} --repeat {args.repeat} (medians)"
    )
    print(f"\nSummary: {title}\n")
    rows = [[c.strip() for c in ln.replace("**", "").strip("|").split("|")] for ln in table]
    rows = [rows[0], *rows[2:]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    md = args.out.parent / "scenarios-results.md"
    md.write_text(f"# {title}\n\n" + "\n".join(table) + "\n", encoding="utf-8")
    print(f"\n(written to {md})")


if __name__ == "__main__":
    main()
