"""Consultation rounds over HTTP: the round, its comments (GeoJSON in CRS84, threaded, with
supports), moderation, participants' variants, what the alternatives and variants mean at
an address, and the round's report (JSON and HTML). Thin over
:mod:`tweeling.services.participation`; see docs/participation.md.
"""

from __future__ import annotations

from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tweeling.api import crs, deps, html
from tweeling.api import resource_support as rs
from tweeling.api.intervention_body import _coordinates
from tweeling.core import access
from tweeling.core.crs import CRS84, normalise_crs
from tweeling.core.errors import InputError
from tweeling.core.participation import EDIT_WINDOW_S, Comment, Round
from tweeling.core.people import Principal
from tweeling.core.timeaxis import from_text, utc_now
from tweeling.services import participation as pt
from tweeling.sources.geojson_geometry import check_lonlat, read_geometry

router = APIRouter(tags=["participation"])
RoundId = Annotated[int, Path(ge=1, le=2**62)]
CommentId = Annotated[int, Path(ge=1, le=2**62)]
Reader = Annotated[Principal, Depends(deps.READ)]
Writer = Annotated[Principal, Depends(deps.SIGNED_IN)]


class NewRound(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=200)
    question: str = Field(max_length=4000)
    opens_at: str = Field(max_length=40, description="RFC 3339 (or a date)")
    closes_at: str = Field(max_length=40)
    alternatives: list[str] = Field(max_length=10, description="published scenarios")
    allowed: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=20,
        description="what variants may change: {kind, layer, fields?, lower_only?, title?}",
    )
    documents: list[dict[str, str]] = Field(default_factory=list, max_length=20)
    variant_quota: int = Field(3, ge=0, le=20)


class RoundChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=200)
    question: str | None = Field(None, max_length=4000)
    opens_at: str | None = Field(None, max_length=40)
    closes_at: str | None = Field(None, max_length=40)
    alternatives: list[str] | None = Field(None, max_length=10)
    allowed: list[dict[str, Any]] | None = Field(None, max_length=20)
    documents: list[dict[str, str]] | None = Field(None, max_length=20)
    variant_quota: int | None = Field(None, ge=0, le=20)


class NewComment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=5000)
    theme: str | None = Field(None, max_length=20)
    scenario: str | None = Field(None, max_length=130, description="alternative or variant")
    parent: int | None = Field(None, ge=1, le=2**62, description="the comment it answers")
    geometry: dict[str, Any] | None = Field(
        None, description="GeoJSON point, line or area in CRS84 (lon, lat)"
    )
    object: str | None = Field(None, max_length=300, description="LAYER/ID it is about")


class CommentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(max_length=5000)
    theme: str | None = Field(None, max_length=20)


class Moderation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden: bool
    reason: str = Field("", max_length=1000)


class NewVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alternative: str = Field(max_length=130)
    description: str = Field("", max_length=2000)


class Publicity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public: bool


# ---------------------------------------------------------------------------- documents


def round_json(store, p: Principal, r: Round, base: str) -> dict[str, Any]:
    url = f"{base}/rounds/{r.id}"
    return {
        "id": r.id,
        "title": r.title,
        "question": r.question,
        "opens_at": r.opens_at,
        "closes_at": r.closes_at,
        "state": r.state(pt._now()),
        "alternatives": [
            {
                "scenario": name,
                "description": store.scenarios.info(name).description,
                "href": f"{base}/scenarios/{name}",
            }
            for name in r.alternatives
        ],
        "allowed": [a.to_dict() for a in r.allowed],
        "documents": list(r.documents),
        "variant_quota": r.variant_quota,
        "variants": pt.variants_visible(store, p, r),
        "created_by": r.created_by,
        "created": r.created_at,
        "updated": r.updated_at,
        "may": {
            "comment": p.signed_in and p.scope == "write",
            "variant": bool(r.allowed) and access.may(p, "variant.create"),
            "moderate": access.may(p, "comment.moderate"),
            "manage": access.may(p, "round.manage"),
        },
        "links": [
            {"href": url, "rel": "self", "type": "application/json"},
            {"href": f"{url}/comments", "rel": "comments", "type": "application/geo+json"},
            {"href": f"{url}/report", "rel": "report", "type": "application/json"},
            {"href": f"{url}/report?f=html", "rel": "report", "type": "text/html"},
        ],
    }


