"""Participation: consultation rounds, comments, supports and participants' variants (pure).

A round asks a question about one or more published scenarios (the alternatives) between
an opening and a closing date. While it is open, people comment (pinned to a point, line,
area or object; threaded; one support per person per comment) and propose variants: a
fork of an alternative in which they may make only the kinds of change the round allows
(``AllowedEdit``: move a turbine, lower a building, add green), computed by the same models.
See docs/participation.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely

from tweeling.core.errors import InputError
from tweeling.core.interventions import Intervention

THEMES = ("noise", "green", "traffic", "housing", "energy", "nature", "water", "safety", "other")
MAX_TITLE = 200
MAX_QUESTION = 4_000
MAX_COMMENT = 5_000
MAX_REASON = 1_000
EDIT_WINDOW_S = 15 * 60  # a comment can be edited by its author this long after writing it
DEFAULT_VARIANT_QUOTA = 3  # variants per person per round


@dataclass(frozen=True, slots=True)
class AllowedEdit:
    """One kind of change participants may make in their variants.

    ``kind`` add, modify or remove in ``layer``; for modify, ``fields`` are the attributes
    that may change (``geometry`` to move or reshape) and ``lower_only`` those that may only
    go down (a building may be lowered, not raised).
    """

    kind: str
    layer: str
    fields: tuple[str, ...] = ()
    lower_only: tuple[str, ...] = ()
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "layer": self.layer,
            "fields": list(self.fields),
            "lower_only": list(self.lower_only),
            "title": self.title,
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "allowed") -> AllowedEdit:
        if not isinstance(d, dict) or set(d) - {"kind", "layer", "fields", "lower_only", "title"}:
            raise InputError(
                "each allowed edit is {kind, layer, fields?, lower_only?, title?}", field=where
            )
        kind, layer = d.get("kind"), d.get("layer")
        if kind not in ("add", "modify", "remove") or not isinstance(layer, str) or not layer:
            raise InputError("kind is add, modify or remove, and a layer is named", field=where)
        fields = d.get("fields") or []
        lower = d.get("lower_only") or []
        if not (isinstance(fields, list) and isinstance(lower, list)) or not all(
            isinstance(x, str) for x in [*fields, *lower]
        ):
            raise InputError("fields and lower_only are lists of attribute names", field=where)
        title = d.get("title") or ""
        if not isinstance(title, str) or len(title) > MAX_TITLE:
            raise InputError(f"title: text of at most {MAX_TITLE} characters", field=where)
        return cls(kind, layer, tuple(fields), tuple(lower), title)


@dataclass(frozen=True, slots=True)
class Round:
    """A consultation round."""

    id: int
    title: str
    question: str
    opens_at: str  # UTC text (core.timeaxis.to_text)
    closes_at: str
    alternatives: tuple[str, ...]  # published scenarios the round asks about
    allowed: tuple[AllowedEdit, ...]  # what variants may change; empty: no variants
    documents: tuple[dict[str, str], ...]  # {title, href}: the plan's documents
    variant_quota: int
    created_by: str
    created_at: str
    updated_at: str | None = None

    def state(self, now: str) -> str:
        if now < self.opens_at:
            return "upcoming"
        return "open" if now < self.closes_at else "closed"


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    round_id: int
    scenario: str | None  # the alternative or variant it is about (None: the round)
    parent_id: int | None  # the comment it answers
    author_id: int | None
    author: str  # the author's display name when written
    body: str
    theme: str | None
    geometry: shapely.Geometry | None  # RD New: the point, line or area it is pinned to
    object: str | None  # layer/id of the object it is about
    created_at: str
    edited_at: str | None
    hidden_at: str | None
    hidden_by: str | None
    hidden_reason: str | None
    supports: int = 0
    supported_by_me: bool = False

    @property
    def hidden(self) -> bool:
        return self.hidden_at is not None


@dataclass(frozen=True, slots=True)
class Variant:
    scenario: str
    round_id: int
    owner_id: int | None
    public: bool


@dataclass
class RoundReport:
    """What a round brought in: comments by place and theme, supports, variants."""

    round: Round
    state: str
    comments: list[Comment] = field(default_factory=list)
    by_theme: dict[str, int] = field(default_factory=dict)
    by_place: list[dict[str, Any]] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    indicators: dict[str, Any] = field(default_factory=dict)


def check_text(value: Any, field_name: str, limit: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InputError("text is required" if required else "must be text", field=field_name)
    if len(value) > limit:
        raise InputError(f"at most {limit} characters", field=field_name)
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise InputError("no control characters", field=field_name)
    return value.strip()


def check_theme(theme: Any) -> str | None:
    if theme is None:
        return None
    if theme not in THEMES:
        raise InputError(
            f"theme {str(theme)[:40]!r}: use one of {', '.join(THEMES)}", field="theme"
        )
    return theme


def check_variant_edits(
    allowed: tuple[AllowedEdit, ...],
    interventions: list[Intervention],
    current: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Refuse interventions a round does not allow in variants, naming the item and field.

    ``current`` holds, per (layer, id) of a modified object, its attributes as the variant
    shows them now (to check ``lower_only``).
    """
    if not allowed:
        raise InputError("this round does not take variants", field="interventions")
    for n, iv in enumerate(interventions, start=1):
        rules = [a for a in allowed if a.kind == iv.kind and a.layer == iv.layer]
        if not rules:
            kinds = "; ".join(f"{a.kind} {a.layer}" for a in allowed)
            raise InputError(
                f"item {n}: {iv.kind} in {iv.layer or 'parameters'} is not allowed in this "
                f"round's variants (allowed: {kinds})",
                field="kind",
            )
        if iv.kind != "modify":
            continue
        changed = set(iv.properties) | ({"geometry"} if iv.geometry is not None else set())
        rule = next((a for a in rules if changed <= set(a.fields)), None)
        if rule is None:
            extra = sorted(changed - set().union(*(set(a.fields) for a in rules)))
            raise InputError(
                f"item {n}: this round lets variants change only "
                f"{', '.join(sorted(set().union(*(set(a.fields) for a in rules))))} of "
                f"{iv.layer}",
                field=extra[0] if extra else "properties",
            )
        before = current.get((iv.layer, iv.id or ""), {})
        for name in rule.lower_only:
            if name not in iv.properties:
                continue
            new, old = iv.properties[name], before.get(name)
            if not isinstance(new, int | float) or isinstance(new, bool):
                raise InputError(f"item {n}: {name} must be a number", field=name)
            if old is not None and new > old:
                raise InputError(
                    f"item {n}: {name} may only be lowered in this round ({old} now, {new} asked)",
                    field=name,
                )
