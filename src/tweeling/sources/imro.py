"""Zoning plans (bestemmingsplannen) from IMRO 2008 and IMRO 2012 GML.

An IMRO GML file holds one spatial plan: a plan area (``Bestemmingsplangebied``, the element
with a ``typePlan``) and its plan objects (``Enkelbestemming``, ``Dubbelbestemming``,
``Bouwvlak``, ``Functieaanduiding``, ``Bouwaanduiding``, ``Maatvoering``,
``Gebiedsaanduiding``, ``Figuur``, …), each in an ``imro:featureMember``. All of them,
the plan area included, become records of one layer, :data:`LAYER`; the file's
``MetadataIMRObestand`` goes to the batch metadata.

The two versions differ in: namespace (``…/imro/2008/1`` with GML 3.1.1, ``…/imro/2012/1.1``
with GML 3.2); ``identificatie`` (plain text in 2008, ``NEN3610ID`` with namespace, lokaalID
and versie in 2012); ``PlanstatusEnDatum_BP`` (2008) vs ``PlanstatusEnDatum`` (2012);
``ondergrond`` (text, 2008) vs ``ondergrondInfo`` (2012); and the wording of some value types
("maximaal aantal wooneenheden" in 2008, "maximum aantal wooneenheden" in 2012).

Geometry must be in RD New (EPSG:28992); circular arcs are linearised to a stated tolerance
(see :mod:`tweeling.sources.gml_geometry`).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import shapely
from lxml import etree

from tweeling.core.crs import check_rd_bounds
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, FieldType, ImportBatch, LayerSchema
from tweeling.core.timeaxis import parse_optional_time
from tweeling.sources.gml_geometry import (
    GML_NAMESPACES,
    XLINK_HREF,
    GmlError,
    max_step_angle,
    parse_gml_geometry,
)

LAYER = "zoning_plan_objects"

IMRO_NAMESPACES = {
    "http://www.geonovum.nl/imro/2008/1": "IMRO2008",
    "http://www.geonovum.nl/imro/2012/1.1": "IMRO2012",
}

# waardeType (normalised, see _normalise_waarde_type) → convenience column.
MAATVOERING_COLUMNS = {
    "maximum bouwhoogte (m)": "maximum_bouwhoogte_m",
    "maximum goothoogte (m)": "maximum_goothoogte_m",
    "maximum aantal bouwlagen": "maximum_bouwlagen",
    "maximum aantal wooneenheden": "maximum_wooneenheden",
    "maximum bebouwingspercentage (%)": "maximum_bebouwingspercentage",
    "maximum bebouwingspercentage": "maximum_bebouwingspercentage",
}

# Plan-level values repeated on every record of the plan (so objects filter without a join).
PLAN_STATUS_FIELDS = ("type_plan", "planstatus", "planstatus_datum")
# Plan-level values only on the plan area record.
PLAN_AREA_FIELDS = {
    "beleidsmatigVerantwoordelijkeOverheid": "beleidsmatig_verantwoordelijke_overheid",
    "naamOverheid": "naam_overheid",
    "overheidsCode": "overheidscode",
}

FIELDS: dict[str, FieldType] = {
    "plan_id": FieldType.TEXT,
    "imro_version": FieldType.TEXT,
    "object_type": FieldType.TEXT,
    "type_planobject": FieldType.TEXT,
    "naam": FieldType.TEXT,
    "bestemmingshoofdgroep": FieldType.TEXT,
    "artikelnummer": FieldType.TEXT,
    "verwijzing_naar_tekst": FieldType.TEXT,
    "bestemmingsvlak": FieldType.JSON,
    "aanduiding": FieldType.JSON,
    "maatvoering": FieldType.JSON,
    "maximum_bouwhoogte_m": FieldType.REAL,
    "maximum_goothoogte_m": FieldType.REAL,
    "maximum_bouwlagen": FieldType.REAL,
    "maximum_wooneenheden": FieldType.REAL,
    "maximum_bebouwingspercentage": FieldType.REAL,
    "type_plan": FieldType.TEXT,
    "planstatus": FieldType.TEXT,
    "planstatus_datum": FieldType.DATE,
    "beleidsmatig_verantwoordelijke_overheid": FieldType.TEXT,
    "naam_overheid": FieldType.TEXT,
    "overheidscode": FieldType.TEXT,
    "attributes": FieldType.JSON,
}

# Child elements that have a column of their own (so are left out of ``attributes``).
_COLUMN_ELEMENTS = frozenset(
    {
        "identificatie",
        "geometrie",
        "typePlanobject",
        "naam",
        "bestemmingshoofdgroep",
        "artikelnummer",
        "bestemmingsvlak",
        "aanduiding",
        "maatvoeringInfo",
        "omvang",
        "typePlan",
        "planstatusInfo",
        *PLAN_AREA_FIELDS,
    }
)

# Multi-valued simple elements whose attribute value is always a list.
_ALWAYS_LISTS = frozenset({"verwijzingNorm"})

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)$")


def layer_schema(arc_tolerance_m: float) -> LayerSchema:
    """The layer all plan objects of all IMRO plans go to."""
    return LayerSchema(
        name=LAYER,
        geometry_type="GEOMETRY",
        fields=dict(FIELDS),
        title="Zoning plan objects (IMRO)",
        description=(
            "Objects of Dutch spatial plans (bestemmingsplannen) in IMRO 2008/2012 GML: the "
            "plan area and its enkel-/dubbelbestemmingen, bouwvlakken, aanduidingen, "
            "maatvoeringen and figuren, one record each. maatvoering lists "
            "{waarde_type, waarde}; the maximum_* columns repeat the common value types. "
            "Circular arcs (gml:Arc, ArcString, Circle) are linearised so that no chord "
            f"deviates more than {arc_tolerance_m:g} m (sagitta) from the true arc. "
            "valid_from is the date of the plan status (planstatus datum), not the date the "
            "plan came into force."
        ),
        source="IMRO GML (ruimtelijkeplannen.nl)",
        licence="public plan data under the Wet ruimtelijke ordening",
    )


# --------------------------------------------------------------------------------------------
# XML helpers
# --------------------------------------------------------------------------------------------


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element, name: str | None = None) -> list[etree._Element]:
    """Element children (no comments), optionally only those with local name ``name``."""
    return [c for c in element if isinstance(c.tag, str) and (name is None or _local(c) == name)]


def _text(element: etree._Element | None) -> str | None:
    """Stripped text of an element; None when absent or empty."""
    if element is None:
        return None
    text = (element.text or "").strip()
    return text or None


def _child_text(element: etree._Element, name: str) -> str | None:
    found = _children(element, name)
    return _text(found[0]) if found else None


def _href_id(element: etree._Element) -> str | None:
    """The id an ``xlink:href`` points to (without the leading '#')."""
    href = element.get(XLINK_HREF)
    if href is None:
        return None
    return href.strip().split("#", 1)[-1] or None


def element_value(element: etree._Element) -> Any:
    """A JSON-able value of a non-geometry element, or None to leave it out.

    A reference gives the id it points to, a simple element its text, a complex element a
    dict of its children's values (repeated children become lists). A property element
    wrapping a single data type object (``TekstReferentie_BP``, ``Labelpositie``, …: upper
    case names) is unwrapped. GML geometry inside (label positions) is left out.
    """
    href = _href_id(element)
    if href is not None:
        return href
    children = _children(element)
    if not children:
        return _text(element)
    values: dict[str, Any] = {}
    for child in children:
        if etree.QName(child).namespace in GML_NAMESPACES:
            continue
        value = element_value(child)
        if value is not None and value != {}:
            _add(values, _local(child), value)
    if len(children) == 1 and _local(children[0])[:1].isupper():
        return values.get(_local(children[0]))
    return values or None


def _add(values: dict[str, Any], key: str, value: Any) -> None:
    """Set ``values[key]``, turning it into a list when the key repeats."""
    if key not in values:
        values[key] = value
    elif isinstance(values[key], list):
        values[key].append(value)
    else:
        values[key] = [values[key], value]


# --------------------------------------------------------------------------------------------
# Document
# --------------------------------------------------------------------------------------------


def parse_document(path: Path) -> etree._Element:
    """The root element of an IMRO GML file; InputError when missing or not well-formed XML."""
    if not path.exists():
        raise InputError("file not found", path=path)
    if not path.is_file():
        raise InputError("not a file", path=path)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False
    )
    try:
        return etree.parse(str(path), parser).getroot()
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else "?"
        column = f", column {exc.position[1]}" if exc.position and exc.position[1] else ""
        message = re.sub(r", line \d+, column \d+$", "", str(exc.msg or exc).strip())
        raise InputError(
            f"not well-formed XML (line {line}{column}): {message}", path=path
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc}", path=path) from None


def imro_version(root: etree._Element, path: Path) -> str:
    """The IMRO version, "IMRO2008" or "IMRO2012", from the root element's namespace."""
    namespace = etree.QName(root).namespace
    version = IMRO_NAMESPACES.get(namespace or "")
    if version is None:
        known = ", ".join(IMRO_NAMESPACES)
        raise InputError(
            f"not an IMRO document: root element {root.tag!r} is not in a known IMRO "
            f"namespace ({known})",
            path=path,
        )
    return version


