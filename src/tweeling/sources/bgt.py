"""Import BGT (Basisregistratie Grootschalige Topografie) from OGR SQLite files.

One file per BGT object type, named ``bgt_<objecttype>.sqlite`` (as written by the BGT/IMGeo
GML conversion of e.g. the 3dfier project). The layer inside has a CityGML-like English name
(``buildingpart``, ``trafficarea``, …); the twin layer is named by the BGT object type of the
file name: ``bgt_pand``, ``bgt_wegdeel``, …

Each record's id is ``{namespace}.{lokaalid}`` (e.g. ``NL.IMGeo.G0503.032e…``). The BGT time
axes become the record's axes: ``creationdate`` (objectBeginTijd) → ``valid_from``,
``terminationdate`` (objectEindTijd) → ``valid_to``, ``tijdstipregistratie`` → ``recorded_at``,
``eindregistratie`` → ``record_end``; naive times are Europe/Amsterdam. All other IMGeo
attributes are kept with their types. Multi-valued attributes that OGR wrote as encoded
string lists, such as ``tekst`` ``"(1:6)"``, ``hoek`` ``"(1:-52.4)"`` and ``plaatsingspunt``
``"(1:85012.966 447473.243)"``, are kept raw as text. Pand records also get ``bag_id``,
the BAG pand identification ``NL.IMBAG.Pand.`` + the 16-digit ``identificatiebagpnd``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, FieldType, ImportBatch, LayerSchema
from tweeling.core.timeaxis import parse_optional_time
from tweeling.sources.ogr import Records, VectorLayer, list_vector_layers, read_vector_layer

# BGT and IMGeo object types (the ``bgt_<type>.sqlite`` file names), IMGeo 2.1.
BGT_OBJECT_TYPES = frozenset(
    {
        "bak",
        "begroeidterreindeel",
        "bord",
        "buurt",
        "functioneelgebied",
        "gebouwinstallatie",
        "installatie",
        "kast",
        "kunstwerkdeel",
        "mast",
        "onbegroeidterreindeel",
        "ondersteunendwaterdeel",
        "ondersteunendwegdeel",
        "openbareruimte",
        "openbareruimtelabel",
        "overbruggingsdeel",
        "overigbouwwerk",
        "overigescheiding",
        "paal",
        "pand",
        "plaatsbepalingspunt",
        "put",
        "scheiding",
        "sensor",
        "spoor",
        "stadsdeel",
        "straatmeubilair",
        "tunneldeel",
        "vegetatieobject",
        "waterdeel",
        "waterinrichtingselement",
        "waterschap",
        "wegdeel",
        "weginrichtingselement",
        "wijk",
    }
)

# Source column -> record time axis.
TIME_AXES = {
    "creationdate": "valid_from",  # objectBeginTijd
    "terminationdate": "valid_to",  # objectEindTijd
    "tijdstipregistratie": "recorded_at",  # tijdstipRegistratie
    "eindregistratie": "record_end",  # eindRegistratie
}

# Text columns holding times (not axes) that are typed as DATETIME in the twin.
TIME_FIELDS = frozenset({"lv_publicatiedatum"})

_FILE_NAME = re.compile(r"^bgt_([a-z]+)\.sqlite$", re.IGNORECASE)

LICENCE = "CC0 1.0 (BGT: Kadaster / bronhouders, via PDOK)"


def read_bgt(paths: Sequence[str | Path], *, repair: bool = False) -> ImportBatch:
    """Read BGT OGR SQLite files (``bgt_<objecttype>.sqlite``) into ``bgt_<objecttype>`` layers.

    ``paths`` lists the files; a folder in it stands for all its ``bgt_*.sqlite`` files. All
    files must lie in one folder (the source is ``bgt:<folder name>``). Every file's layer is
    declared, also when it is empty.
    """
    files = expand_paths(paths)
    folder = files[0].parent
    if any(f.parent != folder for f in files):
        raise InputError(
            "BGT files must lie in one folder (one source); got "
            f"{sorted({str(f.parent) for f in files})}",
            path=folder,
        )
    layers: list[LayerSchema] = []
    parts: list[tuple[str, VectorLayer, list[str], dict[str, list[Any]]]] = []
    seen: dict[str, Path] = {}
    for f in files:
        object_type = bgt_object_type(f)
        if object_type in seen:
            raise InputError(f"BGT object type {object_type!r} given twice", path=f)
        seen[object_type] = f
        layer = f"bgt_{object_type}"
        data = read_vector_layer(f, layer=_only_layer(f), id_field="lokaalid", repair=repair)
        ids = record_ids(data)
        derived = derived_columns(data, ids, is_pand=object_type == "pand")
        layers.append(layer_schema(layer, object_type, data))
        parts.append((layer, data, ids, derived))

    total = sum(len(p[1]) for p in parts)

    def records() -> Iterator[FeatureRecord]:
        for layer, data, ids, derived in parts:
            yield from layer_records(layer, data, ids, derived)

    return ImportBatch(
        source=f"bgt:{folder.name}",
        path=str(folder),
        layers=layers,
        features=Records(records, total),
        total=total,
        metadata={
            "files": {p[0]: Path(p[1].path).name for p in parts},
            "ogr_layers": {p[0]: p[1].layer for p in parts},
            "counts": {p[0]: len(p[1]) for p in parts},
            "time_axes": dict(TIME_AXES),
            "repair": repair,
            "repaired": [r.to_dict() for p in parts for r in p[1].repairs],
        },
    )


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """The BGT files to read: the given files, and the ``bgt_*.sqlite`` files of given folders."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("bgt_*.sqlite"))
            if not found:
                raise InputError("folder holds no bgt_*.sqlite files", path=p)
            files.extend(found)
        elif not p.exists():
            raise InputError("no such file", path=p)
        else:
            files.append(p)
    if not files:
        raise InputError("no BGT files given")
    return files


