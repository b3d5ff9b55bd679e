"""Running impact models with provenance, re-use of identical runs, and reproduction.

A run's identity is the hash of everything that determines its result: the model's name,
version and code hash (its modules' source), the content hash of each input layer as the
scenario shows it (and the scenario's parameters), the checked parameters and the extent.
Running again with identical inputs returns the stored run. Results are written into a
temporary folder and moved into ``runs/<id>/`` only when complete, then recorded in the
store: an interrupted or failed run leaves nothing behind. ``reproduce`` re-executes a run
and compares result hashes.

The result hash covers the numbers, not file bytes: grids as little-endian float32 with
their georeference, object values and indicators as canonical JSON.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import importlib
import inspect
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tweeling.core.crs import RD_NEW
from tweeling.core.errors import InputError, NotFoundError, TweelingError
from tweeling.core.records import Bbox, RunRecord
from tweeling.core.timeaxis import to_text, utc_now
from tweeling.models import registry
from tweeling.models.base import Grid, Model, ModelResult, RunContext
from tweeling.services import audit
from tweeling.services.cluster import Cluster
from tweeling.store.base import TwinStore

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Reproduction:
    run: RunRecord
    result_hash: str  # of the re-execution
    inputs_equal: bool
    code_equal: bool

    @property
    def identical(self) -> bool:
        return self.result_hash == self.run.result_hash


def prepare(
    store: TwinStore,
    name: str,
    *,
    scenario: str | None = None,
    params: Mapping[str, Any] | None = None,
    extent: Bbox | None = None,
) -> tuple[Model, dict[str, Any], Bbox, dict[str, str]]:
    """Everything checked before heavy work: the model, the scenario, the parameters
    (scenario parameters of the same name and unit first, then ``params``), the extent;
    and the input hashes."""
    model = registry.get(name)
    info = model.info
    view = store.view(scenario)
    given: dict[str, Any] = {}
    for p_name, value in store.parameters(view=view).items():
        try:
            p = info.parameter(p_name)
        except InputError:
            continue  # a parameter for other models
        if value["unit"] != p.unit:
            raise InputError(
                f"scenario {scenario} sets {p_name} in {value['unit']!r}; model {name} takes "
                f"it in {p.unit!r}",
                field=p_name,
            )
        given[p_name] = value["value"]
    given.update(params or {})
    checked = info.check_parameters(given)
    box = check_extent(store, extent)
    present = set(store.layer_names())
    missing = [layer for layer in info.inputs if layer not in present]
    if missing:
        from tweeling.models.input_layers import INPUT_LAYERS

        hints = [
            f"'tweeling import model-inputs FILE --layer {m}'" for m in missing if m in INPUT_LAYERS
        ]
        raise InputError(
            f"model {name} reads {', '.join(missing)}, which the twin does not have"
            + (f"; import it with {' or '.join(hints)}" if hints else ""),
            field=missing[0],
        )
    inputs = {layer: store.content_hash(view=view, layers=[layer]) for layer in info.inputs}
    if info.compares_with_baseline and scenario is not None:
        base = view.root_view()
        for layer in info.inputs:
            inputs[f"baseline/{layer}"] = store.content_hash(view=base, layers=[layer])
    return model, checked, box, inputs


def check_extent(store: TwinStore, extent: Bbox | None) -> Bbox:
    area = store.area_of_interest()
    if extent is None:
        if area is None:
            raise InputError("the twin is empty: there is no extent to compute over")
        return tuple(float(v) for v in area)
    minx, miny, maxx, maxy = (float(v) for v in extent)
    if not (minx < maxx and miny < maxy):
        raise InputError(f"extent {extent} is empty (it needs minx < maxx and miny < maxy)")
    if area is not None and (maxx < area[0] or minx > area[2] or maxy < area[1] or miny > area[3]):
        raise InputError(f"extent {extent} lies outside the twin's area {area}")
    return minx, miny, maxx, maxy


def code_hash(model: Model) -> str:
    """SHA-256 of the source of the model's class module and the modules it names."""
    h = hashlib.sha256()
    modules = [type(model).__module__, *model.info.code]
    for name in sorted(set(modules)):
        h.update(name.encode() + b"\n" + inspect.getsource(importlib.import_module(name)).encode())
    return h.hexdigest()


