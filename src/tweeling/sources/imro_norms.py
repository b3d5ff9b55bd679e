"""Zoning plan objects (IMRO) as norms for the activity "bouwen".

Turns the objects of the ``zoning_plan_objects`` layer (written by :mod:`tweeling.sources.imro`)
into :class:`~tweeling.core.rules.Norm` objects, one plan map rule each:

==================  ==========================  ==========  ====================================
IMRO object         subject                     comparison  location
==================  ==========================  ==========  ====================================
Enkelbestemming     ``function``                allowed     the bestemmingsvlak, minus the parts
                                                            under a functieaanduiding
Functieaanduiding   ``function`` (bestemming's  allowed     its part of the bestemmingsvlak
                    uses + the aanduiding)
Maatvoering         ``building_height_m``,      maximum     the maatvoering's own geometry
                    ``gutter_height_m``,
                    ``storeys``, ``dwellings``,
                    ``coverage_pct``
Bouwvlak            ``within_building_plane``   allowed     the bestemmingsvlak it belongs to
                    (``"true"``)                            (only where it has bouwvlakken)
Dubbelbestemming    ``double_zoning``           allowed     its own geometry
                    (``"assessed"``)
Gebiedsaanduiding   ``area_designation``        allowed     its own geometry
                    (``"assessed"``)
Bouwaanduiding      ``building_designation``    allowed     its own geometry
                    (its name, e.g. vrijstaand)
==================  ==========================  ==========  ====================================

Functieaanduidingen are folded into the function norms rather than given norms of their own:
the bestemmingsvlak is cut into pieces by the aanduidingen on it, and each piece gets one
function norm listing every use allowed there (the bestemming's and the aanduidingen's).
Function norms therefore never overlap within a plan, and a use allowed only under an
aanduiding is judged "complies" there and "needs_permit" elsewhere in the bestemming, with no
contradicting pair of norms at the same place.

A building outside the bouwvlakken of a bestemmingsvlak that has them is judged "exceeds"
(the value to judge comes from :func:`building_plane_value`); a use not allowed
"needs_permit".

A dubbelbestemming or gebiedsaanduiding says that the plan's regels add rules at that place
(archaeology, a pipeline, a wijzigingsbevoegdheid …) whose content is in the text, not on
the map. Such a norm allows the value ``"assessed"`` (the work was assessed against that
article) and gives ``needs_permit`` for anything else; its ``extra["value_if_unknown"]`` is
``"not_assessed"``, the value a checker should judge when the scenario says nothing, so that
a building there is reported as needing a permit or an assessment, citing the article.

Every norm cites the plan (``document`` = plan id and name), the article of the bestemming
it belongs to (``artikel N``; for a maatvoering, bouwvlak or aanduiding the bestemming it
lies in, whose bouwregels hold the norm) and the text reference (``verwijzingNaarTekst``,
else the plan's regels). The authority is the plan area's ``naamOverheid``; ``valid_from`` the
planstatus date; ``status_note`` says what the plan status means (a draft is not in force).

Nothing is dropped silently: objects that give no norm (no usable geometry, a figuur, a
maatvoering value type outside the vocabulary …) are listed in :attr:`ImroNorms.skipped`
with the reason.

Only the plan map is read: the regels text with its exceptions, afwijkingsbevoegdheden and
definitions is not parsed (see ``docs/rules-imro.md``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from tweeling.core.rules import LegalReference, Norm, NormValue
from tweeling.sources.imro import MAATVOERING_COLUMNS

ACTIVITY = "bouwen"

# Convenience column of a maatvoering value type (see imro.MAATVOERING_COLUMNS) → subject, unit.
MAATVOERING_SUBJECTS: dict[str, tuple[str, str]] = {
    "maximum_bouwhoogte_m": ("building_height_m", "m"),
    "maximum_goothoogte_m": ("gutter_height_m", "m"),
    "maximum_bouwlagen": ("storeys", "1"),
    "maximum_wooneenheden": ("dwellings", "1"),
    "maximum_bebouwingspercentage": ("coverage_pct", "%"),
}

ASSESSED = "assessed"
NOT_ASSESSED = "not_assessed"
INSIDE = "true"
OUTSIDE = "false"

# Pieces left over where the boundaries of a bestemmingsvlak and a functieaanduiding nearly
# coincide are slivers of digitising, not parts of the plan: pieces narrower on average
# (2 × area / perimeter) than this are dropped.
SLIVER_WIDTH_M = 0.1

OMGEVINGSWET_NOTE = (
    "Since 1 January 2024 (Omgevingswet) the bestemmingsplannen in force are part of the "
    "municipality's omgevingsplan (tijdelijk deel) until it replaces them; check the current "
    "status on ruimtelijkeplannen.nl or the Omgevingsloket."
)

_DRAFT = ("concept", "voorontwerp", "ontwerp")
_IN_FORCE = ("onherroepelijk", "geconsolideerd")


@dataclass(frozen=True)
class ObjectNote:
    """A zoning plan object (or one value of it) that gave no norm, or whose data was read
    otherwise than it says, and why."""

    object_id: str
    object_type: str
    plan_id: str
    reason: str


@dataclass(frozen=True)
class ImroPlan:
    """Plan-level facts every norm of the plan repeats (from its Bestemmingsplangebied)."""

    plan_id: str
    naam: str
    type_plan: str
    authority: str
    planstatus: str
    planstatus_datum: date | None
    regels: str  # the verwijzingNaarTekst of the plan's regels, "" when not given

    @property
    def document(self) -> str:
        label = " ".join(p for p in (self.type_plan, self.naam) if p)
        return f"{self.plan_id} ({label})" if label else self.plan_id

    @property
    def is_draft(self) -> bool:
        return self.planstatus.lower() in _DRAFT

    @property
    def status_note(self) -> str:
        return plan_status_note(self.planstatus, self.planstatus_datum)


@dataclass
class ImroNorms:
    """The result of :func:`imro_norms`: the norms, the plans, and what was not converted."""

    norms: list[Norm] = field(default_factory=list)
    skipped: list[ObjectNote] = field(default_factory=list)
    # Objects converted, but not as their references say (e.g. an aanduiding referring to a
    # bestemmingsvlak it does not lie in, taken with the one it lies in).
    remarks: list[ObjectNote] = field(default_factory=list)
    plans: dict[str, ImroPlan] = field(default_factory=dict)

    def by_plan(self, plan_id: str) -> list[Norm]:
        return [n for n in self.norms if n.source == plan_id]


def plan_status_note(planstatus: str | None, on: date | None) -> str:
    """A visible note on what an IMRO planstatus means for whether the plan is in force."""
    status = (planstatus or "").strip().lower()
    when = f" of {on.isoformat()}" if on else ""
    if status in _DRAFT:
        head = (
            f"Draft plan (planstatus '{status}'{when}): not legally in force; shown as the "
            "intended rule."
        )
    elif status == "vastgesteld":
        head = (
            f"Adopted plan (planstatus 'vastgesteld'{when}): in force after publication and "
            "the appeal period unless suspended, not yet irrevocable."
        )
    elif status in _IN_FORCE:
        head = f"Plan in force (planstatus '{status}'{when})."
    else:
        shown = f"'{status}'" if status else "not given"
        head = f"Plan status {shown}{when}: whether the plan is in force is unknown."
    return f"{head} {OMGEVINGSWET_NOTE}"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _day(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _waarde_type_key(text: str) -> str:
    """As imro._normalise_waarde_type: lower case, single spaces, maximaal → maximum."""
    text = " ".join(text.lower().split())
    return re.sub(r"^maxima(?:al|le)\b", "maximum", text)


def _polygonal(geometry: Any) -> BaseGeometry | None:
    """The polygonal part of a geometry (slivers dropped), None when nothing is left."""
    if geometry is None or geometry.is_empty:
        return None
    parts = [
        p
        for p in shapely.get_parts(geometry)
        if p.geom_type == "Polygon" and 2.0 * p.area / p.length >= SLIVER_WIDTH_M
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _usable_area(geometry: Any) -> tuple[BaseGeometry | None, str]:
    """(the geometry, "") when it is a valid non-empty area, else (None, the reason)."""
    if geometry is None:
        return None, "no geometry"
    if geometry.is_empty:
        return None, "empty geometry"
    if not geometry.is_valid:
        return None, f"invalid geometry: {shapely.is_valid_reason(geometry)}"
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        return None, f"a {geometry.geom_type}, not an area"
    return geometry, ""


def _lower_unique(*texts: str | None) -> tuple[str, ...]:
    out: list[str] = []
    for text in texts:
        value = " ".join((text or "").split()).lower()
        if value and value not in out:
            out.append(value)
    return tuple(out)


def _overlap(a: Any, b: Any) -> bool:
    """Whether two areas share interior area (not merely a boundary)."""
    if a is None or b is None or a.is_empty or b.is_empty:
        return False
    return bool(shapely.relate_pattern(a, b, "2********"))


def _regels_text(attributes: Any) -> str:
    """The verwijzingNaarTekst of type 'regels' in a plan area's attributes."""
    infos = (attributes or {}).get("verwijzingNaarTekstInfo") or []
    for info in infos if isinstance(infos, list) else [infos]:
        if isinstance(info, dict) and (info.get("typeTekst") or "").lower() == "regels":
            return info.get("verwijzingNaarTekst") or ""
    return ""


