"""Shared pieces of the JSON resources (scenarios, runs, findings, comparisons, places):
responses, parameter checks and CRS84 output."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import orjson
import shapely
from fastapi.responses import JSONResponse, Response

from tweeling.api import crs
from tweeling.core.errors import InputError

# NAME or NAME@LABEL, as the store names scenarios and frozen versions (core.branches)
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(@[A-Za-z0-9][A-Za-z0-9_.-]{0,63})?")
# 409 Conflict in the OpenAPI document: the request is sound, the resource's state refuses it
CONFLICT = {409: {"description": "Conflict with the resource's state (problem+json)"}}
ERRORS = {
    400: {"description": "Bad request (problem+json)"},
    404: {"description": "Not found (problem+json)"},
}


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def conflict(detail: str) -> JSONResponse:
    """RFC 9457 problem for a 409 (the app maps only 400 and 404 from domain errors)."""
    from tweeling.api.app import problem

    return problem(409, "Conflict", detail)


def ref(text: str, what: str = "scenario") -> str:
    """A scenario reference (``baseline``, NAME or NAME@LABEL) that can be nothing else:
    no path separators, no SQL, at most 129 characters."""
    if not isinstance(text, str) or not _REF.fullmatch(text):
        raise InputError(
            f"{what} {text[:80]!r} is not NAME or NAME@LABEL (letters, digits, '_', '.', '-')",
            field=what,
        )
    return text


def refs(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputError(f"{what}: name at least one", field=what)
    return [ref(t, what) for t in items]


INT64 = 2**63  # SQLite INTEGER (and orjson) hold integers in [-2**63, 2**63)


def check_numbers(value: Any, field: str) -> None:
    """Every number in a JSON body finite, every integer within 64 bits: JSON has no NaN or
    Infinity (RFC 8259 §6; Python's reader takes them anyway, and 1e400 as Infinity), and
    larger integers overflow the checks and the store. Names the place (``inputs.cell_m``)."""
    todo = [(field, value)]
    while todo:
        where, v = todo.pop()
        if isinstance(v, bool):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(
                f"{v!r}: JSON has no NaN or Infinity; give a finite number", field=where
            )
        if isinstance(v, int) and not -INT64 <= v < INT64:
            raise InputError(
                f"an integer of {v.bit_length()} bits does not fit 64 bits", field=where
            )
        if isinstance(v, dict):
            todo += [(f"{where}.{k}", x) for k, x in v.items()]
        elif isinstance(v, list):
            todo += [(f"{where}[{i}]", x) for i, x in enumerate(v)]


def day(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"date {text[:40]!r}: expected YYYY-MM-DD", field="date") from None


def point(text: str, uri: str) -> tuple[float, float]:
    """``x,y`` in ``uri`` (its axis order) as an RD New point."""
    from tweeling.core.crs import RD_BOUNDS, RD_NEW, transformer

    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        raise InputError(f"point {text[:80]!r}: expected two numbers", field="point") from None
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise InputError(f"point {text[:80]!r}: expected two finite numbers", field="point")
    name, lat_first, geographic = crs.SUPPORTED[uri]
    a, b = (values[1], values[0]) if lat_first else values
    if geographic and not (-180 <= a <= 180 and -90 <= b <= 90):
        raise InputError(f"point {text!r}: longitude or latitude out of range", field="point")
    x, y = (a, b) if name == RD_NEW else transformer(name, RD_NEW).transform(a, b)
    lo_x, lo_y, hi_x, hi_y = RD_BOUNDS
    if not (math.isfinite(x) and math.isfinite(y) and lo_x <= x <= hi_x and lo_y <= y <= hi_y):
        raise InputError(f"point {text!r} lies outside the Netherlands", field="point")
    return x, y


def geojson(geometry, uri: str = crs.CRS84) -> dict | None:
    if geometry is None:
        return None
    return orjson.loads(shapely.to_geojson(crs.from_rd(geometry, uri)))


def bbox84(extent) -> list[float]:
    """An RD New box as the CRS84 box around it."""
    return [round(v, 8) for v in crs.from_rd(shapely.box(*extent), crs.CRS84).bounds]


def properties(props: dict[str, Any]) -> dict[str, Any]:
    """Attributes fit for JSON: no 3D geometry (served by the tiles), no binary values."""
    return {
        k: v
        for k, v in props.items()
        if k != "geometry_3d" and not isinstance(v, bytes | bytearray | memoryview)
    }
