"""The rule model: which norms apply where, from when, and how a value is judged against them.

After the Omgevingswet information model IMOW (Geonovum, IMOW v4): a *Locatie* (a geometry,
or a group of them) where an *Activiteit* (building, operating a wind turbine, …) is
regulated by an *Omgevingsnorm* (a norm for an activity) or an *Omgevingswaarde* (a value
for the state of the environment), each with a *Normwaarde* per location: a quantity with a
unit, or a qualitative value. Every norm carries its juridical source (document, article,
URL), the competent authority and its validity period; norms are data (YAML rule sets,
converted zoning plans), never constants in code.

Pure domain: dataclasses and the evaluation of one value against one norm value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tweeling.core.errors import InputError

NORM_KINDS = ("omgevingsnorm", "omgevingswaarde")
# How a measured or computed value is judged: "maximum" and "minimum" are limits;
# "permit_above" means above the value a permit (or a decision on a higher value) is
# needed, up to any "maximum" of the same subject; "allowed" lists qualitative values that
# are permitted (anything else is "needs a permit" or "exceeds", see `otherwise`).
COMPARISONS = ("maximum", "minimum", "permit_above", "allowed")
VERDICTS = ("complies", "exceeds", "needs_permit", "cannot_judge")


@dataclass(frozen=True)
class LegalReference:
    document: str  # e.g. "Besluit kwaliteit leefomgeving", a plan identifier
    article: str = ""  # e.g. "art. 5.65", "artikel 4.2.1"
    url: str = ""


@dataclass(frozen=True)
class NormValue:
    """A quantity (``value`` + ``unit``) or a qualitative value (``values``, no unit)."""

    value: float | None = None
    unit: str = ""
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        quantity = self.value is not None
        if quantity == bool(self.values):
            raise InputError(
                "a norm value is either a quantity or qualitative values", field="value"
            )
        if quantity and (
            not isinstance(self.value, int | float)
            or isinstance(self.value, bool)
            or not math.isfinite(self.value)
        ):
            raise InputError(f"norm value {self.value!r} is not a finite number", field="value")
        if quantity and not self.unit.strip():
            raise InputError("a quantitative norm value needs a unit", field="unit")

    @property
    def is_quantity(self) -> bool:
        return self.value is not None

    def text(self) -> str:
        if self.is_quantity:
            return f"{self.value:g} {self.unit}".strip()
        return ", ".join(self.values)


@dataclass(frozen=True)
class Norm:
    """One norm at one location: what it regulates (``activity`` and ``subject``, the
    quantity it limits, e.g. ``building_height_m``, ``lden_db``), how (``comparison``), the
    value, the source, the authority and when it is in force."""

    id: str
    kind: str  # omgevingsnorm | omgevingswaarde
    name: str
    activity: str  # e.g. "bouwen", "windturbine", "weg", "stikstof"
    subject: str  # the quantity or property judged, e.g. "building_height_m"
    comparison: str
    value: NormValue
    reference: LegalReference
    authority: str
    valid_from: date | None = None  # None: no start known
    valid_until: date | None = None  # None: open
    location: Any = None  # a shapely geometry in RD New; None: everywhere
    location_name: str = ""
    status_note: str = ""  # visible note, e.g. where the current legal status is uncertain
    source: str = ""  # the rule set file or plan it came from
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        where = {"object_id": self.id}
        if self.kind not in NORM_KINDS:
            raise InputError(
                f"kind {self.kind!r} is not one of {', '.join(NORM_KINDS)}", field="kind", **where
            )
        if self.comparison not in COMPARISONS:
            raise InputError(
                f"comparison {self.comparison!r} is not one of {', '.join(COMPARISONS)}",
                field="comparison",
                **where,
            )
        if (self.comparison == "allowed") == self.value.is_quantity:
            raise InputError(
                "'allowed' takes qualitative values; maximum/minimum/permit_above a quantity",
                field="value",
                **where,
            )
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise InputError("valid_until lies before valid_from", field="valid_until", **where)
        if not self.reference.document:
            raise InputError("a norm needs its legal source (document)", field="reference", **where)

    def in_force(self, on: date) -> bool:
        """In force on a date: from ``valid_from`` (inclusive) until ``valid_until``
        (exclusive)."""
        if self.valid_from is not None and on < self.valid_from:
            return False
        return self.valid_until is None or on < self.valid_until


@dataclass(frozen=True)
class Judgement:
    verdict: str
    explanation: str


def judge(norm: Norm, value: Any) -> Judgement:
    """Judge a measured or computed value (same unit as the norm) against a norm."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Judgement("cannot_judge", f"no value of {norm.subject} is known")
    nv = norm.value
    if norm.comparison == "allowed":
        ok = str(value) in nv.values
        return Judgement(
            "complies" if ok else norm.extra.get("otherwise", "needs_permit"),
            f"{value} {'is' if ok else 'is not'} among the allowed: {nv.text()}",
        )
    try:
        x = float(value)
    except (TypeError, ValueError):
        return Judgement("cannot_judge", f"{value!r} is not a number")
    if norm.comparison == "maximum":
        ok = x <= nv.value
        return Judgement(
            "complies" if ok else "exceeds",
            f"{x:g} {nv.unit} {'≤' if ok else '>'} maximum {nv.text()}",
        )
    if norm.comparison == "minimum":
        ok = x >= nv.value
        return Judgement(
            "complies" if ok else "exceeds",
            f"{x:g} {nv.unit} {'≥' if ok else '<'} minimum {nv.text()}",
        )
    ok = x <= nv.value  # permit_above
    return Judgement(
        "complies" if ok else "needs_permit",
        f"{x:g} {nv.unit} {'≤' if ok else '>'} {nv.text()}"
        + ("" if ok else ": a permit or a decision on a higher value is needed"),
    )


