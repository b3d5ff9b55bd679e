"""Synthetic roads and livestock farms for scale tests, as model-input layers (RD New).

Nothing here is real traffic or a real farm: ids start with ``SYNTH.ROAD.`` / ``SYNTH.FARM.``,
every road's ``traffic_source`` and every farm's ``sector`` say so. Both are written as a
GeoJSON FeatureCollection with a ``crs`` member (EPSG:28992, coordinates in metres rounded
to millimetres), the format ``tweeling import model-inputs FILE --layer road_traffic`` (or
``--layer nitrogen_sources``) reads; every feature passes the layer's checks
(:mod:`tweeling.models.input_layers`).

**Roads** (``road_traffic``) follow the CBS municipalities of :mod:`tweeling.sources.synthetic`:
each municipality gets a share of the roads in proportion to its inhabitants. A few
arterials radiate from its anchor point (sections near the centre at 50 km/h, farther out
provincial roads at 80 km/h); local 30 km/h streets lie where its buildings cluster, on a
grid of the municipality's own orientation; motorway sections join neighbouring large
municipalities. **Farms** (``nitrogen_sources``) are rural: a municipality's weight is its
land area, lowered by its population density, and a farm keeps away from the centre.

The same seed (and chunk size) gives the same bytes; features are generated and written a
chunk at a time, under ``name.part`` renamed when complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import shapely

from tweeling.sources.synthetic import MUNICIPALITIES, Municipalities, municipalities, scatter

ROAD_TAG, FARM_TAG = 0x524F4144, 0x4641524D  # "ROAD", "FARM": streams apart from buildings'
TRAFFIC_SOURCE = "synthetic (tweeling synth), not real traffic"
FARM_SECTOR = "livestock (synthetic)"
RD_NEW = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::28992"}}

# Shares of the network. The Netherlands has some 140,000 km of public road, of which about
# 3,000 km motorway (~2 %); most of the rest are 30 km/h residential streets and rural access
# roads, a minority 50 km/h urban and 80 km/h provincial distributor roads (rough figures of
# Rijkswaterstaat's Nationaal Wegenbestand and CBS, used as orders of magnitude only).
MOTORWAY_SHARE = 0.02
ARTERIAL_SHARE = 0.2  # of a municipality's roads
SPOKE_REACH = 2.0  # spoke length, in spreads (a quarter of √land area) of the municipality
URBAN_REACH = 1.0  # arterial sections whose middle is within this many spreads: 50 km/h
MIN_SECTION_M = 200.0  # arterial sections beyond what the spokes hold at this length scatter
LARGE = 50_000  # inhabitants: municipalities joined by motorways (to their 3 nearest)
LINK_MAX_M = 60_000.0

# Road classes: (label, AADT median, low, high [veh/day], light/heavy speed [km/h], shares
# medium/heavy/two-wheelers, surfaces). Speeds are Dutch limits (RVV 1990 art. 20-21):
# 30 km/h zones in residential areas (Duurzaam Veilig), 50 inside built-up areas, 80 on
# provincial roads outside them (also the limit for lorries), 100 km/h on motorways by day
# since 2020. AADT orders of magnitude: Rijkswaterstaat's counts (INWEVA) show tens of
# thousands of vehicles a day on motorways (busiest sections well over 100,000); provincial
# roads typically 5,000-25,000; urban distributor roads some thousands to ~20,000;
# residential streets hundreds. Heavy shares ~10-15 % on motorways, a few % in town.
# Surfaces: porous asphalt (ZOAB) on most motorways; dense asphalt (the CNOSSOS reference),
# stone mastic asphalt or thin layers elsewhere; clinker paving in many residential streets.
MOTORWAY, PROVINCIAL, ARTERIAL, STREET = range(4)
CLASSES = (
    ("motorway", 60_000, 25_000, 160_000, 100, 80, 0.06, 0.10, 0.005,
     ("1-layer ZOAB", "2-layer ZOAB", "2-layer ZOAB (fine)")),
    ("provincial road", 10_000, 3_000, 30_000, 80, 80, 0.06, 0.06, 0.01,
     ("reference road surface", "SMA-NL8", "thin layer A")),
    ("urban arterial", 8_000, 2_000, 25_000, 50, 50, 0.05, 0.02, 0.02,
     ("reference road surface", "SMA-NL5", "thin layer A")),
    ("residential street", 500, 50, 3_000, 30, 30, 0.02, 0.005, 0.02,
     ("reference road surface", "hard elements in herring-bone", "quiet hard elements")),
)  # fmt: skip
_MEDIAN, _LOW, _HIGH, _V_LIGHT, _V_HEAVY = (
    np.array([c[i] for c in CLASSES], dtype=float) for i in (1, 2, 3, 4, 5)
)
_SHARES = np.array([c[6:9] for c in CLASSES])
_SURFACES = np.array([c[9] for c in CLASSES])  # three per class

# Farms: kinds, their probability, animals (median, low, high) and NH3 per animal place per
# year [kg]. Orders of magnitude of the Dutch emission factors for housing (Regeling
# ammoniak en veehouderij, Rav): a dairy cow in a conventional house ~13 kg NH3/yr (so a farm
# of ~100 cows ~1,000-2,000 kg/yr), a fattening pig place ~1-3 kg, a laying hen ~0.03-0.1 kg,
# lower with low-emission housing. NOx from farms is small (heating, machinery): a few % of
# the NH3 here, illustrative. Emission heights: stable vents and ridges, a few metres; no
# heat content (natural ventilation, no plume rise).
FARM_KINDS = (
    ("dairy farm", "cows", 0.6, 100, 30, 400, 10.0, 15.0),
    ("pig farm", "pig places", 0.25, 2_000, 300, 10_000, 1.0, 3.0),
    ("poultry farm", "laying hens", 0.15, 30_000, 5_000, 150_000, 0.03, 0.1),
)
RURAL_DENSITY = 150.0  # inhabitants/km²: a municipality's weight is land / (1 + density / this)
RURAL_CLEAR = 1.5  # farms keep this many spreads from the municipality's anchor (its centre)
FARM_TRIES = 16


@dataclass(frozen=True)
class Network:
    """How ``count`` roads divide: per municipality its roads, arterial sections, spokes
    (angles, lengths) and grid orientation; the motorway links and their sections."""

    places: Municipalities
    local_total: int  # roads in municipalities; motorway sections follow them
    first: np.ndarray  # index of each municipality's first road
    arterials: np.ndarray  # arterial sections per municipality
    on_spokes: np.ndarray  # of which on the spokes
    spokes: np.ndarray
    angle: np.ndarray  # (municipalities, 8): spoke directions [rad]
    length: np.ndarray  # (municipalities, 8): spoke lengths [m], kept inside
    grid: np.ndarray  # street grid orientation [rad]
    links: np.ndarray  # (links, 2): municipality indices
    link_ends: np.ndarray  # (links, 2, 2): the motorway's ends
    link_first: np.ndarray  # index (after local_total) of each link's first section
    link_sections: np.ndarray


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """``total`` split in proportion to ``weights`` by largest remainders (sums exactly)."""
    if total <= 0 or not len(weights):
        return np.zeros(len(weights), dtype=np.int64)
    exact = total * weights / weights.sum()
    out = np.floor(exact).astype(np.int64)
    rest = np.argsort(-(exact - out), kind="stable")[: total - out.sum()]
    out[rest] += 1
    return out


def _inside_along(places, town, x0, y0, x1, y1, samples: int = 9) -> np.ndarray:
    """Whether points along each segment lie inside its municipality."""
    ok = np.ones(len(town), dtype=bool)
    for t in np.linspace(0.0, 1.0, samples):
        ok &= shapely.contains_xy(places.areas[town], x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    return ok


def _motorway_links(places: Municipalities) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of large municipalities, each joined to its 3 nearest within LINK_MAX_M, whose
    straight link stays over land or water of some municipality; and the links' ends (each
    anchor moved a spread towards the other, so that motorways pass city centres by)."""
    big = np.flatnonzero(places.inhabitants >= LARGE)
    xy = np.column_stack([places.x[big], places.y[big]])
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(dist, np.inf)
    pairs = {
        (min(a, b), max(a, b))
        for a in range(len(big))
        for b in np.argsort(dist[a], kind="stable")[:3]
        if dist[a, b] <= LINK_MAX_M
    }
    pairs = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    tree = shapely.STRtree(places.areas)
    keep = []
    for a, b in pairs:
        t = np.linspace(0.0, 1.0, 41)
        pts = shapely.points(xy[a] + t[:, None] * (xy[b] - xy[a]))
        hit = tree.query(pts, predicate="within")[0]
        keep.append(len(np.unique(hit)) == len(pts))
    pairs = pairs[np.array(keep, dtype=bool)]
    links = big[pairs]
    a, b = xy[pairs[:, 0]], xy[pairs[:, 1]]
    d = np.hypot(*(b - a).T)[:, None]
    unit = (b - a) / d
    pull = np.minimum(places.spread_m[links], d / 3)  # (links, 2)
    ends = np.stack([a + unit * pull[:, :1], b - unit * pull[:, 1:]], axis=1)
    return links, ends


