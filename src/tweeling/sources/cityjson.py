"""CityJSON importer: 3D city models (1.0, 1.1, 2.0) as 2D feature layers with 3D detail.

The store indexes 2D geometry, so each city object becomes a record whose geometry is its
2D shape seen from above (a building's footprint), while its full 3D geometry travels along
as JSON (``geometry_3d``) with real RD New + NAP coordinates for the 3D viewer and models.

Layers. A ``Building`` becomes one record of the ``buildings`` layer; its second-level objects
(``BuildingPart``, ``BuildingInstallation``, ... found through ``parents``/``children``) are
folded into it, because the twin and the BAG identify the building, not its parts. The same
folding applies to ``Bridge``/``Tunnel`` and their parts. Other first-level types go to their
own layer (:data:`LAYER_NAMES`, else ``cityjson_<type>``).

Footprint. The GroundSurface semantic surfaces of the lowest LoD that has them, because these
are the modelled footprint. Without them: the union of the 2D projections of all surfaces of
the lowest-LoD geometry that have an area seen from above (walls project to lines and drop
out). Only ``Building``/``BuildingPart`` geometry counts, so an installation (a balcony, a
chimney) does not widen the footprint. Every projected surface must be a valid polygon; an
invalid one (self-intersecting, too few distinct points) is an :class:`InputError` naming the
object, because a silently repaired footprint would give wrong areas.

Heights (metres NAP). ``ground_height_m`` is the 3DBAG ``h_maaiveld`` when given (3DBAG places
LoD0 at z = 0, so the geometry's minimum is not the ground there), else the minimum z of the
LoD >= 1 geometry (all geometry if there is only LoD0). ``roof_height_m`` is the maximum z.
``height_m`` is ``measuredHeight`` when it is a height above the ground, else roof - ground.
In ``delft.city.json`` the z values are NAP (ground -0.45..0.6 m, as in Delft's centre) and
``measuredHeight`` equals the maximum z of the building in all 160 buildings (and
``min-height-surface`` its minimum z): there it is the roof's NAP level, not a height, so a
``measuredHeight`` within 1 cm of the roof level is taken as a level and ``height_m`` is
roof - ground. ``rotterdam-delfshaven.city.json`` has all ground surfaces at z = 0 and the NAP
terrain level in ``TerrainHeight`` (terrain + max z gives one roof level for a row of houses):
when a ``TerrainHeight`` is given and the building's minimum z is 0, its z values are heights
above the terrain and are shifted by ``TerrainHeight`` to NAP (heights and ``geometry_3d``).

Fields. ``buildings``: ``bag_id`` (``NL.IMBAG.Pand.`` + 16 digits, from ``identificatiebagpnd``,
``identificatie`` or a BAG-id object key), ``ground_height_m``, ``roof_height_m``, ``height_m``,
``construction_year``, and, like every layer, ``cityjson_type``, ``lods`` ("1.2,1.3,2.2"),
``attributes`` (the original attributes, JSON), ``geometry_3d`` (JSON: per geometry of the object
and its parts ``object``, ``object_type``, ``lod``, ``type``, ``boundaries`` with [x, y, z]
instead of vertex indices, ``semantics``) and ``parts`` (id, type, attributes of folded parts).
Other layers add the well-known attributes of :data:`_FLAT_FIELDS` that occur (``class``,
``function``, BGT ``lokaalid``, ...). Time axes come from the BGT attributes ``creationdate``,
``terminationdate``, ``tijdstipregistratie``, ``eindregistratie`` or the 3DBAG ones
``begingeldigheid``, ``eindgeldigheid``, ``tijdstipregistratielv``,
``tijdstipeindregistratielv``; empty strings mean not given.

Coordinates. ``transform`` (scale/translate) is applied to give real coordinates (rounded to the
scale's decimals, which is exact). The CRS comes from ``metadata.referenceSystem``, else the
``crs`` argument; other horizontal CRSs than RD New are transformed to RD New, z values are kept
as they are (assumed NAP).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyproj
import shapely

from tweeling.core.crs import check_rd_bounds, is_rd, normalise_crs, transform_to_rd
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, FieldType, ImportBatch, LayerSchema
from tweeling.core.timeaxis import parse_optional_time

__all__ = ["LAYER_NAMES", "layer_name", "normalise_bag_id", "read_cityjson"]

SUPPORTED_VERSIONS = ("1.0", "1.1", "2.0")
_VERSION = re.compile(r"^(\d+\.\d+)(\.\d+)?$")

LAYER_NAMES = {
    "Building": "buildings",
    "Road": "roads",
    "LandUse": "land_use",
    "PlantCover": "plant_cover",
    "WaterBody": "water_bodies",
    "Bridge": "bridges",
    "GenericCityObject": "generic_city_objects",
    "TINRelief": "terrain",
}
# First-level types whose second-level objects (BuildingPart, BridgeInstallation, ...) are
# folded into the first-level record.
_FAMILIES = ("Building", "Bridge", "Tunnel")

# How many list levels lie above a surface (a list of rings) in "boundaries".
_SURFACE_LEVELS = {
    "MultiSurface": 1,
    "CompositeSurface": 1,
    "Solid": 2,
    "MultiSolid": 3,
    "CompositeSolid": 3,
}
# How many list levels lie above a list of vertex indices (a ring, a line, the points).
_LEAF_LEVELS = {"MultiPoint": 0, "MultiLineString": 1} | {
    k: v + 1 for k, v in _SURFACE_LEVELS.items()
}
_MIN_LEAF = {"MultiPoint": 1, "MultiLineString": 2}  # rings need 3 (the default)

# A surface whose 2D projection has less area than this (m², twice the area) is vertical.
_MIN_AREA2 = 1e-6
# measuredHeight within this of the roof level is a level (NAP), not a height (Delft).
_LEVEL_TOLERANCE = 0.01

_BAG_PREFIX = "NL.IMBAG.Pand."
_BAG_KEY = re.compile(r"^(?:NL\.IMBAG\.Pand\.)?(\d{4}10\d{10})$")
_BAG_ID_FIELDS = ("identificatiebagpnd", "identificatie")
_YEAR_FIELDS = ("oorspronkelijk_bouwjaar", "oorspronkelijkbouwjaar", "yearOfConstruction")
# Time axes (BGT/IMGeo names as exported by 3dfier, then 3DBAG names); the first one given wins.
_TIME_FIELDS = {
    "valid_from": ("creationdate", "begingeldigheid"),
    "valid_to": ("terminationdate", "eindgeldigheid"),
    "recorded_at": ("tijdstipregistratie", "tijdstipregistratielv"),
    "record_end": ("eindregistratie", "tijdstipeindregistratielv"),
}
# Attributes worth a column of their own in the non-building layers (CityJSON and IMGeo).
_FLAT_FIELDS = {
    "class": FieldType.TEXT,
    "function": FieldType.TEXT,
    "usage": FieldType.TEXT,
    "name": FieldType.TEXT,
    "surfacematerial": FieldType.TEXT,
    "lokaalid": FieldType.TEXT,
    "bronhouder": FieldType.TEXT,
    "bgt_status": FieldType.TEXT,
    "bgt_type": FieldType.TEXT,
    "bgt_fysiekvoorkomen": FieldType.TEXT,
    "plus_type": FieldType.TEXT,
    "plus_fysiekvoorkomen": FieldType.TEXT,
    "relatievehoogteligging": FieldType.INTEGER,
}
_COMMON_FIELDS = {
    "cityjson_type": FieldType.TEXT,
    "lods": FieldType.TEXT,
    "attributes": FieldType.JSON,
    "geometry_3d": FieldType.JSON,
}
BUILDING_FIELDS = {
    "bag_id": FieldType.TEXT,
    "ground_height_m": FieldType.REAL,
    "roof_height_m": FieldType.REAL,
    "height_m": FieldType.REAL,
    "construction_year": FieldType.INTEGER,
    **_COMMON_FIELDS,
    "parts": FieldType.JSON,
}


# --------------------------------------------------------------------------------------------
# Public API


def read_cityjson(path: str | Path, *, crs: str | None = None) -> ImportBatch:
    """Read a CityJSON file into an :class:`ImportBatch` of 2D records in RD New.

    ``crs`` is used when the file's metadata has no ``referenceSystem`` (e.g. ``"EPSG:7415"``);
    when both are given they must agree. Raises :class:`InputError` naming the file (and the
    object) for anything that cannot be read faithfully.
    """
    path = Path(path)
    data = _load_json(path)
    version = _check_structure(data, path)
    source_crs = _resolve_crs(data, crs, path)
    ctx = _Context.build(data, source_crs, path)
    objects = data["CityObjects"]
    groups = _group_objects(objects, path)
    drafts = [_draft(root, members, objects, ctx) for root, members in groups.items()]
    records, layers = _finalise(drafts, path.name)
    return ImportBatch(
        source=f"cityjson:{path.name}",
        path=str(path),
        layers=layers,
        features=records,
        total=len(records),
        metadata={
            "cityjson_version": version,
            "crs": source_crs.to_string(),
            "transformed_to_rd": not is_rd(source_crs),
            "city_objects": len(objects),
            "records_per_layer": {s.name: sum(r.layer == s.name for r in records) for s in layers},
        },
    )


def normalise_bag_id(value: object) -> str | None:
    """A BAG pand id as ``NL.IMBAG.Pand.`` + 16 digits, or None when ``value`` is not one.

    Sources differ: the BGT stores the bare number without leading zero (Delft), the 3DBAG the
    full ``NL.IMBAG.Pand.0518100000285075``. One form lets the twin join them.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().removeprefix(_BAG_PREFIX)
    else:
        return None
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 16):
        return None
    return _BAG_PREFIX + text.zfill(16)


