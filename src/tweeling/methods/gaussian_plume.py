"""Nitrogen deposition from point sources with a climatological Gaussian plume.

Method, equations and sources:

* Gaussian plume with ground reflection (Boubel, Fox, Turner & Stern 1994, Fundamentals of Air
  Pollution, 3rd ed., Academic Press, ch. 19 §III, Eq. 19-2)::

      C = Q / (2π u σy σz) · exp(-y²/2σy²) · [exp(-(z-H)²/2σz²) + exp(-(z+H)²/2σz²)]

* σy(x), σz(x) for Pasquill classes A–F: Briggs (1973) open-country (rural) formulas, valid for
  100 m ≤ x ≤ 10 km, as tabulated in Boubel et al. (1994) Table 19-7 (after Gifford 1976):
  σy = a·x·(1 + 0.0001x)^-½ with a = .22 .16 .11 .08 .06 .04 and σz = 0.20x, 0.12x,
  0.08x(1+.0002x)^-½, 0.06x(1+.0015x)^-½, 0.03x(1+.0003x)^-1, 0.016x(1+.0003x)^-1.
* Briggs final plume rise from the heat content Q_h [MW], as in US EPA (1995) ISC3 User's Guide
  Vol. II (EPA-454/B-95-003b) §1.1.4.4 and §1.1.4.8: A–D: Δh = 21.425 F^¾/u (F < 55),
  38.71 F^⅗/u (F ≥ 55); E–F: Δh = 2.6 (F/(u s))^⅓ with s = (g/T_a)·dθ/dz and dθ/dz = 0.020
  (E), 0.035 (F) K/m (§1.1.4.6). Buoyancy flux F = g Q_h / (π ρ0 c_p0 T0) = 8.8 Q_h m⁴/s³
  with ρ0 = 1.293 kg/m³, c_p0 = 1005 J/(kg K), T0 = 273.15 K: the conversion of RIVM's OPS
  model (github.com/rivm-syso/OPS, m_ops_plumerise.f90, "f = 8.8*qw"). OPS itself uses the
  rounded 21.3 and 38.8 and a fixed dθ/dz = 0.006 K/m (pass it as an override).
* Long-term sector average (ISC3 Vol. II ch. 2, the ISCLT point-source equation): with
  frequency f of wind from sector k in class s, n sectors of width 2π/n, and receptor distance x,
  C = Σ f · Q / (√(2π) σz u · 2πx/n) · [exp(-(z-H)²/2σz²) + exp(-(z+H)²/2σz²)].
  With ``sector_smoothing`` a receptor between two sector centre lines gets linearly weighted
  contributions of both (a triangular kernel of width 2·2π/n; the integral over the circle is
  unchanged, so mass is conserved). ISCLT applies a smoothing "similar to the AQDM"; its exact
  form was not checked, so this is a documented choice, not a copy of ISCLT.
* Dry deposition F = v_d · C(z_d); source depletion from the mass balance dQ/dx = -v_d ∫C dy,
  which gives Q(x)/Q0 = exp(-(v_d/u) ∫ V(x')/(√(2π) σz(x')) dx'), V the bracketed vertical term:
  the classical source-depletion model (Chamberlain 1953; Van der Hoven 1968 — originals not
  checked). The integral runs over a logarithmic grid from 1 m.
* Units: NOx emissions count as NO2 (46.0055 g/mol), NH3 17.0305 g/mol; one mol of either holds
  one mol N (14.007 g). Deposition [mol N/ha/yr] = v_d · E [mol N/yr] · χ [s/m³] · 10⁴ m²/ha,
  χ being the concentration per unit emission rate; the length of the year cancels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import cKDTree

from tweeling.core.errors import InputError

STABILITY_CLASSES = ("A", "B", "C", "D", "E", "F")
GRAVITY_M_S2 = 9.81
BUOYANCY_FLUX_PER_MW = GRAVITY_M_S2 * 1e6 / (math.pi * 1.293 * 1005.0 * 273.15)  # ≈ 8.80
STABLE_DTHETA_DZ_K_PER_M = {4: 0.020, 5: 0.035}  # ISC3 Vol. II §1.1.4.6, classes E and F
MOLAR_MASS_NO2_G_PER_MOL = 46.0055
MOLAR_MASS_NH3_G_PER_MOL = 17.0305
M2_PER_HA = 1e4
SECONDS_PER_YEAR = 365.25 * 86400.0  # Julian year; cancels between emission and deposition
SUBSTANCES = ("nox", "nh3")

LIMITATIONS = (
    "Flat terrain, no buildings: no terrain effects, building downwash or stack-tip downwash.",
    "No mixing-height lid: the plume spreads without an upper reflection (σz is unbounded).",
    "Briggs rural σ formulas are used beyond their 100 m – 10 km range (closer distances are "
    "clamped to min_distance_m, farther ones extrapolated).",
    "Final plume rise only (no gradual rise), buoyancy-driven only (no momentum rise), "
    "one wind speed per stability class for rise and transport.",
    "Dry deposition only, with a constant deposition velocity per substance: no wet deposition, "
    "no chemistry (NOx→HNO3/NO3, NH3→NH4), no compensation point, no land-use dependence.",
    "Calms are not treated: the wind-rose frequencies must already include them.",
    "Line sources are approximated as equally spaced points along the line.",
)


def _floats(value, field: str, *, nonnegative: bool = False, positive: bool = False):
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise InputError("values must be finite numbers", field=field)
    if nonnegative and np.any(arr < 0):
        raise InputError("values must not be negative", field=field)
    if positive and np.any(arr <= 0):
        raise InputError("values must be positive", field=field)
    return arr


def _scalar(args: dict, field: str, **checks) -> float:
    value = _floats(args[field], field, **checks)
    if value.ndim:
        raise InputError("expected a single number", field=field)
    return float(value)


def _class_index(stability_class) -> np.ndarray:
    arr = np.asarray(stability_class)
    if arr.dtype.kind in "iu":
        if np.any((arr < 0) | (arr > 5)):
            raise InputError(
                "stability class index must be 0 (A) to 5 (F)", field="stability_class"
            )
        return arr.astype(np.intp)
    flat = [str(v).strip().upper() for v in arr.ravel()]
    bad = sorted({v for v in flat if v not in STABILITY_CLASSES})
    if bad:
        raise InputError(f"unknown stability class {bad}; expected A–F", field="stability_class")
    return np.array([STABILITY_CLASSES.index(v) for v in flat], dtype=np.intp).reshape(arr.shape)


_SY_A = np.array([0.22, 0.16, 0.11, 0.08, 0.06, 0.04])
_SZ_A = np.array([0.20, 0.12, 0.08, 0.06, 0.03, 0.016])
_SZ_B = np.array([0.0, 0.0, 0.0002, 0.0015, 0.0003, 0.0003])
_SZ_P = np.array([0.0, 0.0, -0.5, -0.5, -1.0, -1.0])


def _sigma_z(x, k):
    return _SZ_A[k] * x * (1.0 + _SZ_B[k] * x) ** _SZ_P[k]


def _sigmas(x, k):
    return _SY_A[k] * x / np.sqrt(1.0 + 1e-4 * x), _sigma_z(x, k)


def briggs_rural_sigmas(distance_m, stability_class) -> tuple[np.ndarray, np.ndarray]:
    """σy, σz [m] of Briggs (1973) for open country; Boubel et al. (1994) Table 19-7."""
    x = _floats(distance_m, "distance_m", nonnegative=True)
    return _sigmas(x, _class_index(stability_class))


def buoyancy_flux_m4_s3(heat_content_mw) -> np.ndarray:
    """Briggs buoyancy flux F = g Q_h/(π ρ0 c_p0 T0) = 8.8 Q_h [m⁴/s³] (OPS conversion)."""
    return BUOYANCY_FLUX_PER_MW * _floats(heat_content_mw, "heat_content_mw", nonnegative=True)


def briggs_plume_rise_m(
    heat_content_mw,
    wind_speed_m_s,
    stability_class,
    *,
    ambient_temperature_k: float = 288.15,
    potential_temperature_gradient_k_per_m: float | None = None,
) -> np.ndarray:
    """Briggs final buoyant plume rise Δh [m] (ISC3 Vol. II §1.1.4.4 and §1.1.4.8).

    ``potential_temperature_gradient_k_per_m`` overrides dθ/dz of the stable classes E and F
    (default 0.020 and 0.035 K/m as in ISC3; OPS uses 0.006 K/m).
    """
    f = buoyancy_flux_m4_s3(heat_content_mw)
    u = _floats(wind_speed_m_s, "wind_speed_m_s", positive=True)
    k = _class_index(stability_class)
    t = float(_floats(ambient_temperature_k, "ambient_temperature_k", positive=True))
    if potential_temperature_gradient_k_per_m is None:
        dtdz = np.where(k == 5, STABLE_DTHETA_DZ_K_PER_M[5], STABLE_DTHETA_DZ_K_PER_M[4])
    else:
        field = "potential_temperature_gradient_k_per_m"
        dtdz = _floats(potential_temperature_gradient_k_per_m, field, positive=True)
    neutral = np.where(f < 55.0, 21.425 * f**0.75, 38.71 * f**0.6) / u
    stable = 2.6 * np.cbrt(f / (u * (GRAVITY_M_S2 / t) * dtdz))
    return np.where(k >= 4, stable, neutral)


def emission_mol_n_per_yr(emission_kg_per_yr, molar_mass_g_per_mol: float) -> np.ndarray:
    """kg/yr of NO2 (NOx as NO2) or NH3 to mol N/yr: 1 mol of either holds 1 mol N."""
    e = _floats(emission_kg_per_yr, "emission_kg_per_yr", nonnegative=True)
    return e * 1e3 / molar_mass_g_per_mol


def dry_deposition_mol_n_per_ha_per_yr(
    concentration_ug_m3, deposition_velocity_m_s, molar_mass_g_per_mol: float
) -> np.ndarray:
    """Dry deposition F = v_d · C of a gas at C [µg/m³] (NO2 or NH3), in mol N/ha/yr."""
    c = _floats(concentration_ug_m3, "concentration_ug_m3", nonnegative=True)
    vd = _floats(deposition_velocity_m_s, "deposition_velocity_m_s", nonnegative=True)
    return c * 1e-6 * vd * M2_PER_HA * SECONDS_PER_YEAR / molar_mass_g_per_mol


def _vertical_term(z, h, sz):
    return np.exp(-((z - h) ** 2) / (2 * sz**2)) + np.exp(-((z + h) ** 2) / (2 * sz**2))


def gaussian_plume_concentration(
    emission_g_s,
    wind_speed_m_s,
    sigma_y_m,
    sigma_z_m,
    crosswind_m,
    receptor_height_m,
    effective_height_m,
) -> np.ndarray:
    """Steady Gaussian plume with ground reflection, Boubel et al. (1994) Eq. 19-2 [g/m³]."""
    q, u = np.asarray(emission_g_s, float), np.asarray(wind_speed_m_s, float)
    sy, sz = np.asarray(sigma_y_m, float), np.asarray(sigma_z_m, float)
    y = np.asarray(crosswind_m, float)
    lateral = np.exp(-(y**2) / (2 * sy**2))
    vertical = _vertical_term(np.asarray(receptor_height_m, float), effective_height_m, sz)
    return q / (2 * math.pi * u * sy * sz) * lateral * vertical


def sector_averaged_concentration(
    emission_g_s,
    wind_speed_m_s,
    sigma_z_m,
    distance_m,
    receptor_height_m,
    effective_height_m,
    n_sectors: int = 12,
) -> np.ndarray:
    """Sector-averaged plume for wind in one of ``n_sectors`` sectors (ISCLT form) [g/m³]."""
    sz, x = np.asarray(sigma_z_m, float), np.asarray(distance_m, float)
    v = _vertical_term(np.asarray(receptor_height_m, float), effective_height_m, sz)
    crosswind_integral = v / (math.sqrt(2 * math.pi) * sz * np.asarray(wind_speed_m_s, float))
    return np.asarray(emission_g_s, float) * crosswind_integral / (2 * math.pi * x / n_sectors)


def _depletion_integral(h, k, grid, z):
    """Cumulative ∫ V/(√(2π) σz) dx' on ``grid`` (last axis), trapezoidal in ln x."""
    sz = _sigma_z(grid, k)
    g = _vertical_term(z, h, sz) / (math.sqrt(2 * math.pi) * sz) * grid
    steps = 0.5 * (g[..., 1:] + g[..., :-1]) * np.diff(np.log(grid))
    return np.concatenate([np.zeros((*g.shape[:-1], 1)), np.cumsum(steps, axis=-1)], axis=-1)


