"""Reading the results of stored model runs: output files, grids, values per object,
indicators, and which run of a model is up to date for a scenario.

A run's files live in ``runs/<id>/`` (written by :mod:`tweeling.services.runs`): GeoTIFF
grids in RD New, per-object JSON rows ``{"layer", "id", <fields>}`` and ``indicators.json``.
Every path handed out here is one the run recorded, inside its own folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tweeling.core.errors import InputError, NotFoundError, TweelingError
from tweeling.store.base import RunRecord
from tweeling.store.geopackage import GeoPackageStore

BASELINE = "baseline"
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


def get_run(store: GeoPackageStore, run_id: str) -> RunRecord:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InputError(f"run id {run_id[:80]!r} is not 1–64 letters, digits, '_' or '-'")
    run = store.run(run_id)
    if run is None or not (store.runs_dir / run.id).is_dir():
        raise NotFoundError(f"unknown run {run_id!r} (see /runs)")
    return run


def output_file(store: GeoPackageStore, run: RunRecord, name: str) -> tuple[Path, str]:
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


def grid(store: GeoPackageStore, run: RunRecord, name: str) -> GridData:
    if (run.outputs.get(name) or {}).get("kind") != "grid":
        raise NotFoundError(f"run {run.id} has no grid output {name!r}")
    path, _ = output_file(store, run, name)
    return read_grid(path)


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


def object_rows(store: GeoPackageStore, run: RunRecord, name: str) -> list[dict[str, Any]]:
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


def indicators(store: GeoPackageStore, run: RunRecord) -> dict[str, dict[str, Any]]:
    path = store.runs_dir / run.id / "indicators.json"
    return orjson.loads(path.read_bytes()) if path.is_file() else {}


# ------------------------------------------------------------------ up-to-date runs


def current_runs(store: GeoPackageStore, ref: str) -> dict[str, RunRecord]:
    """Per model, the latest run on scenario ``ref`` (``baseline``, NAME or NAME@LABEL)
    whose input hashes equal what the scenario shows now (the runs service's identity:
    a run on changed inputs is out of date). Models no longer installed are left out."""
    from tweeling.services.runs import prepare

    store.view(None if ref == BASELINE else ref)  # unknown scenarios: NotFoundError
    per_model: dict[str, list[RunRecord]] = {}
    for r in store.runs():  # ordered by start time
        if r.scenario == ref:
            per_model.setdefault(r.model, []).append(r)
    out = {}
    for model, runs in per_model.items():
        latest = runs[-1]
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
        found = next((r for r in reversed(runs) if r.inputs == inputs), None)
        if found is not None and (store.runs_dir / found.id).is_dir():
            out[model] = found
    return out


__all__ = [
    "GridData",
    "current_runs",
    "field_unit",
    "get_run",
    "grid",
    "indicators",
    "object_rows",
    "output_file",
    "read_grid",
]