def layer_name(cityjson_type: str) -> str:
    """The layer of a first-level city object type (``cityjson_<type>`` when not a known one)."""
    known = LAYER_NAMES.get(cityjson_type)
    if known:
        return known
    slug = re.sub(r"[^a-z0-9]+", "_", cityjson_type.lower()).strip("_") or "object"
    return f"cityjson_{slug}"[:63]


# --------------------------------------------------------------------------------------------
# File, structure, CRS


def _load_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file does not exist", path=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a CityJSON file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", path=path) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON (truncated or corrupt?): {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}",
            path=path,
        ) from None


def _check_structure(data: Any, path: Path) -> str:
    """The CityJSON version, after checking the members every CityJSON file has."""
    if not isinstance(data, dict):
        raise InputError("not a CityJSON file: the top level is not a JSON object", path=path)
    kind = data.get("type")
    if kind != "CityJSON":
        found = "missing" if kind is None else repr(kind)
        raise InputError(f"not a CityJSON file: 'type' is {found}, not 'CityJSON'", path=path)
    if not isinstance(data.get("CityObjects"), dict):
        raise InputError(
            "not a CityJSON file: 'CityObjects' is missing or not an object", path=path
        )
    if not isinstance(data.get("vertices"), list):
        raise InputError("not a CityJSON file: 'vertices' is missing or not a list", path=path)
    version = data.get("version")
    match = _VERSION.match(version) if isinstance(version, str) else None
    if match is None or match.group(1) not in SUPPORTED_VERSIONS:
        raise InputError(
            f"CityJSON version {version!r} is not supported "
            f"(supported: {', '.join(SUPPORTED_VERSIONS)})",
            path=path,
            field="version",
        )
    return version


