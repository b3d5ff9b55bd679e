"""OGC API - Processes - Part 1: Core (OGC 18-062r2): the impact models as processes.

``/processes`` lists the models (process id = model name), ``/processes/{id}`` describes one
(§7.10: inputs as JSON Schema per parameter with unit, default and range, plus ``scenario``
and ``extent``; outputs with units; methods and limitations as metadata), and
``/processes/{id}/execution`` runs one (§7.11): everything is checked before a job exists
(a bad input is a 400 naming it, and no job); ``Prefer: respond-async`` (RFC 7240) gives
``201 Created`` with a ``Location`` of the job, otherwise the request waits and returns the
results document. Jobs (§7.12–7.13, §11 job list, §13 dismiss) are ``services.jobs``; a job
makes an ordinary run, linked as ``/runs/{runId}`` and ``/runs/{runId}/outputs/{name}``.
"""

from __future__ import annotations

import asyncio
import math
import threading
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tweeling.api import crs, deps
from tweeling.api.resource_support import check_numbers
from tweeling.api.resource_support import ref as scenario_ref
from tweeling.core import access
from tweeling.core.crs import RD_BOUNDS
from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.people import Principal
from tweeling.core.timeaxis import parse_time
from tweeling.models import registry
from tweeling.models.base import ModelInfo, Parameter
from tweeling.services import jobs as job_service
from tweeling.services import permissions
from tweeling.services.jobs import Job, JobQueue
from tweeling.services.runs import prepare

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
]
EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
JSON = "application/json"
MAX_LIMIT = 10_000  # OGC 18-062r2 /req/core/pl-limit-definition, /req/job-list/limit-definition
RESERVED = ("scenario", "extent")  # inputs of every process, beside the model's parameters
MEDIA = {"grid": "image/tiff; application=geotiff", "objects": JSON, "indicators": JSON}


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Open the job queue at start-up (jobs a dead server left behind are marked failed) and
    stop its worker at shutdown."""
    queue = _queue_of(app)
    try:
        yield
    finally:
        with _queue_lock:
            # a stopped queue accepts no jobs: an app started again opens a new one
            if getattr(app.state, "jobs", None) is queue:
                app.state.jobs = None
        await run_in_threadpool(queue.close)


router = APIRouter(lifespan=_lifespan)
_queue_lock = threading.Lock()


def _queue_of(app: FastAPI) -> JobQueue:
    # Also without a lifespan (TestClient used without ``with``): made on first use, stopped
    # at interpreter exit.
    with _queue_lock:
        found = getattr(app.state, "jobs", None)
        if found is None:
            limits = app.state.settings
            twins = app.state.twins
            found = app.state.jobs = JobQueue(
                twins.root,
                active_limit=limits.jobs_active_per_person,
                hourly_limit=limits.jobs_per_hour_per_person,
                store_of=lambda: twins.get().store,
                cluster=limits.cluster,
            )
        return found


class Execute(BaseModel):
    """An execute request (OGC 18-062r2 execute.yaml); outputs are always all returned, as a
    results document."""

    model_config = ConfigDict(extra="forbid")  # an unknown member is a 400 naming it

    inputs: dict[str, Any] = Field(
        description="parameter name -> value; 'scenario' (NAME or NAME@LABEL) and 'extent' "
        "(required: an empty object runs the model with its defaults on the baseline)",
    )
    outputs: dict[str, Any] | None = None
    response: str | None = Field(None, description="'document' (the only one served)")
    subscriber: dict[str, Any] | None = Field(
        None, description="OGC callbacks: not offered (a 400 if given)"
    )


# ---------------------------------------------------------------------------- helpers


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def _exception(status: int, kind: str, title: str, detail: str) -> Response:
    """An OGC exception (exception.yaml), which is an RFC 9457 problem document; ``kind`` is
    an OGC exception type (``no-such-job``) or ``about:blank``."""
    body = {
        "type": kind if kind == "about:blank" else EXCEPTIONS + kind,
        "title": title,
        "status": status,
        "detail": detail,
    }
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


def _model_info(process_id: str) -> ModelInfo | None:
    try:
        return registry.get(process_id).info
    except NotFoundError:
        return None


def _no_process(process_id: str) -> Response:
    known = ", ".join(registry.available()) or "none"
    return _exception(
        404, "no-such-process", "Not Found", f"no process {process_id!r} (known: {known})"
    )


def _no_job(job_id: str) -> Response:
    return _exception(404, "no-such-job", "Not Found", f"no job {job_id!r} (see /jobs)")


def _page(request: Request, path: str, limit: int, offset: int, more: bool) -> list[dict]:
    base = deps.base_url(request)
    links = [{"href": str(request.url), "rel": "self", "type": JSON}]
    if more:
        params = [
            (k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")
        ]
        params += [("limit", str(limit)), ("offset", str(offset + limit))]
        links.append({"href": f"{base}{path}?{urlencode(params)}", "rel": "next", "type": JSON})
    return links


# ---------------------------------------------------------------------------- descriptions


def parameter_schema(p: Parameter) -> dict[str, Any]:
    """A model parameter as a JSON Schema (the OpenAPI 3.0 subset of 18-062r2 §7.10.2)."""
    schema: dict[str, Any]
    if p.type in ("number", "integer"):
        schema = {"type": p.type}
        if p.minimum is not None:
            schema["minimum"] = p.minimum
            if p.exclusive_minimum:
                schema["exclusiveMinimum"] = True  # OpenAPI 3.0: a flag on minimum
        if p.maximum is not None:
            schema["maximum"] = p.maximum
    elif p.type == "boolean":
        schema = {"type": "boolean"}
    elif p.type == "text":
        schema = {"type": "string"}
    else:  # "json": structured values the model checks itself; the default shows the shape
        schema = {"type": "array"} if isinstance(p.default, list) else {"type": "object"}
        schema["contentMediaType"] = JSON
    if p.choices is not None:
        schema["enum"] = list(p.choices)
    if p.default is not None:
        schema["default"] = p.default
    return schema


def _input(p: Parameter) -> dict[str, Any]:
    unit = f" Unit: {p.unit}." if p.unit else ""
    out = {
        "title": p.name,
        "description": p.description.rstrip() + unit,
        "schema": parameter_schema(p),
        "minOccurs": 1 if p.default is None else 0,
        "maxOccurs": 1,
    }
    if p.unit:
        out["unit"] = p.unit
    return out


def _reserved_inputs(area) -> dict[str, dict[str, Any]]:
    box = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
    extent: dict[str, Any] = {
        "title": "extent",
        "description": "The area to compute over: [minx, miny, maxx, maxy] in RD New "
        '(EPSG:28992) metres, or an OGC bounding box {"bbox": [...], "crs": ...} in CRS84 '
        "(its default), RD New or ETRS89. Default: the twin's area.",
        "unit": "m",
        "minOccurs": 0,
        "maxOccurs": 1,
        "schema": {
            "oneOf": [
                box,
                {
                    "type": "object",
                    "format": "ogc-bbox",
                    "required": ["bbox"],
                    "properties": {
                        "bbox": box,
                        "crs": {
                            "type": "string",
                            "enum": list(crs.SUPPORTED),
                            "default": crs.CRS84,
                        },
                    },
                },
            ]
        },
    }
    if area is not None:
        extent["schema"]["default"] = [float(v) for v in area]
    return {
        "scenario": {
            "title": "scenario",
            "description": "The view of the twin to compute on: 'baseline', a scenario NAME "
            "or a frozen version NAME@LABEL. Scenario parameters of a model's parameter name "
            "apply unless given here.",
            "minOccurs": 0,
            "maxOccurs": 1,
            "schema": {"type": "string", "default": "baseline"},
        },
        "extent": extent,
    }


def _outputs(info: ModelInfo) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        "run_id": {
            "title": "run id",
            "description": "The stored run (provenance, files): /runs/{run_id}.",
            "schema": {"type": "string"},
        },
        "result_hash": {
            "title": "result hash",
            "description": "SHA-256 of the result's numbers; 'tweeling reproduce' checks it.",
            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        },
        "run": {
            "title": "run",
            "description": "Link to the stored run.",
            "schema": {"type": "string", "format": "uri", "contentMediaType": JSON},
        },
    }
    for o in info.outputs:
        if o.kind == "grid":
            schema = {
                "type": "string",
                "contentEncoding": "binary",
                "contentMediaType": MEDIA["grid"],
            }
        elif o.kind == "objects":
            schema = {"type": "array", "items": {"type": "object"}, "contentMediaType": JSON}
        else:
            schema = {"type": "object"}
        unit = f" Unit: {o.unit}." if o.unit else ""
        how = " Given inline." if o.kind == "indicators" else " Given as a link."
        out[o.name] = {
            "title": o.name,
            "description": o.description.rstrip() + unit + how,
            "unit": o.unit,
            "schema": schema,
        }
    return out


def _summary(base: str, info: ModelInfo) -> dict[str, Any]:
    return {
        "id": info.name,
        "version": info.version,
        "title": info.title,
        "description": f"Impact model '{info.name}' ({info.theme}); reads "
        + ", ".join(info.inputs),
        "keywords": [info.theme],
        "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
        "links": [
            {
                "href": f"{base}/processes/{info.name}",
                "rel": "self",
                "type": JSON,
                "title": "process description",
            }
        ],
    }


def describe(base: str, info: ModelInfo, area) -> dict[str, Any]:
    """The process description of a model (18-062r2 §7.10, process.yaml)."""
    out = _summary(base, info)
    out["links"] += [
        {"href": f"{base}/processes/{info.name}/execution", "rel": REL + "execute", "type": JSON},
        {"href": f"{base}/jobs?processID={info.name}", "rel": REL + "job-list", "type": JSON},
    ]
    out["metadata"] = [{"role": "method", "value": m} for m in info.methods] + [
        {"role": "limitation", "value": lim} for lim in info.limitations
    ]
    inputs = _reserved_inputs(area)
    for p in info.parameters:
        inputs.setdefault(p.name, _input(p))  # a parameter called scenario/extent is shadowed
    out["inputs"] = inputs
    out["outputs"] = _outputs(info)
    return out


# ---------------------------------------------------------------------------- execution


def _extent(value: Any) -> tuple[float, float, float, float] | None:
    """``extent``: 4 numbers in RD New, or an OGC bbox object in its ``crs``."""
    if value is None:
        return None
    uri = crs.RD
    if isinstance(value, dict):
        unknown = set(value) - {"bbox", "crs"}
        if unknown or "bbox" not in value:
            raise InputError('expected {"bbox": [4 numbers], "crs": URI}', field="extent")
        uri, value = value.get("crs") or crs.CRS84, value["bbox"]
        if not isinstance(uri, str):
            raise InputError(f"crs {uri!r} is not a CRS URI", field="extent")
        uri = crs.check(uri, "extent crs")
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
    ):
        raise InputError(f"{value!r}: expected 4 finite numbers", field="extent")
    try:
        box = crs.bbox_to_rd(",".join(repr(float(v)) for v in value), uri)
    except InputError as exc:
        raise InputError(str(exc), field="extent") from None
    if not (box[0] < box[2] and box[1] < box[3]):
        raise InputError(f"{value}: empty (it needs minx < maxx and miny < maxy)", field="extent")
    lo_x, lo_y, hi_x, hi_y = RD_BOUNDS
    if not (lo_x <= box[0] and lo_y <= box[1] and box[2] <= hi_x and box[3] <= hi_y):
        # a model grids its extent: one reaching far beyond the Netherlands cannot be computed
        raise InputError(f"{value}: reaches outside the RD New domain {RD_BOUNDS}", field="extent")
    return box


def check_inputs(
    store, info: ModelInfo, inputs: dict[str, Any]
) -> tuple[str | None, dict[str, Any], tuple[float, float, float, float] | None]:
    """Every input checked as a run would check it (``services.runs.prepare``), so that bad
    input is refused before a job exists: (scenario, parameters, extent)."""
    check_numbers(inputs, "inputs")
    scenario = inputs.get("scenario")
    if scenario is not None and not isinstance(scenario, str):
        raise InputError(f"{scenario!r} is not a scenario reference", field="scenario")
    if scenario == "baseline":
        scenario = None
    try:
        store.view(scenario)
    except (NotFoundError, InputError) as exc:
        raise InputError(str(exc), field="scenario") from None
    extent = _extent(inputs.get("extent"))
    params = {k: v for k, v in inputs.items() if k not in RESERVED}
    prepare(store, info.name, scenario=scenario, params=params, extent=extent)
    return scenario, params, extent


def _prefers_async(prefer: str | None) -> bool:
    """RFC 7240 ``Prefer``: preferences separated by commas, parameters by semicolons."""
    if not prefer:
        return False
    tokens = (p.split(";")[0].split("=")[0].strip().lower() for p in prefer.split(","))
    return "respond-async" in tokens


def status_info(base: str, job: Job) -> dict[str, Any]:
    """A job's statusInfo (18-062r2 statusInfo.yaml), with the inputs it was given."""
    out: dict[str, Any] = {
        "jobID": job.id,
        "processID": job.process,
        "type": "process",
        "status": job.status,
        "message": job.message,
        "progress": job.progress,
        "created": job.created,
        "updated": job.updated,
    }
    if job.started:
        out["started"] = job.started
    if job.finished:
        out["finished"] = job.finished
    inputs = job.inputs
    out["inputs"] = {
        "scenario": inputs.get("scenario") or "baseline",
        **({"extent": inputs["extent"]} if inputs.get("extent") else {}),
        **inputs.get("parameters", {}),
    }
    links = [
        {"href": f"{base}/jobs/{job.id}", "rel": "self", "type": JSON, "title": "job status"},
        {"href": f"{base}/processes/{job.process}", "rel": "up", "type": JSON},
    ]
    if job.status == "successful":
        links.append(
            {"href": f"{base}/jobs/{job.id}/results", "rel": REL + "results", "type": JSON}
        )
        links.append(
            {"href": f"{base}/runs/{job.result['run_id']}", "rel": "related", "type": JSON}
        )
    out["links"] = links
    return out


