"""Wind turbine methods: sun path (NREL SPA), shadow flicker, objects inside safety contours."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tweeling.core.errors import InputError
from tweeling.methods import shadow_flicker as sf
from tweeling.methods import turbine_safety as ts

TURBINE = np.array([[0.0, 0.0, 0.0, 100.0, 100.0]])  # x, y, ground z, hub height, diameter


@pytest.fixture(scope="module")
def sun_nl() -> sf.SunPositions:
    """A year of sun positions in the middle of the Netherlands, every 10 minutes."""
    return sf.sun_positions(52.0, 5.0, year=2025, time_step_minutes=10)


def fixed_sun(azimuth_deg, elevation_deg, *, start="2025-03-01T12:00") -> sf.SunPositions:
    """Hand-made sun path, one minute per entry, at longitude 0 (days split at UTC midnight)."""
    az = np.asarray(azimuth_deg, dtype=float)
    times = np.datetime64(start, "ns") + np.arange(len(az)) * np.timedelta64(60, "s")
    el = np.broadcast_to(np.asarray(elevation_deg, dtype=float), az.shape)
    return sf.SunPositions(times, el.copy(), az, 1.0, 52.0, 0.0)


# (a) NREL SPA -------------------------------------------------------------------------------


def test_sun_position_matches_the_nrel_spa_reference_example():
    # Reda & Andreas, "Solar Position Algorithm for Solar Radiation Applications",
    # NREL/TP-560-34302 (rev. Jan 2008) / Solar Energy 76(5) 2004, worked example in the
    # appendix: 17 Oct 2003 12:30:30 local time (UTC-7), lat 39.742476, lon -105.1786,
    # elevation 1830.14 m, 820 mbar, 11 degC, Delta T 67 s -> topocentric zenith 50.11162 deg,
    # topocentric azimuth (eastward from north) 194.34024 deg.
    sun = sf.sun_positions(
        39.742476, -105.1786, altitude_m=1830.14, pressure_pa=82000.0, temperature_c=11.0,
        delta_t_s=67.0, start_utc="2003-10-17T12:30:30-07:00", end_utc="2003-10-17T19:31:00Z",
    )  # fmt: skip
    assert sun.times_utc[0] == np.datetime64("2003-10-17T19:30:30")
    assert 90.0 - sun.apparent_elevation_deg[0] == pytest.approx(50.11162, abs=1e-5)
    assert sun.azimuth_deg[0] == pytest.approx(194.34024, abs=1e-5)


def test_a_year_at_one_minute_steps_has_every_minute(sun_nl):
    sun = sf.sun_positions(52.0, 5.0, year=2024, start_utc="2024-02-28", end_utc="2024-03-01")
    assert len(sun.times_utc) == 2 * 1440  # 2024 is a leap year: 28 and 29 February
    assert len(sun_nl.times_utc) == 365 * 144


# (b) geometry -------------------------------------------------------------------------------


def test_the_sun_is_never_in_the_north_at_52_degrees(sun_nl):
    up = sun_nl.apparent_elevation_deg >= 3.0
    from_north = np.minimum(sun_nl.azimuth_deg, 360 - sun_nl.azimuth_deg)[up]
    assert from_north.min() > 50.0  # the premise of the next test, checked, not assumed


def test_flicker_direction_follows_the_sun(sun_nl):
    # receptors 300 m south, west, east and north of the turbine, 5 m above its foot
    rec = np.array([[0, -300, 5], [-300, 0, 5], [300, 0, 5], [0, 300, 5]], dtype=float)
    res = sf.shadow_flicker_worst_case(rec, TURBINE, sun_nl)
    south, west, east, north = res.minutes_per_year
    assert south == 0  # would need the sun in the north
    assert west > 0 and east > 0 and north > 0
    az = sun_nl.azimuth_deg[res.event_time_index]
    hours = sun_nl.times_utc.astype("datetime64[m]").astype(np.int64) % 1440 / 60
    solar_hour = (hours[res.event_time_index] + 5.0 / 15) % 24  # mean solar time at 5 deg E
    of = res.event_receptor_index
    assert np.all((az[of == 1] > 0) & (az[of == 1] < 180))  # west: sun in the east...
    assert np.all(solar_hour[of == 1] < 12.3)  # ...so in the morning
    assert np.all((az[of == 2] > 180) & (solar_hour[of == 2] > 11.7))  # east: afternoon
    assert np.all(np.abs(az[of == 3] - 180) < 30)  # north: around noon, low winter sun
    months = sun_nl.times_utc[res.event_time_index[of == 3]].astype("datetime64[M]")
    assert set((months.astype(np.int64) % 12 + 1).tolist()) <= {1, 2, 3, 10, 11, 12}


def test_pruned_search_equals_brute_force(sun_nl):
    rng = np.random.default_rng(7)
    tur = np.array([[0, 0, 0, 100, 120], [400, 100, 2, 80, 90.0]])
    rec = np.column_stack(
        [rng.uniform(-900, 900, 40), rng.uniform(-900, 900, 40), rng.uniform(0, 40, 40)]
    )
    rec[0] = [0, 0, 130]  # inside the rotor sphere
    res = sf.shadow_flicker_worst_case(rec, tur, sun_nl, chunk_size=500, max_distance_m=1e4)
    got = set(
        zip(res.event_time_index, res.event_receptor_index, res.event_turbine_index, strict=True)
    )
    up = sun_nl.apparent_elevation_deg >= 3
    el, az = np.radians(sun_nl.apparent_elevation_deg), np.radians(sun_nl.azimuth_deg)
    s = np.column_stack([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)])
    want = set()
    for j, (x, y, z, hub, d) in enumerate(tur):
        for i, p in enumerate(rec):
            v = np.array([x, y, z + hub]) - p
            along = s @ v
            close = (along > 0) & (v @ v - along**2 <= (d / 2) ** 2) | (v @ v <= (d / 2) ** 2)
            want |= {(t, i, j) for t in np.flatnonzero(close & up)}
    assert got == want and len(want) > 1000


def test_daily_statistics_and_turbines_counted_once():
    # the sun towards the hubs for 10 + 15 minutes on 1 March (morning and afternoon: one day)
    # and 10 minutes on 2 March, elsewhere in between
    def minutes(start, n):
        return np.datetime64(start, "ns") + np.arange(n) * np.timedelta64(1, "m")

    times = np.r_[
        minutes("2025-03-01T09:00", 10), minutes("2025-03-01T14:00", 15),
        minutes("2025-03-01T15:00", 100), minutes("2025-03-02T13:00", 10),
    ]  # fmt: skip
    az = np.r_[np.full(25, 90.0), np.full(100, 200.0), np.full(10, 90.0)]
    sun = sf.SunPositions(times, np.zeros(135), az, 1.0, 52.0, 0.0)
    tur = np.array([[0, 0, 0, 100, 100], [200, 0, 0, 100, 100.0]])  # both due east
    rec = np.array([[-500.0, 0, 100]])
    res = sf.shadow_flicker_worst_case(rec, tur, sun, min_sun_elevation_deg=-1)
    assert res.minutes_per_turbine.tolist() == [[35, 35]]
    assert res.minutes_per_year.tolist() == [35]  # a minute from two turbines counts once
    assert res.days_with_flicker.tolist() == [2]
    assert res.days_over_daily_limit.tolist() == [1]
    assert res.max_minutes_per_day.tolist() == [25]


# (c) monotonicity and the distance limit ----------------------------------------------------


def test_larger_rotor_or_receptor_nearer_along_the_line_never_flickers_less(sun_nl):
    rng = np.random.default_rng(3)
    rec = np.column_stack(
        [rng.uniform(-800, 800, 30), rng.uniform(-800, 800, 30), rng.uniform(0, 20, 30)]
    )
    small = sf.shadow_flicker_worst_case(rec, TURBINE, sun_nl)
    big_tur = TURBINE.copy()
    big_tur[0, 4] = 130.0
    big = sf.shadow_flicker_worst_case(rec, big_tur, sun_nl)
    assert np.all(big.minutes_per_year >= small.minutes_per_year)
    assert big.minutes_per_year.sum() > small.minutes_per_year.sum()
    # Moving a receptor towards the hub along the receptor-hub line only widens its cone of
    # flicker directions. (Moving it horizontally nearer also changes the cone's elevation and
    # can lose minutes, e.g. low winter sun for a receptor north of the turbine.)
    hub = np.array([0.0, 0.0, 100.0])
    prev = small.minutes_per_year
    for fraction in (0.8, 0.6, 0.4):
        nearer = hub + fraction * (rec - hub)
        now = sf.shadow_flicker_worst_case(nearer, TURBINE, sun_nl).minutes_per_year
        assert np.all(now >= prev)
        prev = now


def test_no_flicker_beyond_the_maximum_distance(sun_nl):
    rec = np.array([[-1150.0, 0, 0], [-1250.0, 0, 0]])  # 11.5 and 12.5 rotor diameters west
    default = sf.shadow_flicker_worst_case(rec, TURBINE, sun_nl)  # 12 D
    assert default.minutes_per_year[0] > 0 and default.minutes_per_year[1] == 0
    wider = sf.shadow_flicker_worst_case(rec, TURBINE, sun_nl, max_distance_m=1300.0)
    assert wider.minutes_per_year[1] > 0
    narrow = sf.shadow_flicker_worst_case(rec, TURBINE, sun_nl, max_distance_m=1000.0)
    assert narrow.minutes_per_year.sum() == 0


# (d) minimum sun elevation ------------------------------------------------------------------


def test_no_flicker_with_the_sun_below_3_degrees(sun_nl):
    # a receptor at hub height 1 km west sees the rotor between -2.9 and +2.9 degrees
    rec = np.array([[-1000.0, 0, 100]])
    res = sf.shadow_flicker_worst_case(rec, TURBINE, sun_nl, max_distance_m=2000)
    assert res.minutes_per_year[0] == 0
    low = sf.shadow_flicker_worst_case(
        rec, TURBINE, sun_nl, max_distance_m=2000, min_sun_elevation_deg=-1.0
    )
    assert low.minutes_per_year[0] > 0
    many = sf.shadow_flicker_worst_case(np.array([[-300.0, 0, 5]]), TURBINE, sun_nl)
    assert sun_nl.apparent_elevation_deg[many.event_time_index].min() >= 3.0


# (e) expected (realistic) flicker -----------------------------------------------------------

EAST = np.eye(12)[3]  # all wind from the east sector (75-105 degrees)
NORTH = np.eye(12)[0]


def test_expected_flicker_matches_the_disc_geometry():
    # Horizontal ray from the east passing d = R cos(10 deg) beside the hub: the rotor plane
    # must lie within 10 degrees of north-south, i.e. wind within 10 degrees of east or west.
    radius = 50.0
    rec = np.array([[-500.0, radius * np.cos(np.radians(10)), 100.0]])
    sun = fixed_sun([90.0], 0.0)
    worst = sf.shadow_flicker_worst_case(rec, TURBINE, sun, min_sun_elevation_deg=-1)
    assert worst.minutes_per_year.tolist() == [1.0]
    kw = {"sunshine_fraction_by_month": np.ones(12)}
    east = sf.expected_flicker(worst, rec, TURBINE, sun, wind_sector_fraction=EAST, **kw)
    assert east.minutes_per_year[0] == pytest.approx(20 / 30)  # 20 of the sector's 30 degrees
    north = sf.expected_flicker(worst, rec, TURBINE, sun, wind_sector_fraction=NORTH, **kw)
    assert north.minutes_per_year[0] == pytest.approx(0.0)
    half = sf.expected_flicker(
        worst, rec, TURBINE, sun, wind_sector_fraction=EAST, operating_fraction=0.5,
        sunshine_fraction_by_month=np.arange(12) / 20,  # March: 0.1
    )  # fmt: skip
    assert half.minutes_per_year[0] == pytest.approx(0.1 * 0.5 * 20 / 30)


def test_expected_flicker_is_at_most_the_worst_case(sun_nl):
    rng = np.random.default_rng(11)
    tur = np.array([[0, 0, 0, 100, 100], [300, 0, 0, 100, 100.0]])
    rec = np.column_stack(
        [rng.uniform(-900, 900, 30), rng.uniform(-900, 900, 30), rng.uniform(0, 20, 30)]
    )
    rec[0] = [900, 0, 5]  # in line with both turbines
    worst = sf.shadow_flicker_worst_case(rec, tur, sun_nl)
    wind = rng.random(12)
    exp = sf.expected_flicker(
        worst, rec, tur, sun_nl, sunshine_fraction_by_month=np.ones(12),
        wind_sector_fraction=wind / wind.sum(),
    )  # fmt: skip
    assert np.all(exp.minutes_per_year <= worst.minutes_per_year + 1e-9)
    assert np.all(exp.minutes_per_turbine <= worst.minutes_per_turbine + 1e-9)
    assert exp.minutes_per_year.sum() > 0
    # shared minutes count once: a receptor's total is at most the sum over its turbines
    assert np.all(exp.minutes_per_year <= exp.minutes_per_turbine.sum(axis=1) + 1e-9)
    assert exp.minutes_per_year[0] < exp.minutes_per_turbine[0].sum()


# LAI 20 % criterion -------------------------------------------------------------------------


def test_lai_distance_gives_20_percent_sun_coverage():
    dist = sf.lai_max_shadow_distance_m([1.0, 2.5])
    assert dist[1] == pytest.approx(2.5 * dist[0])
    # independent check: share of the solar disc (radius a) inside a strip of width w/d
    a = np.radians(0.533 / 2)
    grid = (np.arange(4000) + 0.5) / 4000 * 2 - 1
    xx, yy = np.meshgrid(grid, grid)
    disc = xx**2 + yy**2 <= 1
    strip = np.abs(xx) <= 1.0 / dist[0] / 2 / a
    assert (disc & strip).sum() / disc.sum() == pytest.approx(0.2, abs=1e-3)


# (f) objects inside safety contours ---------------------------------------------------------
# The Handboek Risicozonering Windturbines approximations could not be verified, so there are
# no handbook example numbers to test; the helpers take contour distances from a risk analysis.


def test_objects_inside_a_contour():
    geoms = np.array(
        [
            shapely.box(100, -5, 110, 5),  # inside
            shapely.box(195, -5, 205, 5),  # straddles the 200 m contour
            shapely.Point(0, 300),  # outside
            shapely.box(1030, -5, 1040, 5),  # near the second turbine
        ]
    )
    ids = np.array(["a", "b", "c", "d"])
    contour = ts.circular_contours([0.0], [0.0], [200.0])[0]
    assert ts.objects_within_contour(geoms, ids, contour)[0].tolist() == ["a", "b"]
    assert ts.objects_within_contour(geoms, ids, contour, rule="within")[0].tolist() == ["a"]
    found, found_geoms = ts.objects_within_distance(geoms, ids, [0, 1000], [0, 0], [200, 40])
    assert found.tolist() == ["a", "b", "d"]
    assert found_geoms[2].equals(geoms[3])
    union = shapely.union_all(ts.circular_contours([0, 1000], [0, 0], [200, 40]))
    assert ts.objects_within_contour(geoms, ids, union)[0].tolist() == ["a", "b", "d"]


# (g) invalid input --------------------------------------------------------------------------


def test_invalid_site_raises_before_computing_sun_positions(monkeypatch):
    import pvlib

    def boom(*args, **kwargs):
        raise AssertionError("sun positions computed despite invalid input")

    monkeypatch.setattr(pvlib.solarposition, "spa_python", boom)
    for kwargs, field in [
        ({"latitude_deg": 95.0, "longitude_deg": 5.0}, "latitude_deg"),
        ({"latitude_deg": 52.0, "longitude_deg": 185.0}, "longitude_deg"),
        (dict(latitude_deg=52.0, longitude_deg=5.0, time_step_minutes=0), "time_step_minutes"),
    ]:
        with pytest.raises(InputError) as err:
            sf.sun_positions(**kwargs)
        assert err.value.field == field


@pytest.mark.parametrize(
    ("turbine", "field"),
    [
        ([0, 0, 0, 40, 100], "hub_height_m"),  # hub below the rotor radius
        ([0, 0, 0, 100, -10], "rotor_diameter_m"),
        ([0, 0, 0, 100], "turbines_m"),
    ],
)
def test_invalid_turbines_raise_naming_the_field(turbine, field):
    sun = fixed_sun([90.0], 10.0)
    with pytest.raises(InputError) as err:
        sf.shadow_flicker_worst_case([[0, 0, 0]], [turbine], sun)
    assert err.value.field == field


def expect_field(field, call, *args, **kwargs):
    with pytest.raises(InputError) as err:
        call(*args, **kwargs)
    assert err.value.field == field


def test_other_invalid_inputs_raise_naming_the_field():
    sun = fixed_sun([90.0], 10.0)
    rec = np.array([[-300.0, 0, 5]])
    worst = sf.shadow_flicker_worst_case(rec, TURBINE, sun)
    expect_field("receptors_xyz_m", sf.shadow_flicker_worst_case, [[0, 0]], TURBINE, sun)
    expect_field(
        "max_distance_m", sf.shadow_flicker_worst_case, rec, TURBINE, sun, max_distance_m=-1
    )
    ones = np.ones(12)
    expect_field(
        "sunshine_fraction_by_month", sf.expected_flicker, worst, rec, TURBINE, sun,
        sunshine_fraction_by_month=ones[:11], wind_sector_fraction=EAST,
    )  # fmt: skip
    expect_field(
        "wind_sector_fraction", sf.expected_flicker, worst, rec, TURBINE, sun,
        sunshine_fraction_by_month=ones, wind_sector_fraction=EAST * 0.5,
    )  # fmt: skip
    expect_field(
        "operating_fraction", sf.expected_flicker, worst, rec, TURBINE, sun,
        sunshine_fraction_by_month=ones, wind_sector_fraction=EAST, operating_fraction=1.5,
    )  # fmt: skip
    expect_field("blade_chord_m", sf.lai_max_shadow_distance_m, -1.0)
    expect_field("contour_distance_m", ts.circular_contours, [0], [0], [-5])
    point = [shapely.Point(0, 0)]
    expect_field("contour", ts.objects_within_contour, point, ["a"], shapely.Point(0, 0))
    expect_field("object_ids", ts.objects_within_distance, point, ["a", "b"], [0], [0], 5)
