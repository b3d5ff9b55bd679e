"""Nitrogen deposition on Natura 2000 sites from the sources of a scenario.

An adapter around :mod:`tweeling.methods.gaussian_plume` (climatological Gaussian plume,
dry deposition) and :mod:`tweeling.methods.hexgrid` (the AERIUS 1 ha hexagon receptor grid):

1. read and check every nitrogen source in the run's extent (and, for a run on a scenario,
   every source of the baseline it is built on); line sources become points along the line,
   each with its share of the line's emission;
2. receptors: the centres of the AERIUS hexagons inside Natura 2000 sites (by default only
   the nitrogen-sensitive ones) that lie within the cutoff distance of a source;
3. annual dry deposition of NOx (as NO2) and NH3 at each receptor in mol N/ha/yr, and for a
   scenario the same from the baseline's sources on the same hexagons, and the difference.

See ``docs/models/nitrogen-deposition.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

from tweeling.core.errors import InputError
from tweeling.methods import gaussian_plume as gp
from tweeling.methods import hexgrid as hg
from tweeling.models.base import ModelInfo, ModelResult, Output, Parameter, RunContext
from tweeling.models.input_layers import NITROGEN_SOURCES, checked_features
from tweeling.models.tiling import Plan, run_here, tile_parameter

SITES_LAYER = "natura2000"
HEXAGON_LAYER = "natura2000_hexagons"
UNIT = "mol N/ha/yr"
DECIMALS = 6  # results are rounded to 1e-6 mol N/ha/yr so that they are stable
# AERIUS reports deposition to two decimals: an increase shows as more than 0.00 from 0.005.
REPORTED_INCREASE = 0.005
WIND_ROSE_EXAMPLE = "examples/model-inputs/wind-rose-illustrative.json"
_WIND_ROSE_KEYS = {
    "frequency",
    "wind_speed_m_s",
    "stability_classes",
    "sector_from_deg",
    "title",
    "description",
    "source",
}
_MAX_LISTED = 10  # ids named in a note
# The AERIUS receptor grid's bounding box in RD New (see tweeling.methods.hexgrid).
GRID_BOX = shapely.box(3604.0, 296800.0, 287959.0, 629300.0)


def _parameters() -> tuple[Parameter, ...]:
    return (
        Parameter(
            "wind_rose",
            "",
            None,
            "Wind climate (required: no citable Dutch 12 × 6 table was found). JSON object: "
            "'frequency' = 12 or 16 sectors the wind blows FROM (the first centred on north, "
            "then clockwise), each 6 fractions for Pasquill classes A–F, all summing to 1 "
            "(calms included); 'wind_speed_m_s' = 6 mean speeds (> 0) for A–F. See "
            "docs/models/nitrogen-deposition.md. Illustrative example: "
            f"-p wind_rose=@{WIND_ROSE_EXAMPLE}",
            type="json",
        ),
        Parameter(
            "deposition_velocity_nh3_m_s",
            "m/s",
            0.014,
            "Dry deposition velocity of NH3. Default 0.014 m/s: the annual average 24-hour "
            "deposition velocity to heathland of 1.4 cm/s derived by Duyzer (1994), Dry "
            "deposition of ammonia and ammonium aerosols over heathland, J. Geophys. Res. "
            "99(D9), doi:10.1029/94JD01210.",
            minimum=0.0,
            maximum=0.1,
        ),
        Parameter(
            "deposition_velocity_nox_m_s",
            "m/s",
            0.0015,
            "Dry deposition velocity of NOx, counted as NO2. Default 0.0015 m/s: the lower "
            "end of the 0.1–0.6 cm/s measured for NOx over cut grass by Delaney & Davies "
            "(1983), Dry deposition of NOx to grass in rural East Anglia, Atmos. Environ. "
            "17(7), 1391–1394, daytime measurements (NO2 enters mainly through open stomata, "
            "so an annual mean lies lower): a choice within a published range.",
            minimum=0.0,
            maximum=0.1,
        ),
        Parameter(
            "cutoff_distance_m",
            "m",
            25_000.0,
            "Source–receptor pairs farther apart contribute nothing; sources without any "
            "receptor hexagon within it are left out (and named in the run's notes). Default "
            "as the method's (tweeling.methods.gaussian_plume.nitrogen_deposition).",
            minimum=0.0,
            exclusive_minimum=True,
            maximum=100_000.0,
        ),
        Parameter(
            "sensitive_sites_only",
            "",
            True,
            "Only Natura 2000 sites with nitrogen-sensitive habitats (natura2000 attribute "
            "'stikstofgevoelig' true) get receptor hexagons; false: every site.",
            type="boolean",
        ),
        Parameter(
            "receptor_height_m",
            "m",
            1.0,
            "Height above ground of the receptor points (hexagon centres).",
            minimum=0.0,
            maximum=50.0,
        ),
        Parameter(
            "min_distance_m",
            "m",
            100.0,
            "Source–receptor distances below this are clamped to it (the Briggs σ formulas "
            "hold from 100 m).",
            minimum=1.0,
            maximum=1000.0,
        ),
        Parameter(
            "source_depletion",
            "",
            True,
            "Deplete the plume by the dry deposition along its way (source-depletion model).",
            type="boolean",
        ),
        Parameter(
            "sector_smoothing",
            "",
            True,
            "Weight a receptor between two sector centre lines by both sectors (linear); "
            "false: the nearest sector only.",
            type="boolean",
        ),
        Parameter(
            "line_spacing_m",
            "m",
            25.0,
            "Line sources are split into points at most this far apart.",
            minimum=1.0,
            maximum=1000.0,
        ),
        Parameter(
            "ambient_temperature_k",
            "K",
            288.15,
            "Ambient air temperature for the plume rise of stable classes E and F (default: "
            "15 °C, the standard atmosphere).",
            minimum=230.0,
            maximum=320.0,
        ),
        tile_parameter(
            10_000.0, "of source points; each computes the hexagons within cutoff_distance_m of it"
        ),
    )


class NitrogenDepositionModel:
    info = ModelInfo(
        name="nitrogen-deposition",
        version="1.1",  # 1.1: computed in tiles of source points (sums in tile order)
        theme="nitrogen",
        title="Nitrogen deposition on Natura 2000 sites (Gaussian plume, AERIUS hexagons)",
        inputs=("nitrogen_sources", SITES_LAYER),
        parameters=_parameters(),
        outputs=(
            Output(
                "hexagons",
                "objects",
                UNIT,
                f"per AERIUS hexagon (layer '{HEXAGON_LAYER}', id = AERIUS receptor id) in a "
                "Natura 2000 site within the cutoff distance of a source: site, centre x_m/y_m, "
                "deposition_mol_n_per_ha_per_yr (total), nox_… and nh3_…; on a scenario also "
                "baseline_mol_n_per_ha_per_yr and difference_mol_n_per_ha_per_yr (scenario "
                "minus the baseline it is built on)",
            ),
            Output(
                "indicators",
                "indicators",
                "",
                "maximum and sum of the deposition over the hexagons, maximum per site, "
                "hexagon and source counts, the cutoff; on a scenario the largest increase and "
                "the number of hexagons with an increase (> 0, and ≥ 0.005 mol N/ha/yr, i.e. "
                "more than 0.00 as AERIUS reports to two decimals)",
            ),
        ),
        methods=(
            "Climatological (sector-averaged) Gaussian plume with ground reflection: Boubel, "
            "Fox, Turner & Stern (1994), Fundamentals of Air Pollution, ch. 19, Eq. 19-2; the "
            "ISCLT long-term form, US EPA (1995) ISC3 User's Guide Vol. II (EPA-454/B-95-003b)",
            "Briggs (1973) rural σy, σz for Pasquill classes A–F (Boubel et al. 1994 Table 19-7)",
            "Briggs final plume rise (ISC3 Vol. II §1.1.4) with F = 8.8·Q_h as in RIVM's OPS",
            "Dry deposition F = v_d·C with source depletion (Chamberlain 1953; Van der Hoven "
            "1968); deposition velocities: Duyzer (1994) for NH3, Delaney & Davies (1983) for "
            "NOx",
            "AERIUS receptor grid: 1 ha hexagons and receptor ids as in aerius/IMAER-java "
            "ReceptorUtil",
        ),
        limitations=(
            *gp.LIMITATIONS,
            "Not OPS and not AERIUS Calculator: no DEPAC land-use and meteorology dependent "
            "deposition velocities, no hourly meteorology, no chemistry or wet deposition. "
            "Results are indicative and not for permit decisions; RIVM estimates the local "
            "uncertainty of OPS deposition itself at about 70 %.",
            "No habitat map: every hexagon whose centre lies in a (nitrogen-sensitive) site "
            "counts, not only the hexagons with nitrogen-sensitive habitat types that AERIUS "
            "assesses.",
            "One deposition velocity per substance for every hexagon (heath, forest, dunes and "
            "water alike); NOx is treated as NO2 (no NO/NO2 split).",
            "Only the sources in the layer: no background deposition from other sources.",
            "Sources outside the run's extent are not read; hexagons farther than the cutoff "
            "distance from every source are not computed.",
            "The receptor hexagons come from the scenario's natura2000 layer; the baseline "
            "deposition of a scenario run is computed on the same hexagons.",
        ),
        code=(
            "tweeling.methods.gaussian_plume",
            "tweeling.methods.hexgrid",
            "tweeling.models.input_layers",
            "tweeling.models.tiling",
        ),
        compares_with_baseline=True,
    )

    def run(self, ctx: RunContext) -> ModelResult:
        return run_here(self, ctx)

    def plan(self, ctx: RunContext) -> Plan:
        """Sources and receptor hexagons read and checked; the source points cut into
        square tiles, each with the hexagons within the cutoff distance of it (its halo)."""
        p = ctx.parameters
        rose = wind_rose_from_parameter(p["wind_rose"])
        cutoff = float(p["cutoff_distance_m"])
        spacing = float(p["line_spacing_m"])
        ctx.progress(0.0, "reading nitrogen sources")
        sources = _points(checked_features(ctx, NITROGEN_SOURCES), spacing)
        baseline = None
        if ctx.compared:
            rows = ctx.baseline_features(NITROGEN_SOURCES.name)
            baseline = _points(_checked(rows), spacing)
        if not sources.ids and not (baseline and baseline.ids):
            raise InputError(
                f"no nitrogen sources within the extent {_box_text(ctx.extent)}"
                + (" (neither in the scenario nor in its baseline)" if ctx.compared else "")
                + "; import them with 'tweeling import model-inputs FILE --layer "
                "nitrogen_sources' or add them in a scenario",
                field=NITROGEN_SOURCES.name,
            )
        notes: list[str] = []
        ctx.progress(0.02, "finding Natura 2000 hexagons")
        all_x = np.concatenate([sources.x, baseline.x if baseline else np.zeros(0)])
        all_y = np.concatenate([sources.y, baseline.y if baseline else np.zeros(0)])
        receptors = _receptors(ctx, all_x, all_y, cutoff, bool(p["sensitive_sites_only"]), notes)
        same = baseline is not None and baseline.key == sources.key
        both = baseline is not None and not same
        tiles = _source_tiles(sources, baseline if both else None, receptors, p, rose)
        return Plan(tiles, (sources, baseline, receptors, same, notes))

    def run_tile(self, ctx: RunContext, tile: _SourceTile) -> dict[str, np.ndarray]:
        """Deposition on the tile's hexagons from the tile's source points (scenario and,
        when it differs, baseline), per substance [mol N/ha/yr]."""
        out = {}
        for label, points in (("scenario", tile.sources), ("baseline", tile.baseline)):
            if points is None:
                continue
            ctx.progress(0.0 if label == "scenario" else 0.5, f"{label}: {len(points[0])} points")
            res = gp.nitrogen_deposition(*points, tile.receptor_x, tile.receptor_y, **tile.kwargs)
            out[f"{label}_nox"] = res.nox_mol_n_per_ha_per_yr
            out[f"{label}_nh3"] = res.nh3_mol_n_per_ha_per_yr
        return out

    def merge(self, ctx: RunContext, plan: Plan, parts) -> ModelResult:
        """Per hexagon the sum over tiles, in plan order (the sum is linear in the sources;
        a fixed order keeps it reproducible)."""
        sources, baseline, receptors, same, notes = plan.state
        p = ctx.parameters
        cutoff, spacing = float(p["cutoff_distance_m"]), float(p["line_spacing_m"])
        n = receptors.ids.size
        sums = {
            k: np.zeros(n) for k in ("scenario_nox", "scenario_nh3", "baseline_nox", "baseline_nh3")
        }
        for tile, part in zip(plan.tiles, parts, strict=True):
            for key, values in part.items():
                sums[key][tile.receptors] += values
        dep = {"nox": sums["scenario_nox"], "nh3": sums["scenario_nh3"]}
        base_dep = None
        if baseline is not None:
            base_dep = dep if same else {"nox": sums["baseline_nox"], "nh3": sums["baseline_nh3"]}
        result = _result(sources, baseline, receptors, dep, base_dep, cutoff, notes)
        _source_notes(sources, baseline, receptors, cutoff, spacing, result)
        result.notes.append(
            f"Computed in {len(plan.tiles)} tiles of source points of about "
            f"{p['tile_m']:g} m, each on the hexagons within the cutoff distance of it."
        )
        return result


@dataclass(frozen=True)
class _SourceTile:
    """Source points in one square (scenario, and baseline when it differs: x, y, height,
    heat, NOx, NH3) and the hexagons within the cutoff of it (indices into the run's)."""

    sources: tuple[np.ndarray, ...] | None
    baseline: tuple[np.ndarray, ...] | None
    receptors: np.ndarray
    receptor_x: np.ndarray
    receptor_y: np.ndarray
    kwargs: dict[str, Any]


def _source_tiles(sources, baseline, receptors, p, rose) -> list[_SourceTile]:
    """Source points grouped by square tiles of ``tile_m`` (from the south-west of all
    points, tiles in row order), each with its receptor halo; tiles without a hexagon
    within reach are left out (they deposit nothing)."""
    kwargs = dict(
        wind_rose=rose,
        deposition_velocity_nox_m_s=float(p["deposition_velocity_nox_m_s"]),
        deposition_velocity_nh3_m_s=float(p["deposition_velocity_nh3_m_s"]),
        receptor_height_m=float(p["receptor_height_m"]),
        cutoff_distance_m=float(p["cutoff_distance_m"]),
        min_distance_m=float(p["min_distance_m"]),
        source_depletion=bool(p["source_depletion"]),
        sector_smoothing=bool(p["sector_smoothing"]),
        ambient_temperature_k=float(p["ambient_temperature_k"]),
    )
    sets = [s for s in (sources, baseline) if s is not None and s.x.size]
    if not receptors.ids.size or not sets:
        return []
    size, reach = float(p["tile_m"]), float(p["cutoff_distance_m"])
    x0 = min(float(s.x.min()) for s in sets)
    y0 = min(float(s.y.min()) for s in sets)

    def key(s):
        return np.floor((s.y - y0) / size).astype(np.int64), np.floor((s.x - x0) / size).astype(
            np.int64
        )

    keys = {id(s): key(s) for s in sets}
    cells = sorted({(int(r), int(c)) for s in sets for r, c in zip(*keys[id(s)], strict=True)})
    tiles = []
    for r, c in cells:
        box = (x0 + c * size - reach, y0 + r * size - reach)
        box += (box[0] + size + 2 * reach, box[1] + size + 2 * reach)
        near = np.flatnonzero(
            (receptors.x >= box[0])
            & (receptors.x <= box[2])
            & (receptors.y >= box[1])
            & (receptors.y <= box[3])
        )
        if not near.size:
            continue

        tiles.append(
            _SourceTile(
                _tile_points(sources, keys, r, c),
                _tile_points(baseline, keys, r, c),
                near,
                receptors.x[near],
                receptors.y[near],
                kwargs,
            )
        )
    return tiles


def _tile_points(s, keys, r, c) -> tuple[np.ndarray, ...] | None:
    """The points of ``s`` in tile (row ``r``, column ``c``) as the method's arrays."""
    if s is None or not s.x.size:
        return None
    rows, cols = keys[id(s)]
    i = np.flatnonzero((rows == r) & (cols == c))
    if not i.size:
        return None
    return tuple(a[i] for a in (s.x, s.y, s.height_m, s.heat_mw, s.nox_kg_per_yr, s.nh3_kg_per_yr))


# --- wind rose -------------------------------------------------------------------------------


def wind_rose_from_parameter(value: Any) -> gp.WindRose:
    """The ``wind_rose`` parameter (see its description) as a WindRose, or an InputError
    naming the parameter and what is wrong."""

    def bad(message: str) -> InputError:
        return InputError(
            f"parameter wind_rose: {message} (see 'tweeling models nitrogen-deposition'; "
            f"an example: {WIND_ROSE_EXAMPLE})",
            field="wind_rose",
        )

    if value is None:
        raise bad("is required")
    if not isinstance(value, Mapping):
        raise bad(f"must be an object with 'frequency' and 'wind_speed_m_s', got {value!r:.60}")
    unknown = sorted(set(value) - _WIND_ROSE_KEYS)
    if unknown:
        raise bad(f"unknown keys {', '.join(map(str, unknown))}")
    for key in ("frequency", "wind_speed_m_s"):
        if key not in value:
            raise bad(f"'{key}' is missing")
    freq = value["frequency"]
    if not isinstance(freq, list) or len(freq) not in (12, 16):
        n = len(freq) if isinstance(freq, list) else type(freq).__name__
        raise bad(f"'frequency' must be a list of 12 or 16 sectors, got {n}")
    for k, row in enumerate(freq):
        if not isinstance(row, list) or len(row) != 6:
            raise bad(f"'frequency' sector {k} must be a list of 6 numbers (classes A–F)")
    f = _numbers(freq, "frequency", bad)
    if np.any(f < 0):
        k, s = np.argwhere(f < 0)[0]
        raise bad(f"'frequency' sector {k} class {'ABCDEF'[s]} is negative ({f[k, s]:g})")
    total = float(f.sum())
    if abs(total - 1.0) > 1e-3:
        hint = " (percentages? give fractions)" if abs(total - 100.0) < 0.1 else ""
        raise bad(f"the frequencies sum to {total:.6g}, not 1 (±0.001){hint}")
    speeds = value["wind_speed_m_s"]
    if not isinstance(speeds, list) or len(speeds) != 6:
        raise bad("'wind_speed_m_s' must be a list of 6 speeds (classes A–F)")
    u = _numbers(speeds, "wind_speed_m_s", bad)
    if np.any(u <= 0):
        raise bad(f"'wind_speed_m_s' must be above 0 m/s, got {speeds}")
    classes = value.get("stability_classes")
    if classes is not None and (
        not isinstance(classes, list)
        or [str(c).upper() for c in classes] != ["A", "B", "C", "D", "E", "F"]
    ):
        raise bad(f"'stability_classes' must be A–F in that order, got {classes}")
    centres = value.get("sector_from_deg")
    if centres is not None:
        want = np.arange(len(freq)) * 360.0 / len(freq)
        got = _numbers(centres, "sector_from_deg", bad) if isinstance(centres, list) else None
        if got is None or got.shape != want.shape or not np.allclose(got, want, atol=0.01):
            raise bad(
                f"'sector_from_deg' must be {', '.join(f'{d:g}' for d in want)} "
                "(the first sector centred on north, then clockwise)"
            )
    try:
        return gp.WindRose(f, u)
    except InputError as exc:
        raise bad(exc.reason) from None


def _numbers(value, key: str, bad) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise bad(f"'{key}' must hold numbers only") from None
    flat = np.asarray(value, dtype=object).ravel()
    if any(isinstance(v, bool) for v in flat) or not np.all(np.isfinite(arr)):
        raise bad(f"'{key}' must hold finite numbers only")
    return arr


# --- sources ---------------------------------------------------------------------------------


@dataclass
class _Sources:
    """Point sources (lines split into points) and the features they come from."""

    ids: list[str]  # feature ids, sorted
    lines: int  # how many features are lines
    line_points: int  # how many points the lines became
    x: np.ndarray
    y: np.ndarray
    height_m: np.ndarray
    heat_mw: np.ndarray
    nox_kg_per_yr: np.ndarray
    nh3_kg_per_yr: np.ndarray
    feature: np.ndarray  # index into ids of each point
    key: tuple  # identity of the content (to re-use the baseline when it is the same)


def _checked(features: Iterable) -> list[tuple[str, Any, dict[str, Any]]]:
    return [
        (f.id, f.geometry, NITROGEN_SOURCES.check(f.id, f.geometry, f.properties)) for f in features
    ]


def _points(rows: list[tuple[str, Any, dict[str, Any]]], spacing_m: float) -> _Sources:
    rows = sorted(rows, key=lambda r: r[0])
    ids = [r[0] for r in rows]
    is_line = np.array([r[1].geom_type == "LineString" for r in rows], dtype=bool)
    n = len(rows)
    px = np.array([r[1].x if not line else np.nan for r, line in zip(rows, is_line, strict=True)])
    py = np.array([r[1].y if not line else np.nan for r, line in zip(rows, is_line, strict=True)])
    feature = np.flatnonzero(~is_line)
    weight = np.ones(feature.size)
    x, y = px[feature], py[feature]
    if is_line.any():
        where = np.flatnonzero(is_line)
        lx, ly, index, w = gp.line_source_points([rows[i][1] for i in where], spacing_m=spacing_m)
        feature = np.concatenate([feature, where[index]])
        weight = np.concatenate([weight, w])
        x, y = np.concatenate([x, lx]), np.concatenate([y, ly])
    order = np.lexsort((np.arange(feature.size), feature))  # points in feature order
    feature, weight, x, y = feature[order], weight[order], x[order], y[order]

    def column(name):
        return np.array([r[2][name] for r in rows], dtype=float).reshape(n)

    key = tuple((r[0], shapely.to_wkb(r[1]), tuple(sorted(r[2].items()))) for r in rows)
    return _Sources(
        ids=ids,
        lines=int(is_line.sum()),
        line_points=int(np.count_nonzero(is_line[feature])) if n else 0,
        x=x,
        y=y,
        height_m=column("emission_height_m")[feature],
        heat_mw=column("heat_content_mw")[feature],
        nox_kg_per_yr=column("nox_kg_per_yr")[feature] * weight,
        nh3_kg_per_yr=column("nh3_kg_per_yr")[feature] * weight,
        feature=feature,
        key=key,
    )


# --- receptors -------------------------------------------------------------------------------


@dataclass
class _Receptors:
    ids: np.ndarray  # AERIUS receptor ids, ascending
    x: np.ndarray
    y: np.ndarray
    site: list[str]  # site name(s) per hexagon
    site_of: dict[str, np.ndarray]  # site name -> indices of its hexagons


def _receptors(
    ctx: RunContext,
    sx: np.ndarray,
    sy: np.ndarray,
    cutoff: float,
    sensitive_only: bool,
    notes: list[str],
) -> _Receptors:
    """The AERIUS hexagons whose centre lies in a (nitrogen-sensitive) Natura 2000 site and
    within ``cutoff`` of a source point."""
    margin = cutoff + hg.HEXAGON_SIDE_M
    box = (sx.min() - margin, sy.min() - margin, sx.max() + margin, sy.max() + margin)
    clip = shapely.box(*box)
    tree = cKDTree(np.column_stack([sx, sy]))
    found: dict[int, tuple[float, float, list[str]]] = {}
    site_ids: dict[str, list[int]] = {}
    left_out: list[str] = []
    outside_grid: list[str] = []
    points = shapely.multipoints(np.column_stack([sx, sy]))
    for f in sorted(ctx.features(SITES_LAYER, bbox=box), key=lambda f: f.id):
        name = str(f.properties.get("naam") or f.id)
        geom = f.geometry if f.geometry.is_valid else shapely.make_valid(f.geometry)
        if sensitive_only and f.properties.get("stikstofgevoelig") is not True:
            if shapely.dwithin(geom, points, cutoff):
                left_out.append(name)
            continue
        part = _polygonal(shapely.intersection(geom, clip))
        if part is not None and not GRID_BOX.covers(part):
            outside_grid.append(name)
            part = _polygonal(shapely.intersection(part, GRID_BOX))
        if part is None:
            continue
        sel = hg.hexagons_in_polygon(part, with_polygons=False)
        if not len(sel):
            continue
        dist = tree.query(np.column_stack([sel.x_m, sel.y_m]), distance_upper_bound=cutoff + 1)[0]
        near = dist <= cutoff
        if not near.any():
            continue
        for rid, x, y in zip(sel.ids[near], sel.x_m[near], sel.y_m[near], strict=True):
            entry = found.setdefault(int(rid), (float(x), float(y), []))
            if name not in entry[2]:
                entry[2].append(name)
        site_ids.setdefault(name, []).extend(int(r) for r in sel.ids[near])
    ids = np.array(sorted(found), dtype=np.int64)
    index = {rid: i for i, rid in enumerate(ids.tolist())}
    site_of = {
        name: np.array(sorted({index[r] for r in rids}), dtype=np.intp)
        for name, rids in sorted(site_ids.items())
    }
    shared = sum(1 for v in found.values() if len(v[2]) > 1)
    kind = "nitrogen-sensitive Natura 2000" if sensitive_only else "Natura 2000"
    if ids.size:
        notes.append(
            f"Receptors: {ids.size} AERIUS hexagons (1 ha) in {len(site_of)} {kind} sites "
            f"({', '.join(site_of)}) whose centre lies within {cutoff:g} m of a source; the "
            "parts of sites farther from every source were not computed."
        )
    else:
        notes.append(f"No {kind} site lies within {cutoff:g} m of any source: nothing deposits.")
    if left_out:
        notes.append(
            f"{len(left_out)} Natura 2000 sites within {cutoff:g} m of a source are not "
            "marked nitrogen-sensitive ('stikstofgevoelig' not true) and were left out: "
            f"{_listed(sorted(left_out))} (parameter sensitive_sites_only)."
        )
    if outside_grid:
        notes.append(
            f"Parts of {_listed(sorted(outside_grid))} lie outside the AERIUS receptor grid "
            "(RD New 3604–287959, 296800–629300) and have no receptors."
        )
    if shared:
        notes.append(f"{shared} hexagons lie in more than one site; they are counted once.")
    return _Receptors(
        ids=ids,
        x=np.array([found[r][0] for r in ids.tolist()]),
        y=np.array([found[r][1] for r in ids.tolist()]),
        site=[" / ".join(found[r][2]) for r in ids.tolist()],
        site_of=site_of,
    )


def _polygonal(geom):
    if geom is None or geom.is_empty:
        return None
    if isinstance(geom, shapely.Polygon | shapely.MultiPolygon):
        return geom
    parts = [
        g for g in shapely.get_parts(geom) if isinstance(g, shapely.Polygon | shapely.MultiPolygon)
    ]
    return shapely.union_all(parts) if parts else None


# --- deposition ------------------------------------------------------------------------------


def _used(src: _Sources, rec: _Receptors, cutoff: float) -> np.ndarray:
    """Per source feature: whether any of its points has a receptor within ``cutoff``."""
    used = np.zeros(len(src.ids), dtype=bool)
    if rec.ids.size and src.x.size:
        tree = cKDTree(np.column_stack([rec.x, rec.y]))
        d = tree.query(np.column_stack([src.x, src.y]), distance_upper_bound=cutoff + 1)[0]
        used[np.unique(src.feature[d <= cutoff])] = True
    return used


def _round(values: np.ndarray) -> np.ndarray:
    return np.round(values, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _result(src, base, rec: _Receptors, dep, base_dep, cutoff, notes) -> ModelResult:
    total = _round(dep["nox"] + dep["nh3"])
    nox, nh3 = _round(dep["nox"]), _round(dep["nh3"])
    rows = []
    for i, rid in enumerate(rec.ids.tolist()):
        rows.append(
            {
                "layer": HEXAGON_LAYER,
                "id": str(rid),
                "site": rec.site[i],
                "x_m": round(float(rec.x[i]), 3),
                "y_m": round(float(rec.y[i]), 3),
                "deposition_mol_n_per_ha_per_yr": float(total[i]),
                "nox_mol_n_per_ha_per_yr": float(nox[i]),
                "nh3_mol_n_per_ha_per_yr": float(nh3[i]),
            }
        )
    ind: dict[str, dict[str, Any]] = {}

    def put(name, value, unit, **extra):
        ind[name] = {"value": value, "unit": unit, **extra}

    put("hexagons", int(rec.ids.size), "1")
    put("sites", len(rec.site_of), "1")
    put("deposition_max_mol_n_per_ha_per_yr", _max(total), UNIT)
    put("deposition_sum_mol_n_per_yr", round(float(total.sum()), DECIMALS), "mol N/yr")
    for name, idx in rec.site_of.items():
        put(f"site_max_mol_n_per_ha_per_yr: {name}", _max(total[idx]), UNIT, site=name)
    used = _used(src, rec, cutoff)
    put("sources", len(src.ids), "1")
    put("sources_used", int(used.sum()), "1")
    put("sources_skipped", int((~used).sum()), "1")
    put("cutoff_distance_m", cutoff, "m")
    if base_dep is not None:
        b = _round(base_dep["nox"] + base_dep["nh3"])
        diff = _round((dep["nox"] + dep["nh3"]) - (base_dep["nox"] + base_dep["nh3"]))
        for row, bv, dv in zip(rows, b.tolist(), diff.tolist(), strict=True):
            row["baseline_mol_n_per_ha_per_yr"] = bv
            row["difference_mol_n_per_ha_per_yr"] = dv
        put("baseline_max_mol_n_per_ha_per_yr", _max(b), UNIT)
        put("baseline_sum_mol_n_per_yr", round(float(b.sum()), DECIMALS), "mol N/yr")
        put("difference_max_mol_n_per_ha_per_yr", _max(diff), UNIT)
        put("difference_min_mol_n_per_ha_per_yr", _min(diff), UNIT)
        put("difference_sum_mol_n_per_yr", round(float(diff.sum()), DECIMALS), "mol N/yr")
        put("hexagons_with_increase", int(np.count_nonzero(diff > 0)), "1")
        put(
            "hexagons_with_increase_reported",
            int(np.count_nonzero(diff >= REPORTED_INCREASE)),
            "1",
            description="increase of at least 0.005 mol N/ha/yr: more than 0.00 at two decimals",
        )
        put("hexagons_with_decrease", int(np.count_nonzero(diff < 0)), "1")
        for name, idx in rec.site_of.items():
            put(f"site_max_increase_mol_n_per_ha_per_yr: {name}", _max(diff[idx]), UNIT, site=name)
        base_used = _used(base, rec, cutoff)
        put("baseline_sources", len(base.ids), "1")
        put("baseline_sources_used", int(base_used.sum()), "1")
    return ModelResult(objects={"hexagons": rows}, indicators=ind, notes=list(notes))


def _source_notes(src, base, rec, cutoff, spacing, result: ModelResult) -> None:
    for label, s in (("", src), ("baseline ", base)):
        if s is None:
            continue
        if s.lines:
            result.notes.append(
                _sentence(
                    f"{label}line sources: {s.lines}, split into {s.line_points} points at most "
                    f"{spacing:g} m apart, each with its share of its line's emission."
                )
            )
        used = _used(s, rec, cutoff)
        if not used.all():
            skipped = [i for i, u in zip(s.ids, used, strict=True) if not u]
            result.notes.append(
                _sentence(
                    f"{label}sources left out, without any receptor hexagon within the cutoff "
                    f"distance of {cutoff:g} m: {len(skipped)} of {len(s.ids)} "
                    f"({_listed(skipped)})."
                )
            )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _max(values: np.ndarray) -> float | None:
    return float(values.max()) if values.size else None


def _min(values: np.ndarray) -> float | None:
    return float(values.min()) if values.size else None


def _listed(names: list[str]) -> str:
    shown = "; ".join(names[:_MAX_LISTED])  # site names can hold commas
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _box_text(box) -> str:
    return "(" + ", ".join(f"{v:.0f}" for v in box) + ")"
