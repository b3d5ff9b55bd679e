"""Change semantics of versioned object sets: overlay, diff, apply and three-way merge.

A layer's state is a mapping from object id to its content (a mapping of attribute names to
values; geometry is one of them, e.g. as WKB). Scenarios (copy-on-write branches) are built
on these pure functions; the store supplies the states and persists the results:

* :func:`overlay` — what a branch sees: the nearest branch in its ancestry that has a version
  of an object wins, and a tombstone (:data:`REMOVED`) hides the object.
* :func:`diff` — added, modified (down to the changed attributes) and removed objects.
* :func:`apply` — a diff applied onto a state, refusing changes whose "before" does not match.
* :func:`merge3` — a three-way merge with the common ancestor; both sides changing the same
  object differently is a reported :class:`Conflict`, never silently resolved.

No I/O here: the functions take and return plain mappings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tweeling.core.errors import TweelingError

Content = Mapping[str, Any]
State = Mapping[str, Content]


class _Removed:
    """Marks an object removed in a branch (a tombstone); a singleton."""

    _instance: _Removed | None = None

    def __new__(cls) -> _Removed:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REMOVED"


REMOVED = _Removed()


@dataclass(frozen=True)
class Change:
    """One object's change between two states: ``kind`` is added, modified or removed."""

    kind: str
    id: str
    before: Content | None
    after: Content | None
    attributes: tuple[str, ...] = ()  # for "modified": the attributes whose values differ

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "attributes": list(self.attributes)}


@dataclass(frozen=True)
class Conflict:
    """Both sides of a merge changed one object, differently."""

    id: str
    base: Content | None
    ours: Content | None
    theirs: Content | None

    def describe(self) -> str:
        def what(before, after) -> str:
            if before is None:
                return "added"
            if after is None:
                return "removed"
            return "modified " + ", ".join(changed_attributes(before, after))

        return (
            f"object {self.id!r}: ours {what(self.base, self.ours)}; "
            f"theirs {what(self.base, self.theirs)}"
        )


class ChangeConflict(TweelingError):
    """A change does not fit the state it is applied to (its 'before' differs)."""


@dataclass
class MergeResult:
    state: dict[str, Content]
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


def overlay(layers: Sequence[Mapping[str, Content | _Removed]]) -> dict[str, Content]:
    """The state a branch sees: ``layers`` from the branch itself to the root (baseline).

    For each object the first layer that has it decides: its content, or absence when that
    is :data:`REMOVED`.
    """
    out: dict[str, Content] = {}
    decided: set[str] = set()
    for layer in layers:
        for oid, content in layer.items():
            if oid in decided:
                continue
            decided.add(oid)
            if content is not REMOVED:
                out[oid] = content  # type: ignore[assignment]
    return out


def changed_attributes(before: Content, after: Content) -> tuple[str, ...]:
    """Names of attributes added, removed or with another value, sorted."""
    keys = set(before) | set(after)
    return tuple(sorted(k for k in keys if before.get(k, _MISSING) != after.get(k, _MISSING)))


_MISSING = object()


def diff(a: State, b: State) -> list[Change]:
    """The changes that turn state ``a`` into state ``b``, ordered by object id."""
    changes = []
    for oid in sorted(set(a) | set(b)):
        before, after = a.get(oid), b.get(oid)
        if before is None:
            changes.append(Change("added", oid, None, after))
        elif after is None:
            changes.append(Change("removed", oid, before, None))
        elif before != after:
            changes.append(
                Change("modified", oid, before, after, changed_attributes(before, after))
            )
    return changes


def apply(state: State, changes: Iterable[Change]) -> dict[str, Content]:
    """``state`` with ``changes`` applied; a change whose 'before' differs from the state
    (an object added that exists, modified or removed from another content) is refused."""
    out = dict(state)
    for c in changes:
        current = out.get(c.id)
        if current != c.before:
            raise ChangeConflict(
                f"object {c.id!r}: cannot apply '{c.kind}': it is not as the change expects"
            )
        if c.after is None:
            del out[c.id]
        else:
            out[c.id] = c.after
    return out


def merge3(base: State, ours: State, theirs: State) -> MergeResult:
    """Three-way merge of two states derived from ``base``.

    An object changed on one side takes that change; changed identically on both, it takes
    it once; changed differently on both (including modified on one side and removed on the
    other, or added with different contents) it is a conflict and keeps our content.
    """
    merged: dict[str, Content] = {}
    conflicts: list[Conflict] = []
    for oid in sorted(set(base) | set(ours) | set(theirs)):
        b, o, t = base.get(oid), ours.get(oid), theirs.get(oid)
        if o == t:
            result = o
        elif o == b:
            result = t
        elif t == b:
            result = o
        else:
            conflicts.append(Conflict(oid, b, o, t))
            result = o
        if result is not None:
            merged[oid] = result
    return MergeResult(merged, conflicts)
