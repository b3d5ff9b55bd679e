"""Model runs spread over a Dask ``distributed`` cluster, tile by tile.

A model that can be split (:class:`~tweeling.models.tiling.TiledModel`) is planned here, its
tiles are computed on the cluster's workers — each opens the twin's store itself and reads
its tile's inputs with their halo — and the parts are merged here in plan order, so the
result (and its hash) is that of the same run computed in one process. Progress counts
finished tiles.

Faults: a tile whose computation fails unexpectedly (a lost database connection, a worker
out of memory) is tried again up to :data:`RETRIES` times; a worker that dies takes no
tile with it — the scheduler gives its tiles to the others. An error in the input (a
:class:`~tweeling.core.errors.TweelingError`) is not retried: it is said at once.

Workers must reach the twin's store: a PostgreSQL twin by its URL (the password from the
worker's ``PGPASSWORD`` or ``~/.pgpass``), a GeoPackage twin on a disk they share, and the
same Tweeling installation (models are sent by reference to their module).
"""

from __future__ import annotations

import ctypes
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from tweeling.core.errors import InputError, TweelingError, WorkspaceError
from tweeling.models.base import Model, ModelResult, RunContext
from tweeling.models.tiling import TiledModel, is_tiled, tile_context
from tweeling.store.base import TwinStore

RETRIES = 2  # further tries of a tile that failed unexpectedly
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class Cluster:
    """Where tiles are computed: the scheduler at ``address`` (``tcp://host:8786``), or a
    local cluster of ``workers`` processes started for the run."""

    address: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if (self.address is None) == (self.workers is None):
            raise InputError("give a cluster address or a number of workers (one of them)")
        if self.workers is not None and not 1 <= self.workers <= 256:
            raise InputError(f"workers = {self.workers}: give 1 to 256", field="workers")

    @classmethod
    def from_config(cls, table: Any) -> Cluster | None:
        """The ``[cluster]`` table of a twin's ``twin.toml`` (``address = "tcp://…"`` or
        ``workers = N``), None when there is none; errors name the setting."""
        if table is None:
            return None
        if not isinstance(table, dict):
            raise WorkspaceError("twin.toml [cluster]: a table")
        unknown = sorted(set(table) - {"address", "workers"})
        if unknown:
            raise WorkspaceError(
                f"twin.toml [cluster]: unknown setting {unknown[0]!r} (known: address, workers)"
            )
        address, workers = table.get("address"), table.get("workers")
        if address is not None and not (isinstance(address, str) and "://" in address):
            raise WorkspaceError(
                "twin.toml [cluster] address: a scheduler address, tcp://host:8786"
            )
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
            raise WorkspaceError("twin.toml [cluster] workers: a whole number")
        try:
            return cls(address=address, workers=workers)
        except InputError as exc:
            raise WorkspaceError(f"twin.toml [cluster]: {exc.reason}") from None

    def describe(self) -> str:
        if self.address:
            return f"the Dask cluster at {self.address}"
        return f"a local Dask cluster of {self.workers} worker{'s' * (self.workers != 1)}"


@contextmanager
def connect(cluster: Cluster) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster`` (a local one is started and stopped)."""
    from distributed import Client, LocalCluster

    local = None
    try:
        if cluster.address:
            try:
                client = Client(cluster.address, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as exc:
                raise TweelingError(
                    f"cannot reach the Dask scheduler at {cluster.address}: {exc}"
                ) from None
        else:
            local = LocalCluster(
                n_workers=cluster.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port: never one another cluster holds
            )
            client = Client(local)
    except BaseException:
        if local is not None:
            local.close()
        raise
    try:
        yield client
    finally:
        client.close()
        if local is not None:
            local.close()


def run_on_cluster(client: Any, store: TwinStore, model: Model, ctx: RunContext) -> ModelResult:
    """Plan here, compute the tiles on ``client``'s workers, merge here in plan order."""
    from distributed import as_completed

    if not is_tiled(model):
        raise InputError(
            f"model {model.info.name} cannot be split into tiles: run it without a cluster"
        )
    assert isinstance(model, TiledModel)
    plan = model.plan(ctx)
    n = len(plan.tiles)
    root, config = store.reopen_config()
    run_key = uuid.uuid4().hex[:12]
    futures = [
        client.submit(
            _tile_task,
            str(root),
            config,
            model,
            ctx.scenario,
            ctx.parameters,
            ctx.extent,
            tile,
            key=f"tweeling-tile-{run_key}-{i}",
            retries=RETRIES,
            pure=False,
        )
        for i, tile in enumerate(plan.tiles)
    ]
    workers = len(client.scheduler_info().get("workers", {}))
    parts: list[Any] = [None] * n
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        ctx.progress(0.0, f"{n} tiles on {workers} workers")
        for done, future in enumerate(as_completed(futures), start=1):
            outcome = future.result()
            if isinstance(outcome, _Refused):
                raise outcome.error()
            parts[index[future.key]] = outcome
            ctx.progress(0.98 * done / n, f"{done} of {n} tiles computed on {workers} workers")
    finally:
        client.cancel(futures)
    ctx.progress(0.99, f"merging {n} tiles")
    return model.merge(ctx, plan, parts)


@dataclass(frozen=True)
class _Refused:
    """A tile's input error, sent back as text (not retried; exception classes with keyword
    arguments do not always survive pickling)."""

    kind: str
    message: str

    def error(self) -> TweelingError:
        from tweeling.core import errors

        cls = getattr(errors, self.kind, TweelingError)
        try:
            return cls(self.message)
        except TypeError:
            return TweelingError(self.message)


_local = threading.local()
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


@cache
def _heap_for_arrays() -> None:
    """Once per worker process: Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_``
    set (to hand memory back to the OS sooner), which also fixes glibc's mmap threshold at
    128 KiB: every larger numpy temporary then gets fresh, zero-filled pages, and a
    road-noise tile ran 1.6× slower than in a plain process. Arrays up to 32 MiB come from
    the heap again, which is trimmed above 128 MiB. Not glibc: nothing to do."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
        libc.mallopt(_M_TRIM_THRESHOLD, 128 * 2**20)
    except (OSError, AttributeError):
        pass


def _store(root: str, config: dict[str, Any]) -> TwinStore:
    """This worker thread's open store of a twin (kept open between tiles)."""
    from tweeling.store.backends import open_store

    cache = getattr(_local, "stores", None)
    if cache is None:
        cache = _local.stores = {}
    key = root + "\n" + orjson.dumps(config, option=orjson.OPT_SORT_KEYS).decode()
    if key not in cache:
        cache[key] = open_store(Path(root), config)
    return cache[key]


def _tile_task(root, config, model, scenario, parameters, extent, tile) -> Any:
    """One tile on a worker: open the store, compute, return the part (or the refusal)."""
    _heap_for_arrays()
    ctx = RunContext(_store(root, config), scenario, parameters, tuple(extent))
    try:
        return model.run_tile(tile_context(ctx, 0, 1), tile)
    except TweelingError as exc:
        return _Refused(type(exc).__name__, str(exc))