def network(count: int, places: Municipalities, *, seed: int = 1) -> Network:
    """How ``count`` roads divide over the municipalities and motorway links."""
    rng = np.random.default_rng([seed, ROAD_TAG])
    n = len(places.names)
    motorways = round(count * MOTORWAY_SHARE)
    links, ends = _motorway_links(places)
    link_sections = apportion(motorways, np.hypot(*(ends[:, 1] - ends[:, 0]).T))
    local_total = count - int(link_sections.sum())
    counts = apportion(local_total, places.inhabitants)
    arterials = np.maximum(np.round(counts * ARTERIAL_SHARE), np.minimum(counts, 1))
    spokes = np.clip(3 + np.floor(np.log2(np.maximum(places.inhabitants, 1) / 20_000)), 3, 8)
    spokes = spokes.astype(np.int64)
    grid = rng.uniform(0, np.pi / 2, n)
    angle = grid[:, None] + 2 * np.pi * np.arange(8) / spokes[:, None]
    angle += rng.normal(0, 0.15, (n, 8))
    length = SPOKE_REACH * places.spread_m[:, None] * rng.uniform(0.8, 1.2, (n, 8))
    town = np.repeat(np.arange(n), 8)
    x0, y0 = places.x[town], places.y[town]
    flat = length.ravel()
    for _ in range(10):  # shorten the spokes that leave their municipality
        x1, y1 = x0 + flat * np.cos(angle.ravel()), y0 + flat * np.sin(angle.ravel())
        bad = ~_inside_along(places, town, x0, y0, x1, y1)
        if not bad.any():
            break
        flat = np.where(bad, flat * 0.7, flat)
    length = flat.reshape(n, 8)
    shortest = np.where(np.arange(8) < spokes[:, None], length, np.inf).min(axis=1)
    capacity = spokes * np.maximum(1, np.floor(shortest / MIN_SECTION_M)).astype(np.int64)
    return Network(
        places=places,
        local_total=local_total,
        first=np.concatenate([[0], np.cumsum(counts)[:-1]]),
        arterials=arterials.astype(np.int64),
        on_spokes=np.minimum(arterials, capacity).astype(np.int64),
        spokes=spokes,
        angle=angle,
        length=length,
        grid=grid,
        links=links,
        link_ends=ends,
        link_first=np.concatenate([[0], np.cumsum(link_sections)[:-1]]).astype(np.int64),
        link_sections=link_sections,
    )


