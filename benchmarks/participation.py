"""Participation under load: simulated participants of a consultation round on the Delft demo
twin, through ``tweeling serve``.

    .venv/bin/python benchmarks/participation.py [--participants 200] [--seconds 60]
        [--repeat 3] [--configs auth,noauth,auth-busy] [--think 5] [--ramp 10]
        [--pythonpath DIR] [--patch FILE ...] [--label TEXT] [--append]

1. The twin: ``tweeling demo`` (built once into ``--out``/participation/demo), copied to
   ``pristine-N`` with N participant accounts ``bench001``… (``accounts.add_person``,
   Argon2id as always) and to ``pristine-noauth`` without any account (its people, sessions,
   tokens and owners removed with SQL: a twin without accounts served on 127.0.0.1 serves
   every request as the local operator). Every run works on a fresh copy of one of them,
   with the tile cache the demo seeded (``tweeling tiles seed``: the baseline, the published
   plan and the public variant at zoom 13–16), or none (``--cold-tiles``).
2. The server: ``tweeling serve --twin COPY --port P`` in its own process (group); its RSS
   (``/proc/PID/status`` VmRSS) and CPU are sampled every 0.5 s from its start to its end.
3. The load: a separate process (this script with ``--loadgen``: asyncio with a lean
   HTTP/1.1 client, see :class:`Client`) first signs in the N participants
   (``POST /auth/login``, 4 at a time; Argon2id is slow by design, so this is timed apart),
   then runs N simulated participants for ``--seconds``. Each arrives within ``--ramp``
   seconds and opens the round (the round, its comments, the scenario list, a map view),
   then repeats: think (exponential, mean ``--think`` s, 0.5 s to 4x the mean) and act.
   The acts, with their weights: the round and its comments (20); a map view (15: 2x2 tiles
   at z15 or z16 over Delft, each a dataset tile of the viewer's 8 layers shown from the
   start as ``web/mapstyle.js`` asks since 0ccc5ae (``--per-layer-tiles``: one request per
   layer and tile, as before), in the baseline, the round's alternative or the public
   variant, 6 at a time, tiles seen before revalidated with ``If-None-Match`` as a browser
   does); the address page ``/rounds/1/address`` at a point or
   a building (20); ``/here`` (10); search (15); the scenario list (10); the comments on one
   scenario (10). 10 % of the participants also write (weights 10 + 10): a comment (a third
   at a point, a third about a building, a third unplaced) and a support of someone else's
   comment, with the session's ``X-CSRF-Token``. Without accounts (``noauth``) there is no
   session and no support (supports are per person): those writers comment instead.
4. Reported per configuration (median and range over ``--repeat`` runs): requests/s,
   p50/p95/p99 overall and per request kind, errors by status, server RSS over time (and its
   slope in the second half of the load), the load generator's CPU and event-loop lag (its
   own limits), and the CPU other processes used meanwhile. The machine is shared: each run
   first waits (at most ``--wait`` s) until others use less than ``--disturbed`` cores.

Configurations (``--configs``): ``auth`` (sessions: the goal's case), ``noauth`` (the same
server and load on the twin without accounts: the cost of authentication and authorisation
under load), ``auth-busy`` / ``noauth-busy`` (another process keeps a core busy with a
Python loop). What-ifs: ``--pythonpath DIR`` serves tweeling from DIR (e.g. the code before
a change: ``git archive HEAD src | tar -x -C DIR``); ``--patch FILE`` serves a copy of that
code with a patch applied (``benchmarks/patches/``: proposed changes to files outside the
services, measured before they are made).

The peer named in the issue: the pre-change measurement on the demo twin, 50 clients with a
mix of bbox items, single items, z15-16 tiles, /here, search and the scenario list: 31
requests/s, p95 5.0 s, p99 7.2 s, RSS from 146 MB to 1.05 GB and staying at 1.2-1.5 GB.

Writes ``benchmarks/results_participation.md`` (``--append`` adds a section). Asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CLK = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench-participant-2026"  # every benchmark participant's (12+ characters)
ROUND = 1
ALTERNATIVE = "example-wind-turbines"
VARIANT = "r1-bram-1"
MAP_LAYERS = (  # the viewer's layers shown by default (web/mapstyle.js)
    "land_use",
    "plant_cover",
    "water_bodies",
    "roads",
    "bridges",
    "buildings",
    "wind_turbines",
    "nitrogen_sources",
)
# Tiles holding the demo's data: z15 col 16781 rows 10821-10822, z16 cols 33562-33563 rows
# 21643-21644. Map views are 2x2 windows whose corner lies within a few tiles of them.
MAP_Z15 = (16781, 10821)
MAP_Z16 = (33562, 21643)
SEARCHES = (
    "Delft",
    "Delf",
    "centrum delft",
    "Markt",
    "Binnenstad",
    "Tanthof",
    "Voorhof",
    "Hof van Delft",
    "Wippolder",
    "Rijswijk",
    "Den Haag",
    "Schie",
    "4.3667,52.0118",
    "52.0121,4.3655",
    "84940,447540",
)
ACTS = {  # act: weight (writers add WRITES)
    "round": 20,
    "map": 15,
    "address": 20,
    "here": 10,
    "search": 15,
    "scenarios": 10,
    "comments": 10,
}
WRITES = {"comment": 10, "support": 10}
KEEP_ALIVE_S = 4.0  # the client drops idle connections sooner than uvicorn's 5 s
THEMES = ("noise", "green", "traffic", "housing", "energy", "nature", "safety", "other")

api = importlib.import_module("api_features")  # this folder is on sys.path as a script


# ---------------------------------------------------------------------------- twins


def demo_twin(out: Path) -> Path:
    twin = out / "demo"
    if not (twin / "twin.toml").exists():
        shutil.rmtree(twin, ignore_errors=True)
        print(f"building the demo twin in {twin} …", flush=True)
        t = time.perf_counter()
        subprocess.run(
            [str(VENV_BIN / "tweeling"), "demo", "--twin", str(twin)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    return twin


def round_open(twin: Path) -> bool:
    from tweeling.core.timeaxis import to_text, utc_now
    from tweeling.services.workspace import open_workspace

    with open_workspace(twin) as ws:
        return ws.store.rounds.get(ROUND).state(to_text(utc_now())) == "open"


def pristine(out: Path, n: int) -> Path:
    """The demo twin with ``n`` participant accounts (cached)."""
    twin = out / f"pristine-{n}"
    if (twin / "ready").exists() and round_open(twin):
        return twin
    demo = demo_twin(out)
    if not round_open(demo):  # the demo's round is open for two months from its build
        shutil.rmtree(demo)
        demo = demo_twin(out)
    shutil.rmtree(twin, ignore_errors=True)
    shutil.copytree(demo, twin)
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    print(f"adding {n} participant accounts to {twin} …", flush=True)
    t = time.perf_counter()
    with open_workspace(twin) as ws:
        for i in range(1, n + 1):
            accounts.add_person(
                ws.store,
                f"bench{i:03d}",
                "participant",
                display_name=f"Deelnemer {i}",
                password=PASSWORD,
            )
    (twin / "ready").write_text("")
    print(f"  added in {time.perf_counter() - t:.0f} s", flush=True)
    return twin


def pristine_noauth(out: Path) -> Path:
    """The demo twin without accounts: served on 127.0.0.1 to the local operator."""
    twin = out / "pristine-noauth"
    if (twin / "ready").exists() and round_open(twin):
        return twin
    demo = demo_twin(out)
    shutil.rmtree(twin, ignore_errors=True)
    shutil.copytree(demo, twin)
    con = sqlite3.connect(twin / "twin.gpkg")
    with con:
        for table in ("tw_sessions", "tw_tokens", "tw_login_failures", "tw_scenario_shares"):
            con.execute(f"DELETE FROM {table}")
        con.execute("DELETE FROM tw_people")
        con.execute("UPDATE tw_branches SET owner_id = NULL")
    con.close()
    (twin / "ready").write_text("")
    return twin


def fresh_copy(src: Path, dst: Path, *, cold_tiles: bool) -> Path:
    """A copy to serve: with the tiles the demo seeded (``tweeling tiles seed``, as an
    operator does when a round opens), or without any (``cold_tiles``: the worst case)."""
    shutil.rmtree(dst, ignore_errors=True)
    drop = ("ready", "cache") if cold_tiles else ("ready",)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*drop))
    return dst


def table_head(first: str, configs: list[str]) -> list[str]:
    """The first two lines of a Markdown table with a column per configuration."""
    return ["| " + first + " | " + " | ".join(configs) + " |", "|---|" + "---|" * len(configs)]


def demo_facts(twin: Path) -> dict:
    """What the simulated participants click on: buildings, points in the demo area."""
    from pyproj import Transformer

    from tweeling.services.workspace import open_workspace

    with open_workspace(twin) as ws:
        feats = list(ws.store.features("buildings"))
    rng = random.Random(11)
    ids = sorted(f.id for f in feats)
    bag = sorted(str(f.properties.get("bag_id")) for f in feats if f.properties.get("bag_id"))
    tr = Transformer.from_crs("EPSG:28992", "OGC:CRS84", always_xy=True)
    points = []
    for f in rng.sample(feats, min(60, len(feats))):  # at buildings, and between them
        p = f.geometry.representative_point()
        points.append(tr.transform(p.x, p.y))
    for _ in range(40):
        points.append(tr.transform(rng.uniform(84830, 85050), rng.uniform(447460, 447620)))
    searches = list(SEARCHES) + bag[:3] + [b.rsplit(".", 1)[-1] for b in bag[3:6]] + ids[:3]
    return {
        "buildings": ids,
        "points": [f"{lon:.6f},{lat:.6f}" for lon, lat in points],
        "searches": searches,
    }


# ---------------------------------------------------------------------------- the server


class Sampler:
    """Samples the RSS and CPU of a process group (the server: one process, or a supervisor
    and its workers; RSS summed over them), the machine's busy time, every ``every`` s."""

    def __init__(self, pid: int, every: float = 0.5):
        self.pid, self.every = pid, every
        self.t0 = time.perf_counter()
        self.samples: list[tuple[float, float, float, float]] = []  # t, rss MB, cpu s, busy s
        self.marks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            s = self.sample()
            if s is not None:
                self.samples.append(s)
            self._stop.wait(self.every)

    def sample(self):
        rss = cpu = 0.0
        found = False
        for pid in self._group():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            found = True
            rss += next(
                (int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS")), 0
            )
            f = stat[stat.rindex(")") + 2 :].split()
            cpu += (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / CLK
        if not found:
            return None
        return (time.perf_counter() - self.t0, rss / 1024, cpu, api._machine_busy() / CLK)

    def _group(self) -> list[int]:
        """The processes of the server's process group (start_new_session made it one)."""
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = Path(f"/proc/{d}/stat").read_text()
                except OSError:
                    continue
                if int(stat[stat.rindex(")") + 2 :].split()[2]) == self.pid:
                    out.append(int(d))
        return out

    def mark(self, name: str) -> None:
        self.marks[name] = time.perf_counter() - self.t0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, t: float):
        """The sample nearest to time ``t`` (seconds since the start)."""
        return min(self.samples, key=lambda s: abs(s[0] - t))

    def between(self, a: float, b: float):
        return [s for s in self.samples if a <= s[0] <= b]


def start_server(twin: Path, port: int, log: Path, args) -> api.Server:
    env = dict(os.environ)
    path = [str(p) for p in (args.served, args.standard) if p]
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(args.env)
    if args.workers > 1:  # uvicorn workers on the same create_app (api_features.serve_workers)
        here = str(Path(__file__).parent)
        code = f"import sys; sys.path.insert(0, {here!r}); import api_features as a; "
        cmd = [sys.executable, "-c", code + f"a.serve_workers({port}, {args.workers})"]
        env["TWEELING_BENCH_TWIN"] = str(twin)
        return api.Server(f"uvicorn x{args.workers}", cmd, port, log, env)
    cmd = [str(VENV_BIN / "tweeling"), "serve", "--twin", str(twin), "--port", str(port)]
    if args.pin:  # every thread of the server on one CPU: no GIL hand-off across cores
        cmd = ["taskset", "-c", str(os.cpu_count() - 1), *cmd]
    return api.Server("tweeling serve", cmd, port, log, env)


def busy_loop() -> subprocess.Popen:
    """Another process keeping one core busy (a Python loop, as a CPU-bound job would)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


def proc_cpu(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    f = stat[stat.rindex(")") + 2 :].split()
    return (int(f[11]) + int(f[12])) / CLK


# ---------------------------------------------------------------------------- one run


def others_busy(seconds: float = 3.0) -> float:
    """Cores' worth of CPU the machine used over ``seconds`` (nothing of ours runs then)."""
    b0, t0 = api._machine_busy(), time.perf_counter()
    time.sleep(seconds)
    return (api._machine_busy() - b0) / CLK / (time.perf_counter() - t0)


def wait_quiet(args) -> float:
    """Wait (at most ``--wait`` s) until other processes use less than ``--disturbed``
    cores: the machine is shared. Returns what they used in the last check."""
    deadline = time.monotonic() + args.wait
    while True:
        used = others_busy()
        if used <= args.disturbed or time.monotonic() > deadline:
            return used
        print(f"  the machine is busy ({used:.2f} cores used by others); waiting …", flush=True)
        time.sleep(10)


def run_once(config: str, rep: int, args, facts: dict) -> dict:
    auth = not config.startswith("noauth")
    busy = config.endswith("-busy")
    src = pristine(args.work, args.participants) if auth else pristine_noauth(args.work)
    work = fresh_copy(src, args.work / f"twin-{config}", cold_tiles=args.cold_tiles)
    if args.wal:  # what-if: readers and the writer no longer block each other
        con = sqlite3.connect(work / "twin.gpkg")
        con.execute("PRAGMA journal_mode = WAL")
        con.close()
    before = wait_quiet(args)
    port = api.free_port()
    label = f"{config} #{rep + 1}"
    print(f"\n[{label}] serving {work} on port {port}; load avg {api.load()}", flush=True)
    server = start_server(work, port, args.work / f"serve-{config}.log", args)
    sampler = Sampler(server.proc.pid)
    sampler.mark("started")
    cfg = {
        "base": f"http://127.0.0.1:{port}",
        "auth": auth,
        "participants": args.participants,
        "writers": args.writers,
        "seconds": args.seconds,
        "ramp": args.ramp,
        "think": args.think,
        "seed": args.seed + rep,
        "facts": facts,
        "warm_tiles": args.warm_tiles,
        "service": args.service_times,
        "dataset_tiles": args.dataset_tiles,
    }
    cfg_path = args.work / "loadgen.json"
    res_path = args.work / f"loadgen-{config}-{rep}.json"
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    res_path.unlink(missing_ok=True)
    hog = None
    gen = subprocess.Popen(
        [sys.executable, __file__, "--loadgen", str(cfg_path), str(res_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    t_load = None
    try:
        for line in gen.stdout:  # the load generator says when each phase starts
            line = line.strip()
            if line == "PHASE signed-in":
                sampler.mark("signed-in")
                if busy:
                    hog = busy_loop()
                    time.sleep(1.0)
            elif line == "PHASE load":
                sampler.mark("load")
                t_load = (time.perf_counter(), api._machine_busy(), server.cpu_ticks())
                hog_cpu0 = proc_cpu(hog.pid) if hog else 0.0
            elif line == "PHASE done":
                sampler.mark("done")
                t_end = (time.perf_counter(), api._machine_busy(), server.cpu_ticks())
                hog_cpu = (proc_cpu(hog.pid) - hog_cpu0) if hog else 0.0
            elif line:
                print(f"  loadgen: {line}", flush=True)
        gen.wait()
        if gen.returncode != 0 or not res_path.exists():
            raise SystemExit(f"the load generator failed ({gen.returncode})")
        time.sleep(2.0)  # RSS after the load
        sampler.mark("after")
    finally:
        if hog is not None:
            os.killpg(hog.pid, 9)
            hog.wait()
        sampler.stop()
        server.stop()
    res = json.loads(res_path.read_text())
    wall = t_end[0] - t_load[0]
    busy_s = (t_end[1] - t_load[1]) / CLK
    server_s = (t_end[2] - t_load[2]) / CLK
    gen_s = res["client_cpu_s"]
    res.update(
        config=config,
        rep=rep,
        server_cores=server_s / wall,
        hog_cores=hog_cpu / wall,
        other_cores=max(0.0, busy_s - server_s - gen_s - hog_cpu) / wall,
        rss=rss_summary(sampler),
        windows=windows(res, sampler, args),
        load_avg=api.load(),
        others_before=before,
    )
    summarise_run(res)
    (args.work / f"run-{config}-{rep}.json").write_text(json.dumps(res), encoding="utf-8")
    return res


WINDOW_S = 10


def windows(res: dict, s: Sampler, args) -> list[dict]:
    """Per 10 s of the load (by when requests started): requests/s, p50/p95, the server's
    CPU and RSS; and the steady state after the arrivals (``--ramp`` + 10 s on)."""
    load = s.marks["load"]
    pairs = [
        (t, ms)
        for kind in res["latency"]
        for t, ms in zip(res["started"][kind], res["latency"][kind], strict=True)
    ]
    out = []
    for w0 in range(0, int(res["window_s"]), WINDOW_S):
        w1 = w0 + WINDOW_S
        ms = [m for t, m in pairs if w0 <= t < w1]
        inside = s.between(load + w0, load + w1)
        cpu = (
            (inside[-1][2] - inside[0][2]) / (inside[-1][0] - inside[0][0])
            if len(inside) > 1
            else 0
        )
        out.append(
            {
                "from": w0,
                "requests_per_s": len(ms) / WINDOW_S,
                "p50": pct(ms, 50),
                "p95": pct(ms, 95),
                "server_cores": cpu,
                "rss": inside[-1][1] if inside else 0,
            }
        )
    steady = [m for t, m in pairs if t >= args.ramp + WINDOW_S]
    out.append({"from": "steady", "p50": pct(steady, 50), "p95": pct(steady, 95),
                "p99": pct(steady, 99), "requests": len(steady)})  # fmt: skip
    return out


def rss_summary(s: Sampler) -> dict:
    m = s.marks
    load, done = m["load"], m["done"]
    during = s.between(load, done)
    tail = [x for x in during if x[0] >= load + (done - load) / 2]
    slope = 0.0
    if len(tail) >= 4:  # MB per minute over the second half of the load
        xs, ys = [x[0] for x in tail], [x[1] for x in tail]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mx) ** 2 for x in xs
        )
        slope *= 60
    timeline = [round(x[1]) for x in s.samples if x[0] >= load - 0.01][:: max(1, int(5 / 0.5))]
    return {
        "start": s.samples[0][1] if s.samples else 0,
        "signed_in": s.at(m.get("signed-in", load))[1],
        "load_start": s.at(load)[1],
        "load_mid": s.at((load + done) / 2)[1],
        "load_end": s.at(done)[1],
        "after": s.at(m["after"])[1],
        "max": max(x[1] for x in s.samples),
        "slope_mb_per_min": slope,
        "every_5s": timeline,
    }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summarise_run(res: dict) -> None:
    lat = res["latency"]
    every = [x for v in lat.values() for x in v]
    print(
        f"  {res['requests']} requests in {res['duration_s']:.1f} s = "
        f"{res['requests'] / res['duration_s']:.1f}/s; p50 {pct(every, 50):.1f} ms, p95 "
        f"{pct(every, 95):.1f} ms, p99 {pct(every, 99):.1f} ms; errors {res['errors'] or 0}",
        flush=True,
    )
    for kind in sorted(lat):
        v = lat[kind]
        print(
            f"    {kind:14s} {len(v):6d}  p50 {pct(v, 50):7.1f}  p95 {pct(v, 95):7.1f}  p99 "
            f"{pct(v, 99):7.1f}  max {max(v):7.1f} ms",
            flush=True,
        )
    for w in res["windows"][:-1]:
        print(
            f"    {w['from']:3d}-{w['from'] + WINDOW_S:3d} s: {w['requests_per_s']:6.1f} req/s, "
            f"p50 {w['p50']:7.1f}, p95 {w['p95']:7.1f} ms; server {w['server_cores']:.2f} "
            f"cores, RSS {w['rss']:.0f} MB",
            flush=True,
        )
    st = res["windows"][-1]
    print(
        f"    steady state (from {res['window_s'] and ''}ramp + {WINDOW_S} s): "
        f"{st['requests']} requests, p50 {st['p50']:.1f}, p95 {st['p95']:.1f}, p99 "
        f"{st['p99']:.1f} ms",
        flush=True,
    )
    r = res["rss"]
    print(
        f"  server RSS MB: start {r['start']:.0f}, signed in {r['signed_in']:.0f}, load "
        f"{r['load_start']:.0f} -> {r['load_mid']:.0f} -> {r['load_end']:.0f}, max "
        f"{r['max']:.0f}, slope (2nd half) {r['slope_mb_per_min']:+.1f} MB/min",
        flush=True,
    )
    print(
        f"  server {res['server_cores']:.2f} cores, load generator "
        f"{res['client_cpu_s'] / res['duration_s']:.2f} cores (loop lag p99 "
        f"{res['loop_lag_p99_ms']:.1f} ms), busy loop {res['hog_cores']:.2f}, other processes "
        f"{res['other_cores']:.2f} cores; {res['logins']} sign-ins in {res['login_s']:.1f} s "
        f"(failed: {res['login_errors'] or 0})",
        flush=True,
    )


# ---------------------------------------------------------------------------- the load


def loadgen(cfg_path: str, out_path: str) -> None:
    """The load generator's process: sign in, then run the simulated participants."""
    cfg = json.loads(Path(cfg_path).read_text())
    asyncio.run(_loadgen(cfg, Path(out_path)))


class Answer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        import orjson

        return orjson.loads(self.body)


class Client:
    """A lean HTTP/1.1 client over asyncio streams: keep-alive connections, at most
    ``size`` at a time (a browser's six per host), Content-Length or chunked bodies. The
    load generator shares two cores with the server: httpx costs ~1.7 ms of CPU per
    request here, this about a tenth of that."""

    def __init__(self, host: str, port: int, size: int = 6, cookie: str = ""):
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.slots = asyncio.Semaphore(size)
        self.cookie = cookie

    async def request(self, method, path, params=None, headers=None, body: bytes | None = None):
        from urllib.parse import urlencode

        if params:
            path = f"{path}?{urlencode(params)}"
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookie:
            lines.append(f"Cookie: {self.cookie}")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
        async with self.slots:
            now = time.monotonic()
            while self.idle and now - self.idle[0][2] > KEEP_ALIVE_S:  # as browsers do
                self.idle.pop(0)[1].close()
            for attempt in (0, 1):  # a kept-alive connection the server closed: once more
                fresh = attempt == 1 or not self.idle
                if fresh:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                else:
                    reader, writer, _ = self.idle.pop()
                try:
                    writer.write(raw)
                    answer, keep = await self._read(reader)
                except (ConnectionError, asyncio.IncompleteReadError, OSError):
                    writer.close()
                    if fresh or method != "GET":
                        raise
                    continue
                if keep:
                    self.idle.append((reader, writer, time.monotonic()))
                else:
                    writer.close()
                return answer
        raise ConnectionError("unreachable")

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        first, *rest = head.decode("latin-1").split("\r\n")
        status = int(first.split(" ", 2)[1])
        headers = {}
        for line in rest:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        elif status in (204, 304) or status < 200:
            body = b""
        else:
            body = await reader.read()
            return Answer(status, headers, body), False
        keep = headers.get("connection", "").lower() != "close"
        return Answer(status, headers, body), keep

    def close(self) -> None:
        for _, w, _ in self.idle:
            w.close()
        self.idle.clear()


class Stats:
    def __init__(self):
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.started: dict[str, list[float]] = defaultdict(list)  # s after the load began
        self.errors: Counter[str] = Counter()
        self.error_examples: dict[str, str] = {}
        self.t0 = 0.0


def _session_cookie(answer: Answer) -> str:
    raw = answer.headers.get("set-cookie", "")
    return raw.split(";", 1)[0]


async def _loadgen(cfg: dict, out: Path) -> None:
    from urllib.parse import urlsplit

    import orjson

    url = urlsplit(cfg["base"])
    host, port = url.hostname, url.port
    n, auth = cfg["participants"], cfg["auth"]
    rng = random.Random(cfg["seed"])

    # sign in (not part of the timed load: Argon2id is slow by design)
    t0 = time.perf_counter()
    login_ms: list[float] = []
    login_errors: Counter[str] = Counter()
    if auth:
        sem = asyncio.Semaphore(4)

        async def sign_in(i: int) -> tuple[str, str]:
            async with sem:
                why = ""
                for attempt in range(20):  # as a person would try again
                    await asyncio.sleep(0.05 * attempt)
                    c = Client(host, port, 1)
                    body = orjson.dumps({"username": f"bench{i:03d}", "password": PASSWORD})
                    t = time.perf_counter()
                    try:
                        r = await c.request("POST", "/auth/login", body=body)
                    except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                        login_errors[f"{type(exc).__name__} sign-in"] += 1
                        why = repr(exc)
                        continue
                    finally:
                        c.close()
                    login_ms.append((time.perf_counter() - t) * 1000)
                    if r.status == 200:
                        return _session_cookie(r), r.json()["csrf_token"]
                    login_errors[f"{r.status} sign-in"] += 1
                    why = f"{r.status} {r.body[:300]!r}"
                raise SystemExit(f"sign-in of bench{i:03d} failed 20 times: {why}")

        sessions = await asyncio.gather(*(sign_in(i) for i in range(1, n + 1)))
    else:
        sessions = [("", "")] * n
    login_s = time.perf_counter() - t0
    print("PHASE signed-in", flush=True)
    await asyncio.sleep(1.5)  # the busy loop starts (busy configurations)

    stats = Stats()
    writers = set(rng.sample(range(n), round(n * cfg["writers"])))
    shared = {"comments": set()}  # comment ids seen by anyone (to support)
    c = Client(host, port, 1, sessions[0][0])
    r = await c.request("GET", f"/rounds/{ROUND}/comments")
    c.close()
    shared["comments"] |= {f["id"] for f in r.json()["features"]}

    lags: list[float] = []
    done = asyncio.Event()

    async def lag_monitor():
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.05)
            lags.append((time.perf_counter() - t - 0.05) * 1000)

    service = await service_times(host, port, sessions[0][0], cfg) if cfg.get("service") else {}
    if cfg.get("warm_tiles"):  # the tiles earlier visitors saw: in the twin's tile cache
        await warm_tiles(host, port, sessions[0][0])
    print("PHASE load", flush=True)
    cpu0 = time.process_time()
    start = stats.t0 = time.perf_counter()
    end = start + cfg["seconds"]
    monitor = asyncio.create_task(lag_monitor())
    users = [
        asyncio.create_task(
            participant(i, i in writers, sessions[i], cfg, stats, shared, end, (host, port))
        )
        for i in range(n)
    ]
    await asyncio.gather(*users)
    finished = time.perf_counter()
    done.set()
    await monitor
    client_cpu = time.process_time() - cpu0
    print("PHASE done", flush=True)
    requests = sum(len(v) for v in stats.latency.values())
    out.write_text(
        json.dumps(
            {
                "requests": requests,
                "duration_s": finished - start,
                "window_s": cfg["seconds"],
                "latency": stats.latency,
                "started": stats.started,
                "service_ms": service,
                "errors": dict(stats.errors),
                "error_examples": stats.error_examples,
                "client_cpu_s": client_cpu,
                "loop_lag_p99_ms": pct(lags, 99),
                "loop_lag_max_ms": max(lags) if lags else 0.0,
                "logins": len(login_ms),
                "login_s": login_s,
                "login_ms": login_ms,
                "login_errors": dict(login_errors),
                "writers": len(writers),
                "participants": n,
            }
        )
    )


async def service_times(host: str, port: int, cookie: str, cfg: dict) -> dict[str, float]:
    """Each request kind alone: ``cfg["service"]`` requests one after another on one
    connection, signed in, before the load (the first 5 of each not counted): the median
    ms, i.e. the cost of one request without waiting for others."""
    rng = random.Random(3)
    facts = cfg["facts"]
    kinds = {
        "round": lambda: (f"/rounds/{ROUND}", None),
        "comments": lambda: (f"/rounds/{ROUND}/comments", None),
        "scenarios": lambda: ("/scenarios", None),
        "address (point)": lambda: (
            f"/rounds/{ROUND}/address",
            {"point": rng.choice(facts["points"])},
        ),
        "address (building)": lambda: (
            f"/rounds/{ROUND}/address",
            {"building": rng.choice(facts["buildings"])},
        ),
        "here (alternative)": lambda: (
            "/here",
            {"point": rng.choice(facts["points"]), "scenario": ALTERNATIVE},
        ),
        "here (baseline)": lambda: ("/here", {"point": rng.choice(facts["points"])}),
        "search": lambda: ("/search", {"q": rng.choice(facts["searches"])}),
        "tile (cached)": lambda: (
            f"/collections/buildings/tiles/WebMercatorQuad/15/{MAP_Z15[1] + 1}/{MAP_Z15[0]}",
            {"scenario": ALTERNATIVE},
        ),
    }
    client = Client(host, port, 1, cookie)
    out = {}
    for kind, make in kinds.items():
        ms = []
        for _ in range(cfg["service"] + 5):
            path, q = make()
            t = time.perf_counter()
            r = await client.request("GET", path, params=q)
            ms.append((time.perf_counter() - t) * 1000)
            if r.status >= 400:
                raise SystemExit(f"{kind}: {r.status} {r.body[:200]!r}")
        out[kind] = statistics.median(ms[5:])
    client.close()
    print("service times (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in out.items()), flush=True)
    return out


def map_windows() -> list[tuple[int, int, int]]:
    """Every tile (z, row, col) a map view of :func:`participant` can show."""
    out = []
    for z, (col0, row0), span in ((15, MAP_Z15, 2), (16, MAP_Z16, 3)):
        for row in range(row0 - span, row0 + span + 1):
            for col in range(col0 - span, col0 + span + 1):
                out.append((z, row, col))
    return out


async def warm_tiles(host: str, port: int, cookie: str) -> None:
    """Ask once for every tile the map views can show, in every view (6 at a time)."""
    client = Client(host, port, 6, cookie)
    paths = [
        (f"/collections/{layer}/tiles/WebMercatorQuad/{z}/{row}/{col}", q)
        for z, row, col in map_windows()
        for layer in MAP_LAYERS
        for q in ({}, {"scenario": ALTERNATIVE}, {"scenario": VARIANT})
    ]
    t = time.perf_counter()
    await asyncio.gather(*(client.request("GET", p, params=q) for p, q in paths))
    client.close()
    print(f"warmed {len(paths)} tiles in {time.perf_counter() - t:.1f} s", flush=True)


async def participant(i, writer, session, cfg, stats, shared, end, address) -> None:
    import orjson

    rng = random.Random(cfg["seed"] * 1000 + i)
    facts = cfg["facts"]
    cookie, csrf = session
    client = Client(*address, 6, cookie)
    acts = dict(ACTS)
    if writer:
        acts.update(WRITES)
    if not cfg["auth"]:
        acts.pop("support", None)
        if writer:
            acts["comment"] += WRITES["support"]
    names, weights = list(acts), list(acts.values())
    mine: set[int] = set()
    etags: dict[tuple, str] = {}

    async def call(kind: str, method: str, path: str, **kw):
        t = time.perf_counter()
        try:
            r = await client.request(method, path, **kw)
            status, body = r.status, r.body
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            r, status, body = None, type(exc).__name__, b""
        ms = (time.perf_counter() - t) * 1000
        stats.latency[kind].append(ms)
        stats.started[kind].append(round(t - stats.t0, 3))
        if not (isinstance(status, int) and status < 400):
            key = f"{status} {kind}"
            stats.errors[key] += 1
            stats.error_examples.setdefault(key, f"{method} {path}: {body[:300]!r}")
            return None
        return r

    def scenario_param() -> dict:
        s = rng.choice(("baseline", ALTERNATIVE, ALTERNATIVE, VARIANT))
        return {} if s == "baseline" else {"scenario": s}

    async def map_view():
        z = rng.choice((15, 16))
        col0, row0 = MAP_Z15 if z == 15 else MAP_Z16
        span = 2 if z == 15 else 3
        col, row = col0 + rng.randint(-span, span - 1), row0 + rng.randint(-span, span - 1)
        q = scenario_param()
        if cfg.get("dataset_tiles"):  # the viewer: one request per tile for all layers
            q = {**q, "collections": ",".join(MAP_LAYERS)}
            paths = [
                f"/tiles/WebMercatorQuad/{z}/{row + dr}/{col + dc}"
                for dr in (0, 1)
                for dc in (0, 1)
            ]
        else:  # the viewer before 0ccc5ae: one source per layer
            paths = [
                f"/collections/{layer}/tiles/WebMercatorQuad/{z}/{row + dr}/{col + dc}"
                for dr in (0, 1)
                for dc in (0, 1)
                for layer in MAP_LAYERS
            ]

        async def one(p):  # the browser's cache: tiles are "no-cache" with an ETag
            key = (p, tuple(q.items()))
            tag = etags.get(key)
            r = await call(
                "tile", "GET", p, params=q, headers={"If-None-Match": tag} if tag else None
            )
            if r is not None and r.headers.get("etag"):
                etags[key] = r.headers["etag"]

        await asyncio.gather(*(one(p) for p in paths))  # six at a time (the client's)

    async def comments(scenario: str | None = None):
        r = await call(
            "comments",
            "GET",
            f"/rounds/{ROUND}/comments",
            params={"scenario": scenario} if scenario else None,
        )
        if r is not None:
            shared["comments"] |= {
                f["id"]
                for f in r.json()["features"]
                if not f["properties"]["mine"] and not f["properties"]["hidden"]
            }

    async def act(name: str):
        if name == "round":
            await call("round", "GET", f"/rounds/{ROUND}")
            await comments()
        elif name == "comments":
            await comments(rng.choice((ALTERNATIVE, VARIANT)))
        elif name == "scenarios":
            await call("scenarios", "GET", "/scenarios")
        elif name == "map":
            await map_view()
        elif name == "address":
            if rng.random() < 0.5:
                q = {"building": rng.choice(facts["buildings"])}
            else:
                q = {"point": rng.choice(facts["points"])}
            await call("address", "GET", f"/rounds/{ROUND}/address", params=q)
        elif name == "here":
            q = {"point": rng.choice(facts["points"]), **scenario_param()}
            await call("here", "GET", "/here", params=q)
        elif name == "search":
            await call("search", "GET", "/search", params={"q": rng.choice(facts["searches"])})
        elif name == "comment":
            body = {
                "body": f"Reactie van deelnemer {i}: "
                + rng.choice(("te veel geluid", "meer groen graag", "goed plan", "slagschaduw"))
                + f" ({rng.randrange(10**6)})",
                "theme": rng.choice(THEMES),
                "scenario": rng.choice((ALTERNATIVE, VARIANT, None)),
            }
            place = rng.random()
            if place < 1 / 3:
                lon, lat = (float(v) for v in rng.choice(facts["points"]).split(","))
                body["geometry"] = {"type": "Point", "coordinates": [lon, lat]}
            elif place < 2 / 3:
                body["object"] = f"buildings/{rng.choice(facts['buildings'])}"
            r = await call(
                "comment.post",
                "POST",
                f"/rounds/{ROUND}/comments",
                body=orjson.dumps(body),
                headers={"X-CSRF-Token": csrf},
            )
            if r is not None:
                mine.add(r.json()["id"])
        elif name == "support":
            ids = sorted(shared["comments"] - mine)
            if ids:
                await call(
                    "support.put",
                    "PUT",
                    f"/comments/{rng.choice(ids)}/support",
                    headers={"X-CSRF-Token": csrf},
                )

    try:
        await asyncio.sleep(rng.uniform(0, cfg["ramp"]))
        if time.perf_counter() < end:  # arriving: the round page with its map
            await act("round")
            await act("scenarios")
            await act("map")
        while True:
            think = min(max(rng.expovariate(1 / cfg["think"]), 0.5), 4 * cfg["think"])
            if time.perf_counter() + think >= end:
                break
            await asyncio.sleep(think)
            await act(rng.choices(names, weights)[0])
    finally:
        client.close()


# ---------------------------------------------------------------------------- report


def config_label(config: str) -> str:
    return {
        "auth": "200 participants signed in (sessions)",
        "noauth": "same load, twin without accounts (local operator, no sign-in)",
        "auth-busy": "signed in, another core kept busy",
        "noauth-busy": "without accounts, another core kept busy",
    }.get(config, config)


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))}–{fmt.format(max(values))})"
    )


