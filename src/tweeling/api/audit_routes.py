"""The audit log over HTTP: entries filtered by person, scenario, object, action and period
(as JSON, or as W3C PROV-O in JSON-LD), the head to copy elsewhere as an anchor, and a
verification of the whole chain. Who sees what: :func:`services.audit.visible_entries`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from tweeling.api import deps
from tweeling.api import resource_support as rs
from tweeling.core.audit import parse_anchor
from tweeling.core.errors import InputError
from tweeling.core.people import Principal
from tweeling.core.records import AuditFilter
from tweeling.core.timeaxis import user_time_text
from tweeling.services import accounts, audit

router = APIRouter(prefix="/audit", tags=["audit"])
MAX_LIMIT = 1_000


def _time(text: str | None, what: str) -> str | None:
    return None if text is None else user_time_text(text, what=what)


@router.get("", summary="Audit log entries (filter by person, scenario, object, action, period)")
def entries(
    request: Request,
    ws: deps.Twin,
    p: Annotated[Principal, Depends(deps.READ)],
    actor: Annotated[str | None, Query(max_length=80, description="username")] = None,
    scenario: Annotated[str | None, Query(max_length=130)] = None,
    object_: Annotated[
        str | None,
        Query(alias="object", max_length=300, description="e.g. scenarios/homes or comments/"),
    ] = None,
    action: Annotated[
        str | None, Query(max_length=60, description="e.g. scenario.publish or scenario.")
    ] = None,
    since: Annotated[str | None, Query(max_length=40, description="RFC 3339 instant")] = None,
    until: Annotated[str | None, Query(max_length=40, description="RFC 3339 instant")] = None,
    after: Annotated[int, Query(ge=0, le=2**62, description="entries after this number")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    f: Annotated[str | None, Query(description="json (default) or prov (PROV-O JSON-LD)")] = None,
) -> Response:
    if f not in (None, "json", "prov"):
        raise InputError(f"f {f[:20]!r}: use json or prov", field="f")
    flt = AuditFilter(
        actor=actor,
        scenario=scenario,
        object=object_,
        action=action,
        since=_time(since, "since"),
        until=_time(until, "until"),
        after_seq=after,
    )
    public = accounts.twin_public(ws.store)
    found = audit.visible_entries(ws.store, p, flt, limit=limit, public=public)
    base = deps.base_url(request)
    if f == "prov":
        return Response(
            rs.reply(audit.prov_document(found, base)).body, media_type="application/ld+json"
        )
    links = [{"href": str(request.url), "rel": "self", "type": "application/json"}]
    if len(found) == limit:
        query = dict(request.query_params) | {"after": str(found[-1].seq)}
        links.append(
            {
                "href": f"{base}/audit?{'&'.join(f'{k}={v}' for k, v in query.items())}",
                "rel": "next",
            }
        )
    return rs.reply({"entries": [e.to_dict() for e in found], "links": links})


@router.get(
    "/head",
    summary="The last entry's number and hash: copy it elsewhere to anchor the chain",
    dependencies=[Depends(deps.READ)],
)
def head(ws: deps.Twin) -> Response:
    seq, digest = ws.store.audit.head()
    return rs.reply({"seq": seq, "hash": digest}, headers={"Cache-Control": "no-store"})


@router.get(
    "/verify",
    summary="Check the whole chain (administrators, reviewers)",
    dependencies=[Depends(deps.role("audit.read_all"))],
)
def verify(
    ws: deps.Twin,
    anchor: Annotated[
        list[str] | None, Query(description="SEQ:HASH copied from /audit/head earlier")
    ] = None,
) -> Response:
    anchors = [parse_anchor(a) for a in anchor or []]
    v = audit.verify(ws.store, anchors)
    return rs.reply({"ok": v.ok, "entries": v.entries, "head": v.head, "problems": v.problems})
