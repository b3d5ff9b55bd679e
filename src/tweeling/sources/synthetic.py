"""Synthetic buildings for scale tests: N footprints with heights over the Netherlands (RD New).

Every feature says ``"synthetic": true`` and has an id starting with ``SYNTH.`` so that it can
never be mistaken for real BAG data. Buildings are placed where people live: each falls in
one of the 2015 municipalities of CBS (``../shared/data/cbs/gemeente_2015.topojson``), chosen
in proportion to its inhabitants (``aantal_inwoners``), around a point inside it with a
spread of a quarter of the square root of its land area, and kept inside its boundary — so
that densities, and thus the sizes of bbox queries and tiles, resemble the country's rather
than a uniform scatter. The same seed gives the same buildings.

Roads (the ``road_traffic`` model-input layer) and livestock farms (``nitrogen_sources``) to
go with them — ``tweeling synth N OUT --roads R --farms F`` — are made by
:mod:`tweeling.sources.synthetic_network` on the same municipalities: roads in proportion to
inhabitants (arterials from each anchor, streets where the buildings cluster, motorways
between large neighbours), farms in rural municipalities away from their centres.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import orjson
import shapely

from tweeling.core.crs import CRS84, normalise_crs, transform_to_rd
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, FieldType, LayerSchema

MUNICIPALITIES = Path("cbs") / "gemeente_2015.topojson"  # under the data folder
SPREAD = 0.25  # of the square root of a municipality's land area: the spread of its buildings
TRIES = 8  # draws per building before it is put at its municipality's anchor point
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
        "municipality": FieldType.TEXT,
    },
    title="Synthetic buildings (not real data)",
    description="Generated footprints for scale tests; every feature has synthetic = true.",
    source="tweeling synth",
)


@dataclass(frozen=True)
class Municipalities:
    """Where synthetic buildings go: per municipality a point inside it (RD New), its
    inhabitants (the weight), the spread in metres, its boundary (prepared) and its land area
    in m² (roads and farms, :mod:`tweeling.sources.synthetic_network`, use it too)."""

    names: np.ndarray
    x: np.ndarray
    y: np.ndarray
    inhabitants: np.ndarray
    spread_m: np.ndarray
    areas: np.ndarray
    land_m2: np.ndarray


@cache
def municipalities(path: Path) -> Municipalities:
    """The CBS municipalities of ``path`` (a TopoJSON file of CBS's wijk- en buurtkaart)."""
    from tweeling.sources.cbs import decode_topojson

    try:
        topology = orjson.loads(Path(path).read_bytes())
        (features,) = decode_topojson(topology).values()
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the CBS municipalities: {exc}", path=str(path)) from None
    rows = [
        f
        for f in features
        if f.geometry is not None and (f.properties.get("aantal_inwoners") or 0) > 0
    ]
    if not rows:
        raise InputError("no municipality with inhabitants", path=str(path))
    lonlat = np.array([f.geometry for f in rows], dtype=object)
    areas = transform_to_rd(lonlat, normalise_crs(CRS84))
    areas = shapely.make_valid(areas)
    shapely.prepare(areas)
    anchors = shapely.point_on_surface(areas)
    land_m2 = np.array([(f.properties.get("oppervlakte_land_in_ha") or 0) * 1e4 for f in rows])
    land_m2 = np.where(land_m2 > 0, land_m2, shapely.area(areas))
    return Municipalities(
        names=np.array([str(f.properties.get("gemeentenaam")) for f in rows]),
        x=shapely.get_x(anchors),
        y=shapely.get_y(anchors),
        inhabitants=np.array([float(f.properties["aantal_inwoners"]) for f in rows]),
        spread_m=SPREAD * np.sqrt(land_m2),
        areas=areas,
        land_m2=land_m2,
    )


def scatter(
    rng: np.random.Generator, town: np.ndarray, places: Municipalities
) -> tuple[np.ndarray, np.ndarray]:
    """Points around the anchors of the municipalities ``town`` (indices into ``places``),
    normally spread by their ``spread_m`` and kept inside their boundaries: where people
    live. A point that falls outside ``TRIES`` times is put at its anchor."""
    n = len(town)
    cx = np.full(n, np.nan)
    cy = np.full(n, np.nan)
    todo = np.arange(n)
    for _ in range(TRIES):  # draw again those that fell outside their municipality
        t = town[todo]
        x = places.x[t] + rng.normal(0, 1, len(todo)) * places.spread_m[t]
        y = places.y[t] + rng.normal(0, 1, len(todo)) * places.spread_m[t]
        inside = shapely.contains_xy(places.areas[t], x, y)
        cx[todo[inside]], cy[todo[inside]] = x[inside], y[inside]
        todo = todo[~inside]
        if not len(todo):
            break
    cx[todo], cy[todo] = places.x[town[todo]], places.y[town[todo]]  # rare: very thin ones
    return cx, cy


def generate(
    n: int, *, seed: int = 1, start: int = 0, places: Municipalities
) -> dict[str, np.ndarray]:
    """Columns of ``n`` synthetic buildings (ids ``start`` … ``start + n - 1``) in
    ``places`` (:func:`municipalities`)."""
    rng = np.random.default_rng([seed, start])
    w = places.inhabitants / places.inhabitants.sum()
    town = rng.choice(len(w), size=n, p=w)
    cx, cy = scatter(rng, town, places)
    width = rng.uniform(5, 15, n)
    depth = rng.uniform(8, 20, n)
    angle = rng.uniform(0, np.pi, n)
    storeys = np.clip(rng.geometric(0.45, n), 1, 25)
    ground = np.round(rng.normal(0.5, 1.5, n), 2)
    height = np.round(storeys * 3.0 + rng.uniform(0.5, 3.0, n), 2)
    return {
        "id": np.char.add("SYNTH.", np.arange(start, start + n).astype(str)),
        "municipality": places.names[town],
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
        "municipality": str(cols["municipality"][i]),
    }


def records(
    n: int, *, data_dir: Path, seed: int = 1, chunk: int = 100_000
) -> Iterator[FeatureRecord]:
    """The synthetic buildings as feature records (for importing without a file)."""
    places = municipalities(Path(data_dir) / MUNICIPALITIES)
    for start in range(0, n, chunk):
        cols = generate(min(chunk, n - start), seed=seed, start=start, places=places)
        polys = shapely.polygons(_rings(cols))
        for i, poly in enumerate(polys):
            yield FeatureRecord(SCHEMA.name, str(cols["id"][i]), poly, _properties(cols, i))


def write_geojsonseq(
    path: str | os.PathLike,
    n: int,
    *,
    data_dir: Path,
    seed: int = 1,
    chunk: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``n`` buildings as GeoJSON text sequence (one Feature per line), in RD New.

    Memory stays flat: buildings are generated and written ``chunk`` at a time. The file is
    written under a temporary name and renamed when complete.
    """
    path = Path(path)
    places = municipalities(Path(data_dir) / MUNICIPALITIES)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        for start in range(0, n, chunk):
            cols = generate(min(chunk, n - start), seed=seed, start=start, places=places)
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