@dataclass
class _Object:
    id: str  # the twin id
    local_id: str  # the IMRO identificatie within the plan
    geometry: Any
    p: dict[str, Any]

    @property
    def type(self) -> str:
        return self.p.get("object_type") or ""

    @property
    def naam(self) -> str:
        return self.p.get("naam") or ""


class _Plan:
    """One plan's objects, indexed by their IMRO identificatie, with a spatial index of its
    enkelbestemmingen."""

    def __init__(self, info: ImroPlan, objects: list[_Object]) -> None:
        self.info = info
        self.objects = objects
        self.by_local = {o.local_id: o for o in objects}
        self.bestemmingen = [
            o for o in objects if o.type == "Enkelbestemming" and _usable_area(o.geometry)[0]
        ]
        self._tree = shapely.STRtree([o.geometry for o in self.bestemmingen])
        self._owners: dict[str, list[_Object]] = {}
        self.remarks: list[ObjectNote] = []

    def bestemmingsvlakken(self, obj: _Object) -> list[_Object]:
        """The enkelbestemmingen an object belongs to.

        Those it refers to (``bestemmingsvlak``, or through the objects it refers to by
        ``aanduiding``: a maatvoering on a bouwvlak) and that it overlaps; when it overlaps
        none of them, the enkelbestemming its representative point lies in (a remark notes a
        reference that was not followed).
        """
        if obj.id in self._owners:
            return self._owners[obj.id]
        referred = self._referred(obj, depth=0)
        found = [o for o in referred if _overlap(obj.geometry, o.geometry)]
        if not found and obj.geometry is not None and not obj.geometry.is_empty:
            point = obj.geometry.point_on_surface()
            found = [self.bestemmingen[i] for i in sorted(self._tree.query(point, "within"))]
            if referred:
                ids = ", ".join(repr(o.local_id) for o in referred)
                taken = ", ".join(repr(o.local_id) for o in found) or "none"
                self.remarks.append(
                    ObjectNote(
                        obj.id,
                        obj.type,
                        self.info.plan_id,
                        f"refers to bestemmingsvlak {ids} but does not overlap it; taken with "
                        f"the enkelbestemming it lies in: {taken}",
                    )
                )
        self._owners[obj.id] = found
        return found

    def _referred(self, obj: _Object, depth: int) -> list[_Object]:
        found = [
            o
            for ref in obj.p.get("bestemmingsvlak") or []
            if (o := self.by_local.get(ref)) is not None and o.type == "Enkelbestemming"
        ]
        if not found and depth < 2:
            for ref in obj.p.get("aanduiding") or []:
                target = self.by_local.get(ref)
                if target is not None and target is not obj:
                    found += [o for o in self._referred(target, depth + 1) if o not in found]
        return found

    def reference(self, obj: _Object, bestemming: _Object | None = None) -> LegalReference:
        """The plan, the article (``artikel N``) and the text of an object, falling back to
        those of the bestemming it belongs to, then to the plan's regels."""
        article = obj.p.get("artikelnummer") or (
            bestemming.p.get("artikelnummer") if bestemming else None
        )
        url = (
            obj.p.get("verwijzing_naar_tekst")
            or (bestemming.p.get("verwijzing_naar_tekst") if bestemming else None)
            or self.info.regels
        )
        return LegalReference(
            document=self.info.document,
            article=f"artikel {article}" if article else "",
            url=url or "",
        )