def _resolve_crs(data: dict, crs: str | None, path: Path) -> pyproj.CRS:
    """The file's CRS (metadata.referenceSystem), else the caller's; they must agree."""
    meta = data.get("metadata")
    ref = meta.get("referenceSystem") if isinstance(meta, dict) else None
    given = normalise_crs(crs, path=path) if crs else None
    if not ref:
        if given is None:
            raise InputError(
                "the file states no coordinate reference system (metadata.referenceSystem); "
                "pass a CRS, e.g. crs='EPSG:7415' for RD New + NAP (on the command line: "
                "--crs EPSG:7415)",
                path=path,
            )
        return given
    found = normalise_crs(ref, path=path)
    if given is not None and _horizontal(given) != _horizontal(found):
        raise InputError(
            f"the given CRS {crs!r} disagrees with the file's referenceSystem {ref!r}",
            path=path,
        )
    return found


def _horizontal(crs: pyproj.CRS) -> pyproj.CRS:
    return crs.sub_crs_list[0] if crs.is_compound else crs


# --------------------------------------------------------------------------------------------
# Vertices and geometry templates


def _scale_decimals(scale: float) -> int | None:
    """Decimals that represent multiples of ``scale`` exactly (3 for 0.001), None if none do."""
    for decimals in range(10):
        if abs(round(scale, decimals) - scale) < 1e-12:
            return decimals
    return None


