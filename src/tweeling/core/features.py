"""Feature records and layer schemas: the contract between importers and the store.

An importer yields :class:`FeatureRecord` objects in RD New (EPSG:28992, heights in NAP) for
layers it declares with a :class:`LayerSchema`; the store turns them into feature versions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import shapely

from tweeling.core.errors import InputError


class FieldType(StrEnum):
    """Attribute types a layer schema can declare (mapped to GeoPackage column types)."""

    TEXT = "TEXT"
    INTEGER = "INTEGER"
    REAL = "REAL"
    BOOLEAN = "BOOLEAN"
    DATE = "DATE"
    DATETIME = "DATETIME"
    JSON = "JSON"  # nested values, stored as JSON text


GEOMETRY_TYPES = frozenset(
    {
        "GEOMETRY",
        "POINT",
        "LINESTRING",
        "POLYGON",
        "MULTIPOINT",
        "MULTILINESTRING",
        "MULTIPOLYGON",
        "GEOMETRYCOLLECTION",
    }
)

_LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Columns the store itself adds to every layer table (and every name starting with "tw_").
RESERVED_FIELDS = frozenset(
    {
        "fid",
        "geom",
        "tw_id",
        "tw_vid",
        "tw_txn",
        "tw_valid_from",
        "tw_valid_to",
        "tw_recorded_at",
        "tw_record_end",
    }
)


def is_reserved(name: str) -> bool:
    """True for attribute names the store keeps for itself."""
    lower = name.lower()
    return lower in RESERVED_FIELDS or lower.startswith("tw_")


@dataclass(frozen=True)
class LayerSchema:
    """The declared shape of a layer: geometry type, attribute fields and their types.

    ``has_z`` declares 3D coordinates (NAP heights) in the 2D-indexed geometry column.
    """

    name: str
    geometry_type: str
    fields: dict[str, FieldType] = field(default_factory=dict)
    has_z: bool = False
    title: str = ""
    description: str = ""
    source: str = ""
    licence: str = ""

    def __post_init__(self) -> None:
        if not _LAYER_NAME.match(self.name):
            raise InputError(
                f"layer name {self.name!r} must be lower case letters, digits and '_' "
                "(starting with a letter, at most 63 characters)"
            )
        if self.geometry_type.upper() not in GEOMETRY_TYPES:
            raise InputError(f"layer {self.name!r}: unknown geometry type {self.geometry_type!r}")
        object.__setattr__(self, "geometry_type", self.geometry_type.upper())
        fields = {}
        for name, ftype in self.fields.items():
            if is_reserved(name):
                raise InputError(f"layer {self.name!r}: field name {name!r} is reserved")
            fields[name] = FieldType(ftype)
        object.__setattr__(self, "fields", fields)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "geometry_type": self.geometry_type,
            "fields": {k: str(v) for k, v in self.fields.items()},
            "has_z": self.has_z,
            "title": self.title,
            "description": self.description,
            "source": self.source,
            "licence": self.licence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSchema:
        return cls(
            name=data["name"],
            geometry_type=data["geometry_type"],
            fields={k: FieldType(v) for k, v in data.get("fields", {}).items()},
            has_z=bool(data.get("has_z", False)),
            title=data.get("title", ""),
            description=data.get("description", ""),
            source=data.get("source", ""),
            licence=data.get("licence", ""),
        )


@dataclass(frozen=True, slots=True)
class FeatureRecord:
    """One state of one real-world object as a source describes it.

    ``id`` is the object's stable identifier within its layer (a BAG pand id, a BGT lokaalID,
    a CityJSON object key). Time axes follow the BGT/IMGeo model: ``valid_from``/``valid_to``
    is when the state is true in the world (``objectBeginTijd``/``objectEindTijd``);
    ``recorded_at``/``record_end`` is when it was registered (``tijdstipRegistratie``/
    ``eindRegistratie``). ``None`` means: not given by the source (the store then uses the
    import time for ``recorded_at``; open ends stay open). Datetimes must be timezone-aware.
    """

    layer: str
    id: str
    geometry: shapely.Geometry
    properties: dict[str, Any]
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    recorded_at: datetime | None = None
    record_end: datetime | None = None


@dataclass
class FeatureChunk:
    """Many records of one layer as columns: the fast path for bulk importers.

    ``columns`` maps field names to lists of values (None = no value); a time axis is a list
    of aware datetimes (or None) per record, or None when the source gives none at all.
    An ImportBatch's stream may mix FeatureRecords and FeatureChunks.
    """

    layer: str
    ids: list[str]
    geometries: np.ndarray
    columns: dict[str, list[Any]]
    valid_from: list[datetime | None] | None = None
    valid_to: list[datetime | None] | None = None
    recorded_at: list[datetime | None] | None = None
    record_end: list[datetime | None] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def records(self) -> Iterator[FeatureRecord]:
        names = list(self.columns)
        axes = [self.valid_from, self.valid_to, self.recorded_at, self.record_end]
        for i, fid in enumerate(self.ids):
            props = {k: self.columns[k][i] for k in names}
            times = [None if a is None else a[i] for a in axes]
            yield FeatureRecord(self.layer, fid, self.geometries[i], props, *times)

    @classmethod
    def from_records(cls, layer: str, records: list[FeatureRecord]) -> FeatureChunk:
        keys: dict[str, None] = {}
        for r in records:
            keys.update(dict.fromkeys(r.properties))
        return cls(
            layer=layer,
            ids=[r.id for r in records],
            geometries=np.array([r.geometry for r in records], dtype=object),
            columns={k: [r.properties.get(k) for r in records] for k in keys},
            valid_from=_axis([r.valid_from for r in records]),
            valid_to=_axis([r.valid_to for r in records]),
            recorded_at=_axis([r.recorded_at for r in records]),
            record_end=_axis([r.record_end for r in records]),
        )


def chunked(items: Iterable[Any], size: int) -> Iterator[Any]:
    """Records gathered into FeatureChunks of at most ``size`` per layer, in stream order;
    items that are already chunks pass through unchanged."""
    pending: list[FeatureRecord] = []

    def flush() -> Iterator[FeatureChunk]:
        by_layer: dict[str, list[FeatureRecord]] = {}
        for r in pending:
            by_layer.setdefault(r.layer, []).append(r)
        pending.clear()
        for layer, recs in by_layer.items():
            yield FeatureChunk.from_records(layer, recs)

    for item in items:
        if isinstance(item, FeatureRecord):
            pending.append(item)
            if len(pending) >= size:
                yield from flush()
        else:
            yield from flush()
            yield item
    yield from flush()


def _axis(values: list[datetime | None]) -> list[datetime | None] | None:
    return None if all(v is None for v in values) else values


@dataclass
class ImportBatch:
    """What an importer hands the store: layer schemas and a stream of records.

    ``source`` identifies the source (e.g. ``cityjson:delft.city.json``); re-importing the same
    source ends objects of that source that it no longer contains. ``rasters`` lists raster
    layers (Cloud Optimized GeoTIFFs already written to a temporary path) to register.
    ``total`` is the expected number of records when known (for progress bars).
    """

    source: str
    path: str
    layers: list[LayerSchema]
    features: Iterable[FeatureRecord | FeatureChunk]
    total: int | None = None
    rasters: list[RasterLayer] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[FeatureRecord]:
        """The records one by one (chunks unpacked): for tests and small consumers."""
        for item in self.features:
            if isinstance(item, FeatureChunk):
                yield from item.records()
            else:
                yield item


@dataclass(frozen=True)
class RasterLayer:
    """A raster layer: a Cloud Optimized GeoTIFF in RD New, registered in the store.

    ``path`` is where the importer wrote the file; the store moves it into the workspace.
    ``method`` states how the grid was made (e.g. gap filling) so users can see it.
    """

    name: str
    path: str
    title: str = ""
    description: str = ""
    unit: str = "m"
    resolution_m: float = 0.0
    method: str = ""
    source: str = ""
    licence: str = ""
