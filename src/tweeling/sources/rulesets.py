"""Rule sets in YAML: national and local norms as data (see docs/rules.md for the format).

A rule set is one YAML file::

    ruleset:
      name: National wind turbine norms          # required
      authority: Rijk                            # default competent authority of its rules
      description: Noise, shadow flicker and safety of wind turbines
      illustrative: false                        # true: not a real rule set (demo, example)
    crs: EPSG:28992                              # CRS of the locations; RD New when absent
    defaults:                                    # optional: values every rule takes unless
      kind: omgevingsnorm                        # it sets them itself; ``reference`` and
      activity: windturbine                      # ``extra`` are merged key by key
      valid_from: 2011-01-01
      reference: {document: Activiteitenbesluit milieubeheer}
    rules:
      - id: nl-wind-lden                         # unique; names the rule in every finding
        kind: omgevingsnorm                      # omgevingsnorm | omgevingswaarde
        name: Wind turbine noise, Lden
        activity: windturbine                    # bouwen | windturbine | weg | stikstof
        subject: lden_db                         # see SUBJECTS
        comparison: maximum                      # maximum | minimum | permit_above | allowed
        value: 47                                # a quantity: value and unit ...
        unit: dB
        # values: [wonen, kantoor]               # ... or qualitative values (no unit)
        reference:
          document: Activiteitenbesluit milieubeheer
          article: art. 3.14a, eerste lid
          url: https://wetten.overheid.nl/...
        authority: Rijk
        valid_from: 2011-01-01                   # in force from (inclusive)
        valid_until: 2024-01-01                  # until (exclusive); absent: open
        status_note: Visible note where the current legal status is uncertain
        location: POLYGON ((...))                # WKT or a GeoJSON geometry; absent: everywhere
        location_name: Demo area
        extra: {consequence: ...}                # further facts for the checker (JSON values)

Everything is checked before anything is returned: unknown fields (at the top, in
``ruleset``, ``defaults``, ``reference`` and each rule), a quantity without a unit or a unit
without a value, a subject unknown for its activity or in the wrong unit, invalid dates or a
period that ends before it starts, an unknown kind or comparison, duplicate ids, an invalid
location, and two rules that contradict each other (:func:`find_conflicts`). Errors name the
file, the rule id and the field.

In the twin the norms are objects of the ``norms`` layer (:func:`ruleset_batch`). That
layer's geometry column needs a geometry for every object (the store refuses objects
without one), so a norm that holds everywhere is stored with the RD New domain the store
accepts (:data:`EVERYWHERE`, ``tweeling.core.crs.RD_BOUNDS``) and ``extra.everywhere =
true``; :func:`stored_norm` turns such an object back into a norm with location ``None``.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import shapely
import yaml
from shapely.strtree import STRtree

from tweeling.core.crs import RD_BOUNDS, RD_NEW, normalise_crs
from tweeling.core.errors import InputError
from tweeling.core.features import FeatureRecord, ImportBatch, LayerSchema
from tweeling.core.rules import (
    NORM_FIELDS,
    NORMS_LAYER,
    LegalReference,
    Norm,
    NormValue,
    norm_from_properties,
    norm_properties,
)
from tweeling.sources.geojson_geometry import read_geometry

# The subjects a norm can judge, per activity, with the unit of their values (None: a
# qualitative subject, judged with ``comparison: allowed`` and ``values``). The checker maps
# each to data: building attributes, or a model's per-object results.
SUBJECTS: dict[str, dict[str, str | None]] = {
    "bouwen": {
        "building_height_m": "m",
        "gutter_height_m": "m",
        "storeys": "1",
        "dwellings": "1",
        "coverage_pct": "%",
        "function": None,  # allowed uses, e.g. "wonen", "kantoor"
    },
    "windturbine": {
        "lden_db": "dB",  # at noise-sensitive buildings
        "lnight_db": "dB",
        "flicker_days_over_20_min": "d/yr",
        "within_ir_1e-6": None,  # "true"/"false": inside the 10^-6/yr individual-risk contour
        "within_ir_1e-5": None,
    },
    "weg": {"lden_db": "dB"},  # road traffic noise at facades
    "stikstof": {"deposition_increase_mol_n_per_ha_per_yr": "mol/ha/yr"},  # per hexagon
}

# Where a norm holds everywhere: the RD New domain the store accepts (land, waters and the
# Dutch part of the North Sea), marked with extra.everywhere = true.
EVERYWHERE = shapely.box(*RD_BOUNDS)

_TOP = frozenset({"ruleset", "crs", "defaults", "rules"})
_RULESET = frozenset({"name", "authority", "description", "illustrative"})
_RULE = frozenset(
    {
        "id",
        "kind",
        "name",
        "activity",
        "subject",
        "comparison",
        "value",
        "unit",
        "values",
        "reference",
        "authority",
        "valid_from",
        "valid_until",
        "status_note",
        "location",
        "location_name",
        "extra",
    }
)
# Defaults are shared facts (source, authority, period, place, subject), not a rule's own
# id, name or value.
_DEFAULTS = _RULE - {"id", "name", "value", "unit", "values"}
_REFERENCE = frozenset({"document", "article", "url"})


@dataclass(frozen=True)
class RuleSet:
    """A rule set file as read: its header and its norms."""

    name: str
    authority: str
    description: str
    illustrative: bool
    path: str
    norms: list[Norm]


@dataclass(frozen=True)
class Conflict:
    """Two norms that set different values for the same activity, subject and comparison at
    an overlapping place in an overlapping period."""

    first: Norm
    second: Norm

    @property
    def message(self) -> str:
        a, b = self.first, self.second

        def where(n: Norm) -> str:
            return f"{n.id!r}" + (f" ({n.source})" if n.source else "")

        return (
            f"rules {where(a)} and {where(b)} contradict each other: both set "
            f"{a.activity}/{a.subject} ({a.comparison}), to {a.value.text()} and "
            f"{b.value.text()}, for an overlapping location and validity period"
        )


# ------------------------------------------------------------------ reading


def read_ruleset(path: str | os.PathLike) -> list[Norm]:
    """The norms of a YAML rule set, checked (see the module docstring); locations in RD
    New. Raises :class:`InputError` naming the file, the rule and the field."""
    return read_ruleset_file(path).norms


def read_ruleset_file(path: str | os.PathLike) -> RuleSet:
    """A YAML rule set with its header (name, authority, description, illustrative)."""
    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise InputError("a rule set is a .yaml or .yml file", path=path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the rule set: {exc.strerror}", path=path) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InputError(f"not valid YAML{at}: {getattr(exc, 'problem', exc)}", path=path) from None
    if not isinstance(doc, dict):
        raise InputError("expected a mapping with 'ruleset' and 'rules'", path=path)
    _refuse_unknown(doc, _TOP, path, None, "top-level keys")
    header = doc.get("ruleset")
    if not isinstance(header, dict):
        raise InputError(
            "a rule set needs a 'ruleset' header with at least its name", path=path, field="ruleset"
        )
    _refuse_unknown(header, _RULESET, path, "ruleset", "keys")
    name = _text(header.get("name"), path, "ruleset", "name", required=True)
    authority = _text(header.get("authority"), path, "ruleset", "authority")
    description = _text(header.get("description"), path, "ruleset", "description")
    illustrative = header.get("illustrative", False)
    if not isinstance(illustrative, bool):
        raise InputError(
            "'illustrative' is true or false", path=path, object_id="ruleset", field="illustrative"
        )
    crs = normalise_crs(doc.get("crs") or RD_NEW, path=path)

    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise InputError("'defaults' is a mapping", path=path, field="defaults")
    _refuse_unknown(defaults, _DEFAULTS, path, "defaults", "keys in defaults")
    if "location" in defaults:
        defaults = {
            **defaults,
            "location": _location(defaults["location"], crs, path, "defaults"),
        }

    rules = doc.get("rules")
    if not isinstance(rules, list) or not rules:
        raise InputError("a rule set needs a non-empty list 'rules'", path=path, field="rules")
    context = _Context(path, crs, defaults, authority, name, illustrative)
    norms: list[Norm] = []
    seen: set[str] = set()
    for n, item in enumerate(rules, start=1):
        norm = _rule(item, n, context)
        if norm.id in seen:
            raise InputError(
                "id used by two rules in the file", path=path, object_id=norm.id, field="id"
            )
        seen.add(norm.id)
        norms.append(norm)
    conflicts = find_conflicts(norms)
    if conflicts:
        c = conflicts[0]
        raise InputError(c.message, path=path, object_id=c.second.id, field="value")
    return RuleSet(name, authority, description, illustrative, str(path), norms)


@dataclass(frozen=True)
class _Context:
    path: Path
    crs: Any
    defaults: dict[str, Any]
    authority: str
    ruleset: str
    illustrative: bool


def _rule(item: Any, n: int, ctx: _Context) -> Norm:
    path = ctx.path
    if not isinstance(item, dict):
        raise InputError("a rule is a mapping", path=path, object_id=f"rule {n}")
    rid = item.get("id")
    if isinstance(rid, int) and not isinstance(rid, bool):
        rid = str(rid)
    if not isinstance(rid, str) or not rid.strip():
        raise InputError("every rule needs an 'id'", path=path, object_id=f"rule {n}", field="id")
    rid = rid.strip()
    _refuse_unknown(item, _RULE, path, rid, "keys")

    merged = {**ctx.defaults, **item}
    for key in ("reference", "extra"):  # mappings: merged key by key, the rule's own win
        own, default = item.get(key), ctx.defaults.get(key)
        if isinstance(own, dict) and isinstance(default, dict):
            merged[key] = {**default, **own}

    def text(key: str, *, required: bool = False) -> str:
        return _text(merged.get(key), path, rid, key, required=required)

    kind, name = text("kind", required=True), text("name", required=True)
    activity, subject = text("activity", required=True), text("subject", required=True)
    comparison = text("comparison", required=True)
    subjects = SUBJECTS.get(activity)
    if subjects is None:
        raise InputError(
            f"unknown activity {activity!r} (known: {', '.join(SUBJECTS)})",
            path=path,
            object_id=rid,
            field="activity",
        )
    if subject not in subjects:
        raise InputError(
            f"unknown subject {subject!r} for activity {activity!r} (known: {', '.join(subjects)})",
            path=path,
            object_id=rid,
            field="subject",
        )
    value = _norm_value(merged, subjects[subject], subject, path, rid)

    reference = merged.get("reference")
    if not isinstance(reference, dict):
        raise InputError(
            "a rule needs its legal source: reference {document, article, url}",
            path=path,
            object_id=rid,
            field="reference",
        )
    _refuse_unknown(reference, _REFERENCE, path, rid, "keys in reference", prefix="reference.")
    ref = LegalReference(
        _text(reference.get("document"), path, rid, "reference.document", required=True),
        _text(reference.get("article"), path, rid, "reference.article"),
        _text(reference.get("url"), path, rid, "reference.url"),
    )
    authority = text("authority") or ctx.authority
    if not authority:
        raise InputError(
            "a rule needs its competent authority (in the rule, in defaults or in ruleset)",
            path=path,
            object_id=rid,
            field="authority",
        )
    valid_from = _date(merged.get("valid_from"), path, rid, "valid_from")
    valid_until = _date(merged.get("valid_until"), path, rid, "valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        raise InputError(
            f"valid_until {valid_until} does not lie after valid_from {valid_from}",
            path=path,
            object_id=rid,
            field="valid_until",
        )
    if "location" in item:
        location = _location(item["location"], ctx.crs, path, rid)
    else:
        location = ctx.defaults.get("location")  # already read
    extra = merged.get("extra") or {}
    if not isinstance(extra, dict) or not all(isinstance(k, str) for k in extra):
        raise InputError(
            "'extra' is a mapping with text keys", path=path, object_id=rid, field="extra"
        )
    try:
        orjson.dumps(extra)
    except (TypeError, orjson.JSONEncodeError):
        raise InputError(
            "'extra' holds a value that is not JSON (text, numbers, true/false, lists, "
            "mappings, dates)",
            path=path,
            object_id=rid,
            field="extra",
        ) from None
    extra = {**extra, "ruleset": ctx.ruleset}
    status_note = text("status_note")
    if ctx.illustrative:
        extra["illustrative"] = True
        if "illustrative" not in status_note.lower():
            status_note = ("Illustrative, not a real legal rule. " + status_note).strip()
    try:
        return Norm(
            id=rid,
            kind=kind,
            name=name,
            activity=activity,
            subject=subject,
            comparison=comparison,
            value=value,
            reference=ref,
            authority=authority,
            valid_from=valid_from,
            valid_until=valid_until,
            location=location,
            location_name=text("location_name"),
            status_note=status_note,
            source=path.name,
            extra=extra,
        )
    except InputError as exc:
        raise InputError(exc.reason, path=path, object_id=rid, field=exc.field) from None


def _norm_value(merged: dict, unit_of_subject: str | None, subject: str, path, rid) -> NormValue:
    raw, raw_values, unit = merged.get("value"), merged.get("values"), merged.get("unit")
    if raw is not None and raw_values is not None:
        raise InputError(
            "give either a value (with unit) or qualitative values, not both",
            path=path,
            object_id=rid,
            field="values",
        )
    if raw_values is not None:
        if unit_of_subject is not None:
            raise InputError(
                f"subject {subject!r} is a quantity in {unit_of_subject}: give a value and "
                "unit, not values",
                path=path,
                object_id=rid,
                field="values",
            )
        if unit not in (None, ""):
            raise InputError(
                "qualitative values take no unit", path=path, object_id=rid, field="unit"
            )
        if not isinstance(raw_values, list) or not raw_values:
            raise InputError(
                "'values' is a non-empty list", path=path, object_id=rid, field="values"
            )
        values = []
        for v in raw_values:
            if isinstance(v, bool):  # YAML reads an unquoted true/false as a boolean
                values.append("true" if v else "false")
            elif isinstance(v, str | int | float) and str(v).strip():
                values.append(str(v).strip())
            else:
                raise InputError(
                    f"value {v!r} in 'values' is not a text",
                    path=path,
                    object_id=rid,
                    field="values",
                )
        return NormValue(values=tuple(values))
    if raw is None:
        if unit not in (None, ""):
            raise InputError(
                f"a quantity needs its value (unit {unit!r} given without one)",
                path=path,
                object_id=rid,
                field="value",
            )
        raise InputError(
            "a rule needs a value (with unit) or qualitative values",
            path=path,
            object_id=rid,
            field="value",
        )
    if unit_of_subject is None:
        raise InputError(
            f"subject {subject!r} is qualitative: give values (with comparison 'allowed'), "
            "not a value",
            path=path,
            object_id=rid,
            field="value",
        )
    if not isinstance(raw, int | float) or isinstance(raw, bool) or not math.isfinite(raw):
        raise InputError(
            f"value {raw!r} is not a finite number", path=path, object_id=rid, field="value"
        )
    if unit is None or (isinstance(unit, str) and not unit.strip()):
        raise InputError(
            f"a quantity needs its unit (subject {subject!r} is in {unit_of_subject!r})",
            path=path,
            object_id=rid,
            field="unit",
        )
    unit = str(unit).strip()
    if unit != unit_of_subject:
        raise InputError(
            f"subject {subject!r} is in {unit_of_subject!r}, not {unit!r}",
            path=path,
            object_id=rid,
            field="unit",
        )
    return NormValue(raw, unit)


def _refuse_unknown(
    mapping: dict, known: frozenset, path, object_id, what: str, *, prefix: str = ""
) -> None:
    unknown = sorted(map(str, set(mapping) - known))
    if unknown:
        raise InputError(
            f"unknown {what}: {', '.join(unknown)} (known: {', '.join(sorted(known))})",
            path=path,
            object_id=object_id,
            field=prefix + unknown[0],
        )


def _text(value: Any, path, object_id, field: str, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise InputError(f"'{field}' is missing", path=path, object_id=object_id, field=field)
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(
            f"'{field}' is a text, not {value!r}", path=path, object_id=object_id, field=field
        )
    return str(value).strip()


def _date(value: Any, path, object_id, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):  # a YAML timestamp with a time of day
        raise InputError(
            f"{value} is a date and time; give a date, YYYY-MM-DD",
            path=path,
            object_id=object_id,
            field=field,
        )
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(
        f"{value!r} is not a valid date (YYYY-MM-DD)", path=path, object_id=object_id, field=field
    )


def _location(raw: Any, crs, path, object_id: str):
    if raw is None:
        return None
    if not isinstance(raw, str | dict):
        raise InputError(
            "a location is WKT text or a GeoJSON geometry",
            path=path,
            object_id=object_id,
            field="location",
        )
    try:
        geom = read_geometry(raw, crs, path, object_id)
    except InputError as exc:
        raise InputError(exc.reason, path=path, object_id=object_id, field="location") from None
    if not shapely.is_valid(geom):
        raise InputError(
            f"invalid geometry: {shapely.is_valid_reason(geom)}",
            path=path,
            object_id=object_id,
            field="location",
        )
    x0, y0, x1, y1 = geom.bounds
    bx0, by0, bx1, by1 = RD_BOUNDS
    if not (x0 >= bx0 and y0 >= by0 and x1 <= bx1 and y1 <= by1):
        raise InputError(
            f"location {tuple(round(b, 3) for b in geom.bounds)} lies outside the Netherlands "
            "in RD New (EPSG:28992); is 'crs' right?",
            path=path,
            object_id=object_id,
            field="location",
        )
    return geom


# ------------------------------------------------------------------ conflicts


def find_conflicts(norms: list[Norm]) -> list[Conflict]:
    """Pairs of norms that contradict each other: same activity, subject and comparison,
    different values, overlapping locations (``None`` overlaps everything; areas that only
    touch along their boundary do not overlap) and overlapping validity periods.

    Public so that a service can check norms from several rule sets together. Uses a
    spatial index per (activity, subject, comparison), not a comparison of every pair.
    """
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, n in enumerate(norms):
        groups[(n.activity, n.subject, n.comparison)].append(i)
    pairs: set[tuple[int, int]] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        everywhere = [i for i in members if norms[i].location is None]
        located = [i for i in members if norms[i].location is not None]
        for k, i in enumerate(everywhere):
            pairs.update((min(i, j), max(i, j)) for j in everywhere[k + 1 :] + located)
        if len(located) > 1:
            geoms = [norms[i].location for i in located]
            tree = STRtree(geoms)
            left, right = tree.query(geoms, predicate="intersects")
            for a, b in zip(left.tolist(), right.tolist(), strict=True):
                if a < b and not geoms[a].touches(geoms[b]):
                    pairs.add((located[a], located[b]))
    out = []
    for i, j in sorted(pairs):
        a, b = norms[i], norms[j]
        if a.value != b.value and _periods_overlap(a, b):
            out.append(Conflict(a, b))
    return out


def _periods_overlap(a: Norm, b: Norm) -> bool:
    """Validity periods [from, until) overlap (open ends reach to the start or end of time)."""
    a0, a1 = a.valid_from or date.min, a.valid_until or date.max
    b0, b1 = b.valid_from or date.min, b.valid_until or date.max
    return a0 < b1 and b0 < a1


# ------------------------------------------------------------------ the norms layer


def norms_schema(source: str = "") -> LayerSchema:
    return LayerSchema(
        NORMS_LAYER,
        "GEOMETRY",
        NORM_FIELDS,
        title="Norms",
        description=(
            "Omgevingsnormen and omgevingswaarden per location with their legal source and "
            "validity period; a norm that holds everywhere has the whole RD New domain as "
            "geometry and extra.everywhere = true"
        ),
        source=source,
    )


def norm_record(norm: Norm) -> FeatureRecord:
    """A norm as an object of the ``norms`` layer (validity in the attributes valid_from and
    valid_until, not in the store's own time axes)."""
    props = norm_properties(norm)
    if norm.location is None:
        props["extra"] = {**(norm.extra or {}), "everywhere": True}
        return FeatureRecord(NORMS_LAYER, norm.id, EVERYWHERE, props)
    return FeatureRecord(NORMS_LAYER, norm.id, norm.location, props)


def stored_norm(norm_id: str, geometry: Any, properties: dict[str, Any]) -> Norm:
    """A norm back from a ``norms`` object: location ``None`` where it holds everywhere."""
    norm = norm_from_properties(norm_id, geometry, properties)
    if norm.extra.get("everywhere"):
        extra = {k: v for k, v in norm.extra.items() if k != "everywhere"}
        return replace(norm, location=None, extra=extra)
    return norm


def ruleset_batch(path: str | os.PathLike) -> ImportBatch:
    """A rule set as an import batch of the ``norms`` layer (one object per norm)."""
    rs = read_ruleset_file(path)
    source = f"ruleset:{Path(path).name}"
    records = [norm_record(n) for n in rs.norms]
    return ImportBatch(
        source=source,
        path=str(path),
        layers=[norms_schema(rs.name)],
        features=records,
        total=len(records),
        metadata={
            "ruleset": rs.name,
            "authority": rs.authority,
            "description": rs.description,
            "illustrative": rs.illustrative,
        },
    )