def feature_members(root: etree._Element) -> list[etree._Element]:
    """The objects in ``featureMember`` (one each) and ``featureMembers`` (many each)."""
    objects: list[etree._Element] = []
    for member in _children(root):
        if _local(member) in ("featureMember", "featureMembers"):
            objects.extend(_children(member))
    return objects


def identificatie(element: etree._Element) -> str | None:
    """The object's identification: IMRO2008 text, or IMRO2012 NEN3610ID.

    A NEN3610ID gives ``namespace.lokaalID``, with ``-versie`` appended when a versie is
    given (so a plan reads e.g. ``NL.IMRO.0664.BPBS03-ON99``). Falls back to ``gml:id``.
    """
    found = _children(element, "identificatie")
    if found:
        nen = _children(found[0], "NEN3610ID")
        if nen:
            namespace = _child_text(nen[0], "namespace")
            lokaal_id = _child_text(nen[0], "lokaalID")
            versie = _child_text(nen[0], "versie")
            if lokaal_id:
                ident = f"{namespace}.{lokaal_id}" if namespace else lokaal_id
                return f"{ident}-{versie}" if versie else ident
        elif _text(found[0]):
            return _text(found[0])
    gml_id = _gml_id(element)
    return (gml_id.strip() or None) if gml_id else None