def _real_vertices(data: dict, path: Path) -> tuple[np.ndarray, list[int | None]]:
    """Vertices with ``transform`` applied (file CRS) and the decimals per axis to round to."""
    try:
        verts = np.asarray(data["vertices"], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("'vertices' must be a list of [x, y, z] numbers", path=path) from None
    if verts.size == 0:
        verts = verts.reshape(0, 3)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise InputError("'vertices' must be a list of [x, y, z] numbers", path=path)
    transform = data.get("transform")
    if transform is None:
        return verts, [None, None, None]
    try:
        scale = np.asarray(transform["scale"], dtype=np.float64).reshape(3)
        translate = np.asarray(transform["translate"], dtype=np.float64).reshape(3)
    except (KeyError, TypeError, ValueError):
        raise InputError(
            "'transform' needs 'scale' and 'translate' of 3 numbers each", path=path
        ) from None
    if not np.all(scale > 0):
        raise InputError("'transform.scale' must be positive", path=path)
    return verts * scale + translate, [_scale_decimals(float(s)) for s in scale]


def _round(verts: np.ndarray, decimals: list[int | None]) -> np.ndarray:
    """Round each axis to its decimals, so 84616.468000000001 is stored as 84616.468."""
    out = verts.copy()
    for axis, dec in enumerate(decimals):
        if dec is not None:
            out[:, axis] = np.round(out[:, axis], dec)
    return out


def _to_rd(verts: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """Vertices (file CRS) in RD New, z unchanged; vectorised through core.crs."""
    if is_rd(crs) or len(verts) == 0:
        return verts
    points = transform_to_rd(shapely.points(verts), crs)
    return shapely.get_coordinates(points, include_z=True)


@dataclass
class _Context:
    """Per-file state: vertices in RD New + NAP (array and nested list) and templates."""

    path: Path
    crs: pyproj.CRS
    verts: np.ndarray  # (n, 3) RD New + NAP
    coords: list[list[float]]  # verts.tolist(), shared by all geometry_3d output
    file_verts: np.ndarray  # (n, 3) real coordinates in the file's CRS (template anchors)
    decimals: list[int | None]
    templates: list[Any] = field(default_factory=list)
    template_verts: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    _template_cache: dict[int, tuple[dict, np.ndarray, list]] = field(default_factory=dict)

    @classmethod
    def build(cls, data: dict, crs: pyproj.CRS, path: Path) -> _Context:
        file_verts, decimals = _real_vertices(data, path)
        if not is_rd(crs):
            decimals = [3, 3, decimals[2]]  # transformed: millimetres are plenty
        verts = _round(_to_rd(file_verts, crs), decimals)
        if len(verts):
            mins, maxs = verts.min(axis=0), verts.max(axis=0)
            check_rd_bounds((mins[0], mins[1], maxs[0], maxs[1]), path=path)
        ctx = cls(path, crs, verts, verts.tolist(), file_verts, decimals)
        ctx._read_templates(data.get("geometry-templates"))
        return ctx

    def _read_templates(self, block: Any) -> None:
        if block is None:
            return
        try:
            self.templates = list(block["templates"])
            tv = np.asarray(block["vertices-templates"], dtype=np.float64)
            self.template_verts = tv.reshape(-1, 3) if tv.size else np.zeros((0, 3))
        except (KeyError, TypeError, ValueError):
            raise InputError(
                "'geometry-templates' needs 'templates' and 'vertices-templates' "
                "(a list of [x, y, z])",
                path=self.path,
            ) from None

    def error(self, message: str, oid: str | None = None, fld: str | None = None) -> InputError:
        return InputError(message, path=self.path, object_id=oid, field=fld)

    def template(self, number: Any, oid: str) -> tuple[dict, np.ndarray, list]:
        """Template ``number``: its geometry, the vertices it uses, its re-indexed boundaries.

        Computed once per template, so that placing an instance costs only its own vertices.
        """
        if not isinstance(number, int) or not 0 <= number < len(self.templates):
            raise self.error(f"GeometryInstance refers to unknown template {number!r}", oid)
        if number not in self._template_cache:
            geom = self.templates[number]
            if not isinstance(geom, dict) or geom.get("type") not in _LEAF_LEVELS:
                raise self.error(f"geometry template {number} is not a geometry", oid)
            levels = _LEAF_LEVELS[geom["type"]]
            leaves = _leaves(geom.get("boundaries"), levels, geom["type"], self, oid)
            used = np.unique(_indices(leaves, len(self.template_verts), self, oid))
            remap = np.full(len(self.template_verts), -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            lookup = remap.tolist()
            boundaries = _map_leaves(geom["boundaries"], levels, lambda r: [lookup[i] for i in r])
            self._template_cache[number] = (geom, self.template_verts[used], boundaries)
        return self._template_cache[number]


# --------------------------------------------------------------------------------------------
# Geometry parsing


@dataclass(frozen=True)
class _Geometry:
    """One CityJSON geometry, indices validated, with the vertices they index."""

    owner: str
    owner_type: str
    lod: str
    type: str
    boundaries: list
    semantics: dict | None
    verts: np.ndarray
    coords: list[list[float]]
    surfaces: list[list[list[int]]]  # surface types only: surfaces as lists of rings
    surface_types: list[str | None]  # semantic type per surface
    leaves: list[list[int]]  # rings, lines or the point list
    zmin: float | None
    zmax: float | None
    template: int | None = None

    @property
    def lod_key(self) -> tuple[int, ...]:
        return _lod_key(self.lod)

    @property
    def is_surface(self) -> bool:
        return self.type in _SURFACE_LEVELS


def _lod(value: Any, ctx: _Context, oid: str) -> str:
    """A LoD as text: 1 -> "1", 1.2 -> "1.2", "2.2" stays (1.0 files use numbers)."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value) if isinstance(value, int | float) else value
    if not isinstance(text, str) or not re.fullmatch(r"\d+(\.\d+)?", text):
        raise ctx.error(f"geometry has no valid 'lod' ({value!r})", oid, "lod")
    return text


def _leaves(b: Any, levels: int, gtype: str, ctx: _Context, oid: str) -> list[list[int]]:
    """The lists of vertex indices (rings, lines, points) nested ``levels`` deep in ``b``."""
    if not isinstance(b, list):
        raise ctx.error(f"{gtype} boundaries are not nested lists of vertex indices", oid)
    if levels == 0:
        minimum = _MIN_LEAF.get(gtype, 3)
        if len(b) < minimum:
            what = {"MultiPoint": "point list", "MultiLineString": "line"}.get(gtype, "ring")
            raise ctx.error(
                f"{gtype}: a {what} has {len(b)} vertices, fewer than {minimum} "
                "(too few points to form it)",
                oid,
            )
        return [b]
    return list(chain.from_iterable(_leaves(x, levels - 1, gtype, ctx, oid) for x in b))


def _indices(leaves: list[list[int]], n: int, ctx: _Context, oid: str) -> np.ndarray:
    """All vertex indices of a geometry as an array, checked to lie in 0..n-1."""
    flat = np.array(list(chain.from_iterable(leaves)))
    if flat.size == 0:
        return flat.astype(np.int64)
    if flat.dtype.kind not in "iu":
        raise ctx.error("boundaries contain something other than vertex indices", oid)
    lo, hi = int(flat.min()), int(flat.max())
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        raise ctx.error(f"vertex index {bad} is out of range (the file has {n} vertices)", oid)
    return flat


def _map_leaves(b: list, levels: int, fn: Callable[[list[int]], list]) -> list:
    """``b`` with every list of vertex indices replaced by ``fn(indices)``."""
    if levels == 0:
        return fn(b)
    return [_map_leaves(x, levels - 1, fn) for x in b]


def _surface_semantics(b: list, levels: int, semantics: Any) -> list[str | None]:
    """The semantic surface type of every surface, in the order of :func:`_surfaces`."""
    if not isinstance(semantics, dict):
        return [None] * len(_surfaces(b, levels))
    kinds = semantics.get("surfaces") or []
    out: list[str | None] = []

    def walk(part: list, values: Any, depth: int) -> None:
        if depth == 0:
            ok = isinstance(values, int) and not isinstance(values, bool)
            item = kinds[values] if ok and 0 <= values < len(kinds) else None
            out.append(item.get("type") if isinstance(item, dict) else None)
            return
        for i, sub in enumerate(part):
            walk(
                sub, values[i] if isinstance(values, list) and i < len(values) else None, depth - 1
            )

    walk(b, semantics.get("values"), levels)
    return out


def _surfaces(b: list, levels: int) -> list[list[list[int]]]:
    if levels == 1:
        return b
    return list(chain.from_iterable(_surfaces(x, levels - 1) for x in b))


def _parse_geometry(geom: Any, oid: str, otype: str, ctx: _Context) -> _Geometry:
    if not isinstance(geom, dict):
        raise ctx.error("a geometry is not a JSON object", oid, "geometry")
    gtype = geom.get("type")
    if gtype == "GeometryInstance":
        return _parse_instance(geom, oid, otype, ctx)
    if gtype not in _LEAF_LEVELS:
        raise ctx.error(f"unsupported geometry type {gtype!r}", oid, "geometry")
    return _make_geometry(geom, geom.get("lod"), oid, otype, ctx.verts, ctx.coords, ctx)


def _make_geometry(
    geom: dict,
    lod: Any,
    oid: str,
    otype: str,
    verts: np.ndarray,
    coords: list[list[float]],
    ctx: _Context,
    boundaries: list | None = None,
    template: int | None = None,
) -> _Geometry:
    gtype = geom["type"]
    lod_text = _lod(lod, ctx, oid)
    b = geom.get("boundaries") if boundaries is None else boundaries
    leaves = _leaves(b, _LEAF_LEVELS[gtype], gtype, ctx, oid)
    flat = _indices(leaves, len(verts), ctx, oid)
    z = verts[flat, 2] if flat.size else None
    surface_levels = _SURFACE_LEVELS.get(gtype)
    surfaces = _surfaces(b, surface_levels) if surface_levels else []
    semantics = geom.get("semantics")
    return _Geometry(
        owner=oid,
        owner_type=otype,
        lod=lod_text,
        type=gtype,
        boundaries=b,
        semantics=semantics if isinstance(semantics, dict) else None,
        verts=verts,
        coords=coords,
        surfaces=surfaces,
        surface_types=_surface_semantics(b, surface_levels, semantics) if surface_levels else [],
        leaves=leaves,
        zmin=None if z is None else float(z.min()),
        zmax=None if z is None else float(z.max()),
        template=template,
    )


def _parse_instance(geom: dict, oid: str, otype: str, ctx: _Context) -> _Geometry:
    """A GeometryInstance placed in RD New: anchor + matrix x template vertices."""
    number = geom.get("template")
    template, local, boundaries = ctx.template(number, oid)
    anchor = geom.get("boundaries")
    if not (isinstance(anchor, list) and len(anchor) == 1):
        raise ctx.error("GeometryInstance boundaries must hold one anchor vertex", oid)
    (ref,) = _indices([anchor], len(ctx.verts), ctx, oid)
    try:
        matrix = np.asarray(geom.get("transformationMatrix"), dtype=np.float64).reshape(4, 4)
    except (TypeError, ValueError):
        raise ctx.error(
            "GeometryInstance needs a transformationMatrix of 16 numbers", oid
        ) from None
    placed = local @ matrix[:3, :3].T + matrix[:3, 3] + ctx.file_verts[ref]
    verts = _round(_to_rd(placed, ctx.crs), ctx.decimals)
    return _make_geometry(
        template,
        template.get("lod"),
        oid,
        otype,
        verts,
        verts.tolist(),
        ctx,
        boundaries=boundaries,
        template=number,
    )


# --------------------------------------------------------------------------------------------
# 2D projection


@dataclass
class _RingSet:
    """Rings of selected surfaces, concatenated for vectorised 2D work."""

    xy: np.ndarray  # (n, 2)
    ring: np.ndarray  # ring number per coordinate
    ring_surface: np.ndarray  # surface number per ring
    ring_outer: np.ndarray  # True for the exterior ring of a surface
    labels: list[str]  # per surface, for error messages


def _ring_set(geoms: Iterable[_Geometry], semantic: str | None, oid: str) -> _RingSet:
    """The rings of all surfaces of ``geoms`` (only those of type ``semantic`` if given)."""
    parts, ring_len, ring_surface, ring_outer, labels = [], [], [], [], []
    for g in geoms:
        rings = []
        for k, surface in enumerate(g.surfaces):
            if semantic is not None and g.surface_types[k] != semantic:
                continue
            for j, ring in enumerate(surface):
                rings.append(ring)
                ring_len.append(len(ring))
                ring_surface.append(len(labels))
                ring_outer.append(j == 0)
            owner = "" if g.owner == oid else f" of {g.owner_type} {g.owner!r}"
            labels.append(f"LoD {g.lod} {g.type}{owner}, surface {k}")
        if rings:
            parts.append(g.verts[np.fromiter(chain.from_iterable(rings), dtype=np.int64), :2])
    xy = np.concatenate(parts) if parts else np.zeros((0, 2))
    ring = np.repeat(np.arange(len(ring_len)), ring_len)
    return _RingSet(xy, ring, np.array(ring_surface, int), np.array(ring_outer, bool), labels)


def _clean_rings(rs: _RingSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop repeated 2D points (vertical edges, closing points); per ring, whether it has area.

    A ring has area seen from above when the triangle fan from its first point covers more
    than :data:`_MIN_AREA2`: a vertical wall projects to a line and has none, while a
    self-intersecting ring (whose signed area may be zero) still has and is checked later.
    """
    xy, ring = rs.xy, rs.ring
    n_rings = len(rs.ring_surface)
    keep = np.ones(len(xy), bool)
    keep[1:] = ~((ring[1:] == ring[:-1]) & np.all(xy[1:] == xy[:-1], axis=1))
    xy, ring = xy[keep], ring[keep]
    if len(ring):
        start = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
        end = np.r_[start[1:], len(ring)] - 1
        closing = (end > start) & np.all(xy[end] == xy[start], axis=1)
        keep = np.ones(len(xy), bool)
        keep[end[closing]] = False
        xy, ring = xy[keep], ring[keep]
    counts = np.bincount(ring, minlength=n_rings)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    local = xy - xy[first[ring]] if len(xy) else xy
    same = ring[1:] == ring[:-1]
    cross = local[:-1, 0] * local[1:, 1] - local[:-1, 1] * local[1:, 0]
    area2 = np.bincount(ring[:-1][same], weights=np.abs(cross[same]), minlength=n_rings)
    has_area = (counts >= 3) & (area2 > _MIN_AREA2)
    return xy, ring, has_area


def _polygons(rs: _RingSet, ctx: _Context, oid: str) -> np.ndarray:
    """Valid 2D polygons of the surfaces that have area seen from above (vectorised)."""
    xy, ring, has_area = _clean_rings(rs)
    surface_ok = np.zeros(len(rs.labels), bool)
    surface_ok[rs.ring_surface[rs.ring_outer & has_area]] = True
    ring_ok = has_area & surface_ok[rs.ring_surface]
    if not ring_ok.any():
        return np.empty(0, dtype=object)
    point_ok = ring_ok[ring]
    ring_ids = np.unique(ring[point_ok], return_inverse=True)[1]
    kept_rings = np.flatnonzero(ring_ok)
    surfaces, poly_ids = np.unique(rs.ring_surface[kept_rings], return_inverse=True)
    rings = shapely.linearrings(xy[point_ok], indices=ring_ids)
    polys = shapely.polygons(rings, indices=poly_ids)
    valid = shapely.is_valid(polys)
    if not valid.all():
        bad = int(np.flatnonzero(~valid)[0])
        reason = shapely.is_valid_reason(polys[bad])
        raise ctx.error(
            f"invalid geometry: {rs.labels[surfaces[bad]]} seen from above is not a valid "
            f"polygon ({reason})",
            oid,
        )
    return polys


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """``geom`` as a valid Polygon or MultiPolygon (the polygonal parts of a union)."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if isinstance(geom, shapely.Polygon | shapely.MultiPolygon):
        return geom
    polys = [
        p
        for part in shapely.get_parts(geom)
        for p in shapely.get_parts(part)
        if isinstance(p, shapely.Polygon)
    ]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _union(polys: np.ndarray) -> shapely.Geometry:
    if len(polys) == 0:
        return shapely.Polygon()
    return _polygonal(shapely.union_all(polys))


def _lowest(geoms: list[_Geometry]) -> list[_Geometry]:
    """The geometries of the lowest LoD among ``geoms``."""
    if not geoms:
        return []
    low = min(g.lod_key for g in geoms)
    return [g for g in geoms if g.lod_key == low]


def _footprint(geoms: list[_Geometry], ctx: _Context, oid: str) -> shapely.Geometry:
    """GroundSurfaces of the lowest LoD having them, else the projection of the lowest LoD."""
    surface_geoms = [g for g in geoms if g.is_surface]
    grounded = [g for g in surface_geoms if "GroundSurface" in g.surface_types]
    if grounded:
        ground = _union(_polygons(_ring_set(_lowest(grounded), "GroundSurface", oid), ctx, oid))
        if not ground.is_empty:
            return ground
    if not surface_geoms:
        return shapely.Polygon()
    footprint = _union(_polygons(_ring_set(_lowest(surface_geoms), None, oid), ctx, oid))
    if footprint.is_empty:
        raise ctx.error("invalid geometry: no surface has an area seen from above", oid)
    return footprint


def _line(xy: np.ndarray) -> list[shapely.LineString]:
    """A 2D line through ``xy`` without repeated points; none if it collapses to a point."""
    xy = xy[np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]]
    return [shapely.LineString(xy)] if len(xy) >= 2 else []


def _lines(geoms: list[_Geometry]) -> list[shapely.LineString]:
    return [line for g in geoms for leaf in g.leaves for line in _line(g.verts[leaf, :2])]


def _outlines(geoms: list[_Geometry]) -> shapely.Geometry:
    """Linework of surfaces without area seen from above (e.g. a wall modelled as a sheet)."""
    lines = [
        line for g in geoms for ring in g.leaves for line in _line(g.verts[[*ring, ring[0]], :2])
    ]
    return shapely.line_merge(shapely.union_all(lines)) if lines else shapely.Polygon()


def _projection(geoms: list[_Geometry], ctx: _Context, oid: str) -> shapely.Geometry:
    """The 2D shape of a non-building object: its lowest-LoD geometry seen from above."""
    low = _lowest(geoms)
    surfaces = [g for g in low if g.is_surface]
    parts: list[shapely.Geometry] = []
    if surfaces:
        area = _union(_polygons(_ring_set(surfaces, None, oid), ctx, oid))
        parts.append(area if not area.is_empty else _outlines(surfaces))
    lines = _lines([g for g in low if g.type == "MultiLineString"])
    if lines:
        parts.append(lines[0] if len(lines) == 1 else shapely.MultiLineString(lines))
    points = [g.verts[leaf, :2] for g in low if g.type == "MultiPoint" for leaf in g.leaves]
    if points:
        xy = np.concatenate(points)
        parts.append(shapely.Point(xy[0]) if len(xy) == 1 else shapely.MultiPoint(xy))
    parts = [p for p in parts if not p.is_empty]
    if not parts:
        return shapely.GeometryCollection()
    return parts[0] if len(parts) == 1 else shapely.GeometryCollection(parts)


# --------------------------------------------------------------------------------------------
# Objects to records


def _group_objects(objects: dict, path: Path) -> dict[str, list[str]]:
    """First-level object id -> its id and the ids folded into it, in file order."""
    parent_of: dict[str, str] = {}
    for oid, obj in objects.items():
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise InputError("city object without a 'type'", path=path, object_id=oid)
        for name in ("children", "parents"):
            _check_refs(obj.get(name), objects, path, oid, name)
        for child in obj.get("children") or []:
            parent_of.setdefault(child, oid)  # an object's own 'parents' wins (below)
        if obj.get("parents"):
            parent_of[oid] = obj["parents"][0]
    groups: dict[str, list[str]] = {}
    for oid in objects:
        groups.setdefault(_root(oid, objects, parent_of), []).append(oid)
    return groups


def _check_refs(refs: Any, objects: dict, path: Path, oid: str, name: str) -> None:
    """``children``/``parents`` must list ids of objects in the file."""
    if refs is None:
        return
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise InputError("must be a list of object ids", path=path, object_id=oid, field=name)
    missing = [r for r in refs if r not in objects]
    if missing:
        raise InputError(
            f"refers to {missing!r}, not in CityObjects", path=path, object_id=oid, field=name
        )


def _family(cityjson_type: str) -> str | None:
    return next((f for f in _FAMILIES if cityjson_type.startswith(f)), None)


def _root(oid: str, objects: dict, parent_of: dict[str, str]) -> str:
    """The first-level object ``oid`` is folded into (itself when it is not a part)."""
    seen = {oid}
    current = oid
    while current in parent_of:
        parent = parent_of[current]
        kind = objects[current]["type"]
        family = _family(kind)
        # Fold parts only: a Building in a CityObjectGroup (or in a Building) stays itself.
        if family in (None, kind) or family != _family(objects[parent]["type"]) or parent in seen:
            break
        seen.add(parent)
        current = parent
    return current


@dataclass
class _Draft:
    """A record before its layer's geometry type is known."""

    layer: str
    id: str
    geometry: shapely.Geometry
    properties: dict[str, Any]
    times: dict[str, Any]


def _draft(root: str, members: list[str], objects: dict, ctx: _Context) -> _Draft:
    obj = objects[root]
    otype = obj["type"]
    attributes = obj.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ctx.error("'attributes' is not a JSON object", root, "attributes")
    geoms = []
    for member in members:
        mobj = objects[member]
        for geom in mobj.get("geometry") or []:
            geoms.append(_parse_geometry(geom, member, mobj["type"], ctx))
    family = _family(otype)
    main = [g for g in geoms if g.owner_type in (otype, f"{otype}Part")] if family else geoms
    layer = layer_name(otype)
    props: dict[str, Any] = {
        "cityjson_type": otype,
        "lods": ",".join(sorted({g.lod for g in geoms}, key=_lod_key)),
        "attributes": attributes,
    }
    parts = [_part(m, objects[m]) for m in members if m != root]
    if parts:
        props["parts"] = parts
    if otype == "Building":
        offset = _terrain_offset(attributes, main)
        geometry = _footprint(main, ctx, root)
        props |= _building_properties(root, attributes, main, offset, ctx)
    else:
        offset = 0.0
        geometry = _projection(main, ctx, root) if main else shapely.GeometryCollection()
        props |= _flat_attributes(attributes, ctx, root)
    props["geometry_3d"] = [_geometry_3d(g, offset, ctx) for g in geoms]
    return _Draft(layer, root, geometry, props, _times(attributes, ctx, root))


def _lod_key(lod: str) -> tuple[int, ...]:
    return tuple(int(p) for p in lod.split("."))


def _part(oid: str, obj: dict) -> dict[str, Any]:
    return {"id": oid, "type": obj["type"], "attributes": obj.get("attributes") or {}}


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and np.isfinite(value) else None


def _terrain_offset(attributes: dict, geoms: list[_Geometry]) -> float:
    """NAP level to add to z when the geometry stands on z = 0 and TerrainHeight is given."""
    terrain = _number(attributes.get("TerrainHeight"))
    zmins = [g.zmin for g in geoms if g.zmin is not None]
    if terrain is None or not zmins or abs(min(zmins)) > 1e-9:
        return 0.0
    return terrain


def _building_properties(
    oid: str, attributes: dict, geoms: list[_Geometry], offset: float, ctx: _Context
) -> dict[str, Any]:
    ground, roof, height = _heights(attributes, geoms, offset)
    return {
        "bag_id": _bag_id(oid, attributes),
        "ground_height_m": ground,
        "roof_height_m": roof,
        "height_m": height,
        "construction_year": _year(attributes, ctx, oid),
    }


def _heights(
    attributes: dict, geoms: list[_Geometry], offset: float
) -> tuple[float | None, float | None, float | None]:
    """Ground, roof (NAP) and height above ground; see the module docstring for why."""
    solid = [g for g in geoms if g.zmin is not None and g.lod_key >= (1,)]
    used = solid or [g for g in geoms if g.zmin is not None]
    if not used:
        return (
            _number(attributes.get("h_maaiveld")),
            None,
            _number(attributes.get("measuredHeight")),
        )
    zmin = min(g.zmin for g in used) + offset
    roof = max(g.zmax for g in used) + offset
    ground = _number(attributes.get("h_maaiveld"))
    ground = zmin if ground is None else ground
    measured = _number(attributes.get("measuredHeight"))
    if measured is None or abs(measured - roof) <= _LEVEL_TOLERANCE:
        height = roof - ground
    else:
        height = measured
    return round(ground, 3), round(roof, 3), round(height, 3)


def _bag_id(oid: str, attributes: dict) -> str | None:
    for name in _BAG_ID_FIELDS:
        bag = normalise_bag_id(attributes.get(name))
        if bag:
            return bag
    match = _BAG_KEY.match(oid)
    return _BAG_PREFIX + match.group(1) if match else None


def _year(attributes: dict, ctx: _Context, oid: str) -> int | None:
    for name in _YEAR_FIELDS:
        value = attributes.get(name)
        if value is None or value == "":
            continue
        try:
            year = _integer(value)
        except ValueError:
            raise ctx.error(f"{value!r} is not a year", oid, name) from None
        return year
    return None


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise ValueError(value)


def _flat_attributes(attributes: dict, ctx: _Context, oid: str) -> dict[str, Any]:
    """Well-known scalar attributes as their own columns; empty strings mean not given."""
    out: dict[str, Any] = {}
    for name, ftype in _FLAT_FIELDS.items():
        if name not in attributes:
            continue
        value = attributes[name]
        if value is None or value == "" or isinstance(value, list | dict):
            out[name] = None
        elif ftype is FieldType.INTEGER:
            try:
                out[name] = _integer(value)
            except ValueError:
                raise ctx.error(f"{value!r} is not an integer", oid, name) from None
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


def _times(attributes: dict, ctx: _Context, oid: str) -> dict[str, Any]:
    """The four time axes from the first attribute of each that is given (non-empty)."""
    out: dict[str, Any] = {}
    for axis, names in _TIME_FIELDS.items():
        out[axis] = None
        for name in names:
            try:
                value = parse_optional_time(attributes.get(name), what=name)
            except InputError as exc:
                raise ctx.error(exc.reason, oid, name) from None
            if value is not None:
                out[axis] = value
                break
    return out


def _geometry_3d(g: _Geometry, offset: float, ctx: _Context) -> dict[str, Any]:
    """The geometry with vertex indices replaced by real [x, y, z] (RD New + NAP)."""
    coords = g.coords
    if offset:
        dec = ctx.decimals[2]

        def lookup(ring: list[int]) -> list:
            return [[c[0], c[1], _shift(c[2], offset, dec)] for c in (coords[i] for i in ring)]

    else:

        def lookup(ring: list[int]) -> list:
            # Copies: records must not share (mutable) coordinate lists of shared vertices.
            return [coords[i].copy() for i in ring]

    out: dict[str, Any] = {
        "object": g.owner,
        "object_type": g.owner_type,
        "lod": g.lod,
        "type": g.type,
        "boundaries": _map_leaves(g.boundaries, _LEAF_LEVELS[g.type], lookup),
    }
    if g.semantics is not None:
        out["semantics"] = g.semantics
    if g.template is not None:
        out["template"] = g.template
    return out


def _shift(z: float, offset: float, decimals: int | None) -> float:
    return z + offset if decimals is None else round(z + offset, decimals)


# --------------------------------------------------------------------------------------------
# Layers


def _finalise(drafts: list[_Draft], filename: str) -> tuple[list[FeatureRecord], list[LayerSchema]]:
    """Layer schemas (only for layers that received objects) and the final records."""
    by_layer: dict[str, list[_Draft]] = {}
    for d in drafts:
        by_layer.setdefault(d.layer, []).append(d)
    layers = []
    final: dict[int, FeatureRecord] = {}
    for name, items in by_layer.items():
        gtype = _geometry_type([d.geometry for d in items])
        layers.append(_schema(name, items, gtype, filename))
        for d in items:
            final[id(d)] = FeatureRecord(
                layer=d.layer,
                id=d.id,
                geometry=_conform(d.geometry, gtype),
                properties=d.properties,
                **d.times,
            )
    return [final[id(d)] for d in drafts], layers


_FAMILY_OF_GEOMETRY = {
    "POLYGON": "POLYGON",
    "MULTIPOLYGON": "POLYGON",
    "LINESTRING": "LINESTRING",
    "MULTILINESTRING": "LINESTRING",
    "POINT": "POINT",
    "MULTIPOINT": "POINT",
}


def _geometry_type(geoms: list[shapely.Geometry]) -> str:
    """POLYGON when all are Polygons, MULTIPOLYGON for a mix with MultiPolygons, etc."""
    kinds = {g.geom_type.upper() for g in geoms if not g.is_empty}
    families = {_FAMILY_OF_GEOMETRY.get(k) for k in kinds}
    if len(families) != 1 or None in families:
        return "GEOMETRY"
    (family,) = families
    return family if kinds == {family} else f"MULTI{family}"


def _conform(geom: shapely.Geometry, gtype: str) -> shapely.Geometry:
    """``geom`` in the layer's declared type: single parts promoted to multi, typed empties.

    GeoPackage does not allow a Polygon in a MULTIPOLYGON column, so a layer mixing both holds
    one-part MultiPolygons.
    """
    multi = {
        "MULTIPOLYGON": shapely.MultiPolygon,
        "MULTILINESTRING": shapely.MultiLineString,
        "MULTIPOINT": shapely.MultiPoint,
    }
    single = {"POLYGON": shapely.Polygon, "LINESTRING": shapely.LineString, "POINT": shapely.Point}
    if gtype in multi:
        if geom.is_empty:
            return multi[gtype]()
        return geom if geom.geom_type.upper() == gtype else multi[gtype]([geom])
    if gtype in single and geom.is_empty:
        return single[gtype]()
    return geom


def _schema(name: str, items: list[_Draft], gtype: str, filename: str) -> LayerSchema:
    if name == "buildings":
        fields = dict(BUILDING_FIELDS)
        title, what = "Buildings", "building footprints"
    else:
        present = set().union(*(d.properties.keys() for d in items))
        fields = dict(_COMMON_FIELDS)
        fields |= {k: t for k, t in _FLAT_FIELDS.items() if k in present}
        if "parts" in present:
            fields["parts"] = FieldType.JSON
        ctype = items[0].properties["cityjson_type"]
        title, what = ctype, f"{ctype} objects seen from above"
    return LayerSchema(
        name=name,
        geometry_type=gtype,
        fields=fields,
        title=title,
        description=(
            f"{what.capitalize()} (2D, RD New) from CityJSON; the 3D geometry with NAP heights "
            "is in geometry_3d, the original attributes in attributes"
        ),
        source=f"cityjson:{filename}",
    )
