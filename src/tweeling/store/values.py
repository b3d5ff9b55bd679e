"""Checking and normalising attribute values against a layer schema; content hashes."""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime
from typing import Any

import orjson

from tweeling.core.errors import InputError
from tweeling.core.features import FieldType, LayerSchema
from tweeling.core.timeaxis import parse_time, to_text


def normalise_properties(
    schema: LayerSchema, props: dict[str, Any], *, object_id: str, path: str | None
) -> dict[str, Any]:
    """Values coerced to the schema's types; unknown fields and wrong types are errors.

    Dates become ``YYYY-MM-DD``, datetimes fixed-width UTC text, JSON values stay Python
    structures (stored as JSON text). NaN becomes None (GeoPackage has no NaN attribute).
    """
    fields = schema.fields
    out: dict[str, Any] = {}
    for name, value in props.items():
        ftype = fields.get(name)
        if ftype is None:
            raise InputError(
                f"field not declared in layer {schema.name!r}",
                path=path,
                object_id=object_id,
                field=name,
            )
        out[name] = _coerce(ftype, value, object_id=object_id, field=name, path=path)
    return out


_FAST_TYPES = {
    FieldType.TEXT: str,
    FieldType.INTEGER: int,
    FieldType.REAL: float,
    FieldType.BOOLEAN: bool,
}


class PropertyNormaliser:
    """:func:`normalise_properties` for one layer, with a fast path for values that already
    have their field's Python type (the common case in bulk imports)."""

    def __init__(self, schema: LayerSchema, path: str | None):
        self.schema = schema
        self.path = path
        self.fast = {f: _FAST_TYPES.get(t) for f, t in schema.fields.items()}
        fields = list(schema.fields.items())
        converters = [
            (
                f,
                None
                if t
                in (
                    FieldType.TEXT,
                    FieldType.INTEGER,
                    FieldType.REAL,
                    FieldType.DATE,
                    FieldType.DATETIME,
                )
                else (lambda v, t=t: column_value(t, v)),
            )
            for f, t in fields
        ]

        def columns(props: dict[str, Any]) -> list[Any]:
            return [props.get(f) if conv is None else conv(props.get(f)) for f, conv in converters]

        self.columns = columns

    def __call__(self, props: dict[str, Any], object_id: str) -> dict[str, Any]:
        fast = self.fast
        out = {}
        for name, value in props.items():
            t = fast.get(name, False)
            if t is not False and (value is None or type(value) is t):
                out[name] = value
            else:
                out[name] = normalise_properties(
                    self.schema, {name: value}, object_id=object_id, path=self.path
                )[name]
        return out


def _coerce(ftype: FieldType, value: Any, *, object_id: str, field: str, path: str | None) -> Any:
    if value is None:
        return None
    try:
        if ftype is FieldType.TEXT:
            if isinstance(value, str):
                return str(value)  # plain str, also for numpy.str_ and other subclasses
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            raise TypeError
        if ftype is FieldType.INTEGER:
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, float) and math.isnan(value):
                return None
            raise TypeError
        if ftype is FieldType.REAL:
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, (int, float)):
                return None if math.isnan(value) else float(value)
            raise TypeError
        if ftype is FieldType.BOOLEAN:
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise TypeError
        if ftype is FieldType.DATE:
            if isinstance(value, datetime):
                return value.date().isoformat()
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, str):
                return date.fromisoformat(value[:10]).isoformat()
            raise TypeError
        if ftype is FieldType.DATETIME:
            # GeoPackage's DATETIME form (ISO 8601, UTC, milliseconds), which GDAL reads.
            return to_text(parse_time(value, what=field))[:23] + "Z"
        if ftype is FieldType.JSON:
            orjson.dumps(value)  # must be JSON-serialisable
            return value
    except (TypeError, ValueError, orjson.JSONEncodeError, InputError):
        pass
    raise InputError(
        f"value {value!r} is not a valid {ftype.value}", path=path, object_id=object_id, field=field
    )


def dumps(props: dict[str, Any]) -> bytes:
    """Canonical JSON of properties (sorted keys) for storage and hashing."""
    return orjson.dumps(props, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def content_hash(geom: bytes, props_json: bytes, times: tuple[str | None, ...]) -> str:
    """Hash of a feature version's content: geometry, attributes and time axes."""
    stamp = "\x00".join(t or "" for t in times).encode()
    return hashlib.blake2b(
        geom + b"\x00" + props_json + b"\x00" + stamp, digest_size=16
    ).hexdigest()


def column_value(ftype: FieldType, value: Any) -> Any:
    """The value as stored in a typed GeoPackage column."""
    if value is None:
        return None
    if ftype is FieldType.JSON:
        return orjson.dumps(value).decode()
    if ftype is FieldType.BOOLEAN:
        return int(value)
    return value
