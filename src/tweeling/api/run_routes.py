"""Model runs and their results as JSON resources: run summaries, one run's provenance,
its output files, a grid as a map overlay (MapLibre ``image`` source + RGBA PNG with a class
legend) and values per object (to colour buildings by a result).

Thin over :mod:`tweeling.services.results` and :mod:`tweeling.services.rendering`.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response

from tweeling.api import deps
from tweeling.api import resource_support as rs
from tweeling.core.errors import InputError, NotFoundError, TweelingError
from tweeling.core.records import RunRecord
from tweeling.services import permissions, rendering, results

router = APIRouter(tags=["runs"])
# Run files never change once written (a run's id is the hash of its inputs); "private":
# a run of a draft is for the people who may read that draft, not for shared caches.
CACHE = {"Cache-Control": "private, max-age=3600"}


def _current_ids(store, runs: list[RunRecord]) -> set[str]:
    ids: set[str] = set()
    for ref in {r.scenario for r in runs}:
        try:
            ids |= {r.id for r in results.current_runs(store, ref).values()}
        except TweelingError:  # runs of a scenario deleted since
            continue
    return ids


def _summary(run: RunRecord, base: str, current: bool) -> dict[str, Any]:
    url = f"{base}/runs/{run.id}"
    return {
        "id": run.id,
        "model": run.model,
        "model_version": run.model_version,
        "scenario": run.scenario,
        "started_at": run.started_at,
        "duration_s": run.duration_s,
        "result_hash": run.result_hash,
        "current": current,
        "extent": list(run.extent),
        "bbox": rs.bbox84(run.extent),
        "outputs": {
            name: {k: o.get(k) for k in ("kind", "unit") if k in o}
            for name, o in run.outputs.items()
        },
        "links": [{"href": url, "rel": "self", "type": "application/json"}],
    }


@router.get(
    "/runs",
    summary="Model runs of the scenarios the person may read (filter by scenario and model)",
    responses=rs.ERRORS,
    dependencies=[Depends(deps.READ)],
)
def list_runs(
    request: Request,
    p: deps.Who,
    scenario: Annotated[str | None, Query(description="baseline, NAME or NAME@LABEL")] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    ws = deps.twin(request)
    names = permissions.readable_names(ws.store, p)
    runs = [r for r in ws.store.runs(model=model) if permissions.can_read_ref(names, r.scenario)]
    if scenario is not None:
        rs.ref(scenario)
        runs = [r for r in runs if r.scenario == scenario]
    current = _current_ids(ws.store, runs)
    base = deps.base_url(request)
    return rs.reply({"runs": [_summary(r, base, r.id in current) for r in runs]})


@router.get("/runs/{run_id}", summary="One run: provenance, outputs, links", responses=rs.ERRORS)
def get_run(request: Request, run: deps.ReadableRun) -> Response:
    ws = deps.twin(request)
    base = deps.base_url(request)
    url = f"{base}/runs/{run.id}"
    links = [
        {"href": url, "rel": "self", "type": "application/json"},
        # who ran it, when, from which inputs: the run's audit entry (W3C PROV-O: f=prov)
        {"href": f"{base}/audit?object=runs/{run.id}", "rel": "audit", "title": "audit log"},
    ]
    for name, o in run.outputs.items():
        links.append({"href": f"{url}/outputs/{name}", "rel": "output", "title": name})
        if o.get("kind") == "grid":
            links.append({"href": f"{url}/outputs/{name}/overlay", "rel": "overlay", "title": name})
        elif o.get("kind") == "objects":
            links.append({"href": f"{url}/objects?output={name}", "rel": "objects", "title": name})
    body = {
        **run.to_dict(),
        "current": run.id in _current_ids(ws.store, [run]),
        "bbox": rs.bbox84(run.extent),
        "links": links,
    }
    return rs.reply(body)


@router.get(
    "/runs/{run_id}/outputs/{name}",
    summary="An output file: GeoTIFF (RD New), JSON or CSV",
    responses={**rs.ERRORS, 200: {"content": {"image/tiff": {}, "text/csv": {}}}},
)
def output(request: Request, run: deps.ReadableRun, name: str) -> Response:
    ws = deps.twin(request)
    path, media = results.output_file(ws.store, run, name)
    return FileResponse(path, media_type=media, filename=path.name, headers=CACHE)


def _grid_legend(ws, run: RunRecord, name: str):
    g = results.grid(ws.store, run, name)
    finite = g.values[np.isfinite(g.values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
    return run, g, rendering.legend(g.unit, lo, hi)


@router.get(
    "/runs/{run_id}/outputs/{name}/overlay",
    summary="A grid as a MapLibre image source: PNG url, corners in CRS84, legend",
    responses=rs.ERRORS,
)
def overlay(request: Request, run: deps.ReadableRun, name: str) -> Response:
    ws = deps.twin(request)
    run, g, classes = _grid_legend(ws, run, name)
    url = f"{deps.base_url(request)}/runs/{run.id}/outputs/{name}/image.png"
    return rs.reply(
        {
            "url": url,
            "coordinates": rendering.corners_crs84(g),
            "legend": [c.to_dict() for c in classes],
            "unit": g.unit,
            "title": f"{name} ({run.model}, {run.scenario})",
            "run": run.id,
            "output": name,
            "cell_m": g.cell_m,
        },
        headers=CACHE,
    )


@router.get(
    "/runs/{run_id}/outputs/{name}/image.png",
    summary="A grid rendered as RGBA PNG (one pixel per cell; no value = transparent)",
    responses={**rs.ERRORS, 200: {"content": {"image/png": {}}}},
)
def image(request: Request, run: deps.ReadableRun, name: str) -> Response:
    ws = deps.twin(request)
    _, g, classes = _grid_legend(ws, run, name)
    return Response(rendering.png(g, classes), media_type="image/png", headers=CACHE)


@router.get(
    "/runs/{run_id}/objects",
    summary="Values per object of a per-object output (e.g. facade Lden per building)",
    responses=rs.ERRORS,
)
def objects(
    request: Request,
    run: deps.ReadableRun,
    output: Annotated[
        str | None, Query(description="the output; default: the run's only per-object output")
    ] = None,
) -> Response:
    ws = deps.twin(request)
    names = [k for k, o in run.outputs.items() if o.get("kind") == "objects"]
    if output is None:
        if len(names) != 1:
            raise InputError(f"name the output: one of {', '.join(names) or '—'}", field="output")
        output = names[0]
    if output not in names:
        raise NotFoundError(f"run {run.id} has no per-object output {output[:80]!r}")
    rows = results.object_rows(ws.store, run, output)
    layers = sorted({str(r.get("layer")) for r in rows})
    values: dict[str, dict[str, Any]] = {}
    units: dict[str, str | None] = {}
    for r in rows:
        key = str(r.get("id")) if len(layers) == 1 else f"{r.get('layer')}/{r.get('id')}"
        fields = {k: v for k, v in r.items() if k not in ("layer", "id")}
        values[key] = fields
        for k, v in fields.items():
            if v is not None and k not in units:
                units[k] = results.field_unit(k, v)
    return rs.reply(
        {
            "run": run.id,
            "model": run.model,
            "scenario": run.scenario,
            "output": output,
            "layers": layers,
            "keyed_by": "id" if len(layers) == 1 else "layer/id",
            "units": units,
            "objects": values,
        },
        headers=CACHE,
    )
