"""A small gazetteer over the twin: coordinates, feature ids, BAG ids and the names of the
places its layers hold.

What a query can be, tried in this order:

* a coordinate pair ``x,y`` (or ``x y``, ``x;y``): RD New (EPSG:28992) when both numbers lie
  in RD New's area of use (x -7,000…300,000, y 289,000…629,000), else longitude, latitude
  (CRS84) — read as latitude, longitude instead when only that order falls in the Netherlands
  (what a map site copies);
* a feature id of any vector layer (exact, as stored; also upper-cased: ``gm0503``);
* a BAG pand id, ``NL.IMBAG.Pand.0503100000018603`` or the bare 15 or 16 digits: as a feature
  id, and through the layers' ``bag_id`` / ``identificatiebagpnd`` fields;
* a name: CBS gemeente/wijk/buurt/provincie names, Natura 2000 sites, zoning plans (IMRO
  ``Bestemmingsplangebied``), roads of ``road_traffic``, wind turbines and nitrogen sources
  (their ``name``) and street names (``openbareruimtenaam``/``straatnaam``). Case- and
  accent-insensitive (Unicode NFKD without combining marks, case-folded, punctuation as
  spaces).

Ranking of names: exact name > name starts with the query > a word of the name starts with it
> the name contains it > every word of a query of several words starts a word of the name or
of its gemeente ("centrum delft"). Within one class: places inside the twin's area first, then
larger areas before smaller ones (a gemeente before the buurt of the same name), then shorter
labels, then alphabetically.

The name index is built once per state of the baseline (:func:`results.view_state`) and
shared by the threads of a process; an import that changes the baseline makes the next search
build it anew (scenario edits do not: names come from the baseline). It holds only
name-bearing layers (and ``bag_id`` of layers up to :data:`BAG_INDEX_MAX` features); a query
is a scan of one joined string (``str.find`` in C), not of the layers.
"""

from __future__ import annotations

import bisect
import heapq
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from tweeling.core.crs import RD_NEW, transformer
from tweeling.core.errors import InputError

MAX_QUERY = 200  # characters; longer is not a place name (400)
MAX_LIMIT = 50
BAG_INDEX_MAX = 200_000  # layers with more features are found by BAG id only as feature id
# RD New's area of use (EPSG:28992) and a box around the Netherlands in CRS84.
RD_AREA = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)
NL_LONLAT = (3.2, 50.7, 7.3, 53.6)

