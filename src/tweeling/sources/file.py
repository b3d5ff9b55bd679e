"""Import any GDAL-readable vector file (GeoPackage, GeoJSON, shapefile, CSV, …) as one layer.

The twin layer's schema comes from the file's fields; each record's id is the value of
``id_field`` (which must be present and unique), else the OGR feature id (FID). Field names
the store reserves (``fid``, ``geom``, ``tw_id``, ``tw_vid``) get a ``src_`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tweeling.core.errors import InputError
from tweeling.core.features import (
    GEOMETRY_TYPES,
    FeatureChunk,
    FeatureRecord,
    FieldType,
    ImportBatch,
    LayerSchema,
    is_reserved,
)
from tweeling.sources import geojsonseq
from tweeling.sources.ogr import (
    VectorBatch,
    check_geometries,
    conform_geometry_type,
    repairable_type,
    stream_vector_layer,
)


def read_file(
    path: str | Path,
    *,
    layer_name: str,
    source_layer: str | None = None,
    crs: object | None = None,
    id_field: str | None = None,
    repair: bool = False,
    batch_size: int = 20_000,
    full_scan: bool = False,
) -> ImportBatch:
    """Stream one layer of a vector file into the twin layer ``layer_name``.

    ``source_layer`` picks the layer of a multi-layer file; ``crs`` is assumed when the file
    declares none (else the file is refused; for GeoJSON it replaces the format's WGS 84
    default); ``repair`` fixes invalid geometries with ``shapely.make_valid`` instead of
    refusing them (each repair is listed in ``metadata['repaired']`` once the batch has been
    consumed). The file is read ``batch_size`` features at a time, so memory does not grow with
    its size; duplicate ids are refused by the store, which sees every id.
    """
    path = Path(path)
    LayerSchema(name=layer_name, geometry_type="GEOMETRY")  # refuses a bad name early
    if path.suffix.lower() in geojsonseq.SUFFIXES and source_layer is None:
        return read_geojsonseq(
            path,
            layer_name=layer_name,
            crs=crs,
            id_field=id_field,
            repair=repair,
            batch_size=batch_size,
            full_scan=full_scan,
        )
    stream = stream_vector_layer(
        path, layer=source_layer, crs=crs, id_field=id_field, repair=repair, batch_size=batch_size
    )
    if id_field is not None and stream.field_types[id_field] in (FieldType.JSON, FieldType.REAL):
        stream.closer.close()
        raise InputError(
            f"id field has type {stream.field_types[id_field].value}; use a text or integer field",
            path=path,
            field=id_field,
        )

    def chunks(renames: dict[str, str], repaired: list) -> Iterator[FeatureChunk]:
        for batch in stream.batches():
            repaired.extend(r.to_dict() for r in batch.repairs)
            yield FeatureChunk(
                layer=layer_name,
                ids=batch_ids(batch, id_field, path),
                geometries=batch.geometries,
                columns={renames[f]: values for f, values in batch.columns.items()},
            )

    return _file_batch(
        path,
        layer_name=layer_name,
        source=f"file:{path.name}" + (f"/{source_layer}" if source_layer else ""),
        geometry_type=stream.geometry_type,
        field_types=stream.field_types,
        has_z=stream.has_z,
        description=f"Imported from {path.name}, layer {stream.layer!r}.",
        chunks=chunks,
        total=stream.count,
        metadata={
            "ogr_layer": stream.layer,
            "source_crs": stream.source_crs.to_string(),
            "id_field": id_field,
            "repair": repair,
        },
    )


def read_geojsonseq(
    path: Path,
    *,
    layer_name: str,
    crs: object | None,
    id_field: str | None,
    repair: bool,
    batch_size: int,
    full_scan: bool = False,
) -> ImportBatch:
    """A GeoJSON text sequence through the fast columnar reader (see sources.geojsonseq).

    The schema comes from the first ``batch_size`` records unless ``full_scan``; the records
    after them are checked as they stream (SchemaChanged when one does not fit).
    """
    if not path.exists():
        raise InputError("no such file", path=path)
    field_types, count, scanned_type, complete = geojsonseq.scan_schema(
        path, limit=None if full_scan else batch_size
    )
    if id_field is not None and id_field not in field_types:
        raise InputError(f"no field {id_field!r}; fields are {list(field_types)}", path=path)
    if scanned_type not in GEOMETRY_TYPES:
        scanned_type = "GEOMETRY"
    gtype = repairable_type(scanned_type, repair)

    def chunks(renames: dict[str, str], repaired: list) -> Iterator[FeatureChunk]:
        for chunk in geojsonseq.read_chunks(
            path,
            layer=layer_name,
            field_types=field_types,
            renames=renames,
            id_field=id_field,
            crs=crs,
            chunk_size=batch_size,
            verify_from=None if complete else count,
            geometry_type=scanned_type,
        ):
            if repair:
                geoms, fixes = check_geometries(
                    chunk.geometries, chunk.ids, path=path, layer=layer_name, repair=True
                )
                chunk.geometries = conform_geometry_type(geoms, gtype)
                repaired.extend(r.to_dict() for r in fixes)
            yield chunk

    return _file_batch(
        path,
        layer_name=layer_name,
        source=f"file:{path.name}",
        geometry_type=gtype,
        field_types=field_types,
        has_z=False,
        description=f"Imported from {path.name}.",
        chunks=chunks,
        total=count if complete else None,
        metadata={
            "reader": "geojsonseq (orjson, shapely.from_ragged_array)",
            "source_crs": str(crs or "OGC:CRS84"),
            "id_field": id_field,
            "repair": repair,
        },
    )


def _file_batch(
    path: Path,
    *,
    layer_name: str,
    source: str,
    geometry_type: str,
    field_types: dict[str, FieldType],
    has_z: bool,
    description: str,
    chunks: Callable[[dict[str, str], list], Iterator[FeatureChunk]],
    total: int | None,
    metadata: dict[str, Any],
) -> ImportBatch:
    """The batch of a one-layer file: its schema (reserved field names renamed), its chunks
    (read once), and metadata that lists the renames and, once read, the repairs."""
    renames = field_renames(list(field_types))
    repaired: list[dict[str, str]] = []
    schema = LayerSchema(
        name=layer_name,
        geometry_type=geometry_type,
        fields={renames[f]: t for f, t in field_types.items()},
        has_z=has_z,
        title=layer_name,
        description=description,
        source=path.name,
    )
    return ImportBatch(
        source=source,
        path=str(path),
        layers=[schema],
        features=_Once(lambda: chunks(renames, repaired), path),
        total=total,
        metadata={
            **metadata,
            "renamed_fields": {k: v for k, v in renames.items() if k != v},
            "repaired": repaired,
        },
    )


class _Once:
    """Records of a streamed file: one pass only, and a second pass says so (not silently
    empty)."""

    def __init__(self, factory, path: Path):
        self._factory = factory
        self._path = path
        self._used = False

    def __iter__(self) -> Iterator[FeatureRecord]:
        if self._used:
            raise InputError("a streamed file can be read only once", path=self._path)
        self._used = True
        return self._factory()


def batch_ids(batch: VectorBatch, id_field: str | None, path: Path) -> list[str]:
    """Record ids of a batch: the ``id_field`` values (each present), else the OGR FIDs."""
    if id_field is None:
        return [str(int(f)) for f in batch.fids]
    ids = [_id_text(v) for v in batch.columns[id_field]]
    for fid, value in zip(batch.fids, ids, strict=True):
        if value is None:
            raise InputError(
                "id field is empty", path=path, object_id=f"FID {int(fid)}", field=id_field
            )
    return ids  # type: ignore[return-value]


def field_renames(fields: list[str]) -> dict[str, str]:
    """Map each source field name to its twin name: reserved names get a ``src_`` prefix."""
    out = {}
    taken = {f.lower() for f in fields}
    for f in fields:
        name = f
        while is_reserved(name) or (name != f and name.lower() in taken):
            name = f"src_{name}"
        taken.add(name.lower())
        out[f] = name
    return out


def _id_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
