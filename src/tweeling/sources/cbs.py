"""Import CBS administrative areas with statistics from TopoJSON (gemeenten, provincies, …).

The CBS TopoJSON files (wijk- en buurtkaart, via cbs_gebiedsindelingen_topojson) are WGS84
lon/lat, quantised with a ``transform`` and delta-encoded arcs. They are decoded here by
:func:`decode_topojson` rather than by GDAL's TopoJSON driver: GDAL decodes the arcs the same
way, but silently drops rings that quantisation collapsed and turns an area whose only ring
collapsed into an empty polygon without saying so; the ``.topojson`` extension is not
recognised either (it needs a ``TopoJSON:`` prefix) and no CRS is reported.

Quantisation (about 270 × 310 m here) collapses small rings to lines or points: such rings
enclose no area and are dropped (counted in ``metadata['collapsed_rings']``); an area whose
rings all collapsed keeps its statistics with an empty geometry (listed in
``metadata['empty_geometries']``). It also makes some outlines self-intersect: those are
refused unless ``repair=True`` (then fixed with ``shapely.make_valid`` and listed).

CBS marks secret or unknown statistics with sentinel values such as -99999999; these become
None (their count per field is in ``metadata['sentinels_to_null']``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely

from tweeling.core.crs import CRS84, normalise_crs, transform_to_rd
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, FieldType, ImportBatch, LayerSchema
from tweeling.sources.ogr import (
    Records,
    check_bounds,
    check_geometries,
    conform_geometry_type,
)

# CBS code prefix -> twin layer.
LAYERS = {
    "GM": "cbs_gemeenten",
    "PV": "cbs_provincies",
    "WK": "cbs_wijken",
    "BU": "cbs_buurten",
}
# TopoJSON object names that say which layer they are (else the codes decide).
_OBJECT_NAMES = {
    "gemeente": "GM",
    "gemeenten": "GM",
    "provincie": "PV",
    "provincies": "PV",
    "wijk": "WK",
    "wijken": "WK",
    "buurt": "BU",
    "buurten": "BU",
}
_TITLES = {
    "cbs_gemeenten": "CBS gemeenten",
    "cbs_provincies": "CBS provincies",
    "cbs_wijken": "CBS wijken",
    "cbs_buurten": "CBS buurten",
}
# Property names holding the area's CBS code, most specific first.
CODE_FIELDS = ("statcode", "buurtcode", "wijkcode", "gemeentecode")
_CODE = re.compile(r"^(GM|PV|WK|BU)\d+$")

# CBS sentinels for secret/unknown values: -99999999 and its family down to -99999990.
SENTINEL_MAX = -99999990

LICENCE = "CC BY 4.0 (CBS / Kadaster, wijk- en buurtkaart)"


# ---------------------------------------------------------------------------------------------
# TopoJSON decoding (pure)


@dataclass(frozen=True)
class TopoFeature:
    """One decoded geometry object of a TopoJSON object collection.

    ``geometry`` is in the topology's coordinates (None for a null geometry);
    ``collapsed_rings`` counts polygon rings dropped because they enclose no area.
    """

    id: Any
    properties: dict[str, Any]
    geometry: shapely.Geometry | None
    collapsed_rings: int = 0


class TopologyError(ValueError):
    """The TopoJSON is not a valid topology (bad arc index, wrong structure)."""


def decode_topojson(topology: Mapping[str, Any]) -> dict[str, list[TopoFeature]]:
    """Decode every object of a TopoJSON topology into features, by object name.

    Follows the TopoJSON specification: with a ``transform``, arc positions are quantised and
    delta-encoded (each position relative to the previous one of its arc) and point positions
    quantised; a negative arc index ``i`` means arc ``~i`` reversed. Consecutive arcs of a
    line or ring share their joining position. Only x and y are decoded.
    """
    if topology.get("type") != "Topology":
        raise TopologyError("not a TopoJSON Topology (type must be 'Topology')")
    scale, translate = _transform(topology.get("transform"))
    arcs = absolute_arcs(topology.get("arcs") or [], quantised=scale is not None)
    objects = topology.get("objects")
    if not isinstance(objects, Mapping):
        raise TopologyError("a Topology needs an 'objects' mapping")
    decoder = _Decoder(arcs, scale, translate)
    out: dict[str, list[TopoFeature]] = {}
    for name, obj in objects.items():
        if not isinstance(obj, Mapping):
            raise TopologyError(f"object {name!r} is not a geometry object")
        if obj.get("type") == "GeometryCollection":
            members = obj.get("geometries") or []
            out[str(name)] = [decoder.feature(m) for m in members]
        else:
            out[str(name)] = [decoder.feature(obj)]
    return out


def decode_arcs(
    arcs: Sequence[Sequence[Sequence[float]]],
    scale: tuple[float, float] | None,
    translate: tuple[float, float] | None,
) -> list[np.ndarray]:
    """Absolute (n, 2) coordinates of each arc; undoes delta encoding and quantisation."""
    return [_apply(a, scale, translate) for a in absolute_arcs(arcs, quantised=scale is not None)]


def absolute_arcs(
    arcs: Sequence[Sequence[Sequence[float]]], *, quantised: bool
) -> list[np.ndarray]:
    """Each arc's positions in topology units: quantised arcs undeltaed to exact integers."""
    out = []
    for i, arc in enumerate(arcs):
        try:
            if quantised:
                a = np.asarray([p[:2] for p in arc], dtype=np.int64).reshape(-1, 2)
                a = np.cumsum(a, axis=0)
            else:
                a = np.asarray([p[:2] for p in arc], dtype=float).reshape(-1, 2)
        except (TypeError, ValueError, OverflowError):
            raise TopologyError(f"arc {i} is not a list of positions") from None
        out.append(a)
    return out


