"""The store interface every backend implements (GeoPackage now, PostgreSQL/PostGIS next).

Everything above ``store/`` talks to these protocols — never to a concrete store class or
its tables — and exchanges the backend-neutral records of :mod:`tweeling.core.records`,
views of :mod:`tweeling.core.views` and errors of :mod:`tweeling.core.errors`. Geometry
encoding stays inside the backend: features carry shapely geometries, and the one place
where raw geometry travels (:meth:`FeatureReads.contents`, compared by diffs and merges)
carries ISO WKB, which every backend can produce byte for byte.

The protocols are small, one per concern, in the spirit of pygeoapi's ``BaseProvider``:

========================  =====================================================  ==================
protocol                  what                                                   reached as
========================  =====================================================  ==================
:class:`FeatureReads`     layers, features through a view, history, contents     ``store``
:class:`FeatureWrites`    imports (one transaction each), units of work          ``store``
:class:`RasterReads`      raster files per state                                 ``store``
:class:`RunLog`           model runs and their result folders                    ``store``
:class:`FindingsLog`      stored checker findings                                ``store``
:class:`Scenarios`        branches: create, edit, freeze, status, delete         ``store.scenarios``
:class:`ScenarioEditor`   one edit of a scenario (inside ``scenarios.edit``)     —
:class:`People`           accounts, sessions, tokens, throttling, shares         ``store.people``
:class:`AuditLog`         the hash-chained audit log                             ``store.audit``
:class:`Rounds`           consultation rounds, variants, comments, notifications ``store.rounds``
:class:`Jobs`             the job queue's records, shared by server processes    ``store.jobs``
:class:`TwinStore`        all of the above: what a service is handed             —
========================  =====================================================  ==================

Errors every backend raises for the same cases: ``NotFoundError`` (unknown layer, scenario,
person, run), ``InputError`` (bad names, values, geometries), ``AlreadyExists`` (a name
taken), ``ConcurrentEdit`` (a scenario moved since it was read), ``StoreBusy`` (another
writer holds the lock beyond the busy timeout), ``WorkspaceError`` (not a twin, another
format).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import shapely

from tweeling.core.access import ScenarioAccess
from tweeling.core.audit import AuditEntry, Verification
from tweeling.core.features import FeatureChunk, ImportBatch, LayerSchema
from tweeling.core.jobs import Job
from tweeling.core.participation import Comment, Round, Variant
from tweeling.core.people import Person, Role
from tweeling.core.records import (
    AuditFilter,
    Bbox,
    FindingsRecord,
    FrozenVersion,
    InterventionRecord,
    LayerInfo,
    Progress,
    RunRecord,
    ScenarioInfo,
    SessionRecord,
    StoredFeature,
    TokenRecord,
    WriteReport,
)
from tweeling.core.views import View


class FeatureReads(Protocol):
    """Layers and feature versions, read through a scenario view (``scenario`` names one:
    ``None``/``"baseline"``, ``NAME`` or ``NAME@LABEL``; or pass the ``view`` itself)."""

    location: str  # where the store is: a file path, or a database URL without password

    def reopen_config(self) -> tuple[Path, dict[str, Any]]:
        """The twin's folder and ``[store]`` table with which another process (a Dask
        worker) opens this store again (``backends.open_store``); no password."""
        ...

    def schema(self, layer: str) -> LayerSchema: ...

    def vector_layers(self) -> list[str]: ...

    def layer_names(self) -> list[str]:
        """Vector and raster layers."""
        ...

    def layers(self) -> list[LayerInfo]: ...

    def layer(self, name: str) -> LayerInfo: ...

    def features(
        self,
        layer: str,
        *,
        bbox: Bbox | None = None,
        where: Mapping[str, Any] | None = None,
        as_of: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
        scenario: str | None = None,
        view: View | None = None,
    ) -> Iterator[StoredFeature]: ...

    def count(
        self,
        layer: str,
        *,
        bbox: Bbox | None = None,
        where: Mapping[str, Any] | None = None,
        as_of: datetime | None = None,
        scenario: str | None = None,
    ) -> int: ...

    def history(self, layer: str, feature_id: str) -> list[StoredFeature]: ...

    def lookup(
        self,
        layer: str,
        ids: list[str],
        *,
        scenario: str | None = None,
        view: View | None = None,
    ) -> dict[str, StoredFeature | None]:
        """Each id's feature as the view shows it (``None``: absent or removed there)."""
        ...

    def contents(self, layer: str, ids: list[str], view: View) -> dict[str, dict[str, Any] | None]:
        """Each id's content as diffs and merges compare it: the attributes (nulls left out)
        and ``"geometry"`` as ISO WKB (little endian); ``None`` when absent."""
        ...

    def candidate_ids(self, layer: str, a: View, b: View) -> set[str]:
        """Ids of the objects in which two views of a layer may differ (in proportion to
        the changes between them, not to the layer)."""
        ...

    def view(self, scenario: str | None) -> View: ...

    def view_at(self, branch: int, txn: int | None) -> View: ...

    def layer_stamp(self, layer: str, view: View) -> str:
        """A text that changes whenever what ``view`` shows of ``layer`` may have changed
        (caches key on it)."""
        ...

    def layer_changed_txn(self, layer: str) -> int: ...

    def render_tile(
        self,
        layer: str,
        view: View,
        fields: list[str],
        mercator_bounds: tuple[float, float, float, float],
        rd_box: tuple[float, float, float, float],
        limit: int,
    ) -> bytes | None:
        """``layer``'s Mapbox Vector Tile layer (extent 4096, buffer 64) of the tile with
        EPSG:3857 ``mercator_bounds``, rendered by the database itself, with ``fields`` and
        ``id`` as attributes, at most ``limit`` features read from within ``rd_box``; None
        when this backend does not render tiles for ``view`` (the caller renders them)."""
        ...

    def parameters(self, scenario: str | None = None, *, view: View | None = None) -> dict: ...

    def content_hash(
        self,
        scenario: str | None = None,
        *,
        view: View | None = None,
        layers: list[str] | None = None,
    ) -> str:
        """SHA-256 of everything a view shows (or just ``layers``) and its parameters; equal
        on every backend for equal content."""
        ...

    def area_of_interest(self) -> Bbox | None: ...

    def transactions(self) -> list[dict[str, Any]]: ...

    def integrity_check(self) -> str: ...