def comment_feature(c: Comment, p: Principal) -> dict[str, Any]:
    editable = (
        not c.hidden
        and p.person_id is not None
        and c.author_id == p.person_id
        and (utc_now() - from_text(c.created_at)).total_seconds() <= EDIT_WINDOW_S
    )
    return {
        "type": "Feature",
        "id": c.id,
        "geometry": rs.geojson(c.geometry) if c.geometry is not None else None,
        "properties": {
            "id": c.id,
            "round": c.round_id,
            "scenario": c.scenario,
            "parent": c.parent_id,
            "author": c.author,
            "mine": p.person_id is not None and c.author_id == p.person_id,
            "body": c.body,
            "theme": c.theme,
            "object": c.object,
            "created": c.created_at,
            "edited": c.edited_at,
            "hidden": c.hidden,
            "hidden_reason": c.hidden_reason if c.body else None,
            "supports": c.supports,
            "supported_by_me": c.supported_by_me,
            "can_edit": editable,
        },
    }


def _geometry(raw: dict[str, Any] | None, limits) -> Any:
    if raw is None:
        return None
    if _coordinates(raw) > limits.max_vertices:
        raise InputError(f"at most {limits.max_vertices} vertices", field="geometry")
    rs.check_numbers(raw, "geometry")
    check_lonlat(raw, "request", "comment")
    g = read_geometry(raw, normalise_crs(CRS84), "request", "comment")
    if g is None or g.is_empty:
        raise InputError("an empty geometry", field="geometry")
    return g


# ---------------------------------------------------------------------------- rounds


@router.get("/rounds", summary="Consultation rounds")
def list_rounds(ws: deps.Twin, base: deps.BaseUrl, p: Reader) -> Response:
    return rs.reply(
        {"rounds": [round_json(ws.store, p, r, base) for r in pt.visible_rounds(ws.store, p)]}
    )


@router.post(
    "/rounds",
    summary="Open a consultation round about published scenarios",
    status_code=201,
    responses=rs.ERRORS,
)
def create_round(
    ws: deps.Twin,
    base: deps.BaseUrl,
    p: Annotated[Principal, Depends(deps.role("round.manage"))],
    body: Annotated[NewRound, Body()],
) -> Response:
    rs.check_numbers(body.model_dump(), "body")
    r = pt.open_round(ws.store, **body.model_dump())
    return rs.reply(round_json(ws.store, p, r, base), 201, {"Location": f"{base}/rounds/{r.id}"})


@router.get("/rounds/{round_id}", summary="One round: question, alternatives, variants")
def get_round(ws: deps.Twin, base: deps.BaseUrl, p: Reader, round_id: RoundId) -> Response:
    return rs.reply(round_json(ws.store, p, pt.visible_round(ws.store, p, round_id), base))


@router.patch("/rounds/{round_id}", summary="Change a round", responses=rs.ERRORS)
def change_round(
    ws: deps.Twin,
    base: deps.BaseUrl,
    p: Annotated[Principal, Depends(deps.role("round.manage"))],
    round_id: RoundId,
    body: Annotated[RoundChange, Body()],
) -> Response:
    changes = body.model_dump(exclude_none=True)
    rs.check_numbers(changes, "body")
    pt.visible_round(ws.store, p, round_id)
    r = pt.update_round(ws.store, round_id, **changes)
    return rs.reply(round_json(ws.store, p, r, base))


# ---------------------------------------------------------------------------- comments