def run_model(
    store: TwinStore,
    name: str,
    *,
    scenario: str | None = None,
    params: Mapping[str, Any] | None = None,
    extent: Bbox | None = None,
    user: str = "",
    progress: Progress | None = None,
    reuse: bool = True,
    cluster: Cluster | None = None,
) -> tuple[RunRecord, bool]:
    """Run a model on a scenario view; returns the run and whether it was re-used. With a
    ``cluster`` its tiles are computed on a Dask cluster (same result)."""
    model, checked, box, inputs = prepare(
        store, name, scenario=scenario, params=params, extent=extent
    )
    user = user or audit.current().actor
    info = model.info
    code = code_hash(model)
    ref = scenario or "baseline"
    identity = {
        "model": info.name,
        "version": info.version,
        "code": code,
        "inputs": inputs,
        "parameters": checked,
        "extent": list(box),
    }
    run_id = hashlib.sha256(_canonical(identity)).hexdigest()[:16]
    found = store.run(run_id)
    if reuse and found is not None and (store.runs_dir / run_id).is_dir():
        return found, True
    started = to_text(utc_now())
    t0 = time.perf_counter()
    tmp = store.runs_dir / f".{run_id}.partial"
    with _working(tmp):
        try:
            result = _execute(store, model, scenario, checked, box, progress, cluster)
            digest, outputs = write_result(result, tmp)
            duration = time.perf_counter() - t0
            record = RunRecord(
                run_id,
                info.name,
                info.version,
                code,
                ref,
                inputs,
                checked,
                box,
                user,
                started,
                round(duration, 3),
                digest,
                outputs,
                list(result.notes),
            )
            provenance = orjson.dumps(record.to_dict(), option=orjson.OPT_INDENT_2)
            (tmp / "run.json").write_bytes(provenance)
            final = store.runs_dir / run_id
            shutil.rmtree(final, ignore_errors=True)  # files of an earlier, incomplete attempt
            tmp.rename(final)
            if found is None:
                try:
                    with store.unit():
                        store.record_run(record)
                        audit.record(
                            store,
                            "model.run",
                            f"runs/{run_id}",
                            scenario=ref,
                            data={
                                "model": info.name,
                                "model_version": info.version,
                                "code_hash": code,
                                "inputs": inputs,
                                "parameters": checked,
                                "extent": list(box),
                                "result_hash": digest,
                            },
                        )
                except BaseException:
                    shutil.rmtree(final, ignore_errors=True)
                    raise
            else:
                record = found  # files restored; the recorded run stays as it was
            return record, False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def reproduce(
    store: TwinStore,
    run_id: str,
    *,
    progress: Progress | None = None,
    cluster: Cluster | None = None,
) -> Reproduction:
    """Execute a stored run again from its recorded inputs and compare the result hash."""
    run = store.run(run_id)
    if run is None:
        raise NotFoundError(f"unknown run {run_id!r} (see 'tweeling runs')")
    scenario = None if run.scenario == "baseline" else run.scenario
    model, checked, box, inputs = prepare(
        store, run.model, scenario=scenario, params=run.parameters, extent=run.extent
    )
    if model.info.version != run.model_version:
        raise TweelingError(
            f"run {run_id} used {run.model} {run.model_version}; this installation has "
            f"{model.info.version}"
        )
    tmp = store.runs_dir / f".{run_id}.reproduce"
    with _working(tmp):
        try:
            result = _execute(store, model, scenario, checked, box, progress, cluster)
            digest, _ = write_result(result, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Reproduction(run, digest, inputs == run.inputs, code_hash(model) == run.code_hash)


@contextmanager
def _working(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on a run's working folder while it is computed and stored.

    The lock stays with the folder when it is renamed to ``runs/<id>`` and ends with the
    process, however it ends: :func:`clean_unfinished` removes only folders nobody holds.
    Another process computing the same run holds it already: that is said, not waited for."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        if not _lock(fd):
            raise TweelingError(
                f"run {folder.name.strip('.').split('.')[0]} is being computed by another "
                "process; try again when it has finished (it will then be re-used)"
            )
        yield
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int) -> bool:
    """Take the exclusive lock of an open folder without waiting; False: another holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _held(folder: Path) -> bool:
    """Whether a process holds ``folder``'s lock (it is computing or storing that run)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return False
    try:
        return not _lock(fd)
    finally:
        os.close(fd)


def clean_unfinished(store: TwinStore) -> list[str]:
    """Remove what runs that stopped half-way left in ``runs/`` (a server or command killed
    while computing or storing): working folders (``.ID.partial``, ``.ID.reproduce``) and
    complete folders of runs that were never recorded — their jobs said nothing was
    stored. Folders another process is working in are left alone. Returns what went."""
    if not store.runs_dir.is_dir():
        return []
    recorded = {r.id for r in store.runs()}
    gone = []
    for folder in sorted(store.runs_dir.iterdir()):
        if not folder.is_dir():
            continue
        unfinished = folder.name.startswith(".") and folder.name.endswith(
            (".partial", ".reproduce")
        )
        if (unfinished or folder.name not in recorded) and not _held(folder):
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder.name)
    return gone


