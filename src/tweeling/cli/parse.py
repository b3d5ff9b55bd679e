"""Parsing of command line values into domain values, with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tweeling.core.errors import InputError
from tweeling.core.features import FieldType, LayerSchema


def _floats(text: str, n: int, what: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"{what} {text!r}: expected {n} comma-separated numbers") from None
    if len(values) != n or any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise InputError(f"{what} {text!r}: expected {n} comma-separated finite numbers")
    return values


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = _floats(text, 4, "bbox")
    if minx > maxx or miny > maxy:
        raise InputError(f"bbox {text!r}: minimum larger than maximum")
    return minx, miny, maxx, maxy


def parse_point(text: str) -> tuple[float, float]:
    x, y = _floats(text, 2, "point")
    return x, y


def parse_where(items: list[str], schema: LayerSchema) -> dict[str, Any]:
    """``field=value`` filters, values converted to the field's declared type."""
    return parse_assignments(items, schema, "filter")


def parse_assignments(
    items: list[str], schema: LayerSchema, what: str, *, empty_is_null: bool = False
) -> dict[str, Any]:
    """``field=value`` pairs, values converted to the field's declared type (JSON fields
    parse JSON); with ``empty_is_null``, ``field=`` clears the value."""
    out: dict[str, Any] = {}
    for item in items:
        field, sep, raw = item.partition("=")
        if not sep:
            raise InputError(f"{what} {item!r}: expected field=value")
        ftype = schema.fields.get(field)
        if ftype is None:
            raise InputError(f"layer {schema.name!r} has no field {field!r}", field=field)
        if empty_is_null and raw == "":
            out[field] = None
            continue
        try:
            if ftype is FieldType.JSON:
                out[field] = orjson.loads(raw)
            elif ftype is FieldType.INTEGER:
                out[field] = int(raw)
            elif ftype is FieldType.REAL:
                out[field] = float(raw)
            elif ftype is FieldType.BOOLEAN:
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                out[field] = raw.lower() in ("true", "1")
            else:
                out[field] = raw
        except ValueError:  # orjson's JSONDecodeError is a ValueError too
            raise InputError(
                f"{what} {item!r}: {raw!r} is not a valid {ftype.value}", field=field
            ) from None
    return out


def parse_value(text: str) -> Any:
    """A parameter value from the command line: a number, true/false, ``@FILE`` (the JSON or
    YAML content of a file, for structured parameters such as a wind rose), else the text."""
    if text.startswith("@"):
        return _value_file(Path(text[1:]))
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _value_file(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML
    except OSError as exc:
        raise InputError(f"cannot read parameter file: {exc.strerror}", path=path) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid JSON or YAML: {exc}", path=path) from None


def parse_geometry(text: str, crs: str | None):
    """A geometry given as WKT or GeoJSON text, in ``crs`` (default RD New), into RD New."""
    import shapely
    import shapely.geometry

    from tweeling.core.crs import RD_NEW, normalise_crs, transform_to_rd

    try:
        if text.lstrip().startswith("{"):
            geom = shapely.geometry.shape(orjson.loads(text))
        else:
            geom = shapely.from_wkt(text)
    except Exception as exc:  # shapely and orjson raise several types for malformed input
        raise InputError(f"--geometry cannot be read as WKT or GeoJSON: {exc}") from None
    return transform_to_rd(geom, normalise_crs(crs or RD_NEW))