# ------------------------------------------------------------------ norms as stored objects

NORMS_LAYER = "norms"
NORM_FIELDS = {
    "kind": "TEXT",
    "name": "TEXT",
    "activity": "TEXT",
    "subject": "TEXT",
    "comparison": "TEXT",
    "value": "REAL",
    "unit": "TEXT",
    "values": "JSON",
    "document": "TEXT",
    "article": "TEXT",
    "url": "TEXT",
    "authority": "TEXT",
    "valid_from": "DATE",
    "valid_until": "DATE",
    "location_name": "TEXT",
    "status_note": "TEXT",
    "rule_source": "TEXT",
    "extra": "JSON",
}


def norm_properties(norm: Norm) -> dict[str, Any]:
    """The attributes of a norm as an object of the ``norms`` layer (geometry apart)."""
    return {
        "kind": norm.kind,
        "name": norm.name,
        "activity": norm.activity,
        "subject": norm.subject,
        "comparison": norm.comparison,
        "value": norm.value.value,
        "unit": norm.value.unit,
        "values": list(norm.value.values) or None,
        "document": norm.reference.document,
        "article": norm.reference.article,
        "url": norm.reference.url,
        "authority": norm.authority,
        "valid_from": norm.valid_from,
        "valid_until": norm.valid_until,
        "location_name": norm.location_name,
        "status_note": norm.status_note,
        "rule_source": norm.source,
        "extra": norm.extra or None,
    }


def norm_from_properties(norm_id: str, geometry: Any, p: dict[str, Any]) -> Norm:
    """A norm back from a ``norms`` object (dates may come back as ISO text)."""

    def day(v):
        return date.fromisoformat(str(v)[:10]) if v not in (None, "") else None

    return Norm(
        id=norm_id,
        kind=p["kind"],
        name=p.get("name") or "",
        activity=p["activity"],
        subject=p["subject"],
        comparison=p["comparison"],
        value=NormValue(p.get("value"), p.get("unit") or "", tuple(p.get("values") or ())),
        reference=LegalReference(p["document"], p.get("article") or "", p.get("url") or ""),
        authority=p.get("authority") or "",
        valid_from=day(p.get("valid_from")),
        valid_until=day(p.get("valid_until")),
        location=geometry,
        location_name=p.get("location_name") or "",
        status_note=p.get("status_note") or "",
        source=p.get("rule_source") or "",
        extra=dict(p.get("extra") or {}),
    )
