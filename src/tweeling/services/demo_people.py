"""People and participation in the Delft demo twin: an administrator, a planner and two
participants (passwords generated and shown once), the example wind-turbine plan published
and open for consultation, a few comments and supports, and a participant's variant that
moves a turbine, computed by the same model and made public within the round.

Everything here is illustrative (named so in the texts); it goes through the same services
as any user, acting as the person concerned, so the audit log reads as it would for real.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import shapely

from tweeling.core.interventions import Intervention
from tweeling.core.people import acting_as
from tweeling.core.timeaxis import to_text, utc_now
from tweeling.services import accounts, audit, participation
from tweeling.services import scenarios as sc
from tweeling.services.runs import run_model

# (username, role, display name)
DEMO_PEOPLE = [
    ("beheer", "administrator", "Beheerder (demo)"),
    ("planner", "planner", "Planner gemeente Delft (demo)"),
    ("anna", "participant", "Anna, bewoner (demo)"),
    ("bram", "participant", "Bram, bewoner (demo)"),
]
ROUND_SCENARIO = "example-wind-turbines"
ROUND_TITLE = "Windturbines ten zuidoosten van Delft (voorbeeld)"
ROUND_QUESTION = (
    "Wat vindt u van drie windturbines ten zuidoosten van het centrum? Dit is een "
    "voorbeeld met een illustratieve plaatsing, geen echt plan. Reageer op een plek of "
    "gebouw, steun reacties van anderen, of stel een variant voor: verplaats een turbine, "
    "maak een gebouw lager of voeg groen toe, en zie wat de modellen ervan maken."
)
ALLOWED = [
    {
        "kind": "modify",
        "layer": "wind_turbines",
        "fields": ["geometry"],
        "title": "Een turbine verplaatsen",
    },
    {
        "kind": "modify",
        "layer": "buildings",
        "fields": ["height_m"],
        "lower_only": ["height_m"],
        "title": "Een gebouw lager maken",
    },
    {"kind": "add", "layer": "plant_cover", "title": "Groen toevoegen"},
]
# The variant moves turbine 1 (RD 85350, 446700) 300 m further south-east, away from homes.
MOVED_TURBINE = ("example-turbine-1", (85560.0, 446490.0))
BUILDING_NEAR = (85000.0, 447480.0)  # a point among the south-eastern buildings


def add_demo_participation(
    ws,
    *,
    wind_params: dict[str, Any],
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, str]:
    """Accounts, the published plan, the round, comments, supports and a variant; returns
    the generated passwords of the accounts made now (existing ones are left alone)."""
    store = ws.store
    passwords: dict[str, str] = {}
    for username, role, name in DEMO_PEOPLE:
        try:
            store.people.by_name(username)
        except Exception:
            _, password = accounts.add_person(store, username, role, display_name=name)
            passwords[username] = password or ""
            log(f"account {username} ({role})")
    if not accounts.twin_public(store):
        accounts.set_public(store, True)  # visitors read the baseline and published plans
    if store.rounds.list():
        return passwords  # made before
    people = {u: store.people.by_name(u) for u, _, _ in DEMO_PEOPLE}
    with audit.acting(acting_as(people["planner"], "demo")):
        info = store.scenarios.info(ROUND_SCENARIO)
        if info.status != "published":
            sc.set_status(store, ROUND_SCENARIO, "published")
        now = utc_now()
        r = participation.open_round(
            store,
            title=ROUND_TITLE,
            question=ROUND_QUESTION,
            opens_at=to_text(now - timedelta(days=1)),
            closes_at=to_text(now + timedelta(days=60)),
            alternatives=[ROUND_SCENARIO],
            allowed=ALLOWED,
        )
    log(f"consultation round {r.id}: {r.title}")
    building = _building_at(store, *BUILDING_NEAR)
    with audit.acting(acting_as(people["anna"], "demo")):
        first = participation.add_comment(
            store,
            r.id,
            "Ik maak me zorgen over slagschaduw op onze woning in de winter. (voorbeeld)",
            theme="noise",
            scenario=ROUND_SCENARIO,
            obj=None if building is None else f"buildings/{building}",
            geometry=None if building is not None else shapely.Point(*BUILDING_NEAR),
        )
    turbine_xy = (85350.0, 446700.0)
    with audit.acting(acting_as(people["bram"], "demo")):
        second = participation.add_comment(
            store,
            r.id,
            "Kan deze turbine niet verder van de huizen af, bij de snelweg? (voorbeeld)",
            theme="energy",
            scenario=ROUND_SCENARIO,
            geometry=shapely.Point(*turbine_xy),
        )
        participation.support(store, first.id)
        variant = participation.fork_variant(
            store, r.id, ROUND_SCENARIO, description="Turbine 1 300 m verder naar het zuidoosten"
        )
        tid, (x, y) = MOVED_TURBINE
        move = Intervention(
            kind="modify",
            layer="wind_turbines",
            id=tid,
            title="Turbine 1 300 m verder van de woningen",
            rationale="Meer afstand tot de huizen (voorbeeld van een bewonersvariant)",
            geometry=shapely.Point(x, y),
        )
        participation.check_variant_edit(store, variant, [move])  # as the API checks it
        sc.apply_interventions(store, variant, [move])
        record, _ = run_model(store, "wind-turbines", scenario=variant, params=wind_params)
        participation.set_variant_public(store, variant, True)
        participation.add_comment(
            store,
            r.id,
            "Mijn variant: turbine 1 verder weg. Minder geluid bij de huizen. (voorbeeld)",
            theme="energy",
            scenario=variant,
            parent_id=second.id,
        )
    with audit.acting(acting_as(people["anna"], "demo")):
        participation.support(store, second.id)
    log(f"variant {variant} (wind-turbines run {record.id}), 3 comments, 2 supports")
    return passwords


def _building_at(store, x: float, y: float) -> str | None:
    """The building nearest to a point (within 200 m), for a comment pinned to a building."""
    box = (x - 200, y - 200, x + 200, y + 200)
    p = shapely.Point(x, y)
    best = min(
        (f for f in store.features("buildings", bbox=box) if f.geometry is not None),
        key=lambda f: f.geometry.distance(p),
        default=None,
    )
    return None if best is None else best.id