def _segments(rng, places, town, cx, cy, angle, length) -> np.ndarray:
    """Three-vertex streets centred on (cx, cy), shortened until their ends lie inside."""
    for _ in range(5):
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        bad = ~_inside_along(places, town, cx - dx, cy - dy, cx + dx, cy + dy, samples=3)
        if not bad.any():
            break
        length = np.where(bad, length / 2, length)
    length = np.where(bad, 1.0, length)  # rare: a centre right at a border
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    bend = rng.normal(0, 0.02, len(town)) * length  # a slight kink at the middle
    mid = np.column_stack([cx - np.sin(angle) * bend, cy + np.cos(angle) * bend])
    return np.stack(
        [np.column_stack([cx - dx, cy - dy]), mid, np.column_stack([cx + dx, cy + dy])], 1
    )


def road_columns(net: Network, start: int, n: int, *, seed: int = 1) -> dict[str, np.ndarray]:
    """Coordinates (n, 3, 2), class and name of roads ``start`` … ``start + n - 1``."""
    rng = np.random.default_rng([seed, ROAD_TAG, start])
    places = net.places
    idx = np.arange(start, start + n)
    coords = np.zeros((n, 3, 2))
    klass = np.full(n, STREET)
    names = np.empty(n, dtype=object)
    size = np.zeros(n)  # inhabitants behind the road, for its traffic
    local = idx < net.local_total
    m = np.searchsorted(net.first, idx[local], side="right") - 1
    j = idx[local] - net.first[m]
    spoke = j < net.on_spokes[m]
    scattered = (j >= net.on_spokes[m]) & (j < net.arterials[m])
    town_names = places.names[m]
    # arterial sections along the spokes: section p of spoke s, outwards from the anchor
    s_m, j_s = m[spoke], j[spoke]
    k = np.minimum(net.spokes[s_m], net.on_spokes[s_m])
    s, p = j_s % k, j_s // k
    per = net.on_spokes[s_m] // k + (s < net.on_spokes[s_m] % k)
    ang, reach = net.angle[s_m, s], net.length[s_m, s]
    t = (p[:, None] + np.array([0.0, 0.5, 1.0])) / per[:, None]
    sx = places.x[s_m][:, None] + t * (reach * np.cos(ang))[:, None]
    sy = places.y[s_m][:, None] + t * (reach * np.sin(ang))[:, None]
    outer = t[:, 1] * reach > URBAN_REACH * places.spread_m[s_m]
    # streets and scattered arterials where the buildings are, on the municipality's grid
    o_m = m[~spoke]
    cx, cy = scatter(rng, o_m, places)
    turn = net.grid[o_m] + np.pi / 2 * rng.integers(0, 2, len(o_m)) + rng.normal(0, 0.05, len(o_m))
    long = scattered[~spoke]
    length = np.where(long, rng.uniform(300, 1000, len(o_m)), rng.uniform(80, 400, len(o_m)))
    rows = np.flatnonzero(local)
    coords[rows[spoke]] = np.stack([sx, sy], axis=-1)
    coords[rows[~spoke]] = _segments(rng, places, o_m, cx, cy, turn, length)
    klass[rows[spoke]] = np.where(outer, PROVINCIAL, ARTERIAL)
    klass[rows[scattered]] = ARTERIAL
    size[rows] = places.inhabitants[m]
    names[rows[spoke]] = [
        f"Synthetic {'N-road' if o else 'arterial'} {si + 1}.{pi + 1}, {town}"
        for o, si, pi, town in zip(outer, s, p, town_names[spoke], strict=True)
    ]
    names[rows[~spoke]] = [
        f"Synthetic {'arterial' if a else 'street'}, {town}"
        for a, town in zip(long, town_names[~spoke], strict=True)
    ]
    # motorway sections: equal pieces of the links between large municipalities
    mk = idx[~local] - net.local_total
    link = np.searchsorted(net.link_first, mk, side="right") - 1
    if len(link):
        q, of = mk - net.link_first[link], net.link_sections[link]
        a, b = net.link_ends[link, 0], net.link_ends[link, 1]
        t = (q[:, None] + np.array([0.0, 0.5, 1.0])) / of[:, None]
        rows = np.flatnonzero(~local)
        coords[rows] = a[:, None, :] + t[..., None] * (b - a)[:, None, :]
        klass[rows] = MOTORWAY
        pair = net.links[link]
        size[rows] = np.sqrt(places.inhabitants[pair].prod(axis=1))
        names[rows] = [
            f"Synthetic motorway {places.names[x]} - {places.names[y]} ({i + 1}/{c})"
            for (x, y), i, c in zip(pair, q, of, strict=True)
        ]
    return {"id": idx, "coords": np.round(coords, 3), "class": klass, "name": names, "size": size}


