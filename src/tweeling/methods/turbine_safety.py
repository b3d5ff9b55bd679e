"""External safety of wind turbines: objects inside individual-risk (PR) contours.

Dutch rules (Activiteitenbesluit milieubeheer art. 3.15a, until the Omgevingswet of 2024): the
individual risk (plaatsgebonden risico, PR) caused by wind turbines may not exceed 10^-6 per year
at a vulnerable object (kwetsbaar object) and 10^-5 per year at a less vulnerable object (beperkt
kwetsbaar object). The contours follow from a quantitative risk analysis by the *Handleiding
Risicoberekeningen Windturbines* (RIVM, Rekenvoorschrift omgevingsveiligheid, Module IV; before
2019 the *Handboek Risicozonering Windturbines* 3.1, RVO 2014), e.g. with the SAVE-W tool.

No approximation of the contour distances from rotor diameter or hub height is implemented here:
no published rule of that kind could be verified when this was written, so the distances or
contour polygons are inputs taken from such an analysis.
"""

from __future__ import annotations

import numpy as np
import shapely

from tweeling.core.errors import InputError

_PREDICATES = {"intersects": "intersects", "within": "contains"}


def circular_contours(turbine_x_m, turbine_y_m, contour_distance_m, *, quad_segs: int = 64):
    """Circular contours (shapely Polygons, one per turbine) of the given radii around turbines.

    For contour distances reported by a risk analysis (e.g. the PR 10^-6 distance of each
    turbine). A circle of radius d around (x, y), approximated by 4 * ``quad_segs`` segments
    (inscribed, so it lies inside the exact circle). Use :func:`objects_within_distance` for the
    exact distance test, and ``shapely.union_all`` for one contour of several turbines.
    """
    x, y, d = _turbine_arrays(turbine_x_m, turbine_y_m, contour_distance_m)
    if int(quad_segs) < 1:
        raise InputError("quad_segs must be positive", field="quad_segs")
    return shapely.buffer(shapely.points(x, y), d, quad_segs=int(quad_segs))


def objects_within_contour(geometries, object_ids, contour, *, rule: str = "intersects"):
    """The objects (ids, geometries) inside a contour polygon, in input order.

    ``rule`` "intersects" (default) counts an object when any part of it lies inside or on the
    contour, as when testing whether a building lies within a PR contour; "within" only counts
    objects entirely inside (boundary included). Uses a shapely STRtree.
    """
    geoms, ids = _objects(geometries, object_ids)
    if rule not in _PREDICATES:
        raise InputError(f"rule must be one of {sorted(_PREDICATES)}", field="rule")
    if not isinstance(contour, shapely.Polygon | shapely.MultiPolygon) or contour.is_empty:
        raise InputError("the contour must be a non-empty (Multi)Polygon", field="contour")
    if not contour.is_valid:
        raise InputError(shapely.is_valid_reason(contour), field="contour")
    hit = np.sort(shapely.STRtree(geoms).query(contour, predicate=_PREDICATES[rule]))
    return ids[hit], geoms[hit]


def objects_within_distance(
    geometries, object_ids, turbine_x_m, turbine_y_m, contour_distance_m
):  # fmt: skip
    """The objects (ids, geometries) within a distance of any turbine (exact), in input order.

    Object o is selected when min over turbines i of (dist(o, turbine_i) - d_i) <= 0, the
    distance measured from the turbine's mast position to the nearest point of the object;
    equivalent to :func:`objects_within_contour` with exact circular contours.
    """
    geoms, ids = _objects(geometries, object_ids)
    x, y, d = _turbine_arrays(turbine_x_m, turbine_y_m, contour_distance_m)
    tree = shapely.STRtree(geoms)
    pairs = tree.query(shapely.points(x, y), predicate="dwithin", distance=d)
    hit = np.unique(pairs[1])
    return ids[hit], geoms[hit]


def _turbine_arrays(turbine_x_m, turbine_y_m, contour_distance_m):
    x = np.atleast_1d(np.asarray(turbine_x_m, dtype=float))
    y = np.atleast_1d(np.asarray(turbine_y_m, dtype=float))
    if x.ndim != 1 or x.shape != y.shape or not np.all(np.isfinite(x) & np.isfinite(y)):
        raise InputError(
            "turbine x and y must be finite 1-D arrays of one length", field="turbine_x_m"
        )
    d = np.broadcast_to(np.asarray(contour_distance_m, dtype=float), x.shape)
    if not np.all(np.isfinite(d) & (d >= 0)):
        raise InputError("contour distances must be finite and >= 0", field="contour_distance_m")
    return x, y, d


def _objects(geometries, object_ids):
    geoms = np.asarray(geometries, dtype=object)
    ids = np.asarray(object_ids)
    if geoms.ndim != 1 or ids.shape != geoms.shape:
        raise InputError("geometries and ids must be 1-D arrays of one length", field="object_ids")
    if not all(isinstance(g, shapely.Geometry) for g in geoms):
        raise InputError("every object needs a shapely geometry", field="geometries")
    return geoms, ids
