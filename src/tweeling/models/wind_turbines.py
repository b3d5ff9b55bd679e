"""The ``wind-turbines`` impact model: noise, shadow flicker and external safety of wind
turbines at the buildings around them.

A thin adapter around pure methods:

* noise — ISO 9613-2:1996 downwind octave-band propagation of each turbine's A-weighted
  octave sound power (:mod:`tweeling.methods.noise_iso9613`) to the facade point of every
  building nearest to the turbine, summed over turbines, as L_den and L_night; and an L_den
  grid over the area within the relevance distance;
* shadow flicker — astronomical worst case by the NREL SPA sun path
  (:mod:`tweeling.methods.shadow_flicker`), and the expected (realistic) flicker when a
  sunshine climatology and a wind rose are given;
* external safety — the buildings within the 10^-5 and 10^-6 per year individual-risk
  contours (:mod:`tweeling.methods.turbine_safety`), with contour distances taken from a
  site risk analysis. A published approximation from turbine dimensions (e.g. in the
  Handboek Risicozonering Windturbines 3.1, 2014, chapter 4 "Bebouwing") could not be
  verified: the public copies found give the handbook's table of contents but not the text
  of such a rule, so none is implemented (see also :mod:`tweeling.methods.turbine_safety`).

Noise defaults follow the Reken- en meetvoorschrift windturbines (Activiteitenregeling
milieubeheer, bijlage 4, 2011): the turbine is a point source at hub height (§3.2), the air
absorption is that of ISO 9613-1 at 10 °C and 80 % relative humidity (§3.6, table 3.1), and
the ground-effect terms are given for a receptor height h_o = 5 m (§3.11.3, note to table
3.6), the usual assessment height for evening and night.

Every building is treated as a noise-sensitive receptor: the buildings layer has no
building function. Turbines and buildings are read within the run's extent; buildings
farther than ``relevance_distance_m`` from every turbine are not assessed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import shapely

from tweeling.core.errors import InputError
from tweeling.methods import noise_iso9613 as iso
from tweeling.methods import shadow_flicker as sf
from tweeling.methods import turbine_safety as ts
from tweeling.models.base import Grid, ModelInfo, ModelResult, Output, Parameter, RunContext
from tweeling.models.input_layers import OCTAVE_FIELDS, WIND_TURBINES, checked_features

HOURS_PER_YEAR = 8760.0
MAX_GRID_CELLS = 4_000_000  # refused before any work: choose a larger grid_cell_m
LDEN_CLASSES_DB = tuple(range(30, 65, 5))  # 5 dB classes 30-35 .. 60-65, plus below / above
# No legal limits here: norms are data, evaluated by the rule checker, not the model.

PARAMETERS = (
    Parameter(
        "relevance_distance_m",
        "m",
        2000.0,
        "buildings farther than this from every turbine are not assessed; the L_den grid "
        "covers the area within this distance of a turbine",
        minimum=0.0,
        exclusive_minimum=True,
        maximum=10000.0,
    ),
    Parameter(
        "receiver_height_m",
        "m",
        5.0,
        "noise receptor height above local ground, at the facade and in the grid (5 m as in "
        "the Reken- en meetvoorschrift windturbines, Activiteitenregeling bijlage 4 §3.11)",
        minimum=0.0,
        maximum=100.0,
    ),
    Parameter(
        "temperature_c",
        "°C",
        10.0,
        "air temperature for atmospheric absorption (ISO 9613-1; bijlage 4 table 3.1: 10 °C)",
        minimum=-20.0,
        maximum=50.0,
    ),
    Parameter(
        "relative_humidity_pct",
        "%",
        80.0,
        "relative humidity for atmospheric absorption (ISO 9613-1; bijlage 4 table 3.1: 80 %)",
        minimum=10.0,
        maximum=100.0,
    ),
    Parameter(
        "ground_factor",
        "1",
        0.5,
        "ground factor G of ISO 9613-2 §7.3.1 for the source, middle and receiver regions: "
        "0 hard (paving, water), 1 porous (grass, farmland), the porous share for mixed ground",
        minimum=0.0,
        maximum=1.0,
    ),
    Parameter(
        "grid_cell_m",
        "m",
        10.0,
        "cell size of the L_den grid",
        minimum=1.0,
        maximum=1000.0,
    ),
    Parameter(
        "flicker_time_step_min",
        "min",
        1.0,
        "time step of the sun path for shadow flicker (each step with flicker counts fully)",
        minimum=0.1,
        maximum=60.0,
    ),
    Parameter(
        "year",
        "a",
        2025,
        "calendar year of the sun path for shadow flicker",
        type="integer",
        minimum=1900,
        maximum=2100,
    ),
    Parameter(
        "flicker_receptor_height_m",
        "m",
        2.0,
        "window height above local ground of the shadow-flicker receptor on the facade",
        minimum=0.0,
        maximum=100.0,
    ),
    Parameter(
        "sunshine_fraction_by_month",
        "1",
        [],
        "12 fractions (January..December) of the astronomically possible sunshine hours, e.g. "
        "from KNMI climate normals of a nearby station; with wind_sector_fraction enables the "
        "expected flicker ([] = not given)",
        type="json",
    ),
    Parameter(
        "wind_sector_fraction",
        "1",
        [],
        "12 fractions of the time the wind blows from the 30° sectors centred on 0, 30, .. "
        "330° (clockwise from north), summing to 1; with sunshine_fraction_by_month enables "
        "the expected flicker ([] = not given)",
        type="json",
    ),
    Parameter(
        "ir_contour_distances_m",
        "m",
        {},
        "distances of the 10^-5 and 10^-6 per year individual-risk contours from a site risk "
        'analysis, per turbine_type, e.g. {"Type A": [60, 150], "*": [70, 170]} ("*": any '
        "other type; {} = safety not assessed)",
        type="json",
    ),
)


class WindTurbineModel:
    info = ModelInfo(
        name="wind-turbines",
        version="1.0",
        theme="wind",
        title="Wind turbines: noise (L_den, L_night), shadow flicker and safety contours",
        inputs=("wind_turbines", "buildings"),
        parameters=PARAMETERS,
        outputs=(
            Output(
                "buildings",
                "objects",
                "dB, h/yr, d/yr",
                "per building: lden_db, lnight_db (facade, summed over turbines), "
                "flicker_worst_h_per_yr, flicker_worst_days_over_20_min, "
                "flicker_expected_h_per_yr (when sunshine and wind rose are given), "
                "within_ir_1e-5, within_ir_1e-6 (when contour distances are given)",
            ),
            Output("lden", "grid", "dB", "L_den at receiver height, downwind, all turbines"),
            Output(
                "indicators",
                "indicators",
                "",
                "maximum L_den and L_night, buildings per 5 dB L_den class, buildings with "
                "worst-case flicker, maximum hours and days, buildings within the risk "
                "contours",
            ),
        ),
        methods=(
            "ISO 9613-2:1996 point source, downwind: L_fT(DW) = L_W + D_c - A (eqs. 3, 4), "
            "A_div (eq. 7), A_atm = α·d (eq. 8) with α from ISO 9613-1:1993 eqs. 3-5, A_gr "
            "by the general method (§7.3.1, eq. 9, Table 3); no barrier or misc. terms",
            "Reken- en meetvoorschrift windturbines (Activiteitenregeling milieubeheer "
            "bijlage 4, 2011): turbine as a point source at hub height (§3.2), receptor "
            "height 5 m and 10 °C / 80 % absorption conditions as defaults (§3.6, §3.11), "
            "L_den from day, evening and night levels (§3.3)",
            "Directive 2002/49/EC Annex I point 1.1: L_den with 12/4/8 h periods",
            "Shadow flicker, astronomical worst case: LAI WKA-Schattenwurfhinweise (2002) "
            "assumptions (rotor as a sphere of radius D/2, sun >= 3°), sun positions by the "
            "NREL SPA (Reda & Andreas 2004/2008) through pvlib, zone of 12 rotor diameters "
            "and the 20-minute day of Activiteitenregeling milieubeheer art. 3.12",
            "Shadow flicker, expected: worst-case minutes weighted by the monthly sunshine "
            "fraction, the wind-sector fractions and the rotor-disc orientation "
            "(tweeling.methods.shadow_flicker.expected_flicker)",
            "External safety: objects within the individual-risk (plaatsgebonden risico) "
            "10^-5 and 10^-6 per year distances of a quantitative risk analysis per "
            "Handleiding Risicoberekeningen Windturbines (RIVM, Module IV; formerly Handboek "
            "Risicozonering Windturbines 3.1, 2014), norms of Activiteitenbesluit art. 3.15a",
        ),
        limitations=(
            "Every building counts as a noise- and flicker-sensitive object: the buildings "
            "layer has no building function (dwelling, office, shed).",
            "Noise: downwind propagation everywhere (C_meteo of bijlage 4 §3.13 not applied, so "
            "levels are conservative by up to a few dB); flat ground; no screening by "
            "buildings, no reflections, no vegetation (D_scherm, D_refl, D_veg = 0). Each "
            "turbine counts at the facade point nearest to it, so with several turbines the "
            "sum is an upper bound of the level at the facade's loudest point.",
            "Noise: the octave sound power is taken as the level while the turbine operates; "
            "day, evening and night levels are all that level + 10·lg(operating hours / 8760) "
            "instead of the statutory emission term from the KNMI wind-speed distribution at "
            "hub height per period (bijlage 4 §3.4).",
            "Noise: the 31.5 Hz band of bijlage 4 is not modelled (ISO 9613-2 covers 63 Hz to "
            "8 kHz); the ground effect is ISO 9613-2's, which differs slightly from bijlage 4 "
            "table 3.6; within H + D/2 of a turbine the point-source model is outside its "
            "validity (bijlage 4 §3.2).",
            "Shadow flicker: one receptor point per building and turbine (the facade point "
            "nearest the turbine, at flicker_receptor_height_m); the building's value is that "
            "of its worst point; no window orientation or size, no shading by buildings or "
            "trees; the sun is a point; flicker only within 12 rotor diameters.",
            "Shadow flicker, expected: one operating fraction for all turbines (the largest "
            "operating_hours_per_yr / 8760), wind rose and sunshine from parameters (no "
            "built-in climatology).",
            "Safety: contour distances must come from a site risk analysis per turbine type; "
            "without them safety is not assessed. Distances are measured from the mast to "
            "the nearest point of the building footprint.",
            "Only turbines inside the run's extent are counted; the default extent is the "
            "whole twin.",
        ),
        code=(
            "tweeling.methods.noise_iso9613",
            "tweeling.methods.shadow_flicker",
            "tweeling.methods.turbine_safety",
            "tweeling.models.input_layers",
        ),
    )

    def run(self, ctx: RunContext) -> ModelResult:
        p = ctx.parameters
        notes: list[str] = []
        # 1. Everything checked before heavy work: turbines, structured parameters, grid size.
        # Turbines just outside the extent still reach buildings inside it.
        reach = p["relevance_distance_m"]
        x0, y0, x1, y1 = ctx.extent
        turbines = checked_features(
            ctx, WIND_TURBINES, bbox=(x0 - reach, y0 - reach, x1 + reach, y1 + reach)
        )
        if not turbines:
            raise InputError(
                "no wind turbines within relevance_distance_m of the run's extent "
                f"({', '.join(f'{v:g}' for v in ctx.extent)}): add them to layer "
                "wind_turbines (tweeling import model-inputs FILE --layer wind_turbines, or a "
                "scenario) or widen the extent"
            )
        turbines.sort(key=lambda t: t[0])
        sunshine, wind = _flicker_climate(p)
        contours = _contour_distances(p, turbines)
        t_ids = [t[0] for t in turbines]
        tx = np.array([t[1].x for t in turbines])
        ty = np.array([t[1].y for t in turbines])
        hub = np.array([t[2]["hub_height_m"] for t in turbines])
        diameter = np.array([t[2]["rotor_diameter_m"] for t in turbines])
        ground_t = np.array([t[2]["ground_height_m"] for t in turbines])
        lw = np.array([[t[2][f] for f in OCTAVE_FIELDS] for t in turbines])
        hours = np.array([t[2]["operating_hours_per_yr"] for t in turbines])
        relevance = p["relevance_distance_m"]
        grid_box = _grid_box(tx, ty, relevance, ctx.extent, p["grid_cell_m"])
        ctx.progress(0.02, f"{len(turbines)} turbines checked")

        # 2. Receptors: buildings within the extent and the relevance distance.
        ids, geoms, ground_b, skipped = [], [], [], 0
        points = shapely.points(tx, ty)
        for f in ctx.features("buildings"):
            g = f.geometry
            if g is None or g.is_empty:
                continue
            if not np.any(shapely.dwithin(g, points, relevance)):
                skipped += 1
                continue
            ids.append(f.id)
            geoms.append(g)
            gh = f.properties.get("ground_height_m")
            ground_b.append(np.nan if gh is None else float(gh))
        order = np.argsort(np.array(ids, dtype=object), kind="stable")
        ids = [ids[i] for i in order]
        geoms = np.array([geoms[i] for i in order], dtype=object)
        ground_b = np.array([ground_b[i] for i in order], dtype=float)
        if skipped:
            notes.append(
                f"not assessed, farther than {relevance:g} m from every turbine "
                f"(relevance_distance_m): {_count(skipped, 'building')} in the extent"
            )
        notes.append(
            f"{_count(len(turbines), 'turbine')} and {_count(len(ids), 'building')} assessed; "
            "every building is "
            "treated as a sensitive object (the buildings layer has no building function)"
        )
        ctx.progress(0.05, f"{len(ids)} buildings within {relevance:g} m")

        # Facade points nearest each turbine: (n_b, n_t) horizontal distances and points.
        n_b, n_t = len(ids), len(turbines)
        if n_b:
            lines = shapely.shortest_line(shapely.boundary(geoms)[:, None], points[None, :])
            facade = shapely.get_point(lines, 0)
            fx, fy = shapely.get_x(facade), shapely.get_y(facade)
        else:
            fx = fy = np.zeros((0, n_t))
        dist_h = np.hypot(fx - tx[None, :], fy - ty[None, :])
        # ground level of a building without one: that of the turbine (flat ground)
        g_b = np.where(np.isnan(ground_b)[:, None], ground_t[None, :], ground_b[:, None])

        # 3. Noise at the facades.
        op_db = _operating_correction_db(hours)
        if np.any(hours <= 0):
            off = [i for i, h in zip(t_ids, hours, strict=True) if h <= 0]
            notes.append(f"turbines with 0 operating hours add no noise: {', '.join(off)}")
        level = _level_db(
            dist_h,
            (ground_t + hub)[None, :] - (g_b + p["receiver_height_m"]),
            hub,
            p["receiver_height_m"],
            lw,
            op_db,
            p,
        )  # (n_b,) equivalent level, the same in day, evening and night
        lden = _lden(level)
        near = np.any(dist_h < (hub + diameter / 2)[None, :], axis=1) if n_b else []
        if np.any(near):
            notes.append(
                "within hub height + half the rotor diameter of a turbine, where the "
                "point-source model is outside its validity (Reken- en meetvoorschrift "
                f"windturbines §3.2): {_count(int(np.sum(near)), 'building')}"
            )
        notes.append(
            "noise: day, evening and night levels = level while operating + 10·lg(operating "
            "hours / 8760); downwind propagation, no screening or reflections"
        )
        ctx.progress(0.1, "noise at the facades")

        # 4. L_den grid.
        grid = self._grid(ctx, grid_box, tx, ty, hub, lw, op_db, p)
        ctx.progress(0.4, "noise grid")

        # 5. Shadow flicker.
        flicker = self._flicker(ctx, fx, fy, dist_h, g_b, tx, ty, ground_t, hub, diameter, p)
        worst_h, worst_days = flicker[:2]
        expected_h = None
        if sunshine is not None:
            expected_h = _expected(flicker, sunshine, wind, hours)
            notes.append(
                "expected flicker with one operating fraction for all turbines: "
                f"{float(np.max(np.minimum(hours, HOURS_PER_YEAR))) / HOURS_PER_YEAR:.3f}"
            )
        else:
            notes.append(
                "expected (realistic) flicker not computed: it needs both "
                "sunshine_fraction_by_month and wind_sector_fraction (12 values each)"
            )
        notes.append(
            f"shadow flicker: astronomical worst case for {p['year']} at "
            f"{p['flicker_time_step_min']:g}-minute steps, sun >= 3°, within 12 rotor "
            "diameters; receptor = the worst of each building's facade points nearest a "
            f"turbine, {p['flicker_receptor_height_m']:g} m above ground"
        )
        ctx.progress(0.9, "shadow flicker")

        # 6. Safety contours.
        within: dict[str, np.ndarray] = {}
        if contours is None:
            notes.append(
                "external safety not assessed: no individual-risk contour distances given "
                "(parameter ir_contour_distances_m, from a site risk analysis per turbine type)"
            )
        else:
            for k, label in enumerate(("1e-5", "1e-6")):
                hit: set[str] = set()
                if n_b:
                    found, _ = ts.objects_within_distance(
                        geoms, np.array(ids, dtype=object), tx, ty, contours[:, k]
                    )
                    hit = set(found.tolist())
                within[label] = np.array([i in hit for i in ids], dtype=bool)
            notes.append(
                "safety: buildings within the 10^-5 and 10^-6 contour distances "
                "(ir_contour_distances_m), measured from the mast to the footprint"
            )
        ctx.progress(0.97, "safety contours")

        rows = []
        for i, oid in enumerate(ids):
            row: dict[str, Any] = {
                "layer": "buildings",
                "id": oid,
                "lden_db": _r(lden[i]),
                "lnight_db": _r(level[i]),
                "flicker_worst_h_per_yr": _r(worst_h[i]),
                "flicker_worst_days_over_20_min": int(worst_days[i]),
            }
            if expected_h is not None:
                row["flicker_expected_h_per_yr"] = _r(expected_h[i])
            for label, mask in within.items():
                row[f"within_ir_{label}"] = bool(mask[i])
            rows.append(row)
        indicators = _indicators(n_t, lden, level, worst_h, worst_days, expected_h, within)
        result = ModelResult(
            grids={} if grid is None else {"lden": grid},
            objects={"buildings": rows},
            indicators=indicators,
            notes=notes,
        )
        ctx.progress(1.0, "done")
        return result

    # -- grid --------------------------------------------------------------------------

    def _grid(self, ctx, box, tx, ty, hub, lw, op_db, p) -> Grid | None:
        if box is None:
            return None
        west, north, cols, rows = box
        cell = p["grid_cell_m"]
        values = np.full((rows, cols), np.nan, dtype=np.float64)
        xs = west + (np.arange(cols) + 0.5) * cell
        chunk = max(1, 2_000_000 // max(1, cols * len(tx) * 8))
        for r0 in range(0, rows, chunk):
            ys = north - (np.arange(r0, min(rows, r0 + chunk)) + 0.5) * cell
            gx, gy = np.meshgrid(xs, ys)
            dh = np.hypot(gx[..., None] - tx, gy[..., None] - ty)  # (r, c, n_t)
            inside = np.any(dh <= p["relevance_distance_m"], axis=-1)
            if not inside.any():
                continue
            dh = dh[inside]  # (m, n_t)
            level = _level_db(dh, hub[None, :] - p["receiver_height_m"], hub,
                              p["receiver_height_m"], lw, op_db, p)  # fmt: skip
            block = values[r0 : r0 + len(ys)]
            block[inside] = _lden(level)
            ctx.progress(0.1 + 0.3 * min(1.0, (r0 + chunk) / rows), "noise grid")
        values = np.where(np.isfinite(values), np.round(values, 2), np.nan)
        return Grid(values.astype(np.float32), west, north, cell, "dB")

    # -- shadow flicker ------------------------------------------------------------------

    def _flicker(self, ctx, fx, fy, dist_h, g_b, tx, ty, ground_t, hub, diameter, p):
        n_b = dist_h.shape[0]
        zone = np.minimum(sf.MAX_DISTANCE_ROTOR_DIAMETERS * diameter, p["relevance_distance_m"])
        pair_b, pair_t = np.nonzero(dist_h <= zone[None, :])
        worst_min = np.zeros(n_b)
        worst_days = np.zeros(n_b, dtype=np.int64)
        chosen = np.full(n_b, -1)
        if not len(pair_b):
            return worst_min / 60.0, worst_days, chosen, None, None, None, None
        receptors = np.column_stack(
            [
                fx[pair_b, pair_t],
                fy[pair_b, pair_t],
                g_b[pair_b, pair_t] + p["flicker_receptor_height_m"],
            ]
        )
        turb = np.column_stack([tx, ty, ground_t, hub, diameter])
        lat, lon, convergence = _site(float(np.mean(tx)), float(np.mean(ty)))
        ctx.progress(0.42, "sun path")
        sun = sf.sun_positions(
            lat, lon, year=int(p["year"]), time_step_minutes=p["flicker_time_step_min"]
        )
        ctx.progress(0.5, "shadow flicker")
        res = sf.shadow_flicker_worst_case(
            receptors, turb, sun, grid_convergence_deg=convergence, max_distance_m=zone
        )
        # per building: its receptor with the most minutes (ties: the first)
        for k, b in enumerate(pair_b):
            if chosen[b] < 0 or res.minutes_per_year[k] > worst_min[b]:
                chosen[b] = k
                worst_min[b] = res.minutes_per_year[k]
                worst_days[b] = res.days_over_daily_limit[k]
        return worst_min / 60.0, worst_days, chosen, res, receptors, turb, (sun, convergence)


# -- helpers ---------------------------------------------------------------------------


def _level_db(dist_h, dz, hub, receiver_h, lw, op_db, p) -> np.ndarray:
    """Equivalent A-weighted level (dB) per receptor, summed over turbines: ISO 9613-2
    downwind octave levels of the A-weighted octave sound power, + the operating correction.

    ``dist_h`` (n, n_t) horizontal distances, ``dz`` (n, n_t) source minus receiver height.
    """
    if dist_h.shape[0] == 0:
        return np.zeros(0)
    dp = np.maximum(dist_h, 1.0)  # the ground term needs d_p > 0
    d = np.hypot(dp, dz)
    g = p["ground_factor"]
    band = iso.downwind_octave_level_db(
        lw[None, :, :],
        iso.geometric_divergence_db(d)[..., None],
        iso.atmospheric_attenuation_db(d, p["temperature_c"], p["relative_humidity_pct"]),
        iso.ground_attenuation_db(dp, hub[None, :], receiver_h, g, g, g),
    )
    # the sound power is A-weighted per band already: sum the bands without weighting again
    per_turbine = iso.energetic_sum_db(band, axis=-1) + op_db[None, :]
    return iso.energetic_sum_db(per_turbine, axis=-1)


def _lden(level: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        finite = np.isfinite(level)
        out = np.full(level.shape, -np.inf)
        if finite.any():
            lv = level[finite]
            out[finite] = iso.lden_db(lv, lv, lv)
        return out


def _operating_correction_db(hours: np.ndarray) -> np.ndarray:
    """10·lg(operating hours / 8760), -inf for a turbine that never runs."""
    frac = np.minimum(hours, HOURS_PER_YEAR) / HOURS_PER_YEAR
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(frac)


def _grid_box(tx, ty, relevance, extent, cell):
    """(west, north, cols, rows) of the grid over the turbines' relevance area within the
    extent, aligned to multiples of the cell size; refused when too large."""
    minx = max(extent[0], float(tx.min()) - relevance)
    miny = max(extent[1], float(ty.min()) - relevance)
    maxx = min(extent[2], float(tx.max()) + relevance)
    maxy = min(extent[3], float(ty.max()) + relevance)
    if not (minx < maxx and miny < maxy):
        return None
    west, north = math.floor(minx / cell) * cell, math.ceil(maxy / cell) * cell
    cols = math.ceil((maxx - west) / cell)
    rows = math.ceil((north - miny) / cell)
    if cols * rows > MAX_GRID_CELLS:
        raise InputError(
            f"the L_den grid would have {cols * rows:,} cells (at most {MAX_GRID_CELLS:,}): "
            "choose a larger grid_cell_m, a smaller relevance_distance_m or a smaller extent",
            field="grid_cell_m",
        )
    return west, north, cols, rows


def _site(x: float, y: float) -> tuple[float, float, float]:
    """Latitude, longitude (WGS 84) of an RD New point and the grid convergence there:
    the angle from true north to RD grid north, clockwise positive (as
    :func:`tweeling.methods.shadow_flicker.shadow_flicker_worst_case` takes it)."""
    from pyproj import Transformer

    to_wgs = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
    to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    lon, lat = to_wgs.transform(x, y)
    nx, ny = to_rd.transform(lon, lat + 0.01)  # a step along the meridian: true north
    true_north_grid_azimuth = math.degrees(math.atan2(nx - x, ny - y))
    return float(lat), float(lon), -true_north_grid_azimuth


def _json(value: Any, name: str) -> Any:
    if isinstance(value, str):  # from the command line as text
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InputError(
                f"parameter {name} = {value!r} is not valid JSON", field=name
            ) from None
    return value


def _fractions(value: Any, name: str) -> np.ndarray | None:
    value = _json(value, name)
    if value is None or (isinstance(value, list | tuple) and len(value) == 0):
        return None
    ok = isinstance(value, list | tuple) and len(value) == 12
    ok = ok and all(
        isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in value
    )
    if not ok:
        raise InputError(
            f"parameter {name} must be a list of 12 fractions between 0 and 1, got {value!r}",
            field=name,
        )
    return np.array(value, dtype=float)


def _flicker_climate(p) -> tuple[np.ndarray | None, np.ndarray | None]:
    sunshine = _fractions(p["sunshine_fraction_by_month"], "sunshine_fraction_by_month")
    wind = _fractions(p["wind_sector_fraction"], "wind_sector_fraction")
    if (sunshine is None) != (wind is None):
        missing = "wind_sector_fraction" if wind is None else "sunshine_fraction_by_month"
        raise InputError(
            "the expected flicker needs both sunshine_fraction_by_month and "
            f"wind_sector_fraction; {missing} is missing",
            field=missing,
        )
    if wind is not None and abs(wind.sum() - 1.0) > 1e-6:
        raise InputError(
            f"parameter wind_sector_fraction must sum to 1, not {wind.sum():g}",
            field="wind_sector_fraction",
        )
    return sunshine, wind


def _contour_distances(p, turbines) -> np.ndarray | None:
    """(n_t, 2) distances of the 10^-5 and 10^-6 contours per turbine, or None."""
    name = "ir_contour_distances_m"
    table = _json(p[name], name)
    if table is None or table == {}:
        return None
    if not isinstance(table, dict):
        raise InputError(
            f"parameter {name} must map turbine types to the 10^-5 and 10^-6 contour "
            f'distances in metres, e.g. {{"*": [60, 150]}}, got {table!r}',
            field=name,
        )
    for key, pair in table.items():
        good = (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
            and all(math.isfinite(v) and 0 <= v <= p["relevance_distance_m"] for v in pair)
        )
        if not good or pair[0] > pair[1]:
            raise InputError(
                f"parameter {name}[{key!r}] = {pair!r} must be two distances in metres, "
                "the 10^-5 and the 10^-6 contour, with 0 <= d_1e-5 <= d_1e-6 <= "
                "relevance_distance_m "
                f"({p['relevance_distance_m']:g} m)",
                field=name,
            )
    out = []
    for oid, _, values in turbines:
        kind = values.get("turbine_type")
        pair = table.get(kind) if kind is not None else None
        if pair is None:
            pair = table.get("*")
        if pair is None:
            raise InputError(
                f"parameter {name} has no contour distances for turbine type {kind!r} "
                '(add it, or "*" for any type)',
                object_id=f"wind_turbines/{oid}",
                field=name,
            )
        out.append([float(pair[0]), float(pair[1])])
    return np.array(out)


def _expected(flicker, sunshine, wind, hours) -> np.ndarray:
    worst_h, _, chosen, res, receptors, turb, sun_conv = flicker
    n_b = len(worst_h)
    out = np.zeros(n_b)
    if res is None:
        return out
    sun, convergence = sun_conv
    operating = float(np.max(np.minimum(hours, HOURS_PER_YEAR))) / HOURS_PER_YEAR
    exp = sf.expected_flicker(
        res, receptors, turb, sun,
        sunshine_fraction_by_month=sunshine, wind_sector_fraction=wind,
        operating_fraction=operating, grid_convergence_deg=convergence,
    )  # fmt: skip
    has = chosen >= 0
    out[has] = exp.hours_per_year[chosen[has]]
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _r(value: float) -> float | None:
    """A value rounded to 0.01 (so results are stable), None for no sound at all."""
    value = float(value)
    return round(value, 2) if math.isfinite(value) else None


def _indicators(n_t, lden, lnight, worst_h, worst_days, expected_h, within) -> dict:
    def ind(value, unit):
        return {"value": value, "unit": unit}

    finite = lden[np.isfinite(lden)]
    out = {
        "turbines": ind(n_t, "1"),
        "buildings_assessed": ind(len(lden), "1"),
        "max_lden_db": ind(_r(finite.max()) if finite.size else None, "dB"),
        "max_lnight_db": ind(
            _r(np.max(lnight[np.isfinite(lnight)])) if finite.size else None, "dB"
        ),
    }
    rounded = np.round(lden, 2)
    low, high = LDEN_CLASSES_DB[0], LDEN_CLASSES_DB[-1] + 5
    out[f"buildings_lden_below_{low}_db"] = ind(int(np.sum(rounded < low)), "1")
    for lo in LDEN_CLASSES_DB:
        count = int(np.sum((rounded >= lo) & (rounded < lo + 5)))
        out[f"buildings_lden_{lo}_{lo + 5}_db"] = ind(count, "1")
    out[f"buildings_lden_{high}_plus_db"] = ind(int(np.sum(rounded >= high)), "1")
    wh = np.round(worst_h, 2)
    out["buildings_with_flicker_worst_case"] = ind(int(np.sum(wh > 0)), "1")
    out["max_flicker_worst_h_per_yr"] = ind(_r(wh.max()) if wh.size else 0.0, "h/yr")
    out["max_flicker_worst_days_over_20_min"] = ind(
        int(worst_days.max()) if worst_days.size else 0, "d/yr"
    )
    if expected_h is not None:
        eh = np.round(expected_h, 2)
        out["buildings_with_flicker_expected"] = ind(int(np.sum(eh > 0)), "1")
        out["max_flicker_expected_h_per_yr"] = ind(_r(eh.max()) if eh.size else 0.0, "h/yr")
    for label, mask in within.items():
        out[f"buildings_within_ir_{label}"] = ind(int(np.sum(mask)), "1")
    return out
