"""Synthetic buildings for scale tests fall where people live: in the CBS municipalities, in
proportion to their inhabitants, inside their boundaries — not a uniform scatter."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tweeling.sources.synthetic import MUNICIPALITIES, generate, municipalities


@pytest.fixture(scope="module")
def places(shared_data):
    return municipalities(shared_data / MUNICIPALITIES)


def test_the_municipalities_are_cbs_s_with_their_inhabitants(places):
    # CBS Wijk- en buurtkaart 2015: 393 municipalities (plus water areas without inhabitants,
    # left out); the Netherlands had 16.9 million inhabitants on 1 January 2015 (CBS StatLine)
    assert len(places.names) == 393
    assert 16.5e6 < places.inhabitants.sum() < 17.2e6
    amsterdam = places.inhabitants[places.names == "Amsterdam"][0]
    assert 800_000 < amsterdam < 850_000  # 821,752 on 1 January 2015 (CBS)


def test_buildings_follow_the_inhabitants_and_stay_inside(places):
    n = 40_000
    cols = generate(n, seed=5, places=places)
    index = {name: i for i, name in enumerate(places.names)}
    towns = np.array([index[m] for m in cols["municipality"]])
    assert shapely.contains_xy(places.areas[towns], cols["cx"], cols["cy"]).all()
    share = places.inhabitants / places.inhabitants.sum()
    for name in ("Amsterdam", "Rotterdam", "'s-Gravenhage", "Utrecht", "Delft"):
        got = np.mean(cols["municipality"] == name)
        want = share[index[name]]
        assert abs(got - want) < 4 * np.sqrt(want * (1 - want) / n) + 1e-4, (name, got, want)
    # not uniform: the busiest 1 % of the occupied 1 km cells hold far more than 1 %
    cells = np.unique(
        np.stack([cols["cx"] // 1000, cols["cy"] // 1000]), axis=1, return_counts=True
    )[1]
    top = np.sort(cells)[::-1][: max(1, len(cells) // 100)]
    assert top.sum() / n > 0.05


def test_the_same_seed_gives_the_same_buildings(places):
    a, b = generate(500, seed=3, places=places), generate(500, seed=3, places=places)
    c = generate(500, seed=4, places=places)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["cx"], c["cx"])
