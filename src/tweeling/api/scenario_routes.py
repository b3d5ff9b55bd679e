"""Scenarios as JSON resources: list, one, its intervention log, its diff; creating a draft
scenario and applying interventions to it (the viewer's "draw an intervention").

Thin over :mod:`tweeling.services.scenarios`; the diff's features are GeoJSON (RFC 7946)
in CRS84 with a ``change`` property.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tweeling.api import deps
from tweeling.api import resource_support as rs
from tweeling.api.intervention_body import read_items
from tweeling.core import access
from tweeling.core.access import Denied
from tweeling.core.branches import EDITABLE, STATUSES, check_name
from tweeling.core.errors import ConcurrentEdit, InputError, NotFoundError
from tweeling.core.people import Principal
from tweeling.core.records import InterventionRecord, ScenarioInfo
from tweeling.services import accounts, participation, permissions
from tweeling.services import scenarios as sc

router = APIRouter(tags=["scenarios"])
MAX_DIFF_FEATURES = 10_000


class NewScenario(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown member is a 400 naming it

    name: str = Field(max_length=200, description="1–64 letters, digits, '_', '.', '-'")
    description: str = Field("", max_length=10_000)
    parent: str = Field("baseline", max_length=200, description="baseline, NAME or NAME@LABEL")


class NewInterventions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interventions: list[Any] = Field(
        min_length=1,
        description="each {kind, layer, id?, title, rationale, geometry, properties} or "
        "{kind: parameter, parameter, value, unit, title, rationale}",
    )
    crs: str | None = Field(
        None, max_length=200, description="CRS of the geometries (default CRS84 lon/lat)"
    )
    expected_head: int | None = Field(
        None, description="refuse (409) if the scenario changed since this transaction"
    )


def scenario_json(
    info: ScenarioInfo, base: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
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
        **(extra or {}),
        "links": [
            {"href": url, "rel": "self", "type": "application/json"},
            {"href": f"{url}/interventions", "rel": "interventions"},
            {"href": f"{url}/diff", "rel": "diff"},
            {"href": f"{url}/findings", "rel": "findings"},
            {"href": f"{base}/runs?scenario={info.name}", "rel": "runs"},
        ],
    }


def _rights(store, p, info: ScenarioInfo, access_of) -> dict[str, Any]:
    """What the person asking may do with it (the viewer shows its controls by these)."""
    s = access_of(info.name)
    public = accounts.twin_public(store)
    return {
        "mine": p.person_id is not None and p.person_id == info.owner_id,
        "round": s.round_id,
        "public_in_round": s.public_in_round if s.round_id is not None else None,
        "can_edit": info.status in EDITABLE and access.can_edit_scenario(p, s),
        "can_run": access.can_run_models(p, s, public),
        "can_publish": access.can_set_status(p, s, "published"),
        "can_share": access.can_share(p, s),
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


@router.get(
    "/scenarios",
    summary="The scenarios of the twin the person asking may read",
    responses=rs.ERRORS,
    dependencies=[Depends(deps.READ)],
)
def list_scenarios(ws: deps.Twin, base: deps.BaseUrl, p: deps.Who) -> Response:
    names = permissions.readable_names(ws.store, p)
    every = ws.store.people.all_scenario_access()
    items = [
        scenario_json(i, base, _rights(ws.store, p, i, every.__getitem__))
        for i in ws.store.scenarios.list()
        if i.name in names
    ]
    return rs.reply({"scenarios": items, "links": [{"href": f"{base}/scenarios", "rel": "self"}]})


@router.post(
    "/scenarios",
    summary="Create a draft scenario (planners, administrators)",
    status_code=201,
    responses={**rs.ERRORS, **rs.CONFLICT, 201: {"description": "Created; Location names it"}},
)
def create_scenario(
    ws: deps.Twin,
    base: deps.BaseUrl,
    p: Annotated[Principal, Depends(deps.role("scenario.create"))],
    body: Annotated[NewScenario, Body()],
) -> Response:
    check_name(body.name)
    if any(i.name == body.name for i in ws.store.scenarios.list()):
        return rs.conflict(f"scenario {body.name!r} already exists")
    try:
        permissions.readable(ws.store, p, rs.ref(body.parent, "parent"))
        ws.store.view(body.parent)
    except (NotFoundError, Denied) as exc:  # a wrong field of the body, not a missing resource
        raise InputError(str(exc), field="parent") from None
    info = sc.create_scenario(ws.store, body.name, parent=body.parent, description=body.description)
    url = f"{base}/scenarios/{info.name}"
    extra = _rights(ws.store, p, info, ws.store.people.scenario_access)
    return rs.reply(scenario_json(info, base, extra), 201, {"Location": url})


@router.get("/scenarios/{name}", summary="One scenario (NAME or NAME@LABEL)", responses=rs.ERRORS)
def get_scenario(
    ws: deps.Twin, base: deps.BaseUrl, p: deps.Who, name: deps.ScenarioPath
) -> Response:
    ws.store.view(name)  # an unknown frozen label is a 404 too
    info = ws.store.scenarios.info(name)
    extra = _rights(ws.store, p, info, ws.store.people.scenario_access)
    return rs.reply({**scenario_json(info, base, extra), "ref": name})


class NewStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(max_length=20, description="draft, shared, published, decided, archived")


@router.put(
    "/scenarios/{name}/status",
    summary="Change a scenario's status (publishing: planners, administrators)",
    responses={**rs.ERRORS, **rs.CONFLICT},
)
def put_status(
    ws: deps.Twin,
    base: deps.BaseUrl,
    p: Annotated[Principal, Depends(deps.SIGNED_IN)],
    name: deps.ScenarioPath,
    body: Annotated[NewStatus, Body()],
) -> Response:
    s = permissions.scenario_access(ws.store, rs.ref(name))
    if ws.store.view(name).frozen is not None:
        return rs.conflict(f"{name} is a frozen version; change the status of the scenario")
    if body.status not in STATUSES:
        raise InputError(f"use one of {', '.join(STATUSES)}", field="status")
    if not access.can_set_status(p, s, body.status):
        raise Denied(f"you may not make scenario {name!r} {body.status}", 403)
    info = sc.set_status(ws.store, name, body.status)
    extra = _rights(ws.store, p, info, ws.store.people.scenario_access)
    return rs.reply(scenario_json(info, base, extra))


@router.delete(
    "/scenarios/{name}",
    summary="Delete a draft scenario (with no scenarios built on it)",
    status_code=204,
    responses={**rs.ERRORS, **rs.CONFLICT},
)
def delete_scenario(ws: deps.Twin, name: deps.EditableScenario) -> Response:
    info = ws.store.scenarios.info(name)
    if info.status != "draft":
        return rs.conflict(f"scenario {name!r} is {info.status}: only drafts are deleted")
    sc.delete_scenario(ws.store, name)
    return Response(status_code=204)


class NewShare(BaseModel):
    model_config = ConfigDict(extra="forbid")

    right: str = Field(max_length=10, description="read or edit")


@router.get("/scenarios/{name}/shares", summary="Whom a scenario is shared with")
def list_shares(
    ws: deps.Twin, p: Annotated[Principal, Depends(deps.SIGNED_IN)], name: deps.ScenarioPath
) -> Response:
    s = permissions.scenario_access(ws.store, rs.ref(name))
    if not access.can_see_shares(p, s):
        raise Denied(f"only the owner of {name!r} and administrators see its shares", 403)
    return rs.reply(
        {
            "scenario": name,
            "shares": [
                {
                    "username": person.username,
                    "display_name": person.display_name,
                    "right": "edit" if edit else "read",
                }
                for person, edit in ws.store.people.shares(rs.ref(name))
            ],
        }
    )


@router.put(
    "/scenarios/{name}/shares/{username}",
    summary="Share a scenario with a person, to read or to edit (owner, administrators)",
    responses=rs.ERRORS,
)
def put_share(
    ws: deps.Twin,
    p: Annotated[Principal, Depends(deps.SIGNED_IN)],
    name: deps.ScenarioPath,
    username: Annotated[str, Path(max_length=64)],
    body: Annotated[NewShare, Body()],
) -> Response:
    s = permissions.scenario_access(ws.store, rs.ref(name))
    if not access.can_share(p, s):
        raise Denied(f"only the owner of {name!r} and administrators share it", 403)
    sc.share_scenario(ws.store, name, username, body.right)
    return rs.reply({"scenario": name, "username": username, "right": body.right})


@router.delete(
    "/scenarios/{name}/shares/{username}",
    summary="Stop sharing a scenario with a person",
    status_code=204,
    responses=rs.ERRORS,
)
def delete_share(
    ws: deps.Twin,
    p: Annotated[Principal, Depends(deps.SIGNED_IN)],
    name: deps.ScenarioPath,
    username: Annotated[str, Path(max_length=64)],
) -> Response:
    s = permissions.scenario_access(ws.store, rs.ref(name))
    if not access.can_share(p, s):
        raise Denied(f"only the owner of {name!r} and administrators share it", 403)
    sc.share_scenario(ws.store, name, username, None)
    return Response(status_code=204)


@router.get(
    "/scenarios/{name}/interventions",
    summary="The scenario's intervention log",
    responses=rs.ERRORS,
)
def list_interventions(ws: deps.Twin, name: deps.ScenarioPath) -> Response:
    ws.store.view(name)  # an unknown frozen label is a 404, not an empty log
    log = ws.store.scenarios.interventions(name)
    return rs.reply({"scenario": name, "interventions": [intervention_json(r) for r in log]})


@router.post(
    "/scenarios/{name}/interventions",
    summary="Apply interventions to a scenario, all or none",
    status_code=201,
    responses={**rs.ERRORS, **rs.CONFLICT},
)
def add_interventions(
    request: Request,
    ws: deps.Twin,
    name: deps.EditableScenario,
    body: Annotated[NewInterventions, Body()],
) -> Response:
    view = ws.store.view(name)
    if view.frozen is not None:
        return rs.conflict(f"{name} is a frozen version and never changes")
    status = ws.store.scenarios.info(name).status
    if status not in EDITABLE:
        return rs.conflict(f"scenario {name!r} is {status}: only draft and shared scenarios change")
    rs.check_numbers(body.interventions, "interventions")
    limits = deps.settings(request)
    interventions = read_items(
        body.interventions,
        body.crs,
        max_items=limits.max_features,
        max_vertices=limits.max_vertices,
    )
    participation.check_variant_edit(ws.store, name, interventions)
    try:
        report = sc.apply_interventions(
            ws.store, name, interventions, expected_head=body.expected_head
        )
    except ConcurrentEdit as exc:
        return rs.conflict(str(exc))
    base = deps.base_url(request)
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
    ws: deps.Twin,
    p: deps.Who,
    name: deps.ScenarioPath,
    against: Annotated[
        str | None, Query(description="baseline, NAME or NAME@LABEL; default: its parent")
    ] = None,
    features: Annotated[
        bool, Query(description="add the changed features as GeoJSON (CRS84)")
    ] = False,
) -> Response:
    if against is not None:
        permissions.readable(ws.store, p, rs.ref(against, "against"))
    d = (
        sc.diff_scenarios(ws.store, name)
        if against is None
        else (sc.diff_scenarios(ws.store, against, name))
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
    feats = []
    for layer, c in picked:
        content = c.before if c.kind == "removed" else c.after
        geom = content.get("geometry")  # shapely: the diff service decodes
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
