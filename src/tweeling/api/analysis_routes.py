"""What scenarios mean, as JSON: their findings against the norms, comparisons of model
indicators between scenarios (for charts), and everything about one place.

Thin over :mod:`tweeling.services.rules` (``checked``, ``stale``),
:mod:`tweeling.services.comparisons` and :mod:`tweeling.services.places`.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from tweeling.api import crs, deps
from tweeling.api import resource_support as rs
from tweeling.core.errors import NotFoundError
from tweeling.core.rules import VERDICTS, Norm
from tweeling.services import comparisons, permissions, places, rules
from tweeling.services.results import BASELINE

router = APIRouter()
DateQuery = Annotated[
    str | None, Query(description="the date the norms are in force on (YYYY-MM-DD; today)")
]


def _counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    seen = Counter(f["verdict"] for f in findings)
    return {v: seen.get(v, 0) for v in (*VERDICTS, *sorted(set(seen) - set(VERDICTS)))}


def _matches(finding: dict[str, Any], obj: str) -> bool:
    """``obj`` is an object id or ``layer/id``; findings name objects as ``layer/id``."""
    return finding["object"] == obj or finding["object"].endswith(f"/{obj}")


@router.get(
    "/scenarios/{name}/findings",
    summary="The scenario's findings against the norms in force on a date",
    tags=["findings"],
    responses=rs.ERRORS,
)
def findings(
    request: Request,
    name: deps.ScenarioPath,
    date: DateQuery = None,
    object_: Annotated[
        str | None, Query(alias="object", max_length=200, description="an object id or layer/id")
    ] = None,
    compute: Annotated[
        bool,
        Query(
            description="true: the current findings (stored ones re-used while nothing changed, "
            "else computed, which may take a second); false: the stored findings as they are, "
            "with 'stale' telling whether they are out of date"
        ),
    ] = True,
) -> Response:
    ws = deps.twin(request)
    on = rs.day(date)
    ws.store.view(name)
    if compute:
        record, reused = rules.checked(ws.store, name, on)
        stale = False
    else:
        stored = [r for r in ws.store.findings(name) if r.on_date == on.isoformat()]
        if not stored:
            raise NotFoundError(f"no stored findings of {name!r} on {on} (ask with compute=true)")
        record, reused, stale = stored[0], True, rules.stale(ws.store, stored[0])
    found = record.findings
    if object_ is not None:
        found = [f for f in found if _matches(f, object_)]
    return rs.reply(
        {
            "scenario": record.scenario,
            "date": record.on_date,
            "content_hash": record.content_hash,
            "computed_at": record.computed_at,
            "computed_by": record.user,
            "audit": f"{deps.base_url(request)}/audit?object=scenarios/{record.scenario}"
            f"/findings/{record.on_date}",
            "stale": stale,
            "reused": reused,
            "object": object_,
            "counts": _counts(found),
            "total": len(found),
            "findings": found,
        }
    )


@router.get(
    "/comparisons",
    summary="Model indicators of the baseline and scenarios side by side (for charts)",
    tags=["comparisons"],
    responses=rs.ERRORS,
    dependencies=[Depends(deps.READ)],
)
def compare(
    request: Request,
    p: deps.Who,
    scenarios: Annotated[str, Query(description="comma-separated: NAME or NAME@LABEL")],
    models: Annotated[str | None, Query(description="comma-separated model names")] = None,
) -> Response:
    ws = deps.twin(request)
    names = rs.refs(scenarios, "scenarios")
    for name in names:
        permissions.readable(ws.store, p, name)  # one they may not read: 404, as unknown
        ws.store.view(None if name == BASELINE else name)  # unknown: 404
    wanted = None if models is None else [m.strip() for m in models.split(",") if m.strip()]
    result = comparisons.compare(ws.store, names, models=wanted)
    base = deps.base_url(request)
    out = {}
    for model, mc in result.models.items():
        out[model] = {
            "runs": {
                ref: None
                if r is None
                else {"id": r.id, "started_at": r.started_at, "href": f"{base}/runs/{r.id}"}
                for ref, r in mc.runs.items()
            },
            "indicators": mc.indicators,
        }
    return rs.reply({"scenarios": result.scenarios, "models": out})


def norm_json(n: Norm) -> dict[str, Any]:
    where = f" ({n.location_name})" if n.location_name else ""
    source = ", ".join(x for x in (n.reference.document, n.reference.article) if x)
    return {
        "id": n.id,
        "summary": f"{n.name}{where}: {n.subject} {n.comparison} {n.value.text()} — {source}",
        "kind": n.kind,
        "name": n.name,
        "activity": n.activity,
        "subject": n.subject,
        "comparison": n.comparison,
        "value": n.value.text(),
        "quantity": n.value.value,
        "unit": n.value.unit,
        "values": list(n.value.values),
        "document": n.reference.document,
        "article": n.reference.article,
        "url": n.reference.url,
        "authority": n.authority,
        "valid_from": n.valid_from and n.valid_from.isoformat(),
        "valid_until": n.valid_until and n.valid_until.isoformat(),
        "location_name": n.location_name,
        "status_note": n.status_note,
    }


@router.get(
    "/here",
    summary="What a scenario means at a point: buildings, norms, results, interventions, findings",
    tags=["places"],
    responses=rs.ERRORS,
)
def here(
    request: Request,
    point: Annotated[str, Query(description="lon,lat (CRS84), or x,y in point-crs")],
    scenario_ref: deps.ScenarioQuery,
    date: DateQuery = None,
    point_crs: Annotated[str | None, Query(alias="point-crs", description="default CRS84")] = None,
    radius: Annotated[
        float, Query(gt=0, le=1000, description="interventions within this many metres")
    ] = places.NEARBY_M,
) -> Response:
    ws = deps.twin(request)
    x, y = rs.point(point, crs.check(point_crs, "point-crs"))
    scenario = scenario_ref or BASELINE
    on = rs.day(date)
    p = places.here(ws.store, x, y, scenario, on, radius_m=radius)
    lonlat = rs.geojson(shapely.Point(x, y))["coordinates"]
    return rs.reply(
        {
            "point": {"lon": lonlat[0], "lat": lonlat[1], "x_rd": x, "y_rd": y},
            "scenario": scenario,
            "date": on.isoformat(),
            "buildings": [
                {
                    "id": b.id,
                    "height_m": b.properties.get("height_m"),
                    "properties": rs.properties(b.properties),
                    "geometry": rs.geojson(b.geometry),
                }
                for b in p.buildings
            ],
            "norms": [norm_json(n) for n in p.norms],
            "results": p.results,
            "interventions": [
                {
                    "id": n.record.id,
                    "kind": n.record.kind,
                    "layer": n.record.layer,
                    "object_id": n.record.object_id,
                    "title": n.record.title,
                    "rationale": n.record.rationale,
                    "distance_m": n.distance_m,
                }
                for n in p.interventions
            ],
            "findings": p.findings,
            "finding_counts": _counts(p.findings),
        }
    )
