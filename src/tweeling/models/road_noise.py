"""Road traffic noise: CNOSSOS-EU emission and ISO 9613-2 propagation, Lden and Lnight on a
grid at 4 m, at the most exposed facade of each building, and dwellings per 5 dB class.

The adapter reads the scenario view (roads with traffic, buildings with heights, vegetated
ground), turns each road into point sources, sets up receivers (grid cells outside
buildings, points in front of every facade) and sums, per day, evening and night, the
octave-band contributions of every source within the relevance distance. The physics is in
the pure methods: ``noise_cnossos_road`` (emission), ``noise_paths`` (path geometry over
buildings) and ``noise_iso9613`` (attenuation, Lden).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.spatial import cKDTree

from tweeling.core.crs import union_bounds
from tweeling.core.errors import InputError
from tweeling.methods.noise_cnossos_road import road_emission_per_metre_db
from tweeling.methods.noise_iso9613 import A_WEIGHTING_DB, lden_db
from tweeling.methods.noise_line_sources import SourceTree, build_source_tree, select_pairs
from tweeling.methods.noise_paths import ObstacleRaster, path_geometry, point_source_attenuation_db
from tweeling.models.base import Grid, ModelInfo, ModelResult, Output, Parameter, RunContext
from tweeling.models.input_layers import ROAD_TRAFFIC, checked_features
from tweeling.models.tiling import GridTile, Plan, grid_tiles, run_here, tile_parameter

SOURCE_HEIGHT_M = 0.05  # CNOSSOS-EU Annex II 2.2.1: road sources 0.05 m above the surface
PERIOD_HOURS = {"day": 12.0, "evening": 4.0, "night": 8.0}  # 2002/49/EC Annex I
OBSTACLE_CELL_M = 0.5  # resolution of the building-height raster for screening
FACADE_OFFSET_M = 0.5  # facade receivers stand this far in front of the wall
CLASS_EDGES_DB = (40, 45, 50, 55, 60, 65, 70, 75)
PAIR_BUDGET = 3_000_000  # profile samples per chunk (memory ~ 40 bytes each)
MAX_PATH_SAMPLES = 256  # profile samples per path (1 m apart up to 256 m, coarser beyond)


def _param(name, unit, default, description, **kw) -> Parameter:
    return Parameter(name, unit, default, description, **kw)


PARAMETERS = (
    _param(
        "cell_m",
        "m",
        10.0,
        "grid cell size (2002/49/EC strategic maps use 10 m)",
        minimum=1.0,
        maximum=100.0,
    ),
    _param(
        "receiver_height_m",
        "m",
        4.0,
        "height of grid and facade receivers (2002/49/EC Annex I: 4 m)",
        minimum=1.5,
        maximum=30.0,
    ),
    _param(
        "max_distance_m",
        "m",
        500.0,
        "relevance distance: sources farther from a receiver are left out (said in notes)",
        minimum=50.0,
        maximum=2000.0,
    ),
    _param(
        "source_spacing_m",
        "m",
        5.0,
        "roads are split into point sources this far apart",
        minimum=0.5,
        maximum=50.0,
    ),
    _param(
        "facade_spacing_m",
        "m",
        3.0,
        "distance between facade receivers along a wall",
        minimum=0.5,
        maximum=20.0,
    ),
    _param(
        "day_fraction_per_h",
        "1/h",
        0.065,
        "share of the daily traffic per hour in the day (07-19); typical urban "
        "distribution, set from counts where known",
        minimum=0.0,
        maximum=1.0,
    ),
    _param(
        "evening_fraction_per_h",
        "1/h",
        0.035,
        "share of the daily traffic per hour in the evening (19-23)",
        minimum=0.0,
        maximum=1.0,
    ),
    _param(
        "night_fraction_per_h",
        "1/h",
        0.01,
        "share of the daily traffic per hour at night (23-07)",
        minimum=0.0,
        maximum=1.0,
    ),
    _param(
        "air_temperature_c",
        "°C",
        10.0,
        "annual mean air temperature (CNOSSOS temperature correction, ISO 9613-1 "
        "absorption); about 10 °C in the Netherlands",
        minimum=-20.0,
        maximum=40.0,
    ),
    _param(
        "relative_humidity_pct",
        "%",
        70.0,
        "relative humidity (ISO 9613-1)",
        minimum=10.0,
        maximum=100.0,
    ),
    _param(
        "ground_factor_default",
        "1",
        0.0,
        "ground factor G where no vegetation is mapped (0 hard, 1 porous; urban: 0)",
        minimum=0.0,
        maximum=1.0,
    ),
    _param(
        "floor_area_per_dwelling_m2",
        "m2",
        100.0,
        "gross floor area per dwelling, to estimate dwellings of buildings without a "
        "'dwellings' attribute",
        minimum=20.0,
        maximum=1000.0,
    ),
    _param(
        "storey_height_m", "m", 3.0, "storey height for that estimate", minimum=2.0, maximum=6.0
    ),
    tile_parameter(1000.0, "whole grid cells; each reads its inputs within max_distance_m"),
)


class RoadNoiseModel:
    info = ModelInfo(
        name="road-noise",
        # 1.1: empty 5 dB classes reported as 0; 1.2: computed in tiles, buildings of the
        # extent assessed (not those within reach of it)
        version="1.2",
        theme="noise",
        title="Road traffic noise (CNOSSOS-EU emission, ISO 9613-2 propagation)",
        inputs=("road_traffic", "buildings", "plant_cover"),
        parameters=PARAMETERS,
        outputs=(
            Output(
                "lden",
                "grid",
                "dB",
                "Lden at receiver height; empty inside buildings and beyond the relevance distance",
            ),
            Output("lnight", "grid", "dB", "Lnight at receiver height"),
            Output(
                "facades",
                "objects",
                "dB",
                "per building: Lden and Lnight at its most exposed facade, dwellings",
            ),
            Output(
                "indicators",
                "indicators",
                "1",
                "dwellings and buildings per 5 dB class of Lden and Lnight, maxima",
            ),
        ),
        methods=(
            "CNOSSOS-EU road emission: Directive 2002/49/EC Annex II §2.2 as replaced by "
            "(EU) 2015/996 and amended by (EU) 2021/1226 (Tables F-1, F-4)",
            "ISO 9613-2:1996 point-source propagation: A_div (eq. 7), A_atm (eq. 8, ISO "
            "9613-1), A_gr general method (§7.3.1), A_bar over the top of buildings "
            "(§7.4, eqs. 12-18; first and last edge of the path's convex hull)",
            "Lden and Lnight: Directive 2002/49/EC Annex I",
        ),
        limitations=(
            "Downwind (favourable) propagation throughout; no meteorological correction.",
            "Flat terrain; buildings are blocks of their height_m; no reflections from "
            "facades, no diffraction around vertical edges.",
            "Facade receivers stand 0.5 m in front of the wall at receiver height, also on "
            "buildings lower than that height.",
            "Traffic per period from the daily traffic and hourly fractions (parameters).",
            "Dwellings are estimated from floor area where buildings carry no 'dwellings' "
            "attribute (said in the notes).",
            "Sources beyond max_distance_m from a receiver are left out.",
            "Facade levels are given for the buildings whose representative point lies in "
            "the extent.",
        ),
        code=(
            "tweeling.methods.noise_cnossos_road",
            "tweeling.methods.noise_iso9613",
            "tweeling.methods.noise_paths",
            "tweeling.methods.noise_line_sources",
            "tweeling.models.input_layers",
            "tweeling.models.tiling",
        ),
    )

    def run(self, ctx: RunContext) -> ModelResult:
        return run_here(self, ctx)

    def plan(self, ctx: RunContext) -> Plan:
        p = ctx.parameters
        _check_fractions(p)
        tiles = grid_tiles(ctx.extent, p["cell_m"], p["tile_m"])
        cells = tiles[0].rows * tiles[0].cols
        if cells > 25_000_000:
            raise InputError(
                f"a {p['cell_m']:g} m grid over the extent has {cells:,} cells; use a "
                "smaller extent or larger cell_m",
                field="cell_m",
            )
        return Plan(tiles)

    def run_tile(self, ctx: RunContext, tile: GridTile) -> _TilePart:
        """Levels in the tile's grid cells and at the facades of the buildings it owns (whose
        representative point lies in its cells), from every source within reach."""
        p = ctx.parameters
        part = _TilePart(tile)
        owned = _owned_buildings(ctx, tile, part)
        receiver_box = union_bounds(
            [tile.box, *(g.bounds for _, g, _, _ in owned)], FACADE_OFFSET_M
        )
        reach = union_bounds([receiver_box], p["max_distance_m"])
        roads = checked_features(ctx, ROAD_TRAFFIC, bbox=reach)
        ctx.progress(0.02, "roads read")
        part.dwellings = [_dwellings(g, h, given, p) for _, g, h, given in owned]
        if not roads:
            return part
        sources = _sources(roads, p)
        part.roads = sources.per_road
        part.labels = {v["traffic_source"] for _, _, v in roads if v.get("traffic_source")}
        work = _work_area(receiver_box, sources.xy, p["max_distance_m"])
        if work is None:
            return part
        raster = _obstacles(ctx, work, _buildings(ctx, reach), p)
        ctx.progress(0.05, "roads, buildings and ground read")
        grid_xy, part.grid_index = _grid_receivers(tile, sources, raster, p)
        facade_xy, facade_owner = _facade_receivers(owned, p["facade_spacing_m"])
        near = _within(facade_xy, sources.xy, p["max_distance_m"])
        facade_xy, facade_owner = facade_xy[near], facade_owner[near]
        receivers = np.vstack([grid_xy, facade_xy])
        clearance = np.r_[np.zeros(len(grid_xy)), np.full(len(facade_xy), 2.0 * OBSTACLE_CELL_M)]
        energy, counts = _propagate(ctx, sources, receivers, clearance, raster, p)
        part.pairs, part.screened, part.receivers = (
            counts["pairs"],
            counts["screened"],
            len(receivers),
        )
        levels = {k: _db(energy[:, i]) for i, k in enumerate(PERIOD_HOURS)}
        lden = lden_db(levels["day"], levels["evening"], levels["night"])
        lnight = levels["night"]
        n_grid = len(grid_xy)
        part.grid_lden = np.round(lden[:n_grid], 2)
        part.grid_lnight = np.round(lnight[:n_grid], 2)
        part.facade_lden, part.facade_lnight = _facade_maxima(
            len(owned), facade_owner, lden[n_grid:], lnight[n_grid:]
        )
        return part

    def merge(self, ctx: RunContext, plan: Plan, parts) -> ModelResult:
        p, tiles = ctx.parameters, plan.tiles
        if not any(part.roads for part in parts):
            raise InputError(
                "no road_traffic objects within max_distance_m of the extent: nothing to "
                "compute (import road traffic with 'tweeling import model-inputs')",
                field="road_traffic",
            )
        grid_shape = (tiles[0].rows, tiles[0].cols)
        grids = {}
        for name in ("lden", "lnight"):
            cells = np.full(grid_shape, np.nan)
            for part in parts:
                t = part.tile
                block = np.full((t.r1 - t.r0) * (t.c1 - t.c0), np.nan)
                block[part.grid_index] = getattr(part, f"grid_{name}")
                cells[t.r0 : t.r1, t.c0 : t.c1] = block.reshape(t.r1 - t.r0, t.c1 - t.c0)
            grids[name] = Grid(cells, tiles[0].west, tiles[0].north, p["cell_m"], "dB")
        notes: list[str] = []
        missing = sum(part.missing_height for part in parts)
        if missing:
            notes.append(
                f"{missing} buildings without a positive height_m neither screen nor get "
                "facade levels"
            )
        entries = sorted(
            (
                (oid, *dwell, den, night)
                for part in parts
                for oid, dwell, den, night in zip(
                    part.owned_ids,
                    part.dwellings,
                    part.facade_lden,
                    part.facade_lnight,
                    strict=True,
                )
            ),
            key=lambda e: e[0],
        )
        rows, indicators = _per_building(entries, p, notes)
        roads: dict[str, int] = {}
        for part in parts:
            roads.update(part.roads)
        pairs = sum(part.pairs for part in parts)
        screened = sum(part.screened for part in parts)
        indicators.update(
            {
                "point_sources": {"value": sum(roads.values()), "unit": "1"},
                "receivers": {"value": sum(part.receivers for part in parts), "unit": "1"},
                "source_receiver_paths": {"value": pairs, "unit": "1"},
                "screened_paths_pct": {
                    "value": round(100.0 * screened / max(pairs, 1), 1),
                    "unit": "%",
                },
            }
        )
        labels = sorted(set().union(*(part.labels for part in parts)))
        notes += _notes(labels, p, len(tiles))
        return ModelResult(grids, {"facades": rows}, indicators, notes)


@dataclass
class _TilePart:
    """What one tile computed (sent back from a worker; plain arrays and lists)."""

    tile: GridTile
    owned_ids: list[str] = field(default_factory=list)
    dwellings: list[tuple[float, bool]] = field(default_factory=list)
    facade_lden: list[float] = field(default_factory=list)  # -inf: no facade within reach
    facade_lnight: list[float] = field(default_factory=list)
    missing_height: int = 0
    grid_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    grid_lden: np.ndarray = field(default_factory=lambda: np.zeros(0))
    grid_lnight: np.ndarray = field(default_factory=lambda: np.zeros(0))
    roads: dict[str, int] = field(default_factory=dict)  # road id -> its point sources
    labels: set[str] = field(default_factory=set)
    pairs: int = 0
    screened: int = 0
    receivers: int = 0


@dataclass
class _Sources:
    xy: np.ndarray  # (n, 2) the finest pieces' centres
    tree: SourceTree  # pieces at every level: power (·, 3 periods, 8 bands), linear, A-weighted
    per_road: dict[str, int]  # road id -> its finest pieces


def _check_fractions(p) -> None:
    total = sum(p[f"{k}_fraction_per_h"] * h for k, h in PERIOD_HOURS.items())
    if abs(total - 1.0) > 0.02:
        raise InputError(
            f"the hourly traffic fractions cover {total:.3f} of the daily traffic over 24 h "
            "(12·day + 4·evening + 8·night must be 1 within 0.02)",
            field="day_fraction_per_h",
        )


def _emission_per_metre_db(values: dict, p) -> np.ndarray:
    """(3 periods, 8 bands) sound power per metre of one road, dB (CNOSSOS eq. 2.2.1)."""
    v_light = values["speed_light_kmh"]
    v_heavy = values["speed_heavy_kmh"] or v_light
    shares = {
        "1": 1.0 - values["share_medium"] - values["share_heavy"] - values["share_two_wheelers"],
        "2": values["share_medium"],
        "3": values["share_heavy"],
        "4b": values["share_two_wheelers"],
    }
    speeds = {"1": v_light, "2": v_heavy, "3": v_heavy, "4b": v_light}
    out = []
    for period in PERIOD_HOURS:
        per_hour = values["aadt_veh_per_day"] * p[f"{period}_fraction_per_h"]
        flows = {cat: per_hour * max(share, 0.0) for cat, share in shares.items()}
        out.append(
            road_emission_per_metre_db(
                flows,
                speeds,
                surface=values["surface"],
                temperature_c=p["air_temperature_c"],
            )
        )
    return np.stack(out)


def _sources(roads, p) -> _Sources:
    xy, power, owner, lengths, per_road = [], [], [], [], {}
    for i, (oid, geom, values) in enumerate(roads):
        try:
            per_metre = _emission_per_metre_db(values, p)
        except InputError as exc:
            raise InputError(exc.reason, object_id=f"road_traffic/{oid}", field=exc.field) from None
        mids, lengths_m, _ = _split_line(np.asarray(geom.coords)[:, :2], p["source_spacing_m"])
        with np.errstate(divide="ignore"):
            lw = per_metre[None, :, :] + 10.0 * np.log10(lengths_m)[:, None, None]
        xy.append(mids)
        power.append(10.0 ** ((lw + A_WEIGHTING_DB) / 10.0))
        owner.append(np.full(len(mids), i))
        lengths.append(lengths_m)
        per_road[oid] = len(mids)
    xy = np.vstack(xy)
    tree = build_source_tree(
        xy, np.concatenate(power), np.concatenate(lengths), np.concatenate(owner)
    )
    return _Sources(xy, tree, per_road)


def _split_line(coords: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Midpoints, lengths and unit directions of pieces of at most ``spacing`` metres along
    a polyline."""
    a, b = coords[:-1], coords[1:]
    seg = np.hypot(*(b - a).T)
    keep = seg > 0
    a, b, seg = a[keep], b[keep], seg[keep]
    n = np.maximum(np.ceil(seg / spacing), 1).astype(np.int64)
    which = np.repeat(np.arange(len(seg)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    t = (k + 0.5) / n[which]
    mids = a[which] + (b - a)[which] * t[:, None]
    return mids, (seg / n)[which], ((b - a) / seg[:, None])[which]


def _buildings(ctx: RunContext, box) -> list:
    """(id, footprint, height, dwellings) of the buildings within ``box`` that have a
    positive height_m (the others neither screen nor get facade levels)."""
    out = []
    for f in ctx.features("buildings", bbox=box):
        height = f.properties.get("height_m")
        if height is not None and math.isfinite(height) and height > 0:
            out.append((f.id, f.geometry, float(height), f.properties.get("dwellings")))
    return out


def _owned_buildings(ctx: RunContext, tile: GridTile, part: _TilePart) -> list:
    """The buildings whose representative point (shapely's point on surface) lies in the
    tile's cells within the run's extent: each building of the extent is assessed by
    exactly one tile. Those without a positive height are counted in ``part``."""
    found = list(ctx.features("buildings", bbox=tile.box))
    if not found:
        return []
    points = shapely.point_on_surface([f.geometry for f in found])
    mine = tile.holds(shapely.get_x(points), shapely.get_y(points), ctx.extent)
    out = []
    for f, owned in zip(found, mine, strict=True):
        if not owned:
            continue
        height = f.properties.get("height_m")
        if height is None or not math.isfinite(height) or height <= 0:
            part.missing_height += 1
            continue
        out.append((f.id, f.geometry, float(height), f.properties.get("dwellings")))
    part.owned_ids = [b[0] for b in out]
    part.facade_lden = [-math.inf] * len(out)
    part.facade_lnight = [-math.inf] * len(out)
    return out


def _work_area(extent, source_xy, max_distance):
    """The box the obstacle raster covers: receivers (the extent within the sources' reach)
    and the sources themselves, so that every path is sampled over known ground."""
    lo, hi = source_xy.min(axis=0), source_xy.max(axis=0)
    reach = (
        max(extent[0], lo[0] - max_distance),
        max(extent[1], lo[1] - max_distance),
        min(extent[2], hi[0] + max_distance),
        min(extent[3], hi[1] + max_distance),
    )
    if reach[0] >= reach[2] or reach[1] >= reach[3]:
        return None  # no source within reach of a receiver
    return (min(reach[0], lo[0]), min(reach[1], lo[1]), max(reach[2], hi[0]), max(reach[3], hi[1]))


def _obstacles(ctx: RunContext, box, buildings, p) -> ObstacleRaster:
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    cell = OBSTACLE_CELL_M
    west, north = math.floor(box[0]) - 1.0, math.ceil(box[3]) + 1.0
    cols = math.ceil((box[2] + 1.0 - west) / cell)
    rows = math.ceil((north - box[1] + 1.0) / cell)
    transform = from_origin(west, north, cell, cell)
    top = np.zeros((rows, cols), dtype=np.float32)
    if buildings:
        top = rasterize(
            ((g, h) for _, g, h, _ in buildings),
            out_shape=(rows, cols),
            transform=transform,
            fill=0.0,
            dtype="float32",
        )
    ground = np.full((rows, cols), p["ground_factor_default"], dtype=np.float32)
    green = [f.geometry for f in ctx.features("plant_cover", bbox=box)]
    if green:
        porous = rasterize(
            ((g, 1) for g in green),
            out_shape=(rows, cols),
            transform=transform,
            fill=0,
            dtype="uint8",
        )
        ground[porous == 1] = 1.0
    return ObstacleRaster(top, ground, west, north, cell, p["ground_factor_default"])


def _grid_receivers(tile: GridTile, sources: _Sources, raster: ObstacleRaster, p):
    """Centres of the tile's grid cells that lie outside buildings and within reach of a
    source, and their index in the tile's block of cells."""
    cell, reach = tile.cell_m, p["max_distance_m"]
    lo, hi = sources.xy.min(axis=0) - reach, sources.xy.max(axis=0) + reach
    rr, cc = np.mgrid[tile.r0 : tile.r1, tile.c0 : tile.c1]
    x = tile.west + (cc.ravel() + 0.5) * cell
    y = tile.north - (rr.ravel() + 0.5) * cell
    index = np.flatnonzero((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]))
    xy = np.column_stack([x[index], y[index]])
    top, _ = raster.sample(xy[:, 0], xy[:, 1])
    keep = (top <= 0) & _within(xy, sources.xy, reach)
    return xy[keep], index[keep]


def _within(points, source_xy, distance) -> np.ndarray:
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    d, _ = cKDTree(source_xy).query(points, distance_upper_bound=distance)
    return np.isfinite(d)


def _facade_receivers(buildings, spacing):
    """Points in front of every exterior wall, ``spacing`` apart, with their building."""
    xy, owner = [], []
    for i, (_, geom, _, _) in enumerate(buildings):
        for poly in getattr(geom, "geoms", [geom]):
            ring = np.asarray(shapely.geometry.polygon.orient(poly, 1.0).exterior.coords)[:, :2]
            mids, _, direction = _split_line(ring, spacing)
            normal = np.column_stack([direction[:, 1], -direction[:, 0]])
            xy.append(mids + FACADE_OFFSET_M * normal)  # counter-clockwise: outward is right
            owner.append(np.full(len(mids), i))
    if not xy:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    return np.vstack(xy), np.concatenate(owner)


def _propagate(ctx, sources: _Sources, receivers, clearance, raster, p):
    """Energy per receiver and period: Σ over sources within reach and bands of
    10^((L_W + A_f - A)/10)."""
    n = len(receivers)
    energy = np.zeros((n, 3))
    counts = {"pairs": 0, "screened": 0}
    if n == 0:
        return energy, counts
    h_r = p["receiver_height_m"]
    tree = sources.tree
    _, ground_at = raster.sample(receivers[:, 0], receivers[:, 1])  # G_r, once per receiver
    block = 2000
    for start in range(0, n, block):
        stop = min(n, start + block)
        r_idx, s_idx = select_pairs(tree, receivers[start:stop], p["max_distance_m"])
        r_idx += start
        counts["pairs"] += len(r_idx)
        d = np.hypot(*(receivers[r_idx] - tree.xy[s_idx]).T)
        order = np.argsort(d, kind="stable")  # similar lengths share a chunk
        r_idx, s_idx, d = r_idx[order], s_idx[order], d[order]
        samples = np.clip(np.ceil(d), 1, MAX_PATH_SAMPLES)
        lo = 0
        while lo < len(r_idx):
            far = samples[min(len(d) - 1, lo + int(PAIR_BUDGET // samples[lo]) - 1)]
            hi = min(len(r_idx), lo + max(1, int(PAIR_BUDGET // far)))
            ri, si = r_idx[lo:hi], s_idx[lo:hi]
            src = np.column_stack([tree.xy[si], np.full(len(si), SOURCE_HEIGHT_M)])
            rcv = np.column_stack([receivers[ri], np.full(len(ri), h_r)])
            paths = path_geometry(
                src, rcv, raster, max_samples=MAX_PATH_SAMPLES, receiver_clearance_m=clearance[ri]
            )
            counts["screened"] += int(paths.screened.sum())
            a = point_source_attenuation_db(
                paths,
                SOURCE_HEIGHT_M,
                h_r,
                0.0,
                ground_at[ri],
                p["air_temperature_c"],
                p["relative_humidity_pct"],
            )
            transfer = 10.0 ** (-a / 10.0)  # (pairs, 8)
            contribution = np.einsum("pb,pqb->pq", transfer, tree.power[si])
            for q in range(3):
                energy[:, q] += np.bincount(ri, weights=contribution[:, q], minlength=n)
            lo = hi
        ctx.progress(0.05 + 0.9 * stop / n, f"propagation: {stop:,} of {n:,} receivers")
    return energy, counts


def _db(energy):
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(energy)


def _dwellings(geom, height, given, p) -> tuple[float, bool]:
    if given is not None:
        return float(given), False
    storeys = max(1, math.floor(height / p["storey_height_m"]))
    if geom.area < 30.0 or height < 2.5:  # sheds, garages: no dwelling
        return 0.0, True
    return float(round(geom.area * storeys / p["floor_area_per_dwelling_m2"])), True


def _class(level) -> str:
    if not np.isfinite(level) or level < CLASS_EDGES_DB[0]:
        return f"lt{CLASS_EDGES_DB[0]}"
    for lo, hi in itertools.pairwise(CLASS_EDGES_DB):
        if level < hi:
            return f"{lo}_{hi - 1}"
    return f"ge{CLASS_EDGES_DB[-1]}"


def _facade_maxima(n: int, owner, lden, lnight) -> tuple[list[float], list[float]]:
    """Per building (``n``): the Lden and Lnight of its most exposed facade receiver
    (-inf where none is within reach of a source)."""
    best_den = np.full(n, -np.inf)
    best_night = np.full(n, -np.inf)
    np.maximum.at(best_den, owner, lden)
    np.maximum.at(best_night, owner, lnight)
    return best_den.tolist(), best_night.tolist()


def _per_building(entries, p, notes):
    """Rows and 5 dB class counts from (id, dwellings, estimated, Lden, Lnight) per
    assessed building, in identifier order."""
    rows, estimated = [], 0
    # every class, empty ones as 0: scenarios compare class by class
    pairs = itertools.pairwise(CLASS_EDGES_DB)
    labels = [_class(-np.inf), *(f"{lo}_{hi - 1}" for lo, hi in pairs), f"ge{CLASS_EDGES_DB[-1]}"]
    classes = {
        f"{what}_{name}_{label}": 0.0
        for what in ("dwellings", "buildings")
        for name in ("lden", "lnight")
        for label in labels
    }
    for oid, dwellings, guessed, den, night in entries:
        estimated += guessed
        if not np.isfinite(den):
            continue  # no facade within reach of a source
        rows.append(
            {
                "layer": "buildings",
                "id": oid,
                "lden_db": round(float(den), 2),
                "lnight_db": round(float(night), 2),
                "dwellings": dwellings,
                "dwellings_estimated": guessed,
            }
        )
        for name, level in (("lden", den), ("lnight", night)):
            for what, amount in (("dwellings", dwellings), ("buildings", 1.0)):
                key = f"{what}_{name}_{_class(level)}"
                classes[key] = classes.get(key, 0.0) + amount
    if estimated:
        notes.append(
            f"dwellings of {estimated} buildings estimated: footprint × storeys "
            f"(height / {p['storey_height_m']:g} m) / {p['floor_area_per_dwelling_m2']:g} m² "
            "(0 below 30 m² or 2.5 m); the buildings carry no 'dwellings' attribute"
        )
    indicators = {k: {"value": v, "unit": "1"} for k, v in sorted(classes.items())}
    dens = [r["lden_db"] for r in rows]
    indicators["max_facade_lden"] = {"value": max(dens) if dens else None, "unit": "dB"}
    indicators["max_facade_lnight"] = {
        "value": max((r["lnight_db"] for r in rows), default=None),
        "unit": "dB",
    }
    indicators["buildings_assessed"] = {"value": len(rows), "unit": "1"}
    return rows, indicators


def _notes(labels, p, tiles: int) -> list[str]:
    out = [
        f"road sections beyond {p['max_distance_m']:g} m of a receiver left out; sections "
        "farther than twice their length from a receiver lumped into one point source "
        "(ISO 9613-2 clause 4)",
        "no reflections, no lateral diffraction, flat terrain, downwind propagation",
        f"computed in {tiles} tile{'s' if tiles != 1 else ''} of about {p['tile_m']:g} m; "
        "each building is assessed in the tile holding its representative point, with "
        "every source within reach",
    ]
    if labels:
        out.append("traffic figures: " + "; ".join(labels))
    return out
