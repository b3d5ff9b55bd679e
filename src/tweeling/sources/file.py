"""Import any GDAL-readable vector file (GeoPackage, GeoJSON, shapefile, CSV, …) as one layer.

The twin layer's schema comes from the file's fields; each record's id is the value of
``id_field`` (which must be present and unique), else the OGR feature id (FID). Field names
the store reserves (``fid``, ``geom``, ``tw_id``, ``tw_vid``) get a ``src_`` prefix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tweeling.core.errors import InputError
from tweeling.core.features import (
    RESERVED_FIELDS,
    FeatureRecord,
    FieldType,
    ImportBatch,
    LayerSchema,
)
from tweeling.sources.ogr import Records, VectorLayer, read_vector_layer


def read_file(
    path: str | Path,
    *,
    layer_name: str,
    source_layer: str | None = None,
    crs: object | None = None,
    id_field: str | None = None,
    repair: bool = False,
) -> ImportBatch:
    """Read one layer of a vector file into the twin layer ``layer_name``.

    ``source_layer`` picks the layer of a multi-layer file; ``crs`` is assumed when the file
    declares none (else the file is refused); ``repair`` fixes invalid geometries with
    ``shapely.make_valid`` (listed in ``metadata['repaired']``) instead of refusing them.
    """
    path = Path(path)
    schema_check = LayerSchema(name=layer_name, geometry_type="GEOMETRY")  # validates the name
    data = read_vector_layer(path, layer=source_layer, crs=crs, id_field=id_field, repair=repair)
    renames = field_renames(list(data.field_types))
    ids = record_ids(data, id_field)
    fields = {renames[f]: t for f, t in data.field_types.items()}
    schema = LayerSchema(
        name=schema_check.name,
        geometry_type=data.geometry_type,
        fields=fields,
        has_z=data.has_z,
        title=layer_name,
        description=f"Imported from {path.name}, layer {data.layer!r}.",
        source=path.name,
    )
    source = f"file:{path.name}" + (f"/{source_layer}" if source_layer else "")

    def records() -> Iterator[FeatureRecord]:
        names = list(data.columns)
        for i, geom in enumerate(data.geometries):
            props = {renames[n]: data.columns[n][i] for n in names}
            yield FeatureRecord(layer=layer_name, id=ids[i], geometry=geom, properties=props)

    return ImportBatch(
        source=source,
        path=str(path),
        layers=[schema],
        features=Records(records, len(data)),
        total=len(data),
        metadata={
            "ogr_layer": data.layer,
            "source_crs": data.source_crs.to_string(),
            "id_field": id_field,
            "renamed_fields": {k: v for k, v in renames.items() if k != v},
            "repair": repair,
            "repaired": [r.to_dict() for r in data.repairs],
        },
    )


def field_renames(fields: list[str]) -> dict[str, str]:
    """Map each source field name to its twin name: reserved names get a ``src_`` prefix."""
    out = {}
    taken = {f.lower() for f in fields}
    for f in fields:
        name = f
        while name.lower() in RESERVED_FIELDS or (name != f and name.lower() in taken):
            name = f"src_{name}"
        taken.add(name.lower())
        out[f] = name
    return out


def record_ids(data: VectorLayer, id_field: str | None) -> list[str]:
    """The record id of each feature: the ``id_field`` value (present, unique), else the FID."""
    if id_field is None:
        return [str(int(f)) for f in data.fids]
    values = data.columns[id_field]  # read_vector_layer has checked the field exists
    if data.field_types[id_field] in (FieldType.JSON, FieldType.REAL):
        raise InputError(
            f"id field has type {data.field_types[id_field].value}; use a text or integer field",
            path=data.path,
            field=id_field,
        )
    ids = [_id_text(v) for v in values]
    for fid, value in zip(data.fids, ids, strict=True):
        if value is None:
            raise InputError(
                "id field is empty", path=data.path, object_id=f"FID {int(fid)}", field=id_field
            )
    dupes = [v for v, n in Counter(ids).items() if n > 1]
    if dupes:
        raise InputError(
            f"id field is not unique: {len(dupes)} values occur more than once, e.g. {dupes[0]!r}",
            path=data.path,
            field=id_field,
        )
    return ids  # type: ignore[return-value]


def _id_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