def _execute(store, model, scenario, checked, box, progress, cluster=None) -> ModelResult:
    ctx = RunContext(store, scenario, checked, box, progress or (lambda f, what: None))
    result = model.run(ctx) if cluster is None else _execute_on(cluster, store, model, ctx)
    if not isinstance(result, ModelResult):
        raise TweelingError(f"model {model.info.name} returned {type(result).__name__}")
    return result


def _execute_on(cluster: Cluster, store, model, ctx: RunContext) -> ModelResult:
    """The run's tiles on a Dask cluster. Workers read the store on their own, over time:
    should the inputs change meanwhile (an edit to a live scenario), the result would mix
    two states, so the input hashes are taken again afterwards and must not have moved."""
    from tweeling.services import cluster as dask_runs

    before = _input_hashes(store, model, ctx.scenario)
    with dask_runs.connect(cluster) as client:
        result = dask_runs.run_on_cluster(client, store, model, ctx)
    if _input_hashes(store, model, ctx.scenario) != before:
        raise TweelingError(
            f"the inputs of {model.info.name} changed while {cluster.describe()} computed it "
            "(someone edited the scenario); run it again, or on a frozen version NAME@LABEL"
        )
    return result


def _input_hashes(store: TwinStore, model: Model, scenario: str | None) -> dict[str, str]:
    view = store.view(scenario)
    return {layer: store.content_hash(view=view, layers=[layer]) for layer in model.info.inputs}


def write_result(result: ModelResult, folder: Path) -> tuple[str, dict[str, Any]]:
    """Write a result's files into ``folder`` (made when missing, emptied when not); return
    its result hash and output summary."""
    if folder.is_dir():  # keep the folder itself: its lock (see _working) stays held
        for old in folder.iterdir():
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256(b"tweeling-result/1\n")
    outputs: dict[str, Any] = {}
    for name, grid in sorted(result.grids.items()):
        values = np.asarray(grid.values, dtype="<f4")
        meta = [name, list(values.shape), grid.origin_x, grid.origin_y, grid.cell_m, grid.unit]
        h.update(_canonical(meta) + values.tobytes())
        path = folder / f"{name}.tif"
        _write_geotiff(path, values, grid)
        finite = values[np.isfinite(values)]
        outputs[name] = {
            "kind": "grid",
            "file": path.name,
            "unit": grid.unit,
            "cell_m": grid.cell_m,
            "shape": list(values.shape),
            "min": round(float(finite.min()), 4) if finite.size else None,
            "max": round(float(finite.max()), 4) if finite.size else None,
        }
    for name, rows in sorted(result.objects.items()):
        text = _canonical(rows)
        h.update(_canonical(name) + text)
        (folder / f"{name}.json").write_bytes(text)
        outputs[name] = {"kind": "objects", "file": f"{name}.json", "count": len(rows)}
    if result.indicators:
        text = _canonical(result.indicators)
        h.update(b"indicators" + text)
        (folder / "indicators.json").write_bytes(text)
        with open(folder / "indicators.csv", "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["indicator", "value", "unit"])
            for key, item in sorted(result.indicators.items()):
                out.writerow([key, item.get("value"), item.get("unit", "")])
        outputs["indicators"] = {"kind": "indicators", "file": "indicators.csv"}
    return h.hexdigest(), outputs


def _write_geotiff(path: Path, values: np.ndarray, grid: Grid) -> None:
    import rasterio
    from rasterio.transform import from_origin

    profile = {
        "driver": "GTiff",
        "height": values.shape[0],
        "width": values.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": RD_NEW,
        "transform": from_origin(grid.origin_x, grid.origin_y, grid.cell_m, grid.cell_m),
        "nodata": grid.nodata,
        "compress": "deflate",
        "tiled": values.shape[0] >= 256 and values.shape[1] >= 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
        dst.update_tags(unit=grid.unit)


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
