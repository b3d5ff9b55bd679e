"""GML 3.1.1 / 3.2 geometry to shapely, with circular arcs linearised to a stated tolerance.

Reads the geometry elements used by Dutch information models (IMRO, IMGeo, NEN 3610):
``Point``, ``MultiPoint``, ``LineString``, ``Curve`` (segments ``LineStringSegment``, ``Arc``,
``ArcString``, ``Circle``), ``CompositeCurve``, ``OrientableCurve``, ``MultiCurve``,
``LinearRing``, ``Ring``, ``Polygon``, ``Surface``/``PolygonPatch``, ``CompositeSurface``,
``MultiSurface`` and the deprecated GML 3.1.1 ``MultiPolygon``/``MultiLineString``.
Coordinates may be given as ``posList``, ``pos`` or ``coordinates``. Only 2D (x, y) is kept.

Curved segments are replaced by chords on the circle: see :func:`linearise_arc`.
Errors are raised as :class:`GmlError` with the source line of the offending element; the
caller (an importer) turns them into an ``InputError`` naming the file and object.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import shapely
from lxml import etree

GML_NAMESPACES = frozenset({"http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2"})
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
RD_NEW_EPSG = 28992

# Points closer than this (metres) are the same point when joining segments and closing rings.
JOIN_TOLERANCE_M = 1e-6
# Three points whose triangle is flatter than this (sine of the angle at the start point)
# are collinear: the circle through them is undefined (or too large to compute reliably).
_COLLINEAR_SINE = 1e-12

_EPSG_URN = re.compile(r"EPSG[:/]+(?:[0-9.]*[:/]+)?([0-9]+)$", re.IGNORECASE)
_EPSG_XML = re.compile(r"epsg\.xml#([0-9]+)$", re.IGNORECASE)

Point2 = tuple[float, float]


class GmlError(ValueError):
    """A GML geometry that cannot be read; ``line`` is the source line of the element."""

    def __init__(self, message: str, element: etree._Element | None = None) -> None:
        self.line = element.sourceline if element is not None else None
        self.reason = message
        super().__init__(f"line {self.line}: {message}" if self.line else message)


# --------------------------------------------------------------------------------------------
# Circular arcs
# --------------------------------------------------------------------------------------------


def max_step_angle(radius: float, tolerance: float) -> float:
    """Largest angle (radians) a chord may span on a circle of ``radius`` within ``tolerance``.

    The sagitta (largest distance between an arc and its chord) of an arc spanning angle θ on a
    circle of radius r is ``s = r·(1 − cos(θ/2))``. Solving for θ gives the largest step angle
    for a given tolerance s: ``θ = 2·acos(1 − s/r)``, computed here in the equivalent,
    numerically stable form ``θ = 4·asin(√(s / 2r))`` (since 1 − cos x = 2·sin²(x/2)); for
    large radii the acos form loses all precision. When ``s ≥ r`` any chord up to a half circle
    is within tolerance, so the step is capped at π.
    """
    if not tolerance > 0:
        raise ValueError(f"arc tolerance must be positive, got {tolerance!r}")
    if not radius > 0:
        raise ValueError(f"circle radius must be positive, got {radius!r}")
    if tolerance >= radius:
        return math.pi
    return 4.0 * math.asin(math.sqrt(tolerance / (2.0 * radius)))


def circle_through(p0: Point2, p1: Point2, p2: Point2) -> tuple[float, float, float] | None:
    """Centre (cx, cy) and radius of the circle through three points; None when collinear.

    With b = p1 − p0 and c = p2 − p0 (translated to p0 for precision) and
    d = 2·(bx·cy − by·cx), the centre is p0 + ((cy·|b|² − by·|c|²)/d, (bx·|c|² − cx·|b|²)/d).
    Points are collinear when the triangle is flatter than a sine of 1e-12 (or coincident).
    """
    bx, by = p1[0] - p0[0], p1[1] - p0[1]
    cx, cy = p2[0] - p0[0], p2[1] - p0[1]
    d = 2.0 * (bx * cy - by * cx)
    lb, lc = math.hypot(bx, by), math.hypot(cx, cy)
    if lb == 0.0 or lc == 0.0 or abs(d) <= 2.0 * _COLLINEAR_SINE * lb * lc:
        return None
    b2, c2 = bx * bx + by * by, cx * cx + cy * cy
    ux = (cy * b2 - by * c2) / d
    uy = (bx * c2 - cx * b2) / d
    return p0[0] + ux, p0[1] + uy, math.hypot(ux, uy)


def _turns_left(p0: Point2, p1: Point2, p2: Point2) -> bool:
    """True when p0 → p1 → p2 turns left (counter-clockwise in RD, where y points north)."""
    return (p1[0] - p0[0]) * (p2[1] - p0[1]) - (p1[1] - p0[1]) * (p2[0] - p0[0]) > 0


def _is_between(p0: Point2, p1: Point2, p2: Point2) -> bool:
    """True when p1 lies on the segment p0–p2 (given that the three are collinear)."""
    dx, dy = p2[0] - p0[0], p2[1] - p0[1]
    t = ((p1[0] - p0[0]) * dx + (p1[1] - p0[1]) * dy) / (dx * dx + dy * dy)
    return 0.0 <= t <= 1.0


def linearise_arc(p0: Point2, p1: Point2, p2: Point2, tolerance: float) -> np.ndarray:
    """Replace the circular arc start ``p0`` → through ``p1`` → end ``p2`` by chords.

    Returns an (n, 2) array from ``p0`` to ``p2`` (both exactly as given) with intermediate
    points on the circle through the three points, evenly spaced in angle, such that the
    sagitta of every chord is at most ``tolerance`` (see :func:`max_step_angle`:
    ``θ = 2·acos(1 − s/r)``; the arc's sweep is divided into ``ceil(|sweep| / θ)`` equal
    steps). The direction of travel is that of the mid point: counter-clockwise when
    p0, p1, p2 turn left, clockwise when they turn right. The mid point itself is not
    necessarily an output vertex (it lies on the arc, so within tolerance of the chords).
    Collinear points (an arc of infinite radius) give the straight segment ``[p0, p2]``.

    Raises ValueError when start and end coincide (that is a circle, not an arc) or when
    collinear points have the mid point outside the segment start–end.
    """
    p0 = (float(p0[0]), float(p0[1]))
    p1 = (float(p1[0]), float(p1[1]))
    p2 = (float(p2[0]), float(p2[1]))
    if p0 == p2:
        raise ValueError("arc start and end points coincide")
    circle = circle_through(p0, p1, p2)
    if circle is None:
        if not _is_between(p0, p1, p2):
            raise ValueError("arc points are collinear and the mid point is not between them")
        return np.array([p0, p2])
    cx, cy, r = circle
    a0 = math.atan2(p0[1] - cy, p0[0] - cx)
    a2 = math.atan2(p2[1] - cy, p2[0] - cx)
    # Sweep from start to end in the direction of the mid point, in (0, 2π) or (−2π, 0).
    sweep = (a2 - a0) % math.tau if _turns_left(p0, p1, p2) else -((a0 - a2) % math.tau)
    return _arc_points(p0, p2, (cx, cy, r), a0, sweep, tolerance)


def linearise_circle(p0: Point2, p1: Point2, p2: Point2, tolerance: float) -> np.ndarray:
    """A closed ring of chords for the full circle through ``p0``, ``p1``, ``p2`` (gml:Circle).

    Starts and ends exactly at ``p0``, runs in the direction p0 → p1 → p2, with at least four
    chords and every chord's sagitta at most ``tolerance`` (as :func:`linearise_arc`).
    Raises ValueError for collinear or coincident points.
    """
    p0 = (float(p0[0]), float(p0[1]))
    p1 = (float(p1[0]), float(p1[1]))
    p2 = (float(p2[0]), float(p2[1]))
    circle = circle_through(p0, p1, p2)
    if circle is None:
        raise ValueError("circle points are collinear or coincide")
    cx, cy, _ = circle
    a0 = math.atan2(p0[1] - cy, p0[0] - cx)
    sweep = math.tau if _turns_left(p0, p1, p2) else -math.tau
    return _arc_points(p0, p0, circle, a0, sweep, tolerance, min_steps=4)


def _arc_points(
    start: Point2,
    end: Point2,
    circle: tuple[float, float, float],
    a0: float,
    sweep: float,
    tolerance: float,
    min_steps: int = 1,
) -> np.ndarray:
    """Start, evenly spaced points on the circle over ``sweep`` radians from ``a0``, end."""
    cx, cy, r = circle
    step = max_step_angle(r, tolerance)
    n = max(min_steps, math.ceil(abs(sweep) / step))
    angles = a0 + sweep * np.arange(1, n) / n
    inner = np.column_stack([cx + r * np.cos(angles), cy + r * np.sin(angles)])
    return np.vstack([np.array([start]), inner, np.array([end])])


# --------------------------------------------------------------------------------------------
# Coordinate reference system
# --------------------------------------------------------------------------------------------


def srs_epsg(srs_name: str) -> int | None:
    """The EPSG code in a GML srsName (URN, OGC http URI, ``EPSG:n`` or ``epsg.xml#n``)."""
    text = srs_name.strip()
    match = _EPSG_URN.search(text) or _EPSG_XML.search(text)
    return int(match.group(1)) if match else None


def check_srs_name(element: etree._Element, inherited: str | None) -> str:
    """The srsName that applies to ``element`` (its own or inherited); must be RD New."""
    srs_name = element.get("srsName") or inherited
    if not srs_name:
        raise GmlError(f"geometry gml:{_local(element)} has no srsName", element)
    code = srs_epsg(srs_name)
    if code is None:
        raise GmlError(f"unknown srsName {srs_name!r}", element)
    if code != RD_NEW_EPSG:
        raise GmlError(
            f"srsName {srs_name!r} is EPSG:{code}, expected RD New (EPSG:{RD_NEW_EPSG})", element
        )
    return srs_name


# --------------------------------------------------------------------------------------------
# Coordinates
# --------------------------------------------------------------------------------------------


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _is_gml(element: etree._Element) -> bool:
    return isinstance(element.tag, str) and etree.QName(element).namespace in GML_NAMESPACES


def _gml_children(element: etree._Element, name: str | None = None) -> list[etree._Element]:
    return [c for c in element if _is_gml(c) and (name is None or _local(c) == name)]


def _floats(text: str | None, element: etree._Element) -> list[float]:
    try:
        return [float(v) for v in (text or "").split()]
    except ValueError:
        raise GmlError(
            f"gml:{_local(element)} holds a value that is not a number", element
        ) from None


def _dimension(element: etree._Element) -> int:
    """srsDimension of a posList/pos (own attribute, else an ancestor's; default 2)."""
    node: etree._Element | None = element
    while node is not None:
        dim = node.get("srsDimension") or node.get("dimension")
        if dim:
            if dim not in ("2", "3"):
                raise GmlError(f"unsupported srsDimension {dim!r}", element)
            return int(dim)
        node = node.getparent()
    return 2


def _pos_list(element: etree._Element) -> np.ndarray:
    values = _floats(element.text, element)
    dim = _dimension(element)
    if len(values) % dim:
        raise GmlError(f"gml:posList has {len(values)} values, not a multiple of {dim}", element)
    return np.array(values, dtype=float).reshape(-1, dim)[:, :2]


def _pos(element: etree._Element) -> np.ndarray:
    values = _floats(element.text, element)
    if len(values) not in (2, 3):
        raise GmlError(f"gml:pos has {len(values)} values, expected 2 or 3", element)
    return np.array(values[:2], dtype=float)


def _coordinates(element: etree._Element) -> np.ndarray:
    """GML 3.1.1 ``gml:coordinates`` with its ``decimal``, ``cs`` and ``ts`` separators."""
    decimal = element.get("decimal", ".")
    cs = element.get("cs", ",")
    ts = element.get("ts", " ")
    tuples = [t for t in (element.text or "").strip().split(ts) if t.strip()]
    rows = []
    for t in tuples:
        parts = [p.strip().replace(decimal, ".") for p in t.split(cs)]
        row = _floats(" ".join(parts), element)
        if len(row) not in (2, 3):
            raise GmlError(f"gml:coordinates tuple {t!r} does not have 2 or 3 values", element)
        rows.append(row[:2])
    return np.array(rows, dtype=float).reshape(-1, 2)


def control_points(element: etree._Element) -> np.ndarray:
    """The (n, 2) coordinates given directly in ``element`` (posList, pos* or coordinates)."""
    pos_lists = _gml_children(element, "posList")
    if pos_lists:
        return _pos_list(pos_lists[0])
    coords = _gml_children(element, "coordinates")
    if coords:
        return _coordinates(coords[0])
    positions = _gml_children(element, "pos")
    if positions:
        return np.array([_pos(p) for p in positions])
    if _gml_children(element, "pointProperty") or _gml_children(element, "pointRep"):
        raise GmlError("point references (gml:pointProperty) are not supported", element)
    raise GmlError(f"gml:{_local(element)} has no coordinates", element)


# --------------------------------------------------------------------------------------------
# Curves and rings
# --------------------------------------------------------------------------------------------


def _join(parts: Sequence[np.ndarray], element: etree._Element) -> np.ndarray:
    """Concatenate the point sequences of consecutive parts of ``element`` (segments, members).

    Each part must start where the previous one ended (GML requires contiguous curves); the
    repeated joint is dropped.
    """
    out: list[np.ndarray] = []
    for part in parts:
        if out and len(part):
            gap = float(np.hypot(*(out[-1][-1] - part[0])))
            if gap > JOIN_TOLERANCE_M:
                at = ", ".join(f"{v:.3f}" for v in out[-1][-1])
                raise GmlError(
                    f"gml:{_local(element)} is not contiguous: a part ends at ({at}) and the "
                    f"next starts {gap:.3f} m away",
                    element,
                )
            part = part[1:]
        if len(part):
            out.append(part)
    return np.vstack(out) if out else np.empty((0, 2))


def _segment_points(segment: etree._Element, tolerance: float) -> np.ndarray:
    """Points of one curve segment; curved segments are linearised."""
    name = _local(segment)
    if name not in ("LineStringSegment", "LineString", "Arc", "ArcString", "Circle"):
        raise GmlError(f"unsupported curve segment gml:{name}", segment)
    pts = control_points(segment)
    if name in ("LineStringSegment", "LineString"):
        if len(pts) < 2:
            raise GmlError(f"gml:{name} has {len(pts)} point(s), needs at least 2", segment)
        return pts
    try:
        if name == "Arc":
            if len(pts) != 3:
                raise GmlError(
                    f"gml:Arc has {len(pts)} points; an Arc is given by exactly 3 "
                    "(start, a point on the arc, end)",
                    segment,
                )
            return linearise_arc(pts[0], pts[1], pts[2], tolerance)
        if name == "ArcString":
            if len(pts) < 3 or len(pts) % 2 == 0:
                raise GmlError(
                    f"gml:ArcString has {len(pts)} points; it needs an odd number, at least 3",
                    segment,
                )
            arcs = [linearise_arc(*pts[i : i + 3], tolerance) for i in range(0, len(pts) - 2, 2)]
            return _join(arcs, segment)
        if name == "Circle":
            if len(pts) != 3:
                raise GmlError(
                    f"gml:Circle has {len(pts)} points; a Circle is given by exactly 3", segment
                )
            return linearise_circle(pts[0], pts[1], pts[2], tolerance)
    except ValueError as exc:
        if isinstance(exc, GmlError):
            raise
        raise GmlError(f"gml:{name}: {exc}", segment) from None
    raise AssertionError(name)  # unreachable: names checked above


def _single_child(element: etree._Element) -> etree._Element:
    """The one GML geometry inside a property element (curveMember, exterior, …)."""
    if element.get(XLINK_HREF):
        raise GmlError(f"gml:{_local(element)} refers by xlink:href; not supported", element)
    children = _gml_children(element)
    if len(children) != 1:
        raise GmlError(
            f"gml:{_local(element)} must hold exactly one geometry, has {len(children)}", element
        )
    return children[0]


def curve_points(element: etree._Element, tolerance: float) -> np.ndarray:
    """The linearised points of a curve element (LineString, Curve, Composite/OrientableCurve)."""
    name = _local(element)
    if name in ("LineString", "LinearRing"):
        pts = control_points(element)
    elif name == "Curve":
        segments_el = _gml_children(element, "segments")
        if not segments_el:
            raise GmlError("gml:Curve has no gml:segments", element)
        segments = _gml_children(segments_el[0])
        if not segments:
            raise GmlError("gml:segments is empty", segments_el[0])
        pts = _join([_segment_points(s, tolerance) for s in segments], element)
    elif name in ("CompositeCurve", "Ring"):
        members = _gml_children(element, "curveMember")
        if not members:
            raise GmlError(f"gml:{name} has no gml:curveMember", element)
        pts = _join([curve_points(_single_child(m), tolerance) for m in members], element)
    elif name == "OrientableCurve":
        base = _gml_children(element, "baseCurve")
        if not base:
            raise GmlError("gml:OrientableCurve has no gml:baseCurve", element)
        pts = curve_points(_single_child(base[0]), tolerance)
        if element.get("orientation", "+") == "-":
            pts = pts[::-1]
    else:
        raise GmlError(f"unsupported curve gml:{name}", element)
    return pts


def ring_points(element: etree._Element, tolerance: float) -> np.ndarray:
    """A closed ring (LinearRing or Ring): at least 4 points, first equal to last."""
    pts = curve_points(element, tolerance)
    if len(pts) < 2:
        raise GmlError(f"gml:{_local(element)} has {len(pts)} point(s)", element)
    gap = float(np.hypot(*(pts[-1] - pts[0])))
    if gap > JOIN_TOLERANCE_M:
        first = ", ".join(f"{v:.3f}" for v in pts[0])
        last = ", ".join(f"{v:.3f}" for v in pts[-1])
        raise GmlError(
            f"gml:{_local(element)} is not closed: first point ({first}) and last point "
            f"({last}) are {gap:.3f} m apart",
            element,
        )
    pts = pts.copy()
    pts[-1] = pts[0]
    if len(pts) < 4:
        raise GmlError(f"gml:{_local(element)} has {len(pts)} points, a ring needs 4", element)
    return pts


# --------------------------------------------------------------------------------------------
# Geometries
# --------------------------------------------------------------------------------------------


def _polygon(element: etree._Element, tolerance: float) -> shapely.Polygon:
    """Polygon or PolygonPatch: exterior (outerBoundaryIs) and interiors (innerBoundaryIs)."""
    exterior = _gml_children(element, "exterior") or _gml_children(element, "outerBoundaryIs")
    if len(exterior) != 1:
        raise GmlError(f"gml:{_local(element)} needs exactly one gml:exterior", element)
    interiors = _gml_children(element, "interior") + _gml_children(element, "innerBoundaryIs")
    shell = ring_points(_single_child(exterior[0]), tolerance)
    holes = [ring_points(_single_child(i), tolerance) for i in interiors]
    return shapely.Polygon(shell, holes)


def _members(element: etree._Element, single: str, plural: str) -> list[etree._Element]:
    """Geometries in ``<single>`` properties (one each) and ``<plural>`` arrays (many each)."""
    out = [_single_child(m) for m in _gml_children(element, single)]
    for arr in _gml_children(element, plural):
        out.extend(_gml_children(arr))
    if not out:
        raise GmlError(f"gml:{_local(element)} has no members", element)
    return out


def _surface(element: etree._Element, tolerance: float) -> shapely.Geometry:
    patches_el = _gml_children(element, "patches")
    if not patches_el:
        raise GmlError("gml:Surface has no gml:patches", element)
    patches = _gml_children(patches_el[0])
    if not patches:
        raise GmlError("gml:patches is empty", patches_el[0])
    for p in patches:
        if _local(p) not in ("PolygonPatch", "Rectangle"):
            raise GmlError(f"unsupported surface patch gml:{_local(p)}", p)
    polys = [_polygon(p, tolerance) for p in patches]
    # Patches of one Surface share edges: their union is the surface.
    return polys[0] if len(polys) == 1 else shapely.union_all(polys)


def _member_parts(
    element: etree._Element, tolerance: float, srs: str, single: str, kind: str
) -> list[shapely.Geometry]:
    """The parts (all of geometry type ``kind``) of the members of a multi/composite geometry."""
    parts: list[shapely.Geometry] = []
    for member in _members(element, single, single + "s"):
        geom = _geometry(member, tolerance, srs)
        pieces = list(shapely.get_parts(geom))
        for piece in pieces:
            if piece.geom_type != kind:
                raise GmlError(
                    f"gml:{_local(element)} member is a {piece.geom_type}, expected a {kind}",
                    member,
                )
        parts.extend(pieces)
    return parts


def _linestring(element: etree._Element, tolerance: float) -> shapely.LineString:
    pts = curve_points(element, tolerance)
    if len(pts) < 2:
        raise GmlError(f"gml:{_local(element)} has {len(pts)} point(s), needs 2", element)
    return shapely.LineString(pts)


def _dispatch(element: etree._Element, tolerance: float, srs: str) -> shapely.Geometry:
    """Parse a geometry element by its GML name."""
    name = _local(element)
    if name == "Point":
        return shapely.Point(control_points(element)[0])
    if name in ("LineString", "Curve", "CompositeCurve", "OrientableCurve"):
        return _linestring(element, tolerance)
    if name in ("LinearRing", "Ring"):
        return shapely.LineString(ring_points(element, tolerance))
    if name == "Polygon":
        return _polygon(element, tolerance)
    if name == "Surface":
        return _surface(element, tolerance)
    if name == "MultiPoint":
        return shapely.MultiPoint(_member_parts(element, tolerance, srs, "pointMember", "Point"))
    if name in ("MultiCurve", "MultiLineString"):
        member = "curveMember" if name == "MultiCurve" else "lineStringMember"
        return shapely.MultiLineString(_member_parts(element, tolerance, srs, member, "LineString"))
    if name in ("MultiSurface", "MultiPolygon"):
        member = "surfaceMember" if name == "MultiSurface" else "polygonMember"
        return shapely.MultiPolygon(_member_parts(element, tolerance, srs, member, "Polygon"))
    if name == "CompositeSurface":
        # Members of a composite share edges: their union is the surface.
        return shapely.union_all(_member_parts(element, tolerance, srs, "surfaceMember", "Polygon"))
    raise GmlError(f"unsupported GML geometry gml:{name}", element)


def _geometry(element: etree._Element, tolerance: float, srs: str | None) -> shapely.Geometry:
    """Parse one geometry element, checking its srsName (own or inherited)."""
    if not _is_gml(element):
        raise GmlError(f"{element.tag} is not a GML geometry", element)
    srs = check_srs_name(element, srs) if element.get("srsName") else srs
    if srs is None:
        raise GmlError(f"geometry gml:{_local(element)} has no srsName", element)
    return _dispatch(element, tolerance, srs)


def parse_gml_geometry(
    element: etree._Element, *, arc_tolerance_m: float, srs_name: str | None = None
) -> shapely.Geometry:
    """A shapely geometry (2D, RD New) from a GML geometry element.

    ``srs_name`` is an srsName inherited from an enclosing element, if any; the element's own
    srsName (and those of nested geometries) must be RD New (EPSG:28992). Arcs are linearised
    with a sagitta of at most ``arc_tolerance_m`` (see :func:`linearise_arc`).
    Raises :class:`GmlError` naming the source line of the offending element.
    """
    max_step_angle(1.0, arc_tolerance_m)  # validates the tolerance
    if srs_name is not None:
        check_srs_name(element, srs_name)
    return _geometry(element, arc_tolerance_m, srs_name)
