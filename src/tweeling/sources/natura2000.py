"""Import Natura 2000 sites (GeoJSON in CRS84) into the layer ``natura2000`` in RD New.

The record id is the EU site code (``sitecode``, e.g. ``NL2003001``) when the file gives a
real, unique one. Bird-directive-only sites in the sample data have ``"-"`` instead: those get
``N2000-<n2000_nummer>`` (the Dutch site number, unique too), and their ``sitecode`` property
is None. Four sites (Doggersbank, Klaverbank, Friese Front, Bruine Bank) lie far out in the
North Sea; :data:`tweeling.core.crs.RD_BOUNDS` covers the Dutch Exclusive Economic Zone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tweeling.core.crs import RD_BOUNDS
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, FieldType, ImportBatch, LayerSchema
from tweeling.sources.ogr import (
    Records,
    VectorLayer,
    conform_geometry_type,
    read_vector_layer,
)

LAYER = "natura2000"


# The attributes of a site and their types; other fields in the file are kept as they come.
FIELDS: dict[str, FieldType] = {
    "naam": FieldType.TEXT,
    "slug": FieldType.TEXT,
    "n2000_nummer": FieldType.INTEGER,
    "sitecode": FieldType.TEXT,
    "richtlijn": FieldType.TEXT,
    "richtlijn_omschrijving": FieldType.TEXT,
    "stikstofgevoelig": FieldType.BOOLEAN,
    "besluit": FieldType.TEXT,
}
REQUIRED = ("naam", "n2000_nummer", "sitecode")

# The GeoJSON feature "id" member, which GDAL reads as a field (it repeats the slug).
_GEOJSON_ID = "id"
_SITECODE = re.compile(r"^[A-Z]{2}\d{7}$")
_TRUE = {"true", "ja", "yes", "1", "j", "y"}
_FALSE = {"false", "nee", "no", "0", "n"}

LICENCE = "geometry: RVO Natura 2000 via PDOK (public domain); attributes: RCE (CC BY 4.0)"


def read_natura2000(
    path: str | Path, *, crs: object | None = None, repair: bool = False
) -> ImportBatch:
    """Read the Natura 2000 GeoJSON into the ``natura2000`` layer (MultiPolygons, RD New).

    ``repair`` fixes invalid (self-intersecting) site outlines with ``shapely.make_valid``
    and lists them in ``metadata['repaired']``; without it an invalid outline is refused.
    """
    path = Path(path)
    data = read_vector_layer(path, crs=crs, id_field="naam", repair=repair)
    missing = [f for f in REQUIRED if f not in data.columns]
    if missing:
        raise InputError(f"Natura 2000 fields missing: {missing}", path=path)
    fields = dict(FIELDS)
    fields.update(
        {n: t for n, t in data.field_types.items() if n not in FIELDS and n != _GEOJSON_ID}
    )
    columns = {n: typed_column(data, n, t) for n, t in fields.items()}
    columns["sitecode"] = [clean_sitecode(v) for v in columns["sitecode"]]
    ids = site_ids(columns["sitecode"], columns["n2000_nummer"], data)
    schema = LayerSchema(
        name=LAYER,
        geometry_type="MULTIPOLYGON",
        fields=fields,
        title="Natura 2000-gebieden",
        description=(
            "Protected nature areas of the EU Natura 2000 network in the Netherlands. "
            "Record id: sitecode, else N2000-<n2000_nummer>. stikstofgevoelig: the site has "
            "nitrogen-sensitive habitats."
        ),
        source="RVO / RCE",
        licence=LICENCE,
    )
    if data.geometry_type not in ("MULTIPOLYGON", "POLYGON"):
        raise InputError(f"expected (multi)polygons, the layer has {data.geometry_type}", path=path)
    geoms = conform_geometry_type(data.geometries, "MULTIPOLYGON")

    def records() -> Iterator[FeatureRecord]:
        for i, geom in enumerate(geoms):
            props = {n: columns[n][i] for n in fields}
            yield FeatureRecord(layer=LAYER, id=ids[i], geometry=geom, properties=props)

    return ImportBatch(
        source=f"natura2000:{path.name}",
        path=str(path),
        layers=[schema],
        features=Records(records, len(data)),
        total=len(data),
        metadata={
            "source_crs": data.source_crs.to_string(),
            "bounds": RD_BOUNDS,
            "ids_from_n2000_nummer": [i for i in ids if i.startswith("N2000-")],
            "repair": repair,
            "repaired": [r.to_dict() for r in data.repairs],
        },
    )


def clean_sitecode(value: Any) -> str | None:
    """The EU site code, or None for a placeholder such as ``"-"`` or an empty value."""
    if value is None:
        return None
    text = str(value).strip().upper()
    return text if _SITECODE.match(text) else None


def site_ids(sitecodes: list[str | None], numbers: list[Any], data: VectorLayer) -> list[str]:
    """Record ids: the site code if given and unique in the file, else ``N2000-<nummer>``."""
    code_counts = Counter(c for c in sitecodes if c)
    ids = []
    for label, code, number in zip(data.labels, sitecodes, numbers, strict=True):
        if code and code_counts[code] == 1:
            ids.append(code)
        elif number is not None:
            ids.append(f"N2000-{int(number)}")
        else:
            raise InputError(
                "site has neither a unique sitecode nor an n2000_nummer",
                path=data.path,
                object_id=label,
            )
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    if dupes:
        raise InputError(f"site id {dupes[0]!r} occurs more than once", path=data.path)
    return ids


def typed_column(data: VectorLayer, name: str, ftype: FieldType) -> list[Any]:
    """A column as the declared type (e.g. stikstofgevoelig given as text 'ja')."""
    values = data.columns.get(name, [None] * len(data))
    have = data.field_types.get(name, ftype)
    if have is ftype:
        return values
    try:
        if ftype is FieldType.BOOLEAN:
            return [to_bool(v) for v in values]
        if ftype is FieldType.INTEGER:
            return [None if v is None else int(v) for v in values]
    except (TypeError, ValueError) as e:
        raise InputError(f"not {ftype.value}: {e}", path=data.path, field=name) from None
    return [None if v is None else str(v) for v in values]


def to_bool(value: Any) -> bool | None:
    """A boolean from a JSON boolean, a number or Dutch/English yes/no text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if not text:
        return None
    raise ValueError(f"{value!r} is not a yes/no value")