ChunkPreparer = Callable[[LayerSchema, FeatureChunk, "str | None"], Any]


class FeatureWrites(Protocol):
    def chunk_preparer(self) -> ChunkPreparer:
        """A module-level function (picklable, for a worker process) that prepares a chunk
        of a layer for this store's :meth:`write` — encoding, hashing, bounds — so that an
        import can prepare in one process while the store writes in another; ``write``
        takes its results as well as plain :class:`FeatureChunk` s."""
        ...

    def write(
        self, batch: ImportBatch, *, user: str = "", progress: Progress | None = None
    ) -> WriteReport:
        """One import: all of it in one transaction, or nothing."""
        ...

    def set_area_of_interest(self, bbox: Bbox) -> None: ...

    def unit(self) -> AbstractContextManager[None]:
        """One unit of work: every write inside it (and the audit entries recording them)
        commits together or not at all."""
        ...

    def close(self) -> None: ...

    @property
    def broken(self) -> bool:
        """The connection to the store was lost (a database server restarted): open the
        store again. (An embedded file is never broken.)"""
        ...

    def max_connections(self) -> int | None:
        """How many connections the store's server takes from clients like us (None: no
        limit, an embedded store)."""
        ...


class RasterReads(Protocol):
    def raster_path(self, name: str, *, as_of: datetime | None = None) -> str: ...

    def raster_metadata(self, name: str, *, as_of: datetime | None = None) -> dict[str, Any]: ...


class RunLog(Protocol):
    @property
    def runs_dir(self) -> Path:
        """Where runs' result folders are (``runs_dir / run.id``)."""
        ...

    def record_run(self, run: RunRecord) -> None: ...

    def runs(self, *, model: str | None = None) -> list[RunRecord]:
        """Ordered by start time."""
        ...

    def run(self, run_id: str) -> RunRecord | None: ...


