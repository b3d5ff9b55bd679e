"""Reading the results of stored model runs: output files, grids, values per object,
indicators, and which run of a model is up to date for a scenario.

A run's files live in ``runs/<id>/`` (written by :mod:`tweeling.services.runs`): GeoTIFF
grids in RD New, per-object JSON rows ``{"layer", "id", <fields>}`` and ``indicators.json``.
Every path handed out here is one the run recorded, inside its own folder.

A run never changes once written, so what is read from its files can be kept: grids are
cached (read-only arrays) keyed by their file (path, inode, size, modification time), in a
least-recently-used cache bounded in bytes (:data:`GRID_CACHE_BYTES`) and shared by the
server's threads. Which run is up to date (:func:`current_runs`) is kept per
:func:`view_state` of the scenario and the runs recorded for it.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tweeling.core.errors import InputError, NotFoundError, TweelingError
from tweeling.core.records import RunRecord
from tweeling.store.base import TwinStore

BASELINE = "baseline"
GRID_CACHE_BYTES = 256 << 20  # grids kept in memory, shared by the threads of a process
CURRENT_CACHE_ENTRIES = 512  # (scenario state, runs) -> the up-to-date run per model
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_OUTPUT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
MEDIA_TYPES = {".tif": "image/tiff", ".json": "application/json", ".csv": "text/csv"}
# Units of per-object fields, by the naming convention of the models' outputs (a suffix
# names the unit); the Output declarations give one unit per output, not per field.
_SUFFIX_UNITS = (
    ("_db", "dB"),
    ("_h_per_yr", "h/yr"),
    ("_mol_n_per_ha_per_yr", "mol N/ha/yr"),
    ("_pct", "%"),
    ("_kmh", "km/h"),
    ("_m", "m"),
)


@dataclass(frozen=True)
class GridData:
    values: np.ndarray  # float32, row 0 = north, NaN = no value
    west: float
    north: float
    cell_m: float
    unit: str

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        rows, cols = self.values.shape
        return (
            self.west,
            self.north - rows * self.cell_m,
            self.west + cols * self.cell_m,
            self.north,
        )

    def at(self, x: float, y: float) -> float | None:
        """The value of the cell holding RD New point (x, y); None outside or empty."""
        col = int(np.floor((x - self.west) / self.cell_m))
        row = int(np.floor((self.north - y) / self.cell_m))
        rows, cols = self.values.shape
        if not (0 <= row < rows and 0 <= col < cols):
            return None
        v = float(self.values[row, col])
        return round(v, 4) if np.isfinite(v) else None


def get_run(store: TwinStore, run_id: str) -> RunRecord:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InputError(f"run id {run_id[:80]!r} is not 1–64 letters, digits, '_' or '-'")
    run = store.run(run_id)
    if run is None or not (store.runs_dir / run.id).is_dir():
        raise NotFoundError(f"unknown run {run_id!r} (see /runs)")
    return run


def output_file(store: TwinStore, run: RunRecord, name: str) -> tuple[Path, str]:
    """The file of output ``name`` (or a recorded file name such as ``indicators.json``)
    with its media type; never a path outside the run's folder."""
    if not isinstance(name, str) or not _OUTPUT.fullmatch(name) or ".." in name:
        raise InputError(f"output name {name[:80]!r} is not allowed")
    files = {o["file"]: o for o in run.outputs.values() if isinstance(o, dict) and "file" in o}
    if "indicators" in run.outputs:
        files["indicators.json"] = run.outputs["indicators"]  # written beside the CSV
    entry = run.outputs.get(name)
    file = entry.get("file") if isinstance(entry, dict) else name if name in files else None
    if file is None:
        known = ", ".join(sorted([*run.outputs, *files]))
        raise NotFoundError(f"run {run.id} has no output {name!r} (known: {known})")
    folder = (store.runs_dir / run.id).resolve()
    path = (folder / file).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise NotFoundError(f"run {run.id}: the file of output {name!r} is missing")
    return path, MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


class LRU:
    """Values that never change for their key, least recently used first out, bounded in
    (estimated) bytes and in entries; safe to share between threads."""

    def __init__(self, max_bytes: int, max_items: int):
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._making: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Any, size: int = 1) -> None:
        if size > self.max_bytes // 2:
            return  # too large to keep: read each time, as without a cache
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._items and (
                self._bytes > self.max_bytes or len(self._items) > self.max_items
            ):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def get_or_make(
        self, key: Hashable, make: Callable[[], Any], size: Callable[[Any], int] = lambda v: 1
    ) -> Any:
        """The value of ``key``, made by ``make`` when missing: by one thread at a time per
        key (the others wait for it instead of making it too)."""
        found = self.get(key)
        if found is not None:
            return found
        with self._lock:
            making = self._making.setdefault(key, threading.Lock())
        try:
            with making:
                found = self.get(key)
                if found is None:
                    found = make()
                    self.put(key, found, size(found))
        finally:
            with self._lock:
                self._making.pop(key, None)
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes


_GRIDS = LRU(GRID_CACHE_BYTES, 4096)