def _apply(
    a: np.ndarray, scale: tuple[float, float] | None, translate: tuple[float, float] | None
) -> np.ndarray:
    if scale is None or translate is None:
        return np.asarray(a, dtype=float)
    return a * np.asarray(scale) + np.asarray(translate)


def _transform(
    transform: Any,
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    if transform is None:
        return None, None
    try:
        sx, sy = (float(v) for v in transform["scale"])
        tx, ty = (float(v) for v in transform["translate"])
    except (KeyError, TypeError, ValueError):
        raise TopologyError("transform needs 'scale' and 'translate' pairs") from None
    return (sx, sy), (tx, ty)


class _Decoder:
    """Turns TopoJSON geometry objects into shapely geometries using decoded arcs."""

    def __init__(
        self,
        arcs: list[np.ndarray],
        scale: tuple[float, float] | None,
        translate: tuple[float, float] | None,
    ) -> None:
        self.arcs = arcs
        self.scale = scale
        self.translate = translate
        self.collapsed = 0

    def feature(self, obj: Mapping[str, Any]) -> TopoFeature:
        self.collapsed = 0
        geometry = self.geometry(obj)
        props = obj.get("properties") or {}
        if not isinstance(props, Mapping):
            raise TopologyError("properties must be an object")
        fixed = {k: repair_double_encoding(v) for k, v in props.items()}
        return TopoFeature(obj.get("id"), fixed, geometry, self.collapsed)

    def geometry(self, obj: Mapping[str, Any]) -> shapely.Geometry | None:
        kind = obj.get("type")
        if kind is None:
            return None
        if kind == "Point":
            return shapely.points(self.position(obj["coordinates"]))
        if kind == "MultiPoint":
            pts = [self.position(p) for p in obj["coordinates"]]
            return shapely.multipoints(pts) if pts else shapely.from_wkt("MULTIPOINT EMPTY")
        if kind == "LineString":
            return shapely.linestrings(self.xy(self.line(obj["arcs"])))
        if kind == "MultiLineString":
            return shapely.multilinestrings(
                [shapely.linestrings(self.line(a)) for a in obj["arcs"]]
            )
        if kind == "Polygon":
            return self.polygon(obj["arcs"]) or shapely.from_wkt("POLYGON EMPTY")
        if kind == "MultiPolygon":
            polys = [p for p in (self.polygon(rings) for rings in obj["arcs"]) if p is not None]
            return shapely.multipolygons(polys) if polys else shapely.from_wkt("MULTIPOLYGON EMPTY")
        if kind == "GeometryCollection":
            parts = [self.geometry(g) for g in obj.get("geometries") or []]
            return shapely.geometrycollections([p for p in parts if p is not None])
        raise TopologyError(f"unknown geometry type {kind!r}")

    def position(self, p: Sequence[float]) -> np.ndarray:
        return _apply(np.asarray(p[:2], dtype=float), self.scale, self.translate)

    def xy(self, positions: np.ndarray) -> np.ndarray:
        return _apply(positions, self.scale, self.translate)

    def line(self, indexes: Sequence[int]) -> np.ndarray:
        """The positions (topology units) of a line made of arcs; joins appear once."""
        parts = []
        for k, i in enumerate(indexes):
            arc = self.arc(i)
            parts.append(arc if k == 0 else arc[1:])
        return np.concatenate(parts) if parts else np.empty((0, 2))

    def arc(self, i: int) -> np.ndarray:
        if not isinstance(i, int) or isinstance(i, bool):
            raise TopologyError(f"arc index {i!r} is not an integer")
        j = i if i >= 0 else ~i
        if j >= len(self.arcs):
            raise TopologyError(f"arc index {i!r} out of range (the topology has {len(self.arcs)})")
        return self.arcs[j] if i >= 0 else self.arcs[j][::-1]

    def polygon(self, rings: Sequence[Sequence[int]]) -> shapely.Polygon | None:
        """A polygon from arc rings; rings enclosing no area are dropped (None if the shell is)."""
        coords = [self.line(r) for r in rings]
        if not coords or ring_area(coords[0]) == 0:
            self.collapsed += len(coords)
            return None
        kept = [coords[0]] + [c for c in coords[1:] if ring_area(c) > 0]
        self.collapsed += len(coords) - len(kept)
        return shapely.Polygon(self.xy(kept[0]), [self.xy(c) for c in kept[1:]])


def ring_area(coords: np.ndarray) -> float:
    """The unsigned shoelace area of a closed ring (0 for fewer than 4 positions).

    Exact for the integer positions of a quantised topology, so collapsed rings are exactly 0.
    """
    if len(coords) < 4:
        return 0.0
    x, y = coords[:, 0], coords[:, 1]
    return abs(float(np.dot(x[:-1], y[1:]) - np.dot(y[:-1], x[1:]))) / 2


# ---------------------------------------------------------------------------------------------
# The CBS importer


def read_cbs(path: str | Path, *, crs: object = CRS84, repair: bool = False) -> ImportBatch:
    """Read a CBS TopoJSON file into ``cbs_gemeenten``/``cbs_provincies``/``cbs_wijken``/…

    The layer follows from the TopoJSON object name if it says (``gemeenten``, …), else from
    the CBS codes of its areas (GM, PV, WK, BU). The record id is the CBS code (GM0503,
    PV28, WK050301, BU05030101); a separate water part of a gemeente (``water`` = JA) gets
    ``<code>-water``. ``crs`` is the CRS of the coordinates (TopoJSON has none; CBS: CRS84).
    """
    path = Path(path)
    topology = load_topology(path)
    source_crs = normalise_crs(crs, path=path)
    try:
        objects = decode_topojson(topology)
    except (TopologyError, KeyError, TypeError, ValueError) as e:
        raise InputError(f"bad TopoJSON: {e}", path=path) from None

    layers: list[LayerSchema] = []
    parts: list[tuple[str, list[str], np.ndarray, list[dict[str, Any]]]] = []
    metadata: dict[str, Any] = {
        "source_crs": source_crs.to_string(),
        "decoder": "tweeling.sources.cbs.decode_topojson",
        "objects": {},
        "collapsed_rings": {},
        "empty_geometries": {},
        "sentinels_to_null": {},
        "repair": repair,
        "repaired": [],
    }
    seen_layers: set[str] = set()
    for name, features in objects.items():
        layer = layer_for(name, features, path=path)
        if layer in seen_layers:
            raise InputError(f"two TopoJSON objects map to layer {layer!r}", path=path)
        seen_layers.add(layer)
        ids = area_ids(features, path=path)
        fields = infer_field_types([f.properties for f in features])
        props, nulls = clean_properties([f.properties for f in features], fields)
        geoms = area_geometries(features, ids, path=path)
        geoms = transform_to_rd(geoms, source_crs)
        check_bounds(geoms, path=path, layer=layer)
        geoms, repairs = check_geometries(geoms, ids, path=path, layer=layer, repair=repair)
        geoms = conform_geometry_type(geoms, "MULTIPOLYGON")
        layers.append(layer_schema(layer, fields, path))
        parts.append((layer, ids, geoms, props))
        metadata["objects"][layer] = name
        metadata["collapsed_rings"][layer] = sum(f.collapsed_rings for f in features)
        metadata["empty_geometries"][layer] = [
            i for i, g in zip(ids, geoms, strict=True) if g.is_empty
        ]
        metadata["sentinels_to_null"][layer] = nulls
        metadata["repaired"].extend(r.to_dict() for r in repairs)

    total = sum(len(p[1]) for p in parts)

    def records() -> Iterator[FeatureRecord]:
        for layer, ids, geoms, props in parts:
            for rid, geom, p in zip(ids, geoms, props, strict=True):
                yield FeatureRecord(layer=layer, id=rid, geometry=geom, properties=p)

    return ImportBatch(
        source=f"cbs:{path.name}",
        path=str(path),
        layers=layers,
        features=Records(records, total),
        total=total,
        metadata=metadata,
    )


def load_topology(path: Path) -> dict[str, Any]:
    """The parsed TopoJSON document; InputError for a missing or unreadable file."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a TopoJSON file", path=path) from None
    except orjson.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e}", path=path) from None
    if not isinstance(data, dict) or data.get("type") != "Topology":
        raise InputError("not a TopoJSON file (no 'type': 'Topology')", path=path)
    return data


def area_code(props: Mapping[str, Any]) -> str | None:
    """The CBS code of an area: the most specific code property that is given."""
    for name in CODE_FIELDS:
        value = props.get(name)
        if value:
            return str(value).strip()
    return None


def layer_for(object_name: str, features: list[TopoFeature], *, path: object) -> str:
    """The twin layer of a TopoJSON object: by its name, else by its areas' code prefixes."""
    key = re.sub(r"[_\-]?\d{4}$", "", object_name.lower())
    if key in _OBJECT_NAMES:
        return LAYERS[_OBJECT_NAMES[key]]
    prefixes = Counter((area_code(f.properties) or str(f.id or ""))[:2] for f in features)
    known = {p for p in prefixes if p in LAYERS}
    if len(known) != 1 or set(prefixes) - known:
        raise InputError(
            f"cannot tell which CBS areas object {object_name!r} holds "
            f"(code prefixes {dict(prefixes)})",
            path=path,
        )
    return LAYERS[known.pop()]


def area_ids(features: list[TopoFeature], *, path: object) -> list[str]:
    """Record ids: the CBS code; ``<code>-water`` for a gemeente's separate water part."""
    ids = []
    for n, f in enumerate(features):
        code = area_code(f.properties) or (str(f.id) if f.id is not None else None)
        if not code or not _CODE.match(code):
            raise InputError(
                f"area has no CBS code (statcode/gemeentecode): {code!r}",
                path=path,
                object_id=f"#{n}",
            )
        water = str(f.properties.get("water") or "").upper()
        ids.append(f"{code}-water" if water == "JA" else code)
    dupes = [i for i, c in Counter(ids).items() if c > 1]
    if dupes:
        raise InputError(
            f"{len(dupes)} CBS codes occur more than once, e.g. {dupes[0]!r}", path=path
        )
    return ids


def infer_field_types(rows: list[Mapping[str, Any]]) -> dict[str, FieldType]:
    """Field types from JSON values: bool, int, float (ints and floats mixed: REAL), text."""
    kinds: dict[str, set[str]] = {}
    for row in rows:
        for name, value in row.items():
            kinds.setdefault(name, set())
            if value is not None:
                kinds[name].add(_kind(value))
    return {name: _field_type(k) for name, k in kinds.items()}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"


def _field_type(kinds: set[str]) -> FieldType:
    if not kinds or ("str" in kinds and len(kinds) > 1):
        return FieldType.TEXT
    if kinds == {"bool"}:
        return FieldType.BOOLEAN
    if kinds == {"int"}:
        return FieldType.INTEGER
    if kinds <= {"int", "float"}:
        return FieldType.REAL
    if kinds == {"str"}:
        return FieldType.TEXT
    return FieldType.JSON


def is_sentinel(value: Any) -> bool:
    """True for CBS's secret/unknown markers (-99999999 … -99999990)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and -100000000 < value <= SENTINEL_MAX
    )


def repair_double_encoding(value: Any) -> Any:
    """Text that was UTF-8 read as Latin-1 and written out again (CBS's 2015 municipality
    file has "SÃºdwest-FryslÃ¢n" for "Súdwest-Fryslân") back to what it was; anything else
    as it is. Only text whose Latin-1 bytes are valid UTF-8 with a non-ASCII character is
    changed, which plain Dutch or Frisian names never are."""
    if not isinstance(value, str) or value.isascii():
        return value
    try:
        repaired = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value
    return repaired


def clean_properties(
    rows: list[Mapping[str, Any]], fields: Mapping[str, FieldType]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Properties with every field present, typed, and CBS sentinels replaced by None.

    Returns the rows and the number of sentinels replaced per field.
    """
    nulls: Counter[str] = Counter()
    out = []
    for row in rows:
        props: dict[str, Any] = {}
        for name, ftype in fields.items():
            value = row.get(name)
            if ftype in (FieldType.INTEGER, FieldType.REAL) and is_sentinel(value):
                nulls[name] += 1
                value = None
            elif ftype is FieldType.REAL and value is not None:
                value = float(value)
            elif ftype is FieldType.TEXT and value is not None and not isinstance(value, str):
                value = str(value)
            props[name] = value
        out.append(props)
    return out, dict(nulls)


def area_geometries(features: list[TopoFeature], ids: list[str], *, path: object) -> np.ndarray:
    """The (multi)polygons of the areas; other geometry types are refused."""
    out = np.empty(len(features), dtype=object)
    for i, f in enumerate(features):
        g = f.geometry
        if g is None:
            g = shapely.from_wkt("MULTIPOLYGON EMPTY")
        elif g.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(
                f"expected a (multi)polygon, found {g.geom_type}", path=path, object_id=ids[i]
            )
        out[i] = g
    return out


def layer_schema(layer: str, fields: dict[str, FieldType], path: Path) -> LayerSchema:
    return LayerSchema(
        name=layer,
        geometry_type="MULTIPOLYGON",
        fields=fields,
        title=_TITLES[layer],
        description=(
            f"CBS areas from {path.name}. Coarse geometry (TopoJSON quantisation, a few hundred "
            "metres): areas smaller than that can have an empty geometry. CBS sentinel values "
            "for secret or unknown statistics (-99999999) are stored as null."
        ),
        source="CBS wijk- en buurtkaart",
        licence=LICENCE,
    )