def _interp_log(table, grid, x):
    """Linear interpolation in ``table(i)`` at x on a geometric ``grid``."""
    t = np.clip((np.log(x) - math.log(grid[0])) / math.log(grid[1] / grid[0]), 0, len(grid) - 1)
    i0 = np.minimum(t.astype(np.intp), len(grid) - 2)
    frac = t - i0
    return table(i0) * (1 - frac) + table(i0 + 1) * frac


def source_depletion_factor(
    distance_m,
    effective_height_m,
    stability_class,
    wind_speed_m_s,
    deposition_velocity_m_s,
    receptor_height_m: float = 1.0,
) -> np.ndarray:
    """Q(x)/Q0 = exp(-(v_d/u) ∫ V/(√(2π) σz) dx) by dry deposition (see module docstring)."""
    x = _floats(distance_m, "distance_m", positive=True)
    vd = _floats(deposition_velocity_m_s, "deposition_velocity_m_s", nonnegative=True)
    u = _floats(wind_speed_m_s, "wind_speed_m_s", positive=True)
    h = _floats(effective_height_m, "effective_height_m", nonnegative=True)
    x, h, k, vd, u = np.broadcast_arrays(x, h, _class_index(stability_class), vd, u)
    grid = np.geomspace(1.0, max(float(x.max()), 2.0), 512)
    cum = _depletion_integral(h.ravel()[:, None], k.ravel()[:, None], grid, receptor_height_m)
    rows = np.arange(cum.shape[0])
    integral = _interp_log(lambda i: cum[rows, i], grid, x.ravel())
    return np.exp(-(vd / u).ravel() * integral).reshape(x.shape)