def report(results: list[dict], args) -> list[str]:
    by: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by[r["config"]].append(r)
    configs = list(by)
    lines = [
        *table_head("per configuration: median (min–max) over runs", configs),
    ]

    def row(label, fn, fmt="{:.0f}"):
        cells = []
        for c in configs:
            vals = [fn(r) for r in by[c]]
            cells.append(spread(vals, fmt))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def every(r):
        return [x for v in r["latency"].values() for x in v]

    lines.append("| runs | " + " | ".join(str(len(by[c])) for c in configs) + " |")
    row("requests/s", lambda r: r["requests"] / r["duration_s"], "{:.1f}")
    for q in (50, 95, 99):
        goal = " (goal < 200)" if q == 95 else ""
        row(f"all requests p{q} ms{goal}", lambda r, q=q: pct(every(r), q), "{:.1f}")
    for q in (50, 95, 99):
        goal = " (goal < 200)" if q == 95 else ""
        row(
            f"steady state (from ramp + {WINDOW_S} s) p{q} ms{goal}",
            lambda r, q=q: r["windows"][-1][f"p{q}"],
            "{:.1f}",
        )
    row("errors (non-2xx/3xx or no answer)", lambda r: sum(r["errors"].values()))
    row("server RSS at start, MB", lambda r: r["rss"]["start"])
    row("server RSS after sign-in, MB", lambda r: r["rss"]["signed_in"])
    row("server RSS load start → end, MB", lambda r: r["rss"]["load_end"] - r["rss"]["load_start"])
    row("server RSS max, MB", lambda r: r["rss"]["max"])
    row(
        "RSS slope, 2nd half of the load, MB/min", lambda r: r["rss"]["slope_mb_per_min"], "{:+.1f}"
    )
    row("server CPU, cores", lambda r: r["server_cores"], "{:.2f}")
    row("load generator CPU, cores", lambda r: r["client_cpu_s"] / r["duration_s"], "{:.2f}")
    row("load generator loop lag p99, ms", lambda r: r["loop_lag_p99_ms"], "{:.1f}")
    row("busy loop, cores", lambda r: r["hog_cores"], "{:.2f}")
    row("other processes, cores", lambda r: r["other_cores"], "{:.2f}")
    row("sign-in of all accounts (4 at a time), s", lambda r: r["login_s"], "{:.1f}")
    row("one sign-in p50, ms", lambda r: pct(r["login_ms"], 50), "{:.0f}")
    row("failed sign-ins (tried again)", lambda r: sum(r["login_errors"].values()))
    lines.append("")

    kinds = sorted({k for r in results for k in r["latency"]})
    lines += [
        "Per request kind, all runs of a configuration pooled: count, p50 / p95 / p99 ms "
        "(range of the runs' p95):",
        "",
        *table_head("kind", configs),
    ]
    for k in kinds:
        cells = []
        for c in configs:
            pooled = [x for r in by[c] for x in r["latency"].get(k, [])]
            if not pooled:
                cells.append("—")
                continue
            p95s = [pct(r["latency"][k], 95) for r in by[c] if r["latency"].get(k)]
            rng95 = f" ({min(p95s):.0f}–{max(p95s):.0f})" if len(p95s) > 1 else ""
            cells.append(
                f"{len(pooled)}: {pct(pooled, 50):.1f} / **{pct(pooled, 95):.1f}**{rng95} / "
                f"{pct(pooled, 99):.1f}"
            )
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines.append("")

    lines += [
        f"Per {WINDOW_S} s of the load (by when requests started), the median run of each "
        "configuration (by overall p95): requests/s, p50 / p95 ms, server CPU (cores), RSS "
        "(MB):",
        "",
        *table_head("seconds", configs),
    ]
    median_runs = {}
    for c in configs:
        ranked = sorted(by[c], key=lambda r: pct(every(r), 95))
        median_runs[c] = ranked[len(ranked) // 2]
    for i, w in enumerate(results[0]["windows"][:-1]):
        cells = []
        for c in configs:
            x = median_runs[c]["windows"][i]
            cells.append(
                f"{x['requests_per_s']:.0f}/s, {x['p50']:.0f} / {x['p95']:.0f}, "
                f"{x['server_cores']:.2f}, {x['rss']:.0f}"
            )
        lines.append(f"| {w['from']}–{w['from'] + WINDOW_S} | " + " | ".join(cells) + " |")
    lines.append("")

    service = [r for r in results if r.get("service_ms")]
    if service:
        kinds_s = list(service[0]["service_ms"])
        lines += [
            "Each request kind alone, signed in, one after another on one connection before the "
            "load (median ms; range over runs):",
            "",
            *table_head("kind", configs),
        ]
        for k in kinds_s:
            cells = []
            for c in configs:
                vals = [r["service_ms"][k] for r in by[c] if r.get("service_ms")]
                cells.append(spread(vals, "{:.1f}") if vals else "—")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines.append("")

    errs = Counter()
    examples = {}
    for r in results:
        for k, v in r["errors"].items():
            errs[(r["config"], k)] += v
            examples.setdefault(k, r["error_examples"].get(k, ""))
    if errs:
        lines += ["Errors by status (all runs):", ""]
        for (c, k), v in sorted(errs.items()):
            lines.append(f"- {c}: {k}: {v} — e.g. `{examples[k][:200]}`")
    else:
        lines.append("Errors: none in any run.")
    lines += ["", "Server RSS every 5 s from the start of the load (MB), per run:", ""]
    for r in results:
        lines.append(f"- {r['config']} #{r['rep'] + 1}: {' '.join(map(str, r['rss']['every_5s']))}")
    return lines


def write_report(results: list[dict], args) -> None:
    cmd = " ".join(["benchmarks/participation.py", *sys.argv[1:]])
    code = (
        f"tweeling imported from `{args.pythonpath}`"
        if args.pythonpath
        else f"the working tree's code, {code_fingerprint(ROOT / 'src')}"
    )
    if args.patch:
        code += ", WHAT-IF: with " + ", ".join(f"`{p}`" for p in args.patch) + " applied"
    if args.env:
        code += ", WHAT-IF: environment " + ", ".join(f"`{k}={v}`" for k, v in args.env.items())
    if args.pin:
        code += f", WHAT-IF: pinned to CPU {os.cpu_count() - 1} (taskset)"
    if args.wal:
        code += ", WHAT-IF: the GeoPackage in WAL journal mode (`PRAGMA journal_mode = WAL`)"
    if args.workers > 1:
        code += (
            f", WHAT-IF: {args.workers} uvicorn worker processes on the same `create_app` "
            "(`api_features.serve_workers`; RSS summed over the processes)"
        )
    if args.uvicorn_standard:
        code += ", WHAT-IF: httptools + uvloop on the server's path (uvicorn[standard])"
    if args.dataset_tiles:
        code += (
            ", map views ask for dataset tiles as the viewer does (`/tiles/WebMercatorQuad/"
            "z/y/x?collections=…`, one request per tile for the 8 layers)"
        )
    else:
        code += ", map views ask for one tile per layer (the viewer before 0ccc5ae)"
    if args.warm_tiles:
        code += ", tile cache warmed before the load (every tile of the map views, once)"
    code += (
        ", tile cache cold (the demo's seeded tiles removed)"
        if args.cold_tiles
        else ", the tiles the demo seeded (`tweeling tiles seed`)"
    )
    title = args.label or "Participation under load"
    lines = [
        f"## {title}",
        "",
        f"`.venv/bin/python {cmd}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        f"Machine: {api.machine()}. Served: {code}.",
        "",
        f"{args.participants} simulated participants ({round(args.participants * args.writers)} "
        f"of them writing), {args.seconds} s per run, arrivals over {args.ramp} s, think time "
        f"exponential with mean {args.think} s (0.5–{4 * args.think} s). Configurations: "
        + "; ".join(f"`{c}`: {config_label(c)}" for c in dict.fromkeys(args.configs))
        + ".",
        "",
        *report(results, args),
        "",
    ]
    text = "\n".join(lines)
    if args.append and args.report.exists():
        args.report.write_text(args.report.read_text() + "\n" + text, encoding="utf-8")
    else:
        args.report.write_text("# Participation under load\n\n" + text, encoding="utf-8")
    print(f"\n(written to {args.report})")


def code_fingerprint(src: Path) -> str:
    import hashlib

    files = sorted((src / "tweeling").rglob("*.py"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    return f"src/tweeling sha256 {digest}…"


# ---------------------------------------------------------------------------- main


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--participants", type=int, default=200)
    ap.add_argument("--writers", type=float, default=0.10, help="share that writes")
    ap.add_argument("--seconds", type=float, default=60.0, help="duration of the load")
    ap.add_argument("--ramp", type=float, default=10.0, help="arrivals spread over this")
    ap.add_argument("--think", type=float, default=5.0, help="mean think time, s")
    ap.add_argument("--repeat", type=int, default=3, help="runs per configuration")
    ap.add_argument(
        "--configs",
        default="auth,noauth,auth-busy",
        help="auth, noauth, auth-busy, noauth-busy (comma-separated)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--wait", type=float, default=600, help="wait at most this for quiet")
    ap.add_argument("--disturbed", type=float, default=0.3, help="others' cores that count as busy")
    ap.add_argument("--pythonpath", type=Path, help="serve tweeling from DIR (e.g. old code)")
    ap.add_argument(
        "--patch",
        type=Path,
        action="append",
        default=[],
        help="what-if: serve a copy of src (or of --pythonpath) with this patch applied "
        "(patch -p1; repeatable), e.g. benchmarks/patches/deps_twin_per_thread.patch",
    )
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        help="what-if: KEY=VALUE in the server's environment (e.g. MALLOC_ARENA_MAX=2)",
    )
    ap.add_argument("--pin", action="store_true", help="what-if: the server on one CPU")
    ap.add_argument("--workers", type=int, default=1, help="what-if: N uvicorn worker processes")
    ap.add_argument(
        "--uvicorn-standard",
        action="store_true",
        help="what-if: httptools + uvloop on the server's path (uvicorn[standard])",
    )
    ap.add_argument(
        "--service-times",
        type=int,
        default=0,
        metavar="N",
        help="before the load: each request kind alone, N times in a row (median ms)",
    )
    ap.add_argument(
        "--per-layer-tiles",
        dest="dataset_tiles",
        action="store_false",
        help="map views ask for one tile per layer, as the viewer before 0ccc5ae did "
        "(default: dataset tiles, /tiles/…?collections=the 8 layers, as the viewer asks)",
    )
    ap.add_argument(
        "--dataset-tiles",
        action="store_true",
        help="dataset tiles (the default; kept for the command lines of earlier reports)",
    )
    ap.set_defaults(dataset_tiles=True)
    ap.add_argument(
        "--cold-tiles",
        action="store_true",
        help="serve without the tiles the demo seeded: every tile is rendered on first ask",
    )
    ap.add_argument(
        "--warm-tiles",
        action="store_true",
        help="ask once for every tile of the map views before the load (a tile cache that "
        "earlier visitors filled)",
    )
    ap.add_argument(
        "--wal", action="store_true", help="what-if: the twin's GeoPackage in WAL journal mode"
    )
    ap.add_argument("--label", help="title of the report's section")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    ap.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results_participation.md")
    ap.add_argument("--append", action="store_true", help="add a section to the report")
    ap.add_argument("--no-report", action="store_true", help="print only")
    args = ap.parse_args()
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    args.out = args.out.resolve()
    args.work = args.out / "participation"
    args.work.mkdir(parents=True, exist_ok=True)
    args.env = dict(e.split("=", 1) for e in args.env)
    args.standard = api.uvicorn_standard(args.out) if args.uvicorn_standard else None
    args.served = args.pythonpath
    if args.patch:
        args.served = patched_copy(args)
    return args


def patched_copy(args) -> Path:
    """A copy of the code to serve (``--pythonpath`` or the working tree's src) with the
    ``--patch`` files applied; the folder to put on PYTHONPATH."""
    root = args.work / "patched"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(
        args.pythonpath or ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    for patch in args.patch:
        run = subprocess.run(
            ["patch", "-p1", "-d", str(root), "-i", str(patch.resolve())],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise SystemExit(f"{patch} does not apply:\n{run.stdout}{run.stderr}")
    return root / "src"


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--loadgen":
        loadgen(sys.argv[2], sys.argv[3])
        return
    args = parse_args()
    twins = {
        "auth": pristine(args.work, args.participants)
        if any(not c.startswith("noauth") for c in args.configs)
        else None
    }
    facts = demo_facts(twins["auth"] or pristine_noauth(args.work))
    results = []
    for rep in range(args.repeat):  # configurations alternate: drift hits all alike
        for config in args.configs:
            results.append(run_once(config, rep, args, facts))
    lines = report(results, args)
    print("\n" + "\n".join(lines).replace("**", ""))
    if not args.no_report:
        write_report(results, args)


if __name__ == "__main__":
    main()