def bgt_object_type(path: Path) -> str:
    """The BGT object type named by a file name like ``bgt_wegdeel.sqlite``."""
    m = _FILE_NAME.match(path.name)
    if not m:
        raise InputError("a BGT file name must look like bgt_<objecttype>.sqlite", path=path)
    object_type = m.group(1).lower()
    if object_type not in BGT_OBJECT_TYPES:
        raise InputError(f"{object_type!r} is not a BGT/IMGeo object type", path=path)
    return object_type


def _only_layer(path: Path) -> str:
    layers = [n for n, _ in list_vector_layers(path)]
    if len(layers) != 1:
        raise InputError(f"expected one layer in a BGT file, found {layers}", path=path)
    return layers[0]


def layer_schema(layer: str, object_type: str, data: VectorLayer) -> LayerSchema:
    """The twin schema of one BGT layer: the file's fields minus the time axes, typed."""
    fields = {
        name: FieldType.DATETIME if name in TIME_FIELDS else ftype
        for name, ftype in data.field_types.items()
        if name not in TIME_AXES
    }
    if object_type == "pand":
        fields["bag_id"] = FieldType.TEXT
    return LayerSchema(
        name=layer,
        geometry_type=data.geometry_type,
        fields=fields,
        has_z=data.has_z,
        title=f"BGT {object_type}",
        description=(
            f"BGT object type {object_type} (OGR layer {data.layer!r}). Time axes: "
            "creationdate → valid_from, terminationdate → valid_to, tijdstipregistratie → "
            "recorded_at, eindregistratie → record_end (naive times in Europe/Amsterdam). "
            "OGR-encoded string lists such as tekst '(1:6)' are kept raw."
        ),
        source="BGT",
        licence=LICENCE,
    )


def record_ids(data: VectorLayer) -> list[str]:
    """``{namespace}.{lokaalid}`` for every feature; both must be given and ids unique."""
    for name in ("namespace", "lokaalid"):
        if name not in data.columns:
            raise InputError(f"layer {data.layer!r} has no field {name!r}", path=data.path)
    ids = []
    seen = set()
    for label, ns, local in zip(
        data.labels, data.columns["namespace"], data.columns["lokaalid"], strict=True
    ):
        if not ns or not local:
            raise InputError(
                "namespace and lokaalid are both required", path=data.path, object_id=label
            )
        rid = f"{ns}.{local}"
        if rid in seen:
            raise InputError("the same object occurs twice", path=data.path, object_id=rid)
        seen.add(rid)
        ids.append(rid)
    return ids


def bag_pand_id(value: Any) -> str | None:
    """``NL.IMBAG.Pand.`` + the 16-digit zero-padded BAG pand identification (None if absent)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 16:
        raise ValueError(f"{value!r} is not a BAG pand identification (at most 16 digits)")
    return "NL.IMBAG.Pand." + text.zfill(16)


def derived_columns(data: VectorLayer, ids: list[str], *, is_pand: bool) -> dict[str, list[Any]]:
    """Columns computed up front (so bad values fail before any record is stored).

    The time columns parsed to aware datetimes, and for pand the normalised ``bag_id``.
    """
    out: dict[str, list[Any]] = {}
    for name in [*TIME_AXES, *TIME_FIELDS]:
        if name in data.columns:
            out[name] = [
                _time(v, path=data.path, object_id=rid, field=name)
                for v, rid in zip(data.columns[name], ids, strict=True)
            ]
    if is_pand:
        values = data.columns.get("identificatiebagpnd", [None] * len(ids))
        out["bag_id"] = []
        for v, rid in zip(values, ids, strict=True):
            try:
                out["bag_id"].append(bag_pand_id(v))
            except ValueError as e:
                raise InputError(
                    str(e), path=data.path, object_id=rid, field="identificatiebagpnd"
                ) from None
    return out


def layer_records(
    layer: str, data: VectorLayer, ids: list[str], derived: dict[str, list[Any]]
) -> Iterator[FeatureRecord]:
    """The feature records of one BGT layer."""
    columns = {n: v for n, v in data.columns.items() if n not in TIME_AXES}
    columns.update({n: v for n, v in derived.items() if n not in TIME_AXES})
    axes = {TIME_AXES[n]: v for n, v in derived.items() if n in TIME_AXES}
    for i, geom in enumerate(data.geometries):
        yield FeatureRecord(
            layer=layer,
            id=ids[i],
            geometry=geom,
            properties={n: v[i] for n, v in columns.items()},
            **{axis: v[i] for axis, v in axes.items()},
        )


def _time(value: Any, *, path: str, object_id: str, field: str) -> datetime | None:
    try:
        return parse_optional_time(value, what=field)
    except InputError as e:
        raise InputError(e.reason, path=path, object_id=object_id, field=field) from None