@dataclass(frozen=True)
class WindRose:
    """Wind climatology: ``frequency[k, s]`` is the fraction of time the wind blows *from*
    sector k (centred on bearing k·360/n degrees, clockwise from north) in stability class s
    (A–F); fractions must sum to 1 (±0.001, then rescaled). ``wind_speed_m_s[s]`` is the mean
    wind speed of class s. There is no Dutch default: no citable 12 × 6 table was found."""

    frequency: np.ndarray
    wind_speed_m_s: np.ndarray

    def __post_init__(self) -> None:
        f = _floats(self.frequency, "frequency", nonnegative=True)
        if f.ndim != 2 or f.shape[1] != 6 or f.shape[0] < 4:
            raise InputError("frequency must have shape (n_sectors ≥ 4, 6)", field="frequency")
        if abs(f.sum() - 1.0) > 1e-3:
            raise InputError(f"frequencies sum to {f.sum():.6g}, not 1", field="frequency")
        f = f / f.sum()
        u = _floats(self.wind_speed_m_s, "wind_speed_m_s", positive=True)
        if u.shape != (6,):
            raise InputError("one wind speed per stability class A–F", field="wind_speed_m_s")
        object.__setattr__(self, "frequency", f)
        object.__setattr__(self, "wind_speed_m_s", u)

    @property
    def n_sectors(self) -> int:
        return self.frequency.shape[0]