def results_document(base: str, job: Job) -> dict[str, Any]:
    """The results of a successful job (18-062r2 results.yaml): the run id and result hash
    and indicators by value, the run and each file output by reference."""
    result = job.result or {}
    run_id = result["run_id"]
    doc: dict[str, Any] = {
        "run_id": run_id,
        "result_hash": result["result_hash"],
        "run": {"href": f"{base}/runs/{run_id}", "type": JSON, "title": "the run"},
    }
    for name, summary in sorted((result.get("outputs") or {}).items()):
        kind = summary.get("kind")
        if kind == "indicators":
            continue
        doc[name] = {
            "href": f"{base}/runs/{run_id}/outputs/{name}",
            "type": MEDIA.get(kind, JSON),
            "title": name,
        }
    if result.get("indicators") is not None:
        doc["indicators"] = result["indicators"]
    return doc


def _not_successful(job: Job) -> Response:
    """Why a finished job has no results: a failure's own message (never a 500)."""
    if job.status == "dismissed":
        return _exception(410, "about:blank", "Gone", f"job {job.id} was dismissed")
    status = 400 if job.failure == job_service.INPUT else 422
    return _exception(status, "about:blank", "Job failed", job.message)


# ---------------------------------------------------------------------------- routes


@router.get(
    "/processes", summary="The impact models, as processes", dependencies=[Depends(deps.READ)]
)
def process_list(
    request: Request,
    limit: Annotated[int, Query(ge=1, description=f"at most {MAX_LIMIT} are returned")] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    limit = min(limit, MAX_LIMIT)
    base = deps.base_url(request)
    models = list(registry.available().values())
    chosen = models[offset : offset + limit]
    links = _page(request, "/processes", limit, offset, offset + limit < len(models))
    links.append({"href": f"{base}/jobs", "rel": REL + "job-list", "type": JSON})
    return _json({"processes": [_summary(base, m.info) for m in chosen], "links": links})


@router.get(
    "/processes/{process_id}",
    summary="One model: inputs, outputs, methods",
    dependencies=[Depends(deps.READ)],
)
def process_description(request: Request, process_id: str) -> Response:
    info = _model_info(process_id)
    if info is None:
        return _no_process(process_id)
    area = deps.twin(request).store.area_of_interest()
    return _json(describe(deps.base_url(request), info, area))


@router.post(
    "/processes/{process_id}/execution",
    summary="Run a model (Prefer: respond-async for a job)",
    status_code=200,
    responses={201: {"description": "job created (with Prefer: respond-async)"}},
)
async def execute(
    request: Request,
    process_id: str,
    p: Annotated[Principal, Depends(deps.SIGNED_IN)],
    body: Execute,
    prefer: Annotated[str | None, Header(description="respond-async for a job")] = None,
) -> Response:
    info = _model_info(process_id)
    if info is None:
        return _no_process(process_id)
    if body.response not in (None, "document"):
        raise InputError(f"{body.response!r}: only 'document' is served", field="response")
    if body.subscriber is not None:
        raise InputError("callbacks are not offered; poll the job instead", field="subscriber")
    # checked in a worker thread: it reads the twin through that thread's workspace
    job = await run_in_threadpool(_submit, request, info, body.inputs, p)
    base = deps.base_url(request)
    location = f"{base}/jobs/{job.id}"
    if _prefers_async(prefer):
        return _json(
            status_info(base, job),
            201,
            {"Location": location, "Preference-Applied": "respond-async"},
        )
    # Waiting holds no thread (many waiting clients must not starve the server's thread
    # pool); shielded, so that a client that leaves does not cancel the shared future.
    queue = _queue_of(request.app)
    await asyncio.shield(asyncio.wrap_future(queue.finished(job.id)))
    job = queue.get(job.id)
    if job.status != "successful":
        return _not_successful(job)
    return _json(results_document(base, job), 200, {"Link": f'<{location}>; rel="monitor"'})


def _submit(request: Request, info: ModelInfo, inputs: dict[str, Any], p: Principal) -> Job:
    store = deps.twin(request).store
    ref = inputs.get("scenario")
    if isinstance(ref, str):  # a scenario they may not read is unknown to them
        try:
            permissions.runnable(store, p, scenario_ref(ref, "scenario"))
        except NotFoundError as exc:
            raise InputError(str(exc), field="scenario") from None
    elif ref is None:
        permissions.runnable(store, p, None)
    scenario, params, extent = check_inputs(store, info, inputs)
    return _queue_of(request.app).submit(
        info.name, scenario=scenario, parameters=params, extent=extent, principal=p
    )


def _visible(p: Principal, job: Job) -> bool:
    """A job is its submitter's (and administrators see every job)."""
    if access.may(p, "jobs.read_all"):
        return True
    if p.person_id is not None:
        return job.person_id == p.person_id
    return p.is_local and job.person_id is None


def _job_of(request: Request, p: Principal, job_id: str) -> Job | None:
    try:
        job = _queue_of(request.app).get(job_id)
    except NotFoundError:
        return None
    return job if _visible(p, job) else None


@router.get("/jobs", summary="The jobs of the person asking, newest first")
def job_list(
    request: Request,
    p: Annotated[Principal, Depends(deps.SIGNED_IN)],
    type_: Annotated[list[str] | None, Query(alias="type")] = None,
    process_id: Annotated[list[str] | None, Query(alias="processID")] = None,
    status: Annotated[list[str] | None, Query(description=", ".join(job_service.STATUSES))] = None,
    datetime_: Annotated[
        str | None, Query(alias="datetime", description="creation instant or interval a/b")
    ] = None,
    min_duration: Annotated[int | None, Query(alias="minDuration", ge=0)] = None,
    max_duration: Annotated[int | None, Query(alias="maxDuration", ge=0)] = None,
    limit: Annotated[int, Query(ge=1, description=f"at most {MAX_LIMIT} are returned")] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    limit = min(limit, MAX_LIMIT)
    statuses = _split(status)
    bad = [s for s in statuses or () if s not in job_service.STATUSES]
    if bad:
        raise InputError(
            f"status {bad[0]!r}: use {', '.join(job_service.STATUSES)}", field="status"
        )
    lo, hi = _interval(datetime_) if datetime_ else (None, None)
    found = job_service.select(
        [j for j in _queue_of(request.app).jobs() if _visible(p, j)],
        processes=_split(process_id),
        statuses=statuses,
        created_from=lo,
        created_to=hi,
        min_duration_s=min_duration,
        max_duration_s=max_duration,
    )
    types = _split(type_)
    if types is not None and "process" not in types:
        found = []
    base = deps.base_url(request)
    page = found[offset : offset + limit]
    return _json(
        {
            "jobs": [status_info(base, j) for j in page],
            "links": _page(request, "/jobs", limit, offset, offset + limit < len(found)),
        }
    )


def _split(values: list[str] | None) -> list[str] | None:
    """Array query parameters as repeated or comma-separated values."""
    if values is None:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _interval(text: str):
    """OGC ``datetime``: an instant or an interval ``a/b`` with ``..`` or empty open ends."""
    parts = text.split("/")
    if len(parts) == 1:
        t = parse_time(text, what="datetime")
        return t, t
    if len(parts) != 2:
        raise InputError(f"datetime {text!r}: an instant or one interval a/b", field="datetime")
    lo, hi = (None if p.strip() in ("", "..") else parse_time(p, what="datetime") for p in parts)
    if lo and hi and lo > hi:
        raise InputError(f"datetime {text!r}: the interval ends before it starts")
    return lo, hi


@router.get("/jobs/{job_id}", summary="A job's status")
def job_status(
    request: Request, p: Annotated[Principal, Depends(deps.SIGNED_IN)], job_id: str
) -> Response:
    job = _job_of(request, p, job_id)
    if job is None:
        return _no_job(job_id)
    return _json(status_info(deps.base_url(request), job))


@router.get("/jobs/{job_id}/results", summary="A finished job's results")
def job_results(
    request: Request, p: Annotated[Principal, Depends(deps.SIGNED_IN)], job_id: str
) -> Response:
    job = _job_of(request, p, job_id)
    if job is None:
        return _no_job(job_id)
    if not job.done:
        return _exception(
            404, "result-not-ready", "Not Found", f"job {job_id} is {job.status}: no results yet"
        )
    if job.status != "successful":
        return _not_successful(job)
    return _json(results_document(deps.base_url(request), job))


@router.delete("/jobs/{job_id}", summary="Dismiss a job (cancel it, or remove a finished one)")
def job_dismiss(
    request: Request, p: Annotated[Principal, Depends(deps.SIGNED_IN)], job_id: str
) -> Response:
    if _job_of(request, p, job_id) is None:
        return _no_job(job_id)
    access.require_write(p)
    try:
        job = _queue_of(request.app).dismiss(job_id)
    except NotFoundError:
        return _no_job(job_id)
    return _json(status_info(deps.base_url(request), job))