# --------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------


def imro_norms(objects: Iterable[tuple[str, Any, dict[str, Any]]]) -> ImroNorms:
    """Convert zoning plan objects into norms for the activity "bouwen".

    ``objects`` are ``(id, geometry, properties)`` of the ``zoning_plan_objects`` layer, e.g.
    ``[(f.id, f.geometry, f.properties) for f in store.features("zoning_plan_objects")]``;
    they may hold several plans. Each plan needs its plan area (Bestemmingsplangebied) for the
    authority, status and date; objects of a plan without one are skipped with that reason.

    Returns the norms (ids ``{plan_id}/{object}/{subject}``, unique and stable for the same
    plan file), the plans, and every object (or maatvoering value) that gave no norm with
    the reason.
    """
    result = ImroNorms()
    grouped: dict[str, list[_Object]] = defaultdict(list)
    ids: set[str] = set()
    for object_id, geometry, properties in objects:
        p = dict(properties)
        plan_id = p.get("plan_id") or ""
        if object_id in ids:
            reason = "duplicate object id: only its first occurrence is converted"
            result.skipped.append(
                ObjectNote(object_id, p.get("object_type") or "", plan_id, reason)
            )
            continue
        ids.add(object_id)
        prefix = f"{plan_id}/"
        local = object_id[len(prefix) :] if object_id.startswith(prefix) else object_id
        grouped[plan_id].append(_Object(object_id, local, geometry, p))

    for plan_id, members in sorted(grouped.items()):
        members.sort(key=lambda o: o.id)  # the same norms whatever the order of the input
        areas = [o for o in members if o.type == "Bestemmingsplangebied"]
        if not plan_id or len(areas) != 1:
            reason = (
                "no plan_id"
                if not plan_id
                else f"{len(areas)} plan areas (Bestemmingsplangebied) of plan {plan_id!r} "
                "among the objects, expected one: authority, status and date unknown"
            )
            result.skipped += [ObjectNote(o.id, o.type, plan_id, reason) for o in members]
            continue
        area = areas[0]
        info = ImroPlan(
            plan_id=plan_id,
            naam=area.naam,
            type_plan=area.p.get("type_plan") or "",
            authority=area.p.get("naam_overheid") or area.p.get("overheidscode") or "",
            planstatus=area.p.get("planstatus") or "",
            planstatus_datum=_day(area.p.get("planstatus_datum")),
            regels=_regels_text(area.p.get("attributes"))
            or area.p.get("verwijzing_naar_tekst")
            or "",
        )
        result.plans[plan_id] = info
        plan = _Plan(info, [o for o in members if o is not area])
        _convert_plan(plan, result)
        result.remarks += plan.remarks

    result.norms.sort(key=lambda n: n.id)
    for a, b in zip(result.norms, result.norms[1:], strict=False):
        if a.id == b.id:  # ids are built to be unique: a clash is a bug, not bad input
            raise AssertionError(f"duplicate norm id {a.id!r}")
    return result


