"""CNOSSOS-EU road traffic sound emission: Directive 2002/49/EC Annex II section 2.2, as
introduced by Commission Directive (EU) 2015/996 and amended by Commission Delegated Directive
(EU) 2021/1226 (Appendix F coefficient tables as replaced by 2021/1226).

Implemented: rolling noise (2.2.4), propulsion noise (2.2.11), their energetic sum (2.2.2;
categories 4a/4b propulsion only, 2.2.3), the road-surface correction (2.2.19, 2.2.20), the
air-temperature correction of rolling noise (2.2.10) and the directional sound power per metre
of a source line (2.2.1). Not implemented: studded tyres (Table F-2), road gradient and the
acceleration near junctions (Table F-3). Results are per octave band (63 Hz .. 8 kHz, the last
axis of every returned array), in dB re 1 pW (per metre for line sources).

Equation numbers (2.2.x) follow the consolidated Annex II; they and the coefficient values
were cross-checked against independent public transcriptions (see the comments on the
tables), not read from the Official Journal PDF itself.

Adding a road surface: build a :class:`RoadSurface` with α (8 values) and β per category from
Table F-4 or a national catalogue and pass it as ``surface=``, or register it in
:data:`ROAD_SURFACES` under a new name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tweeling.core.errors import InputError
from tweeling.methods.noise_iso9613 import OCTAVE_BANDS_HZ as OCTAVE_BANDS_HZ
from tweeling.methods.noise_iso9613 import energetic_sum_db

REFERENCE_SPEED_KMH = 70.0  # v_ref of (2.2.4) and (2.2.11)
REFERENCE_TEMPERATURE_C = 20.0  # τ_ref of (2.2.10)
#: Below 20 km/h the sound power is that at 20 km/h (Annex II 2.2; rule taken from the
#: consolidated text as transcribed by the sources named below, not read in the OJ).
MIN_EMISSION_SPEED_KMH = 20.0
#: Upper end of the speed range of the road source model (20..130 km/h per the JRC reference
#: report EUR 25379 EN, 2012); above it this module refuses to extrapolate.
MAX_SPEED_KMH = 130.0
VEHICLE_CATEGORIES = ("1", "2", "3", "4a", "4b")
#: Rolling-noise temperature coefficient K_m, dB/°C (Annex II 2.2, eq. 2.2.10): 0.08 for
#: light vehicles, 0.04 for categories 2 and 3; categories 4a/4b have no rolling noise.
TEMPERATURE_COEFFICIENT_DB_PER_C = {"1": 0.08, "2": 0.04, "3": 0.04, "4a": 0.0, "4b": 0.0}


@dataclass(frozen=True)
class EmissionCoefficients:
    """One category of Table F-1: A_R, B_R (rolling), A_P, B_P (propulsion), 8 bands each."""

    a_r: tuple[float, ...]
    b_r: tuple[float, ...]
    a_p: tuple[float, ...]
    b_p: tuple[float, ...]
    has_rolling: bool = True


# Table F-1 of Appendix F as replaced by Delegated Directive (EU) 2021/1226 (OJ L 269,
# 28.7.2021). Values checked against two independent transcriptions: NoiseModelling
# (Universite-Gustave-Eiffel/NoiseModelling, RoadCnossos_2020.json) and the phonometry package
# (jmrplens/PyOctaveBand, transcribed from the OJ); all 160 values agree.
# fmt: off
_F1 = {  # category: (A_R, B_R, A_P, B_P) over 63 Hz .. 8 kHz, each row from Table F-1
    "1": ((83.1, 89.2, 87.7, 93.1, 100.1, 96.7, 86.8, 76.2),  # light motor vehicles
          (30.0, 41.5, 38.9, 25.7, 32.5, 37.2, 39.0, 40.0),
          (97.9, 92.5, 90.7, 87.2, 84.7, 88.0, 84.4, 77.1),
          (-1.3, 7.2, 7.7, 8.0, 8.0, 8.0, 8.0, 8.0)),
    "2": ((88.7, 93.2, 95.7, 100.9, 101.7, 95.1, 87.8, 83.6),  # medium heavy vehicles
          (30.0, 35.8, 32.6, 23.8, 30.1, 36.2, 38.3, 40.1),
          (105.5, 100.2, 100.5, 98.7, 101.0, 97.8, 91.2, 85.0),
          (-1.9, 4.7, 6.4, 6.5, 6.5, 6.5, 6.5, 6.5)),
    "3": ((91.7, 96.2, 98.2, 104.9, 105.1, 98.5, 91.1, 85.6),  # heavy vehicles
          (30.0, 33.5, 31.3, 25.4, 31.8, 37.1, 38.6, 40.6),
          (108.8, 104.2, 103.5, 102.9, 102.6, 98.5, 93.8, 87.5),
          (0.0, 3.0, 4.6, 5.0, 5.0, 5.0, 5.0, 5.0)),
    "4a": ((0.0,) * 8, (0.0,) * 8,  # powered two-wheelers <= 50 cc: no rolling noise
           (93.0, 93.0, 93.5, 95.3, 97.2, 100.4, 95.8, 90.9),
           (4.2, 7.4, 9.8, 11.6, 15.7, 18.9, 20.3, 20.6)),
    "4b": ((0.0,) * 8, (0.0,) * 8,  # powered two-wheelers > 50 cc: no rolling noise
           (99.9, 101.9, 96.7, 94.4, 95.2, 94.7, 92.1, 88.6),
           (3.2, 5.9, 11.9, 11.6, 11.5, 12.6, 11.1, 12.0)),
}
# fmt: on
TABLE_F1: Mapping[str, EmissionCoefficients] = {
    key: EmissionCoefficients(*rows, has_rolling=key not in ("4a", "4b"))
    for key, rows in _F1.items()
}


@dataclass(frozen=True)
class RoadSurface:
    """One row of Table F-4: α_i,m (dB, 8 bands) and β_m per category, and the speed range
    (km/h) the table states for the row (informative; not enforced)."""

    name: str
    alpha_db: Mapping[str, tuple[float, ...]]
    beta: Mapping[str, float]
    speed_range_kmh: tuple[float, float] | None = None


_ZERO = (0.0,) * 8


def _surface(name, v_min, v_max, cat1, cat2, cat3):  # 4a/4b: zero correction in Table F-4
    rows = {"1": cat1, "2": cat2, "3": cat3, "4a": (_ZERO, 0.0), "4b": (_ZERO, 0.0)}
    return RoadSurface(
        name,
        {k: tuple(v[0]) for k, v in rows.items()},
        {k: float(v[1]) for k, v in rows.items()},
        None if v_min is None else (float(v_min), float(v_max)),
    )


# Table F-4 as replaced by (EU) 2021/1226: (α over 63 Hz..8 kHz, β) for categories 1, 2, 3.
# Cross-checked against the same two transcriptions as Table F-1; they agree on every value
# except "thin layer B", category 3, β: 0.3 (phonometry) versus 0.5 (NoiseModelling, which
# equals the 2015/996 value). 0.3 is used, UNVERIFIED against the Official Journal.
# fmt: off
_F4 = [
    ("reference road surface", None, None, (_ZERO, 0.0), (_ZERO, 0.0), (_ZERO, 0.0)),
    ("1-layer ZOAB", 50, 130,
     ((0.0, 5.4, 4.3, 4.2, -1.0, -3.2, -2.6, 0.8), -6.5),
     ((7.9, 4.3, 5.3, -0.4, -5.2, -4.6, -3.0, -1.4), 0.2),
     ((9.3, 5.0, 5.5, -0.4, -5.2, -4.6, -3.0, -1.4), 0.2)),
    ("2-layer ZOAB", 50, 130,
     ((1.6, 4.0, 0.3, -3.0, -4.0, -6.2, -4.8, -2.0), -3.0),
     ((7.3, 2.0, -0.3, -5.2, -6.1, -6.0, -4.4, -3.5), 4.7),
     ((8.3, 2.2, -0.4, -5.2, -6.2, -6.1, -4.5, -3.5), 4.7)),
    ("2-layer ZOAB (fine)", 80, 130,
     ((-1.0, 3.0, -1.5, -5.3, -6.3, -8.5, -5.3, -2.4), -0.1),
     ((7.9, 0.1, -1.9, -5.9, -6.1, -6.8, -4.9, -3.8), -0.8),
     ((9.4, 0.2, -1.9, -5.9, -6.1, -6.7, -4.8, -3.8), -0.9)),
    ("SMA-NL5", 40, 80,
     ((10.3, -0.9, 0.9, 1.8, -1.8, -2.7, -2.0, -1.3), -1.6), (_ZERO, 0.0), (_ZERO, 0.0)),
    ("SMA-NL8", 40, 80,
     ((6.0, 0.3, 0.3, 0.0, -0.6, -1.2, -0.7, -0.7), -1.4), (_ZERO, 0.0), (_ZERO, 0.0)),
    ("brushed down concrete", 70, 120,
     ((8.2, -0.4, 2.8, 2.7, 2.5, 0.8, -0.3, -0.1), 1.4),
     ((0.3, 4.5, 2.5, -0.2, -0.1, -0.5, -0.9, -0.8), 5.0),
     ((0.2, 5.3, 2.5, -0.2, -0.1, -0.6, -1.0, -0.9), 5.5)),
    ("optimised brushed down concrete", 70, 80,
     ((-0.2, -0.7, 1.4, 1.2, 1.1, -1.6, -2.0, -1.8), 1.0),
     ((-0.7, 3.0, -2.0, -1.4, -1.8, -2.7, -2.0, -1.9), -6.6),
     ((-0.5, 4.2, -1.9, -1.3, -1.7, -2.5, -1.8, -1.8), -6.6)),
    ("fine broomed concrete", 70, 120,
     ((8.0, -0.7, 4.8, 2.2, 1.2, 2.6, 1.5, -0.6), 7.6),
     ((0.2, 8.6, 7.1, 3.2, 3.6, 3.1, 0.7, 0.1), 3.2),
     ((0.1, 9.8, 7.4, 3.2, 3.1, 2.4, 0.4, 0.0), 2.0)),
    ("worked surface", 50, 130,
     ((8.3, 2.3, 5.1, 4.8, 4.1, 0.1, -1.0, -0.8), -0.3),
     ((0.1, 6.3, 5.8, 1.8, -0.6, -2.0, -1.8, -1.6), 1.7),
     ((0.0, 7.4, 6.2, 1.8, -0.7, -2.1, -1.9, -1.7), 1.4)),
    ("hard elements in herring-bone", 30, 60,
     ((27.0, 16.2, 14.7, 6.1, 3.0, -1.0, 1.2, 4.5), 2.5),
     ((29.5, 20.0, 17.6, 8.0, 6.2, -1.0, 3.1, 5.2), 2.5),
     ((29.4, 21.2, 18.2, 8.4, 5.6, -1.0, 3.0, 5.8), 2.5)),
    ("hard elements not in herring-bone", 30, 60,
     ((31.4, 19.7, 16.8, 8.4, 7.2, 3.3, 7.8, 9.1), 2.9),
     ((34.0, 23.6, 19.8, 10.5, 11.7, 8.2, 12.2, 10.0), 2.9),
     ((33.8, 24.7, 20.4, 10.9, 10.9, 6.8, 12.0, 10.8), 2.9)),
    ("quiet hard elements", 30, 60,
     ((26.8, 13.7, 11.9, 3.9, -1.8, -5.8, -2.7, 0.2), -1.7),
     ((9.2, 5.7, 4.8, 2.3, 4.4, 5.1, 5.4, 0.9), 0.0),
     ((9.1, 6.6, 5.2, 2.6, 3.9, 3.9, 5.2, 1.1), 0.0)),
    ("thin layer A", 40, 130,
     ((10.4, 0.7, -0.6, -1.2, -3.0, -4.8, -3.4, -1.4), -2.9),
     ((13.8, 5.4, 3.9, -0.4, -1.8, -2.1, -0.7, -0.2), 0.5),
     ((14.1, 6.1, 4.1, -0.4, -1.8, -2.1, -0.7, -0.2), 0.3)),
    ("thin layer B", 40, 130,
     ((6.8, -1.2, -1.2, -0.3, -4.9, -7.0, -4.8, -3.2), -1.8),
     ((13.8, 5.4, 3.9, -0.4, -1.8, -2.1, -0.7, -0.2), 0.5),
     ((14.1, 6.1, 4.1, -0.4, -1.8, -2.1, -0.7, -0.2), 0.3)),  # β cat. 3 unverified, see above
]
# fmt: on
ROAD_SURFACES: dict[str, RoadSurface] = {row[0]: _surface(*row) for row in _F4}
REFERENCE_SURFACE = "reference road surface"


def _category(category: str, coefficients: Mapping[str, EmissionCoefficients]) -> str:
    key = str(category)
    if key not in coefficients:
        raise InputError(
            f"unknown vehicle category {category!r}; expected one of {sorted(coefficients)}",
            field="category",
        )
    return key


def _speed(speed_kmh: ArrayLike) -> NDArray[np.float64]:
    v = np.asarray(speed_kmh, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(v <= 0) or np.any(v > MAX_SPEED_KMH):
        raise InputError(
            f"speed_kmh must lie in (0, {MAX_SPEED_KMH:g}] km/h, the range of the CNOSSOS-EU "
            "road source model",
            field="speed_kmh",
        )
    return v


def _surface_of(surface: str | RoadSurface, category: str) -> RoadSurface:
    row = surface if isinstance(surface, RoadSurface) else ROAD_SURFACES.get(surface)
    if row is None:
        raise InputError(
            f"unknown road surface {surface!r}; known: {sorted(ROAD_SURFACES)}", field="surface"
        )
    if category not in row.alpha_db or category not in row.beta:
        raise InputError(
            f"road surface {row.name!r} has no row for category {category}", field="surface"
        )
    return row


def _emission_speed(v: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum(v, MIN_EMISSION_SPEED_KMH)[..., None]  # band axis last


def temperature_correction_db(category: str, temperature_c: ArrayLike) -> NDArray[np.float64]:
    """ΔL_W,temp = K_m·(τ_ref − τ), τ_ref = 20 °C, for rolling noise (Annex II 2.2, eq.
    2.2.10); K = 0.08 dB/°C (cat. 1), 0.04 dB/°C (cats. 2, 3), 0 for 4a/4b. Equal in every
    band. Validity: annual mean air temperatures; -30..50 °C accepted here."""
    key = _category(category, TEMPERATURE_COEFFICIENT_DB_PER_C)
    t = np.asarray(temperature_c, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any((t < -30) | (t > 50)):
        raise InputError("temperature_c must lie in -30..50 °C", field="temperature_c")
    return TEMPERATURE_COEFFICIENT_DB_PER_C[key] * (REFERENCE_TEMPERATURE_C - t)


def road_surface_correction_db(
    category: str, speed_kmh: ArrayLike, surface: str | RoadSurface = REFERENCE_SURFACE
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Road-surface corrections (rolling, propulsion) per band (Annex II 2.2, eqs. 2.2.19 and
    2.2.20): ΔL_WR,road = α_i,m + β_m·lg(v_m/v_ref); ΔL_WP,road = min(α_i,m; 0). The
    reference surface (Table F-4 first row) gives zero. Validity: speeds up to 130 km/h."""
    key = str(category)
    if key not in VEHICLE_CATEGORIES and not isinstance(surface, RoadSurface):
        raise InputError(f"unknown vehicle category {category!r}", field="category")
    row = _surface_of(surface, key)
    v = _emission_speed(_speed(speed_kmh))
    alpha = np.asarray(row.alpha_db[key], dtype=np.float64)
    rolling = alpha + row.beta[key] * np.log10(v / REFERENCE_SPEED_KMH)
    return rolling, np.broadcast_to(np.minimum(alpha, 0.0), rolling.shape).copy()


