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


def column_value(ftype: FieldType, value: Any) -> Any:
    """The value as stored in a typed GeoPackage column."""
    if value is None:
        return None
    if ftype is FieldType.JSON:
        return orjson.dumps(value).decode()
    if ftype is FieldType.BOOLEAN:
        return int(value)
    return value


_PYTHON_TYPES = {
    FieldType.TEXT: (str,),
    FieldType.INTEGER: (int,),
    FieldType.REAL: (float,),
    FieldType.BOOLEAN: (bool,),
}


def normalise_columns(
    schema: LayerSchema, columns: dict[str, list[Any]], ids: list[str], *, path: str | None
) -> dict[str, list[Any]]:
    """Columns coerced to the schema's types; unknown fields and wrong types are errors.

    Dates become ``YYYY-MM-DD``, datetimes GeoPackage's ISO form in UTC, JSON values stay
    Python structures (stored as JSON text), NaN becomes None (GeoPackage has no NaN).

    A column whose values all have the field's Python type already (the common case) is
    taken as it is, after one pass over the value types; others are coerced value by value,
    and the first bad value is reported with its object id and field.
    """
    out = {}
    for name, values in columns.items():
        ftype = schema.fields.get(name)
        if ftype is None:
            first = next((i for i, v in zip(ids, values, strict=True) if v is not None), None)
            if first is None:
                continue  # a field no record has a value for: nothing to store
            raise InputError(
                f"field not declared in layer {schema.name!r}",
                path=path,
                object_id=first,
                field=name,
            )
        exact = _PYTHON_TYPES.get(ftype)
        if exact is not None and set(map(type, values)) <= {*exact, type(None)}:
            out[name] = values
            continue
        out[name] = [
            None if v is None else _coerce(ftype, v, object_id=i, field=name, path=path)
            for i, v in zip(ids, values, strict=True)
        ]
    return out


def props_json_rows(columns: dict[str, list[Any]], n: int) -> list[bytes]:
    """Canonical JSON per record: keys sorted, null values left out (so that a record's
    hash does not depend on which other fields its neighbours or the schema have)."""
    names = sorted(columns)
    if not names:
        return [b"{}"] * n
    dump = orjson.dumps
    return [
        dump({k: v for k, v in zip(names, row, strict=True) if v is not None})
        for row in zip(*(columns[k] for k in names), strict=True)
    ]


def column_lists(schema: LayerSchema, columns: dict[str, list[Any]], n: int) -> list[list[Any]]:
    """Per schema field, the values as stored in the typed GeoPackage columns."""
    out = []
    for name, ftype in schema.fields.items():
        values = columns.get(name)
        if values is None:
            out.append([None] * n)
        elif ftype in (FieldType.JSON, FieldType.BOOLEAN):
            out.append([column_value(ftype, v) for v in values])
        else:
            out.append(values)  # text, numbers, dates: stored as they are
    return out


def content_hashes(blobs: list[bytes], props: list[bytes], stamps: list[bytes]) -> list[str]:
    """Hash of each feature version's content: geometry, attributes and time axes."""
    b2 = hashlib.blake2b
    return [
        b2(g + b"\x00" + p + b"\x00" + s, digest_size=16).hexdigest()
        for g, p, s in zip(blobs, props, stamps, strict=True)
    ]


def sorted_objects(value: Any) -> Any:
    """``value`` with the keys of every JSON object in it in sorted order (arrays keep
    theirs)."""
    if isinstance(value, dict):
        return {k: sorted_objects(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_objects(v) for v in value]
    return value


def canonical_json_columns(schema: LayerSchema, columns: dict[str, list[Any]]) -> dict:
    """``columns`` with the values of the schema's JSON fields in sorted key order.

    A scenario edit writes back what a read of the store gave, and the two backends give
    nested objects back in different key orders (GeoPackage as written, PostgreSQL's jsonb
    by key length, then bytes); the order is part of a version's content hash, so edits
    sort it: the same edit gives the same hash on either backend."""
    out = dict(columns)
    for name, values in columns.items():
        if schema.fields.get(name) is FieldType.JSON:
            out[name] = [sorted_objects(v) for v in values]
    return out