def road_features(net: Network, start: int, n: int, *, seed: int = 1) -> list[dict]:
    """GeoJSON Features (RD New) of roads ``start`` … ``start + n - 1``."""
    cols = road_columns(net, start, n, seed=seed)
    rng = np.random.default_rng([seed, ROAD_TAG, start, 1])
    c = cols["class"]
    busier = np.clip((cols["size"] / 100_000) ** 0.25, 0.5, 2.0)  # more traffic in big towns
    aadt = _MEDIAN[c] * busier * rng.lognormal(0, 0.4, n)
    aadt = np.round(np.clip(aadt, _LOW[c], _HIGH[c]))
    shares = np.round(_SHARES[c] * rng.uniform(0.7, 1.3, (n, 3)), 4)
    surface = _SURFACES[c, rng.integers(0, 3, n)]
    coords = cols["coords"].tolist()
    return [
        {
            "type": "Feature",
            "id": f"SYNTH.ROAD.{cols['id'][i]}",
            "geometry": {"type": "LineString", "coordinates": coords[i]},
            "properties": {
                "name": cols["name"][i],
                "aadt_veh_per_day": float(aadt[i]),
                "share_medium": float(shares[i, 0]),
                "share_heavy": float(shares[i, 1]),
                "share_two_wheelers": float(shares[i, 2]),
                "speed_light_kmh": float(_V_LIGHT[c[i]]),
                "speed_heavy_kmh": float(_V_HEAVY[c[i]]),
                "surface": str(surface[i]),
                "traffic_source": TRAFFIC_SOURCE,
            },
        }
        for i in range(n)
    ]