def rolling_noise_db(
    category: str,
    speed_kmh: ArrayLike,
    *,
    surface: str | RoadSurface = REFERENCE_SURFACE,
    temperature_c: ArrayLike = REFERENCE_TEMPERATURE_C,
    coefficients: Mapping[str, EmissionCoefficients] = TABLE_F1,
) -> NDArray[np.float64]:
    """Rolling noise L_WR = A_R + B_R·lg(v/v_ref) + ΔL_WR,road + ΔL_W,temp, v_ref = 70 km/h
    (Annex II 2.2, eq. 2.2.4; coefficients Table F-1). Categories 4a/4b have no rolling
    noise: -inf is returned. Speeds below 20 km/h use v = 20 km/h ; validity 0..130 km/h.
    """
    key = _category(category, coefficients)
    v = _emission_speed(_speed(speed_kmh))
    c = coefficients[key]
    if not c.has_rolling:
        return np.full(np.broadcast_shapes(v.shape, (8,)), -np.inf)
    base = np.asarray(c.a_r) + np.asarray(c.b_r) * np.log10(v / REFERENCE_SPEED_KMH)
    road, _ = road_surface_correction_db(key, speed_kmh, surface)
    temp = np.asarray(temperature_correction_db(key, temperature_c))[..., None]
    return base + road + temp