@router.get(
    "/rounds/{round_id}/comments",
    summary="The round's comments as GeoJSON (CRS84), oldest first",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def list_comments(
    ws: deps.Twin,
    p: Reader,
    round_id: RoundId,
    scenario: Annotated[str | None, Query(max_length=130)] = None,
) -> Response:
    found = pt.shown_comments(ws.store, p, round_id, scenario)
    body = {"type": "FeatureCollection", "features": [comment_feature(c, p) for c in found]}
    return Response(
        rs.reply(body).body,
        media_type="application/geo+json",
        headers={"Cache-Control": "private, no-cache"},
    )


@router.post(
    "/rounds/{round_id}/comments",
    summary="Comment, pinned to a place or object if you like",
    status_code=201,
    responses={**rs.ERRORS, **rs.CONFLICT, 429: {}},
)
def add_comment(
    request: Request,
    ws: deps.Twin,
    base: deps.BaseUrl,
    p: Writer,
    round_id: RoundId,
    body: Annotated[NewComment, Body()],
) -> Response:
    limits = deps.settings(request)
    c = pt.add_comment(
        ws.store,
        round_id,
        body.body,
        theme=body.theme,
        scenario=body.scenario,
        parent_id=body.parent,
        geometry=_geometry(body.geometry, limits),
        obj=body.object,
        per_hour=limits.comments_per_hour_per_person,
    )
    url = f"{base}/rounds/{round_id}/comments/{c.id}"
    return rs.reply(comment_feature(c, p), 201, {"Location": url})


@router.get("/rounds/{round_id}/comments/{comment_id}", summary="One comment")
def get_comment(ws: deps.Twin, p: Reader, round_id: RoundId, comment_id: CommentId) -> Response:
    for c in pt.shown_comments(ws.store, p, round_id):
        if c.id == comment_id:
            return rs.reply(comment_feature(c, p))
    raise pt.NotFoundError(f"no comment {comment_id} in round {round_id}")


@router.patch(
    "/comments/{comment_id}",
    summary="Edit your comment (within 15 minutes)",
    responses={**rs.ERRORS, **rs.CONFLICT},
)
def edit_comment(
    ws: deps.Twin, p: Writer, comment_id: CommentId, body: Annotated[CommentChange, Body()]
) -> Response:
    c = pt.edit_comment(ws.store, comment_id, body.body, body.theme)
    return rs.reply(comment_feature(c, p))


@router.put(
    "/comments/{comment_id}/support",
    summary="Support a comment (one support per person)",
    responses={**rs.ERRORS, **rs.CONFLICT},
)
def add_support(ws: deps.Twin, p: Writer, comment_id: CommentId) -> Response:
    return rs.reply(comment_feature(pt.support(ws.store, comment_id, True), p))


@router.delete(
    "/comments/{comment_id}/support", summary="Withdraw your support", responses=rs.ERRORS
)
def remove_support(ws: deps.Twin, p: Writer, comment_id: CommentId) -> Response:
    return rs.reply(comment_feature(pt.support(ws.store, comment_id, False), p))


@router.put(
    "/comments/{comment_id}/hidden",
    summary="Hide a comment with a reason, or show it again (moderators)",
    responses=rs.ERRORS,
)
def moderate(
    ws: deps.Twin,
    p: Annotated[Principal, Depends(deps.role("comment.moderate"))],
    comment_id: CommentId,
    body: Annotated[Moderation, Body()],
) -> Response:
    c = pt.moderate(ws.store, comment_id, hide=body.hidden, reason=body.reason)
    return rs.reply(comment_feature(c, p))


# ---------------------------------------------------------------------------- variants


@router.post(
    "/rounds/{round_id}/variants",
    summary="Propose a variant: a copy of an alternative that you change as the round allows",
    status_code=201,
    responses={**rs.ERRORS, **rs.CONFLICT, 429: {}},
)
def create_variant(
    ws: deps.Twin,
    base: deps.BaseUrl,
    p: Annotated[Principal, Depends(deps.role("variant.create"))],
    round_id: RoundId,
    body: Annotated[NewVariant, Body()],
) -> Response:
    name = pt.fork_variant(ws.store, round_id, body.alternative, description=body.description)
    from tweeling.api.scenario_routes import _rights, scenario_json

    info = ws.store.scenarios.info(name)
    extra = _rights(ws.store, p, info, ws.store.people.scenario_access)
    return rs.reply(scenario_json(info, base, extra), 201, {"Location": f"{base}/scenarios/{name}"})


@router.put(
    "/rounds/{round_id}/variants/{name}/public",
    summary="Make your variant public within the round, or private again",
    responses=rs.ERRORS,
)
def put_variant_public(
    ws: deps.Twin,
    p: Writer,
    round_id: RoundId,
    name: Annotated[str, Path(max_length=130)],
    body: Annotated[Publicity, Body()],
) -> Response:
    v = ws.store.rounds.variant(rs.ref(name))
    if v is None or v.round_id != round_id:
        raise pt.NotFoundError(f"no variant {name!r} in round {round_id}")
    pt.set_variant_public(ws.store, name, body.public)
    return rs.reply({"scenario": name, "round": round_id, "public": body.public})


# ---------------------------------------------------------------------------- address, report


@router.get(
    "/rounds/{round_id}/address",
    summary="What each alternative and variant means at a point or building",
    responses=rs.ERRORS,
)
def address(
    ws: deps.Twin,
    p: Reader,
    round_id: RoundId,
    point: Annotated[str | None, Query(description="lon,lat (CRS84) or x,y in point-crs")] = None,
    building: Annotated[str | None, Query(max_length=200, description="a building id")] = None,
    point_crs: Annotated[str | None, Query(alias="point-crs")] = None,
    date: Annotated[str | None, Query(description="norms in force on (YYYY-MM-DD)")] = None,
) -> Response:
    if (point is None) == (building is None):
        raise InputError("give a point or a building", field="point")
    if point is not None:
        x, y = rs.point(point, crs.check(point_crs, "point-crs"))
    else:
        found = ws.store.lookup("buildings", [building]).get(building)
        if found is None or found.geometry is None:
            raise pt.NotFoundError(f"no building {building[:80]!r}")
        c = found.geometry.representative_point()
        x, y = c.x, c.y
    out = pt.at_address(ws.store, p, round_id, x, y, rs.day(date))
    lonlat = rs.geojson(shapely.Point(x, y))["coordinates"]
    return rs.reply({"point": {"lon": lonlat[0], "lat": lonlat[1], "x_rd": x, "y_rd": y}, **out})


@router.get("/rounds/{round_id}/report", summary="The round's report (JSON or HTML)")
def report(
    request: Request,
    ws: deps.Twin,
    p: Reader,
    round_id: RoundId,
    f: Annotated[str | None, Query(description="json or html")] = None,
    lang: Annotated[str | None, Query(description="nl or en")] = None,
) -> Response:
    lang = html.check_lang(lang)
    rep = pt.report(ws.store, p, round_id)
    base = deps.base_url(request)
    doc = {
        "round": round_json(ws.store, p, rep.round, base),
        "state": rep.state,
        "comments": len(rep.comments),
        "supports": sum(c.supports for c in rep.comments),
        "by_theme": rep.by_theme,
        "by_place": rep.by_place,
        "most_supported": [
            comment_feature(c, p)["properties"]
            for c in sorted(rep.comments, key=lambda c: (-c.supports, c.id))[:20]
        ],
        "variants": rep.variants,
        "indicators": rep.indicators,
    }
    if not html.wants_html(request, f):
        return rs.reply(doc)
    t = html.LABELS[lang]
    return html.page(
        request,
        "round_report.html",
        lang,
        title=f"{t['round_report']}: {rep.round.title}",
        crumbs=[(t["api"], html.link(request, "/", lang)), (t["round_report"], None)],
        doc=doc,
        links=[],
    )
