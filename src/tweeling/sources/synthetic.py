"""Synthetic buildings for scale tests: N footprints with heights over the Netherlands (RD New).

Every feature says ``"synthetic": true`` and has an id starting with ``SYNTH.`` so that it can
never be mistaken for real BAG data. Buildings cluster around Dutch towns (approximate centres
below, weighted roughly by population) so that densities, and thus bbox query sizes, resemble
real ones. The same seed gives the same buildings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import orjson
import shapely

from tweeling.core.features import FeatureRecord, FieldType, LayerSchema

# (x, y) in RD New of town centres (approximate, to the km) and a relative weight.
TOWNS = np.array(
    [
        (121000, 487000, 9),
        (92000, 437000, 7),
        (81000, 455000, 6),
        (136000, 456000, 4),
        (161000, 383000, 3),
        (233000, 582000, 2.5),
        (133000, 397000, 2.2),
        (145000, 487000, 2.2),
        (113000, 401000, 1.9),
        (187000, 428000, 1.8),
        (258000, 471000, 1.6),
        (190000, 444000, 1.6),
        (104000, 488000, 1.6),
        (203000, 503000, 1.3),
        (182000, 579000, 1.2),
        (176000, 318000, 1.2),
        (85000, 447000, 1.0),
        (93000, 464000, 1.2),
        (155000, 463000, 1.6),
        (149000, 411000, 1.5),
        (194000, 469000, 1.6),
        (105000, 425000, 1.2),
        (31000, 391000, 0.5),
        (233000, 557000, 0.7),
        (160000, 502000, 0.8),
        (113000, 551000, 0.6),
        (256000, 532000, 1.1),
        (209000, 376000, 1.0),
        (208000, 473000, 1.0),
        (111000, 516000, 1.1),
    ],
    dtype=float,
)

FUNCTIONS = np.array(
    ["woonfunctie", "kantoorfunctie", "winkelfunctie", "industriefunctie", "bijeenkomstfunctie"]
)
FUNCTION_P = np.array([0.82, 0.06, 0.05, 0.05, 0.02])

SCHEMA = LayerSchema(
    name="synthetic_buildings",
    geometry_type="POLYGON",
    fields={
        "synthetic": FieldType.BOOLEAN,
        "bag_id": FieldType.TEXT,
        "height_m": FieldType.REAL,
        "ground_height_m": FieldType.REAL,
        "roof_height_m": FieldType.REAL,
        "storeys": FieldType.INTEGER,
        "construction_year": FieldType.INTEGER,
        "function": FieldType.TEXT,
    },
    title="Synthetic buildings (not real data)",
    description="Generated footprints for scale tests; every feature has synthetic = true.",
    source="tweeling synth",
)


def generate(n: int, *, seed: int = 1, start: int = 0) -> dict[str, np.ndarray]:
    """Columns of ``n`` synthetic buildings (ids ``start`` … ``start + n - 1``)."""
    rng = np.random.default_rng([seed, start])
    w = TOWNS[:, 2] / TOWNS[:, 2].sum()
    town = rng.choice(len(TOWNS), size=n, p=w)
    # Most buildings within a few km of a centre; a fifth spread over the surrounding land.
    spread = np.where(rng.random(n) < 0.8, 2500.0, 9000.0) * np.sqrt(TOWNS[town, 2])
    cx = TOWNS[town, 0] + rng.normal(0, 1, n) * spread
    cy = TOWNS[town, 1] + rng.normal(0, 1, n) * spread
    # Keep every building inside the Dutch RD New domain (the twin refuses others).
    cx = np.clip(cx, 14000.0, 278000.0)
    cy = np.clip(cy, 306000.0, 619000.0)
    width = rng.uniform(5, 15, n)
    depth = rng.uniform(8, 20, n)
    angle = rng.uniform(0, np.pi, n)
    storeys = np.clip(rng.geometric(0.45, n), 1, 25)
    ground = np.round(rng.normal(0.5, 1.5, n), 2)
    height = np.round(storeys * 3.0 + rng.uniform(0.5, 3.0, n), 2)
    return {
        "id": np.char.add("SYNTH.", np.arange(start, start + n).astype(str)),
        "cx": cx,
        "cy": cy,
        "width": width,
        "depth": depth,
        "angle": angle,
        "storeys": storeys,
        "ground": ground,
        "height": height,
        "year": rng.integers(1600, 2026, n),
        "function": FUNCTIONS[rng.choice(len(FUNCTIONS), size=n, p=FUNCTION_P)],
    }


def _rings(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Closed rectangle rings, shape (n, 5, 2), rounded to millimetres."""
    hw, hd = cols["width"] / 2, cols["depth"] / 2
    corners = np.array([(-hw, -hd), (hw, -hd), (hw, hd), (-hw, hd), (-hw, -hd)])  # (5, 2, n)
    corners = np.transpose(corners, (2, 0, 1))  # (n, 5, 2)
    c, s = np.cos(cols["angle"]), np.sin(cols["angle"])
    x = corners[..., 0] * c[:, None] - corners[..., 1] * s[:, None] + cols["cx"][:, None]
    y = corners[..., 0] * s[:, None] + corners[..., 1] * c[:, None] + cols["cy"][:, None]
    return np.round(np.stack([x, y], axis=-1), 3)


def _properties(cols, i: int) -> dict:
    return {
        "synthetic": True,
        "bag_id": str(cols["id"][i]),
        "height_m": float(cols["height"][i]),
        "ground_height_m": float(cols["ground"][i]),
        "roof_height_m": round(float(cols["ground"][i] + cols["height"][i]), 2),
        "storeys": int(cols["storeys"][i]),
        "construction_year": int(cols["year"][i]),
        "function": str(cols["function"][i]),
    }


def records(n: int, *, seed: int = 1, chunk: int = 100_000) -> Iterator[FeatureRecord]:
    """The synthetic buildings as feature records (for importing without a file)."""
    for start in range(0, n, chunk):
        cols = generate(min(chunk, n - start), seed=seed, start=start)
        polys = shapely.polygons(_rings(cols))
        for i, poly in enumerate(polys):
            yield FeatureRecord(SCHEMA.name, str(cols["id"][i]), poly, _properties(cols, i))


def write_geojsonseq(
    path: str | os.PathLike,
    n: int,
    *,
    seed: int = 1,
    chunk: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``n`` buildings as GeoJSON text sequence (one Feature per line), in RD New.

    Memory stays flat: buildings are generated and written ``chunk`` at a time. The file is
    written under a temporary name and renamed when complete.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        for start in range(0, n, chunk):
            cols = generate(min(chunk, n - start), seed=seed, start=start)
            rings = _rings(cols).tolist()
            lines = []
            for i, ring in enumerate(rings):
                lines.append(
                    orjson.dumps(
                        {
                            "type": "Feature",
                            "id": cols["id"][i],
                            "geometry": {"type": "Polygon", "coordinates": [ring]},
                            "properties": _properties(cols, i),
                        }
                    )
                )
            f.write(b"\n".join(lines) + b"\n")
            if progress:
                progress(len(rings))
    tmp.replace(path)
    return path