# --------------------------------------------------------------------------------------------
# Maatvoering
# --------------------------------------------------------------------------------------------


def parse_waarde(text: str) -> float | str:
    """A maatvoering value as a float ("7", "10.5", "7,5"), else the raw string."""
    raw = text.strip()
    if _NUMBER.match(raw):
        return float(raw.replace(",", "."))
    return raw


def _normalise_waarde_type(text: str) -> str:
    """Lower case, single spaces, and 'maximaal'/'maximale' read as 'maximum'."""
    text = " ".join(text.lower().split())
    return re.sub(r"^maxima(?:al|le)\b", "maximum", text)


def maatvoering(element: etree._Element) -> list[dict[str, Any]]:
    """All ``WaardeEnType`` values of an object, in document order.

    Found wherever they are nested (``maatvoeringInfo/WaardeEnType`` as in the IMRO 2008 and
    2012 files seen, or ``omvang/WaardeEnType``); each gives
    ``{"waarde_type": …, "waarde": float or raw string}``.
    """
    items = []
    for prop in _children(element):
        if etree.QName(prop).namespace in GML_NAMESPACES or _local(prop) == "geometrie":
            continue
        for wet in prop.iter(f"{{{etree.QName(element).namespace}}}WaardeEnType"):
            waarde = _child_text(wet, "waarde")
            items.append(
                {
                    "waarde_type": _child_text(wet, "waardeType"),
                    "waarde": parse_waarde(waarde) if waarde is not None else None,
                }
            )
    return items


def maatvoering_columns(items: list[dict[str, Any]]) -> dict[str, float | None]:
    """The convenience columns (maximum_bouwhoogte_m, …) from maatvoering items.

    A column takes the first numeric value of its type; non-numeric values leave it empty.
    """
    columns: dict[str, float | None] = dict.fromkeys(MAATVOERING_COLUMNS.values())
    for item in items:
        column = MAATVOERING_COLUMNS.get(_normalise_waarde_type(item["waarde_type"] or ""))
        if column and columns[column] is None and isinstance(item["waarde"], float):
            columns[column] = item["waarde"]
    return columns


# --------------------------------------------------------------------------------------------
# Plan and objects
# --------------------------------------------------------------------------------------------


def find_plan_area(objects: list[etree._Element], path: Path) -> etree._Element:
    """The plan area: the one object with a ``typePlan`` (e.g. Bestemmingsplangebied)."""
    areas = [o for o in objects if _children(o, "typePlan")]
    if not areas:
        raise InputError("no plan area (an object with imro:typePlan) in the file", path=path)
    if len(areas) > 1:
        ids = ", ".join(repr(identificatie(a)) for a in areas)
        raise InputError(f"more than one plan area in the file: {ids}", path=path)
    return areas[0]