class _Builder:
    """Makes the norms of one plan with the plan-level fields filled in."""

    def __init__(self, plan: _Plan, result: ImroNorms) -> None:
        self.plan = plan
        self.result = result

    def skip(self, obj: _Object, reason: str) -> None:
        self.result.skipped.append(ObjectNote(obj.id, obj.type, self.plan.info.plan_id, reason))

    def add(
        self,
        key: str,
        *,
        name: str,
        subject: str,
        comparison: str,
        value: NormValue,
        reference: LegalReference,
        location: BaseGeometry,
        location_name: str,
        extra: dict[str, Any],
    ) -> None:
        info = self.plan.info
        self.result.norms.append(
            Norm(
                id=f"{info.plan_id}/{key}/{subject}",
                kind="omgevingsnorm",
                name=name,
                activity=ACTIVITY,
                subject=subject,
                comparison=comparison,
                value=value,
                reference=reference,
                authority=info.authority,
                valid_from=info.planstatus_datum,
                location=location,
                location_name=location_name,
                status_note=info.status_note,
                source=info.plan_id,
                extra={"planstatus": info.planstatus, "draft": info.is_draft, **extra},
            )
        )


def _convert_plan(plan: _Plan, result: ImroNorms) -> None:
    build = _Builder(plan, result)
    functieaanduidingen: dict[str, list[tuple[_Object, BaseGeometry]]] = defaultdict(list)
    bouwvlakken: dict[str, list[tuple[_Object, BaseGeometry]]] = defaultdict(list)
    enkel: list[_Object] = []

    for obj in plan.objects:
        kind = obj.type
        geometry, why = _usable_area(obj.geometry)
        if kind == "Figuur":
            build.skip(
                obj,
                f"figuur {obj.naam!r}: a line or point rule whose meaning is in "
                "the regels text; not converted",
            )
            continue
        if kind not in (
            "Enkelbestemming",
            "Functieaanduiding",
            "Maatvoering",
            "Bouwvlak",
            "Dubbelbestemming",
            "Gebiedsaanduiding",
            "Bouwaanduiding",
        ):
            build.skip(obj, f"object type {kind!r} is not converted")
            continue
        if geometry is None:
            build.skip(obj, why)
            continue
        if kind == "Enkelbestemming":
            enkel.append(obj)
        elif kind in ("Functieaanduiding", "Bouwvlak"):
            owners = plan.bestemmingsvlakken(obj)
            if not owners:
                build.skip(
                    obj,
                    "belongs to no enkelbestemming of the plan (no bestemmingsvlak "
                    "reference, and not inside one)",
                )
            target = functieaanduidingen if kind == "Functieaanduiding" else bouwvlakken
            for owner in owners:
                target[owner.local_id].append((obj, geometry))
        elif kind == "Maatvoering":
            _maatvoering(build, obj, geometry)
        elif kind in ("Dubbelbestemming", "Gebiedsaanduiding"):
            _extra_rules(build, obj, geometry)
        else:
            _bouwaanduiding(build, obj, geometry)

    for bestemming in enkel:
        _functions(build, bestemming, functieaanduidingen.get(bestemming.local_id, []))
        planes = bouwvlakken.get(bestemming.local_id)
        if planes:
            _building_planes(build, bestemming, planes)
    known = {b.local_id for b in enkel}
    for owner_id, items in (*functieaanduidingen.items(), *bouwvlakken.items()):
        if owner_id not in known:  # an enkelbestemming without a usable area
            for obj, _ in items:
                build.skip(obj, f"its bestemmingsvlak {owner_id!r} has no usable geometry")