def propulsion_noise_db(
    category: str,
    speed_kmh: ArrayLike,
    *,
    surface: str | RoadSurface = REFERENCE_SURFACE,
    coefficients: Mapping[str, EmissionCoefficients] = TABLE_F1,
) -> NDArray[np.float64]:
    """Propulsion noise L_WP = A_P + B_P·(v − v_ref)/v_ref + ΔL_WP,road, v_ref = 70 km/h
    (Annex II 2.2, eq. 2.2.11; coefficients Table F-1). Gradient and junction corrections
    are not included. Speeds below 20 km/h use 20 km/h; validity 0..130 km/h."""
    key = _category(category, coefficients)
    v = _emission_speed(_speed(speed_kmh))
    c = coefficients[key]
    base = np.asarray(c.a_p) + np.asarray(c.b_p) * (v - REFERENCE_SPEED_KMH) / REFERENCE_SPEED_KMH
    _, road = road_surface_correction_db(key, speed_kmh, surface)
    return base + road


def vehicle_sound_power_db(
    category: str,
    speed_kmh: ArrayLike,
    *,
    surface: str | RoadSurface = REFERENCE_SURFACE,
    temperature_c: ArrayLike = REFERENCE_TEMPERATURE_C,
    coefficients: Mapping[str, EmissionCoefficients] = TABLE_F1,
) -> NDArray[np.float64]:
    """Sound power of one vehicle L_W = 10·lg(10^(L_WR/10) + 10^(L_WP/10)) per band (Annex II
    2.2, eq. 2.2.2; for 4a/4b L_W = L_WP, eq. 2.2.3). Validity 0..130 km/h."""
    rolling = rolling_noise_db(
        category, speed_kmh, surface=surface, temperature_c=temperature_c, coefficients=coefficients
    )
    propulsion = propulsion_noise_db(
        category, speed_kmh, surface=surface, coefficients=coefficients
    )
    rolling, propulsion = np.broadcast_arrays(rolling, propulsion)
    return energetic_sum_db(np.stack([rolling, propulsion]), axis=0)