def plan_status(plan: etree._Element, path: Path, plan_id: str) -> dict[str, Any]:
    """type_plan, planstatus and planstatus_datum (ISO date text) of the plan area."""
    status = datum = None
    info = _children(plan, "planstatusInfo")
    if info:
        for element in info[0].iter():
            if not isinstance(element.tag, str):
                continue
            if _local(element) == "planstatus":
                status = _text(element)
            elif _local(element) == "datum":
                datum = _text(element)
    if datum is not None:
        try:
            datum = datetime.fromisoformat(datum[:10]).date().isoformat()
        except ValueError:
            raise InputError(
                f"planstatus datum {datum!r} is not a date", path=path, object_id=plan_id
            ) from None
    return {
        "type_plan": _child_text(plan, "typePlan"),
        "planstatus": status,
        "planstatus_datum": datum,
    }


def object_geometry(
    element: etree._Element, path: Path, object_id: str, arc_tolerance_m: float
) -> shapely.Geometry:
    """The object's ``geometrie`` in RD New, linearised, checked for validity and bounds."""
    geometrie = _children(element, "geometrie")
    if not geometrie:
        raise InputError("plan object has no imro:geometrie", path=path, object_id=object_id)
    geoms = _children(geometrie[0])
    if len(geoms) != 1:
        raise InputError(
            f"imro:geometrie holds {len(geoms)} elements, expected one GML geometry",
            path=path,
            object_id=object_id,
        )
    try:
        geom = parse_gml_geometry(geoms[0], arc_tolerance_m=arc_tolerance_m)
    except GmlError as exc:
        raise InputError(str(exc), path=path, object_id=object_id, field="geometrie") from None
    reason = shapely.is_valid_reason(geom)
    if reason != "Valid Geometry":
        raise InputError(
            f"invalid {geom.geom_type} (line {geoms[0].sourceline}): {reason}",
            path=path,
            object_id=object_id,
            field="geometrie",
        )
    try:
        check_rd_bounds(geom.bounds, path=path)
    except InputError as exc:
        raise InputError(exc.reason, path=path, object_id=object_id, field="geometrie") from None
    return geom


def other_attributes(element: etree._Element) -> dict[str, Any]:
    """Values of the child elements without a column of their own, by element name.

    Simple values are scalars (a list when the element repeats; ``verwijzingNorm`` always a
    list); structured values (``verwijzingNaarTekstInfo``, ``labelInfo``, ``symboolInfo``,
    ``ondergrondInfo``, …) are always lists of dicts, so their shape does not depend on how
    many the file holds. References (``plangebied``) give the id they point to.
    """
    attributes: dict[str, Any] = {}
    for child in _children(element):
        name = _local(child)
        if name in _COLUMN_ELEMENTS or etree.QName(child).namespace in GML_NAMESPACES:
            continue
        value = element_value(child)
        if value is None:
            continue
        if isinstance(value, dict) or name in _ALWAYS_LISTS:
            attributes.setdefault(name, []).append(value)
        else:
            _add(attributes, name, value)
    return attributes


def object_properties(
    element: etree._Element, *, plan_id: str, version: str, gml_id: str | None
) -> dict[str, Any]:
    """The layer's attribute values for one plan object (plan-level columns left empty)."""
    items = maatvoering(element)
    namespace = etree.QName(element).namespace
    texts = [_text(t) for t in element.iter(f"{{{namespace}}}verwijzingNaarTekst")]
    attributes = other_attributes(element)
    if gml_id and gml_id != identificatie(element):
        attributes["gml_id"] = gml_id
    properties: dict[str, Any] = dict.fromkeys(FIELDS)
    properties.update(
        {
            "plan_id": plan_id,
            "imro_version": version,
            "object_type": _local(element),
            "type_planobject": _child_text(element, "typePlanobject"),
            "naam": _child_text(element, "naam"),
            "bestemmingshoofdgroep": _child_text(element, "bestemmingshoofdgroep"),
            "artikelnummer": _child_text(element, "artikelnummer"),
            "verwijzing_naar_tekst": next((t for t in texts if t), None),
            "bestemmingsvlak": _references(element, "bestemmingsvlak"),
            "aanduiding": _references(element, "aanduiding"),
            "maatvoering": items,
            **maatvoering_columns(items),
            "attributes": attributes,
        }
    )
    return properties


def _references(element: etree._Element, name: str) -> list[str]:
    """Ids referred to by the ``name`` children (xlink:href)."""
    return [ref for c in _children(element, name) if (ref := _href_id(c)) is not None]