def farm_features(places: Municipalities, start: int, n: int, *, seed: int = 1) -> list[dict]:
    """GeoJSON Features (RD New) of farms ``start`` … ``start + n - 1``."""
    rng = np.random.default_rng([seed, FARM_TAG, start])
    land_km2 = places.land_m2 / 1e6
    weight = land_km2 / (1 + places.inhabitants / land_km2 / RURAL_DENSITY)
    town = rng.choice(len(weight), size=n, p=weight / weight.sum())
    bounds = shapely.bounds(places.areas)[town]
    x, y = places.x[town].copy(), places.y[town].copy()  # the anchor, if nothing else fits
    rural = np.zeros(n, dtype=bool)
    for _ in range(FARM_TRIES):  # uniform over the municipality, away from its centre
        todo = np.flatnonzero(~rural)
        if not len(todo):
            break
        b = bounds[todo]
        px = rng.uniform(b[:, 0], b[:, 2])
        py = rng.uniform(b[:, 1], b[:, 3])
        t = town[todo]
        inside = shapely.contains_xy(places.areas[t], px, py)
        away = np.hypot(px - places.x[t], py - places.y[t]) > RURAL_CLEAR * places.spread_m[t]
        take = inside & (away | (x[todo] == places.x[t]))  # any inside point beats the anchor
        x[todo[take]], y[todo[take]] = px[take], py[take]
        rural[todo[inside & away]] = True
    kind = rng.choice(len(FARM_KINDS), size=n, p=[k[2] for k in FARM_KINDS])
    median, low, high, ef_low, ef_high = (
        np.array([k[i] for k in FARM_KINDS], dtype=float)[kind] for i in (3, 4, 5, 6, 7)
    )
    animals = np.round(np.clip(median * rng.lognormal(0, 0.5, n), low, high))
    nh3 = np.round(animals * rng.uniform(ef_low, ef_high), 1)
    nox = np.round(nh3 * rng.uniform(0.01, 0.05, n), 1)
    height = np.round(rng.uniform(3.0, 8.0, n), 1)
    xy = np.round(np.column_stack([x, y]), 3).tolist()
    return [
        {
            "type": "Feature",
            "id": f"SYNTH.FARM.{start + i}",
            "geometry": {"type": "Point", "coordinates": xy[i]},
            "properties": {
                "name": f"Synthetic {FARM_KINDS[kind[i]][0]}, {int(animals[i]):,} "
                f"{FARM_KINDS[kind[i]][1]} ({places.names[town[i]]})",
                "sector": FARM_SECTOR,
                "nh3_kg_per_yr": float(nh3[i]),
                "nox_kg_per_yr": float(nox[i]),
                "emission_height_m": float(height[i]),
                "heat_content_mw": 0.0,
            },
        }
        for i in range(n)
    ]


def _write_collection(
    path: str | os.PathLike,
    chunks: Iterator[list[dict]],
    name: str,
    progress: Callable[[int], None] | None,
) -> Path:
    """A GeoJSON FeatureCollection (RD New) written a chunk at a time, then renamed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        head = {"type": "FeatureCollection", "name": name, "crs": RD_NEW}
        f.write(orjson.dumps(head)[:-1] + b',"features":[\n')
        sep = b""
        for features in chunks:
            if features:
                f.write(sep + b",\n".join(orjson.dumps(x) for x in features))
                sep = b",\n"
            if progress:
                progress(len(features))
        f.write(b"\n]}\n")
    tmp.replace(path)
    return path


def write_roads(
    path: str | os.PathLike,
    count: int,
    *,
    data_dir: Path,
    seed: int = 1,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``count`` synthetic roads (layer ``road_traffic``) to a GeoJSON file."""
    net = network(count, municipalities(Path(data_dir) / MUNICIPALITIES), seed=seed)
    chunks = (
        road_features(net, start, min(chunk, count - start), seed=seed)
        for start in range(0, count, chunk)
    )
    return _write_collection(path, chunks, "road_traffic", progress)


def write_farms(
    path: str | os.PathLike,
    count: int,
    *,
    data_dir: Path,
    seed: int = 1,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``count`` synthetic livestock farms (layer ``nitrogen_sources``) to GeoJSON."""
    places = municipalities(Path(data_dir) / MUNICIPALITIES)
    chunks = (
        farm_features(places, start, min(chunk, count - start), seed=seed)
        for start in range(0, count, chunk)
    )
    return _write_collection(path, chunks, "nitrogen_sources", progress)
