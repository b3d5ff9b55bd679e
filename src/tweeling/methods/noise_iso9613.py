"""Outdoor sound propagation from point sources per ISO 9613-2:1996, with the atmospheric
absorption of ISO 9613-1:1993, and the day-evening-night level of Directive 2002/49/EC.

Every function is pure and vectorised: scalar or array inputs broadcast against each other,
and octave-band results carry the eight bands of :data:`OCTAVE_BANDS_HZ` on the last axis.
Levels are in dB, distances and heights in metres. Invalid input raises
:class:`~tweeling.core.errors.InputError` naming the parameter.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tweeling.core.errors import InputError

#: Nominal octave-band mid frequencies, Hz (ISO 9613-2:1996 clause 1: 63 Hz to 8 kHz).
OCTAVE_BANDS_HZ: NDArray[np.float64] = np.array(
    [63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0]
)
#: Exact base-10 mid frequencies 1000·10^(3k/10) Hz, k = -4..3 (IEC 61260); ISO 9613-1 Table 1
#: and ISO 9613-2 Table 2 are computed at exact mid frequencies.
OCTAVE_BANDS_EXACT_HZ: NDArray[np.float64] = 1000.0 * 10.0 ** (0.3 * np.arange(-4, 4))
#: A-weighting of the octave bands, dB (IEC 61672-1:2013 Table 3, rounded to 0.1 dB).
A_WEIGHTING_DB: NDArray[np.float64] = np.array([-26.2, -16.1, -8.6, -3.2, 0.0, 1.2, 1.0, -1.1])
for _constant in (OCTAVE_BANDS_HZ, OCTAVE_BANDS_EXACT_HZ, A_WEIGHTING_DB):
    _constant.setflags(write=False)

REFERENCE_PRESSURE_KPA = 101.325  # p_r, ISO 9613-1 clause 6.1
SPEED_OF_SOUND_M_S = 340.0  # c used for the wavelength in ISO 9613-2 clause 7.4


def _arg(
    value: ArrayLike,
    field: str,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> NDArray[np.float64]:
    """Finite float array of a named argument within optional bounds, else InputError."""
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{field} must be numeric, got {value!r}", field=field) from exc
    rules = [(b, t) for b, t in ((gt, ">"), (ge, ">="), (le, "<=")) if b is not None]
    ok = np.isfinite(out)
    for bound, text in rules:
        ok &= {">": np.greater, ">=": np.greater_equal, "<=": np.less_equal}[text](out, bound)
    if not np.all(ok):
        extra = "".join(f" and {t} {b:g}" for b, t in rules)
        raise InputError(f"{field} must be finite{extra}", field=field)
    return out


def _check(ok: object, message: str, field: str) -> None:
    if not np.all(ok):
        raise InputError(message, field=field)


def energetic_sum_db(levels_db: ArrayLike, axis: int | None = None) -> NDArray[np.float64]:
    """Energetic (incoherent) sum 10·lg Σ 10^(L/10) of levels in dB.

    The summation used throughout ISO 9613-2 (eq. 5) and Directive 2002/49/EC; valid for
    incoherent sources. ``-inf`` entries (no sound) contribute nothing.
    """
    levels = np.asarray(levels_db, dtype=np.float64)
    _check(~np.isnan(levels) & (levels != np.inf), "levels_db must not be NaN or +inf", "levels_db")
    with np.errstate(divide="ignore"):
        return np.asarray(10.0 * np.log10(np.sum(10.0 ** (levels / 10.0), axis=axis)))


def geometric_divergence_db(distance_m: ArrayLike) -> NDArray[np.float64]:
    """Geometric divergence A_div = 20·lg(d/d0) + 11 dB, d0 = 1 m (ISO 9613-2:1996 eq. 7).

    Spherical spreading from a point source in free field; ``distance_m`` is the direct
    source-to-receiver distance, > 0 (the standard's accuracy statement covers d ≤ 1000 m).
    """
    return 20.0 * np.log10(_arg(distance_m, "distance_m", gt=0)) + 11.0


def atmospheric_absorption_coefficient_db_per_km(
    frequency_hz: ArrayLike,
    temperature_c: ArrayLike,
    relative_humidity_pct: ArrayLike,
    pressure_kpa: ArrayLike = REFERENCE_PRESSURE_KPA,
) -> NDArray[np.float64]:
    """Pure-tone attenuation coefficient α, dB/km (ISO 9613-1:1993 eqs. 3 to 5, annex B).

    α = 8.686 f² [1.84e-11 (p_a/p_r)⁻¹ (T/T0)^½ + (T/T0)^(-5/2) (0.01275 e^(-2239.1/T) /
    (f_rO + f²/f_rO) + 0.1068 e^(-3352.0/T) / (f_rN + f²/f_rN))] dB/m, relaxation
    frequencies f_rO, f_rN of eqs. 3 and 4, molar concentration of water vapour h from the
    relative humidity via the saturation pressure of annex B (eqs. B.1, B.2); T0 = 293.15 K.
    Validity: tabulated for -20..+50 °C, 10..100 % RH, 50 Hz..10 kHz; the formulae are stated
    accurate to ±10 % for 253..323 K and pressures below 200 kPa. Temperatures outside
    -20..50 °C and pressures above 200 kPa are rejected.
    """
    f = _arg(frequency_hz, "frequency_hz", gt=0)
    t_c = _arg(temperature_c, "temperature_c", ge=-20, le=50)
    rh = _arg(relative_humidity_pct, "relative_humidity_pct", gt=0, le=100)
    p_rel = _arg(pressure_kpa, "pressure_kpa", gt=0, le=200) / REFERENCE_PRESSURE_KPA
    t, t0 = t_c + 273.15, 293.15
    c = -6.8346 * (273.16 / t) ** 1.261 + 4.6151  # eq. B.2: p_sat / p_r = 10^C
    h = rh * 10.0**c / p_rel  # eq. B.1, in %
    fr_o = p_rel * (24.0 + 4.04e4 * h * (0.02 + h) / (0.391 + h))  # eq. 3
    fr_n = (
        p_rel * (t / t0) ** -0.5 * (9.0 + 280.0 * h * np.exp(-4.170 * ((t / t0) ** (-1 / 3) - 1)))
    )
    relax = 0.01275 * np.exp(-2239.1 / t) / (fr_o + f**2 / fr_o)
    relax = relax + 0.1068 * np.exp(-3352.0 / t) / (fr_n + f**2 / fr_n)
    alpha_db_m = 8.686 * f**2 * (1.84e-11 / p_rel * (t / t0) ** 0.5 + (t / t0) ** -2.5 * relax)
    return alpha_db_m * 1000.0  # eq. 5 gives dB/m


def atmospheric_attenuation_db(
    distance_m: ArrayLike,
    temperature_c: ArrayLike,
    relative_humidity_pct: ArrayLike,
    pressure_kpa: ArrayLike = REFERENCE_PRESSURE_KPA,
) -> NDArray[np.float64]:
    """Octave-band atmospheric absorption A_atm = α·d/1000 dB (ISO 9613-2:1996 eq. 8).

    α is the ISO 9613-1 pure-tone coefficient evaluated at the exact octave-band mid
    frequency (:data:`OCTAVE_BANDS_EXACT_HZ`), which is how ISO 9613-2 Table 2 is computed;
    inputs of shape S give shape S + (8,). Validity as for
    :func:`atmospheric_absorption_coefficient_db_per_km`.
    """
    d = _arg(distance_m, "distance_m", ge=0)
    alpha = atmospheric_absorption_coefficient_db_per_km(
        OCTAVE_BANDS_EXACT_HZ,
        *(
            np.expand_dims(np.asarray(v), -1)
            for v in (temperature_c, relative_humidity_pct, pressure_kpa)
        ),
    )
    return alpha * d[..., None] / 1000.0


def ground_attenuation_db(
    projected_distance_m: ArrayLike,
    source_height_m: ArrayLike,
    receiver_height_m: ArrayLike,
    ground_factor_source: ArrayLike,
    ground_factor_middle: ArrayLike,
    ground_factor_receiver: ArrayLike,
) -> NDArray[np.float64]:
    """Ground attenuation A_gr = A_s + A_r + A_m by the general method (ISO 9613-2:1996
    clause 7.3.1, eq. 9 and Table 3), per octave band on the last axis.

    Ground factors G are 0 (hard) .. 1 (porous) for the source region (30·h_s long), the
    receiver region (30·h_r) and the middle region; q = 0 for d_p <= 30(h_s + h_r), else
    1 - 30(h_s + h_r)/d_p. Validity (clause 7.3.1): approximately flat ground (horizontal or
    constant slope), downwind propagation. Negative values are a gain.
    """
    dp = _arg(projected_distance_m, "projected_distance_m", gt=0)
    hs = _arg(source_height_m, "source_height_m", ge=0)
    hr = _arg(receiver_height_m, "receiver_height_m", ge=0)
    gs = _arg(ground_factor_source, "ground_factor_source", ge=0, le=1)
    gm = _arg(ground_factor_middle, "ground_factor_middle", ge=0, le=1)
    gr = _arg(ground_factor_receiver, "ground_factor_receiver", ge=0, le=1)
    far = 1.0 - np.exp(-dp / 50.0)

    def region(h: NDArray[np.float64], g: NDArray[np.float64]) -> NDArray[np.float64]:
        a = 1.5 + 3.0 * np.exp(-0.12 * (h - 5.0) ** 2) * far  # Table 3, a'(h)
        a = a + 5.7 * np.exp(-0.09 * h**2) * (1.0 - np.exp(-2.8e-6 * dp**2))
        b = 1.5 + 8.6 * np.exp(-0.09 * h**2) * far  # b'(h)
        c = 1.5 + 14.0 * np.exp(-0.46 * h**2) * far  # c'(h)
        d = 1.5 + 5.0 * np.exp(-0.9 * h**2) * far  # d'(h)
        high = -1.5 * (1.0 - g)  # 2 kHz .. 8 kHz
        bands = (-1.5 + 0 * g, -1.5 + g * a, -1.5 + g * b, -1.5 + g * c, -1.5 + g * d)
        return np.stack(np.broadcast_arrays(*bands, high, high, high), axis=-1)

    q = np.where(dp <= 30.0 * (hs + hr), 0.0, 1.0 - 30.0 * (hs + hr) / dp)
    middle = -3.0 * q[..., None] * np.where(OCTAVE_BANDS_HZ == 63.0, 1.0, 1.0 - gm[..., None])
    return region(hs, gs) + region(hr, gr) + middle


def barrier_path_difference_m(
    source_to_edge_m: ArrayLike,
    edge_to_receiver_m: ArrayLike,
    distance_m: ArrayLike,
    lateral_offset_m: ArrayLike = 0.0,
    edge_separation_m: ArrayLike = 0.0,
) -> NDArray[np.float64]:
    """Path difference z = [(d_ss + d_sr + e)² + a²]^½ − d (ISO 9613-2:1996 eqs. 16, 17).

    d_ss, d_sr: distances from source to the (first) and from the (last) diffraction edge to
    the receiver; d: direct distance; a: component of the source-receiver distance parallel
    to the edge; e: distance between two edges (0 for single diffraction).
    """
    dss = _arg(source_to_edge_m, "source_to_edge_m", gt=0)
    dsr = _arg(edge_to_receiver_m, "edge_to_receiver_m", gt=0)
    d = _arg(distance_m, "distance_m", gt=0)
    a = _arg(lateral_offset_m, "lateral_offset_m")
    e = _arg(edge_separation_m, "edge_separation_m", ge=0)
    return np.sqrt((dss + dsr + e) ** 2 + a**2) - d


def barrier_screening_db(
    path_difference_m: ArrayLike,
    source_to_edge_m: ArrayLike,
    edge_to_receiver_m: ArrayLike,
    distance_m: ArrayLike,
    edge_separation_m: ArrayLike = 0.0,
    c2: float = 20.0,
) -> NDArray[np.float64]:
    """Barrier screening D_z = 10·lg[3 + (C2/λ)·C3·z·K_met] dB per octave band (ISO
    9613-2:1996 clause 7.4, eqs. 14, 15 and 18), capped at 20 dB for single and 25 dB for
    double diffraction (edge_separation_m > 0).

    λ = 340 m/s divided by the nominal mid frequency; C2 = 20 (40 if ground reflections are
    handled by image sources); C3 = 1 (single) or [1 + (5λ/e)²] / [1/3 + (5λ/e)²] (double);
    K_met = exp[-(1/2000)·√(d_ss·d_sr·d/(2z))] for z > 0, else 1. Validity: the screen must
    interrupt the line of sight, so z >= 0 (0 = grazing); a negative z means no barrier term,
    which is refused rather than invented.
    """
    z = _arg(path_difference_m, "path_difference_m", ge=0)[..., None]
    dss = _arg(source_to_edge_m, "source_to_edge_m", gt=0)[..., None]
    dsr = _arg(edge_to_receiver_m, "edge_to_receiver_m", gt=0)[..., None]
    d = _arg(distance_m, "distance_m", gt=0)[..., None]
    e = _arg(edge_separation_m, "edge_separation_m", ge=0)[..., None]
    _check(c2 in (20.0, 40.0), "c2 must be 20 or 40 (ISO 9613-2 clause 7.4)", "c2")
    wavelength = SPEED_OF_SOUND_M_S / OCTAVE_BANDS_HZ
    ratio_sq = (5.0 * wavelength / np.where(e > 0, e, 1.0)) ** 2
    c3 = np.where(e > 0, (1.0 + ratio_sq) / (1.0 / 3.0 + ratio_sq), 1.0)
    with np.errstate(divide="ignore"):
        k_met = np.where(z > 0, np.exp(-np.sqrt(dss * dsr * d / (2.0 * z)) / 2000.0), 1.0)
    dz = 10.0 * np.log10(3.0 + (c2 / wavelength) * c3 * z * k_met)
    return np.minimum(dz, np.where(e > 0, 25.0, 20.0))


def barrier_attenuation_db(
    screening_db: ArrayLike, ground_attenuation_db: ArrayLike, top_edge: bool = True
) -> NDArray[np.float64]:
    """Barrier attenuation A_bar (ISO 9613-2:1996 eqs. 12 and 13): over the top edge
    A_bar = D_z − A_gr, kept >= 0 (A_gr computed without the barrier); around a vertical
    edge A_bar = D_z."""
    dz = _arg(screening_db, "screening_db")
    a_gr = _arg(ground_attenuation_db, "ground_attenuation_db") if top_edge else 0.0
    return np.maximum(dz - a_gr, 0.0)


def downwind_octave_level_db(
    sound_power_db: ArrayLike,
    divergence_db: ArrayLike,
    atmospheric_db: ArrayLike = 0.0,
    ground_db: ArrayLike = 0.0,
    barrier_db: ArrayLike = 0.0,
    misc_db: ArrayLike = 0.0,
    directivity_correction_db: ArrayLike = 0.0,
) -> NDArray[np.float64]:
    """Downwind octave-band level L_fT(DW) = L_W + D_c − A with A = A_div + A_atm + A_gr +
    A_bar + A_misc (ISO 9613-2:1996 eqs. 3 and 4). All terms broadcast (bands last)."""
    attenuation = _arg(divergence_db, "divergence_db") + _arg(atmospheric_db, "atmospheric_db")
    attenuation = attenuation + _arg(ground_db, "ground_db") + _arg(barrier_db, "barrier_db")
    attenuation = attenuation + _arg(misc_db, "misc_db")
    gain = _arg(sound_power_db, "sound_power_db")
    return gain + _arg(directivity_correction_db, "directivity_correction_db") - attenuation


def a_weighted_level_db(octave_levels_db: ArrayLike) -> NDArray[np.float64]:
    """A-weighted level L_AT = 10·lg Σ_j 10^{0.1[L_fT(j) + A_f(j)]} over the eight octave
    bands on the last axis (ISO 9613-2:1996 eq. 5, A_f per IEC 61672-1). Sum several
    sources afterwards with :func:`energetic_sum_db`."""
    levels = np.asarray(octave_levels_db, dtype=np.float64)
    if levels.ndim == 0 or levels.shape[-1] != 8:
        raise InputError(
            "octave_levels_db needs 8 bands on the last axis", field="octave_levels_db"
        )
    return energetic_sum_db(levels + A_WEIGHTING_DB, axis=-1)


def lden_db(
    lday_db: ArrayLike,
    levening_db: ArrayLike,
    lnight_db: ArrayLike,
    day_hours: float = 12.0,
    evening_hours: float = 4.0,
    night_hours: float = 8.0,
) -> NDArray[np.float64]:
    """Day-evening-night level (Directive 2002/49/EC Annex I point 1.1):
    L_den = 10·lg{[12·10^(L_d/10) + 4·10^((L_e+5)/10) + 8·10^((L_n+10)/10)] / 24}.

    Default periods 12 h / 4 h / 8 h; Annex I lets a Member State shorten the evening by one
    or two hours (lengthening day and/or night), so other splits summing to 24 h are accepted.
    """
    ld, le = _arg(lday_db, "lday_db"), _arg(levening_db, "levening_db")
    ln = _arg(lnight_db, "lnight_db")
    hours = (day_hours, evening_hours, night_hours)
    if min(hours) < 0 or abs(sum(hours) - 24.0) > 1e-9:
        raise InputError(
            "day, evening and night hours must be >= 0 and sum to 24", field="day_hours"
        )
    energy = day_hours * 10.0 ** (ld / 10.0) + evening_hours * 10.0 ** ((le + 5.0) / 10.0)
    return 10.0 * np.log10((energy + night_hours * 10.0 ** ((ln + 10.0) / 10.0)) / 24.0)