def _functions(
    build: _Builder, bestemming: _Object, aanduidingen: Sequence[tuple[_Object, BaseGeometry]]
) -> None:
    """Function norms of one bestemmingsvlak, cut into pieces by its functieaanduidingen."""
    uses = _lower_unique(bestemming.p.get("bestemmingshoofdgroep"), bestemming.naam)
    if not uses:
        build.skip(bestemming, "no bestemmingshoofdgroep and no naam: allowed uses unknown")
        return
    # Incremental overlay: pieces of the bestemmingsvlak with the aanduidingen covering them.
    pieces: list[tuple[BaseGeometry, tuple[_Object, ...]]] = [(bestemming.geometry, ())]
    for fa, fa_geometry in aanduidingen:
        nxt = []
        for geometry, covering in pieces:
            inside = _polygonal(geometry.intersection(fa_geometry))
            outside = _polygonal(geometry.difference(fa_geometry))
            if inside is not None:
                nxt.append((inside, (*covering, fa)))
            if outside is not None:
                nxt.append((outside, covering))
        pieces = nxt
    groups: dict[tuple[str, ...], list[BaseGeometry]] = defaultdict(list)
    by_id = {}
    for geometry, covering in pieces:
        key = tuple(sorted(o.local_id for o in covering))
        groups[key].append(geometry)
        by_id.update({o.local_id: o for o in covering})
    for fa, _ in aanduidingen:
        if not any(fa.local_id in key for key in groups):
            build.skip(fa, f"does not overlap its bestemmingsvlak {bestemming.local_id!r}")
    ref = build.plan.reference(bestemming)
    for key in sorted(groups):
        fas = [by_id[i] for i in key]
        allowed = _lower_unique(*uses, *(fa.naam for fa in fas))
        label = ", ".join([bestemming.naam, *(fa.naam for fa in fas)])
        build.add(
            "/".join([bestemming.local_id, "+".join(key)]) if key else bestemming.local_id,
            name=f"bestemming {label}: allowed uses",
            subject="function",
            comparison="allowed",
            value=NormValue(values=allowed),
            reference=ref,
            location=shapely.union_all(groups[key]),
            location_name=label,
            extra={
                "otherwise": "needs_permit",
                "imro_object": bestemming.id,
                "object_type": "Enkelbestemming",
                "functieaanduiding": [fa.id for fa in fas],
            },
        )