def line_source_power_db(
    vehicle_sound_power_db: ArrayLike, flow_veh_per_h: ArrayLike, speed_kmh: ArrayLike
) -> NDArray[np.float64]:
    """Directional sound power per metre of a steady traffic flow, L_W',eq,line = L_W +
    10·lg(Q/(1000·v)), Q in vehicles/hour, v in km/h (Annex II 2.2, eq. 2.2.1). A zero
    flow gives -inf. Validity: flow >= 0, speed in (0, 130] km/h."""
    q = np.asarray(flow_veh_per_h, dtype=np.float64)
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise InputError(
            "flow_veh_per_h must be finite and >= 0 vehicles/hour", field="flow_veh_per_h"
        )
    v = _speed(speed_kmh)
    with np.errstate(divide="ignore"):
        flow_term = 10.0 * np.log10(q / (1000.0 * v))
    return np.asarray(vehicle_sound_power_db, dtype=np.float64) + flow_term[..., None]


def road_emission_per_metre_db(
    flow_veh_per_h: Mapping[str, ArrayLike],
    speed_kmh: Mapping[str, ArrayLike],
    *,
    surface: str | RoadSurface = REFERENCE_SURFACE,
    temperature_c: ArrayLike = REFERENCE_TEMPERATURE_C,
    coefficients: Mapping[str, EmissionCoefficients] = TABLE_F1,
) -> NDArray[np.float64]:
    """Total directional sound power per metre of a road, summed energetically over the
    vehicle categories present (Annex II 2.2, eq. 2.2.1, summed over m), per band.

    ``flow_veh_per_h`` and ``speed_kmh`` map category ("1", "2", "3", "4a", "4b") to hourly
    flow and mean speed (scalars or arrays that broadcast); every flow key needs a speed.
    """
    if not flow_veh_per_h:
        raise InputError("flow_veh_per_h names no vehicle category", field="flow_veh_per_h")
    parts = []
    for category, flow in flow_veh_per_h.items():
        key = _category(category, coefficients)
        if key not in speed_kmh:
            raise InputError(f"no speed given for vehicle category {key}", field="speed_kmh")
        lw = vehicle_sound_power_db(
            key,
            speed_kmh[key],
            surface=surface,
            temperature_c=temperature_c,
            coefficients=coefficients,
        )
        parts.append(line_source_power_db(lw, flow, speed_kmh[key]))
    return energetic_sum_db(np.stack(np.broadcast_arrays(*parts)), axis=0)