class FindingsLog(Protocol):
    def record_findings(self, record: FindingsRecord) -> None: ...

    def findings(self, scenario: str | None = None) -> list[FindingsRecord]: ...


class ScenarioEditor(Protocol):
    """One edit of a scenario: every change inside ``Scenarios.edit`` is one transaction,
    logged as interventions; an edit that changes nothing leaves no trace."""

    store: TwinStore
    parent: View  # what the scenario is built on

    def lookup(self, layer: str, ids: list[str]) -> dict[str, StoredFeature | None]: ...

    def parent_lookup(self, layer: str, ids: list[str]) -> dict[str, StoredFeature | None]: ...

    def put(self, layer: str, chunk: FeatureChunk) -> int: ...

    def remove(self, layer: str, ids: list[str]) -> None: ...

    def revert(self, layer: str, ids: list[str]) -> None: ...

    def set_parameter(self, name: str, value: Any, unit: str) -> None: ...

    def remove_parameter(self, name: str) -> None: ...

    def rebase(self) -> None: ...

    def log(
        self,
        kind: str,
        title: str,
        rationale: str = "",
        *,
        layer: str | None = None,
        object_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int: ...


class Scenarios(Protocol):
    def list(self) -> list[ScenarioInfo]: ...

    def info(self, ref: str) -> ScenarioInfo: ...

    def interventions(self, ref: str) -> list[InterventionRecord]: ...

    def children(self, branch: int) -> list[str]: ...

    def create(
        self,
        name: str,
        *,
        parent: str = "baseline",
        author: str = "",
        description: str = "",
        owner_id: int | None = None,
    ) -> ScenarioInfo: ...

    def edit(
        self,
        ref: str,
        *,
        author: str = "",
        kind: str = "scenario-edit",
        path: str | None = None,
        expected_head: int | None = None,
    ) -> AbstractContextManager[ScenarioEditor]: ...

    def freeze(
        self, ref: str, label: str, *, author: str = "", note: str = ""
    ) -> FrozenVersion: ...

    def set_status(self, ref: str, status: str, *, author: str = "") -> ScenarioInfo: ...

    def delete(self, ref: str) -> None: ...


class People(Protocol):
    """Accounts and what hangs on them. Only hashes of secrets are stored."""

    def any(self) -> bool: ...

    def add(
        self,
        username: str,
        role: Role,
        *,
        display_name: str = "",
        password_hash: str | None = None,
        oidc: tuple[str, str] | None = None,
        at: str,
    ) -> Person: ...

    def get(self, person_id: int) -> Person: ...

    def by_name(self, username: str) -> Person: ...

    def by_oidc(self, issuer: str, subject: str) -> Person | None: ...

    def password_hash(self, username: str) -> tuple[Person, str | None] | None: ...

    def list(self) -> list[Person]: ...

    def update(
        self,
        person_id: int,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
        display_name: str | None = None,
        password_hash: str | None = None,
    ) -> Person: ...

    def count_role(self, role: Role, *, enabled_only: bool = True) -> int: ...

    def add_session(
        self, digest: str, person_id: int, csrf: str, via: str, at: str, expires_at: str
    ) -> None: ...

    def session(self, digest: str) -> SessionRecord | None: ...

    def touch_session(self, digest: str, at: str) -> None: ...

    def end_session(self, digest: str) -> None: ...

    def end_expired_sessions(self, now: str, idle_before: str) -> int: ...

    def add_token(
        self, person_id: int, name: str, digest: str, scope: str, at: str, expires_at: str
    ) -> TokenRecord: ...

    def token(self, token_id: int) -> TokenRecord: ...

    def tokens(self, person_id: int | None = None) -> list[TokenRecord]: ...

    def revoke_token(self, token_id: int, at: str) -> None: ...

    def token_used(self, token_id: int, at: str) -> None: ...

    def add_failure(self, keys: list[str], at: str) -> None: ...

    def failures(self, key: str, since: str) -> list[str]: ...

    def clear_failures(self, keys: list[str], before: str | None = None) -> None: ...

    def setting(self, key: str, default: str | None = None) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...

    def scenario_access(self, ref: str) -> ScenarioAccess: ...

    def all_scenario_access(self) -> dict[str, ScenarioAccess]: ...

    def set_owner(self, scenario: str, person_id: int | None) -> None: ...

    def share(self, scenario: str, person_id: int, can_edit: bool | None) -> None: ...

    def shares(self, scenario: str) -> list[tuple[Person, bool]]: ...


class AuditLog(Protocol):
    """Append-only and hash-chained (:mod:`tweeling.core.audit`); an entry is appended in
    the transaction of the change it records, and the chain has one order across
    processes."""

    def append(
        self,
        *,
        actor: str,
        actor_id: int | None,
        action: str,
        obj: str,
        scenario: str | None = None,
        version: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> AuditEntry: ...

    def head(self) -> tuple[int, str]: ...

    def entries(self, f: AuditFilter = ..., *, limit: int | None = None) -> list[AuditEntry]: ...

    def count(self) -> int: ...

    def rows(self, batch: int = 10_000) -> Iterator[tuple]: ...

    def verify(self, anchors: list[tuple[int, str]] = ()) -> Verification: ...


class Rounds(Protocol):
    def add(self, r: Round) -> Round: ...

    def update(self, r: Round) -> Round: ...

    def get(self, round_id: int) -> Round: ...

    def list(self) -> list[Round]: ...

    def add_variant(self, scenario: str, round_id: int) -> None: ...

    def set_variant_public(self, scenario: str, public: bool) -> None: ...

    def variants(self, round_id: int) -> list[Variant]: ...

    def variant(self, scenario: str) -> Variant | None: ...

    def add_comment(
        self,
        *,
        round_id: int,
        scenario: str | None,
        parent_id: int | None,
        author_id: int | None,
        author: str,
        body: str,
        theme: str | None,
        geometry: shapely.Geometry | None,
        obj: str | None,
        at: str,
    ) -> int: ...

    def comment(self, comment_id: int, *, viewer_id: int | None = None) -> Comment: ...

    def comments(
        self, round_id: int, *, viewer_id: int | None = None, scenario: str | None = None
    ) -> list[Comment]: ...

    def edit_comment(self, comment_id: int, body: str, theme: str | None, at: str) -> None: ...

    def hide_comment(
        self, comment_id: int, by: str, reason: str | None, at: str | None
    ) -> None: ...

    def count_comments_since(self, author_id: int, since: str) -> int: ...

    def support(self, comment_id: int, person_id: int, at: str | None) -> bool: ...

    def notify(self, person_id: int, kind: str, text: str, link: str | None, at: str) -> None: ...

    def notifications(self, person_id: int) -> list[dict[str, Any]]: ...

    def mark_read(self, person_id: int, at: str) -> None: ...


class Jobs(Protocol):
    """The records of the API's job queue (:mod:`tweeling.services.jobs`), shared by every
    server process of the twin: a waiting job is claimed by exactly one of them."""

    def add(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def list(self, *, who: str | None = None, since: str | None = None) -> list[Job]:
        """Newest first."""
        ...

    def update(self, job_id: str, *, unless_finished: bool = True, **values: Any) -> Job | None:
        """The job as changed, or None (unknown, or finished when ``unless_finished``)."""
        ...

    def claim(self, worker: str, now: str) -> Job | None:
        """The fairest waiting job, marked running by ``worker`` (None: none waits)."""
        ...

    def delete(self, job_id: str) -> None: ...

    def beat(self, worker: str, now: str) -> None: ...

    def leave(self, worker: str) -> None: ...

    def live_workers(self, since: str) -> list[str]: ...

    def fail_orphans(
        self, *, alive: list[str], now: str, failure: str, running: str, waiting: str | None
    ) -> int: ...


@runtime_checkable
class TwinStore(FeatureReads, FeatureWrites, RasterReads, RunLog, FindingsLog, Protocol):
    """A twin's store: what services, models, the CLI and the API are handed."""

    scenarios: Scenarios
    people: People
    audit: AuditLog
    rounds: Rounds
    jobs: Jobs