def _building_planes(
    build: _Builder, bestemming: _Object, planes: Sequence[tuple[_Object, BaseGeometry]]
) -> None:
    """Buildings in a bestemmingsvlak with bouwvlakken must stand inside one."""
    union = shapely.union_all([g for _, g in planes])
    build.add(
        bestemming.local_id,
        name=f"bouwvlak: buildings only inside a bouwvlak ({bestemming.naam})",
        subject="within_building_plane",
        comparison="allowed",
        value=NormValue(values=(INSIDE,)),
        reference=build.plan.reference(bestemming),
        location=bestemming.geometry,
        location_name=bestemming.naam,
        extra={
            "otherwise": "exceeds",
            "imro_object": bestemming.id,
            "object_type": "Bouwvlak",
            "building_planes": [o.id for o, _ in planes],
            "building_planes_wkt": union.wkt,
        },
    )


def _maatvoering(build: _Builder, obj: _Object, geometry: BaseGeometry) -> None:
    items = obj.p.get("maatvoering") or []
    if not items:
        build.skip(obj, "maatvoering without values")
        return
    owners = build.plan.bestemmingsvlakken(obj)
    ref = build.plan.reference(obj, owners[0] if owners else None)
    used: set[str] = set()
    for n, item in enumerate(items, start=1):
        waarde_type = item.get("waarde_type") or ""
        column = MAATVOERING_COLUMNS.get(_waarde_type_key(waarde_type))
        waarde = item.get("waarde")
        where = f"value {n} ({waarde_type!r} = {waarde!r}, naam {obj.naam!r})"
        if column is None or column not in MAATVOERING_SUBJECTS:
            build.skip(obj, f"{where}: value type not in the bouwen vocabulary")
            continue
        if isinstance(waarde, bool) or not isinstance(waarde, int | float):
            build.skip(obj, f"{where}: not a number")
            continue
        subject, unit = MAATVOERING_SUBJECTS[column]
        key = obj.local_id if subject not in used else f"{obj.local_id}#{n}"
        used.add(subject)
        build.add(
            key,
            name=f"{_waarde_type_key(waarde_type)} {float(waarde):g}",
            subject=subject,
            comparison="maximum",
            value=NormValue(float(waarde), unit),
            reference=ref,
            location=geometry,
            location_name=obj.naam,
            extra={
                "imro_object": obj.id,
                "object_type": "Maatvoering",
                "waarde_type": waarde_type,
                "bestemmingsvlak": [o.id for o in owners],
            },
        )


