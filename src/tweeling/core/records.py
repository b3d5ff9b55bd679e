"""The records a twin's store hands out and takes in, the same for every backend
(GeoPackage, PostgreSQL/PostGIS): features and their versions, layers, what an import did,
scenarios and their frozen versions, interventions, model runs, findings, sessions and API
tokens, and the audit log's filter. Plain data: no backend's types (a geometry is a shapely
geometry, a time a ``datetime`` or an ISO text in UTC as stated per field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely

from tweeling.core.features import LayerSchema
from tweeling.core.people import Person

Bbox = tuple[float, float, float, float]  # minx, miny, maxx, maxy in RD New
Progress = Callable[[int], None]  # called with the number of records just handled


@dataclass(frozen=True, slots=True)
class StoredFeature:
    """One feature version as read from the store."""

    layer: str
    id: str
    geometry: shapely.Geometry | None
    properties: dict[str, Any]
    version: int
    valid_from: datetime | None
    valid_to: datetime | None
    recorded_at: datetime
    record_end: datetime | None
    transaction: int
    source: str


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str  # "vector" or "raster"
    count: int
    extent: Bbox | None
    schema: LayerSchema | None = None
    raster: dict[str, Any] | None = None
    title: str = ""
    source: str = ""


@dataclass
class LayerReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    ended: int = 0


@dataclass
class WriteReport:
    """What one import did, per layer; ``transaction`` is the record of it in the store."""

    transaction: int
    source: str
    layers: dict[str, LayerReport] = field(default_factory=dict)
    rasters: dict[str, str] = field(default_factory=dict)  # name -> "added"/"changed"/"unchanged"

    @property
    def total(self) -> LayerReport:
        out = LayerReport()
        for rep in self.layers.values():
            out.added += rep.added
            out.changed += rep.changed
            out.unchanged += rep.unchanged
            out.ended += rep.ended
        return out


@dataclass(frozen=True)
class FrozenVersion:
    """An immutable named version of a scenario, identified by its content hash."""

    scenario: str
    label: str
    transaction: int
    hash: str
    at: str
    author: str
    note: str

    @property
    def ref(self) -> str:
        return f"{self.scenario}@{self.label}"


@dataclass(frozen=True)
class ScenarioInfo:
    """A scenario (a branch of the twin) as the store records it."""

    id: int
    name: str
    parent: str | None  # None for the baseline
    base_transaction: int | None  # the parent's state it is built on
    status: str
    author: str
    description: str
    created_at: str
    updated_at: str | None
    head_transaction: int | None
    interventions: int
    frozen: tuple[FrozenVersion, ...]
    parent_changed_since_base: bool  # the parent moved on: a rebase would take that in
    owner_id: int | None = None  # the person who made it (None: the twin's operators)


@dataclass(frozen=True)
class InterventionRecord:
    """One logged intervention of a scenario."""

    id: int
    scenario: str
    transaction: int
    kind: str  # add, modify, remove, parameter, merge, rebase
    layer: str | None
    object_id: str | None
    title: str
    rationale: str
    author: str
    at: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class RunRecord:
    """One model run with its provenance; result files are in ``runs/<id>/``."""

    id: str
    model: str
    model_version: str
    code_hash: str
    scenario: str  # the reference the run read: baseline, NAME or NAME@LABEL
    inputs: dict[str, str]  # input layer -> content hash of that layer in the scenario
    parameters: dict[str, Any]
    extent: tuple[float, float, float, float]
    user: str
    started_at: str
    duration_s: float
    result_hash: str
    outputs: dict[str, Any]  # output name -> file and summary
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class FindingsRecord:
    """The stored result of checking one scenario version against the norms on a date."""

    scenario: str
    on_date: str  # ISO date the norms were taken in force on
    content_hash: str  # of the scenario version that was checked
    rules_hash: str  # of the norms that were applied
    computed_at: str
    user: str
    findings: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    person: Person
    csrf: str
    via: str
    created_at: str
    expires_at: str
    seen_at: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    person_id: int
    name: str
    hash: str
    scope: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    used_at: str | None


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show; every field optional (period: ISO texts, UTC)."""

    actor: str | None = None
    scenario: str | None = None
    object: str | None = None  # exact, or a prefix ending in '/' (e.g. "comment/")
    action: str | None = None  # exact, or a prefix ending in '.' (e.g. "scenario.")
    since: str | None = None
    until: str | None = None
    after_seq: int = 0
