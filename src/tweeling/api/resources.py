"""JSON resources beside the OGC APIs, described in the OpenAPI document: scenarios (list,
log, diff, create, apply interventions), model runs and their results (files, map overlays,
values per object), findings, comparisons and places. See docs/api-resources.md.

Errors are RFC 9457 problem documents: bad input 400, unknown things 404, a request the
resource's state refuses (an existing name, a frozen version) 409 (RFC 9110 §15.5.10);
creations answer 201 with ``Location`` (RFC 9110 §15.3.2). GeoJSON is RFC 7946 (CRS84).
"""

from __future__ import annotations

from fastapi import APIRouter

from tweeling.api import analysis_routes, run_routes, scenario_routes

router = APIRouter()
router.include_router(scenario_routes.router)
router.include_router(run_routes.router)
router.include_router(analysis_routes.router)
