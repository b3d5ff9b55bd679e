"""Many people at once: concurrent clients on ``tweeling serve --workers N`` over one
PostGIS twin, reading and editing at the same time.

    .venv/bin/python benchmarks/concurrent_clients.py [--n 1000000] [--twin DIR]
        [--clients 50] [--writers 5] [--workers 4] [--seconds 60] [--compare 1]

1. The twin: ``--twin DIR`` (an existing PostGIS twin of synthetic buildings, e.g. the one
   ``postgis_ingest.py --n 10000000`` leaves in ``--out``/pg-twin), else one of N buildings
   made by ``api_features.postgis_twin`` (database ``tweeling_bench_api_N``, reused).
2. The real ``tweeling serve --workers N`` (one listening socket, N processes).
3. ``--clients`` threads, each on its own keep-alive connection (reopened after an error),
   for ``--seconds``. Readers draw, seeded, from what the viewer and other clients ask:
   items in a small box (a street: 0.2-0.6 km, ``limit=100``) 45 %, a large box (1-3 km,
   most fill the page) 15 %, a z15 vector tile 20 %, one feature by id 10 %, the first
   page of the whole layer (``numberMatched`` of 1 M/10 M rows) 5 %, the scenario list 5 %.
   ``--writers`` of them are planners instead: each creates its own scenario, then
   repeatedly changes the height of a building in it (``POST …/interventions``), reads
   the scenario's first page with its ``numberMatched`` (a count over baseline + changes)
   and the changed building back, checking it holds the new height.
4. Counted: every response that is not 2xx (a 503 with Retry-After included: the goal is
   no errors), every connection error or timeout, every wrong answer of a writer's read.
   Per kind p50/p95, throughput. ``--compare W`` repeats the run with W processes.

Prints a table with ratios and appends it, with machine and date, to
``benchmarks/results_concurrency.md``. Asserts nothing; exits non-zero when a run had
errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import random
import sys
import threading
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_features as af
from ingest_and_query import ROOT, VENV_BIN, query_boxes

READS = (  # kind, share of a reader's requests
    ("items, small box", 0.45),
    ("items, large box", 0.15),
    ("tile z15", 0.20),
    ("one feature", 0.10),
    ("layer page + numberMatched", 0.05),
    ("scenario list", 0.05),
)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """WebMercatorQuad column and row of a point (the slippy-map formula)."""
    n = 2**z
    col = int((lon + 180.0) / 360.0 * n)
    rad = math.radians(lat)
    row = int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n)
    return col, row


class Workload:
    """Seeded request paths for one twin."""

    def __init__(self, layer: str, n: int, seed: int = 11):
        tr = af._to_lonlat()
        boxes = query_boxes(n, 4000, seed=seed)
        small, large = [], []
        for x0, y0, x1, y1 in boxes:
            h = (x1 - x0) / 2
            if h <= 300:
                small.append(af.to_crs84((x0, y0, x1, y1)))
            elif h >= 500:
                large.append(af.to_crs84((x0, y0, x1, y1)))
        centres = [tr.transform((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes[:1000]]
        items = f"/collections/{layer}/items"
        picks = random.Random(seed).sample(range(n), 1000)
        self.layer = layer
        self.paths = {
            "items, small box": [f"{items}?bbox={b}&limit=100" for b in small],
            "items, large box": [f"{items}?bbox={b}&limit=100" for b in large],
            "tile z15": [
                f"/collections/{layer}/tiles/WebMercatorQuad/15/{r}/{c}"
                for c, r in (tile_of(lon, lat, 15) for lon, lat in centres)
            ],
            "one feature": [f"{items}/SYNTH.{i}" for i in picks],
            "layer page + numberMatched": [f"{items}?limit=10"],
            "scenario list": ["/scenarios"],
        }
        self.n = n


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.examples: list[str] = []

    def ok(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.times[kind].append(seconds)

    def error(self, kind: str, what: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            if len(self.examples) < 10:
                self.examples.append(f"{kind}: {what}")


class Client(threading.Thread):
    def __init__(self, port: int, work: Workload, tally: Tally, stop_at: float, seed: int):
        super().__init__(daemon=True)
        self.port, self.work, self.tally, self.stop_at = port, work, tally, stop_at
        self.rng = random.Random(seed)
        self.conn: http.client.HTTPConnection | None = None

    def call(self, kind: str, method: str, path: str, body=None) -> tuple[int, bytes] | None:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        t = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            content = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.conn = None
            self.tally.error(kind, f"{type(e).__name__}: {e}")
            return None
        took = time.perf_counter() - t
        if resp.status >= 400:
            self.tally.error(kind, f"{method} {path[:80]} -> {resp.status} {content[:200]!r}")
            return None
        self.tally.ok(kind, took)
        return resp.status, content

    def run(self) -> None:
        kinds = [k for k, _ in READS]
        weights = [w for _, w in READS]
        while time.perf_counter() < self.stop_at:
            kind = self.rng.choices(kinds, weights)[0]
            self.call(kind, "GET", self.rng.choice(self.work.paths[kind]))
        if self.conn is not None:
            self.conn.close()


class Planner(Client):
    """Creates a scenario of its own and edits it while the others read."""

    def __init__(self, *a, name: str, **kw):
        super().__init__(*a, **kw)
        self.name = name

    def run(self) -> None:
        layer, n = self.work.layer, self.work.n
        created = self.call("planner: create scenario", "POST", "/scenarios", {"name": self.name})
        if created is None:
            return
        edits = 0
        while time.perf_counter() < self.stop_at:
            fid = f"SYNTH.{self.rng.randrange(n)}"
            height = round(self.rng.uniform(3, 60), 2)
            item = {
                "kind": "modify",
                "layer": layer,
                "id": fid,
                "title": f"height of {fid}",
                "properties": {"height_m": height},
            }
            path = f"/scenarios/{self.name}/interventions"
            if self.call("planner: edit", "POST", path, {"interventions": [item]}) is None:
                continue
            edits += 1
            page = self.call(
                "planner: scenario page + numberMatched",
                "GET",
                f"/collections/{layer}/items?limit=10&scenario={self.name}",
            )
            if page is not None and json.loads(page[1]).get("numberMatched") != n:
                self.tally.error("planner: scenario page + numberMatched", "wrong numberMatched")
            got = self.call(
                "planner: read back",
                "GET",
                f"/collections/{layer}/items/{fid}?scenario={self.name}",
            )
            if got is not None:
                value = json.loads(got[1])["properties"].get("height_m")
                if value != height:
                    self.tally.error("planner: read back", f"{fid}: {value} != {height}")
        if self.conn is not None:
            self.conn.close()


def run_once(twin: Path, layer: str, n: int, args, workers: int, tag: str) -> dict:
    port = af.free_port()
    log = args.out / f"serve-concurrency-{workers}.log"
    cmd = [str(VENV_BIN / "tweeling"), "serve", "--twin", str(twin), "--port", str(port)]
    cmd += ["--workers", str(workers)]
    server = af.Server(f"tweeling serve --workers {workers}", cmd, port, log)
    try:
        work = Workload(layer, n)
        for paths in work.paths.values():  # warm-up: one of each, and the caches
            for p in paths[:3]:
                af.get(port, p)
        tally = Tally()
        stop_at = time.perf_counter() + args.seconds
        clients: list[Client] = []
        for i in range(args.clients):
            if i < args.writers:
                clients.append(
                    Planner(port, work, tally, stop_at, seed=i, name=f"load-{tag}-{workers}-{i}")
                )
            else:
                clients.append(Client(port, work, tally, stop_at, seed=i))
        t0 = time.perf_counter()
        for c in clients:
            c.start()
        for c in clients:
            c.join(args.seconds + 120)
        wall = time.perf_counter() - t0
    finally:
        server.stop()
    return {"workers": workers, "tally": tally, "wall": wall}


def report(runs: list[dict], args, n: int, twin: Path) -> list[str]:
    lines = [
        f"## {args.clients} clients ({args.writers} planners editing), {args.seconds} s, "
        f"{n:,} buildings on PostGIS — {date.today().isoformat()}",
        "",
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"twin {twin.name}; client threads in one process on the same machine.",
        "",
        "| processes | requests | req/s | errors | "
        + " | ".join(f"{k} p50 / p95 ms" for k, _ in READS)
        + " | planner edit p50 / p95 ms |",
        "|---" * (5 + len(READS)) + "|",
    ]
    for r in runs:
        t: Tally = r["tally"]
        total = sum(len(v) for v in t.times.values())
        errors = sum(t.errors.values())
        cells = []
        for k in [k for k, _ in READS] + ["planner: edit"]:
            ms = np.array(t.times.get(k, [np.nan])) * 1000
            cells.append(f"{np.percentile(ms, 50):.1f} / {np.percentile(ms, 95):.1f}")
        lines.append(
            f"| {r['workers']} | {total:,} | {total / r['wall']:.0f} | {errors} | "
            + " | ".join(cells)
            + " |"
        )
    for r in runs:
        t = r["tally"]
        extra = [
            f"{k} {len(v)} (p95 {np.percentile(np.array(v) * 1000, 95):.1f} ms)"
            for k, v in sorted(t.times.items())
            if k.startswith("planner")
        ]
        lines.append(f"\n{r['workers']} processes, planners: " + "; ".join(extra))
        if t.errors:
            lines.append("errors: " + ", ".join(f"{k} {v}" for k, v in t.errors.items()))
            lines += [f"    {e}" for e in t.examples]
    if len(runs) == 2:
        a, b = (sum(len(v) for v in r["tally"].times.values()) / r["wall"] for r in runs)
        lines.append(
            f"\nthroughput {runs[0]['workers']} processes / {runs[1]['workers']}: {a / b:.2f}x"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="buildings (without --twin)")
    ap.add_argument("--twin", type=Path, help="an existing PostGIS twin of synthetic buildings")
    ap.add_argument("--layer", default=None, help="its layer (default: the only one)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--writers", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4, help="server processes")
    ap.add_argument("--compare", type=int, default=None, help="also run with this many")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results_concurrency.md")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from tweeling.services.workspace import open_workspace

    if args.twin is None:
        work = args.out / "api"
        work.mkdir(parents=True, exist_ok=True)
        twin, _, _ = af.postgis_twin(args.n, work)
    else:
        twin = args.twin
    with open_workspace(twin) as ws:
        layers = [s.name for s in ws.store.layers()]
        layer = args.layer or (layers[0] if len(layers) == 1 else None)
        if layer is None:
            raise SystemExit(f"give --layer: the twin has {', '.join(layers)}")
        n = ws.store.layer(layer).count
    tag = f"{int(time.time()) % 100000}"
    runs = [run_once(twin, layer, n, args, args.workers, tag)]
    if args.compare:
        runs.append(run_once(twin, layer, n, args, args.compare, tag))
    lines = report(runs, args, n, twin)
    print("\n".join(lines))
    with args.report.open("a", encoding="utf-8") as f:
        if f.tell() == 0:
            f.write("# Concurrent clients on one PostGIS twin — figures\n\n")
            f.write("Written by `concurrent_clients.py`; each run appends a section.\n\n")
        f.write("\n".join(lines) + "\n\n")
    if any(sum(r["tally"].errors.values()) for r in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
