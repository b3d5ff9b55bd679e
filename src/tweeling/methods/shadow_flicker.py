"""Shadow flicker (slagschaduw) of wind turbines at receptors: sun path, worst case, expected.

Coordinates are metres in a local projected CRS (RD New, x east, y north); azimuths are degrees
clockwise from north. RD grid north differs from true north by the meridian convergence (up to
about 2 degrees at the edges of the Netherlands): pass it as ``grid_convergence_deg`` (angle from
true north to grid north, clockwise positive) where that matters; it defaults to 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from tweeling.core.errors import InputError

#: Activiteitenregeling milieubeheer art. 3.12 (in force until the Omgevingswet, 1 January
#: 2024): automatic shutdown where, at sensitive objects within 12 rotor diameters, flicker can
#: occur on average on more than 17 days a year for more than 20 minutes a day.
MAX_DISTANCE_ROTOR_DIAMETERS = 12.0


@dataclass(frozen=True)
class SunPositions:
    """Sun path at a site: UTC times, apparent (refracted) elevation and azimuth in degrees."""

    times_utc: np.ndarray  # datetime64[ns], UTC, naive
    apparent_elevation_deg: np.ndarray
    azimuth_deg: np.ndarray
    time_step_minutes: float
    latitude_deg: float
    longitude_deg: float


@dataclass(frozen=True)
class WorstCaseFlicker:
    """Astronomical worst case per receptor (and per receptor and turbine).

    The ``event_*`` arrays have one entry per (time, receptor, turbine) with flicker: indices
    into ``sun.times_utc``, the receptors and the turbines (input of :func:`expected_flicker`).
    """

    minutes_per_year: np.ndarray  # (n_receptors,)
    hours_per_year: np.ndarray
    days_with_flicker: np.ndarray
    days_over_daily_limit: np.ndarray
    max_minutes_per_day: np.ndarray
    minutes_per_turbine: np.ndarray  # (n_receptors, n_turbines)
    event_time_index: np.ndarray
    event_receptor_index: np.ndarray
    event_turbine_index: np.ndarray


@dataclass(frozen=True)
class ExpectedFlicker:
    """Expected (meteorologically weighted) flicker per receptor and per receptor and turbine."""

    minutes_per_year: np.ndarray
    hours_per_year: np.ndarray
    minutes_per_turbine: np.ndarray


def sun_positions(
    latitude_deg: float,
    longitude_deg: float,
    *,
    year: int = 2025,
    time_step_minutes: float = 1.0,
    altitude_m: float = 0.0,
    pressure_pa: float = 101325.0,
    temperature_c: float = 12.0,
    delta_t_s: float | None = None,
    start_utc: str | np.datetime64 | None = None,
    end_utc: str | np.datetime64 | None = None,
) -> SunPositions:
    """Sun positions over a year (or ``[start_utc, end_utc)``) by the NREL SPA.

    Method: Reda, I. and Andreas, A. (2004/2008), *Solar Position Algorithm for Solar Radiation
    Applications*, NREL/TP-560-34302 (Solar Energy 76(5), 577-589), as implemented by
    ``pvlib.solarposition.spa_python``. The apparent elevation is the topocentric elevation with
    the SPA refraction correction, e = e0 + de, and the azimuth is the topocentric azimuth
    eastward from north, Phi = Gamma + 180 (SPA eqs. 41-46). Times are UTC, sampled every
    ``time_step_minutes`` from 1 January 00:00 of ``year``; ``delta_t_s`` None lets pvlib
    estimate Delta T for the year.
    """
    _check_range(latitude_deg, -90.0, 90.0, "latitude_deg")
    _check_range(longitude_deg, -180.0, 180.0, "longitude_deg")
    if not time_step_minutes > 0:
        raise InputError("the time step must be positive", field="time_step_minutes")
    if not 1 <= int(year) <= 9999:
        raise InputError(f"year {year!r} is out of range", field="year")
    start = _utc(start_utc if start_utc is not None else f"{int(year)}-01-01")
    end = _utc(end_utc if end_utc is not None else f"{int(year) + 1}-01-01")
    if not end > start:
        raise InputError("end_utc must be after start_utc", field="end_utc")
    step = pd.Timedelta(minutes=time_step_minutes)
    times = pd.date_range(start, end, freq=step, inclusive="left").tz_localize("UTC")
    import pvlib  # deferred: heavy import, only needed here

    sp = pvlib.solarposition.spa_python(
        times, latitude_deg, longitude_deg, altitude=altitude_m, pressure=pressure_pa,
        temperature=temperature_c, delta_t=delta_t_s,
    )  # fmt: skip
    return SunPositions(
        times_utc=times.tz_convert(None).to_numpy(),
        apparent_elevation_deg=sp["apparent_elevation"].to_numpy(dtype=float),
        azimuth_deg=sp["azimuth"].to_numpy(dtype=float),
        time_step_minutes=float(time_step_minutes),
        latitude_deg=float(latitude_deg),
        longitude_deg=float(longitude_deg),
    )


def lai_max_shadow_distance_m(
    blade_chord_m, *, min_sun_coverage: float = 0.2, sun_angular_diameter_deg: float = 0.533
) -> np.ndarray:
    """Distance beyond which a blade covers less than ``min_sun_coverage`` of the solar disc.

    Criterion of the LAI *Hinweise zur Ermittlung und Beurteilung der optischen Immissionen von
    Windenergieanlagen* (WKA-Schattenwurfhinweise, LAI 2002): brightness changes are neglected
    where the rotor blade covers less than 20 % of the sun. The formula is our geometric reading
    of that criterion (not quoted from the LAI text): a blade of chord w at distance d is a strip of
    angular width w/d across the solar disc of angular radius a; through the disc centre it
    covers F(x) = (2/pi) (x sqrt(1 - x^2) + asin x) of the disc, x = w / (2 d a). Solving
    F(x0) = coverage gives d_max = w / (2 a x0), about 680 m per metre of chord at 20 %.
    Which chord (mean or maximum) to use is the user's choice and drives the result.
    """
    chord = np.asarray(blade_chord_m, dtype=float)
    if not np.all(np.isfinite(chord)) or np.any(chord <= 0):
        raise InputError("blade chords must be positive", field="blade_chord_m")
    _check_range(min_sun_coverage, 1e-9, 1.0, "min_sun_coverage")
    _check_range(sun_angular_diameter_deg, 1e-6, 10.0, "sun_angular_diameter_deg")
    frac = lambda x: 2 / np.pi * (x * np.sqrt(1 - x * x) + np.arcsin(x))  # noqa: E731
    x0 = 1.0 if min_sun_coverage >= 1 else brentq(lambda x: frac(x) - min_sun_coverage, 0, 1)
    return chord / (2 * np.radians(sun_angular_diameter_deg / 2) * x0)


def shadow_flicker_worst_case(
    receptors_xyz_m,
    turbines_m,
    sun: SunPositions,
    *,
    min_sun_elevation_deg: float = 3.0,
    max_distance_m=None,
    daily_limit_minutes: float = 20.0,
    grid_convergence_deg: float = 0.0,
    chunk_size: int = 4096,
) -> WorstCaseFlicker:
    """Astronomical worst case ("astronomisch maximal mögliche Beschattungsdauer").

    Assumptions of the LAI WKA-Schattenwurfhinweise worst case: the sun always shines, the
    rotor always turns and always faces the sun-receptor line, so the rotor disc acts as a
    sphere of radius R = D/2 around the hub; the sun counts from ``min_sun_elevation_deg``
    (LAI: 3 degrees) and is a point (the centre of its disc). With v = hub - receptor, L = |v|
    and s the unit vector towards the sun, the ray receptor->sun passes within R of the hub iff
    v.s > 0 and L sin(theta) <= R, i.e. s.v/L >= sqrt(1 - (R/L)^2) (always when L <= R); every
    such time step counts as ``time_step_minutes`` of flicker. Receptor-turbine pairs further apart
    (horizontally) than ``max_distance_m`` (scalar or per turbine; default 12 D, the zone of
    Activiteitenregeling art. 3.12, see also :func:`lai_max_shadow_distance_m`) are skipped.

    ``receptors_xyz_m``: (n, 3) x, y, z (e.g. NAP height of the window). ``turbines_m``: (m, 5)
    x, y, ground z, hub height, rotor diameter. Times below the minimum elevation are skipped;
    the rest are sorted by azimuth and processed in chunks, each against only the pairs whose
    cone of flicker directions (half-angle asin(R/L)) can meet the chunk's azimuth and
    elevation range. Days are split at local mean solar midnight (UTC + longitude / 15 h);
    ``days_over_daily_limit`` counts days with more than ``daily_limit_minutes``.
    """
    rec, tur = _check_geometry(receptors_xyz_m, turbines_m)
    _check_sun(sun)
    _check_range(min_sun_elevation_deg, -90.0, 90.0, "min_sun_elevation_deg")
    if max_distance_m is None:
        max_dist = MAX_DISTANCE_ROTOR_DIAMETERS * tur[:, 4]
    else:
        max_dist = np.broadcast_to(np.asarray(max_distance_m, dtype=float), (len(tur),))
        if not np.all(max_dist >= 0):
            raise InputError("maximum distances must be >= 0", field="max_distance_m")
    if int(chunk_size) < 1:
        raise InputError("chunk size must be positive", field="chunk_size")
    n_r, n_t, n_times = len(rec), len(tur), len(sun.times_utc)

    hub = np.column_stack([tur[:, 0], tur[:, 1], tur[:, 2] + tur[:, 3]])
    v = hub[None, :, :] - rec[:, None, :]  # (n_r, n_t, 3)
    near = np.hypot(v[..., 0], v[..., 1]) <= max_dist[None, :]
    pair_r, pair_t = np.nonzero(near)
    v = v[pair_r, pair_t]
    radius = tur[pair_t, 4] / 2
    length = np.linalg.norm(v, axis=1)
    u = v / np.where(length > 0, length, 1.0)[:, None]
    ratio = np.clip(radius / np.where(length > 0, length, 1.0), 0.0, 1.0)
    cos_thr = np.where(length > radius, np.sqrt(1 - ratio**2), -np.inf)
    rho = np.degrees(np.arcsin(ratio))
    el_u = np.degrees(np.arcsin(np.clip(u[:, 2], -1, 1)))
    az_u = np.degrees(np.arctan2(u[:, 0], u[:, 1])) % 360
    caps_zenith = (rho + np.abs(el_u) >= 90) | (length <= radius)
    sin_ratio = np.sin(np.radians(rho)) / np.cos(np.radians(np.minimum(np.abs(el_u), 89.999)))
    half_az = np.where(caps_zenith, 180.0, np.degrees(np.arcsin(np.clip(sin_ratio, 0, 1))))
    el_lo = np.where(length <= radius, -90.0, el_u - rho)
    el_hi = np.where(length <= radius, 90.0, el_u + rho)

    day_idx = np.flatnonzero(sun.apparent_elevation_deg >= min_sun_elevation_deg)
    s_all = _sun_vectors(sun, grid_convergence_deg)
    az_grid = (sun.azimuth_deg - grid_convergence_deg) % 360
    order = day_idx[np.argsort(az_grid[day_idx], kind="stable")]
    ev_t, ev_p = [], []
    for start in range(0, len(order) if len(pair_r) else 0, int(chunk_size)):
        idx = order[start : start + int(chunk_size)]
        a_lo, a_hi = az_grid[idx[0]], az_grid[idx[-1]]
        e = sun.apparent_elevation_deg[idx]
        gap = np.abs((az_u - (a_lo + a_hi) / 2 + 180) % 360 - 180)
        sel = np.flatnonzero(
            (gap <= (a_hi - a_lo) / 2 + half_az + 1e-9) & (el_hi >= e.min()) & (el_lo <= e.max())
        )
        if not len(sel):
            continue
        hit_t, hit_p = np.nonzero(s_all[idx] @ u[sel].T >= cos_thr[sel])
        ev_t.append(idx[hit_t])
        ev_p.append(sel[hit_p])
    ev_t = np.concatenate(ev_t) if ev_t else np.zeros(0, np.int64)
    ev_p = np.concatenate(ev_p) if ev_p else np.zeros(0, np.int64)
    ev_r, ev_j = pair_r[ev_p], pair_t[ev_p]

    dt = sun.time_step_minutes
    per_turbine = np.bincount(ev_r * n_t + ev_j, minlength=n_r * n_t).reshape(n_r, n_t) * dt
    union = np.sort(ev_r.astype(np.int64) * n_times + ev_t)
    union = union[np.r_[True, union[1:] != union[:-1]]] if len(union) else union
    u_r, u_t = union // n_times, union % n_times
    minutes = np.bincount(u_r, minlength=n_r) * dt
    day = _solar_day(sun)
    n_days = int(day.max(initial=0)) + 1
    per_day = np.bincount(u_r * n_days + day[u_t], minlength=n_r * n_days) * dt
    per_day = per_day.reshape(n_r, n_days)
    return WorstCaseFlicker(
        minutes_per_year=minutes,
        hours_per_year=minutes / 60,
        days_with_flicker=(per_day > 0).sum(axis=1),
        days_over_daily_limit=(per_day > daily_limit_minutes).sum(axis=1),
        max_minutes_per_day=per_day.max(axis=1),
        minutes_per_turbine=per_turbine,
        event_time_index=ev_t,
        event_receptor_index=ev_r,
        event_turbine_index=ev_j,
    )


def expected_flicker(
    worst: WorstCaseFlicker,
    receptors_xyz_m,
    turbines_m,
    sun: SunPositions,
    *,
    sunshine_fraction_by_month,
    wind_sector_fraction,
    operating_fraction=1.0,
    grid_convergence_deg: float = 0.0,
) -> ExpectedFlicker:
    """Expected ("realistic", meteorologically likely) flicker from the worst-case events.

    Each worst-case minute (time t, receptor, turbine) is weighted by
    w = S(month of t) * sum_k f_k o_k c_k / 30, where S is the fraction of the astronomically
    possible sunshine hours in that month (``sunshine_fraction_by_month``, 12 values, e.g. from
    KNMI climate normals of a nearby station; no default is given), f_k the fraction of time
    the wind blows from 30-degree sector k (``wind_sector_fraction``, 12 values clockwise from
    north, centred on 0, 30, ... degrees, summing to 1), o_k the fraction of that time the
    turbine runs (``operating_fraction``, scalar or 12 values), and c_k the degrees of sector k
    (wind direction uniform within a sector) for which the ray receptor->sun hits the actual
    rotor disc (radius R, centred at the hub, plane perpendicular to the wind) rather than the
    worst-case sphere. Exactly: with A and B the ends of the part of the ray within R of the
    hub (relative to the hub, beyond the receptor), the vertical rotor plane hits iff it
    separates A and B, i.e. iff its horizontal direction lies in the angle between A_h and B_h
    (modulo 180 degrees). Expected minutes = sum w * time step <= worst case. Per receptor,
    simultaneous flicker from several turbines counts once (shared wind, sun and operation):
    for such minutes the union of the hit directions is integrated on a 1-degree grid.
    """
    rec, tur = _check_geometry(receptors_xyz_m, turbines_m)
    sunshine = _fractions(sunshine_fraction_by_month, 12, "sunshine_fraction_by_month")
    wind = _fractions(wind_sector_fraction, 12, "wind_sector_fraction")
    if abs(wind.sum() - 1) > 1e-6:
        raise InputError("wind sector fractions must sum to 1", field="wind_sector_fraction")
    sector_w = wind * _fractions(
        np.broadcast_to(operating_fraction, (12,)), 12, "operating_fraction"
    )
    n_r, n_t, n_times, dt = len(rec), len(tur), len(sun.times_utc), sun.time_step_minutes
    t, r, j = worst.event_time_index, worst.event_receptor_index, worst.event_turbine_index
    if len(t) and (t.max() >= n_times or r.max() >= n_r or j.max() >= n_t):
        raise InputError("the worst case was computed for other inputs", field="worst")
    key = r.astype(np.int64) * n_times + t
    order = np.argsort(key, kind="stable")
    t, r, j, key = t[order], r[order], j[order], key[order]
    s = _sun_vectors(sun, grid_convergence_deg)[t]
    v = np.column_stack([tur[j, 0], tur[j, 1], tur[j, 2] + tur[j, 3]]) - rec[r]
    sv = np.einsum("ij,ij->i", s, v)
    half = np.sqrt(np.maximum((tur[j, 4] / 2) ** 2 - np.einsum("ij,ij->i", v, v) + sv**2, 0))
    ends = [np.maximum(sv - half, 0), sv + half]  # ray parameters of A and B
    az_ab, flat = [], np.zeros(len(t), bool)
    for lam in ends:
        hx, hy = lam * s[:, 0] - v[:, 0], lam * s[:, 1] - v[:, 1]
        az_ab.append(np.degrees(np.arctan2(hx, hy)))
        flat |= np.hypot(hx, hy) <= 1e-9 * tur[j, 4]  # on the hub's vertical: every plane
    diff = (az_ab[1] - az_ab[0]) % 360
    width = np.where(flat, 180.0, np.minimum(diff, 360 - diff))
    # wind directions (grid degrees) that hit: [start, start + width] and the same + 180
    start = np.where(diff <= 180, az_ab[0], az_ab[1]) + 90 + grid_convergence_deg
    # weight of an arc [a, b] = W(b) - W(a), W the cumulative weight from true north
    knots = np.r_[0, np.arange(15, 360, 30), 360]
    cum = np.r_[0, np.cumsum(np.r_[sector_w[0] / 2, sector_w[1:], sector_w[0] / 2])]
    cum_w = lambda x: np.interp(x % 360, knots, cum) + x // 360 * cum[-1]  # noqa: E731
    prob = sum(cum_w(arc + width) - cum_w(arc) for arc in (start, start + 180))
    sun_w = sunshine[_months(sun)[t]]
    per_turbine = np.bincount(r * n_t + j, sun_w * prob, minlength=n_r * n_t) * dt
    group_p = prob.copy()
    multi = np.flatnonzero(np.r_[key[1:] == key[:-1], False] | np.r_[False, key[1:] == key[:-1]])
    if len(multi):  # same receptor and minute, several turbines: union on a 1-degree grid
        new_group = np.r_[True, key[multi][1:] != key[multi][:-1]]
        group, first = np.cumsum(new_group) - 1, multi[new_group]
        edges = np.zeros((721, len(first)), np.int16)  # +1/-1 at arc ends over two turns
        for arc in (start[multi] % 360, (start[multi] + 180) % 360):
            lo = np.ceil(arc - 0.5).astype(int)  # 1-degree bins whose centre is in the arc
            hi = np.maximum(np.floor(arc + width[multi] - 0.5).astype(int) + 1, lo)
            np.add.at(edges, (lo, group), 1)
            np.add.at(edges, (hi, group), -1)
        cover = np.cumsum(edges, axis=0, dtype=np.int16)[:720] > 0
        grid_w = sector_w[np.round((np.arange(360) + 0.5) / 30).astype(int) % 12] / 30
        group_p[multi] = 0
        group_p[first] = grid_w @ (cover[:360] | cover[360:])
    minutes = np.bincount(r, sun_w * group_p, minlength=n_r) * dt
    return ExpectedFlicker(
        minutes_per_year=minutes,
        hours_per_year=minutes / 60,
        minutes_per_turbine=per_turbine.reshape(n_r, n_t),
    )


def _months(sun: SunPositions) -> np.ndarray:
    """Calendar month index (0 = January) of each UTC time of ``sun``."""
    return sun.times_utc.astype("datetime64[M]").astype(np.int64) % 12


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _sun_vectors(sun: SunPositions, grid_convergence_deg: float) -> np.ndarray:
    az = np.radians(sun.azimuth_deg - grid_convergence_deg)
    el = np.radians(sun.apparent_elevation_deg)
    return np.column_stack([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)])


def _solar_day(sun: SunPositions) -> np.ndarray:
    seconds = sun.times_utc.astype("datetime64[s]").astype(np.int64)
    day = np.floor((seconds + sun.longitude_deg / 15 * 3600) / 86400).astype(np.int64)
    return day - day.min() if len(day) else day


def _check_sun(sun: SunPositions) -> None:
    n = len(sun.times_utc)
    if len(sun.apparent_elevation_deg) != n or len(sun.azimuth_deg) != n:
        raise InputError("sun times, elevations and azimuths differ in length", field="sun")
    if not sun.time_step_minutes > 0:
        raise InputError("the time step must be positive", field="time_step_minutes")


def _check_geometry(receptors_xyz_m, turbines_m) -> tuple[np.ndarray, np.ndarray]:
    rec = np.asarray(receptors_xyz_m, dtype=float)
    tur = np.asarray(turbines_m, dtype=float)
    if rec.ndim != 2 or rec.shape[1] != 3 or not np.all(np.isfinite(rec)):
        raise InputError("receptors must be finite (n, 3) x, y, z", field="receptors_xyz_m")
    if tur.ndim != 2 or tur.shape[1] != 5 or not np.all(np.isfinite(tur)):
        raise InputError(
            "turbines must be finite (n, 5) x, y, ground z, hub height, rotor diameter",
            field="turbines_m",
        )
    if np.any(tur[:, 4] <= 0):
        raise InputError("rotor diameters must be positive", field="rotor_diameter_m")
    if np.any(tur[:, 3] < tur[:, 4] / 2):
        raise InputError("hub height is below the rotor radius", field="hub_height_m")
    return rec, tur


def _fractions(values, n: int, field: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.shape != (n,) or not np.all((arr >= 0) & (arr <= 1)):
        raise InputError(f"need {n} fractions between 0 and 1", field=field)
    return arr


def _check_range(value: float, lo: float, hi: float, field: str) -> None:
    if not (np.isfinite(value) and lo <= value <= hi):
        raise InputError(f"{value!r} is outside [{lo}, {hi}]", field=field)