def file_key(path: Path) -> tuple:
    """A file's identity for caches: a file written again (or a twin made again at the
    same path) gets another key."""
    st = path.stat()
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def grid(store: TwinStore, run: RunRecord, name: str) -> GridData:
    """A grid output of a run (cached; its values are read-only)."""
    if (run.outputs.get(name) or {}).get("kind") != "grid":
        raise NotFoundError(f"run {run.id} has no grid output {name!r}")
    path, _ = output_file(store, run, name)

    def read() -> GridData:
        g = read_grid(path)
        g.values.setflags(write=False)  # shared by every caller: nobody may change it
        return g

    return _GRIDS.get_or_make(file_key(path), read, lambda g: g.values.nbytes + 200)


def read_grid(path: Path) -> GridData:
    import rasterio

    with rasterio.open(path) as src:
        values = src.read(1).astype("float32")
        if src.nodata is not None and np.isfinite(src.nodata):
            values[values == src.nodata] = np.nan
        t = src.transform
        unit = src.tags().get("unit", "")
    if abs(t.a + t.e) > 1e-9 or t.b or t.d:
        raise TweelingError(f"{path.name}: not a north-up grid with square cells")
    return GridData(values, t.c, t.f, t.a, unit)


def object_rows(store: TwinStore, run: RunRecord, name: str) -> list[dict[str, Any]]:
    if (run.outputs.get(name) or {}).get("kind") != "objects":
        kinds = sorted(k for k, o in run.outputs.items() if o.get("kind") == "objects")
        raise NotFoundError(
            f"run {run.id} has no per-object output {name!r} (known: {', '.join(kinds) or '—'})"
        )
    path, _ = output_file(store, run, name)
    return orjson.loads(path.read_bytes())


def field_unit(field: str, value: Any = None) -> str | None:
    """The unit of a per-object field, from its name; None for flags and unknown names."""
    if isinstance(value, bool) or field.startswith("within_"):
        return None
    if "days_over" in field:
        return "d/yr"
    if field in ("dwellings", "count"):
        return "1"
    for suffix, unit in _SUFFIX_UNITS:
        if field.endswith(suffix):
            return unit
    return None


def indicators(store: TwinStore, run: RunRecord) -> dict[str, dict[str, Any]]:
    path = store.runs_dir / run.id / "indicators.json"
    return orjson.loads(path.read_bytes()) if path.is_file() else {}


# ------------------------------------------------------------------ up-to-date runs


def view_state(store: TwinStore, view) -> tuple:
    """A key that changes whenever what ``view`` shows may have changed (caches key on
    it): the twin (its file and when its baseline was made), its area, the view's levels
    and, per layer (vector and raster), the store's ``layer_stamp`` — which moves with every
    import that changes the layer and every edit of a scenario in the view (parameters
    included). Cheap: a few small queries."""
    return (
        store.location,
        store.scenarios.info(BASELINE).created_at,
        store.area_of_interest(),
        view.ref,
        view.levels,
        tuple((name, store.layer_stamp(name, view)) for name in store.layer_names()),
    )


_CURRENT = LRU(1 << 62, CURRENT_CACHE_ENTRIES)


def current_runs(store: TwinStore, ref: str) -> dict[str, RunRecord]:
    """Per model, the latest run on scenario ``ref`` (``baseline``, NAME or NAME@LABEL)
    whose input hashes equal what the scenario shows now (the runs service's identity:
    a run on changed inputs is out of date). Models no longer installed are left out.

    The choice is kept per state of the scenario (:func:`view_state`), its recorded runs
    (with whether their folders exist) and the models registered at run time: the input
    hashes are not computed again while none of them changed. (A model plug-in installed
    into a running server counts from the twin's next change.)"""
    from tweeling.models import registry

    view = store.view(None if ref == BASELINE else ref)  # unknown scenarios: NotFoundError
    runs = [r for r in store.runs() if r.scenario == ref]  # ordered by start time
    here = tuple((r.id, (store.runs_dir / r.id).is_dir()) for r in runs)
    registered = tuple(sorted((n, id(m)) for n, m in registry.registered().items()))
    key = (view_state(store, view), here, registered)
    chosen = _CURRENT.get_or_make(
        key, lambda: {model: run.id for model, run in _current_runs(store, ref, runs).items()}
    )
    by_id = {r.id: r for r in runs}
    return {model: by_id[run_id] for model, run_id in chosen.items()}


def _current_runs(store: TwinStore, ref: str, runs: list[RunRecord]) -> dict:
    from tweeling.services.runs import prepare

    per_model: dict[str, list[RunRecord]] = {}
    for r in runs:
        per_model.setdefault(r.model, []).append(r)
    out = {}
    for model, of_model in per_model.items():
        latest = of_model[-1]
        try:  # the inputs do not depend on the parameters; the latest run's are valid
            inputs = prepare(
                store,
                model,
                scenario=None if ref == BASELINE else ref,
                params=latest.parameters,
                extent=latest.extent,
            )[3]
        except TweelingError:
            continue
        found = next((r for r in reversed(of_model) if r.inputs == inputs), None)
        if found is not None and (store.runs_dir / found.id).is_dir():
            out[model] = found
    return out


__all__ = [
    "LRU",
    "GridData",
    "current_runs",
    "field_unit",
    "file_key",
    "get_run",
    "grid",
    "indicators",
    "object_rows",
    "output_file",
    "read_grid",
    "view_state",
]