@dataclass(frozen=True)
class DepositionResult:
    """Deposition per receptor [mol N/ha/yr], total and by substance, and source counts."""

    total_mol_n_per_ha_per_yr: np.ndarray
    nox_mol_n_per_ha_per_yr: np.ndarray
    nh3_mol_n_per_ha_per_yr: np.ndarray
    n_sources_used: int
    n_sources_skipped: int  # no receptor within cutoff_distance_m
    cutoff_distance_m: float


def nitrogen_deposition(
    source_x_m,
    source_y_m,
    stack_height_m,
    heat_content_mw,
    emission_nox_kg_per_yr,
    emission_nh3_kg_per_yr,
    receptor_x_m,
    receptor_y_m,
    *,
    wind_rose: WindRose,
    deposition_velocity_nox_m_s: float,
    deposition_velocity_nh3_m_s: float,
    receptor_height_m: float = 1.0,
    cutoff_distance_m: float = 25_000.0,
    min_distance_m: float = 100.0,
    source_depletion: bool = True,
    sector_smoothing: bool = True,
    ambient_temperature_k: float = 288.15,
    max_elements: int = 500_000,
) -> DepositionResult:
    """Annual dry N deposition [mol N/ha/yr] at receptors from many point sources (RD metres).

    Long-term sector-averaged Gaussian plume over ``wind_rose`` with Briggs rise and rural σ,
    optional source depletion, and distances clamped to ``min_distance_m``. Pairs farther apart
    than ``cutoff_distance_m`` contribute nothing; sources without any receptor within it are
    skipped and counted. See the module docstring for the equations and :data:`LIMITATIONS`.
    """
    args = dict(locals())
    names = ("source_x_m", "source_y_m", "stack_height_m", "heat_content_mw")
    names += ("emission_nox_kg_per_yr", "emission_nh3_kg_per_yr")
    cols = [_floats(args[n], n, nonnegative=n not in names[:2]) for n in names]
    for arr, name in zip(cols, names, strict=True):
        if arr.ndim != 1 or arr.shape != cols[0].shape:
            raise InputError("source arrays must be 1-D and of equal length", field=name)
    rx, ry = _floats(receptor_x_m, "receptor_x_m"), _floats(receptor_y_m, "receptor_y_m")
    if rx.ndim != 1 or rx.size == 0 or rx.shape != ry.shape:
        raise InputError("need a non-empty 1-D set of receptors", field="receptor_x_m")
    if not isinstance(wind_rose, WindRose):
        raise InputError("wind_rose must be a WindRose", field="wind_rose")
    vd = {s: _scalar(args, f"deposition_velocity_{s}_m_s", nonnegative=True) for s in SUBSTANCES}
    cutoff = _scalar(args, "cutoff_distance_m", positive=True)
    xmin = _scalar(args, "min_distance_m", positive=True)
    zr = _scalar(args, "receptor_height_m", nonnegative=True)

    sx, sy, hs, qh, e_nox, e_nh3 = cols
    used = np.zeros(0, dtype=np.intp)
    if sx.size:
        tree = cKDTree(np.column_stack([rx, ry]))
        near = tree.query(np.column_stack([sx, sy]), distance_upper_bound=cutoff)[0]
        used = np.flatnonzero(np.isfinite(near))
    total = {s: np.zeros(rx.size) for s in SUBSTANCES}
    rate = {
        "nox": emission_mol_n_per_yr(e_nox, MOLAR_MASS_NO2_G_PER_MOL),
        "nh3": emission_mol_n_per_yr(e_nh3, MOLAR_MASS_NH3_G_PER_MOL),
    }
    u, freq, n = wind_rose.wind_speed_m_s, wind_rose.frequency, wind_rose.n_sectors
    classes = np.arange(6)
    grid = np.geomspace(1.0, max(cutoff, 2 * xmin), 256)
    chunk = max(1, max_elements // (6 * rx.size))
    for start in range(0, used.size, chunk):
        idx = used[start : start + chunk]
        h = hs[idx, None] + briggs_plume_rise_m(
            qh[idx, None], u[None, :], classes[None, :], ambient_temperature_k=ambient_temperature_k
        )
        dx, dy = rx[None, :] - sx[idx, None], ry[None, :] - sy[idx, None]
        dist = np.hypot(dx, dy)
        within = dist <= cutoff
        x = np.maximum(dist, xmin)[..., None]  # (sources, receptors, 1)
        # Wind from the bearing receptor→source carries the plume to the receptor.
        pos = (np.arctan2(-dx, -dy) % (2 * math.pi)) / (2 * math.pi / n)
        if sector_smoothing:
            k0 = np.floor(pos).astype(np.intp)
            w1 = (pos - k0)[..., None]
            f_eff = (1 - w1) * freq[k0 % n] + w1 * freq[(k0 + 1) % n]
        else:
            f_eff = freq[np.rint(pos).astype(np.intp) % n]
        sz = _sigma_z(x, classes)
        hb = h[:, None, :]
        chi = f_eff * sector_averaged_concentration(1.0, u, sz, x, zr, hb, n)  # s/m³ per mol/s
        if source_depletion:
            cum = _depletion_integral(h[..., None], classes[None, :, None], grid, zr)
            si = np.arange(idx.size)[:, None, None]

            def lookup(i, cum=cum, si=si):
                return cum[si, classes[None, None, :], i]

            integral = _interp_log(lookup, grid, x)
        for sub in SUBSTANCES:
            kernel = chi * np.exp(-vd[sub] / u * integral) if source_depletion else chi
            per_pair = kernel.sum(axis=-1) * within
            total[sub] += rate[sub][idx] @ per_pair
    dep = {s: vd[s] * total[s] * M2_PER_HA for s in total}
    return DepositionResult(
        total_mol_n_per_ha_per_yr=dep["nox"] + dep["nh3"],
        nox_mol_n_per_ha_per_yr=dep["nox"],
        nh3_mol_n_per_ha_per_yr=dep["nh3"],
        n_sources_used=int(used.size),
        n_sources_skipped=int(sx.size - used.size),
        cutoff_distance_m=cutoff,
    )


def line_source_points(lines, *, spacing_m: float = 25.0):
    """Approximate (multi)line sources by points: the centres of ⌈length/spacing⌉ equal pieces.

    Returns (x_m, y_m, line_index, weight); a line's emission times ``weight`` is the share of
    each of its points (weights of one line sum to 1).
    """
    geoms = np.asarray(lines, dtype=object).ravel()
    spacing = float(_floats(spacing_m, "spacing_m", positive=True))
    types = shapely.get_type_id(geoms)
    if geoms.size == 0 or np.any((types != 1) & (types != 5)) or np.any(shapely.is_empty(geoms)):
        raise InputError("need non-empty LineStrings or MultiLineStrings", field="lines")
    counts = np.maximum(1, np.ceil(shapely.length(geoms) / spacing)).astype(np.intp)
    line_index = np.repeat(np.arange(geoms.size), counts)
    rank = np.arange(line_index.size) - np.repeat(np.cumsum(counts) - counts, counts)
    pts = shapely.line_interpolate_point(
        geoms[line_index], (rank + 0.5) / counts[line_index], normalized=True
    )
    return shapely.get_x(pts), shapely.get_y(pts), line_index, 1.0 / counts[line_index]