def _gml_id(element: etree._Element) -> str | None:
    for name, value in element.attrib.items():
        qname = etree.QName(name)
        if qname.localname == "id" and qname.namespace in GML_NAMESPACES:
            return value
    return None


def twin_id(plan_id: str, object_id: str, version: str) -> str:
    """The object's id in the twin's one zoning layer.

    IMRO2012 identificaties are unique nationally (they carry the plan owner's code); IMRO2008
    plans often number their objects ``NL.IMRO.1``, ``NL.IMRO.2``…, which would clash between
    plans, so those are prefixed with the plan id.
    """
    return object_id if version == "IMRO2012" else f"{plan_id}/{object_id}"


def read_imro(path: str | Path, *, arc_tolerance_m: float = 0.01) -> ImportBatch:
    """Read an IMRO 2008 or IMRO 2012 zoning plan GML into one batch for :data:`LAYER`.

    Every plan object in a ``featureMember`` (the plan area included) becomes one
    :class:`FeatureRecord` with id = its ``identificatie`` (IMRO2008 text, or IMRO2012
    NEN3610ID ``namespace.lokaalID``; ``gml:id`` when absent). ``MetadataIMRObestand`` is not a
    plan object: it goes to ``metadata["imro_metadata"]``. Circular arcs are linearised with a
    sagitta of at most ``arc_tolerance_m`` metres (stated in ``metadata["arc_tolerance_m"]``).

    Time axes: IMRO plan objects carry no object times. Every record's ``valid_from`` is the
    plan's planstatus ``datum`` (midnight Europe/Amsterdam), i.e. the date of the status in
    the file (ontwerp, vastgesteld, …), which is not necessarily the date the plan is in
    force; ``valid_to``, ``recorded_at`` and ``record_end`` are left to the store (None).

    All records are built (and the whole file checked) before returning. Raises
    :class:`InputError` naming the file (and object, and line where known) for a missing
    file, XML that is not well-formed, a document that is not IMRO, a missing plan area,
    duplicate ids, a missing or non-RD srsName, unreadable or invalid geometry (e.g. an Arc
    without exactly 3 points, an unclosed ring).
    """
    path = Path(path)
    try:
        max_step_angle(1.0, arc_tolerance_m)
    except ValueError as exc:
        raise InputError(str(exc), path=path) from None
    root = parse_document(path)
    version = imro_version(root, path)
    elements = feature_members(root)
    metadata_elements = [e for e in elements if _local(e) == "MetadataIMRObestand"]
    objects = [e for e in elements if _local(e) != "MetadataIMRObestand"]
    plan = find_plan_area(objects, path)
    plan_id = identificatie(plan)
    if not plan_id:
        raise InputError("the plan area has no identificatie", path=path)
    status = plan_status(plan, path, plan_id)
    valid_from = parse_optional_time(status["planstatus_datum"], what="planstatus datum")

    records: list[FeatureRecord] = []
    seen: set[str] = set()
    for element in objects:
        object_id = identificatie(element)
        if not object_id:
            raise InputError(
                f"imro:{_local(element)} (line {element.sourceline}) has no identificatie "
                "and no gml:id",
                path=path,
            )
        if object_id in seen:
            raise InputError("duplicate identificatie", path=path, object_id=object_id)
        seen.add(object_id)
        geometry = object_geometry(element, path, object_id, arc_tolerance_m)
        properties = object_properties(
            element, plan_id=plan_id, version=version, gml_id=_gml_id(element)
        )
        properties.update(status)
        if element is plan:
            for tag, column in PLAN_AREA_FIELDS.items():
                properties[column] = _child_text(element, tag)
        records.append(
            FeatureRecord(
                layer=LAYER,
                id=twin_id(plan_id, object_id, version),
                geometry=geometry,
                properties=properties,
                valid_from=valid_from,
            )
        )

    counts = Counter(r.properties["object_type"] for r in records)
    metadata: dict[str, Any] = {
        "arc_tolerance_m": arc_tolerance_m,
        "imro_version": version,
        "imro_namespace": etree.QName(root).namespace,
        "plan_id": plan_id,
        "plan_naam": _child_text(plan, "naam"),
        **status,
        "object_counts": dict(sorted(counts.items())),
    }
    if metadata_elements:
        metadata["imro_metadata"] = element_value(metadata_elements[0])
    return ImportBatch(
        source=f"imro:{plan_id}",
        path=str(path),
        layers=[layer_schema(arc_tolerance_m)],
        features=records,
        total=len(records),
        metadata=metadata,
    )