_COORD = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:[,;]\s*|\s+)(-?\d+(?:\.\d+)?)\s*$")
_BAG = re.compile(r"^(?:nl\.imbag\.pand\.)?(\d{15,16})$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result; ``point`` and ``bbox`` in CRS84 (longitude, latitude)."""

    label: str
    kind: str  # coordinate, feature, bag pand, gemeente, wijk, buurt, natura2000, …
    layer: str | None
    id: str | None
    point: tuple[float, float]
    bbox: tuple[float, float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "layer": self.layer,
            "id": self.id,
            "point": [float(v) for v in self.point],
            "bbox": [float(v) for v in self.bbox],
        }


def normalise(text: str) -> str:
    """Case- and accent-insensitive form: ``'Île-de-Fryslân'`` -> ``'ile de fryslan'``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in plain).split())


def search(store, q: str, *, limit: int = 10, scenario: str | None = None) -> list[Hit]:
    """Places, features and coordinates matching ``q``, best first, at most ``limit``.

    ``scenario`` is the view feature ids are looked up in (names come from the baseline).
    An empty query or one over :data:`MAX_QUERY` characters is an :class:`InputError`; a
    query of only punctuation finds nothing.
    """
    text = q.strip()
    if not text:
        raise InputError("q is empty: give a place name, an id or a coordinate")
    if len(text) > MAX_QUERY:
        raise InputError(f"q is {len(text)} characters long; at most {MAX_QUERY}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit {limit}: between 1 and {MAX_LIMIT}")
    store.view(scenario)  # an unknown scenario is a NotFoundError, also when nothing matches
    index = name_index(store)
    hits = [
        *_coordinate(text),
        *_ids(store, text, scenario),
        *_bag_fields(index, text),
        *index.find(normalise(text), limit),
    ]
    out, seen = [], set()
    for h in hits:  # a BAG id can be both a feature id and a field of the same feature
        key = (h.layer, h.id) if h.id is not None else (h.kind, h.label)
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out[:limit]


# ------------------------------------------------------------------ coordinates and ids


def _coordinate(text: str) -> list[Hit]:
    m = _COORD.match(text)
    if not m:
        return []
    a, b = float(m.group(1)), float(m.group(2))
    x0, y0, x1, y1 = RD_AREA
    if x0 <= a <= x1 and y0 <= b <= y1:
        lon, lat = transformer(RD_NEW, "OGC:CRS84").transform(a, b)
        label = f"RD {a:.2f}, {b:.2f}"
    elif _in_nl(a, b) or (not _in_nl(b, a) and -180 <= a <= 180 and -90 <= b <= 90):
        lon, lat = a, b
        label = f"{lat:.6f} N, {lon:.6f} E"
    elif _in_nl(b, a):
        lon, lat = b, a  # latitude first, as map sites copy it
        label = f"{lat:.6f} N, {lon:.6f} E"
    else:
        return []
    return [Hit(label, "coordinate", None, None, (lon, lat), (lon, lat, lon, lat))]


def _in_nl(lon: float, lat: float) -> bool:
    x0, y0, x1, y1 = NL_LONLAT
    return x0 <= lon <= x1 and y0 <= lat <= y1


def _ids(store, text: str, scenario: str | None) -> list[Hit]:
    """Exact feature ids in every vector layer, and BAG pand ids used as feature ids."""
    wanted = list(dict.fromkeys([text, text.upper()]))
    bag = bag_id(text)
    if bag:
        wanted.append(bag)
    hits = []
    for layer in store.vector_layers():
        found = store.lookup(layer, wanted, scenario=scenario)
        for fid in wanted:
            f = found.get(fid)
            if f is not None and f.geometry is not None:
                kind = "bag pand" if fid == bag else "feature"
                hits.append(_hit(fid, kind, layer, fid, f.geometry))
    return hits


def bag_id(text: str) -> str | None:
    """The canonical BAG pand id (``NL.IMBAG.Pand.`` + 16 digits) a query names, if any:
    16 digits are gemeentecode (4), object type ``10`` (pand) and a serial number."""
    m = _BAG.match(text.strip())
    if not m:
        return None
    digits = m.group(1).zfill(16)
    return f"NL.IMBAG.Pand.{digits}" if digits[4:6] == "10" else None


def _bag_fields(index: NameIndex, text: str) -> list[Hit]:
    bag = bag_id(text)
    return list(index.bag.get(bag, ())) if bag else []


def _hit(label: str, kind: str, layer: str, fid: str, geometry) -> Hit:
    point, bbox = _places_crs84([geometry])
    return Hit(label, kind, layer, fid, tuple(point[0]), tuple(bbox[0]))


def _places_crs84(geometries) -> tuple[np.ndarray, np.ndarray]:
    """Representative points (inside areas) and bounding boxes, from RD New to CRS84."""
    geoms = np.asarray(geometries, dtype=object)
    pts = shapely.get_coordinates(shapely.point_on_surface(geoms))
    bounds = shapely.bounds(geoms)
    tr = transformer(RD_NEW, "OGC:CRS84")
    lon, lat = tr.transform(pts[:, 0], pts[:, 1])
    # Four corners per box: a box's extremes in CRS84 are at its corners (near enough in NL).
    xs = bounds[:, [0, 2, 0, 2]]
    ys = bounds[:, [1, 1, 3, 3]]
    blon, blat = tr.transform(xs.ravel(), ys.ravel())
    blon, blat = blon.reshape(-1, 4), blat.reshape(-1, 4)
    boxes = np.column_stack([blon.min(1), blat.min(1), blon.max(1), blat.max(1)])
    return np.round(np.column_stack([lon, lat]), 7), np.round(boxes, 7)


# ------------------------------------------------------------------ the name index


@dataclass(frozen=True)
class _Place:
    label: str
    kind: str
    layer: str
    id: str
    name: str  # normalised
    context: str  # normalised gemeente (for several-word queries)
    area: float  # m², 0 for points and lines
    inside: bool  # intersects the twin's area


class NameIndex:
    """Normalised names of the twin's places, searchable by substring, ranked."""

    def __init__(self, places: list[_Place], points, boxes, bag: dict[str, list[Hit]]):
        self.places = places
        self.points = points
        self.boxes = boxes
        self.bag = bag
        # One string, one line per place: a substring search is one C-level scan.
        self.blob = "\n".join(p.name for p in places)
        self.starts = np.cumsum([0] + [len(p.name) + 1 for p in places[:-1]]).tolist()
        self.words = "\n".join(f"{p.name} {p.context}" for p in places)
        self.word_starts = np.cumsum(
            [0] + [len(p.name) + len(p.context) + 2 for p in places[:-1]]
        ).tolist()

    def find(self, query: str, limit: int) -> list[Hit]:
        if not query or not self.places:
            return []
        ranked: dict[int, int] = {}  # place -> best match class
        for i in _lines(self.blob, self.starts, query):
            ranked[i] = _match_class(self.places[i].name, query)
        tokens = query.split()
        if len(tokens) > 1:
            longest = max(tokens, key=len)
            for i in _lines(self.words, self.word_starts, longest):
                if i not in ranked:
                    words = f"{self.places[i].name} {self.places[i].context}".split()
                    if all(any(w.startswith(t) for w in words) for t in tokens):
                        ranked[i] = 4
        best = heapq.nsmallest(limit, ranked.items(), key=lambda item: self._key(*item))
        return [self._hit(i) for i, _ in best]

    def _key(self, i: int, match: int) -> tuple:
        p = self.places[i]
        return (match, not p.inside, -p.area, len(p.label), p.label, p.layer, p.id)

    def _hit(self, i: int) -> Hit:
        p = self.places[i]
        return Hit(p.label, p.kind, p.layer, p.id, tuple(self.points[i]), tuple(self.boxes[i]))


def _lines(blob: str, starts: list[int], query: str) -> Iterator[int]:
    """Indexes of the lines of ``blob`` that contain ``query``."""
    at = blob.find(query)
    while at >= 0:
        i = bisect.bisect_right(starts, at) - 1
        yield i
        nxt = starts[i + 1] if i + 1 < len(starts) else len(blob)
        at = blob.find(query, nxt)


def _match_class(name: str, query: str) -> int:
    if name == query:
        return 0
    if name.startswith(query):
        return 1
    if f" {query}" in f" {name}":
        return 2
    return 3


_lock = threading.Lock()
_cache: dict[str, tuple[tuple, NameIndex]] = {}


def name_index(store) -> NameIndex:
    """The name index of the store's current state (built on first use after a change)."""
    key = _state(store)
    path = store.location
    with _lock:  # one thread builds; the others wait for it rather than build it again
        cached = _cache.get(path)
        if cached is None or cached[0] != key:
            cached = _cache[path] = (key, build_index(store))
        return cached[1]


def _state(store) -> tuple:
    """What the index is built from: the baseline's layers (per layer the store's
    ``layer_stamp``, which moves with every import that changes it), the twin's area and
    identity (a twin made again at the same path is not mistaken for the old one). Scenario
    edits leave it alone: names come from the baseline. Cheap: no scan of the log."""
    from tweeling.services.results import view_state

    return view_state(store, store.view(None))


def build_index(store) -> NameIndex:
    places, geoms, bag, bag_geoms = [], [], [], []
    gemeenten: dict[str, str] = {}
    pending: list[tuple[_Place, Any, str | None]] = []  # wijk/buurt: gemeente looked up later
    area = store.area_of_interest()
    aoi = shapely.box(*area) if area else None
    for layer in store.vector_layers():
        schema = store.schema(layer)
        fields = set(schema.fields)
        reader = _reader(layer, schema.title, fields)
        if reader is not None:
            for f in store.features(layer, where=reader.where):
                if f.geometry is None or f.geometry.is_empty:
                    continue
                for name, kind, code in reader.names(f.properties):
                    place = _place(name, kind, layer, f.id, f.geometry, aoi)
                    if kind == "gemeente" and code:
                        gemeenten[code] = name
                    # wijken and buurten are labelled with their gemeente (found later)
                    part_of = code if kind in ("wijk", "buurt") and code else None
                    pending.append((place, f.geometry, part_of))
        if fields & {"bag_id", "identificatiebagpnd"} and _small(store, layer):
            for f in store.features(layer):
                fid = _bag_of(f.properties)
                if fid and f.geometry is not None and not f.geometry.is_empty:
                    bag.append((fid, layer, f.id))
                    bag_geoms.append(f.geometry)
    for place, geometry, part_of in pending:
        gemeente = gemeenten.get(_gemeente_code(part_of)) if part_of else None
        if gemeente:
            place = _Place(
                f"{place.label}, {gemeente}",
                place.kind,
                place.layer,
                place.id,
                place.name,
                normalise(gemeente),
                place.area,
                place.inside,
            )
        places.append(place)
        geoms.append(geometry)
    points, boxes = _places_crs84(geoms) if geoms else (np.empty((0, 2)), np.empty((0, 4)))
    bag_hits: dict[str, list[Hit]] = {}
    if bag:
        bpts, bboxes = _places_crs84(bag_geoms)
        for (fid, layer, oid), pt, bx in zip(bag, bpts, bboxes, strict=True):
            hit = Hit(fid, "bag pand", layer, oid, tuple(pt), tuple(bx))
            bag_hits.setdefault(fid, []).append(hit)
    return NameIndex(places, points, boxes, bag_hits)


def _small(store, layer: str) -> bool:
    return store.layer(layer).count <= BAG_INDEX_MAX


def _bag_of(props: dict[str, Any]) -> str | None:
    value = props.get("bag_id") or props.get("identificatiebagpnd")
    return bag_id(str(value)) if value is not None else None


def _gemeente_code(code: str) -> str:
    """CBS wijk ``WK050311`` and buurt ``BU05031100`` codes start with their gemeente's."""
    return "GM" + code[2:6]


def _place(name: str, kind: str, layer: str, fid: str, geometry, aoi) -> _Place:
    return _Place(
        label=name,
        kind=kind,
        layer=layer,
        id=fid,
        name=normalise(name),
        context="",
        area=float(shapely.area(geometry)),
        inside=bool(aoi is not None and shapely.intersects(aoi, geometry)),
    )


@dataclass(frozen=True)
class _Reader:
    """How the names of one layer are read: ``names(properties)`` yields (name, kind, code)."""

    where: dict[str, Any] | None
    names: Any


def _reader(layer: str, title: str, fields: set[str]) -> _Reader | None:
    """Which fields of a layer name places, recognised by the layer's fields (the importers'
    schemas: CBS, Natura 2000, IMRO, the model input layers)."""
    if "gemeentenaam" in fields:  # CBS wijk- en buurtkaart: gemeente, wijk or buurt level

        def cbs(p):
            if p.get("water") == "JA":  # the water part repeats the land part's name
                return
            for level, code in (("buurt", "buurtcode"), ("wijk", "wijkcode")):
                if p.get(f"{level}naam"):
                    yield p[f"{level}naam"], level, p.get(code)
                    return
            if p.get("gemeentenaam"):
                yield p["gemeentenaam"], "gemeente", p.get("gemeentecode")

        return _Reader(None, cbs)
    if {"statnaam", "statcode"} <= fields:  # CBS gebiedsindelingen

        def stat(p):
            if p.get("statnaam"):
                code = p.get("statcode") or ""
                kind = p.get("rubriek") or _CBS_KINDS.get(code[:2], title or layer)
                yield p["statnaam"], kind, code

        return _Reader(None, stat)
    if "naam" in fields and ({"sitecode", "n2000_nummer"} & fields):
        return _Reader(None, lambda p: [(p["naam"], "natura2000", None)] if p.get("naam") else [])
    if {"naam", "object_type", "plan_id"} <= fields:  # IMRO: the plan area carries its name
        return _Reader(
            {"object_type": "Bestemmingsplangebied"},
            lambda p: [(p["naam"], "zoning plan", None)] if p.get("naam") else [],
        )
    for street in ("openbareruimtenaam", "straatnaam"):
        if street in fields:
            return _Reader(None, lambda p, s=street: [(p[s], "street", None)] if p.get(s) else [])
    if "name" in fields and layer in _NAMED_LAYERS:
        kind = _NAMED_LAYERS[layer]
        return _Reader(None, lambda p: [(p["name"], kind, None)] if p.get("name") else [])
    return None


_CBS_KINDS = {"GM": "gemeente", "WK": "wijk", "BU": "buurt", "PV": "provincie"}
# Model input layers whose ``name`` is a place (tweeling.models.input_layers); other layers
# with a ``name`` (norms, houses in tests) name rules or objects, not places.
_NAMED_LAYERS = {
    "road_traffic": "street",
    "wind_turbines": "wind turbine",
    "nitrogen_sources": "nitrogen source",
}
