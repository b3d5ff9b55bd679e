"""Scenario views, the same for every backend: which branch levels a scenario reference
(``baseline``, ``NAME``, ``NAME@LABEL``) sees.

A view is a chain of levels, nearest first: the scenario itself (as of a transaction, or its
latest state), its parent as of the transaction the scenario is built on, that parent's
parent as of *its* base, … down to the baseline (branch 0). For each object the nearest
level that has a version of it decides: its content, or its absence (a tombstone) — the
semantics of :func:`tweeling.core.changes.overlay`. Backends evaluate it in their own query
language; the chain itself is this plain record.
"""

from __future__ import annotations

from dataclasses import dataclass

from tweeling.core.errors import InputError

BASELINE = 0  # branch id of the baseline (the root branch)
BASELINE_NAME = "baseline"


@dataclass(frozen=True)
class Level:
    """One branch as of transaction ``txn`` (``None``: its latest state)."""

    branch: int
    txn: int | None


@dataclass(frozen=True)
class View:
    """What a scenario reference shows: ``name`` or ``name@label`` (a frozen version)."""

    ref: str
    name: str
    branch: int
    levels: tuple[Level, ...]  # nearest first; the last is the baseline
    frozen: str | None = None

    @property
    def upper(self) -> tuple[Level, ...]:
        return self.levels[:-1]

    @property
    def root(self) -> Level:
        return self.levels[-1]

    @property
    def is_baseline_head(self) -> bool:
        return len(self.levels) == 1 and self.levels[0].txn is None

    def root_view(self) -> View:
        """The baseline as this view sees it."""
        return View(BASELINE_NAME, BASELINE_NAME, BASELINE, (self.root,))

    def parent_view(self) -> View:
        """What this view is built on: its chain without its own level."""
        if len(self.levels) < 2:
            raise InputError("the baseline has no parent")
        return View(f"{self.ref}^", self.ref, self.levels[1].branch, self.levels[1:])


def parse_ref(ref: str) -> tuple[str, str | None]:
    name, sep, label = ref.partition("@")
    if not name or (sep and not label):
        raise InputError(f"scenario reference {ref!r} is not NAME or NAME@VERSION")
    return name, (label if sep else None)