def _extra_rules(build: _Builder, obj: _Object, geometry: BaseGeometry) -> None:
    """A dubbelbestemming or gebiedsaanduiding: the regels add rules here (informative)."""
    double = obj.type == "Dubbelbestemming"
    subject = "double_zoning" if double else "area_designation"
    # Their own article holds the rule; the bestemming is only a fallback for the reference.
    own = double or obj.p.get("artikelnummer")
    owners = [] if own else build.plan.bestemmingsvlakken(obj)
    ref = build.plan.reference(obj, owners[0] if owners else None)
    label = "dubbelbestemming" if double else "gebiedsaanduiding"
    build.add(
        obj.local_id,
        name=f"{label} {obj.naam}: assess building against {ref.article or 'the regels'}",
        subject=subject,
        comparison="allowed",
        value=NormValue(values=(ASSESSED,)),
        reference=ref,
        location=geometry,
        location_name=obj.naam,
        extra={
            "otherwise": "needs_permit",
            "value_if_unknown": NOT_ASSESSED,
            "informative": True,
            "imro_object": obj.id,
            "object_type": obj.type,
            "designation": obj.naam,
            "group": obj.p.get("bestemmingshoofdgroep")
            or (obj.p.get("attributes") or {}).get("gebiedsaanduidinggroep"),
        },
    )


def _bouwaanduiding(build: _Builder, obj: _Object, geometry: BaseGeometry) -> None:
    """A bouwaanduiding (vrijstaand, twee-aaneen, karakteristiek …) at its own geometry."""
    values = _lower_unique(obj.naam)
    if not values:
        build.skip(obj, "bouwaanduiding without a naam")
        return
    owners = build.plan.bestemmingsvlakken(obj)
    build.add(
        obj.local_id,
        name=f"bouwaanduiding {obj.naam}",
        subject="building_designation",
        comparison="allowed",
        value=NormValue(values=values),
        reference=build.plan.reference(obj, owners[0] if owners else None),
        location=geometry,
        location_name=obj.naam,
        extra={"otherwise": "needs_permit", "imro_object": obj.id, "object_type": obj.type},
    )


# --------------------------------------------------------------------------------------------
# Values a checker judges against these norms
# --------------------------------------------------------------------------------------------


def building_plane_value(norm: Norm, footprint: BaseGeometry, *, tolerance_m: float = 0.01) -> str:
    """The ``within_building_plane`` value of a building footprint for such a norm:
    ``"true"`` when the bouwvlakken of the norm's bestemmingsvlak cover it (to
    ``tolerance_m``, for coordinates rounded differently), else ``"false"``."""
    planes = shapely.from_wkt(norm.extra["building_planes_wkt"])
    return INSIDE if planes.buffer(tolerance_m).covers(footprint) else OUTSIDE
