"""Scenarios as JSON resources: list, one, its intervention log, its diff; creating a draft
scenario and applying interventions to it (the viewer's "draw an intervention").

Thin over :mod:`tweeling.services.scenarios`; the diff's features are GeoJSON (RFC 7946)
in CRS84 with a ``change`` property.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tweeling.api import resource_support as rs
from tweeling.api.intervention_body import read_items
from tweeling.core.errors import InputError, NotFoundError
from tweeling.services import scenarios as sc
from tweeling.store import gpkg_geometry
from tweeling.store.base import InterventionRecord, ScenarioInfo
from tweeling.store.gpkg_branches import EDITABLE, ConcurrentEdit, check_name

router = APIRouter(tags=["scenarios"])
MAX_DIFF_FEATURES = 10_000


class NewScenario(BaseModel):
    name: str = Field(max_length=200, description="1–64 letters, digits, '_', '.', '-'")
    description: str = Field("", max_length=10_000)
    parent: str = Field("baseline", max_length=200, description="baseline, NAME or NAME@LABEL")
    author: str = Field("", max_length=200)


class NewInterventions(BaseModel):
    interventions: list[Any] = Field(
        min_length=1,
        description="each {kind, layer, id?, title, rationale, geometry, properties} or "
        "{kind: parameter, parameter, value, unit, title, rationale}",
    )
    crs: str | None = Field(
        None, max_length=200, description="CRS of the geometries (default CRS84 lon/lat)"
    )
    author: str = Field("", max_length=200)
    expected_head: int | None = Field(
        None, description="refuse (409) if the scenario changed since this transaction"
    )


def scenario_json(info: ScenarioInfo, base: str) -> dict[str, Any]:
    url = f"{base}/scenarios/{info.name}"
    return {
        "name": info.name,
        "parent": info.parent,
        "status": info.status,
        "description": info.description,
        "author": info.author,
        "created": info.created_at,
        "updated": info.updated_at,
        "interventions": info.interventions,
        "frozen": [
            {
                "label": f.label,
                "ref": f.ref,
                "hash": f.hash,
                "transaction": f.transaction,
                "at": f.at,
                "author": f.author,
                "note": f.note,
            }
            for f in info.frozen
        ],
        "parent_changed_since_base": info.parent_changed_since_base,
        "base_transaction": info.base_transaction,
        "head_transaction": info.head_transaction,
        "links": [
            {"href": url, "rel": "self", "type": "application/json"},
            {"href": f"{url}/interventions", "rel": "interventions"},
            {"href": f"{url}/diff", "rel": "diff"},
            {"href": f"{url}/findings", "rel": "findings"},
            {"href": f"{base}/runs?scenario={info.name}", "rel": "runs"},
        ],
    }


def intervention_json(r: InterventionRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "layer": r.layer,
        "object_id": r.object_id,
        "title": r.title,
        "rationale": r.rationale,
        "author": r.author,
        "at": r.at,
        "transaction": r.transaction,
        "detail": r.detail,
    }


@router.get("/scenarios", summary="The scenarios of the twin", responses=rs.ERRORS)
def list_scenarios(request: Request) -> Response:
    ws, base = rs.twin(request), rs.base(request)
    items = [scenario_json(i, base) for i in ws.store.scenarios.list()]
    return rs.reply({"scenarios": items, "links": [{"href": f"{base}/scenarios", "rel": "self"}]})


@router.post(
    "/scenarios",
    summary="Create a draft scenario",
    status_code=201,
    responses={**rs.ERRORS, **rs.CONFLICT, 201: {"description": "Created; Location names it"}},
)
def create_scenario(request: Request, body: Annotated[NewScenario, Body()]) -> Response:
    ws = rs.twin(request)
    check_name(body.name)
    if any(i.name == body.name for i in ws.store.scenarios.list()):
        return rs.conflict(f"scenario {body.name!r} already exists")
    try:
        ws.store.view(rs.ref(body.parent, "parent"))
    except NotFoundError as exc:  # a wrong field of the body, not a missing resource
        raise InputError(str(exc), field="parent") from None
    info = sc.create_scenario(
        ws.store,
        body.name,
        parent=body.parent,
        author=body.author,
        description=body.description,
    )
    url = f"{rs.base(request)}/scenarios/{info.name}"
    return rs.reply(scenario_json(info, rs.base(request)), 201, {"Location": url})


@router.get("/scenarios/{name}", summary="One scenario (NAME or NAME@LABEL)", responses=rs.ERRORS)
def get_scenario(request: Request, name: str) -> Response:
    ws = rs.twin(request)
    ws.store.view(rs.ref(name))  # an unknown frozen label is a 404 too
    info = ws.store.scenarios.info(name)
    return rs.reply({**scenario_json(info, rs.base(request)), "ref": name})


@router.get(
    "/scenarios/{name}/interventions",
    summary="The scenario's intervention log",
    responses=rs.ERRORS,
)
def list_interventions(request: Request, name: str) -> Response:
    ws = rs.twin(request)
    ws.store.view(rs.ref(name))  # unknown scenarios are a 404, not an empty log
    log = ws.store.scenarios.interventions(name)
    return rs.reply({"scenario": name, "interventions": [intervention_json(r) for r in log]})


@router.post(
    "/scenarios/{name}/interventions",
    summary="Apply interventions to a scenario, all or none",
    status_code=201,
    responses={**rs.ERRORS, **rs.CONFLICT},
)
def add_interventions(
    request: Request, name: str, body: Annotated[NewInterventions, Body()]
) -> Response:
    ws = rs.twin(request)
    view = ws.store.view(rs.ref(name))
    if view.frozen is not None:
        return rs.conflict(f"{name} is a frozen version and never changes")
    if view.is_baseline_head:
        return rs.conflict("the baseline changes only by importing its sources")
    status = ws.store.scenarios.info(name).status
    if status not in EDITABLE:
        return rs.conflict(f"scenario {name!r} is {status}: only draft and shared scenarios change")
    rs.check_numbers(body.interventions, "interventions")
    interventions = read_items(body.interventions, body.crs)
    try:
        report = sc.apply_interventions(
            ws.store, name, interventions, author=body.author, expected_head=body.expected_head
        )
    except ConcurrentEdit as exc:
        return rs.conflict(str(exc))
    base = rs.base(request)
    info = ws.store.scenarios.info(name)
    applied = [
        {
            "kind": iv.kind,
            "layer": iv.layer,
            "id": oid,
            "parameter": iv.parameter,
            "title": iv.title,
        }
        for iv, oid in report.applied
    ]
    body_out = {
        "scenario": name,
        "applied": applied,
        "counts": report.counts,
        "head_transaction": info.head_transaction,
        "links": [
            {"href": f"{base}/scenarios/{name}/interventions", "rel": "interventions"},
            {"href": f"{base}/scenarios/{name}/diff", "rel": "diff"},
        ],
    }
    return rs.reply(body_out, 201, {"Location": f"{base}/scenarios/{name}/interventions"})


@router.get(
    "/scenarios/{name}/diff",
    summary="What the scenario changes, per layer (against its parent or another scenario)",
    responses=rs.ERRORS,
)
def diff(
    request: Request,
    name: str,
    against: Annotated[
        str | None, Query(description="baseline, NAME or NAME@LABEL; default: its parent")
    ] = None,
    features: Annotated[
        bool, Query(description="add the changed features as GeoJSON (CRS84)")
    ] = False,
) -> Response:
    ws = rs.twin(request)
    rs.ref(name)
    d = (
        sc.diff_scenarios(ws.store, name)
        if against is None
        else (sc.diff_scenarios(ws.store, rs.ref(against, "against"), name))
    )
    layers = {}
    for layer, changes in d.layers.items():
        per: dict[str, Any] = {"added": [], "modified": [], "removed": [], "attributes": {}}
        for c in changes:
            per[c.kind].append(c.id)
            if c.kind == "modified":
                per["attributes"][c.id] = list(c.attributes)
        layers[layer] = per
    out: dict[str, Any] = {
        "from": d.a,
        "to": d.b,
        "counts": d.counts(),
        "layers": layers,
        "parameters": [
            {"name": p.id, "change": p.kind, "before": p.before, "after": p.after}
            for p in d.parameters
        ],
    }
    if features:
        out["features"], out["features_truncated"] = _features(d)
    return rs.reply(out)


def _features(d: sc.ScenarioDiff) -> tuple[dict[str, Any], bool]:
    """The changed objects as a FeatureCollection: after the change, or as they were for
    removed objects."""
    picked = [(layer, c) for layer, changes in d.layers.items() for c in changes][
        : MAX_DIFF_FEATURES + 1
    ]
    truncated = len(picked) > MAX_DIFF_FEATURES
    picked = picked[:MAX_DIFF_FEATURES]
    contents = [c.before if c.kind == "removed" else c.after for _, c in picked]
    geoms = gpkg_geometry.decode([x.get("geometry") for x in contents]) if contents else []
    feats = []
    for (layer, c), content, geom in zip(picked, contents, geoms, strict=True):
        props = rs.properties({k: v for k, v in content.items() if k != "geometry"})
        feats.append(
            {
                "type": "Feature",
                "id": f"{layer}/{c.id}",
                "geometry": rs.geojson(geom),
                "properties": {**props, "layer": layer, "object_id": c.id, "change": c.kind},
            }
        )
    return {"type": "FeatureCollection", "features": feats}, truncated
